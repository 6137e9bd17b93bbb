"""libvirt-python's event API for the facade: event loop registration, handles and timeouts, domain event and close callbacks.

Delivery follows libvirt's remote driver: events are produced on the connection's event source
thread (``xvirt.events``), queued, and a byte on a pipe makes the *registered event loop* (the
default one run by ``virEventRunDefaultImpl``, an application's own loop given to
``virEventRegisterImpl``, or asyncio through ``xvirt.libvirtaio``) call the callbacks, in order,
on the loop's thread. Callbacks receive a ``virDomain`` whose ``name()`` and ``ID()`` are those of
the moment of the event (libvirt's event domain is a snapshot too: ``ID()`` is -1 once stopped).
Event ids other than lifecycle and reboot are accepted and never fire (Xen 3.0.4 has no source
for them); so are network, storage pool, node device and secret event registrations.
"""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
from collections import deque

from . import events as _ev
from .errors import InternalError, InvalidArgError, LibvirtError

__all__ = ["virEventRegisterDefaultImpl", "virEventRunDefaultImpl", "virEventRegisterImpl",
           "virEventAddHandle", "virEventUpdateHandle", "virEventRemoveHandle", "virEventAddTimeout",
           "virEventUpdateTimeout", "virEventRemoveTimeout", "virEventInvokeFreeCallback",
           "virEventInvokeHandleCallback", "virEventInvokeTimeoutCallback", "install",
           "VIR_EVENT_HANDLE_READABLE", "VIR_EVENT_HANDLE_WRITABLE", "VIR_EVENT_HANDLE_ERROR",
           "VIR_EVENT_HANDLE_HANGUP", "VIR_CONNECT_CLOSE_REASON_ERROR", "VIR_CONNECT_CLOSE_REASON_EOF",
           "VIR_CONNECT_CLOSE_REASON_KEEPALIVE", "VIR_CONNECT_CLOSE_REASON_CLIENT",
           "VIR_DOMAIN_EVENT_ID_LAST", "VIR_NETWORK_EVENT_ID_LIFECYCLE",
           "VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE", "VIR_STORAGE_POOL_EVENT_ID_REFRESH",
           "VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE", "VIR_NODE_DEVICE_EVENT_ID_UPDATE",
           "VIR_SECRET_EVENT_ID_LIFECYCLE", "VIR_SECRET_EVENT_ID_VALUE_CHANGED",
           *[f"VIR_DOMAIN_EVENT_ID_{n}" for n in (
               "IO_ERROR_REASON", "CONTROL_ERROR", "BLOCK_JOB", "DISK_CHANGE", "TRAY_CHANGE", "PMWAKEUP",
               "PMSUSPEND", "BALLOON_CHANGE", "PMSUSPEND_DISK", "DEVICE_REMOVED", "BLOCK_JOB_2", "TUNABLE",
               "AGENT_LIFECYCLE", "DEVICE_ADDED", "MIGRATION_ITERATION", "JOB_COMPLETED",
               "DEVICE_REMOVAL_FAILED", "METADATA_CHANGE", "BLOCK_THRESHOLD", "MEMORY_FAILURE",
               "MEMORY_DEVICE_SIZE_CHANGE")]]

# libvirt-event.h / libvirt-host.h / libvirt-domain.h numbers
VIR_EVENT_HANDLE_READABLE, VIR_EVENT_HANDLE_WRITABLE, VIR_EVENT_HANDLE_ERROR, VIR_EVENT_HANDLE_HANGUP = 1, 2, 4, 8
VIR_CONNECT_CLOSE_REASON_ERROR, VIR_CONNECT_CLOSE_REASON_EOF = 0, 1
VIR_CONNECT_CLOSE_REASON_KEEPALIVE, VIR_CONNECT_CLOSE_REASON_CLIENT = 2, 3
VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON = 6
VIR_DOMAIN_EVENT_ID_CONTROL_ERROR = 7
VIR_DOMAIN_EVENT_ID_BLOCK_JOB = 8
VIR_DOMAIN_EVENT_ID_DISK_CHANGE = 9
VIR_DOMAIN_EVENT_ID_TRAY_CHANGE = 10
VIR_DOMAIN_EVENT_ID_PMWAKEUP = 11
VIR_DOMAIN_EVENT_ID_PMSUSPEND = 12
VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE = 13
VIR_DOMAIN_EVENT_ID_PMSUSPEND_DISK = 14
VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED = 15
VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2 = 16
VIR_DOMAIN_EVENT_ID_TUNABLE = 17
VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE = 18
VIR_DOMAIN_EVENT_ID_DEVICE_ADDED = 19
VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION = 20
VIR_DOMAIN_EVENT_ID_JOB_COMPLETED = 21
VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED = 22
VIR_DOMAIN_EVENT_ID_METADATA_CHANGE = 23
VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD = 24
VIR_DOMAIN_EVENT_ID_MEMORY_FAILURE = 25
VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE = 26
VIR_DOMAIN_EVENT_ID_LAST = 27
VIR_NETWORK_EVENT_ID_LIFECYCLE = 0
VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, VIR_STORAGE_POOL_EVENT_ID_REFRESH = 0, 1
VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, VIR_NODE_DEVICE_EVENT_ID_UPDATE = 0, 1
VIR_SECRET_EVENT_ID_LIFECYCLE, VIR_SECRET_EVENT_ID_VALUE_CHANGED = 0, 1


