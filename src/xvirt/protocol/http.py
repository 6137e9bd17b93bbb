"""Bounded, incremental HTTP/1.x framing with no I/O: request and response parsers and a renderer.

Theory of operation. Both parsers are fed bytes as they arrive (``feed``), then told about the
end of the stream (``feed_eof``). They never block and never raise on peer input: every problem a
peer can cause becomes a value. The request parser (server side) produces, through
``next_event()``, either an :class:`HttpRequest`, an :class:`HttpRequestError` carrying the status
the server must answer with before closing (400 garbage, 413 too large, 414 line too long), or
``None`` when it needs more bytes (or, if ``eof`` is set, when the peer closed cleanly between
requests). After a request the parser is ready for the next one on the same connection; after an
error it stays failed. The response parser (client side) collects one response; a body is
delimited by ``Content-Length`` or, without one, by the end of the stream; malformed or truncated
responses raise :class:`xvirt.errors.HttpError` (the protocol layer's error for bad bytes).

Header names are matched case-insensitively (XenD emits ``Content-length``; libvirt and this
module accept any case). What XenD did with requests is in docs/design.md
§6.1; XenD-specific interpretation lives in :mod:`xvirt.protocol.xend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import HttpError

__all__ = ["HttpRequest", "HttpRequestError", "HttpResponse", "RequestParser", "ResponseParser",
           "render_response", "STATUS_REASONS", "MAX_REQUEST_LINE", "MAX_HEADER_BYTES",
           "MAX_HEADERS", "MAX_REQUEST_BODY", "MAX_RESPONSE_BODY"]

MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 32768
MAX_HEADERS = 500            # xend's web/http.py max_headers
MAX_REQUEST_BODY = 10000     # xend's web/http.py max_content_length (3.0.2-3.0.4)
MAX_RESPONSE_BODY = 64 * 1024 * 1024  # matches protocol.sxp.MAX_INPUT

# Reason phrases as xend's web/http.py spelled them (sentence case).
STATUS_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No content",
    301: "Moved permanently", 302: "Found", 304: "Not modified",
    400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Not allowed",
    406: "Not acceptable", 408: "Request timeout", 411: "Length required",
    413: "Request entity too large", 414: "Request URI too long", 415: "Unsupported media type",
    500: "Internal server error", 501: "Not implemented", 503: "Service unavailable",
    505: "HTTP version not supported",
}

_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                         b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _is_token(b: bytes) -> bool:
    return bool(b) and all(c in _TOKEN_CHARS for c in b)


def _header_lookup(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


@dataclass
class HttpRequest:
    """One parsed request. ``target`` is the raw request-target; ``path``/``query`` split it at
    the first ``?`` (``query`` is None without one)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str | None:
        # xend: uri.split('?') and the second piece is the query (a third piece is dropped).
        parts = self.target.split("?")
        return parts[1] if len(parts) > 1 else None

    def header(self, name: str, default: str | None = None) -> str | None:
        v = _header_lookup(self.headers, name)
        return default if v is None else v


@dataclass
class HttpRequestError:
    """A request the server must refuse with ``status`` and then close the connection.

    ``method``/``target`` are filled when the request line was readable (for counting)."""

    status: int
    message: str
    method: str | None = None
    target: str | None = None

    @property
    def reason(self) -> str:
        return STATUS_REASONS.get(self.status, "Error")


