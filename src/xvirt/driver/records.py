"""Plain data the driver returns, and the one place XenD records and errors become it.

``Facts`` is what is true of one domain at one instant. XenD records are read with libvirt's
rules (2010+ state-string priority, MiB to KiB, seconds to ns; reference §2.6); ``xend.err``
messages are mapped to libvirt error classes in ``map_xend_error``.
"""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass

from ..constants import DomainState as S
from ..errors import (DomainExistsError, ErrorDomain, InvalidArgError, LibvirtError, NoConnectError,
                      NoDomainError, OperationFailedError, OperationInvalidError, XendError)
from ..protocol import domtable as dt
from ..protocol import sxp

__all__ = ["Facts", "facts_from_info", "facts_from_record", "record_uuid", "map_xend_error",
           "reason_for", "parse_uuid", "state_from_letters", "map_xl_error"]


def parse_uuid(value) -> str:
    """A UUID given as text (any of Python's accepted spellings) or 16 bytes, in canonical form."""
    try:
        if isinstance(value, (bytes, bytearray)):
            if len(value) != 16:
                raise ValueError
            return str(_uuid.UUID(bytes=bytes(value)))
        return str(_uuid.UUID(hex=str(value).strip()))
    except (ValueError, TypeError):
        raise InvalidArgError(f"Invalid UUID: {value!r}") from None


@dataclass(frozen=True, slots=True)
class Facts:
    uuid: str
    id: int                 # -1 when not running
    state: int
    max_mem_kib: int
    mem_kib: int
    vcpus: int
    max_vcpus: int
    cpu_time_ns: int
    name: str | None = None
    persistent: bool | None = None
    hvm: bool = False

    @property
    def reason(self) -> int:
        return reason_for(self.state)


# libvirt reasons we can stand behind: running=booted, paused=user, others unknown
_REASONS = {int(S.RUNNING): 1, int(S.BLOCKED): 0, int(S.PAUSED): 1}


def reason_for(state: int) -> int:
    return _REASONS.get(state, 0)


def facts_from_info(info: dt.DomainInfo, name: str | None = None) -> Facts:
    return Facts(info.uuid, info.domid, info.state, info.max_memory_kib, info.memory_kib,
                 info.online_vcpus, info.max_vcpu_id + 1, info.cpu_time, name,
                 hvm=bool(info.flags & dt.HVM))


def _int(rec, key: str, default: int = 0) -> int:
    val = sxp.child_value(rec, key)
    try:
        return int(val, 0) if val is not None else default
    except ValueError:
        try:
            return int(float(val))
        except ValueError:
            return default


def record_uuid(rec) -> str | None:
    raw = sxp.child_value(rec, "uuid")
    try:
        return str(_uuid.UUID(hex=raw)) if raw else None
    except ValueError:
        return None


def _state(rec, domid: int) -> int:
    st = sxp.child_value(rec, "state")
    if st is None:
        status = sxp.child_value(rec, "status")
        return S.SHUTOFF if domid < 0 or status == "0" else S.NOSTATE
    return state_from_letters(st)


def state_from_letters(st: str) -> int:
    """libvirt's state for XenD's / xl's state letters (``rbpscd``), by libvirt's priority."""
    for ch, state in (("c", S.CRASHED), ("s", S.SHUTOFF), ("d", S.SHUTDOWN), ("p", S.PAUSED),
                      ("b", S.BLOCKED), ("r", S.RUNNING)):
        if ch in st:
            return state
    return S.NOSTATE


def facts_from_record(rec) -> Facts:
    """Facts from a XenD ``(domain ...)`` record."""
    uid = record_uuid(rec)
    if uid is None:
        raise XendError("XenD returned a domain record without a valid uuid")
    domid = _int(rec, "domid", -1) if sxp.child_value(rec, "domid") is not None else -1
    vcpus = _int(rec, "vcpus", 1)
    avail = _int(rec, "vcpu_avail", 0)
    online = bin(avail).count("1") if avail and bin(avail).count("1") < vcpus else vcpus
    if domid >= 0 and sxp.child_value(rec, "online_vcpus") is not None:
        online = _int(rec, "online_vcpus", online)
    try:
        cpu = int(float(sxp.child_value(rec, "cpu_time", "0")) * 1e9)
    except ValueError:
        cpu = 0
    image = sxp.child(rec, "image")
    managed = sxp.child_value(rec, "managed")
    return Facts(uid, domid, _state(rec, domid), _int(rec, "maxmem") * 1024, _int(rec, "memory") * 1024,
                 online, vcpus, cpu, sxp.child_value(rec, "name"),
                 None if managed is None else managed == "1",
                 hvm=bool(image and len(image) > 1 and isinstance(image[1], list) and image[1][:1] == ["hvm"]))


_MESSAGES = (
    ("already in use", DomainExistsError),
    ("already running", OperationInvalidError),
    ("is not running", OperationInvalidError),
    ("not halted", OperationInvalidError),
    ("not managed", OperationInvalidError),
    ("Invalid reason", InvalidArgError),
    ("invalid vm name", InvalidArgError),
    ("greater than max vcpus", InvalidArgError),
    ("exceeds maximum memory", InvalidArgError),
    ("Invalid memory size", InvalidArgError),
    ("is outside the save directory", InvalidArgError),
    ("privileged domain 0", OperationInvalidError),
)


def map_xend_error(e: LibvirtError, what: str) -> LibvirtError:
    """Turn an ``xend.err`` into the libvirt error a caller of ``what`` expects (one table)."""
    if type(e) is not XendError and not isinstance(e, XendError):
        return e
    msg = e.message
    for needle, cls in _MESSAGES:
        if needle in msg:
            return cls(f"{what}: {msg}", domain=e.domain)
    return e


# xl's messages (tools/xl, libxl) -> libvirt error classes; the first match wins
_XL_MESSAGES = (
    ("cannot init xl context", NoConnectError),   # not root, no Xen, or no privcmd
    ("is an invalid domain identifier", NoDomainError),
    ("Non-existant domain", NoDomainError),
    ("already exists", DomainExistsError),
    ("already in use", DomainExistsError),
    ("Not destroying domain 0", OperationInvalidError),
    ("Can't open restore file", InvalidArgError),
    ("wrong magic number", InvalidArgError),
    ("Failed to read config file", InvalidArgError),
    ("requires at least", InvalidArgError),
    ("Invalid", InvalidArgError),
    ("invalid", InvalidArgError),
    ("exceeds", InvalidArgError),
)
_XL_RC = {-6: InvalidArgError, -21: NoDomainError, -24: NoDomainError}


def map_xl_error(returncode: int, stderr: str, what: str) -> LibvirtError:
    """The one place an ``xl`` failure (exit code + stderr) becomes a libvirt error."""
    from ..protocol.xl import parse_rc
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("Parsing config")]
    message = "; ".join(lines[-3:])[:2000] or f"xl exited with status {returncode}"
    for needle, cls in _XL_MESSAGES:
        if needle in stderr:
            return cls(f"{what}: {message}", domain=ErrorDomain.LIBXL)
    cls = _XL_RC.get(parse_rc(stderr) or 0, OperationFailedError)
    return cls(f"{what}: {message}", domain=ErrorDomain.LIBXL)