# -- the default event loop (what virEventRegisterDefaultImpl installs) -------------------------------
class _DefaultLoop:
    """A poll() loop with handles and timeouts; any thread may add or remove while one runs it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.handles: dict[int, list] = {}   # id -> [fd, events, cb, opaque]
        self.timers: dict[int, list] = {}    # id -> [interval_ms, cb, opaque, due (monotonic s)]
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def _interrupt(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def add_handle(self, fd: int, events: int, cb, opaque) -> int:
        with self._lock:
            hid = next(self._ids)
            self.handles[hid] = [int(fd), int(events), cb, opaque]
        self._interrupt()
        return hid

    def update_handle(self, hid: int, events: int) -> None:
        with self._lock:
            if hid in self.handles:
                self.handles[hid][1] = int(events)
        self._interrupt()

    def remove_handle(self, hid: int) -> int:
        with self._lock:
            found = self.handles.pop(hid, None)
        self._interrupt()
        return 0 if found is not None else -1

    def add_timeout(self, interval: int, cb, opaque) -> int:
        with self._lock:
            tid = next(self._ids)
            self.timers[tid] = [int(interval), cb, opaque, time.monotonic() + max(0, int(interval)) / 1000]
        self._interrupt()
        return tid

    def update_timeout(self, tid: int, interval: int) -> None:
        with self._lock:
            if tid in self.timers:
                t = self.timers[tid]
                t[0], t[3] = int(interval), time.monotonic() + max(0, int(interval)) / 1000
        self._interrupt()

    def remove_timeout(self, tid: int) -> int:
        with self._lock:
            found = self.timers.pop(tid, None)
        self._interrupt()
        return 0 if found is not None else -1

    def run_once(self) -> None:
        """One iteration: sleep until a handle is ready or a timeout is due, then dispatch."""
        now = time.monotonic()
        with self._lock:
            dues = [t[3] for t in self.timers.values() if t[0] >= 0]
            watched = [(hid, h[0], h[1]) for hid, h in self.handles.items() if h[1]]
        wait = None if not dues else max(0.0, min(dues) - now)
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        for _hid, fd, events in watched:
            mask = ((select.POLLIN if events & VIR_EVENT_HANDLE_READABLE else 0)
                    | (select.POLLOUT if events & VIR_EVENT_HANDLE_WRITABLE else 0))
            try:
                poller.register(fd, mask)
            except (OSError, ValueError):
                pass
        ready = dict(poller.poll(None if wait is None else wait * 1000))
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except OSError:
                pass
        for hid, fd, _events in watched:
            rev = ready.get(fd)
            if not rev:
                continue
            with self._lock:
                h = self.handles.get(hid)
            if h is None:
                continue
            got = ((VIR_EVENT_HANDLE_READABLE if rev & select.POLLIN else 0)
                   | (VIR_EVENT_HANDLE_WRITABLE if rev & select.POLLOUT else 0)
                   | (VIR_EVENT_HANDLE_ERROR if rev & (select.POLLERR | select.POLLNVAL) else 0)
                   | (VIR_EVENT_HANDLE_HANGUP if rev & select.POLLHUP else 0))
            h[2](hid, fd, got, h[3])
        now = time.monotonic()
        with self._lock:
            due = [(tid, t) for tid, t in self.timers.items() if t[0] >= 0 and t[3] <= now]
            for _tid, t in due:
                t[3] = now + t[0] / 1000
        for tid, t in due:
            with self._lock:
                alive = tid in self.timers
            if alive:
                t[1](tid, t[2])


_default: _DefaultLoop | None = None
_impl: tuple | None = None   # (addHandle, updateHandle, removeHandle, addTimeout, updateTimeout, removeTimeout)
_impl_lock = threading.Lock()


def virEventRegisterDefaultImpl() -> int:
    """Install the built-in event loop (run it with :func:`virEventRunDefaultImpl`)."""
    global _default, _impl
    with _impl_lock:
        if _default is None:
            _default = _DefaultLoop()
        d = _default
        _impl = (d.add_handle, d.update_handle, d.remove_handle, d.add_timeout, d.update_timeout,
                 d.remove_timeout)
    return 0


def virEventRunDefaultImpl() -> int:
    """Run one iteration of the default event loop (blocks until something happens)."""
    if _default is None:
        raise InternalError("virEventRunDefaultImpl: the default event loop is not registered")
    _default.run_once()
    return 0


def virEventRegisterImpl(addHandle, updateHandle, removeHandle, addTimeout, updateTimeout, removeTimeout) -> None:
    """Use an application's event loop: six callables with libvirt-python's signatures."""
    global _impl
    for f in (addHandle, updateHandle, removeHandle, addTimeout, updateTimeout, removeTimeout):
        if not callable(f):
            raise TypeError("virEventRegisterImpl: every argument must be callable")
    with _impl_lock:
        _impl = (addHandle, updateHandle, removeHandle, addTimeout, updateTimeout, removeTimeout)


def _need_impl(function: str) -> tuple:
    impl = _impl
    if impl is None:
        raise InternalError(f"{function}: no event loop is registered (call virEventRegisterDefaultImpl "
                            "or virEventRegisterImpl first)")
    return impl


def virEventAddHandle(fd: int, events: int, cb, opaque) -> int:
    """Watch ``fd`` in the registered loop; ``cb(watch, fd, events, opaque)``; returns the watch id."""
    if int(fd) < 0:
        raise InvalidArgError("virEventAddHandle: fd must be >= 0")
    hid = _need_impl("virEventAddHandle")[0](int(fd), int(events), cb, opaque)
    if hid is None or hid < 0:
        raise InternalError("virEventAddHandle: the event loop refused the handle")
    return hid


def virEventUpdateHandle(watch: int, events: int) -> None:
    _need_impl("virEventUpdateHandle")[1](int(watch), int(events))


def virEventRemoveHandle(watch: int) -> int:
    r = _need_impl("virEventRemoveHandle")[2](int(watch))
    return 0 if r is None else int(r)


def virEventAddTimeout(timeout: int, cb, opaque) -> int:
    """A timer firing every ``timeout`` ms (-1: disabled, 0: every iteration); ``cb(timer, opaque)``."""
    tid = _need_impl("virEventAddTimeout")[3](int(timeout), cb, opaque)
    if tid is None or tid < 0:
        raise InternalError("virEventAddTimeout: the event loop refused the timer")
    return tid


def virEventUpdateTimeout(timer: int, timeout: int) -> None:
    _need_impl("virEventUpdateTimeout")[4](int(timer), int(timeout))


def virEventRemoveTimeout(timer: int) -> int:
    r = _need_impl("virEventRemoveTimeout")[5](int(timer))
    return 0 if r is None else int(r)


def virEventInvokeHandleCallback(watch: int, fd: int, event: int, cb, opaque) -> int:
    """For loop implementations: call a handle callback libvirt gave them."""
    cb(watch, fd, event, opaque)
    return 0


def virEventInvokeTimeoutCallback(timer: int, cb, opaque) -> int:
    cb(timer, opaque)
    return 0


def virEventInvokeFreeCallback(opaque) -> int:
    """For loop implementations: release what a removed handle/timer held (nothing to free here)."""
    return 0


# -- per-connection delivery ---------------------------------------------------------------------
class _Dispatcher:
    """The loop side of one virConnect's events: a pipe handle in the registered loop."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.source = _ev.source_for(conn._o)
        # id -> (eventID, dom uuid | None, cb, opaque, legacy); dispatched in registration order
        self.callbacks: dict[int, tuple] = {}
        self.close_cb: tuple | None = None
        self.pending: deque = deque()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.watch = virEventAddHandle(self._r, VIR_EVENT_HANDLE_READABLE, self._readable, None)
        self.keepalive_timer: int | None = None
        self.closed_reason: int | None = None
        self.source.subscribe(self._push)
        self.source.on_close(self._push_close)

    def _poke(self) -> None:
        try:
            os.write(self._w, b"x")
        except OSError:
            pass

    def _push(self, event) -> None:         # on the source thread
        self.pending.append(event)
        self._poke()

    def _push_close(self, reason: int) -> None:
        self.pending.append(("close", reason))
        self._poke()

    def _readable(self, watch, fd, events, opaque) -> None:   # on the loop thread
        try:
            while os.read(self._r, 4096):
                pass
        except OSError:
            pass
        while self.pending:
            self._dispatch(self.pending.popleft())

    def _dispatch(self, item) -> None:
        conn = self.conn
        if isinstance(item, tuple):
            self._closed(item[1])
            return
        dom = None
        for _cid, (eid, want, cb, opaque, _legacy) in list(self.callbacks.items()):
            if eid != item.id or (want is not None and want != item.uuid):
                continue
            dom = dom or _event_domain(conn, item)
            try:
                if eid == _ev.ID_LIFECYCLE:
                    cb(conn, dom, item.event, item.detail, opaque)
                else:
                    cb(conn, dom, opaque)
            except Exception:  # noqa: BLE001 - libvirt-python prints callback errors and goes on
                import traceback
                traceback.print_exc()

    def _closed(self, reason: int) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        cb = self.close_cb
        if cb is not None and reason != VIR_CONNECT_CLOSE_REASON_CLIENT:
            try:
                cb[0](self.conn, reason, cb[1])
            except Exception:  # noqa: BLE001
                import traceback
                traceback.print_exc()

    def keepalive(self, interval: int, count: int) -> None:
        """Every ``interval`` s check the host answers; ``count`` misses in a row close with KEEPALIVE."""
        misses = [0]
        if self.keepalive_timer is not None:
            virEventRemoveTimeout(self.keepalive_timer)
            self.keepalive_timer = None
        if interval <= 0:
            return

        def tick(timer, opaque) -> None:
            o = self.conn._o
            if o is None or self.closed_reason is not None:
                return
            misses[0] = 0 if o.is_alive() else misses[0] + 1
            if misses[0] > count:
                self.source.close(_ev.CLOSE_REASON_KEEPALIVE)
        self.keepalive_timer = virEventAddTimeout(interval * 1000, tick, None)

    def idle(self) -> bool:
        return not self.callbacks and self.close_cb is None

    def shutdown(self) -> None:
        self.source.unsubscribe(self._push)
        for remove, ident in ((virEventRemoveHandle, self.watch), (virEventRemoveTimeout, self.keepalive_timer)):
            if ident is not None:
                try:
                    remove(ident)
                except LibvirtError:
                    pass


