"""migrate/migrateToURI between two simulated hosts through XenD's relocation service (issue 13 item 2):
the domain keeps its UUID, gets an id of the target's, is gone from the source; counted per channel."""

import os
import stat

import pytest

import xvirt.libvirt as libvirt
from xvirt.testing import sim_host

PV = """<domain type='xen'><name>{name}</name><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


@pytest.fixture
def two_hosts():
    with sim_host(2, name="mig-a") as a, sim_host(4, name="mig-b", toolstack="xl") as b:
        ca, cb = libvirt.open(a.uri), libvirt.open(b.uri)
        try:
            yield a, b, ca, cb
        finally:
            ca.close()
            cb.close()


def test_migrate_keeps_the_uuid_and_takes_a_target_id(two_hosts):
    a, b, ca, cb = two_hosts
    dom = ca.createXML(PV.format(name="mover"), 0)
    uuid = dom.UUIDString()
    target_ids = set(cb.listDomainsID())
    before = ca._o.request_counts()["xend"].get("POST /xend/domain/<x> op=migrate", 0)
    moved = dom.migrate(cb, libvirt.VIR_MIGRATE_LIVE)
    assert ca._o.request_counts()["xend"]["POST /xend/domain/<x> op=migrate"] - before == 1
    assert moved.connect() is cb and moved.UUIDString() == uuid and moved.name() == "mover"
    assert moved.isActive() == 1 and moved.ID() not in target_ids
    truth_b = {d["uuid"]: d for d in b.control.truth()["running"]}
    assert truth_b[uuid]["domid"] == moved.ID()
    assert uuid not in {d["uuid"] for d in a.control.truth()["running"]}
    with pytest.raises(libvirt.libvirtError) as e:
        ca.lookupByUUIDString(uuid)
    assert e.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    mode = os.stat(a.paths.relocation).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_migrate_to_uri(two_hosts):
    a, b, ca, cb = two_hosts
    dom = ca.createXML(PV.format(name="mover-uri"), 0)
    assert dom.migrateToURI(b.uri, 0) == 0
    assert cb.lookupByName("mover-uri").UUIDString() == dom.UUIDString()


def test_refusals_change_nothing(two_hosts):
    a, b, ca, cb = two_hosts
    dom = ca.createXML(PV.format(name="stay"), 0)
    for call, code in ((lambda: dom.migrate(ca, 0), libvirt.VIR_ERR_INVALID_ARG),
                       (lambda: dom.migrate(cb, 1 << 4), libvirt.VIR_ERR_INVALID_ARG),
                       (lambda: dom.migrate(cb, 0, "newname"), libvirt.VIR_ERR_NO_SUPPORT),
                       (lambda: cb.lookupByName("web-01").migrate(ca, 0), libvirt.VIR_ERR_NO_SUPPORT)):
        with pytest.raises(libvirt.libvirtError) as e:
            call()
        assert e.value.get_error_code() == code
    assert dom.isActive() == 1 and "stay" not in [d["name"] for d in b.control.truth()["running"]]
    off = ca.defineXML(PV.format(name="off"))
    with pytest.raises(libvirt.libvirtError) as e:
        off.migrate(cb, 0)
    assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID


def test_a_name_taken_on_the_target_fails_and_the_domain_runs_on(two_hosts):
    a, b, ca, cb = two_hosts
    cb.createXML(PV.format(name="twin"), 0)
    dom = ca.createXML(PV.format(name="twin"), 0)
    with pytest.raises(libvirt.libvirtError) as e:
        dom.migrate(cb, 0)
    assert "twin" in str(e.value)
    assert dom.isActive() == 1 and dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED
