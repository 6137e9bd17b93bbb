"""The Xen driver: answers each question from the cheapest channel that can answer it correctly.

Channel order (DESIGN §2-3): ids, UUIDs, state, memory, vcpus and cpu time come from the
hypervisor domain table (one read, no daemon); names come from xenstore (a read, or the
watch-validated cache after one round trip for bulk calls); XenD is asked only for inactive
domains, configs and lifecycle operations. Every answer is true at some instant during the call:
a cached id<->UUID binding is used only after the table record of that id shows the same handle,
and a name read between two table reads that agree is the name of that domain.

A destroyed domain stays in the table as ``dying`` until the hypervisor frees it, while XenD
has already forgotten it; the driver treats dying records as gone everywhere (lists, lookups,
a handle's id), so the channels never disagree about whether a domain runs.

Without a domain table (XenD-only URIs, or ``xen:///`` where no hypercall channel exists here)
the driver asks XenD, with one bulk ``?detail=1`` request for lists and stats; with
``max_staleness`` it may answer from a snapshot no older than that.
"""

from __future__ import annotations

import threading
import time
import uuid as _uuid

from ..errors import (LibvirtError, NoConnectError, NoDomainError, XenstoreError)
from ..protocol import domtable as dt
from ..protocol import sxp
from ..protocol.xenstore import XsNoEntError
from ..transport.hypervisor import DomainTableReader
from ..transport.xend import XendClient
from ..transport.xenstore import XenstoreClient
from ..uri import Target
from .. import events as _events
from ..registry import Registry
from .records import Facts, facts_from_info, facts_from_record, map_xend_error, record_uuid

__all__ = ["XenDriver"]

WATCHES = (("/local/domain", "xvirt-names"), ("@introduceDomain", "xvirt-intro"),
           ("@releaseDomain", "xvirt-release"))


class _Snapshot:
    """One ``?detail=1`` answer, decoded once and indexed by id, UUID and name."""

    __slots__ = ("taken", "records", "facts", "by_id", "by_uuid", "by_name")

    def __init__(self, taken: float, records: list) -> None:
        self.taken, self.records = taken, records
        self.facts = [facts_from_record(r) for r in records]
        self.by_id = {f.id: f for f in self.facts if f.id >= 0}
        self.by_uuid = {f.uuid: f for f in self.facts}
        self.by_name = {f.name: f for f in self.facts if f.name}


def _no_domain(what: str) -> NoDomainError:
    return NoDomainError(f"Domain not found: {what}")


