"""Writes a run's results: the JSON data, the Markdown report, and the machine description they carry."""

from __future__ import annotations

import json
import os
import platform
import re

from . import WORKLOADS, STRATEGIES

__all__ = ["machine_info", "write_json", "write_markdown", "fmt_s"]

NAMES = {"prepatch": "2006 pre-patch", "patch1": "2006 patch 1", "patch2": "2006 patch 2 (cache)",
         "xvirt-strict": "xvirt strict", "xvirt-xend": "xvirt XenD-only", "xvirt-stale": "xvirt max_staleness=5",
         "libvirt": "libvirt 9 (libvirtd)", "floor": "floor (1 table read)"}
WL_NAMES = {"W1": "W1 list", "W2": "W2 monitor", "W3": "W3 bulk", "W3w": "W3w bulk, warm", "W4": "W4 churn"}


def machine_info() -> dict:
    cpu, flags_seen = "unknown", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("processor"):
                    flags_seen += 1
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s+(\d+)", f.read())
            mem = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    distro = ""
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'PRETTY_NAME="([^"]+)"', f.read())
            distro = m.group(1) if m else ""
    except OSError:
        pass
    return {"cpu_model": cpu, "cores": os.cpu_count(), "processors_in_cpuinfo": flags_seen, "memory_gib": mem,
            "kernel": platform.release(), "os": distro, "python": platform.python_version()}


def write_json(path: str, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False, default=str)
        f.write("\n")


def fmt_s(s: float | None) -> str:
    if s is None:
        return "–"
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _ratio(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3g}×" if x < 1000 else f"{x:,.0f}×"


def _spread(c: dict) -> str:
    if c["reps"] == 1:
        return f"{fmt_s(c['median_s'])} (1 run)"
    return f"{fmt_s(c['median_s'])} [{fmt_s(c['min_s'])}–{fmt_s(c['max_s'])}] ×{c['reps']}"


def _cell(cells: list[dict], strategy: str, workload: str, n: int) -> dict | None:
    for c in cells:
        if c["strategy"] == strategy and c["workload"] == workload and c["n"] == n:
            return c
    return None


def _requests(c: dict) -> str:
    if c["strategy"] == "libvirt":
        return f"{c['rpcs']} RPC"
    x = c["xend"]
    return f"{x}" + ("" if c.get("counts_agree", True) else f" (client {c['xend_client']})")


def _summary(data: dict) -> list[str]:
    cells, ns = data["cells"], data["meta"]["settings"]["ns_run"]
    out = ["## Summary", "",
           "Median time of one run of each workload (requests in parentheses: XenD requests for the Xen "
           "strategies, daemon RPCs for libvirt); `not run` cells are explained under *Where each strategy "
           "stops*.", ""]
    cols = ("xvirt-strict", "patch1", "libvirt")
    for n in ns:
        floor = data["floor"].get(str(n))
        out += [f"**N = {n}** ({n + 1} domains with Domain-0; floor: one table read = {fmt_s(floor and floor['median_s'])})", "",
                "| workload | xvirt strict | 2006 patch 1 | libvirt 9 | xvirt ÷ floor | xvirt ÷ libvirt (< 1: xvirt faster) |",
                "|---|---|---|---|---|---|"]
        for wl in ("W1", "W2", "W3", "W3w"):
            row = [WL_NAMES[wl]]
            for s in cols:
                c = _cell(cells, s, wl, n)
                if c is None or c["status"] != "ok":
                    row.append("n/a" if c is not None and c["status"] == "n/a" else "not run")
                else:
                    row.append(f"{fmt_s(c['median_s'])} ({_requests(c)})")
            x = _cell(cells, "xvirt-strict", wl, n)
            row.append(_ratio(x.get("ratio_floor")) if x and x["status"] == "ok" else "–")
            row.append(_ratio(x.get("ratio_libvirt")) if x and x["status"] == "ok" else "–")
            out.append("| " + " | ".join(row) + " |")
        wrong = []
        for s in STRATEGIES:
            c = _cell(cells, s, "W4", n)
            if c is not None and c["status"] == "ok":
                d = c["detail"]
                txt = f"{NAMES[s]} {d['wrong']}"
                if d.get("stale_lookups"):
                    txt += f" (+{d['stale_lookups']} stale within its 5 s bound)"
                wrong.append(txt)
        out += ["", f"W4 wrong answers: {'; '.join(wrong) if wrong else 'none run'}.", ""]
    return out


