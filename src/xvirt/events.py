"""Domain lifecycle events: what Xen pushes (xenstore watches) and the hypervisor table, as libvirt's events.

Theory of operation
-------------------
Xen tells a watcher *that* something happened, never *what*: xenstored fires ``@introduceDomain``
when a domain appears, ``@releaseDomain`` when one shuts down or dies, and a watch on
``/local/domain`` fires for every node a domain's toolstack writes (its name among them). An
:class:`EventSource` keeps its own xenstore connection with those watches and, after each batch of
watch events (and whenever the hypervisor table's sequence counter moved, checked every
``poll_interval``), reads the whole table once and hands it to a :class:`Tracker`. The tracker
compares each record with what it saw last for that id and emits libvirt lifecycle events:

==========================================  ====================================================
what the table shows                        events
==========================================  ====================================================
a new id (running)                          STARTED BOOTED (RESTORED if the UUID was last seen
                                            SAVED); then REBOOT if it was last seen rebooting
a new id (paused: xend creates paused)      STARTED BOOTED; the first unpause is part of the
                                            creation and gives no RESUMED
running -> paused / paused -> running       SUSPENDED PAUSED / RESUMED UNPAUSED (not while the
                                            name is ``migrating-*``: that is a save)
shutdown flag, reason poweroff or reboot    SHUTDOWN FINISHED
shutdown flag, reason crash                 CRASHED PANICKED
dying (or gone), by its shutdown reason     STOPPED SHUTDOWN / SAVED (suspend) / CRASHED; no
                                            shutdown flag: STOPPED DESTROYED
the name under a live id changed            UNDEFINED RENAMED (old name), DEFINED RENAMED
==========================================  ====================================================

Each event carries the UUID, the name and the id of that moment (-1 once stopped, as libvirt's
``dom.ID()`` gives for a STOPPED event). Events for one domain come out in the order the table
went through its states; the source thread is the only producer, so the order is total.

What no push channel of Xen 3.0.4 reports is learnt from this process's own operations (the
driver tells :func:`note_op` after each successful XenD POST): pause/unpause (the table poll
would miss a pause and unpause by another program that both fall between two reads),
define/undefine/rename of inactive domains (they live only in XenD's files). Notes go through the
same tracker, so an operation seen both ways gives one event. Events of other programs' pause,
unpause, define and undefine are *not* guaranteed; docs/events.md lists what each channel gives.

libxl pauses a domain before it destroys it; on such a host a pause seen only in the records is
held back (``PAUSE_HOLD``, longer while watch events show the domain's devices going) and dropped
if the domain dies meanwhile, so a destroy is STOPPED DESTROYED alone, as libvirt reports it.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass

from .errors import LibvirtError, NoConnectError
from .protocol import domtable as dt

__all__ = ["DomainEvent", "EventSource", "Tracker", "note_op", "EVENT_NAMES", "DETAIL_NAMES",
           "ID_LIFECYCLE", "ID_REBOOT", "CLOSE_REASON_ERROR", "CLOSE_REASON_EOF",
           "CLOSE_REASON_KEEPALIVE", "CLOSE_REASON_CLIENT"]

# virDomainEventID (libvirt include/libvirt/libvirt-domain.h)
ID_LIFECYCLE, ID_REBOOT = 0, 1
# virDomainEventType and details
DEFINED, UNDEFINED, STARTED, SUSPENDED, RESUMED, STOPPED, SHUTDOWN, PMSUSPENDED, CRASHED = range(9)
DEFINED_ADDED, DEFINED_UPDATED, DEFINED_RENAMED = 0, 1, 2
UNDEFINED_REMOVED, UNDEFINED_RENAMED = 0, 1
STARTED_BOOTED, STARTED_MIGRATED, STARTED_RESTORED = 0, 1, 2
SUSPENDED_PAUSED = 0
RESUMED_UNPAUSED = 0
STOPPED_SHUTDOWN, STOPPED_DESTROYED, STOPPED_CRASHED, STOPPED_MIGRATED, STOPPED_SAVED = 0, 1, 2, 3, 4
SHUTDOWN_FINISHED = 0
CRASHED_PANICKED = 0
# virConnectCloseReason
CLOSE_REASON_ERROR, CLOSE_REASON_EOF, CLOSE_REASON_KEEPALIVE, CLOSE_REASON_CLIENT = 0, 1, 2, 3

# virsh's words (tools/virsh-domain-event.c)
EVENT_NAMES = ("Defined", "Undefined", "Started", "Suspended", "Resumed", "Stopped", "Shutdown",
               "PMSuspended", "Crashed")
DETAIL_NAMES = (("Added", "Updated", "Renamed", "Snapshot"), ("Removed", "Renamed"),
                ("Booted", "Migrated", "Restored", "Snapshot", "Event wakeup"),
                ("Paused", "Migrated", "I/O Error", "Watchdog", "Restored", "Snapshot", "API error"),
                ("Unpaused", "Migrated", "Snapshot"),
                ("Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "Snapshot"),
                ("Finished", "Finished after guest request", "Finished after host request"),
                ("Memory", "Disk"), ("Panicked", "Crashloaded"))

_SAVING_PREFIX = "migrating-"
# How long a pause seen only in the records is held back where the toolstack pauses before it
# destroys (libxl), and how long once the domain's devices are being taken down meanwhile (libxl
# waits up to 10 s per device for its backend, LIBXL_DESTROY_TIMEOUT in libxl_internal.h).
PAUSE_HOLD = 1.0
TEARDOWN_HOLD = 30.0


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One domain event: ``id`` is libvirt's event id (0 lifecycle, 1 reboot)."""

    id: int
    event: int            # virDomainEventType (lifecycle); -1 for a reboot event
    detail: int
    uuid: str
    name: str
    domid: int            # the id at that moment; -1 when the domain is not running
    seq: int = 0          # position in this source's stream
    timestamp: float = 0.0  # time.time() when the source noticed it

    @property
    def kind(self) -> str:
        return "lifecycle" if self.id == ID_LIFECYCLE else "reboot"

    @property
    def event_name(self) -> str:
        return EVENT_NAMES[self.event] if 0 <= self.event < len(EVENT_NAMES) else "unknown"

    @property
    def detail_name(self) -> str:
        names = DETAIL_NAMES[self.event] if 0 <= self.event < len(DETAIL_NAMES) else ()
        return names[self.detail] if 0 <= self.detail < len(names) else "unknown"

    def virsh_line(self, timestamp: bool = False) -> str:
        """The line ``virsh event`` prints for this event (without the newline)."""
        if self.id == ID_LIFECYCLE:
            text = f"event 'lifecycle' for domain '{self.name}': {self.event_name} {self.detail_name}"
        else:
            text = f"event '{self.kind}' for domain '{self.name}'"
        if timestamp:
            t = time.gmtime(self.timestamp)
            ms = int(self.timestamp * 1000) % 1000
            text = time.strftime("%Y-%m-%d %H:%M:%S", t) + f".{ms:03d}+0000: " + text
        return text


