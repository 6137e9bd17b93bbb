"""Exact per-endpoint request counters of the simulated host, readable through the control socket."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["Counters"]


class Counters:
    """Thread-safe counters: XenD requests by ``"METHOD endpoint[ op]"`` and xenstore messages by type.

    XenD keys look like ``"GET /xend/domain/<x>"``, ``"GET /xend/domain?detail=1"``,
    ``"POST /xend/domain/<x> op=pause"``: the domain reference is folded into ``<x>`` so counts are
    per endpoint, not per domain. xenstore keys are the message type names (``"READ"``, ``"WATCH"``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._xend: Counter[str] = Counter()
        self._xs: Counter[str] = Counter()
        self._xl: Counter[str] = Counter()    # runs of the simulated ``xl`` by subcommand

    def count_xend(self, key: str) -> None:
        with self._lock:
            self._xend[key] += 1

    def count_xs(self, type_name: str) -> None:
        with self._lock:
            self._xs[type_name] += 1

    def count_xl(self, sub: str) -> None:
        with self._lock:
            self._xl[sub] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"xend": dict(self._xend), "xenstore": dict(self._xs), "xl": dict(self._xl),
                    "xend_total": sum(self._xend.values()), "xenstore_total": sum(self._xs.values()),
                    "xl_total": sum(self._xl.values())}

    def reset(self) -> None:
        with self._lock:
            self._xend.clear()
            self._xs.clear()
            self._xl.clear()
