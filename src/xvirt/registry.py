"""The identity registry: what xvirt remembers about domains, and when it may believe it.

Theory of operation
-------------------
A domain's identity is its UUID. Its id and name are attributes that change (reboot, restore and
migration give a new id; rename and save change the name), so the registry keeps them only as
*hints* that the driver validates against an authority before using them:

* ``id <-> UUID`` bindings are checked against the hypervisor record of that id (one table read:
  the record's handle must equal the UUID). A binding that fails the check is dropped and the
  driver falls back to scanning the table once for the UUID.
* names are keyed by ``(domid, UUID)`` and are valid only while no xenstore watch event for
  ``/local/domain/<domid>`` or ``/local/domain/<domid>/name`` has arrived since they were read.
  Events are applied before any cached name is used; because xenstored sends every watch event
  before the reply to any later request on the same connection, one round trip (``sync``) makes
  the whole name cache current as of that round trip. A watch event on ``/local/domain`` itself
  (including the firing that comes with registering the watch) clears every name.

Facts outlive handles: nothing here refers to ``Domain`` objects, so a program that drops its
handles and looks them up again every cycle keeps its bindings (the "graceful delay" asked for in
2006). Memory is bounded: at most ``max_entries`` UUIDs, least recently used evicted first. Every
full snapshot of the running set (a table scan) evicts the bindings of ids that are gone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["Registry"]


class Registry:
    def __init__(self, max_entries: int = 65536) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._id_of: OrderedDict[str, int] = OrderedDict()   # uuid -> last known domid
        self._uuid_of: dict[int, str] = {}                   # domid -> uuid
        self._names: dict[int, tuple[str, str]] = {}          # domid -> (uuid, name), watch-validated
        self._name_index: dict[str, int] = {}                 # name -> domid (mirror of _names)
        self.names_complete = False                           # _names covers every running id
        self.evictions = 0

    # -- id <-> uuid ---------------------------------------------------------------------------
    def bind(self, uuid: str, domid: int) -> None:
        with self._lock:
            self._bind(uuid, domid)

    def _bind(self, uuid: str, domid: int) -> None:
        old = self._id_of.get(uuid)
        if old is not None and old != domid and self._uuid_of.get(old) == uuid:
            del self._uuid_of[old]
        prev = self._uuid_of.get(domid)
        if prev is not None and prev != uuid:
            self._id_of.pop(prev, None)
        self._id_of[uuid] = domid
        self._id_of.move_to_end(uuid)
        self._uuid_of[domid] = uuid
        while len(self._id_of) > self.max_entries:
            gone, gid = self._id_of.popitem(last=False)
            if self._uuid_of.get(gid) == gone:
                del self._uuid_of[gid]
            self.evictions += 1

    def unbind(self, uuid: str) -> None:
        with self._lock:
            domid = self._id_of.pop(uuid, None)
            if domid is not None and self._uuid_of.get(domid) == uuid:
                del self._uuid_of[domid]

    def id_hint(self, uuid: str) -> int | None:
        with self._lock:
            return self._id_of.get(uuid)

    def uuid_hint(self, domid: int) -> str | None:
        with self._lock:
            return self._uuid_of.get(domid)

    def full_snapshot(self, pairs: list[tuple[int, str]]) -> None:
        """The complete running set (domid, uuid) as of one read: rebind, evict the vanished."""
        with self._lock:
            live = dict(pairs)
            for domid in [d for d in self._uuid_of if d not in live]:
                uuid = self._uuid_of.pop(domid)
                if self._id_of.get(uuid) == domid:
                    del self._id_of[uuid]
                self.evictions += 1
            for domid, uuid in pairs:
                if self._uuid_of.get(domid) != uuid or self._id_of.get(uuid) != domid:
                    self._bind(uuid, domid)
            for domid in [d for d in self._names if d not in live or self._names[d][0] != live[d]]:
                self._drop_name(domid)

    # -- names ---------------------------------------------------------------------------------
    def _drop_name(self, domid: int) -> None:
        entry = self._names.pop(domid, None)
        if entry is not None and self._name_index.get(entry[1]) == domid:
            del self._name_index[entry[1]]
        self.names_complete = False

    def apply_event(self, path: str) -> int | bool | None:
        """Invalidate what a xenstore watch event on ``path`` may have changed.

        Returns the domid whose name it may have changed, True for every name, None for none.
        """
        if not path.startswith("/local/domain"):
            return None  # @introduceDomain/@releaseDomain: the table says which ids changed
        parts = path.split("/")
        with self._lock:
            if len(parts) <= 3:
                self._names.clear()
                self._name_index.clear()
                self.names_complete = False
                return True
            if len(parts) == 4 or parts[4] == "name":
                try:
                    domid = int(parts[3])
                except ValueError:
                    return None
                self._drop_name(domid)
                return domid
        return None

    def cached_name(self, domid: int, uuid: str) -> str | None:
        with self._lock:
            entry = self._names.get(domid)
            return entry[1] if entry is not None and entry[0] == uuid else None

    def store_name(self, domid: int, uuid: str, name: str) -> None:
        with self._lock:
            self._drop_name(domid)
            other = self._name_index.get(name)
            if other is not None and other != domid:
                self._drop_name(other)   # names are unique among running domains
            self._names[domid] = (uuid, name)
            self._name_index[name] = domid

    def name_lookup(self, name: str) -> tuple[int, str] | None:
        """(domid, uuid) of the running domain cached under ``name``, if any."""
        with self._lock:
            domid = self._name_index.get(name)
            if domid is None:
                return None
            return domid, self._names[domid][0]

    def mark_names_complete(self, ids: list[int]) -> bool:
        with self._lock:
            self.names_complete = all(d in self._names for d in ids)
            return self.names_complete

    def __len__(self) -> int:
        with self._lock:
            return len(self._id_of)