# -- the tracker (no I/O) --------------------------------------------------------------------------
@dataclass(slots=True)
class _Seen:
    uuid: str
    name: str
    domid: int
    flags: int
    fresh: bool = False       # appeared paused and has not run yet (xend creates paused)
    saving: bool = False      # paused under a migrating-* name: a save, not a user pause
    told_shutdown: bool = False


def _base_name(name: str) -> str:
    return name[len(_SAVING_PREFIX):] if name.startswith(_SAVING_PREFIX) else name


class Tracker:
    """Turns successive table snapshots (and operation notes) into events; pure, no I/O.

    Raw events are tuples ``(id, event, detail, uuid, name, domid)``.
    """

    def __init__(self, max_memory: int = 65536, *, hold_pauses: float = 0.0) -> None:
        self.known: dict[int, _Seen] = {}
        self.by_uuid: dict[str, int] = {}
        self._last_stop: OrderedDict[str, int] = OrderedDict()  # uuid -> STOPPED detail (or -2 reboot)
        self._defined: OrderedDict[str, str] = OrderedDict()     # uuids known to be defined -> name
        self._max = max_memory
        self._dead: dict[int, str] = {}           # dying records already reported as stopped
        self._names: dict[str, str] = {}          # uuid -> last name seen (for a domain seen only dying)
        # new domains seen before their name: libxl introduces a domain, then writes its name
        # (a STARTED event without a name would be no use); domid -> (uuid, flags)
        self._nameless: dict[int, tuple[str, int]] = {}
        # a pause seen only in the records, held back: libxl pauses a domain before it destroys it
        # (libxl__destroy_domid), and that pause is part of the destroy, not a SUSPENDED event.
        # domid -> [raw event, deadline]; released when the deadline passes or anything else
        # happens to the domain, dropped when it dies first (see hold_pauses)
        self._held: dict[int, list] = {}
        self._destroying: dict[str, float] = {}   # uuid -> deadline: this process is destroying it
        self.hold_pauses = hold_pauses   # seconds a records-only pause is held (0: told at once)
        self.teardown_hold = TEARDOWN_HOLD
        self._torn: dict[int, float] = {}          # domid -> when its devices were last seen going
        self.now = 0.0               # the caller's clock at the current input
        self.primed = False

    # -- helpers
    def _remember_stop(self, uuid: str, how: int) -> None:
        self._last_stop[uuid] = how
        self._last_stop.move_to_end(uuid)
        while len(self._last_stop) > self._max:
            self._last_stop.popitem(last=False)

    def _forget(self, seen: _Seen) -> None:
        self.known.pop(seen.domid, None)
        if self.by_uuid.get(seen.uuid) == seen.domid:
            del self.by_uuid[seen.uuid]

    def _shutdown_events(self, seen: _Seen, flags: int, out: list) -> None:
        if seen.told_shutdown or not flags & dt.SHUTDOWN:
            return
        code = (flags >> dt.SHUTDOWN_SHIFT) & 0xFF
        seen.told_shutdown = True
        name = _base_name(seen.name)
        if code in (dt.SHUTDOWN_POWEROFF, dt.SHUTDOWN_REBOOT):
            out.append((ID_LIFECYCLE, SHUTDOWN, SHUTDOWN_FINISHED, seen.uuid, name, seen.domid))
        elif code == dt.SHUTDOWN_CRASH:
            out.append((ID_LIFECYCLE, CRASHED, CRASHED_PANICKED, seen.uuid, name, seen.domid))

    def _stop(self, seen: _Seen, flags: int, out: list) -> None:
        """The instance ``seen`` is gone (``flags``: its dying record, or what we saw last)."""
        if not flags & dt.SHUTDOWN or seen.flags & dt.SHUTDOWN:
            self._held.pop(seen.domid, None)   # the pause was the destroy's first step
        else:
            self._release(seen.domid, out)     # it shut down after the pause: both happened
        self._destroying.pop(seen.uuid, None)
        self._shutdown_events(seen, flags, out)
        if flags & dt.SHUTDOWN:
            code = (flags >> dt.SHUTDOWN_SHIFT) & 0xFF
            detail = {dt.SHUTDOWN_SUSPEND: STOPPED_SAVED, dt.SHUTDOWN_CRASH: STOPPED_CRASHED}.get(code, STOPPED_SHUTDOWN)
            self._remember_stop(seen.uuid, -2 if code == dt.SHUTDOWN_REBOOT else detail)
        else:  # a save whose dying record we missed still went away under xend's migrating-* name
            detail = STOPPED_SAVED if seen.saving or seen.name.startswith(_SAVING_PREFIX) else STOPPED_DESTROYED
            self._remember_stop(seen.uuid, detail)
        out.append((ID_LIFECYCLE, STOPPED, detail, seen.uuid, _base_name(seen.name), -1))
        self._names[seen.uuid] = _base_name(seen.name)
        self._dead[seen.domid] = seen.uuid
        self._forget(seen)

    def _start(self, info: dt.DomainInfo, name: str, out: list, *, restored: bool = False) -> None:
        how = self._last_stop.pop(info.uuid, None)
        detail = STARTED_RESTORED if restored or how == STOPPED_SAVED else STARTED_BOOTED
        paused = bool(info.flags & dt.PAUSED) and not info.flags & dt.SHUTDOWN
        seen = _Seen(info.uuid, name, info.domid, info.flags, fresh=paused)
        self.known[info.domid] = seen
        self.by_uuid[info.uuid] = info.domid
        out.append((ID_LIFECYCLE, STARTED, detail, info.uuid, _base_name(name), info.domid))
        if how == -2:
            out.append((ID_REBOOT, -1, 0, info.uuid, _base_name(name), info.domid))
        self._shutdown_events(seen, info.flags, out)

    # -- input: a table snapshot
    def observe(self, infos: list[dt.DomainInfo], names: dict[int, str | None], *,
                now: float | None = None, teardown: set[int] = frozenset()) -> list[tuple]:
        """Compare a whole-table snapshot with what was seen; ``names`` has a fresh name read for
        every id that is new or whose name may have changed (missing: keep the old one);
        ``teardown``: ids whose devices xenstore showed being taken down since the last snapshot."""
        if now is not None:
            self.now = now
        for domid in teardown:
            self._torn[domid] = self.now
        out: list[tuple] = []
        if not self.primed:  # the state at subscription time is a baseline, not news
            for info in infos:
                if not info.flags & dt.DYING:
                    self.known[info.domid] = _Seen(info.uuid, names.get(info.domid) or "", info.domid,
                                                   info.flags, told_shutdown=bool(info.flags & dt.SHUTDOWN))
                    self.by_uuid[info.uuid] = info.domid
                else:
                    self._dead[info.domid] = info.uuid   # died before we came: not news either
            self.primed = True
            return out
        current = {i.domid: i for i in infos}
        for domid in [d for d in self._dead if d not in current]:  # freed by the hypervisor
            del self._dead[domid]
        if len(self._names) > self._max:
            self._names.clear()
        for domid in [d for d in self._nameless if d not in current]:  # came and went, never named
            uuid, _flags = self._nameless.pop(domid)
            out.append((ID_LIFECYCLE, STARTED, STARTED_BOOTED, uuid, "", domid))
            out.append((ID_LIFECYCLE, STOPPED, STOPPED_DESTROYED, uuid, "", -1))
        for domid in [d for d in self.known if d not in current]:  # vanished between two reads
            seen = self.known[domid]
            self._stop(seen, seen.flags, out)
        for info in infos:
            seen = self.known.get(info.domid)
            if seen is not None and seen.uuid != info.uuid:  # the id now holds another domain
                self._stop(seen, seen.flags, out)
                seen = None
            dying = bool(info.flags & dt.DYING)
            if seen is None:
                pending = self._nameless.pop(info.domid, None)
                if pending is not None and pending[0] != info.uuid:
                    pending = None
                if not dying and not names.get(info.domid) and (pending is None or pending[1] == info.flags):
                    # no name yet: wait for the name's watch event (or a change of state, then
                    # the start is told without a name)
                    self._nameless[info.domid] = (info.uuid, info.flags)
                    continue
                if dying:
                    if self._dead.get(info.domid) != info.uuid:
                        # it started and died between two reads: both happened, say both
                        name = self._names.get(info.uuid, "")
                        self._start(info, name, out)
                        self._stop(self.known[info.domid], info.flags, out)
                    continue
                self._dead.pop(info.domid, None)
                self._start(info, names.get(info.domid) or "", out)
                continue
            name = names.get(info.domid)
            if name and name != seen.name:
                self._renamed(seen, name, out)
            if dying:
                self._stop(seen, info.flags, out)
                continue
            self._transition(seen, info.flags, out)
        for domid in teardown:
            held = self._held.get(domid)
            if held is not None:
                held[1] = max(held[1], self.now + self.teardown_hold)
        for domid in [d for d in self._torn if d not in current or self.now - self._torn[d] > self.teardown_hold]:
            del self._torn[domid]
        return out

    def tick(self, now: float) -> list[tuple]:
        """Held pauses whose time is up (the domain lived on: the pause was the user's)."""
        self.now = now
        out: list[tuple] = []
        for domid in [d for d, (_raw, deadline) in self._held.items() if deadline <= now]:
            self._release(domid, out)
        for uuid in [u for u, deadline in self._destroying.items() if deadline <= now]:
            del self._destroying[uuid]
        return out

    def _renamed(self, seen: _Seen, name: str, out: list) -> None:
        old, seen.name = seen.name, name
        if old.startswith(_SAVING_PREFIX) or name.startswith(_SAVING_PREFIX) or not old:
            return  # xend's save renames back and forth: not a rename of the domain
        self._release(seen.domid, out)
        out.append((ID_LIFECYCLE, UNDEFINED, UNDEFINED_RENAMED, seen.uuid, old, seen.domid))
        out.append((ID_LIFECYCLE, DEFINED, DEFINED_RENAMED, seen.uuid, name, seen.domid))

    def _release(self, domid: int, out: list) -> None:
        held = self._held.pop(domid, None)
        if held is not None:
            out.append(held[0])

    def _transition(self, seen: _Seen, flags: int, out: list, *, noted: bool = False) -> None:
        was_paused = bool(seen.flags & dt.PAUSED)
        paused = bool(flags & dt.PAUSED)
        seen.flags = flags
        if flags & dt.SHUTDOWN:
            self._release(seen.domid, out)
            self._shutdown_events(seen, flags, out)
            return
        if paused and not was_paused:
            if seen.name.startswith(_SAVING_PREFIX):
                seen.saving = True
            elif not seen.fresh:
                raw = (ID_LIFECYCLE, SUSPENDED, SUSPENDED_PAUSED, seen.uuid, seen.name, seen.domid)
                destroying = self._destroying.get(seen.uuid)
                if destroying is not None and not noted:
                    self._held[seen.domid] = [raw, destroying]
                elif self.hold_pauses > 0 and not noted:
                    torn = self._torn.get(seen.domid)
                    hold = (self.teardown_hold if torn is not None and self.now - torn <= self.hold_pauses
                            else self.hold_pauses)
                    self._held[seen.domid] = [raw, self.now + hold]
                else:
                    out.append(raw)
        elif was_paused and not paused:
            self._release(seen.domid, out)
            if seen.fresh or seen.saving:
                seen.fresh = seen.saving = False
            else:
                out.append((ID_LIFECYCLE, RESUMED, RESUMED_UNPAUSED, seen.uuid, seen.name, seen.domid))

    # -- input: an operation this process did
    def note(self, op: str, uuid: str, name: str | None = None, *, now: float | None = None) -> list[tuple]:
        """An operation this process did (``destroying``/``destroy_failed`` bracket a destroy
        through a toolstack that pauses first: that pause is then never a SUSPENDED event)."""
        if now is not None:
            self.now = now
        out: list[tuple] = []
        if not self.primed:
            return out
        domid = self.by_uuid.get(uuid)
        seen = self.known.get(domid) if domid is not None else None
        if op == "destroying":
            self._destroying[uuid] = self.now + self.teardown_hold
            if domid is not None and domid in self._held:
                self._held[domid][1] = self.now + self.teardown_hold
        elif op == "destroy_failed":
            self._destroying.pop(uuid, None)
            if domid is not None:
                self._release(domid, out)
        elif op in ("pause", "unpause") and seen is not None and not seen.flags & dt.SHUTDOWN:
            if op == "pause":
                self._release(seen.domid, out)   # the records saw our own pause first
            flags = (seen.flags & ~(dt.RUNNING | dt.BLOCKED | dt.PAUSED)) | (dt.PAUSED if op == "pause" else dt.RUNNING)
            self._transition(seen, flags, out, noted=True)
        elif op == "define":
            new = uuid not in self._defined and seen is None
            self._defined[uuid] = name or ""
            out.append((ID_LIFECYCLE, DEFINED, DEFINED_UPDATED if not new else DEFINED_ADDED, uuid,
                        name or "", domid if domid is not None else -1))
        elif op == "undefine":
            old = self._defined.pop(uuid, None)
            out.append((ID_LIFECYCLE, UNDEFINED, UNDEFINED_REMOVED, uuid, name or old or "", -1))
        elif op == "rename" and seen is None and name:
            old = self._defined.get(uuid)
            self._defined[uuid] = name
            if old:
                out.append((ID_LIFECYCLE, UNDEFINED, UNDEFINED_RENAMED, uuid, old, -1))
            out.append((ID_LIFECYCLE, DEFINED, DEFINED_RENAMED, uuid, name, -1))
        return out


