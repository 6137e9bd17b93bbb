"""The strategies measured on the simulated host: the three 2006 lookup algorithms replayed over the raw XenD client, and xvirt.

Every strategy opens *sessions* (one per connection) with the same small interface, which the
workloads drive: ``list_ids()``, ``lookup(id) -> Handle | None``, ``info(handle) -> Info``
(raises :class:`Gone` when the domain cannot be found), ``name(handle)``, ``bulk()`` and
``counts()`` (requests this session sent, by channel, counted client-side).

The 2006 replays (``Replay2006``) follow libvirt 0.1.x's Xen code as the July 2006 thread
describes it (reference ``libvirt-api.md`` §1.1):

* opening a connection "pings" XenD with ``GET /xend/node/`` (xenDaemonOpen read the version);
* **pre-patch** lookup by id: ``GET /xend/domain`` (running names), then ``GET /xend/domain/<name>``
  for each name in turn until one reports that ``domid``;
* **patch 1**: ``GET /xend/domain/<id>``;
* **patch 2**: patch 1 plus an id-keyed cache on the connection with no validation; entries stay
  after the caller drops its handles (otherwise, as Veillard said, freed handles empty the cache
  and patch 2 is patch 1);
* the handle keeps the name and UUID the lookup returned (``virDomainGetName`` made no request);
* info is ``GET /xend/domain/<id>`` with the handle's id, as the handle's ``id`` was all a 2006
  handle had to ask the hypervisor with.

``mode="xend"`` (the main table) lists ids with one ``GET /xend/domain?detail=1`` and asks XenD
for info; ``mode="root"`` is 2006 libvirt running as root, as in the thread's numbers: ids and info
come from the hypervisor (here the simulator's domain table, one read each) and only lookups
touch XenD.
"""

from __future__ import annotations

from typing import Any

import xvirt
from xvirt.constants import StatsFlags
from xvirt.errors import NoDomainError
from xvirt.protocol import domtable as dt
from xvirt.protocol import sxp
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient

from .workloads import Gone, Handle, Info, Unsupported

__all__ = ["Replay2006", "XvirtStrategy", "strategy_table"]


def _record_int(rec, key: str, default: int = -1) -> int:
    try:
        return int(sxp.child_value(rec, key))
    except (TypeError, ValueError):
        return default


class _ReplaySession:
    def __init__(self, strategy: "Replay2006") -> None:
        self.s = strategy
        self.xend = XendClient(strategy.xend_path)
        self.table = DomainTableReader(strategy.domtable) if strategy.mode == "root" else None
        self.cache: dict[int, Handle] = {}
        self.xend.get("/xend/node/")  # the 2006 xenDaemonOpen "ping"

    def close(self) -> None:
        if self.table is not None:
            self.table.close()

    def counts(self) -> dict:
        return {"xend": self.xend.total(), "xenstore": 0, "hypervisor": self.table.reads if self.table else 0}

    def list_ids(self) -> list[int]:
        if self.table is not None:
            return self.table.list_ids(skip_dying=True)
        recs = self.xend.get("/xend/domain", detail="1") or []
        return [d for d in (_record_int(r, "domid") for r in recs if isinstance(r, list)) if d >= 0]

    def _handle(self, rec, domid: int) -> Handle:
        return Handle(sxp.child_value(rec, "uuid"), sxp.child_value(rec, "name"), domid)

    def lookup(self, domid: int) -> Handle | None:
        algo = self.s.algorithm
        if algo == "patch2" and domid in self.cache:
            return self.cache[domid]
        if algo == "prepatch":
            names = self.xend.get("/xend/domain") or []
            for name in names:
                try:
                    rec = self.xend.get(f"/xend/domain/{name}")
                except NoDomainError:
                    continue  # renamed or gone since the listing: keep scanning
                if _record_int(rec, "domid") == domid:
                    return self._handle(rec, domid)
            return None
        try:
            rec = self.xend.get(f"/xend/domain/{domid}")
        except NoDomainError:
            return None
        h = self._handle(rec, domid)
        if algo == "patch2":
            self.cache[domid] = h
        return h

    def info(self, h: Handle) -> Info:
        if self.table is not None:
            rec = self.table.info(h.id)
            if rec is None or rec.flags & dt.DYING:
                raise Gone(h.id)
            return Info(rec.max_memory_kib, rec.memory_kib, rec.uuid)
        try:
            rec = self.xend.get(f"/xend/domain/{h.id}")
        except NoDomainError:
            raise Gone(h.id) from None
        return Info(_record_int(rec, "maxmem", 0) * 1024, _record_int(rec, "memory", 0) * 1024,
                    sxp.child_value(rec, "uuid"))

    def name(self, h: Handle) -> str | None:
        return h.name

    def bulk(self) -> int:
        raise Unsupported("no bulk stats call in 2006")