def _event_domain(conn, ev):
    from ._libvirt_objects import virDomain

    class _EventDomain(virDomain):
        """The domain of an event: name and id as they were at that moment."""

        def name(self) -> str:
            return ev.name

        def ID(self) -> int:
            return ev.domid

    return _EventDomain(conn, conn._conn("virConnectDomainEventRegisterAny")._domain(ev.uuid))


def _dispatcher(conn, function: str) -> _Dispatcher:
    conn._conn(function)
    d = getattr(conn, "_events", None)
    if d is None:
        _need_impl(function)
        d = conn._events = _Dispatcher(conn)
    return d


_ids = itertools.count(0)


# -- the virConnect methods ------------------------------------------------------------------------
def domainEventRegister(self, cb, opaque) -> int:
    """Legacy lifecycle callback ``cb(conn, dom, event, detail, opaque)``."""
    if not callable(cb):
        raise InvalidArgError("domainEventRegister: callback must be callable")
    _dispatcher(self, "virConnectDomainEventRegister").callbacks[next(_ids)] = (_ev.ID_LIFECYCLE, None, cb, opaque, True)
    return 0


def domainEventDeregister(self, cb) -> int:
    d = _dispatcher(self, "virConnectDomainEventDeregister")
    for cid, entry in list(d.callbacks.items()):
        if entry[4] and entry[2] == cb:
            del d.callbacks[cid]
            return 0
    raise InvalidArgError("virConnectDomainEventDeregister: callback not registered")