# -- process-wide notes of operations --------------------------------------------------------------
_sources: "weakref.WeakSet[EventSource]" = weakref.WeakSet()
_sources_lock = threading.Lock()


def _host_key(target) -> str:
    return str(target.xenstore or target.domtable or target.xend)


def note_op(target, op: str, uuid: str | None, name: str | None = None) -> None:
    """Tell every event source of this process watching ``target``'s host that ``op`` succeeded."""
    if not _sources or uuid is None:
        return
    key = _host_key(target)
    with _sources_lock:
        mine = [s for s in _sources if s.key == key]
    for source in mine:
        source._note(op, uuid, name)


# -- the source (one thread, one xenstore connection) ----------------------------------------------
def _touched(evs) -> tuple[set[int], set[int]]:
    """From watch events: ids whose name (or whole directory) changed, and ids whose devices are
    being taken down. A watch names the node written or removed; libxl's teardown
    (libxl__initiate_device_generic_remove, libxl__destroy_domid) writes a backend's ``online``
    and removes device directories and then ``/local/domain/<id>``, while the chatter of a running
    guest (``state`` nodes, its own keys) never touches those nodes themselves."""
    touched: set[int] = set()
    teardown: set[int] = set()
    for path, _token in evs:
        parts = path.split("/")
        if len(parts) < 4 or parts[1:3] != ["local", "domain"] or not parts[3].isdigit():
            continue
        domid, n = int(parts[3]), len(parts)
        if n == 4 or parts[4] == "name":
            touched.add(domid)
        if n == 4 or (n == 7 and parts[4] == "device"):
            teardown.add(domid)              # the domain's directory, a frontend's directory
        elif parts[4] == "backend" and n >= 7 and parts[6].isdigit() and (n in (7, 8) or parts[-1] == "online"):
            teardown.add(int(parts[6]))      # a backend's directory, or its online switch
    return touched, teardown


