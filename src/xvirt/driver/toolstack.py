"""The toolstack seam: what the Xen driver asks of XenD or libxl, and the stand-in when there is none.

The driver composes three channels: the hypervisor (ids, state, memory, cpu time), xenstore
(names) and a *toolstack* (inactive domains, configs, lifecycle operations, and the fallback for
running domains when the cheap channels cannot answer). ``XendToolstack`` talks to XenD over
HTTP/SXP; ``LibxlToolstack`` runs the ``xl`` command and keeps inactive domains itself, as
libvirt's libxl driver does. Every method that reaches the toolstack counts its calls; the
driver never calls one for a question the hypervisor and xenstore answer.

Domains are addressed by UUID. ``bind(driver)`` gives the toolstack the driver, whose
``running_id(uuid)`` (the id now from the hypervisor channel, or None) and ``lookup_name`` a
toolstack that addresses domains by id or name, like ``xl``, uses.
"""

from __future__ import annotations

from ..errors import NoSupportError
from .records import Facts

__all__ = ["Toolstack", "NoToolstack"]


class Toolstack:
    """Interface of a toolstack; every method raises NoSupportError unless overridden."""

    name = "none"
    # whether its destroy pauses the domain first (libxl does; xend does not): then an event
    # source holds a pause seen only in the records back for a moment (xvirt.events.PAUSE_HOLD)
    pauses_before_destroy = False

    driver = None

    def bind(self, driver) -> None:
        self.driver = driver

    def close(self) -> None:
        pass

    def counts(self) -> dict[str, dict[str, int]]:
        """Calls made so far, per channel name (``{"xend": {...}}`` or ``{"xl": {...}}``)."""
        return {}

    def _unsupported(self, what: str):
        raise NoSupportError(f"{what}: this host has no Xen toolstack (neither XenD nor xl was found)")

    # -- reads (fallbacks for running domains; the only source for inactive ones) ------------
    def running_facts(self) -> list[Facts]:
        """Every running domain with its name (one bulk call)."""
        return self._unsupported("list domains")

    def facts_by_uuid(self, uuid: str, *, running: bool | None = None) -> Facts | None:
        """The domain with ``uuid`` (running or defined), or None. ``running`` is what the
        hypervisor channel already said (None: unknown), so a toolstack may skip a call."""
        return self._unsupported("look up a domain")

    def facts_by_id(self, domid: int) -> Facts | None:
        return self._unsupported("look up a domain")

    def facts_by_name(self, name: str, *, allow_snapshot: bool, running: bool | None = None) -> Facts | None:
        """The domain named ``name`` (running first, then defined), or None; ``allow_snapshot``
        lets a cached bulk answer within the connection's ``max_staleness`` serve; ``running``
        False: the cheap channels found no running domain of that name."""
        return self._unsupported("look up a domain")

    def defined_names(self) -> list[str]:
        return self._unsupported("list defined domains")

    def defined_facts(self) -> list[Facts]:
        return self._unsupported("list defined domains")

    def persistence(self) -> dict[str, bool]:
        """Whether each known domain is persistent, in one call."""
        return self._unsupported("list persistent domains")

    def is_persistent(self, uuid: str) -> bool:
        return self._unsupported("virDomainIsPersistent")

    def host_info(self) -> dict[str, str]:
        """The host's facts as ``xl info`` / XenD's node record name them (``host``, ``xen_major``,
        ``xen_minor``, ``xen_extra``, ``nr_cpus``, ``cpu_mhz``, ``total_memory`` in MiB, ...)."""
        return self._unsupported("virNodeGetInfo")

    def config_format(self) -> int:
        """XenD's config format version (XenD's node field; xl reports 4)."""
        return 4

    def xml_desc(self, uuid: str) -> str:
        return self._unsupported("virDomainGetXMLDesc")

    # -- lifecycle ----------------------------------------------------------------------------
    def define_xml(self, xml: str) -> str:
        """Define (or redefine) a domain; its UUID."""
        return self._unsupported("virDomainDefineXML")

    def create_xml(self, xml: str) -> str:
        """Create and run a transient domain; its UUID."""
        return self._unsupported("virDomainCreateXML")

    def restore(self, path: str) -> None:
        self._unsupported("virDomainRestore")

    def start(self, uuid: str) -> None:
        self._unsupported("virDomainCreate")

    def undefine(self, uuid: str) -> None:
        self._unsupported("virDomainUndefine")

    def shutdown(self, uuid: str) -> None:
        self._unsupported("virDomainShutdown")

    def reboot(self, uuid: str) -> None:
        self._unsupported("virDomainReboot")

    def destroy(self, uuid: str) -> None:
        self._unsupported("virDomainDestroy")

    def pause(self, uuid: str) -> None:
        self._unsupported("virDomainSuspend")

    def unpause(self, uuid: str) -> None:
        self._unsupported("virDomainResume")

    def save(self, uuid: str, path: str) -> None:
        self._unsupported("virDomainSave")

    def set_memory(self, uuid: str, kib: int) -> None:
        self._unsupported("virDomainSetMemory")

    def set_max_memory(self, uuid: str, kib: int) -> None:
        self._unsupported("virDomainSetMaxMemory")

    def set_vcpus(self, uuid: str, n: int) -> None:
        self._unsupported("virDomainSetVcpus")

    def rename(self, uuid: str, name: str) -> None:
        self._unsupported("virDomainRename")

    def autostart(self, uuid: str) -> bool:
        return self._unsupported("virDomainGetAutostart")

    def set_autostart(self, uuid: str, on: bool) -> None:
        self._unsupported("virDomainSetAutostart")

    # issue 13: vCPU placement and the credit scheduler
    def pin_vcpu(self, uuid: str, vcpu: int, cpus: list[int]) -> None:
        self._unsupported("virDomainPinVcpu")

    def sched_credit_get(self, uuid: str) -> dict[str, int]:
        return self._unsupported("virDomainGetSchedulerParameters")

    def core_dump(self, uuid: str, path: str, *, live: bool, crash: bool) -> None:
        self._unsupported("virDomainCoreDump")

    def attach_device(self, uuid: str, dev, *, live: bool, config: bool) -> None:
        self._unsupported("virDomainAttachDevice")

    def detach_device(self, uuid: str, dev, *, live: bool, config: bool) -> None:
        self._unsupported("virDomainDetachDevice")

    def migrate(self, uuid: str, destination: str, port: int, *, live: bool) -> None:
        if self.name == "none":
            self._unsupported("virDomainMigrate")
        raise NoSupportError(f"this function is not supported by the connection driver: virDomainMigrate "
                             f"(xvirt migrates through XenD's relocation service; the {self.name} toolstack "
                             "has none)")

    def update_running_xml(self, uuid: str, xml: str) -> None:
        """Record a running domain's changed live definition (where the toolstack keeps one apart)."""

    def sched_credit_set(self, uuid: str, weight: int | None, cap: int | None) -> None:
        self._unsupported("virDomainSetSchedulerParameters")

    def autostart_uuids(self) -> list[str]:
        """Defined domains marked to start with the host (none where the toolstack keeps none)."""
        return []


class NoToolstack(Toolstack):
    """A host where neither XenD nor ``xl`` was found: running domains are still read from the
    hypervisor and xenstore; everything else is a clear NoSupportError."""

    name = "none"
    why: str | None = None   # why the hypervisor channel is missing too, when it is

    def _unsupported(self, what: str):
        if self.why:
            raise NoSupportError(f"{what}: this host has no Xen toolstack (neither XenD nor xl was found); "
                                 f"{self.why}")
        return super()._unsupported(what)

    def facts_by_uuid(self, uuid: str, *, running: bool | None = None) -> Facts | None:
        return None

    def facts_by_id(self, domid: int) -> Facts | None:
        return None

    def facts_by_name(self, name: str, *, allow_snapshot: bool, running: bool | None = None) -> Facts | None:
        return None

    def defined_names(self) -> list[str]:
        return []

    def defined_facts(self) -> list[Facts]:
        return []

    def persistence(self) -> dict[str, bool]:
        return {}

    def is_persistent(self, uuid: str) -> bool:
        return False
