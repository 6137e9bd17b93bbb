"""XenD's HTTP + SXP conversation without I/O: client request bytes and reply interpretation, server-side requests and reply bytes.

Client side (what libvirt's xend_internal.c did, reference §1.5-1.6):

* :func:`build_get` / :func:`build_post` produce the exact request bytes libvirt sent:
  ``GET <path> HTTP/1.1``, ``Host: localhost:8000`` (fixed, even on the unix socket),
  ``Accept-Encoding: identity``, ``Content-Type: application/x-www-form-urlencoded``; POST adds
  ``Content-Length`` and the body ``op=<op>&k=v...`` in call order, every key and value
  URI-encoded the way later libvirt's ``virBufferURIEncodeString`` did (ASCII letters and digits
  kept, every other byte of the UTF-8 text as ``%xx``, lower-case hex).
* :func:`interpret_response` turns a parsed reply into a value or one of xvirt's errors:
  200/201/202 succeed; 404 under ``/xend/domain/`` means "no such domain" (``NoDomainError``);
  an ``(xend.err '...')`` body is a failure whatever the status (XenD 3.0.2 sent it with 200 and
  threaded ops keep their 201/202); a 202 whose body contains ``failed`` is a failure; any other
  status is ``GetFailedError``/``PostFailedError`` (>= 300) or ``HttpError`` (odd 1xx/2xx), with
  the code in the message; a malformed SXP body raises ``SexprError``.
* :func:`endpoint_key` names a request the way :class:`xvirt.sim.counters.Counters` counts it, so
  the client and the simulator count with one function and their counts can be compared.

Server side: :func:`to_xend_request` adds xend's argument handling to a parsed
:class:`~xvirt.protocol.http.HttpRequest` (query parsed like ``cgi.parse_qs`` without blank
values, a url-encoded POST body with blank values kept, POST args replacing query args of the
same name as ``dict.update`` did in web/http.py) and refuses methods other than GET/HEAD/POST
with 501 and an ``Accept`` header (web/resource.py ``unsupported``). :class:`Reply` values are
rendered by :func:`render_reply` in xend's header style (``str.capitalize()`` names:
``Content-type``, ``Content-length``; always ``Pragma: no-cache``, ``Cache-control: no-cache``,
``Expires: -1``; ``Connection: keep-alive`` only when the client asked for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import parse_qs, quote, unquote

from ..errors import (GetFailedError, HttpError, InvalidArgError, NoDomainError, PostFailedError,
                      SexprError)
from . import sxp
from .http import (HttpRequest, HttpRequestError, HttpResponse, STATUS_REASONS,
                   render_response)

__all__ = [
    "HOST_HEADER", "SXP_MIME", "Args", "uri_encode", "form_encode", "domain_path", "build_get",
    "build_post", "endpoint_key", "interpret_response", "parse_form", "XendRequest",
    "to_xend_request", "Reply", "sxp_reply", "empty_reply", "text_reply", "xend_err_reply",
    "reply_for_error", "render_reply",
]

HOST_HEADER = "localhost:8000"
SXP_MIME = "application/sxp"          # xend's sxp.mime_type
FORM_MIME = "application/x-www-form-urlencoded"
SUPPORTED_METHODS = ("GET", "HEAD", "POST")

Args = dict[str, list[str]]


# ---------------------------------------------------------------- client: request bytes

def uri_encode(text: str) -> str:
    """libvirt's URI encoding: ASCII letters/digits kept, every other byte ``%xx`` (lower hex)."""
    out = []
    for b in str(text).encode("utf-8"):
        c = chr(b)
        out.append(c if c.isascii() and c.isalnum() else f"%{b:02x}")
    return "".join(out)


def form_encode(pairs: Iterable[tuple[str, object]]) -> str:
    return "&".join(f"{uri_encode(k)}={uri_encode(str(v))}" for k, v in pairs)


def domain_path(ref: str | int) -> str:
    """``/xend/domain/<ref>`` with the reference percent-quoted as one path segment.

    xend splits the path on ``/`` and then unquotes each element (web/httpserver.py), so even a
    name containing ``/`` (allowed by xend) reaches it intact."""
    return "/xend/domain/" + quote(str(ref), safe="-_.:+~@")


def _check_target(target: str) -> None:
    if not target.startswith("/") or any(not (0x21 <= ord(c) <= 0x7E) for c in target):
        raise InvalidArgError(f"invalid XenD request path {target!r}: must start with '/' and "
                              "contain printable ASCII only (quote the domain reference)")


def _query_string(query: Mapping[str, object] | Iterable[tuple[str, object]] | None) -> str:
    if not query:
        return ""
    pairs = query.items() if isinstance(query, Mapping) else query
    return form_encode(pairs)