WATCHES = (("@introduceDomain", "xvirt-ev-intro"), ("@releaseDomain", "xvirt-ev-release"),
           ("/local/domain", "xvirt-ev-dom"))


class EventSource:
    """Produces a connection's domain events on a background thread.

    ``subscribe(fn)`` calls ``fn(event)`` on the source thread for each event, in order (keep it
    short: enqueue); ``on_close(fn)`` calls ``fn(reason)`` once when the host goes away. The source
    needs the xenstore and hypervisor channels; on a XenD-only target it delivers only the events
    of this process's own operations (see the module docstring).
    """

    def __init__(self, target, *, poll_interval: float = 0.05, registry=None, timeout: float = 5.0,
                 open_channels=None, pause_hold: float = 0.0) -> None:
        self.target = target
        self.key = _host_key(target)
        self.poll_interval = poll_interval
        self.registry = registry
        self.tracker = Tracker(hold_pauses=pause_hold)
        self.counts: dict[str, int] = {}
        self.table_reads = 0
        self._subs: list = []
        self._close_cbs: list = []
        self._lock = threading.Lock()
        self._notes: deque = deque()
        self._seq = 0
        self._closed = False
        self.close_reason: int | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._xs = self._hv = None
        self._own_hv = False
        self._fingerprint = None
        # the channels come from the driver (the only layer that knows them): a watching xenstore
        # connection of our own, and a hypervisor reader (our own on a shared table, whose reads
        # are not the connection's; the driver's libxenctrl reader on a real dom0)
        try:
            opened = open_channels(timeout) if open_channels is not None else None
        except BaseException:
            os.close(self._wake_r)
            os.close(self._wake_w)
            raise
        self.channels = opened is not None
        if self.channels:
            self._xs, self._hv, self._own_hv = opened
            try:
                for path, token in WATCHES:
                    self._xs.watch(path, token)
                self._gen = self._generation()
                self._observe(self._hv.snapshot(), set())  # the baseline
            except LibvirtError:
                self._xs.close()
                if self._own_hv:
                    self._hv.close()
                os.close(self._wake_r)
                os.close(self._wake_w)
                raise
        else:
            self.tracker.primed = True
        with _sources_lock:
            _sources.add(self)
        self._thread = threading.Thread(target=self._run, name="xvirt-events", daemon=True)
        self._thread.start()

    # -- consumers
    def subscribe(self, callback) -> object:
        with self._lock:
            self._subs.append(callback)
        return callback

    def unsubscribe(self, callback) -> None:
        with self._lock:
            try:
                self._subs.remove(callback)
            except ValueError:
                pass

    def on_close(self, callback) -> None:
        with self._lock:
            if self.close_reason is None:
                self._close_cbs.append(callback)
                return
        callback(self.close_reason)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, reason: int = CLOSE_REASON_CLIENT) -> None:
        """Stop the thread and release the channels; close callbacks hear ``reason``."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)
        self._finish(reason)

    # -- internals
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _note(self, op: str, uuid: str, name: str | None) -> None:
        self._notes.append((op, uuid, name))
        self._wake()

    def _emit(self, raws: list[tuple]) -> None:
        if not raws:
            return
        now = time.time()
        with self._lock:
            subs = list(self._subs)
        for raw in raws:
            self._seq += 1
            ev = DomainEvent(*raw, seq=self._seq, timestamp=now)
            key = ev.kind if ev.id else ev.event_name.lower()
            self.counts[key] = self.counts.get(key, 0) + 1
            self._invalidate(ev)
            for fn in subs:
                try:
                    fn(ev)
                except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
                    pass

    def _invalidate(self, ev: DomainEvent) -> None:
        """Keep the connection's registry in step: events are finer than a full-list refresh."""
        reg = self.registry
        if reg is None or ev.id != ID_LIFECYCLE:
            return
        if ev.event == STARTED and ev.domid >= 0:
            reg.bind(ev.uuid, ev.domid)
        elif ev.event in (STOPPED, UNDEFINED):
            reg.unbind(ev.uuid)

    def _observe(self, infos, touched: set[int], teardown: set[int] = frozenset()) -> None:
        """Feed one snapshot, with the names it needs, to the tracker.

        Names are read after the table; a record whose name is already gone belongs to a domain
        that changed meanwhile (a save pauses under ``migrating-*`` and dies at once), so the
        snapshot is stale: take a newer one rather than judge the record without its name."""
        for attempt in range(4):
            if self._notes and attempt < 3:
                # an operation noted meanwhile (e.g. a destroy about to pause) comes first, then
                # a snapshot read after it: never the other way round (a stale read would undo it)
                self._drain_notes()
                self._gen = self._generation()
                infos = self._hv.snapshot()
            known = self.tracker.known
            want = [i.domid for i in infos if not i.flags & dt.DYING and
                    (i.domid not in known or known[i.domid].uuid != i.uuid or i.domid in touched
                     or (i.flags & dt.PAUSED and not known[i.domid].flags & dt.PAUSED))]
            names: dict[int, str | None] = {}
            if want:
                values = self._xs.read_many([f"/local/domain/{d}/name" for d in want])
                names = {d: (v.decode("utf-8", "replace") if v is not None else None) for d, v in zip(want, values)}
            self.table_reads += 1
            if attempt < 3 and any(v is None for v in names.values()):
                self._gen = self._generation()
                infos = self._hv.snapshot()
                continue
            break
        self._emit(self.tracker.observe(infos, names, now=time.monotonic(), teardown=teardown))

    def _generation(self):
        gen = getattr(self._hv, "generation", None)
        return gen() if gen is not None else None

    def _drain_notes(self) -> None:
        while self._notes:
            op, uuid, name = self._notes.popleft()
            self._emit(self.tracker.note(op, uuid, name, now=time.monotonic()))

    def _run(self) -> None:
        import select
        reason = CLOSE_REASON_CLIENT
        try:
            while not self._closed:
                if self._xs is None:
                    select.select([self._wake_r], [], [], 1.0)
                    self._drain_wake()
                    self._drain_notes()
                    continue
                evs = self._xs.wait_events(self.poll_interval, wake_fd=self._wake_r)
                self._drain_wake()
                if self._closed:
                    break
                self._drain_notes()
                touched, teardown = _touched(evs)
                gen = self._generation()
                if gen is None:   # no change counter (libxenctrl): compare what the records say
                    infos = self._hv.snapshot()
                    fp = [(i.domid, i.flags, i.handle) for i in infos]
                    if evs or fp != self._fingerprint:
                        self._fingerprint = fp
                        self._observe(infos, touched, teardown)
                elif evs or gen != self._gen:
                    self._gen = gen
                    self._observe(self._hv.snapshot(), touched, teardown)
                self._emit(self.tracker.tick(time.monotonic()))
        except NoConnectError:
            reason = CLOSE_REASON_EOF      # the host stopped (the table says closed)
        except LibvirtError:
            reason = CLOSE_REASON_EOF if not self._closed else CLOSE_REASON_CLIENT
        except Exception:  # noqa: BLE001 - a bug must not kill silently
            reason = CLOSE_REASON_ERROR
        if not self._closed:
            self._closed = True
            self._finish(reason)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _finish(self, reason: int) -> None:
        with self._lock:
            if self.close_reason is not None:
                return
            self.close_reason = reason
            cbs, self._close_cbs = self._close_cbs, []
        with _sources_lock:
            _sources.discard(self)
        for fn in cbs:
            try:
                fn(reason)
            except Exception:  # noqa: BLE001
                pass
        for ch in (self._xs, self._hv if self._own_hv else None):
            if ch is not None:
                try:
                    ch.close()
                except Exception:  # noqa: BLE001
                    pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


