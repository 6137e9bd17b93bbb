"""The simulated XenD: HTTP/1.1 + SXP on a unix socket (and optionally loopback TCP), a thread per connection.

Theory of operation. ``start()`` binds the listeners (unix socket mode 0600, created with that
mode; TCP on loopback unless ``allow_non_loopback``) and starts one acceptor thread. The acceptor
waits on the listeners with a short timeout and, on every wake-up, compares the listeners with
``faults.xend_down``: when the fault is set it closes them, removes the socket file and aborts the
open connections (a XenD that went away); when it is cleared it binds them again. ``set_down()``
changes the fault and waits until the acceptor has acted, so tests are deterministic; a fault set
elsewhere (control socket) takes effect within ``POLL_INTERVAL``, and a connection accepted in that
window is closed unanswered.

Each accepted connection gets a thread (Xen 3.0.4 did the same, web/httpserver.py) that feeds a
bounded :class:`~xvirt.protocol.http.RequestParser` and answers each request:

1. a request the parser refuses gets its 400/413/414 reply and the connection is closed; a method
   other than GET/HEAD/POST gets 501 with ``Accept``;
2. the request is counted (``counters.count_xend(endpoint_key)``, the same key function the client
   counts with) as soon as its method, target and arguments are known (an unreadable request line
   is not counted);
3. ``faults.take('xend_drop')``: the connection is closed without a reply;
4. the resource tree (:class:`~xvirt.sim.xend_resources.XendApp`) computes the reply from the
   host model; ``faults.take('xend_malformed')`` swaps it for a 200 whose SXP body is truncated;
5. the thread sleeps ``latency + faults.xend_extra_latency`` seconds, then sends; the connection is
   closed after the reply unless the client sent ``Connection: keep-alive`` (xend's rule).

Nothing a client sends can stop the server: per-connection errors end that connection only.
``stop()`` closes the listeners and every connection and removes the socket file.

Bounds (issue 12), so that slow or idle clients cannot shut others out: a request must arrive
whole within ``request_timeout`` seconds of the moment the server starts waiting for it (a
client that drips bytes gets 408 and is closed), and a connection silent for ``idle_timeout``
is closed. At most ``max_connections`` are open; once fewer than ``reserve`` are free, a new
client takes the slot of the connection that has waited longest for its request (at least
``evict_idle`` seconds); when none qualifies and all slots are taken, the new client gets 503
at once and is closed (never left to hang).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import selectors
import socket
import stat
import threading
import time

from ..protocol.http import HttpRequestError, RequestParser
from ..protocol.xend import (SXP_MIME, Reply, endpoint_key, render_reply, reply_for_error,
                             to_xend_request)
from .counters import Counters
from .faults import Faults
from .xend_resources import XendApp

__all__ = ["XendServer", "POLL_INTERVAL"]

log = logging.getLogger("xvirt.sim.xend")

POLL_INTERVAL = 0.02        # seconds between checks of faults.xend_down (and of stop())
IDLE_TIMEOUT = 30.0         # seconds a connection may stay silent before it is closed
REQUEST_TIMEOUT = 30.0      # seconds a whole request may take to arrive
MAX_CONNECTIONS = 1024      # open connections (= threads)
RESERVE = 16                # slots kept free by evicting the connection waiting longest
_CANNED = b"(domain (domid 0) (uuid 00000000-0000-0000-0000-000000000000) (name Domain-0)"


def _is_loopback(host: str) -> bool:
    if host == "":
        return False  # '' binds every interface
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback
                               for i in infos)


def malformed(reply: Reply) -> Reply:
    """The ``xend_malformed`` fault: a 200 whose SXP body is a truncated record (never parses)."""
    body = reply.body if reply.content_type == SXP_MIME and b"xend.err" not in reply.body else b""
    body = body or _CANNED
    # A prefix of a printed value plus one more '(' always leaves a list (or string) open.
    return Reply(200, None, b"(" + body[:max(1, len(body) // 2)], SXP_MIME)


class XendServer:
    """Serves XenD 3.0.4's resource tree over ``host`` (see the module docstring).

    ``unix_path``: socket path (None for TCP only); ``tcp``: ``(host, port)`` or None, port 0
    picks a free port (read it back from ``tcp_address`` after ``start()``); ``latency``:
    seconds added to every reply; ``counters``/``faults``: shared objects (fresh ones if None);
    ``op_error``: the host's failure class (default: any class named ``XendOpError``);
    ``idle_timeout``: seconds a silent connection is kept; ``max_connections``: open connections
    (one thread each) beyond which new ones are closed unanswered.
    """

    def __init__(self, host, unix_path: str | os.PathLike | None, *,
                 tcp: tuple[str, int] | None = None, latency: float = 0.0,
                 counters: Counters | None = None, faults: Faults | None = None,
                 allow_non_loopback: bool = False, op_error: type[BaseException] | None = None,
                 idle_timeout: float = IDLE_TIMEOUT, max_connections: int = MAX_CONNECTIONS,
                 request_timeout: float = REQUEST_TIMEOUT, reserve: int = RESERVE,
                 evict_idle: float = 1.0) -> None:
        if unix_path is None and tcp is None:
            raise ValueError("XendServer needs a unix socket path, a TCP address, or both")
        if tcp is not None and not allow_non_loopback and not _is_loopback(tcp[0]):
            raise ValueError(f"refusing to serve XenD on non-loopback address {tcp[0]!r}: XenD has "
                             "no authentication; pass allow_non_loopback=True to do it anyway")
        self.host = host
        self.unix_path = os.fspath(unix_path) if unix_path is not None else None
        self._tcp_request = tcp
        self.tcp_address: tuple[str, int] | None = None
        self.latency = float(latency)
        self.counters = counters if counters is not None else Counters()
        self.faults = faults if faults is not None else Faults()
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.reserve = max(0, min(reserve, max_connections - 1))
        self.evict_idle = evict_idle
        self.evicted = 0    # waiting connections closed to make room for new clients
        self.refused = 0    # new clients answered 503 because every slot was busy
        self.timed_out = 0  # requests that did not arrive whole in time (408)
        self.app = XendApp(host, op_error=op_error, url_port=tcp[1] if tcp else 8080)
        self._lock = threading.Lock()
        self._state = threading.Condition(self._lock)
        self._listeners: list[socket.socket] = []
        self._listening = False
        self._conns: dict[socket.socket, threading.Thread] = {}
        # connection -> monotonic time since it waits for (the rest of) a request; absent while
        # its request is being answered
        self._waiting: dict[socket.socket, float] = {}
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "XendServer":
        if self._acceptor is not None:
            raise RuntimeError("XendServer already started")
        self._stopping.clear()
        if not self.faults.xend_down:
            self._open_listeners()
        self._acceptor = threading.Thread(target=self._accept_loop, name="xend-acceptor",
                                          daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        self._close_listeners()
        threads = self._abort_connections()
        for t in threads:
            t.join(timeout=2)

    def __enter__(self) -> "XendServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def is_down(self) -> bool:
        """True while the listeners are closed because of ``faults.xend_down``."""
        with self._lock:
            return not self._listening

    def set_down(self, down: bool, timeout: float = 5.0) -> None:
        """Set ``faults.xend_down`` and wait until the listeners are closed (or open again)."""
        self.faults.update(xend_down=bool(down))
        if self._acceptor is None:
            return
        with self._state:
            if not self._state.wait_for(lambda: self._listening != bool(down), timeout):
                raise TimeoutError(f"XenD listeners did not go {'down' if down else 'up'}")

    # ------------------------------------------------------------------ listeners

    def _open_listeners(self) -> None:
        socks: list[socket.socket] = []
        try:
            if self.unix_path is not None:
                socks.append(self._bind_unix(self.unix_path))
            if self._tcp_request is not None:
                host, port = self.tcp_address or self._tcp_request
                s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
                s.listen(128)
                self.tcp_address = s.getsockname()[:2]
                self.app.url_port = self.tcp_address[1]
                socks.append(s)
        except BaseException:
            for s in socks:
                s.close()
            if self.unix_path is not None and socks:
                self._unlink_socket()
            raise
        for s in socks:
            s.setblocking(False)
        with self._state:
            self._listeners, self._listening = socks, True
            self._state.notify_all()

    def _bind_unix(self, path: str) -> socket.socket:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            pass
        else:  # a stale socket from an earlier run is replaced, as xend did; nothing else is
            if not stat.S_ISSOCK(st.st_mode):
                raise FileExistsError(f"{path} exists and is not a socket")
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.fchmod(s.fileno(), 0o600)  # Linux creates the socket file with this mode
            s.bind(path)
            os.chmod(path, 0o600)         # and elsewhere it is fixed right after
            s.listen(128)
        except BaseException:
            s.close()
            raise
        return s

    def _unlink_socket(self) -> None:
        try:
            if stat.S_ISSOCK(os.lstat(self.unix_path).st_mode):
                os.unlink(self.unix_path)
        except OSError:
            pass

    def _close_listeners(self) -> None:
        # Sockets are closed and the file removed before anyone waiting in set_down() is told,
        # so that a client connecting right after set_down(True) is refused, not reset.
        with self._state:
            socks, self._listeners = self._listeners, []
            was_listening = self._listening
            for s in socks:
                s.close()
            if was_listening and self.unix_path is not None:
                self._unlink_socket()
            self._listening = False
            self._state.notify_all()

    def _abort_connections(self) -> list[threading.Thread]:
        with self._lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return [t for _, t in conns]

    # ------------------------------------------------------------------ accepting

    def _accept_loop(self) -> None:
        sel = selectors.DefaultSelector()
        registered: list[socket.socket] = []
        try:
            while not self._stopping.is_set():
                down = self.faults.xend_down
                if down and self._listening:
                    self._close_listeners()
                    self._abort_connections()
                elif not down and not self._listening:
                    try:
                        self._open_listeners()
                    except OSError as e:
                        log.warning("XenD listeners could not be reopened: %s", e)
                with self._lock:
                    listeners = list(self._listeners)
                if listeners != registered:
                    for s in registered:
                        try:
                            sel.unregister(s)
                        except (KeyError, ValueError):
                            pass
                    for s in listeners:
                        sel.register(s, selectors.EVENT_READ)
                    registered = listeners
                if not listeners:
                    self._stopping.wait(POLL_INTERVAL)
                    continue
                try:
                    ready = sel.select(POLL_INTERVAL)
                except (OSError, ValueError):
                    continue  # a listener closed under us; the next round re-registers
                for key, _ in ready:
                    self._accept(key.fileobj)
        finally:
            sel.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if not self._stopping.is_set() and self._listening:
                log.warning("XenD accept failed: %s", e)
            return
        if self.faults.xend_down or self._stopping.is_set():
            conn.close()  # the fault was set after this round began: behave as if gone
            return
        conn.setblocking(True)
        t = threading.Thread(target=self._serve, args=(conn,), name="xend-conn", daemon=True)
        victim = None
        now = time.monotonic()
        with self._lock:
            full = False
            if len(self._conns) >= self.max_connections - self.reserve:
                # the reserve is running out: the connection waiting longest makes room
                oldest = min(self._waiting.items(), key=lambda kv: kv[1], default=None)
                if oldest is not None and now - oldest[1] >= self.evict_idle:
                    victim = oldest[0]
                    del self._waiting[victim]
                else:
                    full = len(self._conns) >= self.max_connections
            if not full:
                self._conns[conn] = t
                self._waiting[conn] = now
        if victim is not None:
            self.evicted += 1
            try:
                victim.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if full:  # bounded threads: refused at once with a clear answer, never left to hang
            self.refused += 1
            log.warning("XenD: %d connections busy, refusing another", self.max_connections)
            try:
                conn.settimeout(1.0)
                conn.sendall(render_reply(Reply(503, None, b"XenD is busy: too many connections\n",
                                                "text/plain", close=True)))
            except OSError:
                pass
            conn.close()
            return
        t.start()

    # ------------------------------------------------------------------ one connection

    def _serve(self, conn: socket.socket) -> None:
        parser = RequestParser()
        try:
            started = time.monotonic()  # waiting for a request since
            while not self._stopping.is_set():
                ev = parser.next_event()
                if ev is None:
                    if parser.eof:
                        return  # the client closed between requests
                    left = started + self.request_timeout - time.monotonic()
                    if left <= 0:
                        self.timed_out += 1
                        self._send(conn, render_reply(Reply(408, None, b"request not received in "
                                                            b"time\n", "text/plain", close=True)))
                        return
                    conn.settimeout(min(self.idle_timeout, left))
                    try:
                        data = conn.recv(65536)
                    except socket.timeout:
                        if left < self.idle_timeout:
                            continue  # the request deadline passed: answered 408 above
                        raise         # silent for idle_timeout: closed
                    if data:
                        parser.feed(data)
                    else:
                        parser.feed_eof()
                    continue
                with self._lock:
                    self._waiting.pop(conn, None)  # being answered: not evictable
                if isinstance(ev, HttpRequestError):
                    if ev.method is not None:
                        self.counters.count_xend(endpoint_key(ev.method, ev.target or "/", None))
                    self._send(conn, render_reply(reply_for_error(ev)))
                    self._linger(conn)
                    return
                req = to_xend_request(ev)
                if isinstance(req, Reply):  # 501: method not supported
                    self.counters.count_xend(endpoint_key(ev.method, ev.target, None))
                    self._send(conn, render_reply(req, head=False))
                    return
                self.counters.count_xend(req.key())
                if self.faults.take("xend_drop"):
                    return
                reply = self.app.handle(req)
                if self.faults.take("xend_malformed"):
                    reply = malformed(reply)
                delay = self.latency + float(self.faults.xend_extra_latency)
                if delay > 0 and self._stopping.wait(delay):
                    return
                self._send(conn, render_reply(reply, keep_alive=req.keep_alive,
                                              head=req.method == "HEAD"))
                if not req.keep_alive or reply.close:
                    return
                started = time.monotonic()
                with self._lock:
                    if conn in self._conns:
                        self._waiting[conn] = started
        except OSError:
            pass  # reset, timeout, or aborted by stop()/xend_down: this connection only
        except Exception:
            log.exception("XenD connection handler failed")
        finally:
            with self._lock:
                self._conns.pop(conn, None)
                self._waiting.pop(conn, None)
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _send(conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)

    @staticmethod
    def _linger(conn: socket.socket, limit: int = 1 << 20) -> None:
        """After refusing a request, let the client finish sending before closing.

        Closing with unread input makes TCP send a reset, which can destroy the refusal (413)
        before the client reads it; so half-close, then discard input briefly."""
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(0.5)
            while limit > 0:
                data = conn.recv(65536)
                if not data:
                    break
                limit -= len(data)
        except OSError:
            pass
