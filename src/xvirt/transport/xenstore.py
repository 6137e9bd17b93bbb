"""xenstore client over a unix socket: request/reply, buffered watch events, sync() and exact counts.

Theory of operation. One socket, one request in flight (a lock serialises callers). After
sending a request the client reads messages until the reply with its ``req_id`` arrives; watch
events that come first are appended to an event buffer, so they are never lost and never
mistaken for replies. xenstored writes a connection's events and replies in the order it queued
them, and queues an event as the change happens, so after :meth:`XenstoreClient.sync` (one
GET_DOMAIN_PATH round trip) every event queued before it is in the buffer.

Failures map to :mod:`xvirt.errors` here and only here: an error reply is
:class:`~xvirt.protocol.xenstore.XsError` (``XsNoEntError`` for a missing node); an unreachable,
dead, timed-out or desynchronised socket is :class:`XsConnectionError` (``XenstoreError`` with
code ``VIR_ERR_NO_XENSTORE``) and the socket is dropped. The next call reconnects; a request
that could not even be sent on an old connection (xenstored restarted while the client was idle)
is retried once on a new one, since xenstored never saw it. A new connection registers again
every watch this client holds; each fires once at registration, which tells the caller to re-read
what it watches.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
from collections import deque

from ..errors import XenstoreError
from ..protocol.xenstore import (XENSTORE_PAYLOAD_MAX, XsError, XsProtocolError, XsType,
                                 parse_directory, parse_directory_part, parse_error,
                                 parse_watch_event, split_strings, type_name)

__all__ = ["XenstoreClient", "XsConnectionError"]

_HDR = struct.Struct("<IIII")
_PACK = _HDR.pack
_UNPACK_FROM = _HDR.unpack_from
_WATCH_EVENT = int(XsType.WATCH_EVENT)
_ERROR = int(XsType.ERROR)
_READ = int(XsType.READ)
_TIMEVAL = struct.Struct("@ll")  # struct timeval for SO_RCVTIMEO / SO_SNDTIMEO


class XsConnectionError(XenstoreError):
    """xenstored cannot be reached (or the connection broke); code ``VIR_ERR_NO_XENSTORE``."""


def _enc(s: str) -> bytes:
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise XsError("EINVAL", repr(s)) from None


class XenstoreClient:
    """A connection to xenstored at ``path`` (``timeout`` seconds for connect and each reply).

    At most ``max_events`` watch events are buffered; beyond that the oldest are dropped and
    counted in ``events_lost``.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 5.0,
                 max_events: int = 65536) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self.max_events = max_events
        self.events_lost = 0
        self.reconnects = 0  # connections made after the first
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._rbuf = b""
        self._req_id = 0
        self._counts: dict[int, int] = {}
        self._events: deque[tuple[str, str]] = deque()
        self._watches: dict[tuple[str, str], None] = {}  # registered (path, token), in order
        self._connections = 0
        self._closed = False

    # ------------------------------------------------------------------ connection

    def _connect(self) -> socket.socket:
        if self._closed:
            raise XsConnectionError("xenstore client is closed")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
            # Blocking mode with kernel timeouts: a Python-level timeout costs a poll() per
            # call, which doubles the cost of a READ round trip.
            s.settimeout(None)
            if self.timeout is not None:
                sec = int(self.timeout)
                tv = _TIMEVAL.pack(sec, int((self.timeout - sec) * 1e6))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        except OSError as e:
            s.close()
            raise XsConnectionError(f"cannot connect to xenstored at {self.path}: "
                                    f"{e.strerror or e}") from None
        self._sock, self._rbuf = s, b""
        self._connections += 1
        if self._connections > 1:
            self.reconnects += 1
            for path, token in list(self._watches):  # watches do not survive a connection
                self._call(XsType.WATCH, _enc(path) + b"\0" + _enc(token) + b"\0", 0,
                           retry=False)
        return s

    def _drop(self) -> None:
        s, self._sock, self._rbuf = self._sock, None, b""
        if s is not None:
            try:
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        """Close the connection; later calls raise :class:`XsConnectionError`."""
        with self._lock:
            self._closed = True
            self._drop()

    def __enter__(self) -> "XenstoreClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one round trip

    def _call(self, type: int, payload: bytes, tx: int, retry: bool = True) -> bytes:
        """Send one request and return its reply payload (caller holds the lock)."""
        n = len(payload)
        if n > XENSTORE_PAYLOAD_MAX:
            raise XsError("E2BIG")
        sock = self._sock
        if sock is not None and retry:
            rid = self._req_id = (self._req_id + 1) & 0xFFFFFFFF
            try:
                sock.sendall(_PACK(type, rid, tx, n) + payload)
            except OSError:
                # The connection died while idle (xenstored restarted or dropped us). An
                # unsent request never reached xenstored, so one retry on a new one is safe.
                self._drop()
                sock = None
            else:
                self._counts[type] = self._counts.get(type, 0) + 1
                return self._reply(sock, type, rid)
        if sock is None:
            sock = self._connect()
        rid = self._req_id = (self._req_id + 1) & 0xFFFFFFFF
        try:
            sock.sendall(_PACK(type, rid, tx, n) + payload)
        except OSError as e:
            self._drop()
            raise XsConnectionError(f"xenstore connection {self.path} lost: "
                                    f"{e.strerror or e}") from None
        self._counts[type] = self._counts.get(type, 0) + 1
        return self._reply(sock, type, rid)

    def _reply(self, sock: socket.socket, type: int, rid: int) -> bytes:
        """Read until the reply to ``rid``, buffering watch events that come first."""
        buf = self._rbuf
        try:
            while True:
                if len(buf) >= 16:  # usually the whole reply arrives in one recv
                    t, r, _, ln = _UNPACK_FROM(buf)
                    if ln > XENSTORE_PAYLOAD_MAX:
                        raise XsProtocolError(f"xenstored sent a {ln}-byte payload")
                    end = 16 + ln
                    if len(buf) >= end:
                        body = buf[16:end]
                        buf = buf[end:]
                        if t == _WATCH_EVENT:
                            self._event(body)
                            continue
                        self._rbuf = buf
                        if r != rid:
                            raise XsProtocolError(f"reply for request {r}, expected {rid}")
                        if t == type:
                            return body
                        if t == _ERROR:
                            raise XsError(parse_error(body))
                        raise XsProtocolError(f"reply of type {type_name(t)} to "
                                              f"{type_name(type)}")
                data = sock.recv(65536)
                if not data:
                    raise ConnectionResetError("xenstored closed the connection")
                buf = buf + data if buf else data
        except XsError:
            raise
        except XsProtocolError as e:
            self._drop()
            raise XsConnectionError(f"xenstore connection {self.path} desynchronised: {e}") from None
        except (socket.timeout, BlockingIOError):  # BlockingIOError: SO_RCVTIMEO expired
            self._drop()
            raise XsConnectionError(f"xenstored at {self.path} did not answer "
                                    f"{type_name(type)} within {self.timeout}s") from None
        except OSError as e:
            self._drop()
            raise XsConnectionError(f"xenstore connection {self.path} lost: "
                                    f"{e.strerror or e}") from None

    def _event(self, body: bytes) -> None:
        try:
            ev = parse_watch_event(body)
        except XsProtocolError:
            return
        if len(self._events) >= self.max_events:
            self._events.popleft()
            self.events_lost += 1
        self._events.append(ev)

    def _request(self, type: int, payload: bytes, tx: int = 0, path: str | None = None) -> bytes:
        with self._lock:
            try:
                return self._call(type, payload, tx)
            except XsError as e:
                if path is not None and e.path is None:
                    raise XsError(e.errno, path) from None
                raise

    # ------------------------------------------------------------------ operations

    def read_many(self, paths: list[str], *, window: int = 256) -> list[bytes | None]:
        """Values of many nodes (None where missing), pipelined: up to ``window`` READs are
        sent before their replies are read. xenstored answers a connection's requests in order,
        so this costs one READ message each but about one round trip per window."""
        payloads = [p.encode("utf-8", "surrogateescape") + b"\0" for p in paths]
        if any(len(p) > XENSTORE_PAYLOAD_MAX for p in payloads):
            raise XsError("E2BIG")
        out: list[bytes | None] = []
        with self._lock:
            for start in range(0, len(payloads), window):
                chunk = payloads[start:start + window]
                if self._sock is None:
                    self._connect()
                sock = self._sock
                rids, frames = [], []
                for payload in chunk:
                    rid = self._req_id = (self._req_id + 1) & 0xFFFFFFFF
                    rids.append(rid)
                    frames.append(_PACK(_READ, rid, 0, len(payload)) + payload)
                try:
                    sock.sendall(b"".join(frames))
                except OSError as e:
                    self._drop()
                    raise XsConnectionError(f"xenstore connection {self.path} lost: "
                                            f"{e.strerror or e}") from None
                self._counts[_READ] = self._counts.get(_READ, 0) + len(chunk)
                for rid in rids:
                    try:
                        out.append(self._reply(sock, _READ, rid))
                    except XsError as e:
                        if e.errno != "ENOENT" or isinstance(e, XsConnectionError):
                            raise
                        out.append(None)
        return out

    def read(self, path: str, tx: int = 0) -> bytes:
        """Value of a node (``XsNoEntError`` if it is missing)."""
        try:
            payload = path.encode("utf-8", "surrogateescape") + b"\0"
        except UnicodeEncodeError:
            raise XsError("EINVAL", repr(path)) from None
        with self._lock:
            try:
                return self._call(_READ, payload, tx)
            except XsError as e:
                raise XsError(e.errno, path) from None

    def write(self, path: str, value: bytes | str, tx: int = 0) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8")
        self._request(XsType.WRITE, _enc(path) + b"\0" + bytes(value), tx, path)

    def mkdir(self, path: str, tx: int = 0) -> None:
        self._request(XsType.MKDIR, _enc(path) + b"\0", tx, path)

    def rm(self, path: str, tx: int = 0) -> None:
        self._request(XsType.RM, _enc(path) + b"\0", tx, path)

    def directory(self, path: str, tx: int = 0) -> list[str]:
        """Child names; lists longer than one message are fetched with DIRECTORY_PART (as libxs)."""
        p = _enc(path) + b"\0"
        with self._lock:
            try:
                return parse_directory(self._call(XsType.DIRECTORY, p, tx))
            except XsError as e:
                if e.errno != "E2BIG":
                    raise XsError(e.errno, path) from None
            names: list[str] = []
            gen, off = None, 0
            while True:
                try:
                    reply = self._call(XsType.DIRECTORY_PART, p + b"%d\0" % off, tx)
                except XsError as e:
                    raise XsError(e.errno, path) from None
                g, part, done = parse_directory_part(reply)
                if gen is not None and g != gen:  # the directory changed: start again
                    names, off = [], 0
                    gen = None
                    continue
                gen = g
                names += part
                off += sum(len(_enc(n)) + 1 for n in part)
                if done:
                    return names
                if not part:
                    raise XsConnectionError("xenstored sent an empty DIRECTORY_PART")

    def get_perms(self, path: str, tx: int = 0) -> list[str]:
        return split_strings(self._request(XsType.GET_PERMS, _enc(path) + b"\0", tx, path))

    def set_perms(self, path: str, perms: list[str], tx: int = 0) -> None:
        payload = _enc(path) + b"\0" + b"".join(_enc(p) + b"\0" for p in perms)
        self._request(XsType.SET_PERMS, payload, tx, path)

    def get_domain_path(self, domid: int) -> str:
        """``/local/domain/<id>`` as xenstored formats it; it exists or not (never checked)."""
        return self._request(XsType.GET_DOMAIN_PATH, b"%d\0" % domid).rstrip(b"\0").decode()

    def is_domain_introduced(self, domid: int) -> bool:
        return self._request(XsType.IS_DOMAIN_INTRODUCED, b"%d\0" % domid) != b"F\0"

    def watch(self, path: str, token: str) -> None:
        """Watch ``path`` and its descendants; fires once at once, then on every change."""
        with self._lock:
            self._call(XsType.WATCH, _enc(path) + b"\0" + _enc(token) + b"\0", 0)
            self._watches[(path, token)] = None

    def unwatch(self, path: str, token: str) -> None:
        with self._lock:
            self._watches.pop((path, token), None)
            self._call(XsType.UNWATCH, _enc(path) + b"\0" + _enc(token) + b"\0", 0)

    def transaction_start(self) -> int:
        return int(self._request(XsType.TRANSACTION_START, b"\0").rstrip(b"\0"))

    def transaction_end(self, tx: int, commit: bool = True) -> None:
        """Commit (``XsError`` EAGAIN if a node it used changed meanwhile) or abort."""
        self._request(XsType.TRANSACTION_END, b"T\0" if commit else b"F\0", tx)

    def sync(self) -> None:
        """One round trip; afterwards every event xenstored queued before it is buffered."""
        self._request(XsType.GET_DOMAIN_PATH, b"0\0")

    def events(self) -> list[tuple[str, str]]:
        """Take the buffered watch events, oldest first, as ``(path, token)``."""
        out = []
        pop = self._events.popleft
        try:
            while True:
                out.append(pop())
        except IndexError:
            return out

    def wait_events(self, timeout: float, wake_fd: int | None = None) -> list[tuple[str, str]]:
        """Buffered watch events, else those that arrive within ``timeout`` seconds (maybe none).

        Meant for a connection that only watches (no request in flight): it blocks at most
        ``timeout`` in one ``select``, or until ``wake_fd`` is readable (the caller drains it).
        A dead connection raises :class:`XsConnectionError`.
        """
        with self._lock:
            if not self._events:
                if self._sock is None:
                    self._connect()  # registers the watches again; they fire at once
                sock = self._sock
                try:
                    fds = [sock] if wake_fd is None else [sock, wake_fd]
                    ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
                    if sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            raise ConnectionResetError("xenstored closed the connection")
                        buf = self._rbuf + data
                        while len(buf) >= 16:
                            t, _, _, ln = _UNPACK_FROM(buf)
                            if ln > XENSTORE_PAYLOAD_MAX or t != _WATCH_EVENT:
                                raise XsProtocolError(f"unexpected {type_name(t)} on a watching connection")
                            if len(buf) < 16 + ln:
                                break
                            self._event(buf[16:16 + ln])
                            buf = buf[16 + ln:]
                        self._rbuf = buf
                except XsProtocolError as e:
                    self._drop()
                    raise XsConnectionError(f"xenstore connection {self.path} desynchronised: {e}") from None
                except OSError as e:
                    self._drop()
                    raise XsConnectionError(f"xenstore connection {self.path} lost: "
                                            f"{e.strerror or e}") from None
        return self.events()

    def counts(self) -> dict[str, int]:
        """Requests sent on this client by message type name (``{"READ": 3, ...}``); exact."""
        with self._lock:
            return {type_name(t): n for t, n in self._counts.items()}
