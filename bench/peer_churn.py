"""libvirt-side pieces of the peer (run under /usr/bin/python3): the session wrapper and W4's churn through the libvirt API.

The session counts RPCs from the calls it makes (see ``bench.peer_libvirt``). The churn mirrors
``bench.churn.XenChurn``: a deterministic step between each listing and its lookups, plus an
optional background thread, both on the measured connection (the test driver gives every
connection to a node file its own copy of the host), with every id change logged in a
``workloads.History``.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid as _uuid

from bench.workloads import BackgroundChurn, Gone, Handle, History, Info, spread_picks

__all__ = ["LibvirtSession", "LibvirtChurn", "OPS"]

OPS = ("save_restore", "reboot", "rename", "replace")
_SERIAL = itertools.count(1)
NO_DOMAIN = 42
DOM0 = "00000000-0000-0000-0000-000000000000"


class LibvirtSession:
    def __init__(self, libvirt, uri: str) -> None:
        self.libvirt = libvirt
        self.conn = libvirt.open(uri)
        self.rpcs = 4  # auth list, open, two feature probes (RPC trace of libvirt 9.0)

    def close(self) -> None:
        self.conn.close()

    def list_ids(self) -> list[int]:
        self.rpcs += 2  # numOfDomains + listDomains
        return self.conn.listDomainsID()

    def lookup(self, domid: int) -> Handle | None:
        self.rpcs += 1
        try:
            dom = self.conn.lookupByID(domid)
        except self.libvirt.libvirtError as e:
            if e.get_error_code() == NO_DOMAIN:
                return None
            raise
        return Handle(dom.UUIDString(), dom.name(), domid, dom)

    def info(self, h: Handle) -> Info:
        self.rpcs += 1
        try:
            i = h.obj.info()
        except self.libvirt.libvirtError as e:
            if e.get_error_code() == NO_DOMAIN:
                raise Gone(h.uuid) from None
            raise
        return Info(i[1], i[2])

    def name(self, h: Handle) -> str:
        return h.obj.name()

    def bulk(self) -> int:
        self.rpcs += 1
        return len(self.conn.getAllDomainStats(0, self.libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE))


def _xml(name: str, uuid: str, memory_kib: int) -> str:
    return (f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>{memory_kib}</memory>"
            f"<currentMemory>{memory_kib}</currentMemory><vcpu>1</vcpu><os><type>xen</type></os></domain>")


class LibvirtChurn(BackgroundChurn):
    def __init__(self, libvirt, conn, workdir: str, seed: int = 2006) -> None:
        self.libvirt, self.conn, self.workdir = libvirt, conn, workdir
        doms = conn.listAllDomains(0)
        self.sigs = {}
        for d in doms:
            i = d.info()
            self.sigs[d.UUIDString()] = (i[1], i[2])
        self.history = History(self.mapping())
        self.rng = random.Random(f"libvirt-churn-{seed}")  # not the seed the host was made with
        self.done = {op: 0 for op in OPS}
        self.failed = 0
        self.failures: list[str] = []
        BackgroundChurn.__init__(self)

    def mapping(self) -> dict[int, str]:
        flags = self.libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
        return {d.ID(): d.UUIDString() for d in self.conn.listAllDomains(flags)}

    def _guests(self, live: dict[int, str]) -> list[int]:
        """Ids of domains the churn may touch (not the one standing in for Domain-0)."""
        return sorted(i for i, u in live.items() if u != DOM0)

    def signature(self, uuid: str):
        return self.sigs.get(uuid)

    def step(self, k: int, ids: list[int]) -> None:
        with self._lock:
            live = self.mapping()
            picks = spread_picks(k, ids, set(self._guests(live)), len(OPS))
            for op, domid in zip(OPS, picks):
                self._run(op, live[domid])

    def churn_once(self, n: int) -> bool:
        live = self.mapping()
        guests = self._guests(live)
        if not guests:
            return False
        self._run(OPS[n % len(OPS)], live[self.rng.choice(guests)])
        return True

    def _id(self, uuid: str) -> int | None:
        try:
            d = self.conn.lookupByUUIDString(uuid)
        except self.libvirt.libvirtError:
            return None
        i = d.ID()
        return i if i >= 0 else None

    def _run(self, op: str, uuid: str) -> None:
        serial = next(_SERIAL)
        t0 = time.monotonic()
        old_id = self._id(uuid)
        created = None
        try:
            dom = self.conn.lookupByUUIDString(uuid)
            if op == "save_restore":
                path = os.path.join(self.workdir, f"bench-{serial}.save")
                dom.save(path)
                self.conn.restore(path)
                os.unlink(path)
            elif op == "reboot":
                dom.reboot(0)
            elif op == "rename":
                dom.destroy()
                dom.rename(f"churn-{serial:05d}", 0)
                dom.create()
            elif op == "replace":
                name = dom.name()
                dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
                created = str(_uuid.UUID(int=self.rng.getrandbits(128), version=4))
                memory = (96 + serial) * 1024
                self.conn.createXML(_xml(name, created, memory), 0)
                self.sigs[created] = (memory, memory)
            self.done[op] += 1
        except self.libvirt.libvirtError as e:
            self.failed += 1
            if len(self.failures) < 5:
                self.failures.append(f"{op} {uuid}: {e}")
        t1 = time.monotonic()
        self.history.change(t0, t1, uuid, old_id, self._id(uuid))
        if created is not None:
            self.history.change(t0, t1, created, None, self._id(created))

    def summary(self) -> dict:
        return {"ops": dict(self.done), "failed": self.failed, "failures": self.failures,
                "id_changes": len(self.history.events)}
