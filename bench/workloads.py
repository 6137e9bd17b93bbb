"""The workloads W1-W4 over any session, with timing and W4's judging of answers (stdlib only: the libvirt child imports it too).

A *session* is one open connection of some strategy (``bench.strategies``, or libvirt in
``bench.peer_libvirt``) offering ``list_ids()``, ``lookup(id) -> Handle | None``,
``info(handle) -> Info`` (raises :class:`Gone`), ``name(handle)`` and ``bulk()``.

* **W1** ``virsh list``: list ids, then per id lookup -> info -> name.
* **W2** the 2006 monitor loop: 5 x (list ids, then per id lookup -> info); handles are dropped at
  the end of each iteration.
* **W3** one bulk stats call; **W3w** the same call asked a second time on the same connection
  (what an exporter polling every few seconds pays); only the second call is timed and counted.
* **W4** W2 while another client churns (``step(k, ids)`` runs between each listing and its
  lookups; a background churner may run too). Each answer is judged against the truth read just
  before and just after it (``holder(id)`` returns the set of UUIDs, or None for "no domain", that
  held the id at that instant):

  - a lookup answer (a UUID, or None for "not found") is *wrong* if it is in neither set;
  - an info answer is *wrong* if it describes another domain: the UUID of the record it came from
    when the strategy exposes it (the replays), else its memory sizes compared with the handle's
    domain (``signature``; every domain the churn creates gets a size no other domain has);
  - for a connection declared stale up to ``staleness`` seconds, a mismatching lookup whose answer
    held the id at some instant in ``[start - staleness, end]`` (``History.holders``) is counted as
    *stale* (allowed by its contract) instead of wrong.

Timed parts are only the session's calls (the truth reads and the churn steps are excluded).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Handle", "Info", "Gone", "Unsupported", "History", "ITERATIONS", "W4Stats", "run", "rep_policy"]

ITERATIONS = 5


def rep_policy(first_seconds: float, quick: bool, workload: str) -> int:
    """Repetitions in all, judged from the first one's time (W4 changes the host: once)."""
    if quick or workload == "W4":
        return 1
    if first_seconds <= 2.0:
        return 5
    if first_seconds <= 15.0:
        return 3
    return 1


class Gone(Exception):
    """The domain a handle refers to could not be found (a correct answer under churn)."""


class Unsupported(Exception):
    """The strategy has no such call (the 2006 code had no bulk stats call)."""


@dataclass
class Handle:
    uuid: str
    name: str | None
    id: int
    obj: Any = None


@dataclass
class Info:
    max_mem_kib: int
    mem_kib: int
    uuid: str | None = None  # the domain the answer describes, when the strategy can tell


class History:
    """Id changes made during a run: ``(t_start, t_end, id, old uuid, new uuid)``, monotonic seconds.

    Ids only change hands through the logged operations, and an id is never handed out twice in a
    run (the id rover moves forward), so the log answers "who held id i at some instant in [t0, t1]".
    """

    def __init__(self, initial: dict[int, str]) -> None:
        self.initial = dict(initial)
        self.events: list[tuple[float, float, int, str | None, str | None]] = []
        self._lock = threading.Lock()

    def record(self, t0: float, t1: float, domid: int, old: str | None, new: str | None) -> None:
        with self._lock:
            self.events.append((t0, t1, domid, old, new))

    def change(self, t0: float, t1: float, uuid: str, old_id: int | None, new_id: int | None) -> None:
        """``uuid`` moved from ``old_id`` to ``new_id`` (either may be None) during [t0, t1]."""
        if old_id == new_id:
            return
        if old_id is not None:
            self.record(t0, t1, old_id, uuid, None)
        if new_id is not None:
            self.record(t0, t1, new_id, None, uuid)

    def holders(self, domid: int, t_from: float, t_to: float) -> set:
        """Every UUID (None: nobody) that held ``domid`` at some instant in [t_from, t_to]."""
        with self._lock:
            events = sorted((e for e in self.events if e[2] == domid), key=lambda e: e[0])
        state = self.initial.get(domid)
        out: set = set()
        for t0, t1, _d, old, new in events:
            if t1 <= t_from:
                state = new
            elif t0 <= t_to:
                out.update((old, new))
        out.add(state)
        return out

    def final(self) -> dict[int, str]:
        with self._lock:
            events = sorted(self.events, key=lambda e: e[0])
        m = dict(self.initial)
        for _t0, _t1, domid, _old, new in events:
            if new is None:
                m.pop(domid, None)
            else:
                m[domid] = new
        return m




