"""libvirt-python's ``virConnect`` and ``virDomain`` classes and error reporting, over xvirt's Connection/Domain.

Each method is a thin translation: libvirt's camelCase names and argument order, its return
shapes (``0`` for success, lists where libvirt-python returns lists, 16-byte UUIDs), and its
error behaviour (every failure is an ``xvirt.errors.LibvirtError``, i.e. ``libvirt.libvirtError``,
recorded as the thread's last error and passed to the registered error handler, or printed to
stderr the way libvirt's default handler does).

Connection lifetime follows libvirt's reference counting: each ``virDomain`` holds a reference on
its connection, so ``virConnect.close()`` returns the number of references still held and the
underlying xvirt connection closes when the last of them goes away.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import traceback
import weakref

from ._libvirt_constants import ERROR_DOMAIN_NAMES, VIR_CONNECT_RO
from .connection import Connection
from .connection import open as _xvirt_open
from .domain import Domain
from .errors import ErrorCode, InvalidArgError, LibvirtError, error_for_code

__all__ = ["virConnect", "virDomain", "open", "openReadOnly", "openAuth", "getVersion",
           "registerErrorHandler", "virGetLastError", "virGetLastErrorCode", "virGetLastErrorDomain",
           "virGetLastErrorMessage", "virResetLastError", "virInitialize",
           "LIBVIRT_API_VERSION"]

# The libvirt-python API level this facade answers to (getVersion()/getLibVersion()): programs
# feature-test libvirt versions (e.g. ">= 1002008 has getAllDomainStats"), not xvirt's own version.
LIBVIRT_API_VERSION = 9_000_000

# -- error reporting ------------------------------------------------------------------------------
_last = threading.local()
_handler: tuple | None = None   # (callable, ctx) from registerErrorHandler, None for libvirt's default


def _report(err: LibvirtError) -> None:
    """Record ``err`` as the last error and hand it to the error handler (once per error)."""
    if getattr(err, "_xvirt_reported", False):
        return
    err._xvirt_reported = True  # type: ignore[attr-defined]
    _last.err = err.err
    handler = _handler
    if handler is None:
        name = ERROR_DOMAIN_NAMES.get(int(err.domain), "")
        level = "warning" if int(err.level) == 1 else "error"
        sys.stderr.write(f"libvirt: {name} {level} : {err.message}\n")
        return
    func, ctx = handler
    try:
        func(ctx, err.err)
    except Exception:  # noqa: BLE001 - libvirt-python prints a failing handler's exception, too
        traceback.print_exc()


def _api(fn):
    """Report every xvirt error a facade call raises through libvirt's error machinery."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LibvirtError as e:
            _report(e)
            raise
    return wrapper


def registerErrorHandler(f, ctx) -> int:
    """Install ``f(ctx, err)`` (``err`` is the 9-tuple of ``libvirtError.err``); ``None`` restores the default."""
    global _handler
    if f is not None and not callable(f):
        raise TypeError("registerErrorHandler: handler must be callable or None")
    _handler = None if f is None else (f, ctx)
    return 1


def virGetLastError() -> tuple | None:
    """The calling thread's last error as libvirt's 9-tuple, or None."""
    return getattr(_last, "err", None)


def virGetLastErrorCode() -> int:
    """The code of the thread's last error (``VIR_ERR_OK``, 0, when there is none)."""
    err = virGetLastError()
    return err[0] if err else 0


def virGetLastErrorDomain() -> int:
    """The error domain of the thread's last error (``VIR_FROM_NONE``, 0, when there is none)."""
    err = virGetLastError()
    return err[1] if err else 0


def virGetLastErrorMessage() -> str:
    """The message of the thread's last error; libvirt's "no error" when there is none."""
    err = virGetLastError()
    return err[2] if err else "no error"


def virResetLastError() -> None:
    _last.err = None


def virInitialize() -> int:
    """libvirt's library initialisation: nothing to do here, returns 0."""
    return 0


