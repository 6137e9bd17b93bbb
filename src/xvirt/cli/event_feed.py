"""Domain events for the monitoring commands: a wake-up file descriptor and counts by event type.

``xvirt top`` puts ``fd`` in its ``select`` so a row is refreshed as soon as an event arrives
instead of at the next interval; the exporter counts events for ``xvirt_events_total{type=...}``
and drops a cached sample that an event made stale. Without the xenstore and hypervisor channels
(XenD-only URIs) the feed still opens but only sees this process's own operations.
"""

from __future__ import annotations

import os
import threading
import time

from ..errors import LibvirtError

__all__ = ["EventFeed"]


class EventFeed:
    def __init__(self, conn) -> None:
        from ..events import source_for
        self.counts: dict[str, int] = {}
        self.last_event_at = 0.0          # time.monotonic() of the latest event
        self.last = None                  # the latest DomainEvent
        self._lock = threading.Lock()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.source = None
        try:
            self.source = source_for(conn)
        except (LibvirtError, AttributeError, OSError):
            return  # no event source (or not an xvirt connection): the commands fall back to their interval
        self.source.subscribe(self._on_event)

    @property
    def fd(self) -> int:
        return self._r

    def _on_event(self, ev) -> None:
        key = ev.kind if ev.id else ev.event_name.lower()
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            self.last_event_at = time.monotonic()
            self.last = ev
        try:
            os.write(self._w, b"x")
        except OSError:
            pass

    def drain(self) -> bool:
        """Clear the wake-up; True if an event arrived since the last drain."""
        got = False
        try:
            while os.read(self._r, 4096):
                got = True
        except OSError:
            pass
        return got

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def close(self) -> None:
        if self.source is not None:
            self.source.unsubscribe(self._on_event)
            self.source = None
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