class Replay2006:
    """One of the 2006 lookup algorithms (``prepatch``, ``patch1``, ``patch2``) on the raw XenD client."""

    def __init__(self, algorithm: str, xend_path: str, domtable: str | None = None, *, mode: str = "xend") -> None:
        if algorithm not in ("prepatch", "patch1", "patch2"):
            raise ValueError(algorithm)
        if mode not in ("xend", "root") or (mode == "root" and not domtable):
            raise ValueError(mode)
        self.algorithm, self.xend_path, self.domtable, self.mode = algorithm, xend_path, domtable, mode
        self.key = algorithm

    def open(self) -> _ReplaySession:
        return _ReplaySession(self)


class _XvirtSession:
    def __init__(self, strategy: "XvirtStrategy") -> None:
        self.conn = xvirt.open(strategy.uri, max_staleness=strategy.max_staleness)

    def close(self) -> None:
        self.conn.close()

    def counts(self) -> dict:
        c = self.conn.request_counts()
        return {"xend": c["xend_total"], "xenstore": c["xenstore_total"], "hypervisor": c["hypervisor"]}

    def list_ids(self) -> list[int]:
        return self.conn.list_domain_ids()

    def lookup(self, domid: int) -> Handle | None:
        try:
            dom = self.conn.lookup_by_id(domid)
        except NoDomainError:
            return None
        return Handle(dom.uuid, None, domid, dom)

    def info(self, h: Handle) -> Info:
        try:
            i = h.obj.info()
        except NoDomainError:
            raise Gone(h.uuid) from None
        return Info(i.max_mem_kib, i.mem_kib)

    def name(self, h: Handle) -> str | None:
        try:
            return h.obj.name
        except NoDomainError:
            raise Gone(h.uuid) from None

    def bulk(self) -> int:
        return len(self.conn.get_all_domain_stats(flags=StatsFlags.ACTIVE))


class XvirtStrategy:
    """xvirt through a URI: strict (all channels), XenD-only, or XenD-only with ``max_staleness``."""

    def __init__(self, key: str, uri: str, max_staleness: float | None = None) -> None:
        self.key, self.uri, self.max_staleness = key, uri, max_staleness

    def open(self) -> _XvirtSession:
        return _XvirtSession(self)


def strategy_table(host, *, staleness: float = 5.0, mode: str = "xend") -> dict[str, Any]:
    """Every simulated-host strategy for ``host`` (a :class:`bench.hosts.BenchHost`), by key."""
    out: dict[str, Any] = {a: Replay2006(a, host.xend_path, host.domtable, mode=mode)
                           for a in ("prepatch", "patch1", "patch2")}
    if mode == "xend":
        out["xvirt-strict"] = XvirtStrategy("xvirt-strict", host.uri)
        out["xvirt-xend"] = XvirtStrategy("xvirt-xend", host.xend_uri)
        out["xvirt-stale"] = XvirtStrategy("xvirt-stale", host.xend_uri, max_staleness=staleness)
    return out
