"""``xvirt top``: a virt-top for Xen on one bulk sample per interval (batch, CSV, JSON and live view).

Theory of operation
-------------------
Each interval makes exactly one ``get_all_domain_stats`` call for active domains (no XenD request
for running domains). ``%CPU`` is virt-top's: 100 × Δcpu_time / (elapsed × host CPUs), where the
previous cpu time and its timestamp are kept **per UUID**, so a domain whose id changed (save +
restore, reboot) keeps its history; when its cpu time went backwards it is a new instance whose
cpu time restarted inside the interval, and the whole new value is the delta. History of a domain
that is missing from a sample is kept for ``forget_after`` seconds, so one vanished domain never
blanks the others nor loses its own history for a short absence. The first sample has nothing to
compare with: it is flagged as warm-up and shows ``-`` instead of a misleading 0.

Host facts (CPUs, memory) are read once at start with ``node_info()``; if that fails
the CPU count is unknown (1 is assumed) and %MEM is not shown.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field

from ..constants import DomainState as S
from ..constants import StatsFlags
from ..errors import LibvirtError
from .format import STATE_LETTERS, state_name

__all__ = ["SORT_KEYS", "HostFacts", "DomRow", "Summary", "Frame", "Sampler", "host_facts", "sort_rows",
           "format_time", "render_text", "io_totals", "ROW_HEADS", "CSV_HEADER", "csv_header", "csv_row", "frame_json", "run_loop"]

SORT_KEYS = ("cpu", "mem", "time", "id", "name")

# virt-top 1.0.9 csv_output.ml: summary fields, then one group per active domain (cpu, mem, block, net)
CSV_HEADER = ["Hostname", "Time", "Arch", "Physical CPUs", "Count", "Running", "Blocked", "Paused",
              "Shutdown", "Shutoff", "Crashed", "Active", "Inactive", "%CPU", "Total hardware memory (KB)",
              "Total memory (KB)", "Total guest memory (KB)", "Total CPU time (ns)",
              "Domain ID", "Domain name", "CPU (ns)", "%CPU", "Mem (bytes)", "%Mem",
              "Block RDRQ", "Block WRRQ", "Net RXBY", "Net TXBY"]


@dataclass
class HostFacts:
    cpus: int
    memory_kib: int | None = None
    model: str | None = None
    mhz: int | None = None
    cpus_known: bool = True


def host_facts(conn) -> HostFacts:
    """CPUs and memory of the host (node_info() reads the hypervisor channel, no XenD)."""
    try:
        n = conn.node_info()
        if n.cpus > 0:
            return HostFacts(n.cpus, n.memory_kib or None, n.model, n.mhz)
    except LibvirtError:
        pass
    return HostFacts(1, None, None, None, cpus_known=False)


@dataclass
class DomRow:
    uuid: str
    id: int
    name: str
    state: int
    cpu_ns: int
    cpu_delta_ns: int | None      # None: no previous sample of this domain (warm-up)
    cpu_pct: float | None
    mem_kib: int
    max_mem_kib: int
    mem_pct: float | None
    vcpus: int
    cpu_hist: list[float] = field(default_factory=list)
    # virt-top's block and net columns: requests / bytes in the interval (None: warm-up or no
    # counters), from the block.* and net.* stats groups
    rd_req: int | None = None
    wr_req: int | None = None
    rx_bytes: int | None = None
    tx_bytes: int | None = None


@dataclass
class Summary:
    domains: int
    active: int
    running: int
    blocked: int
    paused: int
    shutdown: int
    shutoff: int
    crashed: int
    inactive: int | None          # None: not counted (that needs XenD; see --all)
    cpu_pct: float | None
    total_cpu_ns: int
    host_memory_kib: int | None
    total_memory_kib: int
    guest_memory_kib: int


@dataclass
class Frame:
    number: int
    wall_time: float
    warmup: bool
    host: HostFacts
    summary: Summary
    rows: list[DomRow]


@dataclass
class _Hist:
    cpu_ns: int
    t: float
    seen: float
    pcts: deque = field(default_factory=lambda: deque(maxlen=10))
    io: tuple | None = None       # (rd reqs, wr reqs, rx bytes, tx bytes) totals at ``t``


class Sampler:
    """Turns one bulk stats call per ``sample()`` into a Frame, keeping history per UUID."""

    def __init__(self, conn, host: HostFacts, *, include_inactive: bool = False, forget_after: float = 600.0,
                 clock=time.monotonic, wall=time.time) -> None:
        self.conn, self.host = conn, host
        self.include_inactive = include_inactive
        self.forget_after = forget_after
        self.clock, self.wall = clock, wall
        self.history: dict[str, _Hist] = {}
        self.count = 0

    def sample(self) -> Frame:
        t, now = self.clock(), self.wall()   # taken before the call, as virt-manager does
        flags = 0 if self.include_inactive else int(StatsFlags.ACTIVE)
        records = self.conn.get_all_domain_stats(0, flags)
        rows: list[DomRow] = []
        inactive = 0 if self.include_inactive else None
        for rec in records:
            st = rec.stats
            state = int(st.get("state.state", S.NOSTATE))
            if rec.id is None or rec.id < 0 or state == S.SHUTOFF:
                if inactive is not None:
                    inactive += 1
                continue
            if rec.name is None:
                continue
            rows.append(self._row(rec, state, t))
        for uuid in [u for u, h in self.history.items() if t - h.seen > self.forget_after]:
            del self.history[uuid]
        frame = Frame(self.count, now, self.count == 0, self.host, self._summary(rows, inactive), rows)
        self.count += 1
        return frame

    def _row(self, rec, state: int, t: float) -> DomRow:
        st = rec.stats
        uuid = rec.domain.uuid
        cpu = int(st.get("cpu.time", 0))
        mem = int(st.get("balloon.current", 0))
        hist = self.history.get(uuid)
        delta = pct = None
        io = io_totals(st)
        io_delta: tuple = (None,) * 4
        if hist is not None and t > hist.t:
            delta = cpu - hist.cpu_ns if cpu >= hist.cpu_ns else cpu  # backwards: a new instance
            pct = 100.0 * delta / ((t - hist.t) * 1e9 * self.host.cpus)
            if io is not None and hist.io is not None:
                new = cpu < hist.cpu_ns or any(a < b for a, b in zip(io, hist.io))
                io_delta = io if new else tuple(a - b for a, b in zip(io, hist.io))
        if hist is None:
            hist = self.history[uuid] = _Hist(cpu, t, t)
        hist.cpu_ns, hist.t, hist.seen, hist.io = cpu, t, t, io
        if pct is not None:
            hist.pcts.append(pct)
        mem_pct = 100.0 * mem / self.host.memory_kib if self.host.memory_kib else None
        return DomRow(uuid, rec.id, rec.name, state, cpu, delta, pct, mem, int(st.get("balloon.maximum", mem)),
                      mem_pct, int(st.get("vcpu.current", 1)), list(hist.pcts), *io_delta)

    def _summary(self, rows: list[DomRow], inactive: int | None) -> Summary:
        def count(state: int) -> int:
            return sum(1 for r in rows if r.state == state)
        pcts = [r.cpu_pct for r in rows if r.cpu_pct is not None]
        return Summary(domains=len(rows) + (inactive or 0), active=len(rows), running=count(S.RUNNING),
                       blocked=count(S.BLOCKED), paused=count(S.PAUSED) + count(S.PMSUSPENDED),
                       shutdown=count(S.SHUTDOWN), shutoff=count(S.SHUTOFF), crashed=count(S.CRASHED),
                       inactive=inactive, cpu_pct=sum(pcts) if pcts else None,
                       total_cpu_ns=sum(r.cpu_delta_ns or 0 for r in rows),
                       host_memory_kib=self.host.memory_kib, total_memory_kib=sum(r.mem_kib for r in rows),
                       guest_memory_kib=sum(r.mem_kib for r in rows if r.id > 0))


def io_totals(st: dict) -> tuple | None:
    """(read requests, write requests, received bytes, sent bytes) over all disks and interfaces."""
    if "block.count" not in st and "net.count" not in st:
        return None
    nb, nn = int(st.get("block.count", 0)), int(st.get("net.count", 0))
    return (sum(int(st.get(f"block.{i}.rd.reqs", 0)) for i in range(nb)),
            sum(int(st.get(f"block.{i}.wr.reqs", 0)) for i in range(nb)),
            sum(int(st.get(f"net.{i}.rx.bytes", 0)) for i in range(nn)),
            sum(int(st.get(f"net.{i}.tx.bytes", 0)) for i in range(nn)))


def sort_rows(rows: list[DomRow], key: str) -> list[DomRow]:
    """virt-top's orders: cpu, mem and time descending; id and name ascending."""
    if key == "cpu":
        return sorted(rows, key=lambda r: (-(r.cpu_pct if r.cpu_pct is not None else -1.0), r.id))
    if key == "mem":
        return sorted(rows, key=lambda r: (-r.mem_kib, r.id))
    if key == "time":
        return sorted(rows, key=lambda r: (-r.cpu_ns, r.id))
    if key == "name":
        return sorted(rows, key=lambda r: (r.name.casefold(), r.id))
    return sorted(rows, key=lambda r: r.id)


