"""Runs the benchmarks and writes the report: ``python3 -m bench [--quick] [--n ...] [--latency-ms 40] [--skip-large] [--no-libvirt] [--out DIR]``;
``python3 -m bench realxen`` runs the real-Xen benchmark (bench/realxen.py)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

from . import STRATEGIES, WORKLOADS
from .plan import REPLAYS, predict, xend_requests, xenstore_messages
from .report import NAMES, fmt_s, machine_info, write_json, write_markdown
from .runner import BenchHost, aggregate, measure_floor, run_xen_rep
from .strategies import strategy_table
from .workloads import rep_policy

__all__ = ["main", "run", "parse_args"]

HERE = os.path.dirname(os.path.abspath(__file__))
LARGE = 2000
STALENESS = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="N=20, latency 0, one repetition, no installs (CI)")
    p.add_argument("--n", default=None, help="comma-separated guest counts (default 20,200,2000,10000)")
    p.add_argument("--latency-ms", type=float, default=None, help="XenD latency per request (default 40)")
    p.add_argument("--skip-large", action="store_true", help=f"skip N >= {LARGE} (reported as skipped)")
    p.add_argument("--no-libvirt", action="store_true", help="do not run the libvirt peer")
    p.add_argument("--no-install", action="store_true", help="install nothing (matplotlib, libvirt packages)")
    p.add_argument("--no-2006", action="store_true", help="skip the 2006 reproduction host")
    p.add_argument("--budget-s", type=float, default=60.0, help="largest predicted time of one run (default 60)")
    p.add_argument("--peer-budget-s", type=float, default=120.0,
                   help="the same for the libvirt peer's W2/W4, predicted as 5 x its W1 (default 120)")
    p.add_argument("--churn-rate", type=float, default=None, help="background churn ops/s in W4 (default 2; quick 0)")
    p.add_argument("--report-only", metavar="DIR", default=None,
                   help="rewrite DIR/report.md and DIR/bench.png from DIR/results.json, measure nothing")
    p.add_argument("--out", default=None, help="output directory (default bench/results, quick: bench/results/quick)")
    a = p.parse_args(argv)
    a.ns = [int(x) for x in a.n.split(",")] if a.n else ([20] if a.quick else [20, 200, 2000, 10000])
    a.latency = a.latency_ms if a.latency_ms is not None else (0.0 if a.quick else 40.0)
    a.churn = a.churn_rate if a.churn_rate is not None else (0.0 if a.quick else 2.0)
    if a.out is None:
        a.out = os.path.join(HERE, "results", "quick") if a.quick else os.path.join(HERE, "results")
    a.install = not (a.quick or a.no_install)
    return a


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


LOAD: list = []  # (when, 1-minute load average): other work on the machine shows up here


def note_load(when: str) -> None:
    try:
        LOAD.append((when, round(os.getloadavg()[0], 2)))
    except OSError:
        pass


def ensure_matplotlib(install: bool) -> str:
    import importlib.util
    if importlib.util.find_spec("matplotlib") is not None:
        return "matplotlib"
    if install and sys.prefix != sys.base_prefix:  # only ever into a virtualenv (make bench: .venv)
        log("installing matplotlib into the virtualenv for the plot")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "matplotlib"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return "matplotlib (installed by the bench setup)"
    return "fallback PNG writer (matplotlib not available)"


def measure_cell(host, strategy, wl: str, *, quick: bool, churn: float = 0.0) -> dict:
    """Repetitions of one cell; W4 once (it changes the host)."""
    staleness = STALENESS if strategy.key == "xvirt-stale" else 0.0
    reps = [run_xen_rep(host, strategy, wl, churn_rate=churn, staleness=staleness)]
    while len(reps) < rep_policy(reps[0]["seconds"], quick, wl):
        reps.append(run_xen_rep(host, strategy, wl, churn_rate=churn, staleness=staleness))
    agg = aggregate(reps)
    return {"status": "ok", **agg, "xend": agg["server"]["xend"], "xend_client": agg["client"]["xend"],
            "xenstore": agg["server"]["xenstore"], "xenstore_client": agg["client"]["xenstore"],
            "hypervisor": agg["client"]["hypervisor"], "xend_endpoints": agg["server"]["xend_endpoints"],
            "xenstore_types": agg["server"]["xenstore_types"]}


def per_request_ms(host, latency_ms: float) -> float:
    """This machine's own cost of one ``GET /xend/domain/<id>`` on ``host`` beyond the latency."""
    from xvirt.transport.xend import XendClient
    x = XendClient(host.xend_path)
    ids = [d["domid"] for d in host.truth()["running"]][:5]
    t0 = time.perf_counter()
    for i in ids * 2:
        x.get(f"/xend/domain/{i}")
    return max(0.5, (time.perf_counter() - t0) / (2 * len(ids)) * 1000 - latency_ms)


