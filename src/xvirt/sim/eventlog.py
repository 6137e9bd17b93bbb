"""The simulated host's own log of lifecycle changes (what it did, in order), read over the control socket.

Each entry is a dict ``{"seq", "t", "op", "uuid", "name", "domid", ...}`` with ``t`` from
``time.monotonic()``; ``op`` is one of ``start`` (with ``cause`` create|start|restore|restart and
``paused``), ``pause``, ``unpause``, ``shutdown`` (the guest's ``code``), ``stop`` (``code``: None
for destroy, else the shutdown code it died with), ``define`` (``new``), ``undefine``, ``rename``
(``old``). Tests judge event delivery against it. The log is bounded: the oldest entries go first
and ``dropped`` counts them.
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["HostEventLog"]


class HostEventLog:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=max_entries)
        self._seq = 0
        self.dropped = 0

    def record(self, op: str, dom, **extra) -> None:
        with self._lock:
            self._seq += 1
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append({"seq": self._seq, "t": time.monotonic(), "op": op, "uuid": dom.uuid,
                                  "name": dom.name, "domid": dom.domid, **extra})

    def since(self, seq: int = 0, limit: int = 10_000) -> dict:
        """Entries with a sequence number above ``seq`` (at most ``limit``), oldest first."""
        with self._lock:
            out = [e for e in self._entries if e["seq"] > seq][:max(0, int(limit))]
            return {"entries": out, "last": self._seq, "dropped": self.dropped}
