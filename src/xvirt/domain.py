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

__all__ = ["Domain", "DomainInfo", "BlockStats", "InterfaceStats", "VcpuInfo"]


class DomainInfo(NamedTuple):
    state: DomainState      # always a DomainState member (an int), running or not
    max_mem_kib: int
    mem_kib: int
    vcpus: int
    cpu_time_ns: int


class BlockStats(NamedTuple):
    rd_req: int
    rd_bytes: int
    wr_req: int
    wr_bytes: int
    errs: int


class InterfaceStats(NamedTuple):
    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int


class VcpuInfo(NamedTuple):
    number: int
    state: int          # 0 offline, 1 running, 2 blocked (virVcpuState)
    cpu_time_ns: int
    cpu: int            # the physical CPU it runs on
    affinity: tuple     # one bool per physical CPU


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
    def _drv(self):
        return self._conn._driver

    @property
    def connection(self) -> "Connection":
        return self._conn

    # -- reads ----------------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self._drv.current_id(self.uuid)

    @property
    def name(self) -> str:
        return self._drv.name(self.uuid)

    def info(self) -> DomainInfo:
        f = self._drv.facts(self.uuid)
        return DomainInfo(DomainState(f.state), f.max_mem_kib, f.mem_kib, f.vcpus, f.cpu_time_ns)

    def state(self) -> tuple[DomainState, int]:
        """``(state, reason)``: the state is a :class:`DomainState` member (an ``IntEnum``, so it
        compares equal to libvirt's numbers) for running and inactive domains alike."""
        f = self._drv.facts(self.uuid)
        return DomainState(f.state), f.reason

    def is_active(self) -> bool:
        return self.id >= 0

    def is_persistent(self) -> bool:
        return self._drv.is_persistent(self.uuid)

    def max_memory(self) -> int:
        return self._drv.facts(self.uuid).max_mem_kib

    def max_vcpus(self) -> int:
        return self._drv.facts(self.uuid).max_vcpus

    def os_type(self) -> str:
        return "hvm" if self._drv.facts(self.uuid).hvm else "linux"

    def xml_desc(self, flags: int = 0) -> str:
        return self._drv.xml_desc(self.uuid)

    def autostart(self) -> bool:
        return self._drv.autostart(self.uuid)

    # -- statistics (issue 13: dom0's sysfs counters and the hypervisor's records, no daemon) --
    def block_stats(self, path: str) -> BlockStats:
        """The disk ``path``'s counters (target ``xvda``, source path or ``""`` for all disks)."""
        return BlockStats(*self._drv.block_stats(self.uuid, path))

    def block_stats_flags(self, path: str) -> dict[str, int]:
        return self._drv.block_stats_flags(self.uuid, path)

    def interface_stats(self, path: str) -> InterfaceStats:
        """The interface ``path``'s counters from the guest's side (``vif3.0`` or its MAC)."""
        return InterfaceStats(*self._drv.interface_stats(self.uuid, path))

    def memory_stats(self) -> dict[str, int]:
        """``{"actual", "available", "rss"}`` in KiB (libvirt's names)."""
        return self._drv.memory_stats(self.uuid)

    def vcpus(self) -> list[VcpuInfo]:
        """Per online vCPU: number, state (virVcpuState), cpu time ns, physical CPU, affinity."""
        entries, maps = self._drv.vcpu_info(self.uuid)
        return [VcpuInfo(*e, m) for e, m in zip(entries, maps)]

    def vcpus_count(self, maximum: bool = False) -> int:
        f = self._drv.facts(self.uuid)
        return f.max_vcpus if maximum else f.vcpus

    def vcpu_pin_info(self) -> list[tuple[bool, ...]]:
        """Affinity of every vCPU (up to the maximum), one bool per physical CPU."""
        return self._drv.vcpu_pin_info(self.uuid)

    def scheduler_type(self) -> str:
        return "credit"

    def scheduler_parameters(self) -> dict[str, int]:
        """``{"weight", "cap"}`` of Xen's credit scheduler."""
        return self._drv.scheduler_params(self.uuid)

    # -- operations (through the host's toolstack, addressed by UUID) -----------------------
    def _op(self, method: str, what: str, *args, **kwargs) -> None:
        self._conn._check_writable(what)
        getattr(self._drv, method)(self.uuid, *args, **kwargs)

    def create(self) -> None:
        """Start the domain; one with a managed save image is restored from it instead."""
        self._conn._check_writable("virDomainCreate")
        if not self._drv.start_from_managed_save(self.uuid):
            self._drv.start(self.uuid)

    def managed_save(self) -> None:
        self._op("managed_save", "virDomainManagedSave")

    def has_managed_save_image(self) -> bool:
        return self._drv.has_managed_save(self.uuid)

    def managed_save_remove(self) -> None:
        self._op("managed_save_remove", "virDomainManagedSaveRemove")

    def core_dump(self, path: str, *, live: bool = False, crash: bool = False) -> None:
        self._op("core_dump", "virDomainCoreDump", str(path), live=bool(live), crash=bool(crash))

    def shutdown(self) -> None:
        self._op("shutdown", "virDomainShutdown")

    def reboot(self, flags: int = 0) -> None:
        self._op("reboot", "virDomainReboot")

    def destroy(self) -> None:
        self._op("destroy", "virDomainDestroy")

    def suspend(self) -> None:
        self._op("suspend", "virDomainSuspend")

    def resume(self) -> None:
        self._op("resume", "virDomainResume")

    def save(self, path: str) -> None:
        self._op("save", "virDomainSave", str(path))

    def set_memory(self, kib: int) -> None:
        self._op("set_memory", "virDomainSetMemory", int(kib))

    def set_max_memory(self, kib: int) -> None:
        self._op("set_max_memory", "virDomainSetMaxMemory", int(kib))

    def set_vcpus(self, n: int) -> None:
        self._op("set_vcpus", "virDomainSetVcpus", int(n))

    def rename(self, new_name: str) -> None:
        self._op("rename", "virDomainRename", new_name)

    def undefine(self) -> None:
        self._op("undefine", "virDomainUndefine")

    def set_autostart(self, on: bool) -> None:
        self._op("set_autostart", "virDomainSetAutostart", bool(on))

    def description(self) -> str | None:
        """The domain's ``<description>`` (None when it has none)."""
        return self._drv.description(self.uuid)

    def set_description(self, text: str | None) -> None:
        self._op("set_description", "virDomainSetMetadata", text)

    def migrate(self, dest: "Connection", *, live: bool = False) -> "Domain":
        """Move the running domain to the host of ``dest`` (XenD relocation); its handle there."""
        self._conn._check_writable("virDomainMigrate")
        dest._check_writable("virDomainMigrate")
        self._drv.migrate(self.uuid, dest._driver, live=bool(live))
        return dest.lookup_by_uuid(self.uuid)

    def attach_device(self, xml: str, *, live: bool | None = None, config: bool = False) -> None:
        """Hot-plug a ``<disk>`` or ``<interface>`` (``live`` None: as the domain is now)."""
        self._op("attach_device", "virDomainAttachDevice", xml, live=live, config=config)

    def detach_device(self, xml: str, *, live: bool | None = None, config: bool = False) -> None:
        self._op("detach_device", "virDomainDetachDevice", xml, live=live, config=config)

    def pin_vcpu(self, vcpu: int, cpus) -> None:
        """Let vCPU ``vcpu`` run only on ``cpus`` (physical CPU numbers)."""
        self._op("pin_vcpu", "virDomainPinVcpu", int(vcpu), [int(c) for c in cpus])

    def set_scheduler_parameters(self, *, weight: int | None = None, cap: int | None = None) -> None:
        self._op("set_scheduler_params", "virDomainSetSchedulerParameters",
                 None if weight is None else int(weight), None if cap is None else int(cap))

    # -- convenience -----------------------------------------------------------------------------
    def state_name(self) -> str:
        from .constants import STATE_NAMES
        return STATE_NAMES.get(self.state()[0], "no state")

    @property
    def running(self) -> bool:
        return self.state()[0] in (DomainState.RUNNING, DomainState.BLOCKED)