def run_host(a, n: int, cells: list, floors: dict, truths: dict, measured: dict) -> None:
    note_load(f"N={n} start")
    with BenchHost(n, a.latency) as host:
        truth = host.truth()
        n_ids = len(truth["running"])
        truths[n] = truth
        floors[str(n)] = measure_floor(host.domtable, 10 if a.quick else 50)
        over = per_request_ms(host, a.latency)
        log(f"N={n}: host up in {host.start_seconds:.1f} s ({n_ids} ids, {host.unpaused} unpaused); "
            f"floor {fmt_s(floors[str(n)]['median_s'])}; XenD request overhead {over:.1f} ms")
        strategies = strategy_table(host, staleness=STALENESS)
        for wl in WORKLOADS:  # W4 last: it changes the host
            for key in STRATEGIES:
                if key not in strategies:
                    continue
                base = {"strategy": key, "workload": wl, "n": n, "ids": n_ids,
                        "exact_xend": xend_requests(key, wl, n_ids), "exact_xenstore": xenstore_messages(key, wl, n_ids)}
                if key in REPLAYS and wl in ("W3", "W3w"):
                    cells.append({**base, "status": "n/a", "reason": "no bulk call in 2006 (W1 is its nearest equivalent)"})
                    continue
                pred, basis = predict(key, wl, n_ids, latency_ms=a.latency, overhead_ms=over, measured=measured)
                if pred is not None and pred > a.budget_s:
                    cells.append({**base, "status": "skipped", "predicted_s": pred,
                                  "reason": f"predicted ≈ {fmt_s(pred)} ({basis}) > {a.budget_s:g} s budget"})
                    log(f"N={n} {key} {wl}: skipped, predicted {fmt_s(pred)}")
                    continue
                t0 = time.perf_counter()
                cell = measure_cell(host, strategies[key], wl, quick=a.quick, churn=a.churn if wl == "W4" else 0.0)
                cells.append({**base, **cell, "predicted_s": pred})
                measured[(key, wl)] = (n_ids, cell["median_s"])
                extra = f", wrong {cell['detail']['wrong']}" if wl == "W4" else ""
                log(f"N={n} {key} {wl}: {fmt_s(cell['median_s'])} x{cell['reps']}, XenD {cell['xend']}, "
                    f"xs {cell['xenstore']}{extra} ({time.perf_counter() - t0:.1f} s)")


def run_libvirt(a, truths: dict, cells: list, meta: dict) -> None:
    from . import peer_libvirt as peer
    if a.no_libvirt:
        meta["libvirt"] = "not run (--no-libvirt)"
        return
    ok, why = peer.ensure_installed(a.install)
    if not ok:
        meta["libvirt"] = f"not run: {why}"
        meta.setdefault("notes", []).append(f"The libvirt peer did not run: {why}.")
        return
    meta["libvirt"] = why
    with peer.LibvirtDaemon() as d:
        hosts = []
        for n, truth in sorted(truths.items()):
            node = d.path("work", f"node{n}.xml")
            peer.write_node_xml(node, truth)
            if os.geteuid() == 0:
                shutil.chown(node, "nobody", "nogroup")
            hosts.append({"n": n, "node_xml": node, "ids": len(truth["running"])})
        log(f"libvirt peer: libvirtd pid {d.proc.pid}, {len(hosts)} node files")
        res = peer.run_peer(d, {"hosts": hosts, "workloads": list(WORKLOADS), "budget_s": a.peer_budget_s,
                                "quick": a.quick, "churn_rate": a.churn})
    ids = {h["n"]: h["ids"] for h in hosts}
    for r in res["results"]:
        base = {"strategy": "libvirt", "workload": r["workload"], "n": r["n"], "ids": ids[r["n"]]}
        if "skipped" in r:
            cells.append({**base, "status": "skipped", "reason": r["skipped"]})
        else:
            cells.append({**base, "status": "ok", **{k: v for k, v in r.items() if k not in ("n", "workload")}})
        log(f"N={r['n']} libvirt {r['workload']}: " + (r.get("skipped") or f"{fmt_s(r['median_s'])} x{r['reps']}"))


