"""Golden-output tests of the host commands (capabilities, freecell, nodememstats, nodecpustats,
sysinfo, maxvcpus) against virsh 9's formats (tools/virsh-host.c), with the expected numbers
taken from the simulated host's truth and the library."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

import xvirt
from xvirt.cli.commands_host import cpu_percent_text, cpu_stats_text
from xvirt.driver import xen as xen_driver


def free_kib(host) -> int:
    """Total memory minus what the running domains hold, from the host's own view."""
    with xvirt.open(host.uri) as conn:
        total = conn.node_info().memory_kib
    return total - sum(d["memory_kib"] for d in host.control.truth()["running"])


def test_capabilities_prints_the_xml(readhost, xv_read):
    r = xv_read("capabilities")
    assert r.exit_code == 0 and r.stderr == ""
    xml = r.stdout[:-1]                          # virsh's extra empty line
    root = ET.fromstring(xml)
    assert root.tag == "capabilities" and len(root.findall("guest")) == 4
    assert json.loads(xv_read("capabilities", "--json").stdout)["xml"] == xml


def test_freecell_forms(readhost, xv_read):
    kib = free_kib(readhost)
    assert xv_read("freecell").stdout == f"Total: {kib} KiB\n\n"
    assert xv_read("freecell", "--cellno", "0").stdout == f"0: {kib} KiB\n\n"
    assert xv_read("freecell", "--all").stdout == (f"    0: {kib:>10} KiB\n--------------------\n"
                                                  f"Total: {kib:>10} KiB\n\n")
    assert json.loads(xv_read("freecell", "--all", "--json").stdout) == {"cells_kib": {"0": kib}, "total_kib": kib}


def test_freecell_errors(readhost, xv_read):
    r = xv_read("freecell", "--cellno", "4")
    assert r.exit_code == 1 and r.stderr.startswith("error: invalid argument") and r.stdout == "\n"
    r = xv_read("freecell", "--all", "--cellno", "0")
    assert r.exit_code == 1 and r.stderr == "error: Options --all and --cellno are mutually exclusive\n"


def test_nodememstats(readhost, xv_read):
    with xvirt.open(readhost.uri) as conn:
        total = conn.node_info().memory_kib
    kib = free_kib(readhost)
    expected = f"total  : {total:>20} KiB\nfree   : {kib:>20} KiB\n\n"
    assert xv_read("nodememstats").stdout == expected
    assert xv_read("nodememstats", "--cell", "0").stdout == expected
    r = xv_read("nodememstats", "--cell", "2")
    assert r.exit_code == 1 and r.stderr.splitlines()[0] == "error: Unable to get memory stats"


def test_nodecpustats_lines(readhost, xv_read):
    r = xv_read("nodecpustats")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert [line[:15].rstrip() for line in lines[:4]] == ["user:", "system:", "idle:", "iowait:"]
    assert all(re.fullmatch(r"\S+ +\d+", line) and len(line) == 36 for line in lines[:4])
    assert lines[4:] == [""]
    values = {k: int(v) for k, v in (line.split() for line in lines[:4])}
    assert values["user:"] > 0 and values["idle:"] > 0 and values["system:"] == values["iowait:"] == 0
    one = xv_read("nodecpustats", "--cpu", "0", "--json")
    assert set(json.loads(one.stdout)) == {"kernel", "user", "idle", "iowait"}
    bad = xv_read("nodecpustats", "--cpu", "999")
    assert bad.exit_code == 1 and bad.stderr.splitlines()[0] == "error: Unable to get node cpu stats"


def test_cpu_formats_written_out():
    assert cpu_stats_text({"user": 5, "kernel": 0, "idle": 7, "iowait": 0}) == (
        "user:                              5\nsystem:                            0\n"
        "idle:                              7\niowait:                            0\n")
    first = {"user": 100, "kernel": 0, "idle": 300, "iowait": 0}
    second = {"user": 350, "kernel": 0, "idle": 1050, "iowait": 0}
    assert cpu_percent_text(first, second) == ("usage:           25.0%\nuser:            25.0%\n"
                                               "system:           0.0%\nidle:            75.0%\n"
                                               "iowait:           0.0%\n")


def test_nodecpustats_percent_adds_up(readhost, xv_read):
    r = xv_read("nodecpustats", "--percent")
    assert r.exit_code == 0
    pct = {line.split()[0]: float(line.split()[1].rstrip("%")) for line in r.stdout.splitlines() if line}
    assert list(pct) == ["usage:", "user:", "system:", "idle:", "iowait:"]
    assert pct["usage:"] == pct["user:"] and abs(pct["user:"] + pct["idle:"] - 100.0) <= 0.2


def test_maxvcpus_and_sysinfo(readhost, xv_read, tmp_path, monkeypatch):
    assert xv_read("maxvcpus").stdout == "32\n\n"
    monkeypatch.setattr(xen_driver, "DMI_DIR", str(tmp_path / "none"))
    r = xv_read("sysinfo")
    assert r.exit_code == 1 and r.stderr == ("error: failed to get sysinfo\n"
                                             "error: Host SMBIOS information is not available\n")
    (tmp_path / "sys_vendor").write_text("Simulated Xen\n")
    monkeypatch.setattr(xen_driver, "DMI_DIR", str(tmp_path))
    r = xv_read("sysinfo")
    assert r.exit_code == 0
    assert r.stdout == ("<sysinfo type='smbios'>\n  <system>\n    <entry name='manufacturer'>Simulated Xen</entry>\n"
                        "  </system>\n</sysinfo>\n\n")


@pytest.mark.simhost(domains=5)
def test_host_commands_make_no_xend_request_but_capabilities(simhost, xv):
    simhost.control.reset_counters()
    for args in (("freecell",), ("freecell", "--all"), ("nodememstats",), ("nodecpustats",), ("maxvcpus",)):
        assert xv(*args).exit_code == 0
    assert simhost.control.counters()["xend_total"] == 0
    assert xv("capabilities").exit_code == 0
    assert simhost.control.counters()["xend"] == {"GET /xend/node/": 1}