def _check_flags(flags: int, allowed: int, function: str) -> None:
    """libvirt's virCheckFlags: unknown flag bits are an invalid argument."""
    if int(flags) & ~allowed:
        raise InvalidArgError(f"unsupported flags (0x{int(flags) & ~allowed:x}) in function {function}")


# -- opening --------------------------------------------------------------------------------------
def _uri(name: str | None) -> str | None:
    """libvirt's default: ``LIBVIRT_DEFAULT_URI`` when set, else xvirt's default URI."""
    if name is None:
        return os.environ.get("LIBVIRT_DEFAULT_URI") or None
    return name


@_api
def open(name: str | None = None) -> "virConnect":  # noqa: A001 - libvirt's name
    return virConnect(_xvirt_open(_uri(name)))


@_api
def openReadOnly(name: str | None = None) -> "virConnect":
    return virConnect(_xvirt_open(_uri(name), readonly=True))


@_api
def openAuth(uri: str | None, auth=None, flags: int = 0) -> "virConnect":
    """As libvirt's; ``auth`` ([credtypes, callback, opaque]) is ignored, ``VIR_CONNECT_RO`` honoured."""
    return virConnect(_xvirt_open(_uri(uri), readonly=bool(int(flags) & VIR_CONNECT_RO)))


def getVersion(name: str | None = None):
    """The library version as an int, or ``(library, driver)`` when a driver name is given."""
    if name is None:
        return LIBVIRT_API_VERSION
    return (LIBVIRT_API_VERSION, LIBVIRT_API_VERSION)


# -- objects --------------------------------------------------------------------------------------
class _ConnRef:
    """One reference on an xvirt Connection; the connection closes when the last one is freed."""

    __slots__ = ("__weakref__",)


