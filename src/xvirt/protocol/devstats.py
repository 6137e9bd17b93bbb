"""The per-domain device statistics file a simulated host publishes beside its domain table (sans-IO).

On a Xen dom0 the block backend exports each vbd's counters in sysfs
(``/sys/bus/xen-backend/devices/vbd-<domid>-<devid>/statistics/{rd_req,rd_sect,wr_req,wr_sect,
oo_req}``, Linux ``drivers/block/xen-blkback/xenbus.c``) and each vif is a network device with
``/sys/class/net/vif<domid>.<devid>/statistics/{rx_bytes,rx_packets,...}``; libvirt's Xen drivers
read those (``virDomainBlockStats`` / ``virDomainInterfaceStats``, the vif's counters swapped,
since the backend receives what the guest sends). The simulated host has no sysfs, so it writes
one small file per running domain, ``stats/<domid>``: per device a base and a rate per second,
and the guest's active time (ns it ran unpaused) as of an instant, which the reader extrapolates
while the guest runs (as the domain table does for cpu time): a counter is
``base + rate * active_ns // 1e9``, so it never goes back. Each file is replaced whole (write + rename), so a reader sees old or new.

The file also carries each vCPU's affinity (what ``XEN_DOMCTL_getvcpuaffinity`` returns) and the
credit scheduler's parameters (``XEN_DOMCTL_SCHEDOP_getinfo``: weight, cap): a dom0 asks the
hypervisor for both without a daemon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["VBD_FIELDS", "VIF_FIELDS", "MAX_SIZE", "MAX_DEVICES", "Device", "DomainDevStats",
           "encode", "decode", "SECTOR"]

VBD_FIELDS = ("rd_req", "rd_sect", "wr_req", "wr_sect", "oo_req")
VIF_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
              "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
SECTOR = 512          # blkback counts 512-byte sectors
MAX_SIZE = 256 * 1024  # a file bigger than this is refused, never parsed
MAX_DEVICES = 256
MAX_VCPUS = 512


@dataclass(frozen=True, slots=True)
class Device:
    kind: str               # "vbd" or "vif"
    devid: int
    name: str               # target dev (xvda) or the backend interface (vif3.0)
    source: str             # the disk's path (phy:/dev/..) or the vif's MAC
    counters: dict          # VBD_FIELDS / VIF_FIELDS -> int, at the read instant


@dataclass(frozen=True, slots=True)
class DomainDevStats:
    domid: int
    uuid: str
    devices: tuple = ()
    affinity: tuple = ()    # per vCPU: tuple of physical CPUs it may run on
    weight: int = 256
    cap: int = 0
    extra: dict = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Device]:
        return [d for d in self.devices if d.kind == kind]


def encode(*, domid: int, uuid: str, stamp_ns: int, active_ns: int, active: bool, devices: list[dict],
           affinity: list[list[int]], weight: int, cap: int) -> bytes:
    """One domain's file. ``devices``: dicts with kind, devid, name, source, base, rate (per
    second of active time) and optionally since_ns (the active time when it was hot-plugged); ``active_ns`` is the active time at ``stamp_ns``, growing while ``active``."""
    doc = {"domid": domid, "uuid": uuid, "stamp_ns": stamp_ns, "active_ns": active_ns, "active": bool(active),
           "devices": devices, "affinity": affinity, "weight": weight, "cap": cap}
    return json.dumps(doc, separators=(",", ":")).encode()


def _int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"device stats: {what} is not a count")
    return v


def decode(raw: bytes, now_ns: int) -> DomainDevStats:
    """The file's contents with counters extrapolated to ``now_ns``; ValueError if malformed."""
    if len(raw) > MAX_SIZE:
        raise ValueError(f"device stats file larger than {MAX_SIZE} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"device stats file is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError("device stats file: not an object")
    stamp = _int(doc.get("stamp_ns"), "stamp_ns")
    elapsed = _int(doc.get("active_ns", 0), "active_ns") + (
        max(0, now_ns - stamp) if doc.get("active") is True else 0)
    devs = doc.get("devices")
    if not isinstance(devs, list) or len(devs) > MAX_DEVICES:
        raise ValueError("device stats file: bad device list")
    out = []
    for d in devs:
        if not isinstance(d, dict) or d.get("kind") not in ("vbd", "vif"):
            raise ValueError("device stats file: bad device")
        names = VBD_FIELDS if d["kind"] == "vbd" else VIF_FIELDS
        base, rate = d.get("base"), d.get("rate")
        if not isinstance(base, dict) or not isinstance(rate, dict):
            raise ValueError("device stats file: bad counters")
        ran = max(0, elapsed - _int(d.get("since_ns", 0), "since_ns"))   # active time since it was plugged
        counters = {k: _int(base.get(k, 0), k) + _int(rate.get(k, 0), k) * ran // 1_000_000_000
                    for k in names}
        name, source = d.get("name"), d.get("source", "")
        if not isinstance(name, str) or not isinstance(source, str):
            raise ValueError("device stats file: bad device name")
        out.append(Device(d["kind"], _int(d.get("devid"), "devid"), name, source, counters))
    aff = doc.get("affinity", [])
    if not isinstance(aff, list) or len(aff) > MAX_VCPUS:
        raise ValueError("device stats file: bad affinity")
    affinity = tuple(tuple(_int(c, "cpu") for c in cpus) for cpus in aff if isinstance(cpus, list))
    uuid = doc.get("uuid")
    if not isinstance(uuid, str):
        raise ValueError("device stats file: bad uuid")
    return DomainDevStats(_int(doc.get("domid"), "domid"), uuid, tuple(out), affinity,
                          _int(doc.get("weight", 256), "weight"), _int(doc.get("cap", 0), "cap"))
