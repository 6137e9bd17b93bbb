"""``define``, ``create`` and ``domrename`` onto a name in use: virsh's two error lines, exit status 1.

The library's line is DomainExistsError's message (XenD's "already in use" mapped to
VIR_ERR_DOM_EXIST, prefixed with the API that failed); the host is left unchanged.
"""

import uuid as _uuid

import pytest

from cli_helpers import Run

pytestmark = pytest.mark.simhost(domains=4)

XML = """<domain type='xen'><name>{name}</name><uuid>{uuid}</uuid><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def names(host) -> dict:
    t = host.control.truth()
    return {d["uuid"]: d["name"] for d in t["running"] + t["inactive"]}


def owner(host, where: str) -> tuple[str, str]:
    """(a name in use, the words XenD uses for its holder)."""
    t = host.control.truth()
    if where == "running":
        d = [d for d in t["running"] if d["domid"] != 0][0]
        return d["name"], f"domain {d['domid']}"
    return t["inactive"][0]["name"], "an inactive domain"


@pytest.fixture(params=["strict", "xend-only"])
def run(simhost, request):
    return Run(simhost.uri if request.param == "strict" else f"xen+unix://{simhost.paths.xend}")


@pytest.mark.parametrize("where", ["running", "inactive"])
@pytest.mark.parametrize("command,api,xend_prefix", [
    ("define", "virDomainDefineXML", "Error creating domain: "),
    ("create", "virDomainCreateXML", "Error creating domain: "),
])
def test_define_and_create_onto_a_name_in_use(simhost, run, short_tmp, where, command, api, xend_prefix):
    name, holder = owner(simhost, where)
    path = f"{short_tmp}/dup.xml"
    with open(path, "w") as f:
        f.write(XML.format(name=name, uuid=_uuid.uuid4()))
    before = names(simhost)
    r = run(command, path)
    assert (r.exit_code, r.stdout) == (1, "\n")
    assert r.stderr == (f"error: Failed to {command} domain from {path}\n"
                        f"error: {api}: {xend_prefix}VM name '{name}' already in use by {holder}\n")
    assert names(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_domrename_onto_a_name_in_use(simhost, run, where):
    name, holder = owner(simhost, where)
    other = [d for d in simhost.control.truth()["running"] if d["domid"] != 0 and d["name"] != name][0]
    before = names(simhost)
    r = run("domrename", other["name"], name)
    assert (r.exit_code, r.stdout) == (1, "\n")
    assert r.stderr == f"error: virDomainRename: VM name '{name}' already in use by {holder}\n"
    assert names(simhost) == before
