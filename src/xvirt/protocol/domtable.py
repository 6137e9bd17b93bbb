"""Layout of the hypervisor domain-info table that the simulated host shares with its clients.

Theory of operation
-------------------
The simulator plays the hypervisor: it publishes one record per domain in a file that clients map
into memory, so reading domain info costs no daemon round trip (as a hypercall costs none). The
file is a 64-byte header followed by ``capacity`` fixed-size records kept **sorted by domid**, so
that a lookup of id X finds the first domain whose id is >= X, as ``getdomaininfo`` does (Xen
``xen/common/domctl.c``; reference/xend-protocol.md §3.2).

Consistency is a sequence lock: the writer makes ``seq`` odd, changes records, then makes it even
again. A reader copies what it needs between two reads of ``seq`` and retries when they differ or
are odd. Cpu time advances without rewrites: a record holds the cpu time at a monotonic instant
(``cpu_stamp_ns``, CLOCK_MONOTONIC, shared by all processes of the machine) and a rate in
thousandths of a CPU; the reader extrapolates.

After the records comes a 64-byte *host usage* block (``USAGE_OFFSET``): what Xen's ``physinfo``
reports as ``free_pages`` and what ``XEN_SYSCTL_getcpuinfo`` reports as the physical CPUs' idle
time (here summed over all CPUs and extrapolated like cpu time, from a rate in thousandths of a
CPU), plus the boot instant. A file of the older size has no block; readers then say so.

Record fields follow Xen's ``xen_domctl_getdomaininfo`` (domain, flags, tot_pages, max_pages,
shared_info_frame, cpu_time ns, nr_online_vcpus, max_vcpu_id, ssidref, 16-byte handle = UUID), plus
the two extrapolation fields. Flag bits are ``XEN_DOMINF_*``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "MAGIC", "VERSION", "HEADER", "RECORD", "HEADER_SIZE", "RECORD_SIZE", "CAPACITY", "FILE_SIZE",
    "DYING", "HVM", "SHUTDOWN", "PAUSED", "BLOCKED", "RUNNING", "SHUTDOWN_SHIFT",
    "SHUTDOWN_POWEROFF", "SHUTDOWN_REBOOT", "SHUTDOWN_SUSPEND", "SHUTDOWN_CRASH",
    "DomainInfo", "Header", "pack_header", "unpack_header", "pack_record", "unpack_record",
    "unpack_records", "ids_from_records", "state_of_flags", "handle_to_uuid", "PAGE_KIB",
    "USAGE", "USAGE_MAGIC", "USAGE_OFFSET", "USAGE_SIZE", "TOTAL_SIZE", "HostUsage", "pack_usage", "unpack_usage",
    "seq_view", "SEQ_OFFSET",
]

MAGIC = b"XVDT"
VERSION = 1
# magic, version, seq, count, capacity, record_size, boot_id, host_cpus, closed, then the host's
# physical facts (Xen's ``physinfo``: total memory MiB, cpu MHz, nodes/sockets/cores/threads)
HEADER = struct.Struct("<4sIQIII16sIIII4B")
HEADER_SIZE = 64
SEQ_OFFSET = 8
# domain, pad, flags, tot_pages, max_pages, shared_info_frame, cpu_time, nr_online_vcpus,
# max_vcpu_id, ssidref, cpu_rate_milli, handle, cpu_stamp_ns
RECORD = struct.Struct("<HHIQQQQIIII16sQ")
RECORD_SIZE = RECORD.size  # 80
CAPACITY = 0x7FF0 + 1      # every usable domid (0..0x7FEF) fits
FILE_SIZE = HEADER_SIZE + CAPACITY * RECORD_SIZE
PAGE_KIB = 4
# host usage block: magic, idle_rate_milli (all pcpus together), boot_stamp_ns, free_pages,
# idle_ns (all pcpus together, at idle_stamp_ns), idle_stamp_ns
USAGE = struct.Struct("<4sIQQQQ")
USAGE_MAGIC = b"XVHU"
USAGE_OFFSET = FILE_SIZE
USAGE_SIZE = 64
TOTAL_SIZE = FILE_SIZE + USAGE_SIZE

# XEN_DOMINF_* (xen/include/public/domctl.h; DOMFLAGS_* before 3.0.4)
DYING = 1 << 0
HVM = 1 << 1
SHUTDOWN = 1 << 2
PAUSED = 1 << 3
BLOCKED = 1 << 4
RUNNING = 1 << 5
SHUTDOWN_SHIFT = 16
SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_SUSPEND, SHUTDOWN_CRASH = 0, 1, 2, 3

assert HEADER.size <= HEADER_SIZE and RECORD_SIZE == 80


@dataclass(frozen=True, slots=True)
class Header:
    seq: int
    count: int
    capacity: int
    record_size: int
    boot_id: bytes
    host_cpus: int
    closed: bool
    total_memory_mib: int = 0
    cpu_mhz: int = 0
    topology: tuple[int, int, int, int] = (1, 1, 1, 1)  # nodes, sockets per node, cores, threads


@dataclass(frozen=True, slots=True)
class DomainInfo:
    """One getdomaininfo record, cpu time already extrapolated to the read instant."""

    domid: int
    flags: int
    tot_pages: int
    max_pages: int
    cpu_time: int          # ns
    online_vcpus: int
    max_vcpu_id: int
    ssidref: int
    handle: bytes          # 16 bytes, the UUID
    shared_info_frame: int = 0
    uuid: str = ""         # the handle as a dashed UUID string (filled in by the decoder)

    def __post_init__(self) -> None:
        if not self.uuid:
            object.__setattr__(self, "uuid", handle_to_uuid(self.handle))

    @property
    def memory_kib(self) -> int:
        return self.tot_pages * PAGE_KIB

    @property
    def max_memory_kib(self) -> int:
        return self.max_pages * PAGE_KIB

    @property
    def shutdown_code(self) -> int:
        return (self.flags >> SHUTDOWN_SHIFT) & 0xFF

    @property
    def state(self) -> int:
        return state_of_flags(self.flags)


@dataclass(frozen=True, slots=True)
class HostUsage:
    """Free memory and the physical CPUs' idle time at one instant (Xen's physinfo + getcpuinfo)."""

    free_pages: int
    idle_ns: int           # summed over all physical CPUs since boot
    uptime_ns: int         # since the hypervisor booted

    @property
    def free_kib(self) -> int:
        return self.free_pages * PAGE_KIB


def pack_usage(*, boot_stamp_ns: int, free_pages: int, idle_ns: int, idle_stamp_ns: int,
               idle_rate_milli: int) -> bytes:
    return USAGE.pack(USAGE_MAGIC, idle_rate_milli, boot_stamp_ns, free_pages, idle_ns,
                      idle_stamp_ns).ljust(USAGE_SIZE, b"\0")


def unpack_usage(buf: bytes | memoryview, offset: int, now_ns: int) -> HostUsage | None:
    """The usage block at ``offset``, idle time extrapolated to ``now_ns``; None if absent."""
    magic, rate, boot, free, idle, stamp = USAGE.unpack_from(buf, offset)
    if magic != USAGE_MAGIC:
        return None
    if rate and now_ns > stamp:
        idle += (now_ns - stamp) * rate // 1000
    return HostUsage(free, idle, max(0, now_ns - boot))


def handle_to_uuid(handle: bytes) -> str:
    """The dashed lowercase form of a 16-byte handle (what ``str(uuid.UUID(bytes=h))`` gives)."""
    h = handle.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def state_of_flags(flags: int) -> int:
    """virDomainState for hypervisor flags.

    libvirt's hypervisor path switched on the exact low byte (so paused|blocked gave NOSTATE,
    reference §3.3). We decode by priority instead, which is what its XenD path did with the
    state string (§2.6): crashed, shutdown, dying, paused, blocked, running, else NOSTATE.
    """
    if flags & SHUTDOWN:
        return 6 if ((flags >> SHUTDOWN_SHIFT) & 0xFF) == SHUTDOWN_CRASH else 5  # CRASHED / SHUTOFF
    if flags & DYING:
        return 4   # SHUTDOWN (being shut down)
    if flags & PAUSED:
        return 3
    if flags & BLOCKED:
        return 2
    if flags & RUNNING:
        return 1
    return 0


def seq_view(buf) -> memoryview:
    """The sequence counter as a one-item view for single-instruction loads and stores.

    ``struct`` packs and unpacks byte by byte, so a counter written that way passes through
    transient values: ``0x1FF -> 0x200`` shows ``0x100`` after its low byte is written, a value
    the counter really had 256 updates before. A reader preempted between its two reads could
    then take a torn copy for a stable one. A native 8-byte item at an aligned offset is loaded
    and stored whole (x86-64, aarch64); the file is little-endian, so this needs a
    little-endian host (checked)."""
    import sys
    if sys.byteorder != "little":  # pragma: no cover - every supported host is little-endian
        raise OSError("the domain table needs a little-endian host")
    return memoryview(buf)[SEQ_OFFSET:SEQ_OFFSET + 8].cast("Q")


def pack_header(*, seq: int, count: int, boot_id: bytes, host_cpus: int, closed: bool = False,
                total_memory_mib: int = 0, cpu_mhz: int = 0,
                topology: tuple[int, int, int, int] = (1, 1, 1, 1)) -> bytes:
    raw = HEADER.pack(MAGIC, VERSION, seq, count, CAPACITY, RECORD_SIZE, boot_id, host_cpus, int(closed),
                      total_memory_mib, cpu_mhz, *(min(255, max(0, t)) for t in topology))
    return raw.ljust(HEADER_SIZE, b"\0")


def unpack_header(buf: bytes | memoryview) -> Header:
    (magic, version, seq, count, capacity, rsize, boot_id, cpus, closed, mem, mhz,
     *topo) = HEADER.unpack_from(buf, 0)
    if magic != MAGIC or version != VERSION or rsize != RECORD_SIZE:
        raise ValueError(f"not an xvirt domain table (magic {magic!r}, version {version}, record {rsize})")
    if count > capacity:
        raise ValueError(f"corrupt domain table: count {count} > capacity {capacity}")
    return Header(seq, count, capacity, rsize, boot_id, cpus, bool(closed), mem, mhz, tuple(topo))


def pack_record(*, domid: int, flags: int, tot_pages: int, max_pages: int, cpu_time: int,
                cpu_stamp_ns: int, cpu_rate_milli: int, online_vcpus: int, max_vcpu_id: int,
                handle: bytes, ssidref: int = 0, shared_info_frame: int = 0) -> bytes:
    return RECORD.pack(domid, 0, flags, tot_pages, max_pages, shared_info_frame, cpu_time,
                       online_vcpus, max_vcpu_id, ssidref, cpu_rate_milli, handle, cpu_stamp_ns)


def _info(fields: tuple, now_ns: int) -> DomainInfo:
    (domid, _pad, flags, tot, maxp, sif, cpu, online, maxid, ssid, rate, handle, stamp) = fields
    if rate and now_ns > stamp:
        cpu += (now_ns - stamp) * rate // 1000
    return DomainInfo(domid, flags, tot, maxp, cpu, online, maxid, ssid, handle, sif, handle_to_uuid(handle))


def unpack_record(buf: bytes | memoryview, offset: int, now_ns: int) -> DomainInfo:
    return _info(RECORD.unpack_from(buf, offset), now_ns)


def unpack_records(buf: bytes, now_ns: int) -> list[DomainInfo]:
    """Decode a copy of ``count * RECORD_SIZE`` bytes of records."""
    return [_info(f, now_ns) for f in RECORD.iter_unpack(buf)]


def ids_from_records(buf: bytes, *, skip_dying: bool = False) -> list[int]:
    """Domain ids of a copy of the record area, without decoding whole records."""
    if not buf:
        return []
    ids = memoryview(buf).cast("H")[:: RECORD_SIZE // 2].tolist()
    if not skip_dying:
        return ids
    flags = memoryview(buf).cast("I")[1:: RECORD_SIZE // 4].tolist()
    return [i for i, f in zip(ids, flags) if not f & DYING]
