"""``define``, ``create`` and ``domrename`` onto a name in use: virsh's two error lines, exit status 1.

The library's line is DomainExistsError's message (XenD's "already in use" mapped to
VIR_ERR_DOM_EXIST, prefixed with the API that failed); on the libxl toolstack (no XenD; xvirt
keeps inactive domains in its config directory) the words are libvirt's own. The host is left
unchanged.
"""

import os
import uuid as _uuid

import pytest

import xvirt
from cli_helpers import Run
from name_in_use_host import XML, path, simhost  # noqa: F401,F811 - path, simhost: fixtures for this module


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def names(host) -> dict:
    """The host's truth (name by uuid) and xvirt's libxl config files (none on a XenD host)."""
    t = host.control.truth()
    top = os.path.join(host.root, "libxl")
    files = sorted(os.path.join(d, n) for d, _, ns in os.walk(top) for n in ns)
    return {"host": {d["uuid"]: d["name"] for d in t["running"] + t["inactive"]},
            "configs": {f: read(f) for f in files}}


def owner(host, where: str) -> tuple[str, str, str]:
    """(a name in use, its uuid, the words XenD uses for its holder)."""
    t = host.control.truth()
    if where == "running":
        d = [d for d in t["running"] if d["domid"] != 0][0]
        return d["name"], d["uuid"], f"domain {d['domid']}"
    if t["inactive"]:
        return t["inactive"][0]["name"], t["inactive"][0]["uuid"], "an inactive domain"
    with xvirt.open(host.uri) as c:  # libxl: the domain xvirt keeps
        kept = c.lookup_by_name(c.list_defined_domains()[0])
        return kept.name, kept.uuid, "an inactive domain"


@pytest.fixture
def run(simhost, path):
    return Run(f"xen+unix://{simhost.paths.xend}" if path == "xend-only" else simhost.uri)


@pytest.mark.parametrize("where", ["running", "inactive"])
@pytest.mark.parametrize("command,api,xend_prefix", [
    ("define", "virDomainDefineXML", "Error creating domain: "),
    ("create", "virDomainCreateXML", "Error creating domain: "),
])
def test_define_and_create_onto_a_name_in_use(simhost, run, path, short_tmp, where, command, api, xend_prefix):
    name, uuid, holder = owner(simhost, where)
    file = f"{short_tmp}/dup.xml"
    with open(file, "w") as f:
        f.write(XML.format(name=name, uuid=_uuid.uuid4()))
    before = names(simhost)
    r = run(command, file)
    assert (r.exit_code, r.stdout) == (1, "\n")
    words = (f"domain '{name}' already exists with uuid {uuid}" if path == "libxl"
             else f"{xend_prefix}VM name '{name}' already in use by {holder}")
    assert r.stderr == f"error: Failed to {command} domain from {file}\nerror: {api}: {words}\n"
    assert names(simhost) == before


@pytest.mark.parametrize("where", ["running", "inactive"])
def test_domrename_onto_a_name_in_use(simhost, run, path, where):
    name, _, holder = owner(simhost, where)
    other = [d for d in simhost.control.truth()["running"] if d["domid"] != 0 and d["name"] != name][0]
    before = names(simhost)
    r = run("domrename", other["name"], name)
    assert (r.exit_code, r.stdout) == (1, "\n")
    words = (f"domain with name '{name}' already exists" if path == "libxl"
             else f"VM name '{name}' already in use by {holder}")
    assert r.stderr == f"error: virDomainRename: {words}\n"
    assert names(simhost) == before