def format_time(ns: int) -> str:
    """virt-top's TIME: ``M:SS.hh`` (minutes may exceed 59) below 12 hours, else ``HhMM:SS``."""
    ns = max(0, int(ns))
    hours, rest = divmod(ns, 3_600 * 10**9)
    mins, rest = divmod(rest, 60 * 10**9)
    secs, rest = divmod(rest, 10**9)
    if hours < 12:
        return f"{hours * 60 + mins}:{secs:02d}.{rest // 10_000_000:02d}"
    return f"{hours}h{mins:02d}:{secs:02d}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mb(kib: int | None) -> str:
    return "-" if kib is None else str(kib // 1024)


ROW_HEADER = (f"{'ID':>5} S {'RDRQ':>5} {'WRRQ':>5} {'RXBY':>7} {'TXBY':>7} {'%CPU':>5} {'%MEM':>5} {'TIME':>10} "
              f"{'MEM(MB)':>8} {'VCPUS':>5} NAME")
ROW_HEADS = ["ID", "S", "RDRQ", "WRRQ", "RXBY", "TXBY", "%CPU", "%MEM", "TIME", "MEM(MB)", "VCPUS", "NAME"]


def summary_lines(frame: Frame) -> list[str]:
    """The three virt-top-like summary lines (host, domain counts, CPU and memory)."""
    h, s = frame.host, frame.summary
    clock = time.strftime("%H:%M:%S", time.localtime(frame.wall_time))
    host = [h.model or "?", f"{h.cpus}CPU" if h.cpus_known else "?CPU"]
    if h.mhz:
        host.append(f"{h.mhz}MHz")
    if h.memory_kib:
        host.append(f"{h.memory_kib // 1024}MB")
    inactive = "-" if s.inactive is None else str(s.inactive)
    mem = f"Mem: {_mb(s.host_memory_kib)} MB ({_mb(s.guest_memory_kib)} MB by guests)"
    return [f"xvirt top {clock} - {' '.join(host)}",
            f"{s.domains} domains, {s.active} active, {s.running} running, {s.blocked} blocked, "
            f"{s.paused} paused, {inactive} inactive",
            f"CPU: {_pct(s.cpu_pct)}{'' if s.cpu_pct is None else '%'}  {mem}"]


def row_cells(r: DomRow) -> list[str]:
    return [str(r.id), STATE_LETTERS.get(r.state, "?"), _count(r.rd_req), _count(r.wr_req), _count(r.rx_bytes),
            _count(r.tx_bytes), _pct(r.cpu_pct), _pct(r.mem_pct), format_time(r.cpu_ns), _mb(r.mem_kib),
            str(r.vcpus), r.name]


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def render_text(frame: Frame, sort: str = "cpu") -> str:
    """One batch frame: summary lines, the warm-up note on the first frame, the header and rows."""
    lines = summary_lines(frame)
    if frame.warmup:
        lines.append("(warm-up sample: %CPU needs a previous sample; shown from the next one)")
    lines += ["", ROW_HEADER]
    for r in sort_rows(frame.rows, sort):
        c = row_cells(r)
        lines.append(f"{c[0]:>5} {c[1]} {c[2]:>5} {c[3]:>5} {c[4]:>7} {c[5]:>7} {c[6]:>5} {c[7]:>5} {c[8]:>10} "
                     f"{c[9]:>8} {c[10]:>5} {c[11]}")
    return "\n".join(lines) + "\n"


def _csv_line(fields: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def csv_header() -> str:
    """virt-top's CSV header line, exactly (cpu, mem, block and net groups on)."""
    return _csv_line(CSV_HEADER)


def _opt(value) -> str:
    return "" if value is None else str(value)


def csv_row(frame: Frame, hostname: str) -> str:
    """One wide CSV row: host summary, then each active domain by id (warm-up values left empty)."""
    s, h = frame.summary, frame.host
    fields = [hostname, time.strftime("%H:%M:%S", time.localtime(frame.wall_time)), h.model or "",
              h.cpus, s.domains, s.running, s.blocked, s.paused, s.shutdown, s.shutoff, s.crashed, s.active,
              _opt(s.inactive), "" if s.cpu_pct is None else f"{s.cpu_pct:.1f}", _opt(s.host_memory_kib),
              s.total_memory_kib, s.guest_memory_kib, "" if frame.warmup else s.total_cpu_ns]
    for r in sorted(frame.rows, key=lambda r: r.id):
        fields += [r.id, r.name, _opt(r.cpu_delta_ns), "" if r.cpu_pct is None else f"{r.cpu_pct:.1f}",
                   r.mem_kib * 1024, "" if r.mem_pct is None else int(r.mem_pct), _opt(r.rd_req), _opt(r.wr_req),
                   _opt(r.rx_bytes), _opt(r.tx_bytes)]
    return _csv_line(fields)


def frame_json(frame: Frame) -> str:
    """One frame as a JSON line (stable keys) for ``--json``."""
    doc = {"sample": frame.number, "time": frame.wall_time, "warmup": frame.warmup, "host": asdict(frame.host),
           "summary": asdict(frame.summary),
           "domains": [{"id": r.id, "name": r.name, "uuid": r.uuid, "state": state_name(r.state),
                        "state_code": r.state, "cpu_time_ns": r.cpu_ns, "cpu_delta_ns": r.cpu_delta_ns,
                        "cpu_percent": r.cpu_pct, "memory_kib": r.mem_kib, "max_memory_kib": r.max_mem_kib,
                        "memory_percent": r.mem_pct, "vcpus": r.vcpus, "block_rd_req": r.rd_req,
                        "block_wr_req": r.wr_req, "net_rx_bytes": r.rx_bytes, "net_tx_bytes": r.tx_bytes}
                       for r in sorted(frame.rows, key=lambda r: r.id)]}
    return json.dumps(doc) + "\n"


def run_loop(sample, on_frame, *, iterations: int | None, delay: float, sleep=time.sleep,
             clock=time.monotonic, on_error=None) -> int:
    """Sample every ``delay`` seconds (deadline-based), ``iterations`` times or forever.

    Returns 0, or 1 when the last sample failed. A failed sample is reported through ``on_error``
    and the loop goes on: one bad interval does not end monitoring.
    """
    done, status = 0, 0
    deadline = clock()
    while iterations is None or done < iterations:
        try:
            on_frame(sample())
            status = 0
        except LibvirtError as e:
            status = 1
            (on_error or (lambda err: print(f"error: {err}", file=sys.stderr)))(e)
        done += 1
        if iterations is not None and done >= iterations:
            break
        deadline += delay
        pause = deadline - clock()
        if pause > 0:
            sleep(pause)
        else:
            deadline = clock()
    return status
