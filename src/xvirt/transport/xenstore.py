"""xenstore client over a unix socket or the xenbus device: request/reply, buffered watch events, sync(), counts.

Theory of operation. One channel, one request in flight (a lock serialises callers). The channel
is xenstored's unix socket or a character device speaking the same wire protocol (``/dev/xen/
xenbus`` on a dom0); the bytes are framed and decoded by the one codec of
:mod:`xvirt.protocol.xenstore` that the simulated xenstored uses too. After sending a request
the client reads messages until the reply with its ``req_id`` arrives; watch events that come
first are appended to an event buffer, so they are never lost and never mistaken for replies.
xenstored writes a connection's events and replies in the order it queued them, and queues an
event as the change happens, so after :meth:`XenstoreClient.sync` (one GET_DOMAIN_PATH round
trip) every event queued before it is in the buffer.

Every request has one deadline (``timeout`` seconds) for the whole exchange: connecting, sending,
and every read until its reply, however the peer spreads its bytes (a flood of watch events, one
byte every few seconds, or silence). A request that misses it drops the channel and marks it
failed: later calls fail at once (no request is sent) until a back-off has passed (``backoff``:
first wait, doubled after every further miss up to a maximum); then the next call probes with a
new connection, and a reply resets the back-off. A refused or missing socket is cheap to try
and is tried on each call.

Failures map to :mod:`xvirt.errors` here and only here: an error reply is
:class:`~xvirt.protocol.xenstore.XsError` (``XsNoEntError`` for a missing node); an unreachable,
dead, timed-out or desynchronised channel is :class:`XsConnectionError` (``XenstoreError`` with
code ``VIR_ERR_NO_XENSTORE``), and so is a channel in back-off. A request that could not even be
sent on an old connection (xenstored restarted while the client was idle) is retried once on a
new one, since xenstored never saw it. A new connection registers again every watch this client
holds; each fires once at registration, which tells the caller to re-read what it watches.
"""

from __future__ import annotations

import os
import select
import socket
import stat
import struct
import threading
import time
from collections import deque

from ..errors import XenstoreError
from ..protocol.xenstore import (XENSTORE_PAYLOAD_MAX, Decoder, XsError, XsProtocolError, XsType,
                                 encode, parse_directory, parse_directory_part, parse_error,
                                 parse_watch_event, split_strings, type_name)

__all__ = ["XenstoreClient", "XsConnectionError", "XENBUS_DEVICE"]

XENBUS_DEVICE = "/dev/xen/xenbus"  # the xenstore device of a dom0 (same wire protocol)
_WATCH_EVENT = int(XsType.WATCH_EVENT)
_ERROR = int(XsType.ERROR)
_READ = int(XsType.READ)
_TIMEVAL = struct.Struct("@ll")  # struct timeval for SO_RCVTIMEO / SO_SNDTIMEO
_SLACK = 0.05  # seconds a kernel receive timeout may differ from the deadline before re-arming


class XsConnectionError(XenstoreError):
    """xenstored cannot be reached (or the connection broke); code ``VIR_ERR_NO_XENSTORE``."""


class _Timeout(Exception):
    """The deadline of the current request passed."""


def _enc(s: str) -> bytes:
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise XsError("EINVAL", repr(s)) from None


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Timeout
    return left


class _SocketChannel:
    """A unix socket in blocking mode with kernel timeouts (a Python-level timeout costs a poll()
    per call, which doubles the cost of a READ round trip); the kernel timeout is re-armed only
    when the deadline left differs from it by more than ``_SLACK``."""

    def __init__(self, path: str, deadline: float) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(_left(deadline))
            s.connect(path)
            s.settimeout(None)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self._armed = 0.0
        self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        left = _left(deadline)
        if abs(left - self._armed) > _SLACK:
            sec = int(left)
            tv = _TIMEVAL.pack(sec, max(1, int((left - sec) * 1e6)))  # 0 would mean "forever"
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
            self._armed = left

    def send(self, data: bytes, deadline: float) -> None:
        self._arm(deadline)
        try:
            self.sock.sendall(data)
        except (BlockingIOError, socket.timeout):
            raise _Timeout from None
        _left(deadline)

    def recv(self, deadline: float) -> bytes:
        self._arm(deadline)
        try:
            return self.sock.recv(65536)
        except (BlockingIOError, socket.timeout):  # BlockingIOError: SO_RCVTIMEO expired
            raise _Timeout from None

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _DeviceChannel:
    """A character device (``/dev/xen/xenbus``): the same bytes through read/write on its
    descriptor, waited for with poll() against the deadline."""

    def __init__(self, path: str, deadline: float) -> None:
        _left(deadline)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN)

    def _wait(self, events: int, deadline: float) -> None:
        self._poll.modify(self.fd, events)
        if not self._poll.poll(max(1, int(_left(deadline) * 1000))):
            raise _Timeout

    def send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                self._wait(select.POLLOUT, deadline)

    def recv(self, deadline: float) -> bytes:
        while True:
            try:
                return os.read(self.fd, 65536)
            except BlockingIOError:
                self._wait(select.POLLIN, deadline)

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _open_channel(path: str, deadline: float):
    try:
        is_device = stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        is_device = False
    return _DeviceChannel(path, deadline) if is_device else _SocketChannel(path, deadline)


