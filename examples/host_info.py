#!/usr/bin/env python3
"""Show a host's CPUs, memory, guest types and CPU use, the way a monitoring script would.

A plain libvirt-python program: host facts (getInfo, getCapabilities), memory (getFreeMemory,
getCellsFreeMemory, getMemoryStats), CPU time over an interval (getCPUStats) and the optional
sysinfo, each failure reported from libvirtError rather than crashing.

    python host_info.py [URI] [--interval SECONDS]
"""

import argparse
import sys
import time
import xml.etree.ElementTree as ET

import libvirt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", nargs="?", default=None)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    try:
        conn = libvirt.openReadOnly(args.uri)
    except libvirt.libvirtError as e:
        print(f"cannot connect: {e.get_error_message()}", file=sys.stderr)
        return 1

    model, mem_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
    print(f"host {conn.getHostname()}: {cpus} x {model} @ {mhz} MHz, {mem_mib} MiB, {nodes} NUMA cell(s)")

    caps = ET.fromstring(conn.getCapabilities())
    kinds = sorted({f"{g.findtext('os_type')}/{g.find('arch').get('name')}" for g in caps.findall("guest")})
    print("guest types:", " ".join(kinds))
    print("max vcpus per guest:", conn.getMaxVcpus(None))

    stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    print(f"memory: {stats['free']} KiB free of {stats['total']} KiB")
    cells = conn.getCellsFreeMemory(0, nodes)
    print("free per cell (KiB):", " ".join(str(b // 1024) for b in cells))
    print("free (bytes):", conn.getFreeMemory())

    first = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    time.sleep(args.interval)
    second = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    delta = {k: second[k] - first[k] for k in first}
    total = sum(delta.values()) or 1
    busy = delta.get(libvirt.VIR_NODE_CPU_STATS_USER, 0) + delta.get(libvirt.VIR_NODE_CPU_STATS_KERNEL, 0)
    print(f"cpu busy: {100.0 * busy / total:.1f}%")

    try:
        sysinfo = ET.fromstring(conn.getSysinfo())
        vendor = sysinfo.findtext("system/entry[@name='manufacturer']") or "?"
        print("system:", vendor)
    except libvirt.libvirtError as e:
        print(f"system: unknown ({e.get_error_message()})")
    try:
        conn.listAllNetworks()
    except libvirt.libvirtError as e:
        if e.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise
        print("networks: not managed by this driver")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