class virConnect:
    """libvirt-python's connection class over an ``xvirt.Connection`` (``_o``)."""

    def __init__(self, _obj: Connection | None = None) -> None:
        if not isinstance(_obj, Connection):
            raise TypeError("virConnect wraps an xvirt.Connection; use libvirt.open()")
        self._o: Connection | None = _obj
        self._ref: _ConnRef | None = _ConnRef()
        weakref.finalize(self._ref, _obj.close)
        self._doms: weakref.WeakSet = weakref.WeakSet()

    def _conn(self, function: str) -> Connection:
        if self._o is None:
            raise error_for_code(ErrorCode.INVALID_CONN, f"invalid connection pointer in {function}")
        return self._o

    def _dom(self, dom: Domain) -> "virDomain":
        return virDomain(self, dom)

    def __enter__(self) -> "virConnect":
        return self

    def __exit__(self, *exc) -> None:
        if self._o is not None:
            self.close()

    def __repr__(self) -> str:
        return f"<libvirt.virConnect {self._o.uri if self._o is not None else '(closed)'}>"

    # -- connection -------------------------------------------------------------------------------
    @_api
    def close(self) -> int:
        """Drop this reference; returns how many references (live virDomain objects) remain."""
        self._conn("virConnectClose")
        remaining = len(self._doms)
        self._o = None
        self._ref = None   # the xvirt connection closes once no virDomain holds a reference
        return remaining

    @_api
    def isAlive(self) -> int:
        return int(self._o is not None and self._o.is_alive())

    @_api
    def getURI(self) -> str:
        return self._conn("virConnectGetURI").uri

    @_api
    def getType(self) -> str:
        self._conn("virConnectGetType")
        return "Xen"

    @_api
    def getHostname(self) -> str:
        return self._conn("virConnectGetHostname").hostname()

    @_api
    def getVersion(self) -> int:
        return self._conn("virConnectGetVersion").version()

    @_api
    def getLibVersion(self) -> int:
        self._conn("virConnectGetLibVersion")
        return LIBVIRT_API_VERSION

    @_api
    def getInfo(self) -> list:
        n = self._conn("virNodeGetInfo").node_info()
        return [n.model, int(n.memory_kib) // 1024, n.cpus, n.mhz, n.nodes, n.sockets, n.cores, n.threads]

    @_api
    def isEncrypted(self) -> int:
        self._conn("virConnectIsEncrypted")
        return 0

    @_api
    def isSecure(self) -> int:
        """1 unless XenD is reached over TCP (libvirt's Xen driver: every channel but that is secure)."""
        return int(isinstance(self._conn("virConnectIsSecure").target.xend, str))

    # -- host: capabilities and usage -------------------------------------------------------------
    @_api
    def getCapabilities(self) -> str:
        return self._conn("virConnectGetCapabilities").capabilities()

    @_api
    def getFreeMemory(self) -> int:
        """Free host memory in bytes (not KiB, as in libvirt)."""
        return self._conn("virNodeGetFreeMemory").free_memory()

    @_api
    def getCellsFreeMemory(self, startCell: int, maxCells: int) -> list:
        """Free memory in bytes of each NUMA cell from ``startCell``, at most ``maxCells`` of them."""
        return self._conn("virNodeGetCellsFreeMemory").cells_free_memory(int(startCell), int(maxCells))

    @_api
    def getMemoryStats(self, cellNum: int, flags: int = 0) -> dict:
        """``{"total": KiB, "free": KiB}`` of the host (``VIR_NODE_MEMORY_STATS_ALL_CELLS``) or a cell."""
        conn = self._conn("virNodeGetMemoryStats")
        _check_flags(flags, 0, "virNodeGetMemoryStats")
        return conn.memory_stats(int(cellNum))

    @_api
    def getCPUStats(self, cpuNum: int, flags: int = 0) -> dict:
        """``{"kernel", "user", "idle", "iowait"}`` in ns of all CPUs (``VIR_NODE_CPU_STATS_ALL_CPUS``) or one."""
        conn = self._conn("virNodeGetCPUStats")
        _check_flags(flags, 0, "virNodeGetCPUStats")
        return conn.cpu_stats(int(cpuNum))

    @_api
    def getCPUMap(self, flags: int = 0) -> tuple:
        """``(cpus, (online?, ...), online count)`` as libvirt-python returns it."""
        conn = self._conn("virNodeGetCPUMap")
        _check_flags(flags, 0, "virNodeGetCPUMap")
        cpumap = conn.cpu_map()
        return (len(cpumap), tuple(cpumap), sum(cpumap))

    @_api
    def getMaxVcpus(self, type) -> int:  # noqa: A002 - libvirt's name
        return self._conn("virConnectGetMaxVcpus").max_vcpus(type)

    @_api
    def getSysinfo(self, flags: int = 0) -> str:
        conn = self._conn("virConnectGetSysinfo")
        _check_flags(flags, 0, "virConnectGetSysinfo")
        return conn.sysinfo()

    # -- listing ----------------------------------------------------------------------------------
    @_api
    def listDomainsID(self) -> list:
        return list(self._conn("virConnectListDomains").list_domain_ids())

    @_api
    def numOfDomains(self) -> int:
        return self._conn("virConnectNumOfDomains").num_of_domains()

    @_api
    def listDefinedDomains(self) -> list:
        return list(self._conn("virConnectListDefinedDomains").list_defined_domains())

    @_api
    def numOfDefinedDomains(self) -> int:
        return self._conn("virConnectNumOfDefinedDomains").num_of_defined_domains()

    @_api
    def listAllDomains(self, flags: int = 0) -> list:
        return [self._dom(d) for d in self._conn("virConnectListAllDomains").list_all_domains(int(flags))]

    @_api
    def getAllDomainStats(self, stats: int = 0, flags: int = 0) -> list:
        conn = self._conn("virConnectGetAllDomainStats")
        return [(self._dom(s.domain), dict(s.stats)) for s in conn.get_all_domain_stats(int(stats), int(flags))]

    @_api
    def domainListGetStats(self, doms, stats: int = 0, flags: int = 0) -> list:
        """Stats for the given domains, in their order; domains that no longer exist are skipped."""
        conn = self._conn("virDomainListGetStats")
        doms = list(doms)
        if not doms:
            raise InvalidArgError("list of domains must not be empty")
        for d in doms:
            if not isinstance(d, virDomain) or d._o.connection is not conn:
                raise InvalidArgError("domains from multiple connections are not allowed")
        if int(flags) & 0xFF:
            raise InvalidArgError(f"unsupported flags (0x{int(flags) & 0xFF:x}) in function "
                                  "virDomainListGetStats: filtering flags are not supported")
        by_uuid = {s.domain.uuid: s.stats for s in conn.get_all_domain_stats(int(stats), int(flags))}
        return [(d, dict(by_uuid[d._o.uuid])) for d in doms if d._o.uuid in by_uuid]

    # -- lookups ----------------------------------------------------------------------------------
    @_api
    def lookupByID(self, id: int) -> "virDomain":  # noqa: A002 - libvirt's name
        return self._dom(self._conn("virDomainLookupByID").lookup_by_id(id))

    @_api
    def lookupByName(self, name: str) -> "virDomain":
        return self._dom(self._conn("virDomainLookupByName").lookup_by_name(name))

    @_api
    def lookupByUUID(self, uuid: bytes) -> "virDomain":
        conn = self._conn("virDomainLookupByUUID")
        if not isinstance(uuid, (bytes, bytearray)) or len(uuid) != 16:
            raise InvalidArgError("Invalid UUID: virDomainLookupByUUID takes the 16 raw bytes of a UUID")
        return self._dom(conn.lookup_by_uuid(bytes(uuid)))

    @_api
    def lookupByUUIDString(self, uuidstr: str) -> "virDomain":
        conn = self._conn("virDomainLookupByUUIDString")
        if not isinstance(uuidstr, str):
            raise InvalidArgError("Invalid UUID: virDomainLookupByUUIDString takes a string")
        return self._dom(conn.lookup_by_uuid(uuidstr))

    # -- creation ---------------------------------------------------------------------------------
    @_api
    def defineXML(self, xml: str) -> "virDomain":
        return self._dom(self._conn("virDomainDefineXML").define_xml(xml))

    @_api
    def createXML(self, xmlDesc: str, flags: int = 0) -> "virDomain":
        conn = self._conn("virDomainCreateXML")
        _check_flags(flags, 0, "virDomainCreateXML")
        return self._dom(conn.create_xml(xmlDesc))

    @_api
    def createLinux(self, xmlDesc: str, flags: int = 0) -> "virDomain":
        """libvirt's old name of createXML (virDomainCreateLinux)."""
        conn = self._conn("virDomainCreateLinux")
        _check_flags(flags, 0, "virDomainCreateLinux")
        return self._dom(conn.create_xml(xmlDesc))

    @_api
    def restore(self, frm: str) -> int:
        self._conn("virDomainRestore").restore(frm)
        return 0

    @_api
    def domainXMLFromNative(self, nativeFormat: str, nativeConfig: str, flags: int = 0) -> str:
        conn = self._conn("virConnectDomainXMLFromNative")
        _check_flags(flags, 0, "virConnectDomainXMLFromNative")
        return conn.domain_xml_from_native(nativeFormat, nativeConfig)

    @_api
    def domainXMLToNative(self, nativeFormat: str, domainXml: str, flags: int = 0) -> str:
        conn = self._conn("virConnectDomainXMLToNative")
        _check_flags(flags, 0, "virConnectDomainXMLToNative")
        return conn.domain_xml_to_native(nativeFormat, domainXml)


class virDomain:
    """libvirt-python's domain class over an ``xvirt.Domain`` (``_o``): a handle to a UUID.

    ``ID()`` and ``name()`` report the domain's id and name at the call (xvirt's freshness
    contract), so a handle follows its domain across reboot, save/restore and rename.
    """

    def __init__(self, conn: virConnect, _obj: Domain) -> None:
        if not isinstance(conn, virConnect) or not isinstance(_obj, Domain):
            raise TypeError("virDomain objects come from virConnect lookups")
        self._conn, self._o = conn, _obj
        self._ref = conn._ref        # holds the connection open, as libvirt's virDomainPtr does
        conn._doms.add(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, virDomain) and other._o == self._o

    def __hash__(self) -> int:
        return hash(self._o)

    def __repr__(self) -> str:
        return f"<libvirt.virDomain {self._o.uuid}>"

    def connect(self) -> virConnect:
        return self._conn

    # -- identity ---------------------------------------------------------------------------------
    @_api
    def ID(self) -> int:
        return self._o.id

    @_api
    def name(self) -> str:
        return self._o.name

    def UUID(self) -> bytes:
        return self._o.uuid_bytes

    def UUIDString(self) -> str:
        return self._o.uuid

    # -- reads ------------------------------------------------------------------------------------
    @_api
    def info(self) -> list:
        return [int(x) for x in self._o.info()]

    @_api
    def state(self, flags: int = 0) -> list:
        _check_flags(flags, 0, "virDomainGetState")
        state, reason = self._o.state()
        return [int(state), int(reason)]

    @_api
    def isActive(self) -> int:
        return int(self._o.is_active())

    @_api
    def isPersistent(self) -> int:
        return int(self._o.is_persistent())

    @_api
    def maxMemory(self) -> int:
        return int(self._o.max_memory())

    @_api
    def maxVcpus(self) -> int:
        return int(self._o.max_vcpus())

    @_api
    def OSType(self) -> str:
        return self._o.os_type()

    @_api
    def XMLDesc(self, flags: int = 0) -> str:
        return self._o.xml_desc(int(flags))

    # -- lifecycle ----------------------------------------------------------------------------------
    @_api
    def create(self) -> int:
        self._o.create()
        return 0

    @_api
    def createWithFlags(self, flags: int = 0) -> int:
        _check_flags(flags, 0, "virDomainCreateWithFlags")
        self._o.create()
        return 0

    @_api
    def shutdown(self) -> int:
        self._o.shutdown()
        return 0

    @_api
    def shutdownFlags(self, flags: int = 0) -> int:
        _check_flags(flags, 0, "virDomainShutdownFlags")
        self._o.shutdown()
        return 0

    @_api
    def reboot(self, flags: int = 0) -> int:
        _check_flags(flags, 0, "virDomainReboot")
        self._o.reboot()
        return 0

    @_api
    def destroy(self) -> int:
        self._o.destroy()
        return 0

    @_api
    def destroyFlags(self, flags: int = 0) -> int:
        _check_flags(flags, 0, "virDomainDestroyFlags")
        self._o.destroy()
        return 0

    @_api
    def suspend(self) -> int:
        self._o.suspend()
        return 0

    @_api
    def resume(self) -> int:
        self._o.resume()
        return 0

    @_api
    def save(self, to: str) -> int:
        self._o.save(to)
        return 0

    @_api
    def undefine(self) -> int:
        self._o.undefine()
        return 0

    @_api
    def undefineFlags(self, flags: int = 0) -> int:
        _check_flags(flags, 0, "virDomainUndefineFlags")
        self._o.undefine()
        return 0

    # -- resources ----------------------------------------------------------------------------------
    @_api
    def setMemory(self, memory: int) -> int:
        self._o.set_memory(int(memory))
        return 0

    @_api
    def setMaxMemory(self, memory: int) -> int:
        self._o.set_max_memory(int(memory))
        return 0

    @_api
    def setVcpus(self, nvcpus: int) -> int:
        self._o.set_vcpus(int(nvcpus))
        return 0

    @_api
    def rename(self, new_name: str, flags: int = 0) -> int:
        _check_flags(flags, 0, "virDomainRename")
        self._o.rename(new_name)
        return 0