def spread_picks(k: int, listed: list[int], allowed: set[int], n_ops: int) -> list[int]:
    """The deterministic victims of churn step ``k``: ``n_ops`` distinct ids spread over the
    listing (ids still allowed), or over every allowed id when the listing has too few; [] when
    there are not enough guests. Both churners (xvirt's and the libvirt peer's) use it."""
    guests = sorted(i for i in listed if i in allowed)
    if len(guests) < n_ops:
        guests = sorted(allowed)
    if len(guests) < n_ops:
        return []
    picks: list[int] = []
    for j in range(n_ops):
        pos = (k * 5 + j * len(guests) // n_ops) % len(guests)
        while guests[pos] in picks:
            pos = (pos + 1) % len(guests)
        picks.append(guests[pos])
    return picks


class BackgroundChurn:
    """The background half of a churner: ``start_background(rate)`` runs ``churn_once(n)`` about
    ``rate`` times a second under ``self._lock`` until ``stop_background()``. Subclasses set
    ``self.rng`` and implement ``churn_once(n) -> bool`` (True when an operation ran)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def churn_once(self, n: int) -> bool:
        raise NotImplementedError

    def start_background(self, rate: float) -> None:
        if rate <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(1.0 / rate,), name="churn", daemon=True)
        self._thread.start()

    def stop_background(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self, period: float) -> None:
        n = 0
        while not self._stop.wait(period):
            with self._lock:
                if self.churn_once(n):
                    n += 1


@dataclass
class W4Stats:
    lookups: int = 0
    found: int = 0
    not_found: int = 0
    wrong_lookups: int = 0
    wrong_ghost: int = 0       # answered a domain for an id that nobody held
    wrong_other: int = 0       # answered a domain for an id that another domain held
    wrong_missed: int = 0      # answered "not found" for an id that a domain held
    stale_lookups: int = 0
    infos: int = 0
    info_gone: int = 0
    wrong_infos: int = 0
    unchecked_infos: int = 0
    errors: int = 0
    error_samples: list = field(default_factory=list)
    wrong_samples: list = field(default_factory=list)

    @property
    def wrong(self) -> int:
        return self.wrong_lookups + self.wrong_infos

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items()}
        d["wrong"] = self.wrong
        return d

    def error(self, e: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{type(e).__name__}: {e}")


def _w1(s, clock) -> dict:
    with clock:
        ids = s.list_ids()
    found = 0
    for i in ids:
        with clock:
            h = s.lookup(i)
            if h is not None:
                s.info(h)
                s.name(h)
        found += h is not None
    return {"listed": len(ids), "found": found}


def _w2(s, clock) -> dict:
    listed = found = 0
    for _ in range(ITERATIONS):
        with clock:
            ids = s.list_ids()
        listed += len(ids)
        for i in ids:
            with clock:
                h = s.lookup(i)
                if h is not None:
                    s.info(h)
            found += h is not None
            del h
    return {"listed": listed, "found": found}


def _w4(s, clock, *, step: Callable, holder: Callable, history: History | None,
        signature: Callable, staleness: float) -> dict:
    st = W4Stats()
    for k in range(1, ITERATIONS + 1):
        with clock:
            ids = s.list_ids()
        step(k, ids)
        for i in ids:
            before = holder(i)
            a0 = time.monotonic()
            try:
                with clock:
                    h = s.lookup(i)
            except Exception as e:  # noqa: BLE001 - a failure is an answer too; count it
                st.error(e)
                continue
            a1 = time.monotonic()
            after = holder(i)
            st.lookups += 1
            answer = h.uuid if h is not None else None
            if h is None:
                st.not_found += 1
            else:
                st.found += 1
            if answer not in before and answer not in after:
                if staleness > 0 and history is not None and answer in history.holders(i, a0 - staleness, a1):
                    st.stale_lookups += 1
                else:
                    st.wrong_lookups += 1
                    truths = before | after
                    if answer is None:
                        st.wrong_missed += 1
                    elif truths == {None}:
                        st.wrong_ghost += 1
                    else:
                        st.wrong_other += 1
                    if len(st.wrong_samples) < 5:
                        st.wrong_samples.append({"id": i, "answer": answer, "before": sorted(map(str, before)),
                                                 "after": sorted(map(str, after))})
            if h is None:
                continue
            st.infos += 1
            try:
                with clock:
                    inf = s.info(h)
            except Gone:
                st.info_gone += 1
                continue
            except Exception as e:  # noqa: BLE001
                st.error(e)
                continue
            if inf.uuid is not None:
                st.wrong_infos += inf.uuid != h.uuid
            else:
                sig = signature(h.uuid)
                if sig is None:
                    st.unchecked_infos += 1
                elif (inf.max_mem_kib, inf.mem_kib) != tuple(sig):
                    st.wrong_infos += 1
            del h
    return st.as_dict()


class Clock:
    """Sums the time spent inside ``with clock:`` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t = 0.0

    def __enter__(self) -> "Clock":
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds += time.perf_counter() - self._t


def run(session, workload: str, *, mark: Callable[[], None] = lambda: None, **w4) -> tuple[float, dict]:
    """Run ``workload`` on an open ``session``; ``mark()`` is called just before the measured
    part starts (the caller snapshots request counters there). Returns (seconds, details)."""
    clock = Clock()
    if workload == "W3w":
        session.bulk()  # the first call warms the connection up; not measured
    mark()
    if workload == "W1":
        detail = _w1(session, clock)
    elif workload == "W2":
        detail = _w2(session, clock)
    elif workload in ("W3", "W3w"):
        with clock:
            n = session.bulk()
        detail = {"listed": n, "found": n}
    elif workload == "W4":
        detail = _w4(session, clock, **w4)
    else:
        raise ValueError(workload)
    return clock.seconds, detail
