"""xenstored's in-memory tree with permissions, watches and transactions (no sockets).

Theory of operation.

* **Nodes.** A flat dict maps each absolute path to a node (value bytes, ordered child names,
  permission strings, generation), so a read is one dict lookup. Every change takes a new value
  of a global generation counter; the changed node and, when a child is added or removed, its
  parent get that generation (xenstored does the same; DIRECTORY_PART reports it).
* **Watches** are indexed by watched path. A change to ``P`` fires every watch on ``P`` or an
  ancestor of ``P`` with event path ``P``; removing ``P`` also fires watches on nodes inside the
  removed subtree, with their own path (xenstored_watch.c fire_watches). A watch fires once as it
  is registered. Special paths (``@introduceDomain``, ``@releaseDomain``) fire only through
  :meth:`XenstoreTree.fire_special`. Callbacks run synchronously **while the tree lock is held**,
  so an event reaches a watcher's outbound queue before the change returns to whoever made it;
  that is what lets xenstored promise "events before the reply to any later request". Callbacks
  must not block and must not call back into the tree.
* **Transactions** are optimistic, like xenstored_transaction.c: a transaction records the
  generation of every live node it looks at (first access) and keeps private copies of the nodes
  it changes. Its reads see its own changes; at commit, if any recorded node changed meanwhile,
  the commit fails with ``EAGAIN``; otherwise the copies replace the live nodes at once and the
  recorded events fire.
* **Batches** (``with tree.batch():``) hold the lock across several changes, so readers see all
  or none of them, and deliver the events at the end. There is no rollback.
* **Limits** bound memory: value size, path length, node count, watches and transactions per
  owner (the server passes its connection as owner).

Errors are :class:`xvirt.protocol.xenstore.XsError` with xenstored's errno names.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from typing import Callable, Hashable, Iterator

from ..protocol.xenstore import (XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX,
                                 XENSTORE_REL_PATH_MAX, XsError)

__all__ = ["XenstoreTree", "Watch", "SPECIAL_PATHS"]

log = logging.getLogger(__name__)

SPECIAL_PATHS = ("@introduceDomain", "@releaseDomain")
# xenstored_core.c is_valid_nodename: letters, digits and "-/_@", no empty component, no
# trailing slash (except the root itself).
_VALID_PATH = re.compile(r"/(?:[A-Za-z0-9_@-]+(?:/[A-Za-z0-9_@-]+)*)?\Z")
_VALID_SPECIAL = re.compile(r"@[A-Za-z0-9_@-]+\Z")
_VALID_PERM = re.compile(r"[nrwb][0-9]+\Z")  # xs_lib.c xs_strings_to_perms: letter + domid
_ABSENT = object()
Callback = Callable[[str, str], None]


def _parent(path: str) -> str:
    return path[:path.rfind("/")] or "/"


def _child(parent: str, name: str) -> str:
    return parent + name if parent == "/" else parent + "/" + name


class _Node:
    __slots__ = ("value", "children", "perms", "gen", "dircache")

    def __init__(self, value: bytes, perms: tuple[str, ...], gen: int) -> None:
        self.value = value
        self.children: dict[str, None] | None = None  # insertion-ordered, None when a leaf
        self.perms = perms
        self.gen = gen
        self.dircache: tuple[int, bytes] | None = None

    def copy(self) -> "_Node":
        n = _Node(self.value, self.perms, self.gen)
        if self.children:
            n.children = dict(self.children)
        return n

    def add_child(self, name: str) -> None:
        if self.children is None:
            self.children = {}
        self.children[name] = None


class Watch:
    """A registered watch; ``callback(event_path, token)`` runs under the tree lock."""

    __slots__ = ("path", "token", "callback", "owner", "active")

    def __init__(self, path: str, token: str, callback: Callback, owner: Hashable) -> None:
        self.path, self.token, self.callback, self.owner = path, token, callback, owner
        self.active = True

    def __repr__(self) -> str:
        return f"Watch({self.path!r}, {self.token!r})"


class _Tx:
    __slots__ = ("id", "owner", "changes", "seen", "events")

    def __init__(self, tx_id: int, owner: Hashable) -> None:
        self.id, self.owner = tx_id, owner
        self.changes: dict[str, _Node | None] = {}  # private copies; None = removed
        self.seen: dict[str, int] = {}  # live generation at first access; -1 = absent
        self.events: list[tuple[str, bool]] = []  # (path, removal) in order


class XenstoreTree:
    """The tree; every public method is thread-safe. ``tx`` selects a transaction (0 = none).

    ``counters`` is accepted for symmetry with the servers; in-process calls are not counted
    (only wire messages are, by :class:`xvirt.sim.xenstored.XenstoredServer`).
    """

    def __init__(self, counters=None, *, max_value: int = XENSTORE_PAYLOAD_MAX,
                 max_path: int = XENSTORE_ABS_PATH_MAX, max_nodes: int = 2_000_000,
                 max_watches: int = 128, max_transactions: int = 16) -> None:
        self.counters = counters
        self.max_value, self.max_path, self.max_nodes = max_value, max_path, max_nodes
        self.max_watches, self.max_transactions = max_watches, max_transactions
        self._lock = threading.RLock()
        self._gen = 0
        root = _Node(b"", ("n0",), 0)
        self._nodes: dict[str, _Node] = {"/": root}
        self._watches: dict[str, list[Watch]] = {}
        self._watch_count: dict[Hashable, int] = {}
        self._txs: dict[int, _Tx] = {}
        self._tx_count: dict[Hashable, int] = {}
        self._next_tx = 1
        self._batch_depth = 0
        self._pending: list[tuple[Watch, str]] = []
        # xenstored_core.c setup_structure creates /tool/xenstored at start.
        self.write("/tool/xenstored", b"")

    # ------------------------------------------------------------------ checks and helpers

    def _check(self, path: str) -> None:
        if not isinstance(path, str) or len(path) > self.max_path or not _VALID_PATH.match(path):
            raise XsError("EINVAL", path if isinstance(path, str) else repr(path))

    def _next_gen(self) -> int:
        self._gen += 1
        return self._gen

    def _tx(self, tx: int) -> _Tx:
        t = self._txs.get(tx)
        if t is None:
            raise XsError("ENOENT", f"transaction {tx}")
        return t

    def _get(self, path: str, t: _Tx | None) -> _Node | None:
        if t is None:
            return self._nodes.get(path)
        n = t.changes.get(path, _ABSENT)
        if n is _ABSENT:
            n = self._nodes.get(path)
            if path not in t.seen:
                t.seen[path] = n.gen if n is not None else -1
        return n

    def _mut(self, path: str, t: _Tx | None) -> _Node | None:
        """The node to modify: the live node, or the transaction's private copy."""
        if t is None:
            return self._nodes.get(path)
        n = t.changes.get(path, _ABSENT)
        if n is _ABSENT:
            live = self._nodes.get(path)
            if path not in t.seen:
                t.seen[path] = live.gen if live is not None else -1
            if live is None:
                return None
            n = t.changes[path] = live.copy()
        return n

    def _store(self, path: str, node: _Node, t: _Tx | None) -> None:
        if t is None:
            self._nodes[path] = node
        else:
            t.changes[path] = node

    @staticmethod
    def _value(value: bytes | bytearray | memoryview | str) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8")
        return bytes(value)

    # ------------------------------------------------------------------ reading

    def read(self, path: str, tx: int = 0) -> bytes:
        """Value of a node; ``XsError("ENOENT")`` if it is missing, ``EINVAL`` if ill-formed."""
        with self._lock:
            node = self._get(path, self._tx(tx)) if tx else self._nodes.get(path)
            if node is None:
                self._check(path)
                raise XsError("ENOENT", path)
            return node.value

    def exists(self, path: str, tx: int = 0) -> bool:
        with self._lock:
            return (self._get(path, self._tx(tx)) if tx else self._nodes.get(path)) is not None

    def directory(self, path: str, tx: int = 0) -> list[str]:
        """Child names in creation order."""
        with self._lock:
            node = self._get(path, self._tx(tx) if tx else None)
            if node is None:
                self._check(path)
                raise XsError("ENOENT", path)
            return list(node.children) if node.children else []

    def directory_bytes(self, path: str, tx: int = 0) -> tuple[int, bytes]:
        """``(generation, b"name\\0name\\0...")``: what DIRECTORY and DIRECTORY_PART serve."""
        with self._lock:
            node = self._get(path, self._tx(tx) if tx else None)
            if node is None:
                self._check(path)
                raise XsError("ENOENT", path)
            cached = node.dircache
            if cached is None or cached[0] != node.gen:
                data = b"".join(n.encode() + b"\0" for n in node.children) if node.children else b""
                cached = node.dircache = (node.gen, data)
            return cached

    def get_perms(self, path: str, tx: int = 0) -> list[str]:
        """Permission strings, owner first (``["n0"]``: owned by dom0, nobody else may access)."""
        with self._lock:
            node = self._get(path, self._tx(tx) if tx else None)
            if node is None:
                self._check(path)
                raise XsError("ENOENT", path)
            return list(node.perms)

    def __len__(self) -> int:
        """Number of live nodes, the root included."""
        with self._lock:
            return len(self._nodes)

    # ------------------------------------------------------------------ changing

    def write(self, path: str, value: bytes | str, tx: int = 0) -> None:
        """Set a node's value, creating it and any missing parents (with empty values)."""
        value = self._value(value)
        if len(value) > self.max_value:
            raise XsError("E2BIG", path)
        self._check(path)
        with self._lock:
            t = self._tx(tx) if tx else None
            node = self._mut(path, t)
            if node is None:
                node = self._create(path, t)
            node.value = value
            node.gen = self._next_gen()
            self._changed(path, False, t)

    def mkdir(self, path: str, tx: int = 0) -> None:
        """Create a node with an empty value; an existing node is left alone (no event)."""
        self._check(path)
        with self._lock:
            t = self._tx(tx) if tx else None
            if self._get(path, t) is None:
                self._create(path, t)
                self._changed(path, False, t)

    def rm(self, path: str, tx: int = 0) -> None:
        """Remove a node and its whole subtree; ENOENT if missing, EINVAL for the root."""
        self._check(path)
        if path == "/":
            raise XsError("EINVAL", path)
        with self._lock:
            t = self._tx(tx) if tx else None
            if self._get(path, t) is None:
                raise XsError("ENOENT", path)
            stack = [path]
            while stack:
                p = stack.pop()
                n = self._get(p, t)
                if n is None:
                    continue
                if n.children:
                    stack.extend(p + "/" + c for c in n.children)
                if t is None:
                    del self._nodes[p]
                else:
                    t.changes[p] = None
            parent = self._mut(_parent(path), t)
            parent.children.pop(path[path.rfind("/") + 1:], None)
            parent.gen = self._next_gen()
            self._changed(path, True, t)

    def set_perms(self, path: str, perms: list[str] | tuple[str, ...], tx: int = 0) -> None:
        """Replace a node's permissions: ``["n0", "r5"]`` (owner first; letters n/r/w/b)."""
        perms = tuple(perms)
        if not perms or not all(isinstance(p, str) and _VALID_PERM.match(p) for p in perms):
            raise XsError("EINVAL", path)
        self._check(path)
        with self._lock:
            t = self._tx(tx) if tx else None
            node = self._mut(path, t)
            if node is None:
                raise XsError("ENOENT", path)
            node.perms = perms
            node.gen = self._next_gen()
            self._changed(path, False, t)

    def _create(self, path: str, t: _Tx | None) -> _Node:
        """Create ``path`` and its missing ancestors (empty values, the parent's permissions)."""
        missing = []
        p = path
        while (parent := self._mut(p, t)) is None:
            missing.append(p)
            p = _parent(p)
        if t is None and len(self._nodes) + len(missing) > self.max_nodes:
            raise XsError("ENOSPC", path)
        gen = self._next_gen()
        node = parent
        for q in reversed(missing):
            node = _Node(b"", parent.perms, gen)
            self._store(q, node, t)
            parent.add_child(q[q.rfind("/") + 1:])
            parent.gen = gen
            parent = node
        return node

    def _changed(self, path: str, removal: bool, t: _Tx | None) -> None:
        if t is None:
            self._fire(path, removal)
        else:
            t.events.append((path, removal))

    # ------------------------------------------------------------------ transactions

    def transaction_start(self, owner: Hashable = None) -> int:
        """Open a transaction; ``ENOSPC`` past ``max_transactions`` for this owner."""
        with self._lock:
            if self._tx_count.get(owner, 0) >= self.max_transactions:
                raise XsError("ENOSPC", "too many transactions")
            tx_id = self._next_tx
            self._next_tx = self._next_tx % 0xFFFFFFFE + 1  # never 0 (= no transaction)
            while tx_id in self._txs:
                tx_id = self._next_tx
                self._next_tx = self._next_tx % 0xFFFFFFFE + 1
            self._txs[tx_id] = _Tx(tx_id, owner)
            self._tx_count[owner] = self._tx_count.get(owner, 0) + 1
            return tx_id

    def transaction_end(self, tx: int, commit: bool = True, owner: Hashable = _ABSENT) -> None:
        """Commit (or abort) a transaction; ``EAGAIN`` if a node it used changed meanwhile.

        With ``owner`` given, a transaction of another owner is ``ENOENT`` (ids are per
        connection on the wire).
        """
        with self._lock:
            t = self._txs.get(tx)
            if t is None or (owner is not _ABSENT and t.owner != owner):
                raise XsError("ENOENT", f"transaction {tx}")
            self._drop_tx(t)
            if not commit:
                return
            nodes = self._nodes
            for p, g in t.seen.items():
                live = nodes.get(p)
                if (live.gen if live is not None else -1) != g:
                    raise XsError("EAGAIN", p)
            added = sum(1 for p, n in t.changes.items() if n is not None and p not in nodes)
            if len(nodes) + added > self.max_nodes:
                raise XsError("ENOSPC", "transaction")
            gen = self._next_gen()
            with self.batch():
                for p, n in t.changes.items():
                    if n is None:
                        nodes.pop(p, None)
                    else:
                        n.gen = gen
                        nodes[p] = n
                for p, removal in t.events:
                    self._fire(p, removal)

    def _drop_tx(self, t: _Tx) -> None:
        del self._txs[t.id]
        left = self._tx_count[t.owner] - 1
        if left:
            self._tx_count[t.owner] = left
        else:
            del self._tx_count[t.owner]

    # ------------------------------------------------------------------ watches

    def watch(self, path: str, token: str, callback: Callback, *, owner: Hashable = None,
              on_added: Callable[[], None] | None = None) -> Watch:
        """Register a watch and fire it once at once with ``path``.

        ``on_added`` runs under the lock after registration and before that first event (the
        server sends its acknowledgement there, as xenstored sends the ack before the event).
        ``EEXIST`` for a duplicate (path, token) of one owner; ``E2BIG`` past ``max_watches``.
        """
        if path.startswith("@"):
            if len(path) > XENSTORE_REL_PATH_MAX or not _VALID_SPECIAL.match(path):
                raise XsError("EINVAL", path)
        else:
            self._check(path)
        with self._lock:
            for w in self._watches.get(path, ()):
                if w.owner == owner and w.token == token:
                    raise XsError("EEXIST", path)
            if self._watch_count.get(owner, 0) >= self.max_watches:
                raise XsError("E2BIG", "too many watches")
            w = Watch(path, token, callback, owner)
            self._watches.setdefault(path, []).append(w)
            self._watch_count[owner] = self._watch_count.get(owner, 0) + 1
            if on_added is not None:
                on_added()
            self._deliver(w, path)
            return w

    def unwatch(self, path: str, token: str, owner: Hashable = None) -> None:
        """Remove the watch (path, token) of ``owner``; ``ENOENT`` if there is none."""
        with self._lock:
            for w in self._watches.get(path, ()):
                if w.owner == owner and w.token == token:
                    self._remove_watch(w)
                    return
            raise XsError("ENOENT", path)

    def _remove_watch(self, w: Watch) -> None:
        w.active = False
        lst = self._watches[w.path]
        lst.remove(w)
        if not lst:
            del self._watches[w.path]
        left = self._watch_count[w.owner] - 1
        if left:
            self._watch_count[w.owner] = left
        else:
            del self._watch_count[w.owner]

    def release_owner(self, owner: Hashable) -> None:
        """Drop every watch and abort every transaction of ``owner`` (a closed connection)."""
        with self._lock:
            for lst in list(self._watches.values()):
                for w in [w for w in lst if w.owner == owner]:
                    self._remove_watch(w)
            for t in [t for t in self._txs.values() if t.owner == owner]:
                self._drop_tx(t)

    def unwatch_all(self, owner: Hashable) -> None:
        """Drop every watch of ``owner`` (RESET_WATCHES)."""
        with self._lock:
            for lst in list(self._watches.values()):
                for w in [w for w in lst if w.owner == owner]:
                    self._remove_watch(w)

    def fire_special(self, path: str) -> None:
        """Fire the watches on a special path such as ``@introduceDomain``/``@releaseDomain``."""
        if not path.startswith("@"):
            raise XsError("EINVAL", path)
        with self._lock:
            self._fire(path, False)

    def _fire(self, path: str, removal: bool) -> None:
        ws = self._watches
        if not ws:
            return
        if path[0] == "@":
            for w in list(ws.get(path, ())):
                self._deliver(w, path)
            return
        p = path
        while True:  # the node itself and each ancestor up to the root
            lst = ws.get(p)
            if lst:
                for w in list(lst):
                    self._deliver(w, path)
            if p == "/":
                break
            p = _parent(p)
        if removal:  # watches inside the removed subtree fire with their own path
            prefix = path + "/"
            for wp, lst in list(ws.items()):
                if wp.startswith(prefix):
                    for w in list(lst):
                        self._deliver(w, wp)

    def _deliver(self, w: Watch, path: str) -> None:
        if self._batch_depth:
            self._pending.append((w, path))
            return
        if w.active:
            try:
                w.callback(path, w.token)
            except Exception:  # a watcher's failure must not break the tree
                log.exception("xenstore watch callback failed for %r", w)

    @contextmanager
    def batch(self) -> Iterator["XenstoreTree"]:
        """Hold the lock over several changes; watch events are delivered at the end."""
        with self._lock:
            self._batch_depth += 1
            try:
                yield self
            finally:
                self._batch_depth -= 1
                if not self._batch_depth:
                    while self._pending:
                        pending, self._pending = self._pending, []
                        for w, p in pending:
                            self._deliver(w, p)