def build_get(path: str, query=None) -> bytes:
    """Request bytes for ``GET path[?query]``; ``query`` is a mapping or (key, value) pairs."""
    qs = _query_string(query)
    target = f"{path}?{qs}" if qs else path
    _check_target(target)
    return (f"GET {target} HTTP/1.1\r\nHost: {HOST_HEADER}\r\nAccept-Encoding: identity\r\n"
            f"Content-Type: {FORM_MIME}\r\n\r\n").encode("ascii")


def build_post(path: str, op: str, params: Mapping[str, object] | Iterable[tuple[str, object]] = ()
               ) -> bytes:
    """Request bytes for ``POST path`` with body ``op=<op>&k=v...`` (pairs in call order)."""
    _check_target(path)
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    body = form_encode([("op", op)] + pairs).encode("ascii")
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST_HEADER}\r\nAccept-Encoding: identity\r\n"
            f"Content-Type: {FORM_MIME}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("ascii") + body


# ---------------------------------------------------------------- shared: counting key

def parse_form(text: str | None, *, keep_blank: bool) -> Args:
    """``cgi.parse_qs``: ``+`` is a space, ``%xx`` decoded, pairs without ``=`` dropped."""
    if not text:
        return {}
    return parse_qs(text, keep_blank_values=keep_blank)


def endpoint_key(method: str, target: str, args: Args | None = None) -> str:
    """The counter key of a request: ``"METHOD path[?q][ op=<op>]"``, domain folded into ``<x>``.

    The path is kept as sent except that the element after ``/xend/domain/`` becomes ``<x>``.
    Only what selects an endpoint is kept: for the domain directory ``?detail=1`` (xend honours
    exactly the value ``1``) or else ``?state=<s>``; for one domain ``?op=vcpuinfo``; for POST the
    single ``op`` value of the merged args (``args``; None when the body was never read, e.g. a
    413, so only the query is known). Examples: ``GET /xend/domain?detail=1``,
    ``GET /xend/domain/<x>``, ``GET /xend/domain/<x>?op=vcpuinfo``, ``POST /xend/domain/<x>
    op=pause``, ``POST /xend/domain/ op=create``, ``GET /xend/node/``.
    """
    path, _, query = target.partition("?")
    query = query.split("?", 1)[0]
    parts = path.split("/")
    is_dir = path in ("/xend/domain", "/xend/domain/")
    is_dom = len(parts) > 3 and parts[1] == "xend" and parts[2] == "domain" and parts[3] != ""
    if is_dom:
        parts[3] = "<x>"
    key = f"{method} {'/'.join(parts)}"
    qargs = parse_form(query, keep_blank=False)
    if method in ("GET", "HEAD"):
        if is_dir:
            if qargs.get("detail") == ["1"]:
                key += "?detail=1"
            elif qargs.get("state"):
                key += f"?state={qargs['state'][0]}"
        elif is_dom and qargs.get("op", [None])[0] == "vcpuinfo":
            key += "?op=vcpuinfo"
    elif method == "POST":
        ops = (args if args is not None else qargs).get("op")
        if ops and len(ops) == 1:
            key += f" op={ops[0]}"
    return key


# ---------------------------------------------------------------- client: reply interpretation

def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _xend_err(body: bytes) -> str | None:
    """xend's message if the body is an ``(xend.err ...)`` reply, else None."""
    if b"xend.err" not in body:
        return None
    try:
        value = sxp.parse(body)
    except SexprError:
        return _text(body).strip()  # not parseable but clearly an error reply: keep the text
    if isinstance(value, list) and value and value[0] == "xend.err":
        return " ".join(v if isinstance(v, str) else sxp.show(v) for v in value[1:])
    return None


def interpret_response(method: str, target: str, response: HttpResponse):
    """Value of a XenD reply: parsed SXP (``str`` for text/plain bodies), None for an empty body.

    Raises NoDomainError, XendError subclasses (GetFailedError, PostFailedError, HttpError) or
    SexprError; the rules are in the module docstring."""
    status, body = response.status, response.body
    failed_cls = PostFailedError if method == "POST" else GetFailedError
    what = f"{method} {target}"
    if status == 404 and target.startswith("/xend/domain/"):
        text = _text(body).strip()
        ref = unquote(target[len("/xend/domain/"):].split("?", 1)[0].split("/", 1)[0])
        err = NoDomainError(f"Domain not found: {text or repr(ref)}")
        err.status, err.ref = status, ref
        raise err
    message = _xend_err(body)
    if message is not None:
        err = failed_cls(message, str1=what)
        err.status, err.xend_message = status, message
        raise err
    if status not in (200, 201, 202):
        detail = _text(body).strip()
        msg = f"{what}: HTTP error {status} {response.reason}".rstrip()
        if detail and detail != response.reason and response.content_type != SXP_MIME:
            msg += f": {detail[:500]}"
        err = (failed_cls if status >= 300 else HttpError)(msg, str1=what)
        err.status = status
        raise err
    if method == "POST" and status == 202 and b"failed" in body:
        err = PostFailedError(f"{what}: {_text(body).strip()[:500]}", str1=what)
        err.status = status
        raise err
    if not body.strip():
        return None
    if response.content_type.startswith("text/"):
        return _text(body)
    return sxp.parse(body)


