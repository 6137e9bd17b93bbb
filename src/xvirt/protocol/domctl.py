"""Byte layouts of Xen's getdomaininfo and physinfo records, per hypervisor version (sans-IO).

libxenctrl hands back arrays of ``struct xen_domctl_getdomaininfo`` (``xc_domaininfo_t``, from
``xc_domain_getinfolist``) and one ``struct xen_sysctl_physinfo`` (``xc_physinfo_t``, from
``xc_physinfo``). Their layouts change with the domctl/sysctl interface versions, and libxenctrl's
ABI is tied to the Xen release it was built for, so a layout is chosen by the running Xen's
``major.minor`` (``xc_version(XENVER_version)``) and a version without a known layout is refused.

Sources (facts only, no code copied):

* ``xen/include/public/domctl.h`` ``struct xen_domctl_getdomaininfo``: domain (u16), pad, flags
  (u32), then u64 tot_pages, max_pages, outstanding_pages, shr_pages, paged_pages,
  shared_info_frame, cpu_time; u32 nr_online_vcpus, max_vcpu_id, ssidref; 16-byte handle; u32
  cpupool; u8 gpaddr_bits + pad2[7] (added with XEN_DOMCTL_INTERFACE_VERSION 0x15, Xen 4.17);
  then ``struct xen_arch_domainconfig`` (x86, ``public/arch-x86/xen.h``: u32 emulation_flags,
  u32 misc_flags). x86-64 size 112 bytes; checked on a real Xen 4.17.5 (tests/realxen).
  Xen 4.18 (domctl 0x16) and 4.19 (0x17) keep this struct (the xen-sys bindings' 0x15..0x17
  variants share it).
* ``xen/include/public/sysctl.h`` ``struct xen_sysctl_physinfo`` (XEN_SYSCTL_INTERFACE_VERSION
  0x15, Xen 4.17): u32 threads_per_core, cores_per_socket, nr_cpus, max_cpu_id, nr_nodes,
  max_node_id, cpu_khz, capabilities, arch_capabilities, pad; u64 total_pages, free_pages,
  scrub_pages, outstanding_pages, max_mfn; u32 hw_cap[8]. 112 bytes (arch_capabilities + pad were
  added for 4.17; 4.18/4.19 rename nothing before total_pages).
* ``XEN_DOMINF_*`` flag bits and the shutdown code at bit 16: domctl.h (as protocol/domtable.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import NoSupportError
from .domtable import DomainInfo, handle_to_uuid

__all__ = ["Layout", "PhysInfo", "LAYOUTS", "layout_for", "decode_domaininfo", "decode_domaininfos",
           "decode_physinfo", "encode_domaininfo", "encode_physinfo", "split_version",
           "PHYSINFO_BUFFER"]

# xen_domctl_getdomaininfo (x86-64, domctl 0x15..0x17): see the module docstring
_DOMINFO_4_17 = struct.Struct("<HHI7QIII16sIB7sII")
# xen_sysctl_physinfo (sysctl 0x15): ten u32, five u64, hw_cap[8]
_PHYSINFO_4_17 = struct.Struct("<10I5Q8I")
# bytes handed to xc_physinfo: more than any known layout, so a newer library never writes past it
PHYSINFO_BUFFER = 512


@dataclass(frozen=True)
class Layout:
    """The record layouts of one Xen release line."""

    xen: tuple[int, int]
    domctl_version: int
    sysctl_version: int
    dominfo: struct.Struct
    physinfo: struct.Struct

    @property
    def dominfo_size(self) -> int:
        return self.dominfo.size


@dataclass(frozen=True)
class PhysInfo:
    """The facts of ``xen_sysctl_physinfo`` that xvirt uses."""

    threads_per_core: int
    cores_per_socket: int
    nr_cpus: int
    nr_nodes: int
    cpu_khz: int
    total_pages: int
    free_pages: int

    @property
    def total_memory_mib(self) -> int:
        return self.total_pages * 4 // 1024

    @property
    def free_memory_mib(self) -> int:
        return self.free_pages * 4 // 1024

    @property
    def cpu_mhz(self) -> int:
        return self.cpu_khz // 1000

    @property
    def sockets_per_node(self) -> int:
        per_socket = max(1, self.cores_per_socket * self.threads_per_core)
        return max(1, self.nr_cpus // per_socket // max(1, self.nr_nodes))


LAYOUTS: dict[tuple[int, int], Layout] = {
    (4, 17): Layout((4, 17), 0x15, 0x15, _DOMINFO_4_17, _PHYSINFO_4_17),
    (4, 18): Layout((4, 18), 0x16, 0x15, _DOMINFO_4_17, _PHYSINFO_4_17),
    (4, 19): Layout((4, 19), 0x17, 0x15, _DOMINFO_4_17, _PHYSINFO_4_17),
}
assert _DOMINFO_4_17.size == 112 and _PHYSINFO_4_17.size == 112


def split_version(raw: int) -> tuple[int, int]:
    """``xc_version(XENVER_version)``'s ``major << 16 | minor``."""
    return (raw >> 16) & 0xFFFF, raw & 0xFFFF


def layout_for(major: int, minor: int) -> Layout:
    layout = LAYOUTS.get((major, minor))
    if layout is None:
        known = ", ".join(f"{a}.{b}" for a, b in sorted(LAYOUTS))
        raise NoSupportError(f"Xen {major}.{minor} is not supported by the hypervisor channel: no known "
                             f"getdomaininfo layout for it (known: {known})")
    return layout


def decode_domaininfo(layout: Layout, buf: bytes | memoryview, offset: int = 0) -> DomainInfo:
    (domid, _pad, flags, tot, maxp, _outstanding, _shr, _paged, sif, cpu, online, maxid, ssid, handle,
     _pool, _gpaddr, _pad2, _emu, _misc) = layout.dominfo.unpack_from(buf, offset)
    return DomainInfo(domid, flags, tot, maxp, cpu, online, maxid, ssid, handle, sif, handle_to_uuid(handle))


def decode_domaininfos(layout: Layout, buf: bytes | memoryview, count: int) -> list[DomainInfo]:
    size = layout.dominfo.size
    if count < 0 or count * size > len(buf):
        raise ValueError(f"{count} getdomaininfo records do not fit in {len(buf)} bytes")
    return [decode_domaininfo(layout, buf, i * size) for i in range(count)]


def encode_domaininfo(layout: Layout, info: DomainInfo, *, cpupool: int = 0) -> bytes:
    """The record bytes for ``info`` (tests, and the shape the hypervisor writes)."""
    return layout.dominfo.pack(info.domid, 0, info.flags, info.tot_pages, info.max_pages, 0, 0, 0,
                               info.shared_info_frame, info.cpu_time, info.online_vcpus, info.max_vcpu_id,
                               info.ssidref, info.handle, cpupool, 0, b"\0" * 7, 0, 0)


def decode_physinfo(layout: Layout, buf: bytes | memoryview) -> PhysInfo:
    f = layout.physinfo.unpack_from(buf, 0)
    threads, cores, nr_cpus, _max_cpu, nodes, _max_node, khz = f[:7]
    total, free = f[10], f[11]
    return PhysInfo(threads, cores, nr_cpus, nodes, khz, total, free)


def encode_physinfo(layout: Layout, p: PhysInfo) -> bytes:
    return layout.physinfo.pack(p.threads_per_core, p.cores_per_socket, p.nr_cpus, max(0, p.nr_cpus - 1),
                                p.nr_nodes, max(0, p.nr_nodes - 1), p.cpu_khz, 0, 0, 0,
                                p.total_pages, p.free_pages, 0, 0, 0, *([0] * 8))
