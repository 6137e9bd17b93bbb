"""W4's second management client (churn through the control socket), its log of id changes, and the truth oracle.

Theory of operation
-------------------
*Truth.* Which UUID holds domain id ``i`` is read from the simulator's hypervisor table, which
the host writes in the same critical section as every state change (``sim/host.py``: ``_publish``
under ``host.lock``); a record flagged dying holds no id (XenD has already forgotten it, and
``control.truth()`` leaves it out too). :class:`TableOracle` reads one record in microseconds,
so every answer can be bracketed by a read before and a read after it. At the start and end of a
W4 run the table is also compared with ``control.truth()``.

*Churn.* :class:`XenChurn` is the only thing that changes the host during W4. It runs a
deterministic *step* between each iteration's listing and its lookups (so ids that were just
listed are provably stale: save+restore, reboot, rename, destroy+create reusing the name), and
optionally a background thread doing the same operations at a fixed rate. Operations are
serialised by a lock and each ends with ``settle`` (a reboot completes asynchronously).

*History.* Every id change an operation causes is logged as ``(t_start, t_end, id, old, new)``
with ``time.monotonic`` bounds that enclose the operation. Because Xen's id rover only moves
forward (no wrap within a run), each id is held by at most one domain, over one interval, in a
run, so the log gives the set of UUIDs that held an id at any instant or window (:meth:`bench.workloads.History.holders`). It judges
answers of a connection allowed ``max_staleness`` seconds (an answer is within the bound if it
matched the truth at some instant in ``[call start - S, call end]``) and is checked against the
table at the end of each run.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid as _uuid

from xvirt.errors import LibvirtError
from xvirt.protocol import domtable as dt
from xvirt.protocol import sxp
from xvirt.transport.hypervisor import DomainTableReader

from .workloads import BackgroundChurn, History, spread_picks

__all__ = ["TableOracle", "XenChurn", "OPS"]

OPS = ("save_restore", "reboot", "rename", "replace")
_SERIAL = itertools.count(1)  # names, files and UUIDs stay unique across runs on one host
_RUNS = itertools.count(1)


class TableOracle:
    """The simulator's truth for id <-> UUID, read straight from its hypervisor table."""

    def __init__(self, path: str) -> None:
        self.reader = DomainTableReader(path)

    def holder(self, domid: int) -> str | None:
        info = self.reader.info(domid)
        return None if info is None or info.flags & dt.DYING else info.uuid

    def find(self, uuid: str) -> int | None:
        info = self.reader.find_handle(_uuid.UUID(uuid).bytes)
        return None if info is None or info.flags & dt.DYING else info.domid

    def mapping(self) -> dict[int, str]:
        return {i.domid: i.uuid for i in self.reader.snapshot() if not i.flags & dt.DYING}

    def ids(self) -> list[int]:
        """Ids held now (one raw read, no decoding of the records)."""
        return self.reader.list_ids(skip_dying=True)

    def close(self) -> None:
        self.reader.close()


def _config(name: str, uuid: str, memory: int) -> list:
    return ["vm", ["name", name], ["uuid", uuid], ["memory", str(memory)], ["maxmem", str(memory)],
            ["vcpus", "1"], ["on_poweroff", "destroy"], ["on_reboot", "restart"], ["on_crash", "restart"],
            ["image", ["linux", ["kernel", "/boot/vmlinuz-2.6.18-xen"], ["root", "/dev/xvda1 ro"]]]]


class XenChurn(BackgroundChurn):
    """Another management tool acting on the simulated host through its control socket."""

    def __init__(self, control, oracle: TableOracle, truth: dict, *, seed: int = 2006) -> None:
        self.control, self.oracle = control, oracle
        self.names = {d["uuid"]: d["name"] for d in truth["running"] + truth["inactive"]}
        self.managed = {d["uuid"]: d.get("managed", True) for d in truth["running"]}
        self.signatures: dict[str, tuple[int, int]] = {}
        self.history = History({d["domid"]: d["uuid"] for d in truth["running"]})
        self.rng = random.Random(f"{seed}-{next(_RUNS)}")
        self.counter = 0
        self.done: dict[str, int] = {op: 0 for op in OPS}
        self.failed = 0
        self.failures: list[str] = []
        BackgroundChurn.__init__(self)

    # -- the deterministic step between a listing and its lookups ----------------------------------
    def step(self, k: int, ids: list[int]) -> None:
        """One of each operation, on guests spread over the listing that still hold their ids
        (a stale listing, as a ``max_staleness`` connection returns, may name ids that are gone)."""
        with self._lock:
            live = set(self.oracle.ids())
            picks = spread_picks(k, ids, live - {0}, len(OPS))
            for op, domid in zip(OPS, picks):
                uuid = self.oracle.holder(domid)
                if uuid is not None:
                    self._run(op, uuid)

    # -- background churn ---------------------------------------------------------------------------
    def churn_once(self, n: int) -> bool:
        ids = [d for d in self.oracle.ids() if d != 0]
        uuid = self.oracle.holder(self.rng.choice(ids)) if ids else None
        if uuid is None:
            return False
        self._run(OPS[n % len(OPS)], uuid)
        return True

    # -- operations (called with the lock held) -----------------------------------------------------
    def _run(self, op: str, uuid: str) -> None:
        self.counter = next(_SERIAL)
        t0 = time.monotonic()
        old_id = self.oracle.find(uuid)
        created: tuple[str, int | None] | None = None
        try:
            if op == "save_restore":
                name = f"bench-{self.counter}.save"
                self.control.op("save", uuid, file=name)
                self.control.restore(name)
            elif op == "reboot":
                self.control.op("shutdown", uuid, reason="reboot")
            elif op == "rename":
                new_name = f"churn-{self.counter:05d}"
                self.control.op("rename", uuid, name=new_name)
                self.names[uuid] = new_name
            elif op == "replace":
                created = self._replace(uuid)
            self.control.settle()
            self.done[op] += 1
        except LibvirtError as e:
            self.failed += 1
            if len(self.failures) < 5:
                self.failures.append(f"{op} {uuid}: {e}")
            self.control.settle()
        t1 = time.monotonic()
        self.history.change(t0, t1, uuid, old_id, self.oracle.find(uuid))
        if created is not None:
            self.history.change(t0, t1, created[0], None, self.oracle.find(created[0]))

    def _replace(self, uuid: str) -> tuple[str, int | None]:
        """Destroy the domain (and forget its config), then create a new one under its name."""
        name = self.names.get(uuid) or f"churn-{self.counter:05d}"
        self.control.op("destroy", uuid)
        if self.managed.get(uuid, False):
            self.control.op("delete", uuid)
        new_uuid = str(_uuid.UUID(int=self.rng.getrandbits(128), version=4))
        memory = 96 + self.counter  # MiB, distinct from every seeded size
        self.control.create(sxp.show(_config(name, new_uuid, memory)))
        self.names[new_uuid] = name
        self.managed[new_uuid] = False
        self.signatures[new_uuid] = (memory * 1024, memory * 1024)
        return new_uuid, None

    def summary(self) -> dict:
        return {"ops": dict(self.done), "failed": self.failed, "failures": self.failures,
                "id_changes": len(self.history.events)}
