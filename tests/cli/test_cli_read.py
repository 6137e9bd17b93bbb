"""Golden-output tests of the read commands on a simulated host, against virsh 9's rules (§3.1).

Expected texts are built from the simulator's own truth with the rules written out in the test
(``cli_helpers.virsh_table``), not with xvirt's formatting code. One host serves the module and is
never changed by these tests.
"""

from __future__ import annotations

import json

import pytest

from cli_helpers import inactive, running, state_word, virsh_table


def _by_name(host, name: str) -> dict:
    return next(d for d in running(host) if d["name"] == name)


def test_list_running_domains(readhost, xv_read):
    r = xv_read("list")
    assert r.exit_code == 0 and r.stderr == ""
    rows = [[str(d["domid"]), d["name"], state_word(d["state"])] for d in running(readhost)]
    assert r.stdout == virsh_table(["Id", "Name", "State"], rows) + "\n"   # virsh's extra empty line
    assert len(rows) == 21  # Domain-0 + 20 guests


def test_list_all_adds_inactive_sorted_by_name(readhost, xv_read):
    r = xv_read("list", "--all")
    assert r.exit_code == 0
    rows = [[str(d["domid"]), d["name"], state_word(d["state"])] for d in running(readhost)]
    rows += [["-", d["name"], "shut off"] for d in sorted(inactive(readhost), key=lambda d: d["name"].lower())]
    assert r.stdout == virsh_table(["Id", "Name", "State"], rows) + "\n"
    assert sum(1 for line in r.stdout.splitlines() if line.startswith(" -    ")) == 3


def test_list_name_uuid_and_state_filters(readhost, xv_read):
    run = running(readhost)
    assert xv_read("list", "--name").stdout == "".join(d["name"] + "\n" for d in run) + "\n"
    assert xv_read("list", "--uuid").stdout == "".join(d["uuid"] + "\n" for d in run) + "\n"
    paused = [d for d in run if "p" in d["state"]]
    assert paused, "the seed has paused domains"
    assert xv_read("list", "--state-paused", "--name").stdout == "".join(d["name"] + "\n" for d in paused) + "\n"
    r = xv_read("list", "--state-running", "--name")
    assert set(r.stdout.split()) == {d["name"] for d in run if "p" not in d["state"]}
    off = sorted(d["name"] for d in inactive(readhost))
    assert xv_read("list", "--state-shutoff", "--name").stdout == "".join(n + "\n" for n in off) + "\n"


def test_list_json_parses_back(readhost, xv_read):
    r = xv_read("list", "--all", "--json")
    data = json.loads(r.stdout)
    assert [d["name"] for d in data[:21]] == [d["name"] for d in running(readhost)]
    first = data[0]
    assert list(first) == ["id", "name", "uuid", "state", "state_code"]
    assert first["id"] == 0 and first["state"] == "running" and first["state_code"] == 1
    assert all(d["id"] is None and d["state"] == "shut off" for d in data[21:])


def _dominfo_expected(d: dict, *, active: bool) -> str:
    lines = [("Id:", str(d["domid"]) if active else "-"), ("Name:", d["name"]), ("UUID:", d["uuid"]),
             ("OS Type:", "linux"), ("State:", state_word(d["state"]) if active else "shut off"),
             ("CPU(s):", str(d["vcpus"]))]
    return lines


def test_dominfo_running_domain(readhost, xv_read):
    d = _by_name(readhost, "web-01")
    r = xv_read("dominfo", "web-01")
    assert r.exit_code == 0
    lines = r.stdout.split("\n")
    assert lines[-2:] == ["", ""]  # text, then virsh's extra empty line
    for label, value in _dominfo_expected(d, active=True):
        assert f"{label:<15} {value}" in lines
    labels = [line[:15].rstrip() for line in lines if line]
    assert labels == ["Id:", "Name:", "UUID:", "OS Type:", "State:", "CPU(s):", "CPU time:", "Max memory:",
                      "Used memory:", "Persistent:", "Autostart:", "Managed save:"]
    assert f"{'Max memory:':<15} {d['maxmem_kib']} KiB" in lines
    assert f"{'Used memory:':<15} {d['memory_kib']} KiB" in lines
    cpu_line = next(line for line in lines if line.startswith("CPU time:"))
    assert cpu_line[16:].endswith("s") and float(cpu_line[16:-1]) >= 0


