"""``xvirt sim``, ``xvirt demo`` and ``xvirt domxml-*`` (the latter with no host at all)."""

from __future__ import annotations

import re

import pytest

from cli_helpers import Run
from test_cli_ops import GUEST_XML
from xvirt.domxml import domain_xml_from_native, domain_xml_to_native

NO_HOST = {"XVIRT_DEFAULT_URI": "xen+sim:///xvirt-no-such-host?autostart=0"}


@pytest.fixture
def runtime(short_tmp):
    """An XDG_RUNTIME_DIR of the test's own, so named simulated hosts live under it; stopped after."""
    env = {"XDG_RUNTIME_DIR": short_tmp, "XVIRT_DEFAULT_URI": None}
    run = Run(None)
    yield lambda *args: run(*args, env=env)
    for name in ("s1", "d1"):
        run("sim", "stop", "--name", name, env=env)


def test_sim_start_status_env_stop(runtime, short_tmp):
    r = runtime("sim", "start", "--name", "s1", "--domains", "3", "--xend-latency-ms", "0")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("simulated host 's1' running, pid ")
    assert "domains: 4 running, 1 inactive" in r.stdout  # Domain-0 + 3 guests
    again = runtime("sim", "start", "--name", "s1")
    assert again.exit_code == 0 and again.stdout.split("\n")[0] == r.stdout.split("\n")[0]  # same pid: reused
    st = runtime("sim", "status", "--name", "s1", "--json")
    assert st.exit_code == 0 and '"running": true' in st.stdout
    env = runtime("sim", "env", "--name", "s1").stdout.splitlines()
    assert "export XVIRT_DEFAULT_URI=xen+sim:///s1" in env
    assert f"export XEND_SOCKET={short_tmp}/xvirt/sim/s1/xend.sock" in env
    r = Run(None)("list", "--name", env={"XDG_RUNTIME_DIR": short_tmp, "XVIRT_DEFAULT_URI": "xen+sim:///s1"})
    assert r.stdout.split() == ["Domain-0", "web-01", "db-01", "cache-01"]
    assert runtime("sim", "stop", "--name", "s1").stdout == "simulated host 's1' stopped\n"
    st = runtime("sim", "status", "--name", "s1")
    assert st.exit_code == 1 and "is not running" in st.stdout
    assert runtime("sim", "stop", "--name", "s1").stdout == "simulated host 's1' is not running\n"


def test_sim_start_refuses_non_loopback_tcp(runtime):
    r = runtime("sim", "start", "--name", "s1", "--tcp", "192.0.2.1:8000")
    assert r.exit_code == 1 and r.stderr.startswith("error: refusing to listen on non-loopback address")


def test_demo_shows_list_top_and_zero_xend_requests_for_running_domains(runtime):
    r = runtime("demo", "--name", "d1", "--domains", "4", "--xend-latency-ms", "0", "--samples", "2",
                "--delay", "0.2")
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "$ xvirt list --all\n Id   Name" in out and "$ xvirt top -b -d 0.2 -n 2\n" in out
    assert out.count(" NAME\n") == 2
    costs = re.findall(r"# XenD requests: (\d+) by the client, (\d+) counted by the simulator", out)
    assert len(costs) == 3
    (all_c, all_s), (run_c, run_s), (top_c, top_s) = [(int(a), int(b)) for a, b in costs]
    assert all_c == all_s > 0          # inactive domains are only known to XenD
    assert (run_c, run_s) == (0, 0)    # running domains: hypervisor table + xenstore only
    assert (top_c, top_s) == (0, 0)
    assert "\n# summary (XenD requests: client / simulator)\n" in out


def test_domxml_to_and_from_native_need_no_host(tmp_path):
    xml_path = tmp_path / "g.xml"
    xml = GUEST_XML.format(name="g", uuid="4dea22b3-1d52-d8f3-2516-782e98ab3fa0")
    xml_path.write_text(xml)
    run = Run(None)
    r = run("domxml-to-native", "xen-sxpr", str(xml_path), env=NO_HOST)
    assert r.exit_code == 0, r.stderr
    expected = domain_xml_to_native("xen-sxpr", xml)
    assert r.stdout == expected.rstrip("\n") + "\n\n"
    assert r.stdout.startswith("(vm ")
    sxpr_path = tmp_path / "g.sxpr"
    sxpr_path.write_text(r.stdout)
    r = run("domxml-from-native", "xen-sxpr", str(sxpr_path), "--xend-config-format", "2", env=NO_HOST)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == domain_xml_from_native("xen-sxpr", sxpr_path.read_text(), xend_config_format=2).rstrip(
        "\n") + "\n\n"
    assert "<name>g</name>" in r.stdout and "4dea22b3-1d52-d8f3-2516-782e98ab3fa0" in r.stdout


def test_domxml_errors(tmp_path):
    run = Run(None)
    r = run("domxml-from-native", "xen-xm", str(tmp_path / "x"), env=NO_HOST)
    assert r.exit_code == 1 and r.stderr.startswith("error: Failed to open file")
    path = tmp_path / "x.sxpr"
    path.write_text("(vm (name x))")
    r = run("domxml-from-native", "vmware-vmx", str(path), env=NO_HOST)
    assert r.exit_code == 1 and "xen-sxpr" in r.stderr and "xen-xl" in r.stderr
    r = run("domxml-from-native", "xen-xm", str(path), env=NO_HOST)   # not xm syntax
    assert r.exit_code == 1 and "line 1, column 1" in r.stderr
    r = run("domxml-to-native", "xen-sxpr", str(path), env=NO_HOST)
    assert r.exit_code == 1 and r.stderr.startswith("error: ")


@pytest.mark.parametrize("cmd", ["save", "restore"])
def test_save_and_restore_help_say_where_paths_are_relative_to(cmd):
    r = Run(None)(cmd, "--help", env=NO_HOST)
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "relative to its save directory, STATE_DIR/save" in text or \
        "relative to the host's save directory, STATE_DIR/save" in text
    assert "XenD" in text and "refused" in text


def test_sim_start_with_other_settings_than_created_is_refused(runtime):
    r = runtime("sim", "start", "s1", "--domains", "1", "--xend-latency-ms", "0")
    assert r.exit_code == 0, r.stderr
    assert runtime("sim", "stop", "s1").exit_code == 0
    r = runtime("sim", "start", "s1", "--domains", "5")
    assert r.exit_code == 1 and "was created with domains=1" in r.stderr
    assert runtime("sim", "status", "s1").exit_code == 1          # not started
    r = runtime("sim", "start", "s1")                              # as created
    assert r.exit_code == 0 and "domains: 2 running" in r.stdout