@dataclass
class HttpResponse:
    """One parsed response."""

    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        v = _header_lookup(self.headers, name)
        return default if v is None else v

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower case ('' if absent)."""
        v = self.header("content-type") or ""
        return v.split(";", 1)[0].strip().lower()


def _parse_header_block(lines: list[bytes]) -> list[tuple[str, str]] | str:
    """Header lines (without terminators) -> pairs, or an error message."""
    headers: list[tuple[str, str]] = []
    for raw in lines:
        if raw[:1] in (b" ", b"\t"):
            if not headers:
                return "continuation line before any header"
            k, v = headers[-1]
            headers[-1] = (k, (v + " " + raw.strip().decode("latin-1")).strip())
            continue
        name, sep, value = raw.partition(b":")
        name = name.strip()
        if not sep or not _is_token(name):
            return "malformed header line"
        headers.append((name.decode("ascii"), value.strip().decode("latin-1")))
    return headers


class RequestParser:
    """Incremental request parser for the server side (see the module docstring)."""

    def __init__(self, *, max_line: int = MAX_REQUEST_LINE, max_header_bytes: int = MAX_HEADER_BYTES,
                 max_headers: int = MAX_HEADERS, max_body: int = MAX_REQUEST_BODY) -> None:
        self.max_line, self.max_header_bytes = max_line, max_header_bytes
        self.max_headers, self.max_body = max_headers, max_body
        self._buf = bytearray()
        self._eof = False
        self._failed: HttpRequestError | None = None
        self._head: tuple[str, str, str, list[tuple[str, str]]] | None = None
        self._need = 0  # body bytes wanted once the head is parsed

    @property
    def eof(self) -> bool:
        return self._eof

    @property
    def idle(self) -> bool:
        """True between requests with nothing buffered."""
        return self._head is None and not self._buf

    def feed(self, data: bytes) -> None:
        if not self._eof and self._failed is None:
            self._buf += data

    def feed_eof(self) -> None:
        self._eof = True

    def _fail(self, status: int, message: str, method=None, target=None) -> HttpRequestError:
        self._failed = HttpRequestError(status, message, method, target)
        self._buf.clear()
        return self._failed

    def next_event(self) -> HttpRequest | HttpRequestError | None:
        if self._failed is not None:
            return None
        if self._head is None:
            ev = self._parse_head()
            if ev is not None:
                return ev
            if self._head is None:
                return None
        method, target, version, headers = self._head
        if len(self._buf) < self._need:
            if self._eof:
                return self._fail(400, f"Bad request (incomplete body: {len(self._buf)} of "
                                       f"{self._need} bytes)", method, target)
            return None
        body = bytes(self._buf[:self._need])
        del self._buf[:self._need]
        self._head, self._need = None, 0
        return HttpRequest(method, target, version, headers, body)

    def _parse_head(self) -> HttpRequestError | None:
        buf = self._buf
        end = buf.find(b"\n")
        if end < 0:
            if len(buf) > self.max_line:
                return self._fail(414, "Request URI too long")
            if self._eof and buf:
                return self._fail(400, "Bad request (incomplete request line)")
            return None
        if end > self.max_line:
            return self._fail(414, "Request URI too long")
        # Locate the blank line that ends the header block, within the size limit.
        pos, lines = end + 1, []
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if len(buf) - end > self.max_header_bytes:
                    return self._fail(400, "Bad request (headers too large)")
                if self._eof:
                    return self._fail(400, "Bad request (incomplete headers)")
                return None
            if nl - end > self.max_header_bytes:
                return self._fail(400, "Bad request (headers too large)")
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if not line:
                break
            lines.append(line)
            if len(lines) > self.max_headers:
                return self._fail(400, "Bad request (too many headers)")
        request_line = bytes(buf[:end]).rstrip(b"\r")
        del buf[:pos]
        fields = request_line.split()
        if len(fields) == 3:
            method, target, version = fields
        elif len(fields) == 2:  # xend treats a two-field line as HTTP/0.9
            (method, target), version = fields, b"HTTP/0.9"
        else:
            return self._fail(400, f"Bad request ({request_line[:200]!r})")
        if not _is_token(method) or any(c < 0x21 or c == 0x7F for c in target):
            return self._fail(400, f"Bad request ({request_line[:200]!r})")
        m, t = method.decode("ascii"), target.decode("latin-1")
        v = version.decode("latin-1")
        major_minor = v[5:].split(".") if v.startswith("HTTP/") else []
        if len(major_minor) != 2 or not all(x.isdigit() for x in major_minor):
            return self._fail(400, f"Bad request version ({v[:40]!r})", m, t)
        headers = _parse_header_block(lines)
        if isinstance(headers, str):
            return self._fail(400, f"Bad request ({headers})", m, t)
        length = _header_lookup(headers, "content-length")
        need = 0
        if length is not None:
            length = length.strip()
            if not length.isdigit():
                return self._fail(400, "Bad request (invalid Content-Length)", m, t)
            need = int(length)
            if need > self.max_body:
                return self._fail(413, "Request entity too large", m, t)
        self._head, self._need = (m, t, v, headers), need
        return None


class ResponseParser:
    """Incremental parser of one response (client side). Raises HttpError on bad bytes."""

    def __init__(self, *, head: bool = False, max_line: int = MAX_REQUEST_LINE,
                 max_header_bytes: int = MAX_HEADER_BYTES, max_body: int = MAX_RESPONSE_BODY) -> None:
        self.head_request = head
        self.max_line, self.max_header_bytes, self.max_body = max_line, max_header_bytes, max_body
        self._buf = bytearray()
        self._resp: HttpResponse | None = None
        self._length: int | None = None
        self.done = False
        self.response: HttpResponse | None = None

    @property
    def received_anything(self) -> bool:
        return bool(self._buf) or self._resp is not None

    def feed(self, data: bytes) -> bool:
        """Add bytes; returns True once the response is complete (extra bytes are ignored)."""
        if self.done:
            return True
        self._buf += data
        if self._resp is None and not self._parse_head():
            return False
        return self._try_body()

    def feed_eof(self) -> HttpResponse:
        """End of stream: complete an EOF-delimited body or raise for a truncated response."""
        if self.done:
            assert self.response is not None
            return self.response
        if self._resp is None:
            if not self._buf:
                raise HttpError("xend closed the connection without a reply")
            raise HttpError(f"truncated HTTP response header ({len(self._buf)} bytes)")
        if self._length is not None:
            raise HttpError(f"truncated HTTP response body: {len(self._buf)} of {self._length} bytes")
        self._finish(bytes(self._buf))
        assert self.response is not None
        return self.response

    def _finish(self, body: bytes) -> None:
        assert self._resp is not None
        self._resp.body = body
        self.response, self.done = self._resp, True

    def _try_body(self) -> bool:
        if self._length is None:
            if len(self._buf) > self.max_body:
                raise HttpError(f"HTTP response body exceeds {self.max_body} bytes")
            return False
        if len(self._buf) >= self._length:
            self._finish(bytes(self._buf[:self._length]))
            return True
        return False

    def _parse_head(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        sep = 4
        alt = buf.find(b"\n\n")
        if alt >= 0 and (end < 0 or alt < end):
            end, sep = alt, 2
        if end < 0:
            if len(buf) > self.max_header_bytes:
                raise HttpError(f"HTTP response header exceeds {self.max_header_bytes} bytes")
            return False
        lines = bytes(buf[:end]).replace(b"\r\n", b"\n").split(b"\n")
        del buf[:end + sep]
        status_line = lines[0]
        if len(status_line) > self.max_line:
            raise HttpError("HTTP status line too long")
        parts = status_line.split(None, 2)
        if (len(parts) < 2 or not parts[0].upper().startswith(b"HTTP/1.")
                or not parts[1].isdigit() or len(parts[1]) != 3):
            raise HttpError(f"malformed HTTP status line {status_line[:80]!r}")
        headers = _parse_header_block(lines[1:])
        if isinstance(headers, str):
            raise HttpError(f"malformed HTTP response: {headers}")
        status = int(parts[1])
        reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
        self._resp = HttpResponse(parts[0].decode("ascii"), status, reason, headers)
        if self.head_request or status in (204, 304) or 100 <= status < 200:
            self._length = 0
        else:
            length = _header_lookup(headers, "content-length")
            if length is not None:
                length = length.strip()
                if not length.isdigit():
                    raise HttpError(f"invalid Content-Length {length[:40]!r} in HTTP response")
                self._length = int(length)
                if self._length > self.max_body:
                    raise HttpError(f"HTTP response body of {self._length} bytes exceeds "
                                    f"{self.max_body}")
        return True


def _clean(text: str) -> str:
    return "".join(c if " " <= c != "\x7f" else " " for c in text)


def render_response(status: int, reason: str | None = None, headers: list[tuple[str, str]] = (),
                    body: bytes = b"", *, send_body: bool = True) -> bytes:
    """Bytes of a response: status line, the given headers in order, a blank line, the body.

    The caller supplies every header (including Content-length); ``send_body=False`` (HEAD)
    omits the body bytes."""
    if reason is None:
        reason = STATUS_REASONS.get(status, "unknown")
    # Reasons and header values may carry client-chosen text (an op name, a domain name):
    # control characters are replaced so a peer can never inject a header or end the head.
    head = [f"HTTP/1.1 {status} {_clean(reason)}\r\n"]
    head += [f"{_clean(k)}: {_clean(str(v))}\r\n" for k, v in headers]
    head.append("\r\n")
    out = "".join(head).encode("latin-1", "replace")
    return out + body if send_body else out
