"""Per-domain statistics as a Xen dom0 reads them: block and interface counters, memory, per-vCPU times.

Sources (no toolstack request for a running domain on a host with a hypervisor channel):
block and interface counters from the vbd backend's and the vif's sysfs statistics
(``transport/devstats.py``; libvirt's Xen drivers did the same, ``xenLinuxDomainBlockStats`` and
``virNetDevTapInterfaceStats`` with the vif's counters swapped); memory from the hypervisor's
record (``tot_pages``/``max_pages``, libvirt's libxl ``memoryStats``: actual + available);
per-vCPU time and state from the record (``XEN_DOMCTL_getvcpuinfo`` on a real dom0; here the
domain's time split over its online vCPUs), placement from the vCPU affinity
(``XEN_DOMCTL_getvcpuaffinity``). Without a hypervisor channel, vCPUs come from XenD's
``?op=vcpuinfo`` and the device counters are not available.
"""

from __future__ import annotations

from ..errors import InvalidArgError, NoSupportError, OperationInvalidError
from ..protocol import devstats as ds
from ..protocol import domtable as dt
from .records import Facts

__all__ = ["VCPU_OFFLINE", "VCPU_RUNNING", "VCPU_BLOCKED", "block_tuple", "block_flags", "interface_tuple",
           "find_device", "vcpu_entries", "block_group", "net_group", "vcpu_group", "memory_dict"]

VCPU_OFFLINE, VCPU_RUNNING, VCPU_BLOCKED = 0, 1, 2   # virVcpuState


def not_running() -> OperationInvalidError:
    return OperationInvalidError("Requested operation is not valid: domain is not running")


def no_counters() -> NoSupportError:
    return NoSupportError("this function is not supported by the connection driver: device statistics "
                          "need the host's hypervisor channel (dom0's sysfs)")


def find_device(stats: ds.DomainDevStats, kind: str, path: str) -> list[ds.Device]:
    """The devices ``path`` names: a disk by target (xvda), source (with or without ``phy:``) or
    number; an interface by name (vif3.0) or MAC; ``""`` means every device of the kind (summed)."""
    devs = stats.of_kind(kind)
    if path == "":
        return devs
    p = path.strip()
    for d in devs:
        src = d.source.split(":", 1)[-1] if kind == "vbd" else d.source
        if p in (d.name, d.source, src, str(d.devid)) or (kind == "vif" and p.lower() == d.source.lower()):
            return [d]
    if kind == "vbd":
        raise InvalidArgError(f"invalid argument: invalid path: {path}")
    raise InvalidArgError(f"invalid argument: invalid path, '{path}' is not a known interface")


def _sum(devs: list[ds.Device], key: str) -> int:
    return sum(d.counters[key] for d in devs)


def block_tuple(devs: list[ds.Device]) -> tuple[int, int, int, int, int]:
    """virDomainBlockStats: (rd_req, rd_bytes, wr_req, wr_bytes, errs); blkback counts sectors."""
    return (_sum(devs, "rd_req"), _sum(devs, "rd_sect") * ds.SECTOR, _sum(devs, "wr_req"),
            _sum(devs, "wr_sect") * ds.SECTOR, _sum(devs, "oo_req"))


def block_flags(devs: list[ds.Device]) -> dict[str, int]:
    """virDomainBlockStatsFlags' typed parameters (VIR_DOMAIN_BLOCK_STATS_* field names)."""
    rd_req, rd_bytes, wr_req, wr_bytes, errs = block_tuple(devs)
    return {"rd_operations": rd_req, "rd_bytes": rd_bytes, "wr_operations": wr_req,
            "wr_bytes": wr_bytes, "errs": errs}


def interface_tuple(devs: list[ds.Device]) -> tuple[int, ...]:
    """virDomainInterfaceStats from the guest's side: what dom0's vif transmits the guest receives."""
    s = lambda k: _sum(devs, k)  # noqa: E731
    return (s("tx_bytes"), s("tx_packets"), s("tx_errors"), s("tx_dropped"),
            s("rx_bytes"), s("rx_packets"), s("rx_errors"), s("rx_dropped"))


def memory_dict(f: Facts) -> dict[str, int]:
    """virDomainMemoryStats as libvirt's Xen (libxl) driver fills it: the balloon's current size and
    the most the domain may have (KiB); ``rss`` is what the hypervisor holds for it."""
    return {"actual": f.mem_kib, "available": f.max_mem_kib, "rss": f.mem_kib}


def vcpu_entries(info: dt.DomainInfo, affinity: tuple, host_cpus: int) -> list[tuple[int, int, int, int]]:
    """(number, state, cpu time ns, physical cpu) per online vCPU, from the hypervisor's record."""
    online = max(0, info.online_vcpus)
    if info.flags & dt.RUNNING:
        state = VCPU_RUNNING
    elif info.flags & (dt.BLOCKED | dt.PAUSED):
        state = VCPU_BLOCKED
    else:
        state = VCPU_OFFLINE
    share = info.cpu_time // online if online else 0
    out = []
    for i in range(online):
        cpus = affinity[i] if i < len(affinity) and affinity[i] else tuple(range(host_cpus))
        out.append((i, state, share, cpus[i % len(cpus)]))
    return out


def vcpu_group(f: Facts) -> dict:
    """The ``vcpu.*`` group of virConnectGetAllDomainStats (state and time per vCPU from the record)."""
    d: dict = {"vcpu.current": f.vcpus, "vcpu.maximum": f.max_vcpus}
    if f.id >= 0 and f.vcpus:
        if f.state == 1:
            state = VCPU_RUNNING
        elif f.state in (2, 3):
            state = VCPU_BLOCKED
        else:
            state = VCPU_OFFLINE
        share = f.cpu_time_ns // f.vcpus
        for i in range(f.vcpus):
            d[f"vcpu.{i}.state"] = state
            d[f"vcpu.{i}.time"] = share
    return d


def block_group(stats: ds.DomainDevStats) -> dict:
    """The ``block.*`` group (libvirt's key names)."""
    devs = stats.of_kind("vbd")
    d: dict = {"block.count": len(devs)}
    for n, dev in enumerate(devs):
        rd_req, rd_bytes, wr_req, wr_bytes, errs = block_tuple([dev])
        d.update({f"block.{n}.name": dev.name, f"block.{n}.path": dev.source.split(":", 1)[-1],
                  f"block.{n}.rd.reqs": rd_req, f"block.{n}.rd.bytes": rd_bytes,
                  f"block.{n}.wr.reqs": wr_req, f"block.{n}.wr.bytes": wr_bytes,
                  f"block.{n}.errors": errs})
    return d


def net_group(stats: ds.DomainDevStats) -> dict:
    """The ``net.*`` group (libvirt's key names, the guest's side of each vif)."""
    devs = stats.of_kind("vif")
    d: dict = {"net.count": len(devs)}
    for n, dev in enumerate(devs):
        rb, rp, re_, rd, tb, tp, te, td = interface_tuple([dev])
        d.update({f"net.{n}.name": dev.name, f"net.{n}.rx.bytes": rb, f"net.{n}.rx.pkts": rp,
                  f"net.{n}.rx.errs": re_, f"net.{n}.rx.drop": rd, f"net.{n}.tx.bytes": tb,
                  f"net.{n}.tx.pkts": tp, f"net.{n}.tx.errs": te, f"net.{n}.tx.drop": td})
    return d