def test_dominfo_by_id_and_uuid_are_the_same(readhost, xv_read):
    d = _by_name(readhost, "db-01")
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("CPU time:")]  # noqa: E731
    by_name = strip(xv_read("dominfo", "db-01").stdout)
    assert strip(xv_read("dominfo", str(d["domid"])).stdout) == by_name
    assert strip(xv_read("dominfo", d["uuid"]).stdout) == by_name


def test_dominfo_inactive_domain(readhost, xv_read):
    d = inactive(readhost)[0]
    r = xv_read("dominfo", d["name"])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "Id:             -"
    assert "State:          shut off" in lines
    assert not any(line.startswith("CPU time:") for line in lines)
    assert f"{'Max memory:':<15} {d['maxmem_kib']} KiB" in lines


def test_dominfo_json(readhost, xv_read):
    d = _by_name(readhost, "web-01")
    data = json.loads(xv_read("dominfo", "web-01", "--json").stdout)
    assert list(data) == ["id", "name", "uuid", "os_type", "state", "state_code", "vcpus", "cpu_time_ns",
                          "max_memory_kib", "used_memory_kib", "persistent", "autostart", "managed_save"]
    assert (data["id"], data["name"], data["uuid"], data["used_memory_kib"]) == \
        (d["domid"], "web-01", d["uuid"], d["memory_kib"])


def test_domid_domname_domuuid(readhost, xv_read):
    d = _by_name(readhost, "cache-01")
    assert xv_read("domid", "cache-01").stdout == f"{d['domid']}\n\n"
    assert xv_read("domid", d["uuid"]).stdout == f"{d['domid']}\n\n"
    assert xv_read("domname", str(d["domid"])).stdout == "cache-01\n\n"
    assert xv_read("domname", d["uuid"]).stdout == "cache-01\n\n"
    assert xv_read("domuuid", "cache-01").stdout == f"{d['uuid']}\n\n"
    assert xv_read("domuuid", str(d["domid"])).stdout == f"{d['uuid']}\n\n"
    off = inactive(readhost)[0]["name"]
    r = xv_read("domid", off)
    assert (r.exit_code, r.stdout) == (0, "-\n\n")
    assert json.loads(xv_read("domid", off, "--json").stdout) == {"id": None}
    assert json.loads(xv_read("domname", "0", "--json").stdout) == {"name": "Domain-0"}
    assert json.loads(xv_read("domuuid", "cache-01", "--json").stdout) == {"uuid": d["uuid"]}


def test_domstate_with_and_without_reason(readhost, xv_read):
    run = running(readhost)
    busy = next(d for d in run if d["state"] == "r-----" and d["domid"] > 0)
    paused = next(d for d in run if "p" in d["state"])
    assert xv_read("domstate", busy["name"]).stdout == "running\n\n"
    assert xv_read("domstate", "--reason", busy["name"]).stdout == "running (booted)\n\n"
    assert xv_read("domstate", "--reason", paused["name"]).stdout == "paused (user)\n\n"
    off = inactive(readhost)[0]["name"]
    assert xv_read("domstate", off).stdout == "shut off\n\n"
    data = json.loads(xv_read("domstate", paused["name"], "--json").stdout)
    assert data == {"state": "paused", "state_code": 3, "reason": "user", "reason_code": 1}


