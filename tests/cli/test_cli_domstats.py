"""Golden-output tests of domblkstat, domifstat, dommemstat and vcpuinfo against virsh 9's formats,
with the numbers checked against the library and the simulated host's truth."""

from __future__ import annotations

import json
import re

import xvirt
from cli_helpers import running


def a_guest(host) -> dict:
    return next(d for d in running(host) if d["domid"] > 0 and "p" not in d["state"])


def test_domblkstat_lines_and_growth(readhost, xv_read):
    g = a_guest(readhost)
    r = xv_read("domblkstat", g["name"], "xvda")
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.rstrip("\n").split("\n")
    assert [ln.split()[:2] for ln in lines] == [["xvda", k] for k in ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs")]
    values = [int(ln.split()[2]) for ln in lines]
    with xvirt.open(readhost.uri) as conn:
        now = tuple(conn.lookup_by_name(g["name"]).block_stats("xvda"))
    assert all(a <= b for a, b in zip(values, now))     # counters only grow
    data = json.loads(xv_read("domblkstat", g["name"], "xvda", "--json").stdout)
    assert set(data) == {"rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs"} and data["rd_bytes"] % 512 == 0
    human = xv_read("domblkstat", g["name"], "xvda", "--human").stdout
    assert human.startswith("Device: xvda\n number of read operations:")


def test_domblkstat_errors(readhost, xv_read):
    g = a_guest(readhost)
    r = xv_read("domblkstat", g["name"], "xvdq")
    assert r.exit_code == 1 and "invalid path: xvdq" in r.stderr and r.stderr.startswith("error: Failed to get block stats")
    r = xv_read("domblkstat", "no-such-domain", "xvda")
    assert r.exit_code == 1 and "no-such-domain" in r.stderr


def test_domifstat(readhost, xv_read):
    g = a_guest(readhost)
    vif = f"vif{g['domid']}.0"
    r = xv_read("domifstat", g["name"], vif)
    assert r.exit_code == 0
    keys = [ln.split()[1] for ln in r.stdout.strip().split("\n")]
    assert keys == ["rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop"]
    assert all(ln.startswith(vif + " ") for ln in r.stdout.strip().split("\n"))
    assert xv_read("domifstat", g["name"], "vif999.0").exit_code == 1


def test_dommemstat(readhost, xv_read):
    g = a_guest(readhost)
    r = xv_read("dommemstat", g["name"])
    assert r.stdout == f"actual {g['memory_kib']}\navailable {g['maxmem_kib']}\nrss {g['memory_kib']}\n\n"


def test_vcpuinfo(readhost, xv_read):
    g = a_guest(readhost)
    ncpus = readhost.control.truth()["host_cpus"]
    out = xv_read("vcpuinfo", g["name"]).stdout
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert len(blocks) == g["vcpus"]
    for n, block in enumerate(blocks):
        assert re.fullmatch(rf"VCPU:           {n}\nCPU:            \d+\nState:          (running|blocked)\n"
                            rf"CPU time:       \d+\.\ds\nCPU Affinity:   {'y' * ncpus}", block)
    data = json.loads(xv_read("vcpuinfo", g["name"], "--json").stdout)
    assert [d["vcpu"] for d in data] == list(range(g["vcpus"])) and data[0]["affinity"] == [1] * ncpus