def domainEventRegisterAny(self, dom, eventID: int, cb, opaque) -> int:
    """``cb(conn, dom, event, detail, opaque)`` for lifecycle, ``cb(conn, dom, opaque)`` for reboot;
    other event ids register and never fire. Returns the callback id."""
    eid = int(eventID)
    if not 0 <= eid < VIR_DOMAIN_EVENT_ID_LAST:
        raise InvalidArgError(f"virConnectDomainEventRegisterAny: unsupported event ID {eid}")
    if not callable(cb):
        raise InvalidArgError("virConnectDomainEventRegisterAny: callback must be callable")
    d = _dispatcher(self, "virConnectDomainEventRegisterAny")
    cid = next(_ids)
    d.callbacks[cid] = (eid, dom.UUIDString() if dom is not None else None, cb, opaque, False)
    return cid


def domainEventDeregisterAny(self, callbackID: int) -> int:
    d = _dispatcher(self, "virConnectDomainEventDeregisterAny")
    entry = d.callbacks.get(int(callbackID))
    if entry is None or entry[4]:
        raise InvalidArgError(f"virConnectDomainEventDeregisterAny: callback {callbackID} not registered")
    del d.callbacks[int(callbackID)]
    return 0


def _other_register(kind: str, last: int):
    def register(self, obj, eventID: int, cb, opaque) -> int:
        if not 0 <= int(eventID) < last:
            raise InvalidArgError(f"virConnect{kind}EventRegisterAny: unsupported event ID {eventID}")
        d = _dispatcher(self, f"virConnect{kind}EventRegisterAny")
        cid = next(_ids)
        d.others = getattr(d, "others", set()) | {cid}
        return cid

    def deregister(self, callbackID: int) -> int:
        d = _dispatcher(self, f"virConnect{kind}EventDeregisterAny")
        others = getattr(d, "others", set())
        if int(callbackID) not in others:
            raise InvalidArgError(f"virConnect{kind}EventDeregisterAny: callback {callbackID} not registered")
        others.discard(int(callbackID))
        return 0
    register.__doc__ = f"Accepted for compatibility: Xen has no {kind.lower()} events here, it never fires."
    return register, deregister


