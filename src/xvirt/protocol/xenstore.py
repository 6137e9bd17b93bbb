"""xenstore wire framing: header, message types, payload codec and an incremental decoder (no I/O).

Theory of operation. Every message, in both directions, is a 16-byte little-endian header
``type, req_id, tx_id, len`` (4 x uint32, ``struct xsd_sockmsg`` in Xen's ``xen/include/public/
io/xs_wire.h``) followed by ``len`` bytes of payload, ``len <= XENSTORE_PAYLOAD_MAX`` (4096).
Payloads are NUL-terminated strings, except the value of a WRITE (``path NUL value``, no trailing
NUL) and a READ reply (the raw value). A reply echoes the request's type, ``req_id`` and ``tx_id``;
a failure is a reply of type ERROR whose payload is an errno name such as ``"ENOENT\\0"``; a watch
event is an unsolicited WATCH_EVENT ``path NUL token NUL``.

:class:`Decoder` is fed arbitrary chunks (partial reads, several messages at once) and yields
:class:`Message` values. Its only states are "waiting for a header" and "waiting for ``len``
payload bytes"; a header announcing more than ``XENSTORE_PAYLOAD_MAX`` bytes loses the framing:
the decoder raises :class:`XsProtocolError` (errno ``E2BIG``, carrying the offending header so a
server can still answer it) and refuses further input. Unknown message types are not a framing
error; they are decoded and left to the caller to refuse.

Errors are :class:`xvirt.errors.XenstoreError` subclasses: :class:`XsError` is an error xenstored
reported (``.errno`` is its name; ``ENOENT`` gives the subclass :class:`XsNoEntError`, so callers
can tell "missing" from "down"), :class:`XsProtocolError` is malformed bytes.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from ..errors import XenstoreError

__all__ = [
    "XsType", "Message", "Decoder", "XsError", "XsNoEntError", "XsProtocolError",
    "HEADER", "HEADER_SIZE", "XENSTORE_PAYLOAD_MAX", "XENSTORE_ABS_PATH_MAX",
    "XENSTORE_REL_PATH_MAX", "ERRNO_NAMES", "type_name", "encode", "encode_message",
    "pack_strings", "split_strings", "request", "write_request", "reply", "ok_reply",
    "error_reply", "watch_event", "parse_request", "parse_error", "parse_watch_event",
    "parse_directory", "parse_directory_part", "OK",
]

# xs_wire.h limits: a payload longer than this is "very bad" (the peer drops the connection);
# longer paths just get an error back.
XENSTORE_PAYLOAD_MAX = 4096
XENSTORE_ABS_PATH_MAX = 3072
XENSTORE_REL_PATH_MAX = 2048

HEADER = struct.Struct("<IIII")
HEADER_SIZE = HEADER.size  # 16
OK = b"OK\0"


class XsType(IntEnum):
    """``enum xsd_sockmsg_type`` of xs_wire.h (value 20, XS_RESTRICT, was removed and is invalid)."""

    CONTROL = 0
    DEBUG = 0  # alias: XS_DEBUG is #defined to XS_CONTROL
    DIRECTORY = 1
    READ = 2
    GET_PERMS = 3
    WATCH = 4
    UNWATCH = 5
    TRANSACTION_START = 6
    TRANSACTION_END = 7
    INTRODUCE = 8
    RELEASE = 9
    GET_DOMAIN_PATH = 10
    WRITE = 11
    MKDIR = 12
    RM = 13
    SET_PERMS = 14
    WATCH_EVENT = 15
    ERROR = 16
    IS_DOMAIN_INTRODUCED = 17
    RESUME = 18
    SET_TARGET = 19
    RESET_WATCHES = 21  # = XS_SET_TARGET + 2
    DIRECTORY_PART = 22
    INVALID = 0xFFFF  # "guaranteed to remain an invalid type"


_NAMES = {int(t): t.name for t in XsType}


def type_name(t: int) -> str:
    """Name of a message type (``"READ"``), ``"UNKNOWN"`` for a value xs_wire.h does not define."""
    return _NAMES.get(t, "UNKNOWN")


# The errno names xs_wire.h lists in ``xsd_errors`` (the only ones a libxs client maps back).
ERRNO_NAMES = ("EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC", "EIO",
               "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY", "EAGAIN", "EISCONN", "E2BIG")


class XsError(XenstoreError):
    """An error reported by xenstored: ``errno`` is its name (``"ENOENT"``, ``"EACCES"`` ...).

    ``XsError("ENOENT", path)`` constructs the subclass :class:`XsNoEntError`.
    """

    def __new__(cls, errno: str = "EINVAL", path: str | None = None, *args, **kwargs):
        if cls is XsError and errno == "ENOENT":
            cls = XsNoEntError
        return super().__new__(cls, errno, path)

    def __init__(self, errno: str = "EINVAL", path: str | None = None) -> None:
        self.errno = errno
        self.path = path
        super().__init__(f"xenstore error {errno}" + (f" on {path}" if path else ""))
        self.args = (errno, path)  # so that copy/pickle rebuild the same error


class XsNoEntError(XsError):
    """The node does not exist (``ENOENT``): xenstore works, the data is missing."""


class XsProtocolError(XenstoreError):
    """Malformed xenstore bytes; ``errno`` is the error name a server answers (EINVAL or E2BIG).

    ``header`` is the ``(type, req_id, tx_id, len)`` of the offending message when it was read,
    so a server can still address an error reply to it.
    """

    def __init__(self, message: str, *, errno: str = "EINVAL",
                 header: tuple[int, int, int, int] | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.header = header


class Message(NamedTuple):
    """One decoded message; ``type`` stays an ``int`` so unknown types can be represented.

    A named tuple rather than a dataclass: it is built once per message on the server's hot path.
    """

    type: int
    req_id: int
    tx_id: int
    payload: bytes

    @property
    def type_name(self) -> str:
        return type_name(self.type)


# -------------------------------------------------------------------------------- encoding

def _b(s: str | bytes) -> bytes:
    if isinstance(s, bytes):
        return s
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise XsProtocolError(f"xenstore string {s!r} cannot be encoded") from None


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def pack_strings(*strings: str | bytes) -> bytes:
    """Payload of NUL-terminated strings: ``pack_strings("a", "b") == b"a\\0b\\0"``.

    A string holding a NUL would split into two on the wire, so it raises (EINVAL).
    """
    out = []
    for s in strings:
        b = _b(s)
        if b"\0" in b:
            raise XsProtocolError(f"xenstore string {s!r} contains a NUL")
        out.append(b)
        out.append(b"\0")
    return b"".join(out)


def encode(type: int, payload: bytes = b"", req_id: int = 0, tx_id: int = 0) -> bytes:
    """Header + payload bytes; a payload over ``XENSTORE_PAYLOAD_MAX`` raises (errno E2BIG)."""
    n = len(payload)
    if n > XENSTORE_PAYLOAD_MAX:
        raise XsProtocolError(f"xenstore payload of {n} bytes exceeds {XENSTORE_PAYLOAD_MAX}",
                              errno="E2BIG")
    return HEADER.pack(type, req_id, tx_id, n) + payload


def encode_message(msg: Message) -> bytes:
    return encode(msg.type, msg.payload, msg.req_id, msg.tx_id)


def request(type: int, *args: str | bytes, req_id: int = 0, tx_id: int = 0) -> bytes:
    """A request whose arguments are NUL-terminated strings (READ, WATCH, DIRECTORY_PART ...)."""
    return encode(type, pack_strings(*args), req_id, tx_id)


def write_request(path: str | bytes, value: bytes, req_id: int = 0, tx_id: int = 0) -> bytes:
    """WRITE is ``path NUL value`` with no trailing NUL (the value is raw bytes)."""
    return encode(XsType.WRITE, pack_strings(path) + value, req_id, tx_id)


def reply(type: int, payload: bytes, req_id: int = 0, tx_id: int = 0) -> bytes:
    return encode(type, payload, req_id, tx_id)


def ok_reply(type: int, req_id: int = 0, tx_id: int = 0) -> bytes:
    """The acknowledgement xenstored sends for WRITE, MKDIR, RM, WATCH ...: ``"OK\\0"``."""
    return encode(type, OK, req_id, tx_id)


def error_reply(errno: str, req_id: int = 0, tx_id: int = 0) -> bytes:
    return encode(XsType.ERROR, errno.encode("ascii") + b"\0", req_id, tx_id)


def watch_event(path: str | bytes, token: str | bytes) -> bytes:
    """Unsolicited watch event: type WATCH_EVENT, ids 0, payload ``path NUL token NUL``."""
    return encode(XsType.WATCH_EVENT, pack_strings(path, token))


# -------------------------------------------------------------------------------- decoding

def split_strings(payload: bytes) -> list[str]:
    """The NUL-terminated strings of a payload; bytes after the last NUL raise EINVAL."""
    if not payload:
        return []
    if payload[-1] != 0:
        raise XsProtocolError("xenstore payload is not NUL-terminated")
    return [_s(p) for p in payload[:-1].split(b"\0")]


# Request arity: (minimum, maximum) NUL-terminated strings; None = no maximum. After xenstored's
# argument checks (xenstored_core.c onearg/get_strings, xenstored_domain.c, xenstored_watch.c).
_ARITY: dict[int, tuple[int, int | None]] = {
    XsType.DIRECTORY: (1, 1), XsType.READ: (1, 1), XsType.GET_PERMS: (1, 1),
    XsType.WATCH: (2, 2), XsType.UNWATCH: (2, 2), XsType.TRANSACTION_START: (1, 1),
    XsType.TRANSACTION_END: (1, 1), XsType.INTRODUCE: (3, 4), XsType.RELEASE: (1, 1),
    XsType.GET_DOMAIN_PATH: (1, 1), XsType.MKDIR: (1, 1), XsType.RM: (1, 1),
    XsType.SET_PERMS: (2, None), XsType.IS_DOMAIN_INTRODUCED: (1, 1), XsType.RESUME: (1, 1),
    XsType.SET_TARGET: (2, 2), XsType.DIRECTORY_PART: (2, 2),
}


def parse_request(type: int, payload: bytes) -> tuple:
    """Arguments of a client request, checked against the type's arity.

    WRITE gives ``(path, value_bytes)``; CONTROL gives ``(command, rest_bytes)``; RESET_WATCHES
    ignores its payload; every other known type gives its strings. Missing NULs or a wrong
    number of strings raise :class:`XsProtocolError` (errno EINVAL); so do the reply-only types
    (WATCH_EVENT, ERROR) and unknown types.
    """
    if type == XsType.WRITE or type == XsType.CONTROL:
        i = payload.find(b"\0")
        if i < 0:
            raise XsProtocolError(f"{type_name(type)} payload has no NUL after its first argument")
        return _s(payload[:i]), payload[i + 1:]
    if type == XsType.RESET_WATCHES:
        return ()
    arity = _ARITY.get(type)
    if arity is None:
        raise XsProtocolError(f"invalid xenstore request type {type} ({type_name(type)})")
    args = split_strings(payload)
    lo, hi = arity
    if len(args) < lo or (hi is not None and len(args) > hi):
        want = str(lo) if lo == hi else f"{lo}..{hi or 'n'}"
        raise XsProtocolError(f"{type_name(type)} wants {want} NUL-terminated strings, "
                              f"got {len(args)}")
    return tuple(args)


def parse_error(payload: bytes) -> str:
    """Errno name of an ERROR reply (``b"ENOENT\\0"`` -> ``"ENOENT"``)."""
    return _s(payload.split(b"\0", 1)[0]) or "EINVAL"


def parse_watch_event(payload: bytes) -> tuple[str, str]:
    """``(path, token)`` of a WATCH_EVENT payload."""
    parts = payload.split(b"\0")
    if len(parts) < 2:
        raise XsProtocolError("watch event payload lacks the NUL between path and token")
    return _s(parts[0]), _s(parts[1])


def parse_directory(payload: bytes) -> list[str]:
    """Child names of a DIRECTORY reply (an empty payload is an empty directory)."""
    return split_strings(payload)


def parse_directory_part(payload: bytes) -> tuple[str, list[str], bool]:
    """``(generation, names, complete)`` of a DIRECTORY_PART reply.

    The reply is ``gen NUL`` followed by whole NUL-terminated child names starting at the
    requested byte offset; an extra NUL (an empty name) marks the end of the list
    (xenstored_core.c send_directory_part, libxs xs_directory_part).
    """
    i = payload.find(b"\0")
    if i < 0:
        raise XsProtocolError("DIRECTORY_PART reply lacks its generation")
    gen, rest = _s(payload[:i]), payload[i + 1:]
    if not rest:
        return gen, [], False
    if rest[-1] != 0:
        raise XsProtocolError("DIRECTORY_PART reply is not NUL-terminated")
    complete = rest == b"\0" or rest.endswith(b"\0\0")
    if complete:
        rest = rest[:-1]
    return gen, ([_s(p) for p in rest[:-1].split(b"\0")] if rest else []), complete


class Decoder:
    """Incremental decoder: ``feed(bytes)`` any chunks, then take messages with ``next_message()``.

    Lengths over ``XENSTORE_PAYLOAD_MAX`` raise :class:`XsProtocolError` (errno E2BIG, with
    ``header``); afterwards the decoder is broken and every call raises again.
    """

    __slots__ = ("_buf", "_pos", "_broken", "max_payload")

    def __init__(self, max_payload: int = XENSTORE_PAYLOAD_MAX) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._broken: XsProtocolError | None = None
        self.max_payload = max_payload

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as a message."""
        return len(self._buf) - self._pos

    def partial_header(self) -> tuple[int, int, int, int] | None:
        """Header of the incomplete message at the front of the buffer, if 16 bytes are there."""
        if self.buffered >= HEADER_SIZE:
            return HEADER.unpack_from(self._buf, self._pos)
        return None

    def feed(self, data: bytes) -> None:
        if self._broken is not None:
            raise self._broken
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_message(self) -> Message | None:
        """The next complete message, or ``None`` until more bytes are fed."""
        if self._broken is not None:
            raise self._broken
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail < HEADER_SIZE:
            return None
        t, req_id, tx_id, n = HEADER.unpack_from(buf, pos)
        if n > self.max_payload:
            self._broken = XsProtocolError(
                f"xenstore message announces {n} payload bytes, more than "
                f"{self.max_payload} (framing lost)", errno="E2BIG", header=(t, req_id, tx_id, n))
            raise self._broken
        end = pos + HEADER_SIZE + n
        if len(buf) < end:
            return None
        payload = bytes(buf[pos + HEADER_SIZE:end])
        if end == len(buf):
            buf.clear()
            self._pos = 0
        elif end > 65536:  # compact now and then so the buffer does not grow without bound
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end
        return Message(t, req_id, tx_id, payload)

    def __iter__(self):
        while (m := self.next_message()) is not None:
            yield m
