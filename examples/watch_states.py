#!/usr/bin/env python3
"""Watch the states of all domains and print every change, keyed by UUID, in libvirt-python's idiom.

usage: watch_states.py [URI] [--iterations N] [--interval SECONDS]

Polls getAllDomainStats(VIR_DOMAIN_STATS_STATE) every interval (default 1 s) and prints one line
per domain that appeared, vanished, or changed state, id or name since the previous poll. Keys are
UUIDs, never ids: ids change on reboot and save/restore. Stops after N polls (default: forever).
"""

import argparse
import sys
import time

import libvirt

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate", libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked", libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed", libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def snapshot(conn):
    """{uuid: (name, id, state)} for every domain, active and inactive."""
    out = {}
    for dom, stats in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE):
        try:
            out[dom.UUIDString()] = (dom.name(), dom.ID(), stats["state.state"])
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return out


def describe(entry):
    name, dom_id, state = entry
    return "%s id=%d %s" % (name, dom_id, STATE_NAMES.get(state, str(state)))


def main():
    parser = argparse.ArgumentParser(description="print domain state changes")
    parser.add_argument("uri", nargs="?", default=None)
    parser.add_argument("--iterations", type=int, default=0, help="stop after N polls (0: forever)")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()

    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    conn = libvirt.openReadOnly(args.uri)
    previous = {}
    poll = 0
    while True:
        poll += 1
        current = snapshot(conn)
        for uuid in sorted(current):
            if uuid not in previous:
                print("%s appeared: %s" % (uuid, describe(current[uuid])))
            elif current[uuid] != previous[uuid]:
                print("%s changed: %s -> %s" % (uuid, describe(previous[uuid]), describe(current[uuid])))
        for uuid in sorted(set(previous) - set(current)):
            print("%s vanished: was %s" % (uuid, describe(previous[uuid])))
        print("-- poll %d: %d domains" % (poll, len(current)), flush=True)
        previous = current
        if args.iterations and poll >= args.iterations:
            break
        time.sleep(args.interval)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
