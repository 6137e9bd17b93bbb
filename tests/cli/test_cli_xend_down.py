"""Every command with XenD down: reads of running domains still work; the rest fail clearly, exit 1.

Running domains are known to the hypervisor table and xenstore, so listing, looking up and
describing them needs no XenD. Inactive domains, configs, host facts and every operation do.
"""

from __future__ import annotations

import json

import pytest

from cli_helpers import Run, running, state_word, virsh_table
from xvirt.testing import sim_host

UNREACHABLE = "XenD"  # every failure message names the channel that is down


@pytest.fixture(scope="module")
def downhost():
    with sim_host(6) as host:
        host.control.faults(xend_down=True)
        yield host


@pytest.fixture(scope="module")
def xd(downhost):
    return Run(downhost.uri)


def _ok(r) -> None:
    assert (r.exit_code, r.stderr) == (0, ""), r.stderr


def test_list_of_running_domains_works(downhost, xd):
    r = xd("list")
    _ok(r)
    rows = [[str(d["domid"]), d["name"], state_word(d["state"])] for d in running(downhost)]
    assert r.stdout == virsh_table(["Id", "Name", "State"], rows) + "\n"
    _ok(xd("list", "--name"))
    _ok(xd("list", "--uuid"))
    _ok(xd("list", "--state-paused"))
    assert len(json.loads(xd("list", "--json").stdout)) == len(rows)


def test_lookups_and_descriptions_of_running_domains_work(downhost, xd):
    d = next(x for x in running(downhost) if x["name"] == "db-01")
    for args, expected in ((("domid", "db-01"), f"{d['domid']}\n\n"), (("domname", str(d["domid"])), "db-01\n\n"),
                           (("domuuid", "db-01"), f"{d['uuid']}\n\n"), (("domname", d["uuid"]), "db-01\n\n"),
                           (("domstate", "--reason", "db-01"), "idle (unknown)\n\n")):
        r = xd(*args)
        _ok(r)
        assert r.stdout == expected
    r = xd("dominfo", str(d["domid"]))
    _ok(r)
    assert f"{'Name:':<15} db-01" in r.stdout and "Persistent:     unknown" in r.stdout
    _ok(xd("uri"))


def test_nodeinfo_comes_from_the_hypervisor(downhost, xd):
    r = xd("nodeinfo")
    _ok(r)
    assert f"{'CPU(s):':<20} 8\n" in r.stdout


def test_domstats_of_running_domains_works(downhost, xd):
    r = xd("domstats", "--list-active")
    _ok(r)
    assert r.stdout.count("Domain: '") == len(running(downhost))
    r = xd("domstats", "web-01")
    _ok(r)
    assert r.stdout.startswith("Domain: 'web-01'\n  state.state=")


def test_top_batch_works(downhost, xd):
    r = xd("top", "-b", "-n", "2", "-d", "0.2")
    _ok(r)
    assert r.stdout.count("NAME\n") == 2
    last = r.stdout.rsplit("NAME\n", 1)[1].splitlines()
    assert len(last) == len(running(downhost))
    assert all(line.split()[2] != "-" for line in last)  # %CPU computed on the second sample


@pytest.mark.parametrize("args,first", [
    (("list", "--all"), "error: Failed to list domains"),
    (("domstats",), None),
    (("hostname",), "error: failed to get hostname"),
    (("dumpxml", "web-01"), None),
    (("dominfo", "{off}"), "error: failed to get domain '{off}'"),   # inactive: only XenD knows it
    (("start", "{off}"), "error: failed to get domain '{off}'"),
    (("destroy", "web-01"), "error: Failed to destroy domain 'web-01'"),
    (("suspend", "web-01"), "error: Failed to suspend domain 'web-01'"),
    (("resume", "web-01"), "error: Failed to resume domain 'web-01'"),
    (("shutdown", "web-01"), "error: Failed to shutdown domain 'web-01'"),
    (("reboot", "web-01"), "error: Failed to reboot domain 'web-01'"),
    (("save", "web-01", "w.img"), "error: Failed to save domain 'web-01' to w.img"),
    (("restore", "w.img"), "error: Failed to restore domain from w.img"),
    (("setmem", "web-01", "128M"), None),
    (("setmaxmem", "web-01", "1G"), "error: Unable to change MaxMemorySize"),
    (("setvcpus", "web-01", "1"), None),
    (("domrename", "web-01", "w2"), None),
    (("undefine", "web-01"), "error: Failed to undefine domain 'web-01'"),
])
def test_commands_needing_xend_fail_clearly(downhost, xd, args, first):
    before = running(downhost)
    off = downhost.control.truth()["inactive"][0]["name"]
    args = [a.format(off=off) for a in args]
    first = first.format(off=off) if first else None
    r = xd(*args)
    assert r.exit_code == 1
    assert r.stdout.endswith("\n")
    lines = r.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines)
    if first is not None:
        assert lines[0] == first and len(lines) == 2
    assert UNREACHABLE in lines[-1]
    def strip(doms):
        return [{k: v for k, v in d.items() if k != "cpu_ns"} for d in doms]
    assert strip(running(downhost)) == strip(before)  # nothing changed


def test_create_and_define_fail_clearly(downhost, xd, tmp_path):
    from test_cli_ops import GUEST_XML
    path = tmp_path / "g.xml"
    path.write_text(GUEST_XML.format(name="g", uuid="6dea22b3-1d52-d8f3-2516-782e98ab3fa2"))
    for command, first in (("create", f"error: Failed to create domain from {path}"),
                           ("define", f"error: Failed to define domain from {path}")):
        r = xd(command, str(path))
        assert r.exit_code == 1
        assert r.stderr.splitlines()[0] == first and UNREACHABLE in r.stderr.splitlines()[1]


def test_version_prints_library_lines_then_fails(xd):
    r = xd("version")
    assert r.exit_code == 1
    assert r.stdout.startswith("Compiled against library: xvirt ")
    assert r.stderr.splitlines()[0] == "error: failed to get the hypervisor version"


def test_exporter_serves_running_domains(downhost):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from xvirt.cli.exporter import Exporter, LibvirtCollector
    ex = Exporter(downhost.uri, timeout=10)
    try:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LibvirtCollector(ex))
        fams = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    finally:
        ex.close()
    assert fams["libvirt_up"].samples[0].value == 1
    assert {s.labels["domain"] for s in fams["libvirt_domain_info_virtual_cpus"].samples} == \
        {d["name"] for d in running(downhost)}


def test_conversions_and_uri_need_no_xend(downhost, xd, tmp_path):
    from test_cli_ops import GUEST_XML
    path = tmp_path / "g.xml"
    path.write_text(GUEST_XML.format(name="g", uuid="6dea22b3-1d52-d8f3-2516-782e98ab3fa2"))
    _ok(xd("domxml-to-native", "xen-sxpr", str(path)))
    assert xd("uri").stdout == downhost.uri + "\n\n"
