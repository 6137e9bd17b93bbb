"""The facade reports XenD's "already in use" as libvirtError VIR_ERR_DOM_EXIST (28), as libvirt did.

defineXML, createXML and virDomain.rename onto the name of a running and of an inactive domain,
through the strict URI and the XenD-only one; nothing changes on the host.
"""

import uuid as _uuid

import pytest

import xvirt.libvirt as libvirt

PROMISE = "a name already in use must be refused with VIR_ERR_DOM_EXIST (28)"

pytestmark = pytest.mark.simhost(domains=4)

XML = """<domain type='xen'><name>{name}</name><uuid>{uuid}</uuid><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def names(host) -> dict:
    t = host.control.truth()
    return {d["uuid"]: d["name"] for d in t["running"] + t["inactive"]}


def taken(host, where: str) -> str:
    t = host.control.truth()
    return ([d for d in t["running"] if d["domid"] != 0] if where == "running" else t["inactive"])[0]["name"]


def check_exists(fn, name: str) -> None:
    with pytest.raises(libvirt.libvirtError) as ei:
        fn()
    e = ei.value
    assert e.get_error_code() == libvirt.VIR_ERR_DOM_EXIST == 28, (PROMISE, e.get_error_code(), str(e))
    assert f"VM name '{name}' already in use" in e.get_error_message(), (PROMISE, e.get_error_message())
    last = libvirt.virGetLastError()
    assert last is not None and last[0] == libvirt.VIR_ERR_DOM_EXIST, (PROMISE, last)


@pytest.fixture(params=["strict", "xend-only"])
def fconn(simhost, request):
    uri = simhost.uri if request.param == "strict" else f"xen+unix://{simhost.paths.xend}"
    c = libvirt.open(uri)
    yield c
    c.close()


@pytest.mark.parametrize("op", ["defineXML", "createXML"])
@pytest.mark.parametrize("where", ["running", "inactive"])
def test_define_and_create_onto_a_name_in_use(simhost, fconn, op, where):
    name = taken(simhost, where)
    before = names(simhost)
    check_exists(lambda: getattr(fconn, op)(XML.format(name=name, uuid=_uuid.uuid4())), name)
    assert names(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_rename_onto_a_name_in_use(simhost, fconn, where):
    name = taken(simhost, where)
    t = simhost.control.truth()
    other = [d for d in t["running"] if d["domid"] != 0 and d["name"] != name][0]
    dom = fconn.lookupByUUIDString(other["uuid"])
    before = names(simhost)
    check_exists(lambda: dom.rename(name, 0), name)
    assert names(simhost) == before
    assert dom.name() == other["name"]
