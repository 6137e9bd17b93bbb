"""XenD's "already in use" is DomainExistsError (VIR_ERR_DOM_EXIST, 28) for define, create and rename.

On the XenD path (every connection sends lifecycle operations to XenD: the strict three-channel
URI and the XenD-only one) and on the libxl toolstack (a host with ``xl`` and no XenD, where
xvirt keeps inactive domains in its config directory), onto the name of a running domain and of
an inactive one; the refused operation changes nothing on the host. XenD's words end the
message; on libxl they are libvirt's own (src/conf/virdomainobjlist.c).
"""

import os
import uuid as _uuid

import pytest

import xvirt
from xvirt.errors import DomainExistsError, ErrorCode, LibvirtError
from name_in_use_host import XML, path, simhost  # noqa: F401,F811 - path, simhost: fixtures for this module

PROMISE = "a name already in use must be refused with DomainExistsError (VIR_ERR_DOM_EXIST, 28)"


def config_files(host) -> dict:
    """xvirt's libxl config directory (empty on a XenD host): file -> content."""
    top = os.path.join(host.root, "libxl")
    files = {}
    for d, _, names in os.walk(top):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                files[os.path.relpath(os.path.join(d, n), top)] = f.read()
    return files


def state(host) -> dict:
    """The host's truth without the cpu clock (which moves by itself), and xvirt's stored configs."""
    t = host.control.truth()
    return {"running": [{k: v for k, v in d.items() if k != "cpu_ns"} for d in t["running"]],
            "inactive": t["inactive"], "configs": config_files(host)}


def owner(host, conn, where: str) -> dict:
    t = host.control.truth()
    if where == "running":
        return [d for d in t["running"] if d["domid"] != 0][0]
    if t["inactive"]:
        return t["inactive"][0]
    kept = conn.lookup_by_name(conn.list_defined_domains()[0])  # libxl: kept by xvirt
    return {"name": kept.name, "uuid": kept.uuid}


def holder_text(d: dict) -> str:
    return f"domain {d['domid']}" if "domid" in d else "an inactive domain"


def check_exists(fn, api: str, d: dict, path: str) -> None:
    try:
        fn()
    except DomainExistsError as e:
        assert e.code == ErrorCode.DOM_EXIST == 28, (PROMISE, repr(e))
        if path == "libxl":
            words = (f"domain with name '{d['name']}' already exists" if api == "virDomainRename"
                     else f"domain '{d['name']}' already exists with uuid {d['uuid']}")
            assert e.message == f"{api}: {words}", (PROMISE, e.message)
        else:
            assert e.message.startswith(f"{api}: ") and e.message.endswith(
                f"VM name '{d['name']}' already in use by {holder_text(d)}"), (PROMISE, e.message)
        return
    except LibvirtError as e:
        raise AssertionError(f"{PROMISE}; got {e!r}") from None
    raise AssertionError(f"{PROMISE}; the call succeeded")


@pytest.fixture
def conn(simhost, path):
    uri = f"xen+unix://{simhost.paths.xend}" if path == "xend-only" else simhost.uri
    with xvirt.open(uri) as c:
        assert c.toolstack == ("libxl" if path == "libxl" else "xend")
        yield c


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_define_onto_a_name_in_use(simhost, conn, path, where):
    d = owner(simhost, conn, where)
    before = state(simhost)
    check_exists(lambda: conn.define_xml(XML.format(name=d["name"], uuid=_uuid.uuid4())), "virDomainDefineXML", d, path)
    assert state(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_create_onto_a_name_in_use(simhost, conn, path, where):
    d = owner(simhost, conn, where)
    before = state(simhost)
    check_exists(lambda: conn.create_xml(XML.format(name=d["name"], uuid=_uuid.uuid4())), "virDomainCreateXML", d, path)
    assert state(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_rename_onto_a_name_in_use(simhost, conn, path, where):
    d = owner(simhost, conn, where)
    t = simhost.control.truth()
    other = [g for g in t["running"] if g["domid"] != 0 and g["uuid"] != d["uuid"]][0]
    before = state(simhost)
    dom = conn.lookup_by_uuid(other["uuid"])
    check_exists(lambda: dom.rename(d["name"]), "virDomainRename", d, path)
    assert state(simhost) == before
    assert dom.name == other["name"]
