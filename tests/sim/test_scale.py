"""Scale: a simulated host with many domains works on every channel; the numbers are printed, not asserted.

Runs with the 10000 guests the benchmarks need (about 15 s here); ``XVIRT_SCALE_DOMAINS=N`` changes
that. Run with ``pytest -s`` to see the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from xvirt.protocol import sxp
from xvirt.sim import daemon
from xvirt.sim.control import SimControl
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient
from xvirt.transport.xenstore import XenstoreClient

N = int(os.environ.get("XVIRT_SCALE_DOMAINS", "10000"))

TABLE_READER = """
import sys, time
from xvirt.transport.hypervisor import DomainTableReader
t0 = time.perf_counter()
r = DomainTableReader(sys.argv[1])
snap = r.snapshot()
t1 = time.perf_counter()
for _ in range(20):
    r.snapshot()
t2 = time.perf_counter()
print(len(snap), t1 - t0, (t2 - t1) / 20, len({s.handle for s in snap}))
"""


def _start(root: str, n: int) -> tuple[float, float]:
    t0 = time.monotonic()
    daemon.start("scale", root=root, domains=n, latency_ms=0, timeout=300)
    wall = time.monotonic() - t0
    with open(daemon.SimPaths(root).info) as f:
        return wall, json.load(f)["start_seconds"]


def test_many_domains_on_every_channel(tmp_path):
    numbers: dict[str, str] = {}
    small = str(tmp_path / "s")
    try:
        wall, inside = _start(small, 20)
        numbers["start 20 domains (wall / in process)"] = f"{wall:.2f} s / {inside:.3f} s"
    finally:
        daemon.stop("scale", root=small)

    root = str(tmp_path / "big")
    paths = daemon.SimPaths(root)
    try:
        wall, inside = _start(root, N)
        numbers[f"start {N} domains (wall / in process)"] = f"{wall:.2f} s / {inside:.3f} s"
        ctl = SimControl(paths.control)
        truth = ctl.truth()
        running = truth["running"]
        assert len(running) == N + 1
        ids = [d["domid"] for d in running]
        assert ids == list(range(N + 1))
        n_paused = sum(1 for d in running if d["state"] == "--p---")
        assert n_paused == N // 10

        # hypervisor: the whole table, from another process
        out = subprocess.run([sys.executable, "-c", TABLE_READER, paths.domtable], check=True,
                             capture_output=True, text=True, timeout=60).stdout.split()
        count, first_read, per_read, handles = int(out[0]), float(out[1]), float(out[2]), int(out[3])
        assert count == N + 1 and handles == N + 1
        numbers["table: open + first full read, other process"] = f"{first_read * 1e3:.1f} ms"
        numbers["table: full snapshot, other process"] = f"{per_read * 1e3:.2f} ms"
        r = DomainTableReader(paths.domtable)
        snap = r.snapshot()
        assert [s.domid for s in snap] == ids
        assert [s.uuid for s in snap] == [d["uuid"] for d in running]
        t0 = time.perf_counter()
        for _ in range(1000):
            r.info(N // 2)
        numbers["table: info(one id)"] = f"{(time.perf_counter() - t0) * 1e3:.1f} us"
        r.close()

        # XenD: the detail listing, every domain that has an id (paused included), by id
        x = XendClient(paths.xend, timeout=120)
        t0 = time.perf_counter()
        records = x.get("/xend/domain", detail=1)
        detail = time.perf_counter() - t0
        numbers[f"XenD GET /xend/domain?detail=1 ({len(records)} records, latency 0)"] = f"{detail * 1e3:.0f} ms"
        assert len(records) == N + 1
        assert [int(sxp.child_value(rec, "domid")) for rec in records] == ids
        assert [sxp.child_value(rec, "uuid") for rec in records] == [d["uuid"] for d in running]
        t0 = time.perf_counter()
        names = x.get("/xend/domain", state="all")
        numbers["XenD GET /xend/domain?state=all"] = f"{(time.perf_counter() - t0) * 1e3:.0f} ms"
        assert len(names) == N + 1 + len(truth["inactive"])
        assert len(x.get("/xend/domain", state="paused")) == n_paused
        rec = x.get(f"/xend/domain/{N}")
        assert sxp.child_value(rec, "uuid") == running[N]["uuid"]

        # xenstore: every domain's directory and name, read by one client
        with XenstoreClient(paths.xenstored, timeout=30) as xs:
            t0 = time.perf_counter()
            entries = xs.directory("/local/domain")
            numbers["xenstore DIRECTORY /local/domain"] = f"{(time.perf_counter() - t0) * 1e3:.1f} ms"
            assert sorted(map(int, entries)) == ids
            t0 = time.perf_counter()
            got = [xs.read(f"/local/domain/{d}/name") for d in ids]
            reads = time.perf_counter() - t0
            assert got == [d["name"].encode() for d in running]
            numbers["xenstore READs/s, one client"] = f"{len(ids) / reads:,.0f}"
        ctl.close()
    finally:
        daemon.stop("scale", root=root)
    print(f"\n--- simulated host scale numbers (N={N}) ---")
    for k, v in numbers.items():
        print(f"{k:60s} {v}")
