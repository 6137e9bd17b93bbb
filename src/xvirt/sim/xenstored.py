"""xenstored on two unix sockets (read-write and read-only) serving the real wire protocol over a tree.

Theory of operation. One accept thread serves both listening sockets. Each connection gets a
reader thread, which decodes requests (:class:`xvirt.protocol.xenstore.Decoder`), runs them
against the :class:`~xvirt.sim.xenstore_tree.XenstoreTree` and queues the reply, and a writer
thread, which drains the connection's outbound queue to the socket. Watch callbacks run in
whichever thread changes the tree, under the tree lock, and only append to the watcher's queue;
so a slow reader never blocks the tree, and an event caused by a change is queued before the
reply to any request its connection sends later (the reply is queued after the request is
handled). A connection whose queue exceeds ``max_queue_bytes`` (it does not read its events) is
dropped; its watches and transactions go with it.

Wire behaviour follows Xen's xenstored (tools/xenstore/xenstored_core.c, _domain.c, _watch.c,
_transaction.c): errors are ERROR replies with errno names; GET_DOMAIN_PATH formats
``/local/domain/<id>`` without checking anything; RM of a missing node whose parent exists
succeeds; DIRECTORY answers E2BIG when the list exceeds 4096 bytes, after which libxs clients
(xenstore-ls, xenstore-list) use DIRECTORY_PART; relative paths are relative to
``/local/domain/0`` (socket clients are dom0). Choices of this simulator:

* the read-only socket answers EACCES to WRITE, MKDIR, RM, SET_PERMS, INTRODUCE, RELEASE,
  RESUME and SET_TARGET; it allows reads, watches and transactions, whose commit can only carry
  reads there (libxs tools wrap even reads in a transaction);
* INTRODUCE and RELEASE on the read-write socket are accepted and fire ``@introduceDomain`` /
  ``@releaseDomain`` (no ring is mapped); IS_DOMAIN_INTRODUCED is "T" iff
  ``/local/domain/<id>`` exists;
* CONTROL (DEBUG) knows ``print`` (logged, "OK") and ``help``; other commands are EINVAL;
* malformed input: a request without the NULs it needs, a reply-only type or an unknown type
  gets EINVAL and the connection stays; a length over 4096 gets E2BIG and the connection is
  closed (the framing is lost), as is one that ends inside a frame (EINVAL first).

Bounds (issue 12), so that no client can shut others out or grow the daemon without limit:

* each connection has a memory quota (``quota_bytes``): the path and value bytes of the nodes
  it wrote or created that still exist. A write beyond it is refused with ENOSPC, the errno
  Xen's xenstored gives a quota violation (xenstored_core.c, "set correct error code when
  violating quota"); the connection stays usable, and removing its nodes frees quota. Nodes
  outlive their connection, so all socket clients together, gone ones included, have a second
  quota (``max_client_bytes``): reconnecting does not get round the first;
* a connection silent for ``idle_timeout`` seconds is closed (clients reconnect and watch
  again; the immediate firing of their watches tells them to re-read);
* at most ``max_connections`` are open. Once fewer than ``reserve`` slots are free, a new
  client takes the slot of the connection idle longest (idle at least ``evict_idle`` seconds);
  when every connection is busy, the new one is closed at once (the client sees EOF at once,
  it never hangs).
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import stat
import threading
import time
from collections import deque

from ..protocol.xenstore import (XENSTORE_PAYLOAD_MAX, Decoder, Message, XsError,
                                 XsProtocolError, XsType, encode, error_reply, pack_strings,
                                 parse_request, type_name, watch_event, OK)
from .xenstore_tree import XenstoreTree

__all__ = ["XenstoredServer"]

log = logging.getLogger(__name__)

HOME = "/local/domain/0"  # xenstored get_implicit_path for a dom0 (socket) connection
_HOME_PREFIX = HOME + "/"
_CONTROL_HELP = b"Valid commands:\nprint <string>\nhelp\n\0"


def _atoi(s: str) -> int:
    """C ``atoi``: leading digits (after optional sign), 0 if none (xenstored parses ids so)."""
    s = s.strip()
    i = 1 if s[:1] in "+-" else 0
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    return int(s[:j]) if j > i else 0


class _Conn:
    """One client connection: reader thread, writer thread and the outbound queue between."""

    def __init__(self, server: "XenstoredServer", sock: socket.socket, readonly: bool) -> None:
        self.server, self.sock, self.readonly = server, sock, readonly
        self.out: deque[bytes] = deque()
        self.out_bytes = 0
        self.cv = threading.Condition(threading.Lock())
        self.closing = False
        self.sending = False
        self.txs: set[int] = set()
        self.last_active = time.monotonic()
        self.owned: dict[str, int] = {}   # path -> bytes charged to this connection's quota
        self.owned_bytes = 0
        self.reader = threading.Thread(target=self._read_loop, name="xenstored-conn", daemon=True)
        self.writer = threading.Thread(target=self._write_loop, name="xenstored-out", daemon=True)

    # ------------------------------------------------------------------ outbound queue

    def enqueue(self, data: bytes) -> None:
        """Queue bytes for the writer; may run under the tree lock, so it never blocks."""
        with self.cv:
            if self.closing:
                return
            self.out_bytes += len(data)
            if self.out_bytes > self.server.max_queue_bytes:
                log.warning("xenstored: dropping a connection that does not read (%d bytes "
                            "queued)", self.out_bytes)
                self.out.clear()
                self.closing = True
                self.cv.notify()
                self._shutdown()
                return
            if not self.out and not self.sending:
                # Fast path: nothing queued or in flight, so a non-blocking send keeps the
                # order; whatever the socket does not take now goes to the writer thread.
                try:
                    sent = self.sock.send(data, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.closing = True
                    self.cv.notify()
                    return
                self.out_bytes -= sent
                if sent == len(data):
                    return
                data = data[sent:]
            self.out.append(data)
            self.cv.notify()

    def finish(self) -> None:
        """No more output: the writer flushes what is queued, then shuts the socket down."""
        with self.cv:
            self.closing = True
            self.cv.notify()

    def _shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write_loop(self) -> None:
        cv, out = self.cv, self.out
        while True:
            with cv:
                while not out and not self.closing:
                    cv.wait()
                if not out:
                    break
                data = b"".join(out) if len(out) > 1 else out[0]
                out.clear()
                self.out_bytes = 0
                self.sending = True  # enqueue() must not overtake these bytes
            try:
                self.sock.sendall(data)
            except OSError:
                with cv:
                    self.closing = True
                    self.sending = False
                    out.clear()
                break
            with cv:
                self.sending = False
        self._shutdown()

    # ------------------------------------------------------------------ inbound

    def _read_loop(self) -> None:
        dec = Decoder()
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    break
                self.last_active = time.monotonic()
                if not data:
                    if dec.buffered:  # ended inside a frame
                        hdr = dec.partial_header()
                        self.enqueue(error_reply("EINVAL", *(hdr[1:3] if hdr else (0, 0))))
                    break
                dec.feed(data)
                try:
                    for msg in dec:
                        self.handle(msg)
                except XsProtocolError as e:  # oversized: the framing is lost
                    t, req_id, tx_id, _ = e.header or (0, 0, 0, 0)
                    self.server._count(t)
                    log.info("xenstored: closing connection: %s", e)
                    self.enqueue(error_reply(e.errno, req_id, tx_id))
                    break
        except Exception:  # never let one connection take the server down
            log.exception("xenstored: connection failed")
        finally:
            self.finish()
            self.server._closed(self)

    def handle(self, msg: Message) -> None:
        server = self.server
        server._count(msg.type)
        faults = server.faults
        if faults is not None and faults.xs_delay > 0:
            time.sleep(faults.xs_delay)
        try:
            payload = server._dispatch(self, msg)
            if payload is not None:
                self.enqueue(encode(msg.type, payload, msg.req_id, msg.tx_id))
        except (XsError, XsProtocolError) as e:
            self.enqueue(error_reply(e.errno, msg.req_id, msg.tx_id))
        except Exception:
            log.exception("xenstored: %s failed", type_name(msg.type))
            self.enqueue(error_reply("EIO", msg.req_id, msg.tx_id))

    def event_callback(self, relative: bool):
        enqueue = self.enqueue

        def on_event(path: str, token: str) -> None:
            if relative and path.startswith(_HOME_PREFIX):
                path = path[len(_HOME_PREFIX):]
            try:
                enqueue(watch_event(path, token))
            except XsProtocolError:
                log.warning("xenstored: watch event for %r too large, dropped", path)
        return on_event


class XenstoredServer:
    """xenstored over ``tree`` on ``rw_path`` and ``ro_path`` (unix sockets, mode 0600).

    ``counters.count_xs(type_name)`` counts every received message; ``faults.xs_delay`` is
    slept before each reply.
    """

    def __init__(self, tree: XenstoreTree, rw_path: str | os.PathLike,
                 ro_path: str | os.PathLike, *, counters=None, faults=None,
                 max_queue_bytes: int = 16 * 1024 * 1024, max_connections: int = 512,
                 reserve: int = 8, idle_timeout: float = 600.0, evict_idle: float = 1.0,
                 quota_bytes: int = 8 * 1024 * 1024,
                 max_client_bytes: int = 64 * 1024 * 1024) -> None:
        self.tree = tree
        self.rw_path, self.ro_path = os.fspath(rw_path), os.fspath(ro_path)
        self.counters, self.faults = counters, faults
        self.max_queue_bytes, self.max_connections = max_queue_bytes, max_connections
        self.reserve = max(0, min(reserve, max_connections - 1))
        self.idle_timeout, self.evict_idle = idle_timeout, evict_idle
        self.quota_bytes, self.max_client_bytes = quota_bytes, max_client_bytes
        self._quota_lock = threading.Lock()
        self._left: dict[str, int] = {}   # nodes charged to connections that have closed
        self._client_bytes = 0            # charged to every client, live or gone
        self.evicted = 0      # connections closed to make room for new clients
        self.refused = 0      # new clients closed at once because every connection was busy
        self.timed_out = 0    # connections closed after idle_timeout
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()
        self._listeners: list[tuple[socket.socket, bool]] = []
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = None
        self._stopping = False
        self._handlers = {
            XsType.READ: self._read, XsType.WRITE: self._write, XsType.MKDIR: self._mkdir,
            XsType.RM: self._rm, XsType.DIRECTORY: self._directory,
            XsType.DIRECTORY_PART: self._directory_part, XsType.GET_PERMS: self._get_perms,
            XsType.SET_PERMS: self._set_perms, XsType.WATCH: self._watch,
            XsType.UNWATCH: self._unwatch, XsType.TRANSACTION_START: self._tx_start,
            XsType.TRANSACTION_END: self._tx_end, XsType.GET_DOMAIN_PATH: self._domain_path,
            XsType.IS_DOMAIN_INTRODUCED: self._introduced, XsType.INTRODUCE: self._introduce,
            XsType.RELEASE: self._release, XsType.RESUME: self._ack_privileged,
            XsType.SET_TARGET: self._ack_privileged, XsType.RESET_WATCHES: self._reset_watches,
            XsType.CONTROL: self._control,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "XenstoredServer":
        if self._thread is not None:
            return self
        self._stopping = False
        try:
            for path, readonly in ((self.rw_path, False), (self.ro_path, True)):
                self._listeners.append((self._listen(path), readonly))
        except BaseException:
            self._close_listeners()
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._accept_loop, name="xenstored-accept",
                                        daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _listen(path: str) -> socket.socket:
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)  # a stale socket from an earlier run
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(path)
            os.chmod(path, 0o600)  # before listen(): nobody can connect in between
            s.listen(128)
        except BaseException:
            s.close()
            raise
        return s

    def _close_listeners(self) -> None:
        for s, _ in self._listeners:
            path = s.getsockname()
            s.close()
            try:
                os.unlink(path)
            except OSError:
                pass
        self._listeners = []

    def stop(self) -> None:
        """Close the listeners and every connection, and remove the socket files."""
        if self._thread is None:
            return
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5)
        self._thread = None
        self._close_listeners()
        self._wake_r.close()
        self._wake_w.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c._shutdown()
        for c in conns:
            c.reader.join(5)
            c.writer.join(5)
            c.sock.close()

    def __enter__(self) -> "XenstoredServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        sel = selectors.DefaultSelector()
        for s, readonly in self._listeners:
            sel.register(s, selectors.EVENT_READ, readonly)
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        tick = max(0.01, min(1.0, self.idle_timeout / 4))
        try:
            while not self._stopping:
                for key, _ in sel.select(tick):
                    if key.data is None:
                        return
                    try:
                        sock, _ = key.fileobj.accept()
                    except OSError:
                        continue
                    self._start_conn(sock, key.data)
                self._reap_idle()
        finally:
            sel.close()

    def _reap_idle(self) -> None:
        limit = time.monotonic() - self.idle_timeout
        with self._lock:
            idle = [c for c in self._conns if c.last_active < limit and not c.closing]
        for c in idle:
            log.info("xenstored: closing a connection idle for %gs", self.idle_timeout)
            self.timed_out += 1
            c.closing = True
            c._shutdown()

    def _start_conn(self, sock: socket.socket, readonly: bool) -> None:
        victim = None
        with self._lock:
            if self._stopping:
                sock.close()
                return
            live = [c for c in self._conns if not c.closing]
            if len(live) >= self.max_connections - self.reserve:
                # the reserve is running out: the connection idle longest makes room
                oldest = min(live, key=lambda c: c.last_active, default=None)
                if oldest is not None and time.monotonic() - oldest.last_active >= self.evict_idle:
                    victim = oldest
                    victim.closing = True
                elif len(self._conns) >= self.max_connections:
                    self.refused += 1
                    log.warning("xenstored: %d connections busy, refusing another",
                                len(self._conns))
                    sock.close()
                    return
            conn = _Conn(self, sock, readonly)
            self._conns.add(conn)
        if victim is not None:
            self.evicted += 1
            log.info("xenstored: closing the connection idle longest to make room")
            victim._shutdown()
        conn.writer.start()
        conn.reader.start()

    def _closed(self, conn: _Conn) -> None:
        self.tree.release_owner(conn)
        self._leave(conn)
        conn.writer.join(2)
        if conn.writer.is_alive():  # the peer does not read what is left: give up on it
            conn._shutdown()
            conn.writer.join(2)
        with self._lock:
            self._conns.discard(conn)
        if not self._stopping:
            conn.sock.close()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def _count(self, t: int) -> None:
        if self.counters is not None:
            self.counters.count_xs(type_name(t))

    # ------------------------------------------------------------------ requests

    def _dispatch(self, conn: _Conn, msg: Message) -> bytes | None:
        """Reply payload for a request (``None`` when the handler queued the reply itself)."""
        args = parse_request(msg.type, msg.payload)  # EINVAL for unknown/reply-only types
        tx = msg.tx_id
        if tx and msg.type != XsType.TRANSACTION_START and tx not in conn.txs:
            raise XsError("ENOENT", f"transaction {tx}")
        return self._handlers[msg.type](conn, msg, args, tx)

    @staticmethod
    def _abs(path: str) -> str:
        return path if path[:1] in ("/", "@") else _HOME_PREFIX + path

    @staticmethod
    def _writable(conn: _Conn, path: str | None = None) -> None:
        if conn.readonly:
            raise XsError("EACCES", path)

    def _read(self, conn, msg, args, tx):
        return self.tree.read(self._abs(args[0]), tx)

    def _charge(self, conn: _Conn, path: str, size: int) -> None:
        """Charge ``size`` bytes for ``path`` to the connection's quota, or ENOSPC."""
        with self._quota_lock:
            delta = size - conn.owned.get(path, 0)
            if conn.owned_bytes + delta > self.quota_bytes:
                conn.owned_bytes = self._recount(conn.owned)  # removed by others: not counted
                delta = size - conn.owned.get(path, 0)
                if conn.owned_bytes + delta > self.quota_bytes:
                    raise XsError("ENOSPC", path)
            if self._client_bytes + delta > self.max_client_bytes:
                self._recount_all()
                if self._client_bytes + delta > self.max_client_bytes:
                    raise XsError("ENOSPC", path)
            conn.owned[path] = size
            conn.owned_bytes += delta
            self._client_bytes += delta

    def _recount(self, owned: dict[str, int]) -> int:
        """Drop the nodes that are gone, re-measure the others; the new total (lock held)."""
        for p in list(owned):
            try:
                owned[p] = len(p) + len(self.tree.read(p))
            except XsError:
                del owned[p]
        return sum(owned.values())

    def _recount_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        total = self._recount(self._left)
        for c in conns:
            c.owned_bytes = self._recount(c.owned)
            total += c.owned_bytes
        self._client_bytes = total

    def _uncharge(self, conn: _Conn, path: str) -> None:
        """``path`` and its subtree were removed by ``conn``: they no longer count."""
        with self._quota_lock:
            if conn.owned:
                prefix = path.rstrip("/") + "/"
                for p in [p for p in conn.owned if p == path or p.startswith(prefix)]:
                    size = conn.owned.pop(p)
                    conn.owned_bytes -= size
                    self._client_bytes -= size

    def _leave(self, conn: _Conn) -> None:
        """A closed connection's nodes stay in the tree, and in the clients' quota."""
        with self._quota_lock:
            for p, size in conn.owned.items():
                self._client_bytes -= self._left.get(p, 0)
                self._left[p] = size
            conn.owned, conn.owned_bytes = {}, 0

    def _write(self, conn, msg, args, tx):
        path, value = args
        self._writable(conn, path)
        full = self._abs(path)
        self._charge(conn, full, len(full) + len(value))
        self.tree.write(full, value, tx)
        return OK

    def _mkdir(self, conn, msg, args, tx):
        self._writable(conn, args[0])
        full = self._abs(args[0])
        if full not in conn.owned:
            self._charge(conn, full, len(full))
        self.tree.mkdir(full, tx)
        return OK

    def _rm(self, conn, msg, args, tx):
        self._writable(conn, args[0])
        path = self._abs(args[0])
        if not tx:
            self._uncharge(conn, path)
        try:
            self.tree.rm(path, tx)
        except XsError as e:  # xenstored do_rm: a missing node is fine if its parent exists
            if e.errno != "ENOENT" or not self.tree.exists(path[:path.rfind("/")] or "/", tx):
                raise
        return OK

    def _directory(self, conn, msg, args, tx):
        data = self.tree.directory_bytes(self._abs(args[0]), tx)[1]
        if len(data) > XENSTORE_PAYLOAD_MAX:
            raise XsError("E2BIG", args[0])  # libxs then falls back to DIRECTORY_PART
        return data

    def _directory_part(self, conn, msg, args, tx):
        path, off_s = args
        if not off_s.isdigit():
            raise XsError("EINVAL", path)
        off = int(off_s)
        gen, data = self.tree.directory_bytes(self._abs(path), tx)
        head = str(gen).encode() + b"\0"
        if off >= len(data):
            return head + b"\0"
        if off and data[off - 1] != 0:
            raise XsError("EINVAL", path)  # not at the start of a name
        room = XENSTORE_PAYLOAD_MAX - len(head) - 1  # keep a byte for the end marker
        end = off
        while end < len(data):
            nxt = data.index(b"\0", end) + 1
            if nxt - off > room:
                break
            end = nxt
        if end == off:
            raise XsError("E2BIG", path)
        return head + data[off:end] + (b"\0" if end == len(data) else b"")

    def _get_perms(self, conn, msg, args, tx):
        return pack_strings(*self.tree.get_perms(self._abs(args[0]), tx))

    def _set_perms(self, conn, msg, args, tx):
        self._writable(conn, args[0])
        self.tree.set_perms(self._abs(args[0]), args[1:], tx)
        return OK

    def _watch(self, conn, msg, args, tx):
        path, token = args
        ack = encode(XsType.WATCH, OK, msg.req_id, msg.tx_id)
        relative = path[:1] not in ("/", "@")
        # The ack is queued under the tree lock just before the immediate first event
        # (xenstored_watch.c do_watch sends the ack, then fires once up front).
        self.tree.watch(self._abs(path), token, conn.event_callback(relative), owner=conn,
                        on_added=lambda: conn.enqueue(ack))
        return None

    def _unwatch(self, conn, msg, args, tx):
        self.tree.unwatch(self._abs(args[0]), args[1], owner=conn)
        return OK

    def _reset_watches(self, conn, msg, args, tx):
        self.tree.unwatch_all(conn)
        return OK

    def _tx_start(self, conn, msg, args, tx):
        if tx:
            raise XsError("EBUSY", "nested transaction")  # xenstored: no nested transactions
        new = self.tree.transaction_start(owner=conn)
        conn.txs.add(new)
        return f"{new}\0".encode()

    def _tx_end(self, conn, msg, args, tx):
        if args[0] not in ("T", "F"):
            raise XsError("EINVAL", "transaction end wants T or F")
        if not tx:
            raise XsError("EINVAL", "no transaction")
        conn.txs.discard(tx)
        self.tree.transaction_end(tx, args[0] == "T", owner=conn)
        return OK

    def _domain_path(self, conn, msg, args, tx):
        return f"/local/domain/{_atoi(args[0])}\0".encode()  # never checks the domain

    def _introduced(self, conn, msg, args, tx):
        return b"T\0" if self.tree.exists(f"/local/domain/{_atoi(args[0])}") else b"F\0"

    def _introduce(self, conn, msg, args, tx):
        self._writable(conn)
        self.tree.fire_special("@introduceDomain")
        return OK

    def _release(self, conn, msg, args, tx):
        self._writable(conn)
        self.tree.fire_special("@releaseDomain")
        return OK

    def _ack_privileged(self, conn, msg, args, tx):
        self._writable(conn)
        return OK

    def _control(self, conn, msg, args, tx):
        cmd, rest = args
        if cmd == "print":
            log.info("xenstored control print: %s", rest.split(b"\0", 1)[0].decode("utf-8", "replace"))
            return OK
        if cmd == "help":
            return _CONTROL_HELP
        raise XsError("EINVAL", f"control command {cmd!r}")
