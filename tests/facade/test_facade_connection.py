"""virConnect against the simulated host: libvirt-python's return shapes and error codes."""

import uuid as uuidlib

import pytest

import xvirt.libvirt as libvirt
from xvirt.errors import ErrorCode

from facade_helpers import inactive, running

pytestmark = pytest.mark.simhost(domains=5, inactive=2)


def code_of(excinfo) -> int:
    return excinfo.value.get_error_code()


def test_open_variants_return_connections(simhost):
    for c in (libvirt.open(simhost.uri), libvirt.openReadOnly(simhost.uri),
              libvirt.openAuth(simhost.uri, [[libvirt.VIR_CRED_AUTHNAME], None, None], 0)):
        assert isinstance(c, libvirt.virConnect)
        assert c.getURI() == simhost.uri
        assert c.close() == 0


def test_default_uri_comes_from_libvirt_default_uri(simhost, monkeypatch):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", simhost.uri)
    c = libvirt.open()
    assert c.getURI() == simhost.uri
    assert c.listDomainsID() == [d["domid"] for d in running(simhost)]
    c.close()


def test_bad_uri_is_a_libvirt_error(simhost):
    with pytest.raises(libvirt.libvirtError) as ei:
        libvirt.open("qemu:///system")
    assert code_of(ei) == libvirt.VIR_ERR_NO_CONNECT


def test_host_facts(conn, simhost):
    t = simhost.control.truth()
    assert conn.getType() == "Xen"
    assert conn.getHostname() == t["hostname"]
    assert conn.getLibVersion() == libvirt.getVersion() == libvirt.LIBVIRT_API_VERSION == 9_000_000
    assert libvirt.getVersion("Xen") == (9_000_000, 9_000_000)
    version = conn.getVersion()
    assert isinstance(version, int) and version >= 3_000_000      # Xen 3.x as major*1e6+minor*1e3+rel
    info = conn.getInfo()
    assert isinstance(info, list) and len(info) == 8
    node = conn._o.node_info()
    assert info == [node.model, node.memory_kib // 1024, node.cpus, node.mhz, node.nodes, node.sockets,
                    node.cores, node.threads]
    assert isinstance(info[0], str) and info[2] == t["host_cpus"]
    assert conn.isAlive() == 1


def test_listing_matches_truth(conn, simhost):
    ids = conn.listDomainsID()
    assert isinstance(ids, list) and ids == [d["domid"] for d in running(simhost)]
    assert conn.numOfDomains() == len(ids)
    names = conn.listDefinedDomains()
    assert isinstance(names, list) and sorted(names) == sorted(d["name"] for d in inactive(simhost))
    assert conn.numOfDefinedDomains() == len(names) == 2


def test_list_all_domains_and_flags(conn, simhost):
    every = conn.listAllDomains()
    assert all(isinstance(d, libvirt.virDomain) for d in every)
    truth_uuids = {d["uuid"] for d in running(simhost)} | {d["uuid"] for d in inactive(simhost)}
    assert {d.UUIDString() for d in every} == truth_uuids
    active = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    assert {d.UUIDString() for d in active} == {d["uuid"] for d in running(simhost)}
    off = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)
    assert {d.UUIDString() for d in off} == {d["uuid"] for d in inactive(simhost)}
    assert all(d.ID() == -1 for d in off)


def test_get_all_domain_stats_shape(conn, simhost):
    result = conn.getAllDomainStats()
    assert isinstance(result, list)
    truth = {d["uuid"]: d for d in running(simhost)}
    seen = set()
    for item in result:
        assert isinstance(item, tuple) and len(item) == 2
        dom, stats = item
        assert isinstance(dom, libvirt.virDomain) and isinstance(stats, dict)
        assert isinstance(stats["state.state"], int) and isinstance(stats["state.reason"], int)
        t = truth.get(dom.UUIDString())
        if t is not None:
            seen.add(dom.UUIDString())
            assert stats["balloon.maximum"] == t["maxmem_kib"]
            assert stats["balloon.current"] == t["memory_kib"]
            assert stats["vcpu.current"] == t["vcpus"]
            assert stats["cpu.time"] > 0
        else:
            assert stats["state.state"] == libvirt.VIR_DOMAIN_SHUTOFF
    assert seen == set(truth)
    only_state = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE,
                                        libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    assert len(only_state) == len(truth)
    assert all(set(s) == {"state.state", "state.reason"} for _, s in only_state)


