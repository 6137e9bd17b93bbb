"""The public API against the simulated host: lookups, handles that follow their UUID, errors, degradation."""

import uuid

import pytest

import xvirt
from xvirt.constants import DomainState, ListFlags
from xvirt.errors import (ErrorCode, InvalidArgError, NoConnectError, NoDomainError,
                          OperationDeniedError, OperationInvalidError, LibvirtError)


@pytest.fixture
def conn(simhost):
    with xvirt.open(simhost.uri) as c:
        yield c


def running(simhost):
    return {d["name"]: d for d in simhost.control.truth()["running"]}


def test_lookups_agree_with_the_host(simhost, conn):
    for name, d in running(simhost).items():
        by_id, by_name, by_uuid = conn.lookup_by_id(d["domid"]), conn.lookup_by_name(name), conn.lookup_by_uuid(d["uuid"])
        assert by_id == by_name == by_uuid and len({by_id, by_name, by_uuid}) == 1
        assert (by_id.id, by_id.name, by_id.uuid) == (d["domid"], name, d["uuid"])
        assert conn.lookup_by_uuid(uuid.UUID(d["uuid"]).bytes) == by_id
        info = by_id.info()
        assert (info.mem_kib, info.max_mem_kib, info.vcpus) == (d["memory_kib"], d["maxmem_kib"], d["vcpus"])


def test_unknown_domains_and_bad_arguments(conn):
    for call, arg in ((conn.lookup_by_id, 9999), (conn.lookup_by_name, "nosuch"),
                      (conn.lookup_by_uuid, "12345678-1234-1234-1234-123456789abc")):
        with pytest.raises(NoDomainError) as ei:
            call(arg)
        assert ei.value.get_error_code() == 42 and "Domain not found" in str(ei.value)
    for bad in ("not-a-uuid", b"short", 12):
        with pytest.raises(InvalidArgError) as ei:
            conn.lookup_by_uuid(bad)
        assert ei.value.get_error_code() == ErrorCode.INVALID_ARG == 8
    with pytest.raises(InvalidArgError):
        conn.lookup_by_id(-1)


def test_handle_follows_its_uuid_across_save_restore_and_reboot(simhost, conn):
    dom = conn.lookup_by_name("db-01")
    old_id = dom.id
    simhost.control.op("save", "db-01", file="db.img")
    assert dom.id == -1 and dom.info().state == DomainState.SHUTOFF
    with pytest.raises(NoDomainError):
        conn.lookup_by_id(old_id)
    simhost.control.restore("db.img")
    assert dom.id not in (-1, old_id)
    assert dom.name == "db-01" and dom.info().state in (DomainState.RUNNING, DomainState.BLOCKED)
    restored_id = dom.id
    simhost.control.op("shutdown", "db-01", reason="reboot")
    simhost.control.settle()
    assert dom.id not in (-1, old_id, restored_id)
    assert conn.lookup_by_id(dom.id) == dom
    assert running(simhost)["db-01"]["domid"] == dom.id


def test_freed_and_relooked_up_domain_costs_no_xend_request(simhost, conn):
    for _ in range(3):
        dom = conn.lookup_by_name("web-01")
        dom.info()
        assert dom.name == "web-01"
        del dom
    assert conn.request_counts()["xend_total"] == 0


def test_operations_and_state(simhost, conn):
    dom = conn.lookup_by_name("cache-01")
    dom.suspend()
    assert dom.state() == (DomainState.PAUSED, 1)
    dom.resume()
    assert dom.state()[0] in (DomainState.RUNNING, DomainState.BLOCKED)
    dom.set_memory(256 * 1024)
    assert dom.info().mem_kib == 256 * 1024
    dom.rename("cache-renamed")
    assert dom.name == "cache-renamed" and conn.lookup_by_name("cache-renamed") == dom
    with pytest.raises(NoDomainError):
        conn.lookup_by_name("cache-01")
    dom.destroy()
    simhost.control.settle()
    assert not dom.is_active() and dom.is_persistent()
    dom.create()
    assert dom.is_active() and dom.name == "cache-renamed"
    with pytest.raises(OperationInvalidError):
        dom.create()


def test_undefine_of_inactive_domain(simhost, conn):
    name = simhost.control.truth()["inactive"][0]["name"]
    dom = conn.lookup_by_name(name)
    assert dom.id == -1 and dom.info().state == DomainState.SHUTOFF
    dom.undefine()
    with pytest.raises(NoDomainError):
        dom.info()
    with pytest.raises(NoDomainError):
        conn.lookup_by_name(name)


