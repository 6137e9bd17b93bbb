"""Hostile xenstored and XenD stand-ins for transport tests: each speaks just enough of the wire
protocol to misbehave in one way. Every loop is bounded in time and stops when the client hangs
up; counters tell the tests what the client did."""

from __future__ import annotations

import os
import select
import socket
import tempfile
import threading
import time

from xvirt.protocol import xenstore as xs

LIFETIME = 20.0  # seconds any hostile behaviour lasts at most


class _Listener:
    """A unix socket in a private temporary directory, accepting on a thread until closed;
    ``_accepted(conn)`` handles each connection."""

    prefix, sockname = "xvh-", "sock"

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        self.path = os.path.join(self.dir, self.sockname)
        self.connections = 0
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_UNIX)
        self._lsock.bind(self.path)
        self._lsock.listen(16)
        self._lsock.settimeout(0.1)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._lsock.accept()
            except OSError:
                continue
            self.connections += 1
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _closing(self) -> None:
        """Subclasses release what they hold (after the threads stopped)."""

    def close(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(5)
        self._closing()
        self._lsock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


class HostileXenstored(_Listener):
    """A unix socket xenstored that answers each request according to ``mode``:

    * ``silent``: never answers;
    * ``flood``: answers nothing but an endless stream of watch events;
    * ``drip``: sends the correct reply one byte every ``interval`` seconds;
    * ``bad_tx``: answers TRANSACTION_START with a payload that is not a number;
    * ``honest``: answers GET_DOMAIN_PATH and WATCH properly (a control).
    """

    prefix, sockname = "xvh-", "xs.sock"

    def __init__(self, mode: str, *, interval: float = 0.2) -> None:
        self.mode, self.interval = mode, interval
        self.requests = 0            # requests received, all connections
        self.hung_up_early = 0       # connections the client closed while we were still sending
        self.sent = 0
        super().__init__()

    def _accepted(self, conn: socket.socket) -> None:
        t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        self._threads.append(t)
        t.start()

    def _answer(self, msg: xs.Message) -> bytes | None:
        if msg.type == xs.XsType.TRANSACTION_START and self.mode == "bad_tx":
            return xs.encode(msg.type, b"abc\0", msg.req_id, msg.tx_id)
        if msg.type == xs.XsType.WATCH:
            return xs.ok_reply(msg.type, msg.req_id, msg.tx_id)
        if msg.type == xs.XsType.GET_DOMAIN_PATH:
            return xs.encode(msg.type, b"/local/domain/0\0", msg.req_id, msg.tx_id)
        if msg.type == xs.XsType.READ:
            return xs.encode(msg.type, b"value", msg.req_id, msg.tx_id)
        return xs.error_reply("EINVAL", msg.req_id, msg.tx_id)

    def _serve(self, conn: socket.socket) -> None:
        dec = xs.Decoder()
        end = time.monotonic() + LIFETIME
        conn.settimeout(0.1)
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                dec.feed(data)
                for msg in dec:
                    self.requests += 1
                    if self.mode == "silent":
                        continue
                    if self.mode in ("honest", "bad_tx"):
                        conn.sendall(self._answer(msg))
                    elif self.mode == "flood":
                        self._flood(conn, end)
                        return
                    elif self.mode == "drip":
                        self._drip(conn, self._answer(msg), end)
        except OSError:
            pass
        finally:
            conn.close()

    def _flood(self, conn: socket.socket, end: float) -> None:
        event = xs.watch_event("/local/domain/1/name", "xvirt-names")
        conn.settimeout(1.0)
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                conn.sendall(event * 64)
            except OSError:
                self.hung_up_early += 1
                return
            self.sent += 64

    def _drip(self, conn: socket.socket, reply: bytes, end: float) -> None:
        for i in range(len(reply)):
            if self._stop.wait(self.interval) or time.monotonic() > end:
                return
            try:
                conn.sendall(reply[i:i + 1])
                # a peer that hung up shows as readable with nothing to read
                r, _, _ = select.select([conn], [], [], 0)
                if r and conn.recv(1, socket.MSG_PEEK) == b"":
                    raise BrokenPipeError
            except OSError:
                self.hung_up_early += 1
                return
            self.sent += 1


class HostileXend(_Listener):
    """A unix socket XenD that answers every request with the same 200 SXP ``body``."""

    prefix, sockname = "xvhx-", "xend.sock"

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests = 0
        super().__init__()

    def _accepted(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sxp\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(self.body)
                             + self.body)
            except OSError:
                pass


class SilentXend(_Listener):
    """A unix socket XenD that accepts connections and never answers."""

    prefix, sockname = "xvsx-", "xend.sock"

    def __init__(self) -> None:
        self._held: list[socket.socket] = []
        super().__init__()

    def _accepted(self, conn: socket.socket) -> None:
        self._held.append(conn)

    def _closing(self) -> None:
        for c in self._held:
            c.close()
