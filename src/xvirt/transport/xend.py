"""XenD client over a unix socket or TCP: one request per connection, replies as SXP values, requests counted.

XenD closes the connection after every response unless asked not to, and libvirt opened a new
socket per request; this client does the same, so it keeps no connection state and any number of
threads may share one instance (only the counters are locked).

Errors are mapped in one place, :meth:`XendClient._exchange`:

* the socket is missing, refuses, resets, times out, or closes without sending a single byte ->
  :class:`xvirt.errors.NoConnectError` (code ``VIR_ERR_NO_CONNECT`` 5, domain
  ``VIR_FROM_XEND`` 2) whose message names the address; ``.address`` carries it too;
* bytes that are not a proper HTTP reply -> :class:`xvirt.errors.HttpError` (from the codec);
* a reply is then judged by :func:`xvirt.protocol.xend.interpret_response` (NoDomainError,
  XendError subclasses, SexprError).

A request that gets no reply within ``timeout`` (one deadline for connect, send and receive)
marks XenD failed: later calls raise ``NoConnectError`` at once, without connecting, until a
back-off has passed (``backoff``: first wait, doubled after each further miss up to a maximum);
then one call probes, and a reply resets the back-off. A refused or missing socket answers at
once and is tried on every call.

No ``OSError`` and no parser exception escapes. :meth:`XendClient.counts` returns how many
requests were sent per endpoint, keyed exactly as the simulator's
:class:`~xvirt.sim.counters.Counters` (both use :func:`~xvirt.protocol.xend.endpoint_key`); a
request is counted once the connection is up and the request is being sent.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter

from ..errors import ErrorDomain, HttpError, NoConnectError
from ..protocol.http import MAX_REQUEST_BODY, HttpResponse, ResponseParser
from ..protocol.xend import build_get, build_post, endpoint_key, interpret_response

__all__ = ["XendClient", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 30.0


def _describe(address) -> str:
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return f"unix:{address}"


class XendClient:
    """Talks to XenD at ``address``: a unix socket path, or a ``(host, port)`` tuple for TCP.

    ``timeout`` bounds each whole request (connect, send, receive) in seconds.
    """

    def __init__(self, address, *, timeout: float = DEFAULT_TIMEOUT,
                 backoff: tuple[float, float] = (1.0, 60.0)) -> None:
        if isinstance(address, (str, os.PathLike)):
            address = os.fspath(address)
        elif isinstance(address, (tuple, list)) and len(address) == 2:
            address = (str(address[0]), int(address[1]))
        else:
            raise TypeError(f"XenD address must be a socket path or a (host, port) tuple, "
                            f"not {address!r}")
        self.address = address
        self.timeout = float(timeout)
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.failures = 0        # deadlines missed since the last reply
        self._retry_at = 0.0
        self._down_reason = ""
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"XendClient({self.address!r})"

    # ------------------------------------------------------------------ requests

    def get(self, path: str, **query):
        """``GET path[?query]``: the parsed SXP value, text for text/plain, None if empty."""
        data = build_get(path, query)
        target = data.split(b" ", 2)[1].decode("ascii")
        return self._call("GET", target, data, endpoint_key("GET", target))

    def post(self, path: str, op: str, **params):
        """``POST path`` with form ``op=<op>&k=v...`` (keyword order kept); the parsed reply."""
        data = build_post(path, op, params)
        body_len = len(data) - data.index(b"\r\n\r\n") - 4
        if body_len > MAX_REQUEST_BODY:
            args = None  # XenD refuses it with 413 before reading the body, so cannot see the op
        else:
            args = {"op": [str(op)], **{k: [str(v)] for k, v in params.items()}}
        return self._call("POST", path, data, endpoint_key("POST", path, args))

    def counts(self) -> dict[str, int]:
        """Requests sent so far, by endpoint key (``"GET /xend/domain/<x>"`` ...)."""
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    # ------------------------------------------------------------------ one exchange

    def retry_in(self) -> float:
        """Seconds until a XenD in back-off is probed again (0: calls go through now)."""
        return max(0.0, self._retry_at - time.monotonic())

    def _call(self, method: str, target: str, data: bytes, key: str):
        wait = self.retry_in()
        if wait > 0:
            raise self._fail(f"{self._down_reason}; not retried for another {wait:.1f}s")
        try:
            response = self._exchange(method, data, key)
        except NoConnectError as e:
            if isinstance(e.__cause__, (TimeoutError, socket.timeout)):
                with self._lock:
                    self.failures += 1
                    first, most = self.backoff
                    self._retry_at = time.monotonic() + min(most, first * 2 ** (self.failures - 1))
                    self._down_reason = f"no reply within {self.timeout:g} s"
            raise
        with self._lock:
            self.failures = 0
        return interpret_response(method, target, response)

    def _fail(self, what: str) -> NoConnectError:
        err = NoConnectError(f"cannot talk to XenD at {_describe(self.address)}: {what}",
                             domain=ErrorDomain.XEND)
        err.address = self.address
        return err

    def _exchange(self, method: str, data: bytes, key: str) -> HttpResponse:
        """Send one request on a fresh connection and read its reply: the one place where
        socket-level failures become xvirt errors."""
        deadline = time.monotonic() + self.timeout

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            return left

        sock: socket.socket | None = None
        parser = ResponseParser(head=method == "HEAD")
        try:
            if isinstance(self.address, tuple):
                sock = socket.create_connection(self.address, timeout=remaining())
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(remaining())
                sock.connect(self.address)
            with self._lock:
                self._counts[key] += 1
            try:
                sock.settimeout(remaining())
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # XenD may have answered early (413) and closed: read what it said
            while True:
                sock.settimeout(remaining())
                chunk = sock.recv(65536)
                if not chunk:
                    if not parser.received_anything:
                        raise self._fail("connection closed without a reply")
                    return parser.feed_eof()
                if parser.feed(chunk):
                    assert parser.response is not None
                    return parser.response
        except (NoConnectError, HttpError):
            raise
        except (TimeoutError, socket.timeout) as e:
            raise self._fail(f"no reply within {self.timeout:g} s") from e
        except FileNotFoundError as e:
            raise self._fail("socket does not exist (is XenD running?)") from e
        except ConnectionRefusedError as e:
            raise self._fail("connection refused (is XenD running?)") from e
        except OSError as e:
            if parser.received_anything and isinstance(e, ConnectionResetError):
                raise self._fail("connection reset in the middle of the reply") from e
            raise self._fail(e.strerror or str(e) or type(e).__name__) from e
        finally:
            if sock is not None:
                sock.close()
