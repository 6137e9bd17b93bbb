"""The simulated hosts the benchmark measures on, and one measurement cell (strategy x workload) with its repetitions.

A host (:class:`BenchHost`) is ``xvirt.testing.sim_host`` (its own state directory under /tmp, stopped
and removed at the end) with ``N`` seeded guests plus Domain-0, so a listing shows ``N + 1`` ids. The
seed pauses every tenth guest; the benchmark unpauses them through the control socket before
measuring, because XenD 3.0.4's ``GET /xend/domain`` lists only *running* domains by name, and the
pre-patch lookup (written for the 2006 XenD, which listed every domain) would otherwise never find a
paused domain by id. The host then matches the 2006 setting: every domain up.

One repetition: reset the simulator's counters, open a fresh session (its time and requests are
recorded separately as ``open``), snapshot client and server counters at the workload's mark,
run it, and take both counters again. XenD requests and xenstore messages are reported as the
simulator counted them (``server``) and as the client counted them (``client``); DESIGN §5 wants
the two to agree, and ``counts_agree`` records whether they did.
"""

from __future__ import annotations

import statistics
import time

from xvirt.protocol import domtable as dt
from xvirt.testing import sim_host

from . import workloads
from .churn import TableOracle, XenChurn

__all__ = ["BenchHost", "run_xen_rep", "aggregate", "measure_floor"]


class BenchHost:
    """A started simulated host; use as a context manager."""

    def __init__(self, n: int, latency_ms: float, *, name: str | None = None) -> None:
        self.n = n
        self.latency_ms = latency_ms
        self.name = name or f"bench{n}"
        self._cm = None
        self.sim = None
        self.start_seconds = 0.0
        self.unpaused = 0

    def __enter__(self) -> "BenchHost":
        t0 = time.perf_counter()
        self._cm = sim_host(domains=self.n, latency_ms=self.latency_ms, name=self.name)
        self.sim = self._cm.__enter__()
        try:
            self.start_seconds = time.perf_counter() - t0
            self.unpaused = self._unpause_all()
            self.control.settle()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(None, None, None)

    def _unpause_all(self) -> int:
        count = 0
        for d in self.truth()["running"]:
            if d["flags"] & dt.PAUSED:
                self.control.op("unpause", d["uuid"])
                count += 1
        return count

    # -- where things are ------------------------------------------------------------------------
    @property
    def control(self):
        return self.sim.control

    @property
    def uri(self) -> str:
        """All three channels (hypervisor table, xenstore, XenD): xvirt's strict default."""
        return self.sim.uri

    @property
    def xend_uri(self) -> str:
        """XenD only, as a remote client would see the host."""
        return "xen+unix://" + self.sim.paths.xend

    @property
    def xend_path(self) -> str:
        return self.sim.paths.xend

    @property
    def domtable(self) -> str:
        return self.sim.paths.domtable

    # -- what the host holds -----------------------------------------------------------------------
    def truth(self) -> dict:
        return self.control.truth()

    def counters(self) -> dict:
        return self.control.counters()

    def reset_counters(self) -> None:
        self.control.reset_counters()

    def signatures(self, truth: dict | None = None) -> dict[str, tuple[int, int]]:
        """UUID -> (max memory KiB, memory KiB): what an info() about that domain must say."""
        truth = truth or self.truth()
        out = {d["uuid"]: (d["maxmem_kib"], d["memory_kib"]) for d in truth["running"]}
        out.update({d["uuid"]: (d["maxmem_kib"], d["memory_kib"]) for d in truth["inactive"]})
        return out