def test_domain_list_get_stats(conn, simhost):
    names = [d["name"] for d in running(simhost)][-2:]
    doms = [conn.lookupByName(n) for n in reversed(names)]
    result = conn.domainListGetStats(doms, libvirt.VIR_DOMAIN_STATS_BALLOON)
    assert [d.name() for d, _ in result] == list(reversed(names))
    assert all(set(s) == {"balloon.current", "balloon.maximum"} for _, s in result)
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.domainListGetStats([])
    assert code_of(ei) == libvirt.VIR_ERR_INVALID_ARG


def test_lookups_agree(conn, simhost):
    t = running(simhost)[2]
    by_id = conn.lookupByID(t["domid"])
    by_name = conn.lookupByName(t["name"])
    by_uuid = conn.lookupByUUID(uuidlib.UUID(t["uuid"]).bytes)
    by_str = conn.lookupByUUIDString(t["uuid"])
    assert by_id == by_name == by_uuid == by_str
    assert {d.UUIDString() for d in (by_id, by_name, by_uuid, by_str)} == {t["uuid"]}
    assert by_id.ID() == t["domid"] and by_id.name() == t["name"]


@pytest.mark.parametrize("call, code", [
    (lambda c: c.lookupByID(-1), libvirt.VIR_ERR_INVALID_ARG),
    (lambda c: c.lookupByID(4000), libvirt.VIR_ERR_NO_DOMAIN),
    (lambda c: c.lookupByName("no-such-domain"), libvirt.VIR_ERR_NO_DOMAIN),
    (lambda c: c.lookupByUUIDString(str(uuidlib.uuid4())), libvirt.VIR_ERR_NO_DOMAIN),
    (lambda c: c.lookupByUUID(uuidlib.uuid4().bytes), libvirt.VIR_ERR_NO_DOMAIN),
    (lambda c: c.lookupByUUIDString("not-a-uuid"), libvirt.VIR_ERR_INVALID_ARG),
    (lambda c: c.lookupByUUID(b"short"), libvirt.VIR_ERR_INVALID_ARG),
    (lambda c: c.createXML("<domain/>", 4), libvirt.VIR_ERR_INVALID_ARG),
])
def test_lookup_errors(conn, call, code):
    with pytest.raises(libvirt.libvirtError) as ei:
        call(conn)
    assert code_of(ei) == code
    assert ei.value.get_error_level() == libvirt.VIR_ERR_ERROR


def test_unknown_domain_message_shape(conn):
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.lookupByName("ghost")
    assert ei.value.get_error_message().startswith("Domain not found")
    assert ei.value.get_error_domain() == libvirt.VIR_FROM_DOM


def test_read_only_connection_denies_operations(simhost):
    for c in (libvirt.openReadOnly(simhost.uri), libvirt.openAuth(simhost.uri, None, libvirt.VIR_CONNECT_RO)):
        dom = c.lookupByID(running(simhost)[1]["domid"])
        assert dom.info()[0] in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED)
        for op in (dom.suspend, dom.destroy, dom.shutdown, lambda: dom.setMemory(65536)):
            with pytest.raises(libvirt.libvirtError) as ei:
                op()
            assert code_of(ei) == libvirt.VIR_ERR_OPERATION_DENIED
        with pytest.raises(libvirt.libvirtError) as ei:
            c.restore("anything.save")
        assert code_of(ei) == libvirt.VIR_ERR_OPERATION_DENIED
        del dom
        c.close()


