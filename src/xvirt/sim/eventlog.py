"""The simulated host's own bounded log of every change of a domain's id, name or state, with times.

Each entry is the full observable record of one domain after a change (``present``: the host
knows it; ``domid`` None when it is not running or is dying, which clients treat as gone;
``name``, table ``flags``, memory, vcpus, ``managed``) and an interval ``[t0, t1]`` of
``time.monotonic()`` (CLOCK_MONOTONIC on Linux, comparable across processes) within which the
change became visible: ``t0`` is when the host lock section that made it began (no channel can
show it earlier), ``t1`` when the entry was written (every channel showed it by then). Race tests
replay the log to judge whether an answer was true at some instant of a call's window.

``TimedRLock`` is the host lock with the start time of the outermost section it is held for.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

__all__ = ["EventLog", "TimedRLock", "MAX_EVENTS", "MAX_REPLY"]

MAX_EVENTS = 1 << 16   # entries kept; older ones are dropped (readers see the gap via "first")
MAX_REPLY = 8192       # entries per read (one control-socket reply)


class TimedRLock:
    """A re-entrant lock that remembers when its current outermost holder acquired it."""

    __slots__ = ("_lock", "_depth", "since")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self.since = 0.0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        if self._depth == 0:
            self.since = time.monotonic()
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        self._lock.release()

    def __enter__(self) -> "TimedRLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class EventLog:
    """Entries numbered from 1 (``seq``); appended by the host under its lock, read by anyone."""

    def __init__(self, maxlen: int = MAX_EVENTS) -> None:
        self._entries: deque[dict] = deque(maxlen=maxlen)
        self._last: dict[str, tuple] = {}   # uuid -> last recorded record (to skip non-changes)
        self._seq = 0
        self._lock = threading.Lock()

    def note(self, record: dict, t0: float) -> None:
        """Record ``record`` (a domain's observable facts) unless it equals the last one for it."""
        key = tuple(record.values())
        uuid = record["uuid"]
        with self._lock:
            if self._last.get(uuid) == key:
                return
            if record["present"]:
                self._last[uuid] = key
            else:
                self._last.pop(uuid, None)  # bounded: forgotten domains leave no memory behind
            self._seq += 1
            self._entries.append({"seq": self._seq, "t0": t0, "t1": time.monotonic(), **record})

    def read(self, since: int = 0, limit: int = MAX_REPLY) -> dict:
        """Entries with ``seq > since`` (at most ``limit``): ``{"first", "last", "events"}``.

        ``first`` is the oldest seq still held: a reader whose ``since + 1 < first`` lost entries.
        """
        limit = max(1, min(int(limit), MAX_REPLY))
        with self._lock:
            first = self._entries[0]["seq"] if self._entries else self._seq + 1
            skip = max(0, since + 1 - first)
            out = list(itertools.islice(self._entries, skip, skip + limit))
            return {"first": first, "last": self._seq, "events": out}