def _server_delta(a: dict, b: dict) -> dict:
    keys = set(a["xend"]) | set(b["xend"])
    per = {k: b["xend"].get(k, 0) - a["xend"].get(k, 0) for k in sorted(keys)}
    xs_keys = set(a["xenstore"]) | set(b["xenstore"])
    xs = {k: b["xenstore"].get(k, 0) - a["xenstore"].get(k, 0) for k in sorted(xs_keys)}
    return {"xend": b["xend_total"] - a["xend_total"], "xenstore": b["xenstore_total"] - a["xenstore_total"],
            "xend_endpoints": {k: v for k, v in per.items() if v},
            "xenstore_types": {k: v for k, v in xs.items() if v}}


def _client_delta(a: dict, b: dict) -> dict:
    return {k: b[k] - a[k] for k in b}


def run_xen_rep(host, strategy, workload: str, *, churn_rate: float = 0.0, staleness: float = 0.0) -> dict:
    """One repetition of ``workload`` with ``strategy`` on ``host`` (a BenchHost)."""
    host.reset_counters()
    t0 = time.perf_counter()
    session = strategy.open()
    open_seconds = time.perf_counter() - t0
    opened = host.counters()
    marks: dict = {}

    def mark() -> None:
        marks["client"] = session.counts()
        marks["server"] = host.counters()

    w4: dict = {}
    extra: dict = {}
    churn = oracle = None
    try:
        if workload == "W4":
            oracle = TableOracle(host.domtable)
            truth0 = host.truth()
            extra["table_matches_truth_before"] = oracle.mapping() == {d["domid"]: d["uuid"] for d in truth0["running"]}
            sigs = host.signatures(truth0)
            churn = XenChurn(host.control, oracle, truth0)
            w4 = {"step": churn.step, "holder": lambda i: {oracle.holder(i)}, "history": churn.history,
                  "signature": lambda u: sigs.get(u) or churn.signatures.get(u), "staleness": staleness}
            churn.start_background(churn_rate)
        seconds, detail = workloads.run(session, workload, mark=mark, **w4)
        end_client, end_server = session.counts(), host.counters()
    finally:
        if churn is not None:
            churn.stop_background()
            host.control.settle()
        session.close()
    if churn is not None:
        truth1 = host.truth()
        now = oracle.mapping()
        extra["table_matches_truth_after"] = now == {d["domid"]: d["uuid"] for d in truth1["running"]}
        extra["history_matches_table"] = churn.history.final() == now
        extra["churn"] = churn.summary()
        oracle.close()
    server = _server_delta(marks["server"], end_server)
    client = _client_delta(marks["client"], end_client)
    return {"seconds": seconds, "open_seconds": open_seconds,
            "open": {"xend": opened["xend_total"], "xenstore": opened["xenstore_total"]},
            "server": server, "client": client,
            "counts_agree": client["xend"] == server["xend"] and client["xenstore"] == server["xenstore"],
            "detail": detail, **extra}


def aggregate(reps: list[dict]) -> dict:
    """Median and spread of the times; counts of the first repetition (and whether all agreed)."""
    times = [r["seconds"] for r in reps]
    first = reps[0]
    out = {"reps": len(reps), "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
           "times_s": times, "open_s": statistics.median(r["open_seconds"] for r in reps),
           "open": first["open"], "server": first["server"], "client": first["client"],
           "counts_agree": all(r["counts_agree"] for r in reps),
           "counts_stable": all(r["server"]["xend"] == first["server"]["xend"] and
                                r["server"]["xenstore"] == first["server"]["xenstore"] for r in reps),
           "detail": first["detail"]}
    for key in ("table_matches_truth_before", "table_matches_truth_after", "history_matches_table", "churn"):
        if key in first:
            out[key] = first[key]
    return out


def measure_floor(path: str, reps: int = 30) -> dict:
    """The floor: one raw read of the whole domain table (``DomainTableReader.snapshot``)."""
    from xvirt.transport.hypervisor import DomainTableReader
    reader = DomainTableReader(path)
    try:
        reader.snapshot()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            n = len(reader.snapshot())
            times.append(time.perf_counter() - t0)
    finally:
        reader.close()
    return {"reps": reps, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "records": n}
