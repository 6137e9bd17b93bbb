"""attachDevice(Flags)/detachDevice(Flags) of disks and interfaces (issue 13 item 2) on both
toolstacks: XenD ``op=device_create``/``device_destroy``, ``xl block-/network-attach/-detach``;
the new device shows in the XML and has its own counters, from zero."""

import pytest

import xvirt.libvirt as libvirt

PV = """<domain type='xen'><name>{name}</name><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""
DISK = "<disk type='block' device='disk'><source dev='/dev/vg0/extra'/><target dev='xvdb'/></disk>"
NIC = "<interface type='bridge'><mac address='00:16:3e:00:00:99'/><source bridge='xenbr0'/></interface>"


@pytest.fixture(params=["xend", "xl"])
def tconn(request):
    from xvirt.testing import sim_host
    with sim_host(2, name=f"devices-{request.param}", toolstack=request.param) as host:
        c = libvirt.open(host.uri)
        try:
            yield request.param, c, host
        finally:
            c.close()


def counts(conn):
    c = conn._o.request_counts()
    return dict(c["xend"]), dict(c["xl"])


def grown(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_attach_and_detach_live(tconn):
    kind, conn, host = tconn
    dom = conn.defineXML(PV.format(name="hotplug"))
    dom.create()
    x0, l0 = counts(conn)
    assert dom.attachDevice(DISK) == 0 and dom.attachDevice(NIC) == 0
    x1, l1 = counts(conn)
    if kind == "xend":
        assert grown(x0, x1) == {"POST /xend/domain/<x> op=device_create": 2}
    else:
        assert grown(l0, l1) == {"block-attach": 1, "network-attach": 1}
    xml = dom.XMLDesc()
    assert "xvdb" in xml and "/dev/vg0/extra" in xml and "00:16:3e:00:00:99" in xml
    rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats("xvdb")
    assert errs == 0 and rd_bytes % 512 == 0
    assert len(dom.interfaceStats("00:16:3e:00:00:99")) == 8
    for dev in (DISK, NIC):
        with pytest.raises(libvirt.libvirtError):
            dom.attachDevice(dev)                     # already there: refused, nothing changed
    assert dom.XMLDesc().count("xvdb") == 1
    assert dom.detachDevice(DISK) == 0 and dom.detachDeviceFlags(NIC, libvirt.VIR_DOMAIN_AFFECT_LIVE) == 0
    xml = dom.XMLDesc()
    assert "xvdb" not in xml and "00:16:3e:00:00:99" not in xml
    with pytest.raises(libvirt.libvirtError) as e:
        dom.blockStats("xvdb")
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    with pytest.raises(libvirt.libvirtError):
        dom.detachDevice(DISK)                        # no longer attached


def test_attach_to_the_config_of_an_inactive_domain(tconn):
    kind, conn, host = tconn
    dom = conn.defineXML(PV.format(name="cold"))
    assert dom.attachDeviceFlags(DISK, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 0
    assert "xvdb" in dom.XMLDesc()
    with pytest.raises(libvirt.libvirtError) as e:
        dom.attachDeviceFlags(NIC, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
    dom.create()
    assert dom.blockStats("xvdb")[4] == 0              # the configured disk is plugged at start
    dom.destroy()
    assert dom.detachDeviceFlags(DISK, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 0
    assert "xvdb" not in dom.XMLDesc()


@pytest.mark.parametrize("xml,code", [
    ("<graphics type='vnc'/>", libvirt.VIR_ERR_NO_SUPPORT),
    ("<disk type='block' device='disk'><target dev='xvdc'/></disk>", libvirt.VIR_ERR_XML_ERROR),
    ("", libvirt.VIR_ERR_INVALID_ARG),
    ("<disk><!ENTITY x 'y'></disk>", None),
])
def test_bad_device_xml_changes_nothing(conn, xml, code):
    dom = next(d for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) if d.ID() > 0)
    before = dom.XMLDesc()
    with pytest.raises(libvirt.libvirtError) as e:
        dom.attachDevice(xml)
    if code is not None:
        assert e.value.get_error_code() == code
    assert dom.XMLDesc() == before