def test_read_only_connection_denies_operations(simhost):
    with xvirt.open(simhost.uri, readonly=True) as ro:
        dom = ro.lookup_by_name("web-01")
        assert dom.info().state in (DomainState.RUNNING, DomainState.BLOCKED)
        for op in (dom.destroy, dom.suspend, lambda: dom.save("x.img"), lambda: ro.restore("x.img")):
            with pytest.raises(OperationDeniedError) as ei:
                op()
            assert ei.value.get_error_code() == 29


def test_xend_down_running_domains_still_answer_and_operations_fail_clearly(simhost, conn):
    conn.get_all_domain_stats()
    simhost.control.faults(xend_down=True)
    try:
        ids = conn.list_domain_ids()
        doms = [conn.lookup_by_id(i) for i in ids]
        assert [d.info().state for d in doms]
        assert conn.lookup_by_name("web-01").name == "web-01"
        with pytest.raises(NoConnectError) as ei:
            doms[1].suspend()
        assert "XenD" in str(ei.value)
        with pytest.raises(LibvirtError):
            conn.list_defined_domains()
    finally:
        simhost.control.faults(xend_down=False)
    doms[1].suspend()  # the same connection recovers
    assert doms[1].state()[0] == DomainState.PAUSED


def test_list_all_domains_flags(simhost, conn):
    truth = simhost.control.truth()
    active = conn.list_all_domains(ListFlags.ACTIVE)
    inactive = conn.list_all_domains(ListFlags.INACTIVE)
    assert {d.uuid for d in active} == {d["uuid"] for d in truth["running"]}
    assert {d.uuid for d in inactive} == {d["uuid"] for d in truth["inactive"]}
    assert len(conn.list_all_domains()) == len(active) + len(inactive)
    paused = conn.list_all_domains(ListFlags.PAUSED)
    assert {d.uuid for d in paused} == {d["uuid"] for d in truth["running"] if "p" in d["state"]}


@pytest.mark.parametrize("uri", ["bogus://x/", "xen+unix:///", "xen+http:///", "xen+sim://host/x",
                                 "xen://remote.example/"])
def test_bad_uris_are_clear_errors(uri):
    with pytest.raises(LibvirtError) as ei:
        xvirt.open(uri)
    assert ei.value.get_error_code() in (ErrorCode.NO_CONNECT, ErrorCode.INVALID_ARG)


def test_dead_xend_socket_is_a_clear_error(tmp_path):
    with xvirt.open(f"xen+unix://{tmp_path}/nosuch.sock") as conn:
        with pytest.raises(NoConnectError) as ei:
            conn.list_domain_ids()
    assert "nosuch.sock" in str(ei.value)


def test_node_info_and_version(conn):
    node = conn.node_info()
    assert node.cpus == 8 and node.memory_kib > 0
    assert conn.version() == 3_000_004
    assert conn.hostname().startswith("xensim-")


@pytest.mark.simhost(domains=4, max_domid=12)
def test_handle_never_answers_for_the_domain_that_took_its_old_id(simhost, conn):
    """2006's objection: after save/restore an id belongs to another domain."""
    dom = conn.lookup_by_name("db-01")
    old_id = dom.id
    simhost.control.op("save", "db-01", file="db.img")
    simhost.control.restore("db.img")
    simhost.control.settle()
    made = 0
    while old_id not in {d["domid"] for d in simhost.control.truth()["running"]}:
        simhost.control.create(["vm", ["name", f"filler-{made}"], ["memory", "64"], ["vcpus", "1"]])
        made += 1
        assert made < 20
    truth = {d["uuid"]: d for d in simhost.control.truth()["running"]}
    assert truth[dom.uuid]["domid"] != old_id
    assert (dom.id, dom.name) == (truth[dom.uuid]["domid"], "db-01")
    assert dom.info().mem_kib == truth[dom.uuid]["memory_kib"]
    other = conn.lookup_by_id(old_id)
    assert other != dom and other.name.startswith("filler-")


def test_native_conversions_xl_xm_need_no_host_request(conn):
    cfg = ('name = "nat"\nuuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"\nmemory = 256\n'
           'kernel = "/boot/vmlinuz"\nvif = [ "mac=00:16:3e:00:00:01,bridge=xenbr0" ]\n')
    before = conn.request_counts()
    xml = conn.domain_xml_from_native("xen-xl", cfg)
    assert "<name>nat</name>" in xml and "machine='xenpv'" in xml
    assert conn.domain_xml_to_native("xen-xm", xml).startswith('name = "nat"\n')
    assert conn.request_counts() == before
    sxpr = conn.domain_xml_to_native("xen-sxpr", xml)      # uses the host's config format
    assert sxpr.startswith("(vm ") and "(name 'nat')" in sxpr
