"""xen:/// on a real dom0: list/lookup/info/state/name with 0 toolstack calls, fresh across id changes.

Guests are made and changed with `xl` directly (the truth); xvirt only reads, through the hypervisor
(libxenctrl) and xenstore.
"""

import pytest

from conftest import XL_SLOW, make_guest, toolstack_calls, wait_for, xl, xl_list

from xvirt.constants import DomainState as S
from xvirt.errors import NoDomainError


def _gone(name):
    return lambda: name not in xl_list()


def test_list_lookup_info_state_zero_toolstack_calls(guests, conn):
    xl("pause", "g2")
    try:
        truth = xl_list()
        assert conn.list_domain_ids() == sorted(d.id for d in truth.values())
        assert conn.num_of_domains() == len(truth)
        for d in truth.values():
            dom = conn.lookup_by_id(d.id)
            assert dom.name == d.name
            if d.name != "Domain-0":
                assert dom.uuid == d.uuid
            state, max_kib, kib, vcpus, cpu_ns = dom.info()
            assert kib == d.mem_mib * 1024 and vcpus == d.vcpus and cpu_ns > 0 and max_kib >= kib
            if d.name == "g2":
                assert state == S.PAUSED and dom.state()[0] == S.PAUSED
            else:   # "------" in xl list (runnable, waiting for a CPU) is NOSTATE, as in libvirt
                assert state in (S.NOSTATE, S.RUNNING, S.BLOCKED)
            assert conn.lookup_by_name(d.name).id == d.id
            assert conn.lookup_by_uuid(dom.uuid).name == d.name
            assert dom.is_active()
        assert sorted(x.name for x in conn.list_all_domains(1)) == sorted(truth)   # ACTIVE
        stats = {s.name: s for s in conn.get_all_domain_stats()}
        assert sorted(stats) == sorted(truth)
        assert toolstack_calls(conn) == 0
    finally:
        xl("unpause", "g2")


def test_lookup_by_id_costs_one_hypercall_and_no_xenstore(guests, conn):
    gid = guests["g1"].id
    conn.lookup_by_id(gid)
    c0 = conn.request_counts()
    conn.lookup_by_id(gid)
    c1 = conn.request_counts()
    assert c1["hypervisor"] - c0["hypervisor"] == 1
    assert c1["xenstore_total"] == c0["xenstore_total"] and toolstack_calls(conn) == 0
    with pytest.raises(NoDomainError):
        conn.lookup_by_id(max(d.id for d in guests.values()) + 100)


def test_save_restore_new_id_same_domain(guests, conn):
    dom = conn.lookup_by_name("g1")
    old = dom.id
    assert old == guests["g1"].id
    xl("save", "g1", "/tmp/g1.save", timeout=XL_SLOW)
    wait_for(_gone("g1"), "g1 saved")
    assert old not in conn.list_domain_ids()
    with pytest.raises(NoDomainError):
        conn.lookup_by_id(old)
    xl("restore", "/tmp/g1.save", timeout=XL_SLOW)
    new = wait_for(lambda: xl_list().get("g1"), "g1 restored").id
    assert new != old
    assert dom.id == new and dom.name == "g1" and dom.is_active()
    assert conn.lookup_by_name("g1") == dom and conn.lookup_by_id(new) == dom
    with pytest.raises(NoDomainError):
        conn.lookup_by_id(old)
    assert toolstack_calls(conn) == 0


def test_reboot_new_id_same_domain(guests, conn):
    dom = conn.lookup_by_name("g2")
    old = dom.id
    xl("reboot", "g2")
    new = wait_for(lambda: (d := xl_list().get("g2")) is not None and d.id != old and d.id, "g2 rebooted")
    assert dom.id == new and dom.name == "g2"
    assert conn.lookup_by_name("g2") == dom
    assert dom.info()[0] in (S.NOSTATE, S.RUNNING, S.BLOCKED, S.PAUSED)
    assert toolstack_calls(conn) == 0


def test_rename_is_seen_at_once(guests, conn):
    dom = conn.lookup_by_name("g3")
    assert dom.name == "g3"
    xl("rename", "g3", "g3x")
    try:
        assert dom.name == "g3x"
        assert conn.lookup_by_name("g3x") == dom
        assert sorted(x.name for x in conn.list_all_domains(1)) == sorted(xl_list())
    finally:
        xl("rename", "g3x", "g3")
    assert dom.name == "g3" and conn.lookup_by_name("g3") == dom
    assert toolstack_calls(conn) == 0


def test_destroy_and_create_reusing_the_name(guests, conn):
    dom = conn.lookup_by_name("g2")
    old_id, old_uuid = dom.id, dom.uuid
    xl("destroy", "g2")
    wait_for(_gone("g2"), "g2 destroyed")
    assert old_id not in conn.list_domain_ids()
    with pytest.raises(NoDomainError):
        conn.lookup_by_id(old_id)
    fresh = make_guest("g2")
    again = conn.lookup_by_name("g2")
    assert again.uuid == fresh.uuid != old_uuid and again.id == fresh.id != old_id
    assert conn.lookup_by_id(fresh.id) == again
    assert toolstack_calls(conn) == 0