def test_close_counts_references_and_keeps_domains_usable(simhost):
    c = libvirt.open(simhost.uri)
    underlying = c._o
    dom = c.lookupByID(running(simhost)[1]["domid"])
    assert c.close() == 1                     # the domain still holds a reference
    assert c.isAlive() == 0
    assert dom.info()[1] == running(simhost)[1]["maxmem_kib"]   # as libvirt: earlier handles keep working
    assert dom.connect() is c
    with pytest.raises(libvirt.libvirtError) as ei:
        c.listDomainsID()
    assert code_of(ei) == ErrorCode.INVALID_CONN == libvirt.VIR_ERR_INVALID_CONN
    with pytest.raises(libvirt.libvirtError):
        c.close()
    assert underlying.is_alive()
    del dom                                   # last reference: the xvirt connection closes
    assert not underlying.is_alive()


def test_context_manager_closes(simhost):
    with libvirt.open(simhost.uri) as c:
        assert c.numOfDomains() == len(running(simhost))
    assert c.isAlive() == 0 and c._o is None


def test_define_create_and_native_conversion(conn, simhost):
    template = conn.lookupByName(inactive(simhost)[0]["name"])
    xml = template.XMLDesc()
    assert xml.lstrip().startswith("<domain") and template.UUIDString() in xml
    native = conn.domainXMLToNative("xen-sxpr", xml)
    assert native.startswith("(vm") and template.name() in native
    back = conn.domainXMLFromNative("xen-sxpr", native)
    assert "<name>%s</name>" % template.name() in back
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.domainXMLToNative("vmware-vmx", xml)
    assert code_of(ei) == libvirt.VIR_ERR_NO_SUPPORT
    name, uuid = template.name(), template.UUIDString()
    before = conn._o.request_counts()
    for fmt in ("xen-xl", "xen-xm"):                     # no host request for xl/xm
        cfg = conn.domainXMLToNative(fmt, xml)
        assert cfg.startswith('name = "%s"\n' % name)
        assert "<uuid>%s</uuid>" % uuid in conn.domainXMLFromNative(fmt, cfg)
    assert conn._o.request_counts() == before
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.domainXMLFromNative("xen-xl", 'name = "x"\nmemory = [\n')
    assert code_of(ei) == libvirt.VIR_ERR_CONF_SYNTAX
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.domainXMLFromNative("xen-sxpr", native, 1)
    assert code_of(ei) == libvirt.VIR_ERR_INVALID_ARG

    new_uuid = str(uuidlib.uuid4())
    defined = conn.defineXML(xml.replace(template.name(), "fresh-01").replace(template.UUIDString(), new_uuid))
    assert isinstance(defined, libvirt.virDomain)
    assert (defined.UUIDString(), defined.ID(), defined.isActive(), defined.isPersistent()) == (new_uuid, -1, 0, 1)
    assert "fresh-01" in conn.listDefinedDomains()

    transient_uuid = str(uuidlib.uuid4())
    created = conn.createXML(xml.replace(template.name(), "transient-01")
                             .replace(template.UUIDString(), transient_uuid))
    assert created.isActive() == 1 and created.isPersistent() == 0
    assert created.ID() in conn.listDomainsID()
    assert {d["uuid"]: d["managed"] for d in running(simhost)}[transient_uuid] is False


@pytest.mark.simhost(domains=20)
def test_virsh_list_loop_asks_xend_nothing(simhost):
    """W1/W2 through the facade: listDomainsID -> lookupByID -> name/info, handles freed each time."""
    simhost.control.reset_counters()
    c = libvirt.open(simhost.uri)
    for _ in range(5):
        rows = []
        for dom_id in c.listDomainsID():
            dom = c.lookupByID(dom_id)
            rows.append((dom.ID(), dom.name(), dom.info()))
            del dom
        assert [(i, n) for i, n, _ in rows] == [(d["domid"], d["name"]) for d in running(simhost)]
    assert c._o.request_counts()["xend_total"] == 0
    assert simhost.control.counters()["xend_total"] == 0
    c.close()
