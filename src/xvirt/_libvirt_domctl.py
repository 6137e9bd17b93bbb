"""libvirt-python's vCPU, scheduler, memory and autostart methods of ``virDomain`` (pinVcpu, schedulerParameters, ...).

Kept apart from ``_libvirt_objects`` so that module stays small; ``_libvirt_surface`` imports this
module before it fills the NO_SUPPORT stand-ins. Flags are libvirt's (``VIR_DOMAIN_AFFECT_*``,
``VIR_DOMAIN_VCPU_MAXIMUM``, ``VIR_DOMAIN_MEM_MAXIMUM``); unknown bits are an invalid argument.
"""

from __future__ import annotations

from ._libvirt_objects import _api, _check_flags, virDomain
from .errors import InvalidArgError, OperationInvalidError

__all__ = ["METHODS"]

METHODS: dict = {}   # name -> the virDomain method this module installs


def _install(*fns) -> None:
    """Make each function a method of ``virDomain`` under its own name (and list it in METHODS)."""
    for fn in fns:
        fn.__qualname__ = f"virDomain.{fn.__name__}"
        setattr(virDomain, fn.__name__, fn)
        METHODS[fn.__name__] = fn


LIVE, CONFIG, VCPU_MAXIMUM, MEM_MAXIMUM = 1, 2, 4, 4


def _cpus(cpumap) -> list[int]:
    if not isinstance(cpumap, (tuple, list)):
        raise InvalidArgError("invalid argument: cpumap must be a tuple of booleans")
    return [i for i, on in enumerate(cpumap) if on]


@_api
def pinVcpu(self, vcpu: int, cpumap) -> int:
    self._o.pin_vcpu(int(vcpu), _cpus(cpumap))
    return 0


@_api
def pinVcpuFlags(self, vcpu: int, cpumap, flags: int = 0) -> int:
    _check_flags(flags, LIVE, "virDomainPinVcpuFlags")
    self._o.pin_vcpu(int(vcpu), _cpus(cpumap))
    return 0


@_api
def vcpuPinInfo(self, flags: int = 0) -> list:
    _check_flags(flags, LIVE | CONFIG, "virDomainGetVcpuPinInfo")
    return [tuple(m) for m in self._o.vcpu_pin_info()]


@_api
def schedulerType(self) -> list:
    """``[name, number of parameters]`` as libvirt-python returns it: Xen's credit scheduler."""
    return [self._o.scheduler_type(), 2]


@_api
def schedulerParameters(self) -> dict:
    return dict(self._o.scheduler_parameters())


@_api
def schedulerParametersFlags(self, flags: int = 0) -> dict:
    _check_flags(flags, LIVE, "virDomainGetSchedulerParametersFlags")
    return dict(self._o.scheduler_parameters())


def _set_sched(self, params, function: str) -> int:
    if not isinstance(params, dict):
        raise InvalidArgError(f"invalid argument: {function} takes a dict of parameters")
    unknown = set(params) - {"weight", "cap"}
    if unknown:
        raise InvalidArgError(f"invalid argument: parameter '{sorted(unknown)[0]}' not supported by the credit "
                              "scheduler (weight, cap)")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgError(f"invalid argument: parameter '{key}' must be an integer")
    self._o.set_scheduler_parameters(weight=params.get("weight"), cap=params.get("cap"))
    return 0


@_api
def setSchedulerParameters(self, params: dict) -> int:
    return _set_sched(self, params, "virDomainSetSchedulerParameters")


@_api
def setSchedulerParametersFlags(self, params: dict, flags: int = 0) -> int:
    _check_flags(flags, LIVE, "virDomainSetSchedulerParametersFlags")
    return _set_sched(self, params, "virDomainSetSchedulerParametersFlags")


@_api
def setVcpusFlags(self, nvcpus: int, flags: int = 0) -> int:
    """Current vCPUs (live, or the config of an inactive domain); with ``VIR_DOMAIN_VCPU_MAXIMUM``
    the maximum, which only an inactive domain's config can change (as on Xen)."""
    _check_flags(flags, LIVE | CONFIG | VCPU_MAXIMUM, "virDomainSetVcpusFlags")
    active = self._o.is_active()
    if int(flags) & LIVE and not active:
        raise OperationInvalidError("Requested operation is not valid: domain is not running")
    if int(flags) & VCPU_MAXIMUM and (active or not int(flags) & CONFIG):
        raise InvalidArgError("invalid argument: the maximum vCPU count changes only in the config of an "
                              "inactive domain (VIR_DOMAIN_AFFECT_CONFIG)")
    self._o.set_vcpus(int(nvcpus))
    return 0


