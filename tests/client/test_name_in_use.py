"""XenD's "already in use" is DomainExistsError (VIR_ERR_DOM_EXIST, 28) for define, create and rename.

On the XenD path (every connection sends lifecycle operations to XenD: the strict three-channel
URI and the XenD-only one), onto the name of a running domain and of an inactive one; the
refused operation changes nothing on the host.
"""

import uuid as _uuid

import pytest

import xvirt
from xvirt.errors import DomainExistsError, ErrorCode, LibvirtError

PROMISE = "a name already in use must be refused with DomainExistsError (VIR_ERR_DOM_EXIST, 28)"

pytestmark = pytest.mark.simhost(domains=4)

XML = """<domain type='xen'><name>{name}</name><uuid>{uuid}</uuid><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def state(host) -> dict:
    """The host's truth without the cpu clock (which moves by itself)."""
    t = host.control.truth()
    return {"running": [{k: v for k, v in d.items() if k != "cpu_ns"} for d in t["running"]],
            "inactive": t["inactive"]}


def owner(host, where: str) -> dict:
    t = host.control.truth()
    return [d for d in t["running"] if d["domid"] != 0][0] if where == "running" else t["inactive"][0]


def holder_text(d: dict) -> str:
    return f"domain {d['domid']}" if "domid" in d else "an inactive domain"


def check_exists(fn, api: str, d: dict) -> None:
    try:
        fn()
    except DomainExistsError as e:
        assert e.code == ErrorCode.DOM_EXIST == 28, (PROMISE, repr(e))
        assert e.message.startswith(f"{api}: ") and e.message.endswith(
            f"VM name '{d['name']}' already in use by {holder_text(d)}"), (PROMISE, e.message)
        return
    except LibvirtError as e:
        raise AssertionError(f"{PROMISE}; got {e!r}") from None
    raise AssertionError(f"{PROMISE}; the call succeeded")


@pytest.fixture(params=["strict", "xend-only"])
def conn(simhost, request):
    uri = simhost.uri if request.param == "strict" else f"xen+unix://{simhost.paths.xend}"
    with xvirt.open(uri) as c:
        yield c


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_define_onto_a_name_in_use(simhost, conn, where):
    d = owner(simhost, where)
    before = state(simhost)
    check_exists(lambda: conn.define_xml(XML.format(name=d["name"], uuid=_uuid.uuid4())), "virDomainDefineXML", d)
    assert state(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_create_onto_a_name_in_use(simhost, conn, where):
    d = owner(simhost, where)
    before = state(simhost)
    check_exists(lambda: conn.create_xml(XML.format(name=d["name"], uuid=_uuid.uuid4())), "virDomainCreateXML", d)
    assert state(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_rename_onto_a_name_in_use(simhost, conn, where):
    d = owner(simhost, where)
    t = simhost.control.truth()
    other = [g for g in t["running"] if g["domid"] != 0 and g["uuid"] != d["uuid"]][0]
    before = state(simhost)
    dom = conn.lookup_by_uuid(other["uuid"])
    check_exists(lambda: dom.rename(d["name"]), "virDomainRename", d)
    assert state(simhost) == before
    assert dom.name == other["name"]