class XenDriver:
    def __init__(self, target: Target, *, max_staleness: float | None = None) -> None:
        self.target = target
        self.max_staleness = max_staleness
        self.xend = XendClient(target.xend)
        self.hv: DomainTableReader | None = DomainTableReader(target.domtable) if target.domtable else None
        self.xs: XenstoreClient | None = XenstoreClient(target.xenstore) if (target.xenstore and self.hv) else None
        self.registry = Registry()
        self._lock = threading.RLock()
        self._watching = False
        self._snap: _Snapshot | None = None

    def close(self) -> None:
        if self.xs is not None:
            self.xs.close()
        if self.hv is not None:
            self.hv.close()

    # -- counts ---------------------------------------------------------------------------------
    def request_counts(self) -> dict:
        xend = self.xend.counts()
        xs = self.xs.counts() if self.xs is not None else {}
        return {"xend": xend, "xenstore": xs, "hypervisor": self.hv.reads if self.hv else 0,
                "xend_total": sum(xend.values()), "xenstore_total": sum(xs.values())}

    # -- XenD helpers ---------------------------------------------------------------------------
    def xend_records(self) -> list:
        """Every active domain's record in one request (``?detail=1``), or a snapshot within
        ``max_staleness``. (XenD 3.0.4 ignores ``state=`` on this path: inactive domains are
        listed by name only, see ``defined_records``.)"""
        return self.xend_snapshot().records

    def xend_snapshot(self) -> "_Snapshot":
        now = time.monotonic()
        snap = self._snap
        if self.max_staleness is not None and snap is not None and now - snap.taken <= self.max_staleness:
            return snap
        value = self.xend.get("/xend/domain", detail="1")
        snap = _Snapshot(now, [r for r in (value or []) if isinstance(r, list) and r[:1] == ["domain"]])
        if self.max_staleness is not None:
            self._snap = snap
        return snap

    def xend_record(self, ref: str):
        """``GET /xend/domain/<ref>``: the record, or None for 404."""
        try:
            rec = self.xend.get(f"/xend/domain/{ref}")
        except NoDomainError:
            return None
        return rec if isinstance(rec, list) and rec[:1] == ["domain"] else None

    def _xend_facts_by_uuid(self, uuid: str) -> Facts | None:
        if self.max_staleness is not None:  # running domains: the (possibly refreshed) snapshot
            facts = self.xend_snapshot().by_uuid.get(uuid)
            if facts is not None:
                return facts
        rec = self.xend_record(uuid)
        if rec is None or record_uuid(rec) != uuid:
            return None
        return facts_from_record(rec)

    # -- hypervisor helpers ---------------------------------------------------------------------
    def _current(self, uuid: str) -> dt.DomainInfo | None:
        """The live table record of ``uuid`` now: the cached binding checked, else one scan."""
        handle = _uuid.UUID(uuid).bytes
        hint = self.registry.id_hint(uuid)
        if hint is not None:
            info = self.hv.info(hint)
            if info is not None and info.handle == handle and not info.flags & dt.DYING:
                return info
        info = self.hv.find_handle(handle)
        if info is None or info.flags & dt.DYING:
            self.registry.unbind(uuid)
            return None
        self.registry.bind(uuid, info.domid)
        return info

    # -- names ------------------------------------------------------------------------------------
    def _ensure_watches(self) -> None:
        if not self._watching:
            for path, token in WATCHES:
                self.xs.watch(path, token)
            self._watching = True

    def _apply_events(self) -> set[int] | bool:
        """Apply buffered watch events; the domids whose names they touched (True: all)."""
        touched: set[int] = set()
        everything = False
        for path, _token in self.xs.events():
            hit = self.registry.apply_event(path)
            if hit is True:
                everything = True
            elif hit is not None:
                touched.add(hit)
        return True if everything else touched

    def _read_name(self, domid: int) -> str | None:
        try:
            raw = self.xs.read(f"/local/domain/{domid}/name")
        except XsNoEntError:
            return None
        return raw.decode("utf-8", "replace")

    def name_of_running(self, info: dt.DomainInfo) -> str | None:
        """Name of the domain of ``info`` now; None if it is no longer running under that id."""
        uuid = info.uuid
        try:
            with self._lock:
                name = self._read_name(info.domid)
                if self._watching:
                    self._apply_events()
                again = self.hv.info(info.domid)
                if name is not None and again is not None and again.handle == info.handle:
                    if self._watching:
                        self.registry.store_name(info.domid, uuid, name)
                    return name
        except XenstoreError:
            pass  # xenstore down: XenD still knows
        facts = self._xend_facts_by_uuid(uuid)
        return facts.name if facts is not None else None

    def names_bulk(self, infos: list[dt.DomainInfo]) -> dict[str, str]:
        """Names of many running domains: one round trip validates the cache, reads fill gaps."""
        out: dict[str, str] = {}
        try:
            with self._lock:
                self._ensure_watches()
                self.xs.sync()
                self._apply_events()
                missing = []
                for info in infos:
                    name = self.registry.cached_name(info.domid, info.uuid)
                    if name is None:
                        missing.append(info)
                    else:
                        out[info.uuid] = name
                values = self.xs.read_many([f"/local/domain/{i.domid}/name" for i in missing])
                # an event that arrived among the pipelined replies may postdate the read it
                # concerns: such a name is true for this answer but must not be cached as valid
                touched = self._apply_events()
                for info, raw in zip(missing, values):
                    if raw is not None:
                        name = raw.decode("utf-8", "replace")
                        out[info.uuid] = name
                        if touched is not True and info.domid not in touched:
                            self.registry.store_name(info.domid, info.uuid, name)
        except XenstoreError:
            pass
        for info in infos:  # vanished mid-call, or xenstore down: ask XenD (rare)
            if info.uuid not in out and not info.flags & dt.DYING:
                facts = self._xend_facts_by_uuid(info.uuid)
                if facts is not None and facts.name:
                    out[info.uuid] = facts.name
        return out

    # -- questions ---------------------------------------------------------------------------------
    def list_ids(self) -> list[int]:
        if self.hv is not None:
            return self.hv.list_ids(skip_dying=True)
        return sorted(self.xend_snapshot().by_id)

    def running_snapshot(self) -> list[dt.DomainInfo]:
        """Every live record (dying ones left out), rebinding the registry from the full set."""
        infos = [i for i in self.hv.snapshot() if not i.flags & dt.DYING]
        self.registry.full_snapshot([(i.domid, i.uuid) for i in infos])
        return infos

    def lookup_id(self, domid: int) -> str:
        if self.hv is not None:
            info = self.hv.info(domid)
            if info is None or info.flags & dt.DYING:
                raise _no_domain(f"no domain with matching id {domid}")
            self.registry.bind(info.uuid, domid)
            return info.uuid
        if self.max_staleness is not None:  # answer from a snapshot no older than allowed
            facts = self.xend_snapshot().by_id.get(domid)
            if facts is None:
                raise _no_domain(f"no domain with matching id {domid}")
            return facts.uuid
        rec = self.xend_record(str(domid))
        if rec is None or facts_from_record(rec).id != domid:  # a domain named "<id>" shadows ids
            for rec in self.xend_records():
                if facts_from_record(rec).id == domid:
                    break
            else:
                raise _no_domain(f"no domain with matching id {domid}")
        return facts_from_record(rec).uuid

    def lookup_name(self, name: str) -> str:
        if self.hv is not None and self.xs is not None:
            try:
                found = self._lookup_running_name(name)
            except XenstoreError:
                found = None
            if found is not None:
                return found
        elif self.max_staleness is not None:
            facts = self.xend_snapshot().by_name.get(name)
            if facts is not None:
                return facts.uuid
        rec = self.xend_record(name)
        if rec is None:
            raise _no_domain(f"no domain with matching name '{name}'")
        facts = facts_from_record(rec)
        if facts.name != name:
            raise _no_domain(f"no domain with matching name '{name}'")
        if facts.id >= 0 and self.hv is not None:
            self.registry.bind(facts.uuid, facts.id)
        return facts.uuid

    def _lookup_running_name(self, name: str) -> str | None:
        with self._lock:
            if self.registry.names_complete:
                self._ensure_watches()
                self.xs.sync()  # one round trip makes the (complete) name index current
                self._apply_events()
            if not self.registry.names_complete:  # first time, or an event dropped names
                infos = self.running_snapshot()
                self.names_bulk(infos)  # syncs itself
                self.registry.mark_names_complete([i.domid for i in infos])
            hit = self.registry.name_lookup(name)
            if hit is None:
                return None
            domid, uuid = hit
            info = self.hv.info(domid)
            if info is None or info.uuid != uuid:
                return None
            self.registry.bind(uuid, domid)
            return uuid

    def lookup_uuid(self, uuid: str) -> str:
        if self.hv is not None and self._current(uuid) is not None:
            return uuid
        if self._xend_facts_by_uuid(uuid) is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        return uuid

    def facts(self, uuid: str, *, with_name: bool = False) -> Facts:
        """Everything about ``uuid`` now; NoDomainError if XenD no longer knows it either."""
        if self.hv is not None:
            info = self._current(uuid)
            if info is not None:
                name = self.name_of_running(info) if with_name else None
                return facts_from_info(info, name)
        facts = self._xend_facts_by_uuid(uuid)
        if facts is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        if self.hv is not None and facts.id >= 0:
            # XenD still shows an id the table no longer has: the domain is between instances
            info = self._current(uuid)
            if info is not None:
                return facts_from_info(info, facts.name)
        return facts

    def current_id(self, uuid: str) -> int:
        if self.hv is not None:
            info = self._current(uuid)
            if info is not None:
                return info.domid
        return self.facts(uuid).id

    def name(self, uuid: str) -> str:
        facts = self.facts(uuid, with_name=True)
        if facts.name is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        return facts.name

    def persistence(self) -> dict[str, bool]:
        """Whether each domain XenD knows is managed, in one request (``?detail=1`` for the
        running ones; every inactive domain XenD lists is managed by definition)."""
        return {f.uuid: True if f.persistent is None else f.persistent for f in self.xend_snapshot().facts}

    def is_persistent(self, uuid: str) -> bool:
        rec = self.xend_record(uuid)
        if rec is None:
            raise _no_domain(f"no domain with matching uuid '{uuid}'")
        managed = sxp.child_value(rec, "managed")
        return True if managed is None else managed == "1"  # libvirt: known to XenD 3.0.4 = managed

    def defined_records(self) -> list:
        """Records of inactive managed domains: ``?state=halted`` names, then one GET each
        (the only way XenD 3.0.4 offers; libvirt did the same)."""
        out = []
        for name in self.defined_names():
            rec = self.xend_record(name)
            if rec is not None and sxp.child_value(rec, "name") == name and sxp.child_value(rec, "domid") is None:
                out.append(rec)
        return out

    def defined_names(self) -> list[str]:
        value = self.xend.get("/xend/domain", state="halted")
        return sorted(v for v in (value or []) if isinstance(v, str))

    def all_facts(self, *, active: bool, inactive: bool, names: bool = True) -> list[Facts]:
        out: list[Facts] = []
        if active:
            if self.hv is not None:
                infos = self.running_snapshot()
                named = self.names_bulk(infos) if names else {}
                out += [facts_from_info(i, named.get(i.uuid)) for i in infos
                        if not (names and i.uuid not in named)]
            else:
                out += [f for f in self.xend_snapshot().facts if f.id >= 0]
        if inactive:
            out += [f for f in map(facts_from_record, self.defined_records()) if f.id < 0]
        return out

    # -- operations -----------------------------------------------------------------------------
    def op(self, uuid: str, op: str, what: str, **params) -> None:
        """A lifecycle operation on one domain, addressed by UUID."""
        before = _events.before_op(self, uuid, op)  # issue 14: None unless events are watched
        self._post(f"/xend/domain/{uuid}", op, what, params, missing=uuid)
        _events.after_op(self, uuid, op, params, before)

    def dir_op(self, op: str, what: str, **params):
        """An operation of the domain directory (create, new, restore)."""
        result = self._post("/xend/domain/", op, what, params)
        _events.after_op(self, None, op, params, None)
        return result

    def _post(self, path: str, op: str, what: str, params: dict, missing: str | None = None):
        try:
            return self.xend.post(path, op, **params)
        except NoDomainError:
            if missing is None:
                raise
            raise _no_domain(f"no domain with matching uuid '{missing}'") from None
        except NoConnectError as e:
            raise NoConnectError(f"{what}: XenD is unreachable: {e.message}") from None
        except LibvirtError as e:
            raise map_xend_error(e, what) from None

    def node(self) -> list:
        return self.xend.get("/xend/node/")