@_api
def setMemoryFlags(self, memory: int, flags: int = 0) -> int:
    _check_flags(flags, LIVE | CONFIG | MEM_MAXIMUM, "virDomainSetMemoryFlags")
    if int(flags) & LIVE and not self._o.is_active():
        raise OperationInvalidError("Requested operation is not valid: domain is not running")
    if int(flags) & MEM_MAXIMUM:
        self._o.set_max_memory(int(memory))
    else:
        self._o.set_memory(int(memory))
    return 0


@_api
def autostart(self) -> int:
    return int(self._o.autostart())


@_api
def setAutostart(self, autostart: int) -> int:
    self._o.set_autostart(bool(autostart))
    return 0


@_api
def isUpdated(self) -> int:
    """0: xvirt changes a running domain's config together with the domain, never one alone."""
    self._o.state()   # NoDomainError for a domain that is gone
    return 0


_install(pinVcpu, pinVcpuFlags, vcpuPinInfo, schedulerType, schedulerParameters, schedulerParametersFlags,
         setSchedulerParameters, setSchedulerParametersFlags, setVcpusFlags, setMemoryFlags, autostart,
         setAutostart, isUpdated)


# -- save images and dumps ---------------------------------------------------------------------------
SAVE_BYPASS_CACHE, SAVE_RUNNING = 1, 2          # VIR_DOMAIN_SAVE_*; PAUSED (4) is not offered
DUMP_CRASH, DUMP_LIVE, DUMP_BYPASS_CACHE = 1, 2, 4


@_api
def managedSave(self, flags: int = 0) -> int:
    _check_flags(flags, SAVE_BYPASS_CACHE | SAVE_RUNNING, "virDomainManagedSave")
    self._o.managed_save()
    return 0


@_api
def hasManagedSaveImage(self, flags: int = 0) -> int:
    _check_flags(flags, 0, "virDomainHasManagedSaveImage")
    return int(self._o.has_managed_save_image())


@_api
def managedSaveRemove(self, flags: int = 0) -> int:
    _check_flags(flags, 0, "virDomainManagedSaveRemove")
    self._o.managed_save_remove()
    return 0


@_api
def saveFlags(self, to: str, dxml=None, flags: int = 0) -> int:
    _check_flags(flags, SAVE_BYPASS_CACHE | SAVE_RUNNING, "virDomainSaveFlags")
    if dxml is not None:
        from .errors import NoSupportError
        raise NoSupportError("this function is not supported by the connection driver: "
                             "virDomainSaveFlags with an alternative domain XML")
    self._o.save(str(to))
    return 0


@_api
def coreDump(self, to: str, flags: int = 0) -> int:
    _check_flags(flags, DUMP_CRASH | DUMP_LIVE | DUMP_BYPASS_CACHE, "virDomainCoreDump")
    if int(flags) & DUMP_CRASH and int(flags) & DUMP_LIVE:
        raise InvalidArgError("invalid argument: crash and live flags are mutually exclusive")
    self._o.core_dump(str(to), live=bool(int(flags) & DUMP_LIVE), crash=bool(int(flags) & DUMP_CRASH))
    return 0


_install(managedSave, hasManagedSaveImage, managedSaveRemove, saveFlags, coreDump)


def _restore_flags(self, frm: str, dxml=None, flags: int = 0) -> int:
    _check_flags(flags, SAVE_BYPASS_CACHE | SAVE_RUNNING, "virDomainRestoreFlags")
    if dxml is not None:
        from .errors import NoSupportError
        raise NoSupportError("this function is not supported by the connection driver: "
                             "virDomainRestoreFlags with an alternative domain XML")
    self._conn("virDomainRestoreFlags").restore(str(frm))
    return 0