def _parse_domstats(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("Domain: '"):
            current = out.setdefault(line[len("Domain: '"):-1], {})
        elif line.startswith("  ") and current is not None:
            key, _, value = line[2:].partition("=")
            current[key] = value
    return out


def test_domstats_all_active_domains_format(readhost, xv_read):
    r = xv_read("domstats", "--list-active")
    assert r.exit_code == 0
    blocks = r.stdout.split("\n\n")
    assert blocks[-1] == "" and blocks[-2].endswith("\n") is False  # records, then the extra empty line
    stats = _parse_domstats(r.stdout)
    assert list(stats) == [d["name"] for d in running(readhost)]
    web = stats["web-01"]
    d = _by_name(readhost, "web-01")
    keys = list(web)
    assert keys[:7] == ["state.state", "state.reason", "cpu.time", "balloon.current", "balloon.maximum",
                        "vcpu.current", "vcpu.maximum"]
    # then virsh's other default groups, in libvirt's order: per-vCPU, block, net
    groups = [k.split(".")[0] for k in keys[7:]]
    assert groups == sorted(groups, key=["vcpu", "block", "net"].index) and {"vcpu", "block", "net"} <= set(groups)
    assert [f"vcpu.{i}.state" in web for i in range(int(web["vcpu.current"]))] == [True] * int(web["vcpu.current"])
    assert (web["state.state"], web["balloon.current"], web["vcpu.current"]) == ("2", str(d["memory_kib"]),
                                                                                 str(d["vcpus"]))


def test_domstats_selected_domains_and_groups(readhost, xv_read):
    r = xv_read("domstats", "--state", "db-01", "web-01")
    stats = _parse_domstats(r.stdout)
    assert list(stats) == ["db-01", "web-01"]
    assert all(set(s) == {"state.state", "state.reason"} for s in stats.values())
    assert r.stdout.startswith("Domain: 'db-01'\n  state.state=2\n  state.reason=0\n\nDomain: 'web-01'\n")
    data = json.loads(xv_read("domstats", "--balloon", "web-01", "--json").stdout)
    assert data[0]["name"] == "web-01" and set(data[0]["stats"]) == {"balloon.current", "balloon.maximum"}


def test_domstats_includes_inactive_by_default(readhost, xv_read):
    stats = _parse_domstats(xv_read("domstats").stdout)
    assert {d["name"] for d in inactive(readhost)} <= set(stats)


def test_nodeinfo(readhost, xv_read):
    r = xv_read("nodeinfo")
    assert r.stdout.endswith(" KiB\n\n")
    lines = r.stdout.splitlines()[:-1]
    assert [line[:21] for line in lines] == [f"{label:<21}" for label in (
        "CPU model:", "CPU(s):", "CPU frequency:", "CPU socket(s):", "Core(s) per socket:",
        "Thread(s) per core:", "NUMA cell(s):", "Memory size:")]
    assert lines[1] == f"{'CPU(s):':<20} {readhost.control.truth()['host_cpus']}"
    assert lines[2].endswith(" MHz") and lines[7].endswith(" KiB")
    assert json.loads(xv_read("nodeinfo", "--json").stdout)["cpus"] == readhost.control.truth()["host_cpus"]


def test_uri_hostname_version(readhost, xv_read):
    assert xv_read("uri").stdout == readhost.uri + "\n\n"
    assert xv_read("hostname").stdout == readhost.control.truth()["hostname"] + "\n\n"
    lines = xv_read("version").stdout.splitlines()
    assert lines[0].startswith("Compiled against library: xvirt ")
    assert lines[3] == "Running hypervisor: Xen 3.0.4"
    assert json.loads(xv_read("version", "--json").stdout)["hypervisor"] == "3.0.4"
    assert json.loads(xv_read("uri", "--json").stdout) == {"uri": readhost.uri}


def test_dumpxml(readhost, xv_read):
    d = _by_name(readhost, "web-01")
    r = xv_read("dumpxml", "web-01")
    assert r.stdout.startswith(f"<domain type='xen' id='{d['domid']}'>")
    assert f"<uuid>{d['uuid']}</uuid>" in r.stdout and r.stdout.endswith("</domain>\n\n")
    assert json.loads(xv_read("dumpxml", "web-01", "--json").stdout)["xml"].startswith("<domain")


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["dominfo", "domid", "domstate", "domuuid", "domname", "destroy", "dumpxml"])
def test_missing_domain_error(xv_read, command):
    r = xv_read(command, "nosuch")
    assert r.exit_code == 1
    assert r.stderr == "error: failed to get domain 'nosuch'\n"
    assert r.stdout == "\n"  # virsh prints its extra line after failed commands too


def test_missing_id_error(xv_read):
    r = xv_read("domname", "99")
    assert (r.exit_code, r.stderr) == (1, "error: failed to get domain '99'\n")


def test_unknown_command_and_option(xv_read):
    r = xv_read("nosuchcmd")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "error: unknown command: 'nosuchcmd'\n")
    r = xv_read("list", "--foo")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "error: command 'list' doesn't support option --foo\n")


def test_connect_failure_is_reported():
    from cli_helpers import Run
    r = Run("xen+sim:///nonexistent-xvirt-test?autostart=0")("list")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: failed to connect to the hypervisor\nerror: ")


def test_missing_argument_and_bare_invocation(xv_read):
    r = xv_read("dominfo")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "error: command 'dominfo' requires <domain> option\n")
    from cli_helpers import Run
    r = Run(None)()
    assert r.exit_code == 0 and r.stdout.startswith("Usage: ") and "[OPTIONS] COMMAND [ARGS]" in r.stdout
    assert "  list " in r.stdout and "  top " in r.stdout and "  exporter " in r.stdout
