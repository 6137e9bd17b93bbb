"""virDomain against the simulated host: identity, reads, lifecycle and resources in libvirt-python's shapes."""

import uuid as uuidlib

import pytest

import xvirt.libvirt as libvirt

from facade_helpers import by_name, inactive, running, truth_state

pytestmark = pytest.mark.simhost(domains=4, inactive=1)


def guest(simhost, index: int = 1) -> dict:
    """A running guest (index 0 is Domain-0)."""
    return running(simhost)[index]


def test_identity(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByName(t["name"])
    assert dom.ID() == t["domid"] and isinstance(dom.ID(), int)
    assert dom.name() == t["name"]
    assert dom.UUIDString() == t["uuid"]
    assert isinstance(dom.UUID(), bytes) and dom.UUID() == uuidlib.UUID(t["uuid"]).bytes
    assert dom.connect() is conn
    assert dom == conn.lookupByID(t["domid"]) and hash(dom) == hash(conn.lookupByID(t["domid"]))
    assert dom != conn.lookupByName(guest(simhost, 2)["name"])


def test_info_and_state_shapes(conn, simhost):
    for t in running(simhost):
        dom = conn.lookupByID(t["domid"])
        info = dom.info()
        assert isinstance(info, list) and len(info) == 5 and all(isinstance(x, int) for x in info)
        state, max_mem, mem, vcpus, cpu_time = info
        assert state == truth_state(t["state"])
        assert (max_mem, mem, vcpus) == (t["maxmem_kib"], t["memory_kib"], t["vcpus"])
        assert cpu_time > 0
        st = dom.state()
        assert isinstance(st, list) and len(st) == 2 and st[0] == state
        assert dom.isActive() == 1 and dom.isPersistent() == int(t["managed"])
        assert dom.maxMemory() == t["maxmem_kib"]
        assert dom.maxVcpus() == t["max_vcpus"]
        assert dom.OSType() in ("linux", "hvm")
    off = conn.lookupByName(inactive(simhost)[0]["name"])
    assert off.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF and off.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert (off.ID(), off.isActive(), off.isPersistent()) == (-1, 0, 1)


def test_xml_desc_carries_identity(conn, simhost):
    t = guest(simhost)
    xml = conn.lookupByName(t["name"]).XMLDesc(0)
    assert f"<name>{t['name']}</name>" in xml and f"<uuid>{t['uuid']}</uuid>" in xml
    assert f"id='{t['domid']}'" in xml          # active domains carry id='N' on the root element


def test_suspend_resume(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByName(t["name"])
    assert dom.suspend() == 0
    assert dom.state() == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER]
    assert truth_state(by_name(simhost, t["name"])["state"]) == libvirt.VIR_DOMAIN_PAUSED
    assert dom.resume() == 0
    assert dom.state()[0] in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED)
    assert dom.ID() == t["domid"]                  # pause keeps the id


def test_destroy_then_create(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByName(t["name"])
    assert dom.destroy() == 0
    simhost.control.settle()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF and dom.ID() == -1 and dom.isActive() == 0
    assert t["uuid"] not in {d["uuid"] for d in running(simhost)}
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.lookupByID(t["domid"])
    assert ei.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    assert dom.create() == 0
    assert dom.isActive() == 1 and dom.ID() == by_name(simhost, t["name"])["domid"]
    with pytest.raises(libvirt.libvirtError) as ei:
        dom.create()
    assert ei.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID


def test_shutdown_is_asynchronous(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByName(t["name"])
    assert dom.shutdownFlags(0) == 0
    simhost.control.settle()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF and dom.ID() == -1


def test_reboot_gives_a_new_id_and_the_handle_follows(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByID(t["domid"])
    assert dom.reboot(0) == 0
    simhost.control.settle()
    now = by_name(simhost, t["name"])
    assert now["uuid"] == t["uuid"] and now["domid"] != t["domid"]
    assert dom.ID() == now["domid"] and dom.name() == t["name"]
    assert conn.lookupByID(now["domid"]) == dom


def test_save_and_restore(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByName(t["name"])
    assert dom.save("facade-test.save") == 0
    assert dom.ID() == -1 and dom.isActive() == 0 and dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert conn.restore("facade-test.save") == 0
    again = conn.lookupByUUIDString(t["uuid"])
    assert again == dom and again.ID() == dom.ID() == by_name(simhost, t["name"])["domid"] != t["domid"]


def test_resources(conn, simhost):
    t = guest(simhost, 2)   # two vcpus in the seed
    dom = conn.lookupByName(t["name"])
    assert dom.setMemory(t["memory_kib"] // 2) == 0
    assert dom.info()[2] == by_name(simhost, t["name"])["memory_kib"] == t["memory_kib"] // 2
    assert dom.setMaxMemory(t["maxmem_kib"] * 2) == 0
    assert dom.maxMemory() == by_name(simhost, t["name"])["maxmem_kib"] == t["maxmem_kib"] * 2
    assert dom.setVcpus(1) == 0
    assert dom.info()[3] == by_name(simhost, t["name"])["vcpus"] == 1
    with pytest.raises(libvirt.libvirtError) as ei:
        dom.setVcpus(0)
    assert ei.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG


def test_rename_and_undefine(conn, simhost):
    name = inactive(simhost)[0]["name"]
    dom = conn.lookupByName(name)
    assert dom.rename("renamed-01", 0) == 0
    assert dom.name() == "renamed-01" and conn.lookupByName("renamed-01") == dom
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.lookupByName(name)
    assert ei.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    assert dom.undefine() == 0
    assert "renamed-01" not in conn.listDefinedDomains()
    with pytest.raises(libvirt.libvirtError) as ei:
        dom.info()
    assert ei.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


@pytest.mark.parametrize("method, args", [
    ("reboot", (1,)), ("state", (4,)), ("rename", ("x", 1)), ("createWithFlags", (1,)),
    ("shutdownFlags", (2,)), ("destroyFlags", (1,)), ("undefineFlags", (1,)),
])
def test_unsupported_flags_are_invalid_arguments(conn, simhost, method, args):
    dom = conn.lookupByName(guest(simhost)["name"])
    with pytest.raises(libvirt.libvirtError) as ei:
        getattr(dom, method)(*args)
    assert ei.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    assert "unsupported flags" in ei.value.get_error_message()
    assert dom.isActive() == 1                      # nothing happened


def test_xend_down_keeps_reads_and_fails_operations_clearly(conn, simhost):
    t = guest(simhost)
    dom = conn.lookupByName(t["name"])
    simhost.control.faults(xend_down=True)
    try:
        assert conn.listDomainsID() == [d["domid"] for d in running(simhost)]
        assert conn.lookupByID(t["domid"]).info()[1] == t["maxmem_kib"]
        with pytest.raises(libvirt.libvirtError) as ei:
            dom.suspend()
        assert ei.value.get_error_code() == libvirt.VIR_ERR_NO_CONNECT
        assert "XenD" in ei.value.get_error_message()
    finally:
        simhost.control.faults(xend_down=False)
    assert dom.suspend() == 0 and dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