class XenstoreClient:
    """A connection to xenstored at ``path`` (a unix socket, or a character device such as
    ``/dev/xen/xenbus``); ``timeout`` seconds for each whole request.

    At most ``max_events`` watch events are buffered; beyond that the oldest are dropped and
    counted in ``events_lost``. ``backoff`` is ``(first, maximum)`` seconds a channel that
    missed a deadline is left alone before the next probe.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 5.0,
                 max_events: int = 65536, backoff: tuple[float, float] = (1.0, 60.0)) -> None:
        self.path = os.fspath(path)
        self.timeout = float(timeout)
        self.max_events = max_events
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.events_lost = 0
        self.reconnects = 0  # connections made after the first
        self.failures = 0    # deadlines missed (or desynchronised replies) since the last reply
        self._lock = threading.Lock()
        self._chan = None
        self._dec = Decoder()
        self._req_id = 0
        self._counts: dict[int, int] = {}
        self._events: deque[tuple[str, str]] = deque()
        self._watches: dict[tuple[str, str], None] = {}  # registered (path, token), in order
        self._connections = 0
        self._closed = False
        self._retry_at = 0.0
        self._down_reason = ""
        self._answered = False  # whether the current connection has answered anything

    # ------------------------------------------------------------------ connection

    def retry_in(self) -> float:
        """Seconds until a channel in back-off is probed again (0: calls go through now)."""
        return max(0.0, self._retry_at - time.monotonic())

    def _connect(self, deadline: float) -> None:
        if self._closed:
            raise XsConnectionError("xenstore client is closed")
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            raise XsConnectionError(f"{self._down_reason}; not retried for another {wait:.1f}s")
        try:
            chan = _open_channel(self.path, deadline)
        except _Timeout:
            self._failed(f"xenstored at {self.path} did not accept a connection within "
                         f"{self.timeout:g}s")
        except OSError as e:
            raise XsConnectionError(f"cannot connect to xenstored at {self.path}: "
                                    f"{e.strerror or e}") from None
        self._chan, self._dec, self._answered = chan, Decoder(), False
        self._connections += 1
        if self._connections > 1:
            self.reconnects += 1
            for path, token in list(self._watches):  # watches do not survive a connection
                self._exchange(XsType.WATCH, _enc(path) + b"\0" + _enc(token) + b"\0", 0, deadline)

    def _lost(self, e: OSError) -> XsConnectionError:
        """Drop the channel; the error for a connection that broke (no back-off: cheap to retry)."""
        self._drop()
        if not self._answered:
            return XsConnectionError(f"xenstored at {self.path} closed a new connection at once "
                                     f"(it may be refusing clients: too many connections)")
        return XsConnectionError(f"xenstore connection {self.path} lost: {e.strerror or e}")

    def _drop(self) -> None:
        chan, self._chan = self._chan, None
        if chan is not None:
            chan.close()

    def _failed(self, reason: str):
        """Drop the channel, start (or lengthen) its back-off, and raise."""
        self._drop()
        self.failures += 1
        first, most = self.backoff
        self._retry_at = time.monotonic() + min(most, first * 2 ** (self.failures - 1))
        self._down_reason = reason
        raise XsConnectionError(reason) from None

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

    def _next_id(self) -> int:
        self._req_id = (self._req_id + 1) & 0xFFFFFFFF
        return self._req_id

    def _call(self, type: int, payload: bytes, tx: int) -> bytes:
        """Send one request and return its reply payload (caller holds the lock)."""
        if len(payload) > XENSTORE_PAYLOAD_MAX:
            raise XsError("E2BIG")
        deadline = time.monotonic() + self.timeout
        chan = self._chan
        if chan is not None:
            rid = self._next_id()
            try:
                chan.send(encode(type, payload, rid, tx), deadline)
            except _Timeout:
                self._failed(f"xenstored at {self.path} did not take {type_name(type)} within "
                             f"{self.timeout:g}s")
            except OSError:
                # The connection died while idle (xenstored restarted or dropped us). An
                # unsent request never reached xenstored, so one retry on a new one is safe.
                self._drop()
            else:
                self._counts[type] = self._counts.get(type, 0) + 1
                return self._reply(type, rid, deadline)
        self._connect(deadline)
        return self._exchange(type, payload, tx, deadline)

    def _exchange(self, type: int, payload: bytes, tx: int, deadline: float) -> bytes:
        rid = self._next_id()
        try:
            self._chan.send(encode(type, payload, rid, tx), deadline)
        except _Timeout:
            self._failed(f"xenstored at {self.path} did not take {type_name(type)} within "
                         f"{self.timeout:g}s")
        except OSError as e:
            raise self._lost(e) from None
        self._counts[type] = self._counts.get(type, 0) + 1
        return self._reply(type, rid, deadline)

    def _reply(self, type: int, rid: int, deadline: float) -> bytes:
        """Read until the reply to ``rid`` or the deadline, buffering watch events."""
        dec = self._dec
        try:
            while True:
                msg = dec.next_message()
                if msg is None:
                    data = self._chan.recv(deadline)
                    if not data:
                        raise ConnectionResetError("xenstored closed the connection")
                    dec.feed(data)
                    continue
                t = msg.type
                if t == _WATCH_EVENT:
                    self._event(msg.payload)
                    if time.monotonic() > deadline:  # a flood must not hold the request
                        raise _Timeout
                    continue
                if msg.req_id != rid:
                    raise XsProtocolError(f"reply for request {msg.req_id}, expected {rid}")
                if t == type:
                    self.failures, self._answered = 0, True
                    return msg.payload
                if t == _ERROR:
                    self.failures, self._answered = 0, True
                    raise XsError(parse_error(msg.payload))
                raise XsProtocolError(f"reply of type {type_name(t)} to {type_name(type)}")
        except XsError:
            raise
        except XsProtocolError as e:
            self._failed(f"xenstore connection {self.path} desynchronised: {e}")
        except _Timeout:
            self._failed(f"xenstored at {self.path} did not answer {type_name(type)} within "
                         f"{self.timeout:g}s")
        except OSError as e:
            raise self._lost(e) from None

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
        sent before their replies are read, under one deadline per window. xenstored answers a
        connection's requests in order, so this costs one READ message each but about one
        round trip per window."""
        payloads = [_enc(p) + b"\0" for p in paths]
        if any(len(p) > XENSTORE_PAYLOAD_MAX for p in payloads):
            raise XsError("E2BIG")
        out: list[bytes | None] = []
        with self._lock:
            for start in range(0, len(payloads), window):
                chunk = payloads[start:start + window]
                deadline = time.monotonic() + self.timeout
                if self._chan is None:
                    self._connect(deadline)
                rids, frames = [], []
                for payload in chunk:
                    rid = self._next_id()
                    rids.append(rid)
                    frames.append(encode(_READ, payload, rid, 0))
                try:
                    self._chan.send(b"".join(frames), deadline)
                except _Timeout:
                    self._failed(f"xenstored at {self.path} did not take READ within "
                                 f"{self.timeout:g}s")
                except OSError as e:
                    raise self._lost(e) from None
                self._counts[_READ] = self._counts.get(_READ, 0) + len(chunk)
                for rid in rids:
                    try:
                        out.append(self._reply(_READ, rid, deadline))
                    except XsError as e:
                        if e.errno != "ENOENT" or isinstance(e, XsConnectionError):
                            raise
                        out.append(None)
        return out

    def read(self, path: str, tx: int = 0) -> bytes:
        """Value of a node (``XsNoEntError`` if it is missing)."""
        payload = _enc(path) + b"\0"
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
            except XsProtocolError as e:
                raise XsConnectionError(f"xenstored sent a malformed DIRECTORY reply: {e}") from None
            names: list[str] = []
            gen, off = None, 0
            while True:
                try:
                    reply = self._call(XsType.DIRECTORY_PART, p + b"%d\0" % off, tx)
                except XsError as e:
                    raise XsError(e.errno, path) from None
                try:
                    g, part, done = parse_directory_part(reply)
                except XsProtocolError as e:
                    raise XsConnectionError(f"xenstored sent a malformed DIRECTORY_PART reply: "
                                            f"{e}") from None
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
        return self._request(XsType.GET_DOMAIN_PATH, b"%d\0" % domid).rstrip(b"\0").decode(
            "utf-8", "replace")

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
        """A new transaction id (a reply that is not a positive number is an XsProtocolError)."""
        reply = self._request(XsType.TRANSACTION_START, b"\0")
        text = reply.rstrip(b"\0")
        if not text.isdigit() or not 0 < int(text) <= 0xFFFFFFFF:
            raise XsProtocolError(f"xenstored answered TRANSACTION_START with {reply[:40]!r}, "
                                  "not a transaction id")
        return int(text)

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
                deadline = time.monotonic() + self.timeout
                if self._chan is None:
                    self._connect(deadline)  # registers the watches again; they fire at once
                chan = self._chan
                try:
                    fds = [chan.fileno()] if wake_fd is None else [chan.fileno(), wake_fd]
                    ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
                    if chan.fileno() in ready:
                        data = chan.recv(deadline)
                        if not data:
                            raise ConnectionResetError("xenstored closed the connection")
                        self._dec.feed(data)
                        while (msg := self._dec.next_message()) is not None:
                            if msg.type != _WATCH_EVENT:
                                raise XsProtocolError(f"unexpected {type_name(msg.type)} on a watching connection")
                            self._event(msg.payload)
                except XsProtocolError as e:
                    self._drop()
                    raise XsConnectionError(f"xenstore connection {self.path} desynchronised: {e}") from None
                except _Timeout:
                    self._drop()
                    raise XsConnectionError(f"xenstore connection {self.path}: no data after it was "
                                            f"readable") from None
                except OSError as e:
                    raise self._lost(e) from None
        return self.events()

    def counts(self) -> dict[str, int]:
        """Requests sent on this client by message type name (``{"READ": 3, ...}``); exact."""
        with self._lock:
            return {type_name(t): n for t, n in self._counts.items()}