def registerCloseCallback(self, cb, opaque) -> int:
    """``cb(conn, reason, opaque)`` once when the host goes away (EOF) or keepalive fails."""
    if not callable(cb):
        raise InvalidArgError("virConnectRegisterCloseCallback: callback must be callable")
    d = _dispatcher(self, "virConnectRegisterCloseCallback")
    if d.close_cb is not None:
        raise InvalidArgError("virConnectRegisterCloseCallback: a close callback is already registered")
    d.close_cb = (cb, opaque)
    return 0


def unregisterCloseCallback(self) -> int:
    d = _dispatcher(self, "virConnectUnregisterCloseCallback")
    if d.close_cb is None:
        raise InvalidArgError("virConnectUnregisterCloseCallback: no close callback is registered")
    d.close_cb = None
    return 0


def setKeepAlive(self, interval: int, count: int) -> int:
    """Probe the host every ``interval`` s from the event loop; ``count`` misses close the connection
    with ``VIR_CONNECT_CLOSE_REASON_KEEPALIVE``. ``interval <= 0`` turns probing off."""
    if int(count) < 0:
        raise InvalidArgError("virConnectSetKeepAlive: count must be >= 0")
    _dispatcher(self, "virConnectSetKeepAlive").keepalive(int(interval), int(count))
    return 0


def _close_events(conn) -> None:
    d = getattr(conn, "_events", None)
    if d is not None:
        conn._events = None
        d.shutdown()


def install(virConnect) -> None:
    """Give ``virConnect`` the event methods (kept here so the facade's class stays small)."""
    for fn in (domainEventRegister, domainEventDeregister, domainEventRegisterAny, domainEventDeregisterAny,
               registerCloseCallback, unregisterCloseCallback, setKeepAlive):
        setattr(virConnect, fn.__name__, fn)
    for kind, attr, last in (("Network", "network", 1), ("StoragePool", "storagePool", 2),
                             ("NodeDevice", "nodeDevice", 2), ("Secret", "secret", 2)):
        reg, dereg = _other_register(kind, last)
        setattr(virConnect, f"{attr}EventRegisterAny", reg)
        setattr(virConnect, f"{attr}EventDeregisterAny", dereg)
    original_close = virConnect.close

    def close(self) -> int:
        if self._o is not None:
            _close_events(self)
        return original_close(self)
    close.__doc__ = original_close.__doc__
    virConnect.close = close
