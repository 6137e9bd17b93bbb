#!/usr/bin/env python3
"""Save a running domain to a file, restore it, and find it again, in libvirt-python's idiom.

usage: save_restore.py [URI] DOMAIN [--file FILE]

URI defaults to $LIBVIRT_DEFAULT_URI; FILE to DOMAIN.save (a relative name: the host resolves it).

restore() returns no domain and the restored domain gets a new id, so the program looks it up
again by UUID (and by name) and prints the ids before and after.
"""

import argparse
import sys

import libvirt


def main():
    parser = argparse.ArgumentParser(description="save a domain, restore it, look it up again")
    parser.add_argument("uri", nargs="?", default=None)
    parser.add_argument("domain")
    parser.add_argument("--file", help="save file (default: DOMAIN.save, relative to the host)")
    args = parser.parse_args()
    uri, name = args.uri, args.domain
    path = args.file or name + ".save"

    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            print("no such domain: %s" % name, file=sys.stderr)
            return 1
        raise
    if not dom.isActive():
        print("domain %s is not running" % name, file=sys.stderr)
        return 1
    uuid = dom.UUIDString()
    raw_uuid = dom.UUID()
    old_id = dom.ID()
    print("domain %s id %d uuid %s state %s" % (dom.name(), old_id, uuid, dom.state()))

    if dom.save(path) < 0:
        print("save failed", file=sys.stderr)
        return 1
    print("saved to %s: id %d active %d state %s" % (path, dom.ID(), dom.isActive(), dom.state()))

    if conn.restore(path) < 0:
        print("restore failed", file=sys.stderr)
        return 1
    by_uuid = conn.lookupByUUIDString(uuid)
    by_raw = conn.lookupByUUID(raw_uuid)
    by_name = conn.lookupByName(name)
    new_id = by_uuid.ID()
    assert by_raw.UUIDString() == uuid and by_name.UUIDString() == uuid
    print("restored: id %d (was %d) name %s state %s" % (new_id, old_id, by_name.name(), by_uuid.state()))
    print("same domain by id: %s" % (conn.lookupByID(new_id).UUIDString() == uuid))
    print("old handle now reports id %d" % dom.ID())
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
