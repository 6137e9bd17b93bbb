"""The facade reports XenD's "already in use" as libvirtError VIR_ERR_DOM_EXIST (28), as libvirt did.

defineXML, createXML and virDomain.rename onto the name of a running and of an inactive domain,
through the strict URI, the XenD-only one and the libxl toolstack (whose inactive domains xvirt
keeps in its config directory); nothing changes on the host.
"""

import os
import uuid as _uuid

import pytest

import xvirt.libvirt as libvirt
from name_in_use_host import XML, path, simhost  # noqa: F401,F811 - path, simhost: fixtures for this module

PROMISE = "a name already in use must be refused with VIR_ERR_DOM_EXIST (28)"


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def names(host, conn) -> dict:
    """Every domain's name by uuid: the host's truth, the domains the connection lists, and
    xvirt's libxl config files (none on a XenD host)."""
    t = host.control.truth()
    top = os.path.join(host.root, "libxl")
    files = sorted(os.path.join(d, n) for d, _, ns in os.walk(top) for n in ns)
    return {"host": {d["uuid"]: d["name"] for d in t["running"] + t["inactive"]},
            "listed": {d.UUIDString(): d.name() for d in conn.listAllDomains(0)},
            "configs": {f: read(f) for f in files}}


def taken(host, conn, where: str) -> str:
    t = host.control.truth()
    if where == "running":
        return [d for d in t["running"] if d["domid"] != 0][0]["name"]
    return t["inactive"][0]["name"] if t["inactive"] else conn.listDefinedDomains()[0]


def words(path: str, name: str) -> str:
    """The refusal's words: XenD's, or libvirt's own on the libxl toolstack."""
    return f"VM name '{name}' already in use" if path != "libxl" else f"domain '{name}' already exists"


def check_exists(fn, name: str, path: str, rename: bool = False) -> None:
    with pytest.raises(libvirt.libvirtError) as ei:
        fn()
    e = ei.value
    assert e.get_error_code() == libvirt.VIR_ERR_DOM_EXIST == 28, (PROMISE, e.get_error_code(), str(e))
    expected = f"domain with name '{name}' already exists" if rename and path == "libxl" else words(path, name)
    assert expected in e.get_error_message(), (PROMISE, e.get_error_message())
    last = libvirt.virGetLastError()
    assert last is not None and last[0] == libvirt.VIR_ERR_DOM_EXIST, (PROMISE, last)


@pytest.fixture
def fconn(simhost, path):
    uri = f"xen+unix://{simhost.paths.xend}" if path == "xend-only" else simhost.uri
    c = libvirt.open(uri)
    yield c
    c.close()


@pytest.mark.parametrize("op", ["defineXML", "createXML"])
@pytest.mark.parametrize("where", ["running", "inactive"])
def test_define_and_create_onto_a_name_in_use(simhost, fconn, path, op, where):
    name = taken(simhost, fconn, where)
    before = names(simhost, fconn)
    check_exists(lambda: getattr(fconn, op)(XML.format(name=name, uuid=_uuid.uuid4())), name, path)
    assert names(simhost, fconn) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_rename_onto_a_name_in_use(simhost, fconn, path, where):
    name = taken(simhost, fconn, where)
    t = simhost.control.truth()
    other = [d for d in t["running"] if d["domid"] != 0 and d["name"] != name][0]
    dom = fconn.lookupByUUIDString(other["uuid"])
    before = names(simhost, fconn)
    check_exists(lambda: dom.rename(name, 0), name, path, rename=True)
    assert names(simhost, fconn) == before
    assert dom.name() == other["name"]
