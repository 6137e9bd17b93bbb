#!/usr/bin/env python3
"""List domains with their info, the `virsh list --all` + `virsh dominfo` loop, in libvirt-python's idiom.

usage: list_domains.py [URI]      (default: $LIBVIRT_DEFAULT_URI)

Running domains come from listDomainsID() -> lookupByID() -> info(); inactive ones from
listDefinedDomains() -> lookupByName(). A domain that goes away between the list and its lookup is
skipped, as virsh does.
"""

import sys

import libvirt

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "idle",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "in shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def ignore_errors(ctx, err):
    """Keep libvirt's default handler from printing errors this program handles itself."""


def row(dom_id, dom):
    state, max_mem, mem, vcpus, cpu_time = dom.info()
    return "%5s %-20s %-12s %10d %10d %5d %10.1f %s" % (
        dom_id, dom.name(), STATE_NAMES.get(state, "unknown"), max_mem, mem, vcpus,
        cpu_time / 1e9, dom.UUIDString())


def main():
    uri = sys.argv[1] if len(sys.argv) > 1 else None
    libvirt.registerErrorHandler(ignore_errors, None)
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as e:
        print("failed to open connection to %s: %s" % (uri, e), file=sys.stderr)
        return 1

    print("host %s (%s %d), %d running, %d inactive" % (
        conn.getHostname(), conn.getType(), conn.getVersion(), conn.numOfDomains(),
        conn.numOfDefinedDomains()))
    print("%5s %-20s %-12s %10s %10s %5s %10s %s" % (
        "Id", "Name", "State", "MaxMem", "Memory", "VCPUs", "CPU(s)", "UUID"))
    for dom_id in conn.listDomainsID():
        try:
            dom = conn.lookupByID(dom_id)
            print(row(dom_id, dom))
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            # the domain went away (or changed id) since the list: skip it
    for name in conn.listDefinedDomains():
        try:
            print(row("-", conn.lookupByName(name)))
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
