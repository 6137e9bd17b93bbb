"""vCPU pinning, the credit scheduler, setVcpusFlags/setMemoryFlags and autostart through the facade
(issue 13 item 2), on both toolstacks, each with the XenD op or xl command a dom0 uses, counted."""

import pytest

import xvirt.libvirt as libvirt


def a_guest(conn):
    return next(d for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) if d.ID() > 0)


def delta(conn, before):
    after = conn._o.request_counts()
    return ({k: v - before["xend"].get(k, 0) for k, v in after["xend"].items() if v != before["xend"].get(k, 0)},
            {k: v - before["xl"].get(k, 0) for k, v in after["xl"].items() if v != before["xl"].get(k, 0)})


@pytest.fixture(params=["xend", "xl"])
def tconn(request):
    from xvirt.testing import sim_host
    with sim_host(4, name=f"domctl-{request.param}", toolstack=request.param) as host:
        c = libvirt.open(host.uri)
        try:
            yield request.param, c, host
        finally:
            c.close()


def test_pin_vcpu_shows_in_pin_info_vcpus_and_the_host(tconn):
    kind, conn, host = tconn
    dom = a_guest(conn)
    n = conn.getInfo()[2]
    cpumap = tuple(i in (1, 3) for i in range(n))
    before = conn._o.request_counts()
    assert dom.pinVcpu(0, cpumap) == 0
    xend, xl = delta(conn, before)
    assert (xend, xl) == (({"POST /xend/domain/<x> op=pincpu": 1}, {}) if kind == "xend" else ({}, {"vcpu-pin": 1}))
    before = conn._o.request_counts()
    info = dom.vcpuPinInfo()
    assert info[0] == cpumap and all(m == (True,) * n for m in info[1:])
    vcpus, maps = dom.vcpus()
    assert maps[0] == cpumap and vcpus[0][3] in (1, 3)
    assert delta(conn, before) == ({}, {})             # affinity read from the hypervisor side
    assert dom.pinVcpuFlags(0, (True,) * n, libvirt.VIR_DOMAIN_AFFECT_LIVE) == 0
    assert dom.vcpuPinInfo()[0] == (True,) * n


@pytest.mark.parametrize("bad", [(False,) * 4, "yes"])
def test_pin_vcpu_refuses_an_empty_or_malformed_map(tconn, bad):
    _kind, conn, _host = tconn
    dom = a_guest(conn)
    with pytest.raises(libvirt.libvirtError) as e:
        dom.pinVcpu(0, bad)
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    with pytest.raises(libvirt.libvirtError) as e:
        dom.pinVcpu(99, (True,))
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG


def test_credit_scheduler_parameters(tconn):
    kind, conn, host = tconn
    dom = a_guest(conn)
    assert dom.schedulerType() == ["credit", 2]
    before = conn._o.request_counts()
    assert dom.schedulerParameters() == {"weight": 256, "cap": 0}
    assert delta(conn, before) == ({}, {})             # from the hypervisor side: no daemon
    before = conn._o.request_counts()
    assert dom.setSchedulerParameters({"weight": 512, "cap": 50}) == 0
    xend, xl = delta(conn, before)
    assert (xend, xl) == (({"POST /xend/domain/<x> op=domain_sched_credit_set": 1}, {}) if kind == "xend"
                          else ({}, {"sched-credit": 1}))
    assert dom.schedulerParametersFlags(0) == {"weight": 512, "cap": 50}
    assert dom.setSchedulerParametersFlags({"cap": 0}, libvirt.VIR_DOMAIN_AFFECT_LIVE) == 0
    assert dom.schedulerParameters() == {"weight": 512, "cap": 0}
    for bad in ({"weight": 0}, {"weight": 70000}, {"cap": -1}, {"period": 5}, {"weight": "x"}):
        before = conn._o.request_counts()
        with pytest.raises(libvirt.libvirtError) as e:
            dom.setSchedulerParameters(bad)
        assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
        assert delta(conn, before) == ({}, {})        # refused before any request: nothing changed
    assert dom.schedulerParameters() == {"weight": 512, "cap": 0}


