"""Fault switches of the simulated host (XenD down, slow, malformed, dropped; xenstored slow)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["Faults"]


@dataclass
class Faults:
    """Mutable fault state shared by the servers; set through the control socket.

    * ``xend_down``: the XenD listeners refuse connections (socket file removed, TCP closed).
    * ``xend_extra_latency``: seconds added to every XenD reply (on top of the base latency).
    * ``xend_malformed``: the next N XenD replies carry a truncated, unparseable SXP body.
    * ``xend_drop``: the next N XenD connections are closed without any reply.
    * ``xs_delay``: seconds xenstored waits before answering each request.
    """

    xend_down: bool = False
    xend_extra_latency: float = 0.0
    xend_malformed: int = 0
    xend_drop: int = 0
    xs_delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        """Consume one unit of a countdown fault (``xend_malformed``/``xend_drop``)."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in
                ("xend_down", "xend_extra_latency", "xend_malformed", "xend_drop", "xs_delay")}

    def update(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                if k not in self.as_dict():
                    raise KeyError(f"unknown fault {k!r}")
                setattr(self, k, type(getattr(self, k))(v))
