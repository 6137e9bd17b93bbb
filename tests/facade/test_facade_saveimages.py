"""Managed save, save/restore with flags, core dumps and listAllDomains' managed-save, autostart and
snapshot filters through the facade (issue 13 item 2), on both toolstacks, counted per channel."""

import os

import pytest

import xvirt.libvirt as libvirt

PV = """<domain type='xen'><name>{name}</name><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


@pytest.fixture(params=["xend", "xl"])
def tconn(request):
    from xvirt.testing import sim_host
    with sim_host(3, name=f"saveimg-{request.param}", toolstack=request.param) as host:
        c = libvirt.open(host.uri)
        try:
            yield request.param, c, host
        finally:
            c.close()


def names(conn, flags):
    return sorted(d.name() for d in conn.listAllDomains(flags))


def test_managed_save_then_start_restores_the_image(tconn):
    kind, conn, host = tconn
    dom = conn.defineXML(PV.format(name="ms-guest"))
    dom.create()
    first_id = dom.ID()
    before = conn._o.request_counts()
    assert dom.managedSave() == 0
    after = conn._o.request_counts()
    if kind == "xend":
        assert after["xend"].get("POST /xend/domain/<x> op=save", 0) - before["xend"].get(
            "POST /xend/domain/<x> op=save", 0) == 1
    else:
        assert after["xl"]["save"] - before["xl"].get("save", 0) == 1
    assert dom.isActive() == 0 and dom.hasManagedSaveImage() == 1 and dom.isPersistent() == 1
    assert os.path.isfile(os.path.join(host.paths.save, f"{dom.UUIDString()}.managedsave"))
    assert names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE) == ["ms-guest"]
    assert "ms-guest" not in names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE)
    before = conn._o.request_counts()
    dom.create()                                          # restores instead of booting
    after = conn._o.request_counts()
    key = "POST /xend/domain/ op=restore" if kind == "xend" else "restore"
    chan = "xend" if kind == "xend" else "xl"
    assert after[chan][key] - before[chan].get(key, 0) == 1
    assert dom.isActive() == 1 and dom.ID() != first_id and dom.hasManagedSaveImage() == 0
    assert dom.isPersistent() == 1


def test_managed_save_remove_and_refusals(tconn):
    _kind, conn, host = tconn
    dom = conn.defineXML(PV.format(name="ms-two"))
    with pytest.raises(libvirt.libvirtError) as e:
        dom.managedSave()                                 # not running
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
    dom.create()
    dom.managedSave()
    assert dom.managedSaveRemove() == 0 and dom.hasManagedSaveImage() == 0
    dom.create()                                          # a fresh boot now
    assert dom.isActive() == 1
    transient = conn.createXML(PV.format(name="ms-transient"), 0)
    with pytest.raises(libvirt.libvirtError) as e:
        transient.managedSave()
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and transient.isActive() == 1
    with pytest.raises(libvirt.libvirtError) as e:
        dom.managedSave(1 << 5)
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG


def test_save_flags_and_restore_flags(tconn):
    _kind, conn, host = tconn
    dom = conn.createXML(PV.format(name="sf-guest"), 0)
    path = os.path.join(host.paths.save, "sf.img")
    assert dom.saveFlags(path, None, libvirt.VIR_DOMAIN_SAVE_BYPASS_CACHE) == 0
    assert os.path.isfile(path)
    assert conn.restoreFlags(path, None, libvirt.VIR_DOMAIN_SAVE_RUNNING) == 0
    assert conn.lookupByName("sf-guest").isActive() == 1
    with pytest.raises(libvirt.libvirtError) as e:
        conn.restoreFlags(path, "<domain/>", 0)
    assert e.value.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT


def test_core_dump(tconn):
    kind, conn, host = tconn
    dom = conn.createXML(PV.format(name="dump-guest"), 0)
    path = os.path.join(host.paths.save, "dump-guest.core")
    assert dom.coreDump(path, 0) == 0
    assert os.path.isfile(path) and dom.isActive() == 1 and dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED
    with pytest.raises(libvirt.libvirtError) as e:
        dom.coreDump(path, libvirt.VIR_DUMP_CRASH | libvirt.VIR_DUMP_LIVE)
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    with pytest.raises(libvirt.libvirtError) as e:
        dom.coreDump("/etc/xvirt-must-not-write-here", 0)   # confined to the host's save directory
    assert not os.path.exists("/etc/xvirt-must-not-write-here")
    off = conn.defineXML(PV.format(name="dump-off"))
    with pytest.raises(libvirt.libvirtError) as e:
        off.coreDump(path, 0)
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID


def test_autostart_flag_and_list_filters(tconn):
    kind, conn, host = tconn
    dom = conn.defineXML(PV.format(name="auto-guest"))
    assert dom.autostart() == 0
    assert dom.setAutostart(1) == 0 and dom.autostart() == 1
    assert names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART) == ["auto-guest"]
    every = names(conn, 0)
    assert names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART) == sorted(set(every) - {"auto-guest"})
    both = libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART | libvirt.VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART
    assert names(conn, both) == every
    assert dom.setAutostart(0) == 0 and dom.autostart() == 0
    assert names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART) == []
    assert names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT) == []
    assert names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT) == every
    transient = conn.createXML(PV.format(name="auto-transient"), 0)
    with pytest.raises(libvirt.libvirtError) as e:
        transient.setAutostart(1)
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID


def test_listing_running_domains_still_makes_no_xend_request(simhost, conn):
    conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    before = conn._o.request_counts()["xend_total"]
    conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE | libvirt.VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE
                        | libvirt.VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT)
    assert conn._o.request_counts()["xend_total"] == before
