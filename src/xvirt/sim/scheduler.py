"""Deferred events of the simulated host (a guest reacting to shutdown, a dying domain being freed).

One thread runs callbacks at their due time. ``settle()`` waits until nothing is pending, so tests
and benchmarks can compare answers with a host that is not mid-transition.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable

__all__ = ["Scheduler"]


class Scheduler:
    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._stopped = False
        self._on_error = on_error
        self._thread = threading.Thread(target=self._loop, name="sim-scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn))
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._running

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no event is pending or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
                self._running += 1
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - one failed event must not stop the host
                if self._on_error:
                    self._on_error(e)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