def _repro(data: dict) -> list[str]:
    r = data.get("repro2006")
    if not r:
        return []
    lat = r["latency_ms"]
    out = ["## The 2006 rows, reproduced", "",
           f"Host: {r['domains']} domains (Domain-0 + {r['domains'] - 1} guests, all running), XenD latency "
           f"{lat:g} ms. The replays run as 2006 libvirt did as root: ids and info from the hypervisor (the "
           "simulator's domain table), lookups through XenD, plus the one `GET /xend/node/` that "
           "`xenDaemonOpen` sent to check XenD was alive. Requests are counted by the simulator and by the "
           "client (they agree).", "",
           "| 2006 row | seed | replay: requests (open + workload) | formula | time (open + workload) | model: requests × latency |",
           "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        c = row["cell"]
        if c["status"] != "ok":
            out.append(f"| {row['label']} | {row['seed']} | not run: {c.get('reason', '')} | {row['formula']} | – | – |")
            continue
        total = c["open"]["xend"] + c["xend"]
        spread = "" if c["reps"] == 1 else f" [{fmt_s(c['open_s'] + c['min_s'])}–{fmt_s(c['open_s'] + c['max_s'])}] ×{c['reps']}"
        out.append(f"| {row['label']} | {row['seed']} | **{total}** = {c['open']['xend']} + {c['xend']} | "
                   f"{row['formula']} | {fmt_s(c['open_s'] + c['median_s'])}{spread} | {fmt_s(total * lat / 1000)} |")
    out += ["", *r["explanation"], ""]
    return out


def _all(data: dict) -> list[str]:
    lat = data["meta"]["settings"]["latency_ms"]
    st_s = data["meta"]["settings"]["staleness_s"]
    out = ["## All measurements", "",
           "XenD = requests counted by the simulator (the client's own count is shown only where it differs); "
           "exact = the count `bench/plan.py` computes for a quiet host; xs = xenstore messages; hv = "
           "hypervisor table reads (client side). Time: median [min–max] ×repetitions, the connection's open "
           f"excluded (shown separately). Model = workload XenD requests × {lat:g} ms (what the latency alone costs).", "",
           "| workload | N | strategy | XenD | exact | xs | hv | time | open | model | ÷ floor | ÷ libvirt (< 1: faster) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for wl in WORKLOADS:
        for n in data["meta"]["settings"]["ns_run"]:
            for s in STRATEGIES:
                c = _cell(data["cells"], s, wl, n)
                if c is None or c["status"] != "ok":
                    continue
                if s == "libvirt":
                    out.append(f"| {wl} | {n} | {NAMES[s]} | {c['rpcs']} RPC | – | – | – | {_spread(c)} | "
                               f"{fmt_s(c['open_s'])} | – | {_ratio(c.get('ratio_floor'))} | 1× |")
                    continue
                exact = c.get("exact_xend")
                if s == "xvirt-stale" and exact is not None and c["xend"] != exact:
                    exact = f"{exact} while the snapshot is < {st_s:g} s old (the run took longer)"
                model = c["xend"] * lat / 1000
                out.append(f"| {wl} | {n} | {NAMES[s]} | {_requests(c)} | {'–' if exact is None else exact} | "
                           f"{c['xenstore']} | {c.get('hypervisor', 0)} | {_spread(c)} | {fmt_s(c['open_s'])} | "
                           f"{fmt_s(model) if model else '–'} | {_ratio(c.get('ratio_floor'))} | "
                           f"{_ratio(c.get('ratio_libvirt'))} |")
    return out + [""]


def _w4(data: dict) -> list[str]:
    out = ["## W4: answers under churn", "",
           "Per run: 5 iterations; between each listing and its lookups the churn client saved+restored, "
           "rebooted, renamed and replaced (destroy, forget, create a new domain under the same name) one "
           f"listed guest each; a background churner did the same at {data['meta']['settings']['churn_rate']:g} "
           "operations/s. *wrong* = a lookup whose UUID held the id neither just before nor just after the "
           "call, or an info describing another domain; *stale* = wrong at the call but true within the "
           "connection's declared `max_staleness` (its contract). *not found* answers are correct when "
           "nobody held the id.", "",
           "| N | strategy | lookups | not found | **wrong lookups** | stale (allowed) | infos | info: gone | "
           "**wrong infos** | errors | churn ops | truth checks |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in data["meta"]["settings"]["ns_run"]:
        for s in STRATEGIES:
            c = _cell(data["cells"], s, "W4", n)
            if c is None or c["status"] != "ok":
                continue
            d, ch = c["detail"], c.get("churn", {})
            ops = sum(ch.get("ops", {}).values())
            checks = [k for k in ("table_matches_truth_before", "table_matches_truth_after",
                                  "history_matches_table", "history_matches_daemon") if k in c]
            ok = all(c[k] for k in checks)
            out.append(f"| {n} | {NAMES[s]} | {d['lookups']} | {d['not_found']} | **{d['wrong_lookups']}** | "
                       f"{d['stale_lookups']} | {d['infos']} | {d['info_gone']} | **{d['wrong_infos']}** | "
                       f"{d['errors']} | {ops}{' (+%d failed)' % ch['failed'] if ch.get('failed') else ''} | "
                       f"{'ok' if ok else 'MISMATCH'} |")
    notes = []
    for c in data["cells"]:
        d = c.get("detail") or {}
        if c["workload"] != "W4" or c["status"] != "ok" or not d.get("wrong_lookups"):
            continue
        kinds = [f"{d[k]} {what}" for k, what in (
            ("wrong_ghost", "named a domain for an id that nobody held"),
            ("wrong_other", "named another domain than the one holding the id"),
            ("wrong_missed", "said \"not found\" while one domain held the id before and after")) if d.get(k)]
        why = ""
        if c["strategy"] == "patch2":
            why = (" The id cache still mapped those ids to domains that were saved and restored, rebooted or "
                   "destroyed after they were cached; the *info: gone* answers are the same stale handles failing "
                   "on `GET /xend/domain/<old id>`. This is Veillard's 2006 objection, measured.")
        elif c["strategy"] == "prepatch" and d.get("wrong_missed"):
            why = (" The scan is not atomic: it lists the names, then GETs them one by one. Renaming is the only "
                   "churn operation that keeps a domain's id while changing its name, so the domain was renamed "
                   "between the listing and the GET of its old name (404), and its new name was not in the list.")
        plural = "s" if d["wrong_lookups"] != 1 else ""
        notes.append(f"- {NAMES[c['strategy']]} at N = {c['n']}: {d['wrong_lookups']} wrong lookup{plural}"
                     + (f" ({'; '.join(kinds)})" if kinds else "") + f".{why}")
    return out + [""] + notes + ([""] if notes else [])


def _stops(data: dict) -> list[str]:
    out = ["## Where each strategy stops", "",
           "A cell runs when its predicted time fits the budget "
           f"({data['meta']['settings']['budget_s']:g} s per run); predictions are computed, never reported "
           "as measurements.", "", "| strategy | workload | largest N run | not run at | why |", "|---|---|---|---|---|"]
    for s in STRATEGIES:
        for wl in WORKLOADS:
            mine = [c for c in data["cells"] if c["strategy"] == s and c["workload"] == wl]
            if not mine:
                continue
            if all(c["status"] == "n/a" for c in mine):
                out.append(f"| {NAMES[s]} | {wl} | n/a | – | {mine[0].get('reason', '')} |")
                continue
            ran = [c["n"] for c in mine if c["status"] == "ok"]
            skipped = [c for c in mine if c["status"] == "skipped"]
            if not skipped:
                continue
            out.append(f"| {NAMES[s]} | {wl} | {max(ran) if ran else '–'} | "
                       f"{', '.join(str(c['n']) for c in skipped)} | {skipped[0].get('reason', '')} |")
    return out + [""]


def _range(values: list[float], fmt=lambda x: f"{x:.3g}") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def _observations(data: dict) -> list[str]:
    """Facts read off this run's data (so the text cannot drift from the tables)."""
    ok = [c for c in data["cells"] if c["status"] == "ok"]

    def mine(s: str, wl: str | None = None) -> list[dict]:
        return [c for c in ok if c["strategy"] == s and (wl is None or c["workload"] == wl)]
    out = ["## Observations", ""]
    strict = mine("xvirt-strict")
    if strict:
        ns = sorted({c["n"] for c in strict})
        xend = sum(c["xend"] for c in strict)
        wrong = sum(c["detail"]["wrong"] for c in mine("xvirt-strict", "W4"))
        out.append(f"- **xvirt strict** ran every workload at every N ({', '.join(map(str, ns))}): {xend} XenD "
                   f"requests in all, {wrong} wrong answers under churn. Its time is "
                   f"{_range([c['ratio_floor'] for c in mine('xvirt-strict', 'W1')])}× the floor for W1 and "
                   f"{_range([c['ratio_floor'] for c in mine('xvirt-strict', 'W2')])}× for the five passes of W2.")
        parts = []
        for wl, what in (("W1", "`virsh list` (W1)"), ("W2", "the monitor loop (W2)"), ("W4", "the loop under churn (W4)")):
            r = [1 / c["ratio_libvirt"] for c in mine("xvirt-strict", wl) if c.get("ratio_libvirt")]
            if r:
                parts.append(f"{_range(r)}× faster on {what}")
        if parts:
            out.append("- Against libvirt 9 through libvirtd, xvirt strict is " + ", ".join(parts) + " over the N "
                       "measured: libvirt pays one RPC per lookup and per info, and its lookup by id scans every "
                       "domain (the gap grows with N).")
        r3 = [c["ratio_libvirt"] for c in mine("xvirt-strict", "W3") if c.get("ratio_libvirt")]
        r3w = [c["ratio_libvirt"] for c in mine("xvirt-strict", "W3w") if c.get("ratio_libvirt")]
        if r3:
            out.append(f"- The bulk call is where libvirt's test driver wins: one RPC answered from memory. On a fresh "
                       f"connection (W3) xvirt strict takes {_range(r3)}× libvirt's time, because it reads every "
                       "name from xenstore once (n READ messages); on a warm connection (W3w) the names are "
                       f"validated by one round trip and it takes {_range(r3w)}× libvirt's time.")
        p1 = [(c["median_s"] / s["median_s"], c["n"], c["workload"]) for c in mine("patch1")
              for s in mine("xvirt-strict", c["workload"]) if s["n"] == c["n"] and c["workload"] in ("W1", "W2")]
        if p1:
            out.append(f"- Against the 2006 patch 1 (all XenD, {data['meta']['settings']['latency_ms']:g} ms a "
                       f"request), xvirt strict is {_range([x[0] for x in p1], lambda v: f'{v:,.0f}')}× faster "
                       "where both ran.")
    p2 = mine("patch2", "W4")
    if p2:
        out.append("- **2006 patch 2** (unvalidated id cache) gave "
                   + ", ".join(f"{c['detail']['wrong']} wrong answers at N = {c['n']}" for c in p2)
                   + "; every other strategy without a staleness contract gave 0 except the pre-patch scan "
                   "(see the W4 notes).")
    st = mine("xvirt-stale", "W4")
    if st:
        out.append("- **xvirt max_staleness=5** answered from one XenD snapshot (1 request per run) and was "
                   "stale within its bound " + ", ".join(f"{c['detail']['stale_lookups']}× at N = {c['n']}" for c in st)
                   + f", never beyond it ({sum(c['detail']['wrong'] for c in st)} wrong). Its lookups scan the "
                   "snapshot linearly, so a pass over all ids is quadratic in CPU; it stops at N = "
                   f"{max(c['n'] for c in mine('xvirt-stale', 'W1')) if mine('xvirt-stale', 'W1') else '–'} for W1.")
    return out + [""]


def write_markdown(path: str, data: dict, *, plot_name: str | None) -> None:
    meta = data["meta"]
    m, st = meta["machine"], meta["settings"]
    lines = ["# xvirt benchmark results", "",
             f"Generated by `python3 -m bench{' --quick' if st['quick'] else ''}` on {meta['date']} in "
             f"{meta['elapsed_s'] / 60:.1f} min. Machine: {m['cpu_model']}, {m['cores']} cores, "
             f"{m['memory_gib']} GiB, {m['os']}, kernel {m['kernel']}, Python {m['python']}; "
             f"peer: {meta.get('libvirt', 'not run')}. xvirt at commit {meta.get('source', {}).get('commit', 'unknown')}"
             f"{' with modified sources' if meta.get('source', {}).get('src_modified') else ''}.", "",
             f"Settings: N = {', '.join(map(str, st['ns']))} guests (+ Domain-0); XenD latency "
             f"{st['latency_ms']:g} ms per request; W2/W4 iterations {st['iterations']}; "
             f"`max_staleness` {st['staleness_s']:g} s; churn {st['churn_rate']:g} ops/s in the background; "
             f"budget {st['budget_s']:g} s per run ({st.get('peer_budget_s', st['budget_s']):g} s for the libvirt peer)."
             + (" One-minute load average when each part started: "
                + ", ".join(f"{w} {v:g}" for w, v in meta["load_1min"])
                + " (the benchmark itself keeps about one core busy; more means other work shared the machine)."
                if meta.get("load_1min") else ""), ""]
    if meta.get("skipped_ns"):
        lines += [f"**Skipped on request (`--skip-large`): N = {', '.join(map(str, meta['skipped_ns']))}.**", ""]
    for note in meta.get("notes", []):
        lines += [f"- {note}"]
    if meta.get("notes"):
        lines.append("")
    if plot_name:
        lines += [f"![time vs N]({plot_name})", ""]
    lines += _summary(data) + _observations(data) + _repro(data) + _w4(data) + _stops(data) + _all(data)
    lines += data.get("method", [])
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


def method_lines(meta: dict) -> list[str]:
    st = meta["settings"]
    return [
        "## Method", "",
        "- **Hosts.** One simulated host per N (`xvirt.testing.sim_host`: real XenD HTTP/SXP, xenstored and "
        "hypervisor-table channels on sockets and a shared file), N seeded guests + Domain-0 + a few inactive "
        "defined domains. The seed pauses every tenth guest; the benchmark unpauses them first, because XenD "
        "3.0.4's `GET /xend/domain` lists only *running* names and the pre-patch scan (written for the 2006 XenD, "
        "which listed all) would never find a paused domain. Every strategy at one N uses the same host; W4 runs "
        "last because its churn changes the host.",
        f"- **Latency.** XenD answers each request after {st['latency_ms']:g} ms (the simulator's latency "
        "setting); xenstored and the table have none. Everything runs on one machine.",
        "- **Counts** are exact: the simulator counts every XenD request and xenstore message it receives "
        "(control-socket counters, reset before each run) and the client counts what it sends; both are in "
        "`results.json` (`xend`/`xend_client`, `xenstore`/`xenstore_client`) and `counts_agree` says whether they "
        "matched. Opening the connection is measured and counted separately (`open`).",
        "- **Strategies.** *2006 pre-patch / patch 1 / patch 2*: `bench/strategies.py` replays libvirt 0.1.x's "
        "lookups over the raw `XendClient` (see its docstring): open = `GET /xend/node/`; ids = `GET "
        "/xend/domain?detail=1`; lookup = name scan / `GET /xend/domain/<id>` / the same behind an unvalidated "
        "id cache; info = `GET /xend/domain/<id>` with the handle's id; the name comes with the lookup. "
        "*xvirt strict*: `xvirt.open('xen+sim:///NAME?dir=...')` (table + xenstore + XenD). *xvirt XenD-only*: "
        "`xen+unix:///.../xend.sock`. *xvirt max_staleness*: the XenD-only URI with `max_staleness=5`. "
        "*libvirt 9*: Debian's libvirtd (test driver) on a private unix socket, run unprivileged, same domains "
        "(names, UUIDs, sizes) from a generated node file, `python3-libvirt` under `/usr/bin/python3`; RPCs are "
        "counted from the API calls (checked once against an RPC trace). *Floor*: one "
        "`DomainTableReader.snapshot()` (every record read and decoded), the least any correct answer about all "
        "running domains can cost here.",
        "- **Workloads** (`bench/workloads.py`): W1 `virsh list` (list ids → lookup by id → info → name) on a "
        "fresh connection; W2 5 × (list ids → lookup by id → info) on one connection, handles dropped each "
        "iteration; W3 one `get_all_domain_stats(flags=ACTIVE)` (libvirt `getAllDomainStats(0, ACTIVE)`) on a "
        "fresh connection; W3w the same call asked again on that connection (timed alone); W4 = W2 under churn. "
        "The 2006 code had no bulk call, so the replays have no W3.",
        "- **Timing.** `time.perf_counter` around the session's calls only (not the truth reads or churn "
        "steps). Repetitions: 5 when the first run took ≤ 2 s, 3 when ≤ 15 s, else 1; W4 once. Median and "
        "[min–max] are reported. Ratios are of medians within this run.",
        "- **W4 truth.** For the simulated host: the hypervisor table, which the host writes in the same "
        "critical section as every change, read just before and just after each answer (microseconds), and "
        "compared with `control.truth()` before and after the run; the churn's own log of id changes must "
        "also end equal to the table (*truth checks* column). For libvirt: the churn's log of id changes "
        "(churn is the only writer; checked against `listAllDomains` at the end). Counting an answer wrong "
        "only when it matches neither the truth before nor the truth after it never blames a strategy for a "
        "change that raced with its call. Ids are never handed out twice within a run (the rover moves "
        "forward), so each id has at most one holder over one interval, and an answer that was right at some "
        "instant of the call matches the truth before or after it unless that interval began and ended inside "
        "the call itself. A \"not found\" for an id held by the same domain before and after is always wrong.",
        "- **Info checks.** An info answer carries no UUID for xvirt and libvirt (they ask by UUID), so it is "
        "compared with the memory sizes of the handle's domain: every domain the churn creates gets a size no "
        "other domain has, but the seeded guests share seven sizes, so an info about another *seeded* guest of "
        "the same size would pass unseen. The replays' info is a XenD record and is checked by its UUID.",
        "- **Budget.** A cell runs only if its predicted time (XenD requests × (latency + measured per-request "
        f"cost), or for the quadratic `max_staleness` lookups the previous N's time × (n/n₀)², or for libvirt's "
        f"W2/W4 5 × its W1, with its own budget of {st.get('peer_budget_s', st['budget_s']):g} s) is ≤ {st['budget_s']:g} s. Skipped cells are listed with the prediction; none is "
        "extrapolated into the tables.",
        "", "Raw data: `results.json` (every repetition's time, per-endpoint XenD counts, W4 samples of wrong "
        "answers).",
    ]
