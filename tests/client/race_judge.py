"""Judges client answers against the simulated host's event log: true at some instant of the call?

The log (``xvirt.sim.eventlog``) is replayed into timelines: per UUID (its record, None when the
host does not know it), per id (the UUID running under it), per name (the UUIDs holding it), the
set of running ids and the set of inactive names. A value that entry k made current may have been
visible from entry k's ``t0`` until the next change's ``t1``, so the values possible during a
call's window ``[start, end]`` are those whose interval meets it. An answer is wrong when no
possible value makes it true.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from xvirt.constants import DomainState
from xvirt.protocol import domtable as dt

PROMISE = "every answer is true at some instant during the call that returned it (DESIGN §2)"
ABSENT = object()  # a call's exception: NoDomainError


class Raised(str):
    """Any other error a call raised: never a true answer."""


class Timeline:
    """A value over time: ``changes`` of (t0, t1, value) in log order; ``initial`` before them."""

    __slots__ = ("t0s", "t1s", "values")

    def __init__(self, initial=None) -> None:
        self.t0s, self.t1s, self.values = [-math.inf], [-math.inf], [initial]

    def change(self, t0: float, t1: float, value) -> None:
        if value == self.values[-1]:
            return
        self.t0s.append(t0)
        self.t1s.append(t1)
        self.values.append(value)

    def possible(self, start: float, end: float) -> list:
        """Values that may have been current at some instant of [start, end]."""
        hi = bisect.bisect_right(self.t0s, end)                 # values that began by `end`
        # value k lasts until change k+1 has certainly happened (its t1); keep those reaching `start`
        lo = bisect.bisect_left(self.t1s, start, 1) - 1
        return self.values[lo:hi]


@dataclass
class History:
    by_uuid: dict = field(default_factory=dict)
    by_id: dict = field(default_factory=dict)
    by_name: dict = field(default_factory=dict)
    running_ids: Timeline = field(default_factory=lambda: Timeline(frozenset()))
    inactive_names: Timeline = field(default_factory=lambda: Timeline(frozenset()))
    id_owners: dict = field(default_factory=dict)   # id -> every UUID that ever ran under it
    stamps: list = field(default_factory=list)      # every entry's t1
    events: int = 0

    @classmethod
    def from_events(cls, events: list[dict]) -> "History":
        h = cls()
        current: dict[str, dict] = {}
        for e in events:
            t0, t1, uuid = e["t0"], e["t1"], e["uuid"]
            old = current.get(uuid)
            rec = {k: e[k] for k in ("domid", "name", "flags", "memory_kib", "maxmem_kib", "vcpus",
                                     "max_vcpus", "managed")} if e["present"] else None
            if rec is None:
                current.pop(uuid, None)
            else:
                current[uuid] = rec
            h.events += 1
            h.stamps.append(t1)
            h.by_uuid.setdefault(uuid, Timeline()).change(t0, t1, rec)
            old_id = old["domid"] if old else None
            new_id = rec["domid"] if rec else None
            if old_id != new_id:
                if old_id is not None:
                    h.by_id.setdefault(old_id, Timeline()).change(t0, t1, None)
                if new_id is not None:
                    h.by_id.setdefault(new_id, Timeline()).change(t0, t1, uuid)
                    h.id_owners.setdefault(new_id, set()).add(uuid)
                h.running_ids.change(t0, t1, frozenset(d["domid"] for d in current.values()
                                                       if d["domid"] is not None))
            old_name = old["name"] if old else None
            new_name = rec["name"] if rec else None
            for name in {old_name, new_name} - {None}:
                holders = frozenset(u for u, d in current.items() if d["name"] == name)
                h.by_name.setdefault(name, Timeline(frozenset())).change(t0, t1, holders)
            h.inactive_names.change(t0, t1, frozenset(d["name"] for d in current.values()
                                                      if d["domid"] is None))
        return h

    # -- what may have been true during [s, e] ---------------------------------------------------
    def records(self, uuid, s, e):
        return self.by_uuid.get(uuid, Timeline()).possible(s, e)

    def ids_reused(self) -> int:
        return sum(len(owners) - 1 for owners in self.id_owners.values())

    def changes_within(self, windows: list[tuple[float, float]]) -> int:
        """How many of ``windows`` had some log entry written inside them."""
        return sum(bisect.bisect_left(self.stamps, e) > bisect.bisect_right(self.stamps, s)
                   for s, e in windows)


def _state(rec) -> int:
    return DomainState.SHUTOFF if rec["domid"] is None else dt.state_of_flags(rec["flags"])


def _info_matches(rec, answer) -> bool:
    """(state, max_mem_kib, mem_kib, vcpus) of a running domain; the state of an inactive one."""
    if rec["domid"] is None:
        return answer[0] == DomainState.SHUTOFF
    return tuple(answer) == (_state(rec), rec["maxmem_kib"], rec["memory_kib"], rec["vcpus"])


def true_at_some_instant(h: History, call: str, arg, answer, s: float, e: float) -> tuple[bool, list]:
    """(whether some instant of [s, e] makes ``answer`` to ``call(arg)`` true, the possibilities)."""
    if isinstance(answer, Raised):
        return False, []
    if call == "lookup_by_id":
        seen = h.by_id.get(arg, Timeline()).possible(s, e)
        return (None if answer is ABSENT else answer) in seen, seen
    if call == "lookup_by_name":
        seen = h.by_name.get(arg, Timeline(frozenset())).possible(s, e)
        ok = any(not v for v in seen) if answer is ABSENT else any(answer in v for v in seen)
        return ok, [sorted(v) for v in seen]
    if call == "list_domain_ids":
        seen = h.running_ids.possible(s, e)
        return frozenset(answer) in seen and len(set(answer)) == len(answer), [sorted(v) for v in seen]
    if call == "list_defined_domains":
        seen = h.inactive_names.possible(s, e)
        return frozenset(answer) in seen and len(set(answer)) == len(answer), [sorted(v) for v in seen]
    # the rest are about one UUID
    seen = h.records(arg, s, e)
    if isinstance(answer, Raised):
        return False, seen
    if answer is ABSENT:
        return any(r is None for r in seen), seen
    present = [r for r in seen if r is not None]
    if call == "lookup_by_uuid":
        ok = answer == arg and bool(present)
    elif call == "id":
        ok = any((-1 if r["domid"] is None else r["domid"]) == answer for r in present)
    elif call == "name":
        ok = any(r["name"] == answer for r in present)
    elif call == "info":
        ok = any(_info_matches(r, answer) for r in present)
    elif call == "state":
        ok = any(_state(r) == answer for r in present)
    else:
        raise AssertionError(f"no rule to judge {call}")
    return ok, seen


def verdicts(h: History, answers: list) -> list[str]:
    """Descriptions of the answers no instant of their call makes true."""
    wrong = []
    for conn, call, arg, answer, s, e in answers:
        ok, seen = true_at_some_instant(h, call, arg, answer, s, e)
        if not ok:
            shown = "NoDomainError" if answer is ABSENT else repr(answer)
            wrong.append(f"[{conn}] {call}({arg!r}) -> {shown} during [{s:.6f}, {e:.6f}] "
                         f"({(e - s) * 1e3:.2f} ms); possible then: {seen!r}")
    return wrong