# ---------------------------------------------------------------- server: requests

@dataclass
class XendRequest:
    """A request as xend's resources see it."""

    method: str
    target: str
    path: str
    segments: list[str]        # URL-unquoted path elements after the leading '/'
    args: Args                 # query args, updated by url-encoded POST args
    keep_alive: bool
    http: HttpRequest

    def key(self) -> str:
        return endpoint_key(self.method, self.target, self.args)


def to_xend_request(req: HttpRequest) -> "XendRequest | Reply":
    """Apply xend's argument rules; a method other than GET/HEAD/POST gets its 501 reply."""
    method = req.method
    keep_alive = (req.header("connection") or "").strip().lower() == "keep-alive"
    if method not in SUPPORTED_METHODS:
        return Reply(501, None, f"Request method not supported ({method})".encode(),
                     "text/plain", [("Accept", ",".join(SUPPORTED_METHODS))])
    # web/http.py: the query goes through cgi.parse_qs (blank values dropped); a POST body is
    # parsed only for a url-encoded Content-Type, with keep_blank_values=True, and merged by
    # dict.update. (multipart/form-data, which xend also read, is not supported here.)
    args = parse_form(req.query, keep_blank=False)
    ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
    if method == "POST" and req.body and ctype == FORM_MIME:
        args.update(parse_form(req.body.decode("utf-8", "replace"), keep_blank=True))
    segments = [unquote(s) for s in req.path[1:].split("/")]
    return XendRequest(method, req.target, req.path, segments, args, keep_alive, req)


# ---------------------------------------------------------------- server: replies

@dataclass
class Reply:
    """A reply before rendering: status, reason (None = standard), body bytes, content type."""

    status: int = 200
    reason: str | None = None
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False        # close the connection after it whatever the client asked


def sxp_reply(value, status: int = 200, reason: str | None = None,
              headers: list[tuple[str, str]] | None = None) -> Reply:
    """An SXP body printed by ``sxp.show`` (``application/sxp``)."""
    return Reply(status, reason, sxp.show(value).encode("utf-8"), SXP_MIME, headers or [])


def empty_reply(status: int = 200, reason: str | None = None,
                headers: list[tuple[str, str]] | None = None) -> Reply:
    """An op that returned None: empty body, no content type."""
    return Reply(status, reason, b"", None, headers or [])


def text_reply(status: int, text: str, reason: str | None = None) -> Reply:
    return Reply(status, reason, text.encode("utf-8"), "text/plain")


def xend_err_reply(message: str, status: int = 500, reason: str | None = None,
                   headers: list[tuple[str, str]] | None = None) -> Reply:
    """``(xend.err '<message>')`` as SrvBase.perform / resultErr produced it."""
    return sxp_reply(["xend.err", str(message)], status, reason, headers)


def reply_for_error(err: HttpRequestError) -> Reply:
    """The reply to a request the parser refused (400/413/414); the connection is then closed.

    xend answered these with an empty body; the text here only helps whoever reads it."""
    body = b"" if err.status == 413 else err.message.encode("utf-8", "replace")
    return Reply(err.status, None, body, "text/plain" if body else None, [], close=True)


def render_reply(reply: Reply, *, keep_alive: bool = False, head: bool = False) -> bytes:
    """Reply bytes in xend's style; HEAD (``head``) sends neither body nor Content-length."""
    headers: list[tuple[str, str]] = []
    if reply.content_type:
        headers.append(("Content-type", reply.content_type))
    headers += [(k.lower().capitalize(), v) for k, v in reply.headers]
    if keep_alive and not reply.close:
        headers.append(("Connection", "keep-alive"))
    headers += [("Pragma", "no-cache"), ("Cache-control", "no-cache"), ("Expires", "-1")]
    send_body = not head and reply.status not in (204, 304)
    if send_body:
        headers.append(("Content-length", str(len(reply.body))))
    reason = reply.reason if reply.reason is not None else STATUS_REASONS.get(reply.status)
    return render_response(reply.status, reason, headers, reply.body, send_body=send_body)