def _install_restore_flags() -> None:
    from ._libvirt_objects import virConnect
    fn = _api(_restore_flags)
    fn.__name__, fn.__qualname__ = "restoreFlags", "virConnect.restoreFlags"
    virConnect.restoreFlags = fn


_install_restore_flags()


# -- metadata: Xen's configs keep a description, not a title or custom elements --------------------------
META_DESCRIPTION, META_TITLE, META_ELEMENT = 0, 1, 2


@_api
def metadata(self, type: int, uri=None, flags: int = 0) -> str:  # noqa: A002 - libvirt's name
    from .errors import ErrorCode, LibvirtError
    _check_flags(flags, LIVE | CONFIG, "virDomainGetMetadata")
    if int(type) not in (META_DESCRIPTION, META_TITLE, META_ELEMENT):
        raise InvalidArgError(f"invalid argument: unknown metadata type '{type}'")
    text = self._o.description() if int(type) == META_DESCRIPTION else None
    if text is None:
        raise LibvirtError("metadata not found: Requested metadata element is not present",
                           code=ErrorCode.NO_DOMAIN_METADATA)
    return text


@_api
def setMetadata(self, type: int, metadata, key, uri, flags: int = 0) -> int:  # noqa: A002
    _check_flags(flags, LIVE | CONFIG, "virDomainSetMetadata")
    if int(type) != META_DESCRIPTION:
        from .errors import NoSupportError
        raise NoSupportError("this function is not supported by the connection driver: virDomainSetMetadata "
                             "(Xen's domain configs keep a description only)")
    if metadata is not None and not isinstance(metadata, str):
        raise InvalidArgError("invalid argument: metadata must be a string or None")
    self._o.set_description(metadata)
    return 0


_install(metadata, setMetadata)


# -- device hot-plug --------------------------------------------------------------------------------------
def _affect(flags: int, function: str) -> tuple:
    _check_flags(flags, LIVE | CONFIG, function)
    f = int(flags)
    return (None if not f & (LIVE | CONFIG) else bool(f & LIVE)), bool(f & CONFIG)


@_api
def attachDevice(self, xml: str) -> int:
    self._o.attach_device(xml)
    return 0


@_api
def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
    live, config = _affect(flags, "virDomainAttachDeviceFlags")
    self._o.attach_device(xml, live=live, config=config)
    return 0


@_api
def detachDevice(self, xml: str) -> int:
    self._o.detach_device(xml)
    return 0


@_api
def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
    live, config = _affect(flags, "virDomainDetachDeviceFlags")
    self._o.detach_device(xml, live=live, config=config)
    return 0


_install(attachDevice, attachDeviceFlags, detachDevice, detachDeviceFlags)


# -- migration: XenD's relocation service -----------------------------------------------------------------
MIGRATE_LIVE = 1
# flags that change nothing on Xen's relocation: PEER2PEER 2, TUNNELLED 4, PERSIST_DEST 8,
# UNDEFINE_SOURCE 16 are refused rather than ignored; LIVE is passed to XenD
_MIGRATE_OK = MIGRATE_LIVE


@_api
def migrate(self, dconn, flags: int = 0, dname=None, uri=None, bandwidth: int = 0):
    from ._libvirt_objects import virConnect
    _check_flags(flags, _MIGRATE_OK, "virDomainMigrate")
    if not isinstance(dconn, virConnect) or dconn._o is None:
        raise InvalidArgError("invalid argument: dconn must be an open virConnect")
    if dname is not None or uri is not None:
        from .errors import NoSupportError
        raise NoSupportError("this function is not supported by the connection driver: virDomainMigrate "
                             "with a new name or a migration URI")
    moved = self._o.migrate(dconn._o, live=bool(int(flags) & MIGRATE_LIVE))
    return dconn._dom(moved)


@_api
def migrateToURI(self, duri: str, flags: int = 0, dname=None, bandwidth: int = 0) -> int:
    from . import _libvirt_objects as objs
    _check_flags(flags, _MIGRATE_OK, "virDomainMigrateToURI")
    dconn = objs.open(duri)
    try:
        migrate(self, dconn, flags, dname, None, bandwidth)
    finally:
        dconn.close()
    return 0


_install(migrate, migrateToURI)
