"""asyncio integration for the facade's event API, with the shape of libvirt-python's ``libvirtaio``.

``virEventRegisterAsyncIOImpl(loop=None)`` makes an asyncio loop the event loop the facade uses:
handles become ``loop.add_reader``/``add_writer`` callbacks and timeouts ``loop.call_later``
chains; it returns the implementation object (also ``getCurrentImpl()``), whose ``drain()``
waits until no callback is pending and ``is_idle()`` says whether that is already so. The loop may
run in another thread: registration from any thread goes through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

from . import _libvirt_events as _ev

__all__ = ["virEventAsyncIOImpl", "virEventRegisterAsyncIOImpl", "getCurrentImpl"]


class virEventAsyncIOImpl:
    """Handles and timeouts of the facade on one asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = asyncio.get_event_loop_policy().get_event_loop()
        self.loop = loop
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.callbacks: dict[int, list] = {}   # id -> ["handle", fd, events, cb, opaque] | ["timer", ms, cb, opaque, TimerHandle]
        self._pending = 0
        self._idle = asyncio.Event() if self._in_loop() else None

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def _call(self, fn, *args) -> None:
        if self._in_loop():
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def register(self) -> "virEventAsyncIOImpl":
        _ev.virEventRegisterImpl(self._add_handle, self._update_handle, self._remove_handle,
                                 self._add_timeout, self._update_timeout, self._remove_timeout)
        return self

    def is_idle(self) -> bool:
        """True when no callback scheduled by this implementation is waiting to run."""
        return self._pending == 0

    async def drain(self) -> None:
        """Wait until every callback already scheduled has run."""
        while self._pending:
            await asyncio.sleep(0)

    # -- handles
    def _add_handle(self, fd: int, events: int, cb, opaque) -> int:
        hid = next(self._ids)
        with self._lock:
            self.callbacks[hid] = ["handle", fd, 0, cb, opaque]
        self._call(self._set_events, hid, events)
        return hid

    def _fire_handle(self, hid: int, got: int) -> None:
        entry = self.callbacks.get(hid)
        if entry is not None:
            entry[3](hid, entry[1], got, entry[4])

    def _set_events(self, hid: int, events: int) -> None:
        entry = self.callbacks.get(hid)
        if entry is None:
            return
        fd, old = entry[1], entry[2]
        if old & _ev.VIR_EVENT_HANDLE_READABLE:
            self.loop.remove_reader(fd)
        if old & _ev.VIR_EVENT_HANDLE_WRITABLE:
            self.loop.remove_writer(fd)
        entry[2] = events
        if events & _ev.VIR_EVENT_HANDLE_READABLE:
            self.loop.add_reader(fd, self._fire_handle, hid, _ev.VIR_EVENT_HANDLE_READABLE)
        if events & _ev.VIR_EVENT_HANDLE_WRITABLE:
            self.loop.add_writer(fd, self._fire_handle, hid, _ev.VIR_EVENT_HANDLE_WRITABLE)

    def _update_handle(self, hid: int, events: int) -> None:
        self._call(self._set_events, hid, events)

    def _remove_handle(self, hid: int) -> int:
        def remove() -> None:
            self._set_events(hid, 0)
            with self._lock:
                self.callbacks.pop(hid, None)
        if hid not in self.callbacks:
            return -1
        self._call(remove)
        return 0

    # -- timeouts
    def _add_timeout(self, interval: int, cb, opaque) -> int:
        tid = next(self._ids)
        with self._lock:
            self.callbacks[tid] = ["timer", -1, cb, opaque, None]
        self._call(self._arm, tid, interval)
        return tid

    def _arm(self, tid: int, interval: int) -> None:
        entry = self.callbacks.get(tid)
        if entry is None:
            return
        if entry[4] is not None:
            entry[4].cancel()
            entry[4] = None
            self._pending -= 1
        entry[1] = interval
        if interval >= 0:
            self._pending += 1
            entry[4] = self.loop.call_later(interval / 1000, self._fire_timer, tid)

    def _fire_timer(self, tid: int) -> None:
        entry = self.callbacks.get(tid)
        if entry is None:
            return
        entry[4] = None
        self._pending -= 1
        entry[2](tid, entry[3])
        entry = self.callbacks.get(tid)
        if entry is not None and entry[4] is None and entry[1] >= 0:  # periodic, as libvirt's timeouts
            self._arm(tid, entry[1])

    def _update_timeout(self, tid: int, interval: int) -> None:
        self._call(self._arm, tid, interval)

    def _remove_timeout(self, tid: int) -> int:
        def remove() -> None:
            self._arm(tid, -1)
            with self._lock:
                self.callbacks.pop(tid, None)
        if tid not in self.callbacks:
            return -1
        self._call(remove)
        return 0


_current: virEventAsyncIOImpl | None = None


def getCurrentImpl() -> virEventAsyncIOImpl | None:
    return _current


def virEventRegisterAsyncIOImpl(*, loop: asyncio.AbstractEventLoop | None = None) -> virEventAsyncIOImpl:
    """Make ``loop`` (default: the current one) the facade's event loop; returns the implementation."""
    global _current
    _current = virEventAsyncIOImpl(loop=loop).register()
    return _current
