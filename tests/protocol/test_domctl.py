"""getdomaininfo / physinfo layouts: decoded from bytes placed at the offsets Xen's headers give."""

import struct
import uuid
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from xvirt.errors import ErrorCode, NoSupportError
from xvirt.protocol import domctl
from xvirt.protocol import domtable as dt

L = domctl.layout_for(4, 17)
DATA = Path(__file__).resolve().parents[1] / "data" / "realxen" / "hypervisor"


def _xl_info() -> dict:
    return {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in (DATA / "xl-info.txt").read_text().splitlines())}


def _xl_list_v() -> list[list[str]]:
    return [f for f in (line.split() for line in (DATA / "xl-list-v.txt").read_text().splitlines()[1:]) if len(f) >= 7]


def _record(**f) -> bytes:
    """A 4.17 record written field by field at the offsets of public/domctl.h (x86-64)."""
    b = bytearray(112)
    struct.pack_into("<H", b, 0, f.get("domain", 0))
    struct.pack_into("<I", b, 4, f.get("flags", 0))
    for off, key in ((8, "tot_pages"), (16, "max_pages"), (24, "outstanding_pages"), (32, "shr_pages"),
                     (40, "paged_pages"), (48, "shared_info_frame"), (56, "cpu_time")):
        struct.pack_into("<Q", b, off, f.get(key, 0))
    struct.pack_into("<III", b, 64, f.get("nr_online_vcpus", 0), f.get("max_vcpu_id", 0), f.get("ssidref", 0))
    b[76:92] = f.get("handle", b"\0" * 16)
    struct.pack_into("<I", b, 92, f.get("cpupool", 0))
    b[96] = f.get("gpaddr_bits", 0)
    struct.pack_into("<II", b, 104, f.get("emulation_flags", 0), f.get("misc_flags", 0))
    return bytes(b)


@pytest.mark.parametrize("row", _xl_list_v(), ids=lambda r: r[0])
def test_4_17_record_fields_at_header_offsets(row):
    # each domain of the real capture's `xl list -v`, as the hypervisor would write its record
    name, domid, mem, vcpus, state, secs, uid = row[:7]
    flags = (dt.BLOCKED if "b" in state else 0) | (dt.RUNNING if "r" in state else 0) | (0xFF << 16)
    raw = _record(domain=int(domid), flags=flags, tot_pages=int(mem) * 256, max_pages=int(mem) * 256 + 256,
                  outstanding_pages=7, shr_pages=8, paged_pages=9, shared_info_frame=0xABCDE,
                  cpu_time=int(float(secs) * 1e9), nr_online_vcpus=int(vcpus), max_vcpu_id=int(vcpus) - 1,
                  ssidref=3, handle=uuid.UUID(uid).bytes, cpupool=2, gpaddr_bits=52, emulation_flags=0x5,
                  misc_flags=1)
    info = domctl.decode_domaininfo(L, raw)
    assert (info.domid, info.flags, info.tot_pages) == (int(domid), flags, int(mem) * 256)
    assert (info.shared_info_frame, info.cpu_time, info.online_vcpus, info.max_vcpu_id, info.ssidref) == \
        (0xABCDE, int(float(secs) * 1e9), int(vcpus), int(vcpus) - 1, 3)
    assert info.uuid == uid and info.memory_kib == int(mem) * 1024
    assert info.state == (2 if state.startswith("-b") else 1)


def test_records_are_112_bytes_apart():
    raw = _record(domain=0, tot_pages=262144) + _record(domain=5, tot_pages=24576, nr_online_vcpus=2)
    infos = domctl.decode_domaininfos(L, raw, 2)
    assert [(i.domid, i.tot_pages, i.online_vcpus) for i in infos] == [(0, 262144, 0), (5, 24576, 2)]
    with pytest.raises(ValueError):
        domctl.decode_domaininfos(L, raw, 3)


def test_physinfo_4_17_offsets_match_the_real_xl_info():
    x = {k: int(float(v)) if k == "cpu_mhz" else v for k, v in _xl_info().items()}
    b = bytearray(112)
    struct.pack_into("<10I", b, 0, int(x["threads_per_core"]), int(x["cores_per_socket"]), int(x["nr_cpus"]),
                     int(x["max_cpu_id"]), int(x["nr_nodes"]), 0, int(float(_xl_info()["cpu_mhz"]) * 1000), 0, 0, 0)
    struct.pack_into("<5Q", b, 40, int(x["total_memory"]) * 256, int(x["free_memory"]) * 256, 0, 0, 0x7ffff)
    p = domctl.decode_physinfo(L, bytes(b) + b"\0" * (domctl.PHYSINFO_BUFFER - 112))
    assert (p.nr_cpus, p.cores_per_socket, p.threads_per_core, p.nr_nodes) == (2, 2, 1, 1)
    assert (p.cpu_mhz, p.total_memory_mib, p.free_memory_mib, p.sockets_per_node) == (2596, 2047, 776, 1)


@pytest.mark.parametrize("version", [(4, 16), (4, 20), (3, 0), (5, 0)])
def test_unknown_versions_are_refused_by_name(version):
    with pytest.raises(NoSupportError) as e:
        domctl.layout_for(*version)
    assert e.value.code == ErrorCode.NO_SUPPORT
    assert f"Xen {version[0]}.{version[1]}" in e.value.message and "4.17" in e.value.message


def test_split_version():
    assert domctl.split_version((4 << 16) | 17) == (4, 17)


@given(domid=st.integers(0, 0x7FEF), flags=st.integers(0, 2**32 - 1), tot=st.integers(0, 2**64 - 1),
       cpu=st.integers(0, 2**64 - 1), vcpus=st.integers(0, 2**32 - 1), handle=st.binary(min_size=16, max_size=16))
def test_encode_decode_round_trip(domid, flags, tot, cpu, vcpus, handle):
    info = dt.DomainInfo(domid, flags, tot, tot // 2, cpu, vcpus, vcpus - 1 if vcpus else 0, 0, handle, 77)
    raw = domctl.encode_domaininfo(L, info)
    assert len(raw) == 112 and domctl.decode_domaininfo(L, raw) == info
