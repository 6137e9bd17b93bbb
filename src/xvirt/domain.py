"""``Domain``: a handle to one domain's UUID; every attribute read asks the driver, so it is current.

A handle never caches an id or a name: ``dom.id`` and ``dom.name`` are the id and name the domain
has at the call, and a handle whose domain rebooted, was restored or renamed follows it. Two
handles for one UUID compare equal and hash alike.
"""

from __future__ import annotations

import uuid as _uuid
from typing import NamedTuple, TYPE_CHECKING

from .constants import DomainState

if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection

__all__ = ["Domain", "DomainInfo"]


class DomainInfo(NamedTuple):
    state: DomainState      # always a DomainState member (an int), running or not
    max_mem_kib: int
    mem_kib: int
    vcpus: int
    cpu_time_ns: int


def _kib_to_mib(kib: int) -> int:
    return max(1, -(-int(kib) // 1024))


class Domain:
    __slots__ = ("_conn", "uuid", "__weakref__")

    def __init__(self, conn: "Connection", uuid: str) -> None:
        self._conn = conn
        self.uuid = uuid

    # -- identity -------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Domain) and other.uuid == self.uuid

    def __hash__(self) -> int:
        return hash(("xvirt.Domain", self.uuid))

    def __repr__(self) -> str:
        return f"<xvirt.Domain {self.uuid}>"

    @property
    def uuid_bytes(self) -> bytes:
        return _uuid.UUID(self.uuid).bytes

    @property
    def connection(self) -> "Connection":
        return self._conn

    # -- reads ----------------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self._conn._driver.current_id(self.uuid)

    @property
    def name(self) -> str:
        return self._conn._driver.name(self.uuid)

    def info(self) -> DomainInfo:
        f = self._conn._driver.facts(self.uuid)
        return DomainInfo(DomainState(f.state), f.max_mem_kib, f.mem_kib, f.vcpus, f.cpu_time_ns)

    def state(self) -> tuple[DomainState, int]:
        """``(state, reason)``: the state is a :class:`DomainState` member (an ``IntEnum``, so it
        compares equal to libvirt's numbers) for running and inactive domains alike."""
        f = self._conn._driver.facts(self.uuid)
        return DomainState(f.state), f.reason

    def is_active(self) -> bool:
        return self.id >= 0

    def is_persistent(self) -> bool:
        return self._conn._driver.is_persistent(self.uuid)

    def max_memory(self) -> int:
        return self._conn._driver.facts(self.uuid).max_mem_kib

    def max_vcpus(self) -> int:
        return self._conn._driver.facts(self.uuid).max_vcpus

    def os_type(self) -> str:
        return "hvm" if self._conn._driver.facts(self.uuid).hvm else "linux"

    def xml_desc(self, flags: int = 0) -> str:
        from .domxml import domain_xml_from_sxpr
        rec = self._conn._driver.xend_record(self.uuid)
        if rec is None:
            from .errors import NoDomainError
            raise NoDomainError(f"Domain not found: no domain with matching uuid '{self.uuid}'")
        return domain_xml_from_sxpr(rec, xend_config_format=self._conn.xend_config_format)

    # -- operations (all through XenD, addressed by UUID) ------------------------------------
    def _op(self, op: str, what: str, **params) -> None:
        self._conn._check_writable(what)
        self._conn._driver.op(self.uuid, op, what, **params)

    def create(self) -> None:
        if self.is_active():
            from .errors import OperationInvalidError
            raise OperationInvalidError("Requested operation is not valid: domain is already running")
        self._op("start", "virDomainCreate")

    def shutdown(self) -> None:
        self._op("shutdown", "virDomainShutdown", reason="poweroff")

    def reboot(self, flags: int = 0) -> None:
        self._op("shutdown", "virDomainReboot", reason="reboot")

    def destroy(self) -> None:
        self._op("destroy", "virDomainDestroy")

    def suspend(self) -> None:
        self._op("pause", "virDomainSuspend")

    def resume(self) -> None:
        self._op("unpause", "virDomainResume")

    def save(self, path: str) -> None:
        self._op("save", "virDomainSave", file=str(path))

    def set_memory(self, kib: int) -> None:
        self._op("mem_target_set", "virDomainSetMemory", target=_kib_to_mib(kib))

    def set_max_memory(self, kib: int) -> None:
        self._op("maxmem_set", "virDomainSetMaxMemory", memory=_kib_to_mib(kib))

    def set_vcpus(self, n: int) -> None:
        if int(n) < 1:
            from .errors import InvalidArgError
            raise InvalidArgError("virDomainSetVcpus: vcpus must be at least 1")
        self._op("set_vcpus", "virDomainSetVcpus", vcpus=int(n))

    def rename(self, new_name: str) -> None:
        self._op("rename", "virDomainRename", name=new_name)

    def undefine(self) -> None:
        self._op("delete", "virDomainUndefine")

    # -- convenience -----------------------------------------------------------------------------
    def state_name(self) -> str:
        from .constants import STATE_NAMES
        return STATE_NAMES.get(self.state()[0], "no state")

    @property
    def running(self) -> bool:
        return self.state()[0] in (DomainState.RUNNING, DomainState.BLOCKED)