def test_scheduler_on_a_xend_only_connection_asks_xend(simhost):
    conn = libvirt.open(f"xen+unix://{simhost.paths.xend}")
    try:
        dom = a_guest(conn)
        dom.setSchedulerParameters({"weight": 300})
        before = conn._o.request_counts()
        assert dom.schedulerParameters() == {"weight": 300, "cap": 0}
        # the domain's record (is it running?) and the op
        assert delta(conn, before)[0] == {"GET /xend/domain/<x>": 1,
                                          "POST /xend/domain/<x> op=domain_sched_credit_get": 1}
        n = conn.getInfo()[2]
        dom.pinVcpu(0, tuple(i == 2 for i in range(n)))
        assert dom.vcpuPinInfo()[0] == tuple(i == 2 for i in range(n))
        assert dom.vcpus()[1][0] == tuple(i == 2 for i in range(n))
    finally:
        conn.close()


def test_inactive_domain_scheduler_and_pin_are_operation_invalid(conn):
    dom = conn.lookupByName(conn.listDefinedDomains()[0])
    for call in (dom.schedulerParameters, lambda: dom.setSchedulerParameters({"weight": 5}),
                 lambda: dom.pinVcpu(0, (True,))):
        with pytest.raises(libvirt.libvirtError) as e:
            call()
        assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
    assert all(all(m) for m in dom.vcpuPinInfo())


def test_set_vcpus_and_memory_flags(conn, simhost):
    dom = a_guest(conn)
    assert dom.setMemoryFlags(200 * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE) == 0
    assert dom.info()[2] == 200 * 1024
    assert dom.setMemoryFlags(300 * 1024, libvirt.VIR_DOMAIN_MEM_MAXIMUM) == 0
    assert dom.maxMemory() == 300 * 1024
    maxv = dom.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
    assert dom.setVcpusFlags(1, libvirt.VIR_DOMAIN_AFFECT_LIVE) == 0 and dom.vcpusFlags(0) == 1
    with pytest.raises(libvirt.libvirtError) as e:
        dom.setVcpusFlags(maxv, libvirt.VIR_DOMAIN_VCPU_MAXIMUM | libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    off = conn.lookupByName(conn.listDefinedDomains()[0])
    with pytest.raises(libvirt.libvirtError) as e:
        off.setMemoryFlags(100 * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
    assert off.setVcpusFlags(3, libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == 0
    assert off.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == 3
    with pytest.raises(libvirt.libvirtError) as e:
        dom.setMemoryFlags(1, 1 << 6)
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG


def test_is_updated(conn):
    assert a_guest(conn).isUpdated() == 0


PV = """<domain type='xen'><name>{name}</name><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def test_metadata_description_is_kept_in_the_config(tconn):
    kind, conn, host = tconn
    dom = conn.defineXML(PV.format(name="md-guest"))
    with pytest.raises(libvirt.libvirtError) as e:
        dom.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION)
    assert e.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA
    assert dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, "web & db <front>", None, None, 0) == 0
    assert dom.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION) == "web & db <front>"
    again = libvirt.open(conn.getURI())       # another connection reads the stored config
    try:
        assert again.lookupByName("md-guest").metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION) == "web & db <front>"
    finally:
        again.close()
    dom.create()
    assert dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, "running now", None, None, 0) == 0
    assert dom.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION) == "running now" and dom.isActive() == 1
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, None, None, None, 0)
    with pytest.raises(libvirt.libvirtError) as e:
        dom.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION)
    assert e.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA
    with pytest.raises(libvirt.libvirtError) as e:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "t", None, None, 0)
    assert e.value.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT
    transient = conn.createXML(PV.format(name="md-transient"), 0)
    with pytest.raises(libvirt.libvirtError) as e:
        transient.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, "x", None, None, 0)
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