# -- hooks the driver calls around XenD operations ---------------------------------------------------
def _listening(target) -> bool:
    if not _sources:
        return False
    key = _host_key(target)
    with _sources_lock:
        return any(s.key == key for s in _sources)


def before_op(driver, uuid: str, op: str):
    """What an operation will destroy and an event needs: the name of a domain being undefined."""
    if op != "delete" or not _listening(driver.target):
        return None
    try:
        from .protocol import sxp
        rec = driver.xend_record(uuid)
        return sxp.child_value(rec, "name") if rec is not None else None
    except LibvirtError:
        return None


def after_op(driver, uuid: str | None, op: str, params: dict, before) -> None:
    """Tell this process's event sources about a successful operation (see the module docstring)."""
    if not _listening(driver.target):
        return
    if op == "new":
        from .protocol import sxp
        try:
            tree = sxp.parse(params.get("config", ""))
            uuid, name = sxp.child_value(tree, "uuid"), sxp.child_value(tree, "name")
        except LibvirtError:
            return
        if uuid:
            import uuid as _uuid
            note_op(driver.target, "define", str(_uuid.UUID(uuid)), name)
    elif op in ("pause", "unpause"):
        note_op(driver.target, op, uuid)
    elif op == "delete":
        note_op(driver.target, "undefine", uuid, before)
    elif op == "rename":
        note_op(driver.target, "rename", uuid, params.get("name"))