def add_ratios(cells: list, floors: dict) -> None:
    lib = {(c["workload"], c["n"]): c["median_s"] for c in cells if c["strategy"] == "libvirt" and c["status"] == "ok"}
    for c in cells:
        if c["status"] != "ok":
            continue
        f = floors.get(str(c["n"]))
        c["ratio_floor"] = c["median_s"] / f["median_s"] if f and f["median_s"] > 0 else None
        ref = lib.get((c["workload"], c["n"]))
        c["ratio_libvirt"] = c["median_s"] / ref if ref else None


def source_state() -> dict:
    """The commit measured, and whether the library's sources differed from it."""
    root = os.path.dirname(HERE)

    def git(*args: str) -> str:
        try:
            r = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return r.stdout.strip() if r.returncode == 0 else ""
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "src_modified": bool(git("status", "--porcelain", "--", "src"))}


def run(a: argparse.Namespace) -> dict:
    t_start = time.perf_counter()
    os.makedirs(a.out, exist_ok=True)
    meta: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine_info(), "notes": [],
                  "source": source_state(),
                  "settings": {"ns": a.ns, "latency_ms": a.latency, "quick": a.quick, "budget_s": a.budget_s,
                               "peer_budget_s": a.peer_budget_s,
                               "churn_rate": a.churn, "staleness_s": STALENESS, "iterations": 5,
                               "skip_large": a.skip_large}}
    meta["plotter"] = ensure_matplotlib(a.install)
    LOAD.clear()
    note_load("start")
    cells: list = []
    floors: dict = {}
    truths: dict = {}
    measured: dict = {}
    repro = None
    if not a.no_2006:
        from .plan import run_repro
        log("2006 reproduction host (20 domains)")
        repro = run_repro(a.latency, lambda h, s, wl: measure_cell(h, s, wl, quick=a.quick), budget_s=a.budget_s)
    ns_run, skipped = [], []
    for n in a.ns:
        if a.skip_large and n >= LARGE:
            skipped.append(n)
            for key in STRATEGIES:
                for wl in WORKLOADS:
                    cells.append({"strategy": key, "workload": wl, "n": n, "status": "skipped",
                                  "reason": f"--skip-large (N >= {LARGE})"})
            continue
        ns_run.append(n)
        run_host(a, n, cells, floors, truths, measured)
    note_load("libvirt start")
    run_libvirt(a, truths, cells, meta)
    note_load("end")
    meta["load_1min"] = LOAD
    add_ratios(cells, floors)
    meta["settings"]["ns_run"] = ns_run
    meta["skipped_ns"] = skipped
    meta["elapsed_s"] = time.perf_counter() - t_start
    data = {"meta": meta, "floor": floors, "repro2006": repro, "cells": cells}
    write_outputs(data, a.out)
    log(f"done in {meta['elapsed_s'] / 60:.1f} min: {a.out}/report.md, results.json, bench.png")
    return data


def write_outputs(data: dict, out: str) -> None:
    from .plot import write_plot
    from .report import method_lines
    data["method"] = method_lines(data["meta"])
    data["meta"]["plot"] = write_plot(data, os.path.join(out, "bench.png"), NAMES)
    write_json(os.path.join(out, "results.json"), data)
    write_markdown(os.path.join(out, "report.md"), data, plot_name="bench.png")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["realxen"]:   # the real-Xen benchmark (bench/realxen.py): boots QEMU, not part of CI
        from .realxen import main as realxen_main
        return realxen_main(argv[1:])
    a = parse_args(argv)
    if a.report_only:
        import json
        with open(os.path.join(a.report_only, "results.json")) as f:
            write_outputs(json.load(f), a.report_only)
        return 0
    run(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
