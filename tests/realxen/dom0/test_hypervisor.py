"""The libxenctrl channel against the real hypervisor, with `xl` as the truth."""

import uuid

from conftest import xl, xl_list

from xvirt.protocol import domtable as dt
from xvirt.transport.xenctrl import XenctrlReader


def _xl_info() -> dict:
    out = {}
    for line in xl("info").stdout.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


def test_records_match_xl_list(guests):
    xl("pause", "g2")
    try:
        r = XenctrlReader()
        snap = {i.domid: i for i in r.snapshot()}
        truth = xl_list()
        assert sorted(snap) == sorted(d.id for d in truth.values())
        for d in truth.values():
            info = snap[d.id]
            if d.name != "Domain-0":
                assert info.uuid == d.uuid
            assert info.tot_pages * 4 // 1024 == d.mem_mib, d
            assert info.online_vcpus == d.vcpus
            assert bool(info.flags & dt.PAUSED) == ("p" in d.state)
            assert info.max_vcpu_id == d.vcpus - 1
        assert snap[truth["g2"].id].state == 3              # paused
        assert r.reads == 1
        r.close()
    finally:
        xl("unpause", "g2")


def test_version_and_physinfo_match_xl_info():
    info = _xl_info()
    r = XenctrlReader()
    assert r.version == (int(info["xen_major"]), int(info["xen_minor"])) and r.extra == info["xen_extra"]
    p = r.physinfo()
    assert p.host_cpus == int(info["nr_cpus"]) and p.total_memory_mib == int(info["total_memory"])
    assert p.cpu_mhz == int(float(info["cpu_mhz"]))
    assert p.topology[2] == int(info["cores_per_socket"]) and p.topology[3] == int(info["threads_per_core"])
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert p.boot_id == uuid.UUID(f.read().strip()).bytes
    r.close()


def test_validating_one_id_is_one_hypercall(guests):
    r = XenctrlReader()
    ids = sorted(d.id for d in xl_list().values())
    for domid in ids:
        before = r.reads
        info = r.info(domid)
        assert info is not None and info.domid == domid and r.reads == before + 1
    gap = next(i for i in range(1, max(ids) + 2) if i not in ids)   # an id no domain has
    before = r.reads
    assert r.info(gap) is None and r.reads == before + 1
    r.close()