# -- per connection ----------------------------------------------------------------------------------
def source_for(conn) -> EventSource:
    """The connection's event source, started on first use (one per connection)."""
    with _sources_lock:
        src = getattr(conn, "_event_source", None)
        if src is not None and not src.closed:
            return src
    drv = conn._driver
    src = EventSource(conn.target, registry=drv.registry, open_channels=drv.open_event_channels,
                      pause_hold=drv.event_pause_hold())
    conn._event_source = src
    return src


def close_source(conn) -> None:
    src = getattr(conn, "_event_source", None)
    if src is not None:
        src.close(CLOSE_REASON_CLIENT)


_END = object()


class EventStream:
    """Typed events of one connection as an iterator and an async iterator.

    ``kinds``: a set of ``"lifecycle"``/``"reboot"`` (default both); ``uuid``: only that domain;
    ``timeout``: iteration ends after that many seconds without an event (None: never). Iteration
    also ends when the host goes away (``close_reason`` says why) or :meth:`close` is called.
    """

    def __init__(self, source: EventSource, *, kinds=None, uuid: str | None = None,
                 timeout: float | None = None) -> None:
        import queue
        self.source = source
        self.kinds = set(kinds) if kinds else {"lifecycle", "reboot"}
        self.uuid = uuid
        self.timeout = timeout
        self.close_reason: int | None = None
        self._q: "queue.Queue" = queue.Queue()
        self._aio = None  # (loop, asyncio.Queue)
        self._done = False
        source.subscribe(self._push)
        source.on_close(self._on_close)

    def _deliver(self, item) -> None:
        self._q.put(item)
        aio = self._aio
        if aio is not None:
            try:
                aio[0].call_soon_threadsafe(aio[1].put_nowait, item)
            except RuntimeError:  # the loop is closed
                pass

    def _push(self, ev: DomainEvent) -> None:
        if ev.kind in self.kinds and (self.uuid is None or ev.uuid == self.uuid):
            self._deliver(ev)

    def _on_close(self, reason: int) -> None:
        self.close_reason = reason
        self._deliver(_END)

    def close(self) -> None:
        if not self._done:
            self.source.unsubscribe(self._push)
            self._deliver(_END)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> DomainEvent:
        import queue
        if self._done:
            raise StopIteration
        try:
            item = self._q.get(timeout=self.timeout)
        except queue.Empty:
            raise StopIteration from None
        if item is _END:
            self._done = True
            self.source.unsubscribe(self._push)
            raise StopIteration
        return item

    def __aiter__(self) -> "EventStream":
        import asyncio
        if self._aio is None:
            aq: asyncio.Queue = asyncio.Queue()
            self._aio = (asyncio.get_running_loop(), aq)
            while not self._q.empty():  # what arrived before iteration began
                aq.put_nowait(self._q.get_nowait())
        return self

    async def __anext__(self) -> DomainEvent:
        import asyncio
        if self._aio is None:
            self.__aiter__()
        if self._done:
            raise StopAsyncIteration
        try:
            item = await asyncio.wait_for(self._aio[1].get(), self.timeout)
        except asyncio.TimeoutError:
            raise StopAsyncIteration from None
        if item is _END:
            self._done = True
            self.source.unsubscribe(self._push)
            raise StopAsyncIteration
        return item


def notify(driver, op: str, uuid: str | None, name: str | None = None) -> None:
    """The toolstack-neutral form of :func:`after_op` for drivers whose operations are methods
    (``op``: pause, unpause, define, undefine, rename); free when nothing listens."""
    if uuid is not None and _listening(driver.target):
        note_op(driver.target, op, uuid, name)


def listening(driver) -> bool:
    """Whether an event source of this process watches ``driver``'s host (then a driver may pay
    for what an event needs, e.g. the name of a domain it is about to undefine)."""
    return _listening(driver.target)
