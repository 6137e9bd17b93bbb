"""The hypervisor channel on a real Xen dom0: domain info through libxenctrl (ctypes), no daemon.

Same interface and records as :class:`xvirt.transport.hypervisor.DomainTableReader` (``info``,
``find_handle``, ``list_ids``, ``snapshot``, ``physinfo``, ``boot_id``, ``reads``, ``close``), so the
driver uses either unchanged. Each public call is one ``xc_domain_getinfolist`` hypercall (a
snapshot of more domains than its buffer holds continues from the last id: one more hypercall per
buffer) and counts one read per hypercall. ``info(X)`` asks for one record from X, which the
hypervisor answers with the first domain whose id is >= X: validating one id costs one hypercall.

Before loading anything it checks what it needs, so each failure says what is missing: a Xen dom0
(``/dev/xen/privcmd``), root (privcmd is root-only), libxenctrl, and a Xen version whose record
layout is known (protocol/domctl.py). Those raise ``NoConnectError`` (``NoSupportError`` for an
unknown version); the driver then runs without a hypervisor channel, as when one is not configured.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import threading
import uuid as _uuid

from ..errors import LibvirtError, NoConnectError, XenCallError
from ..protocol import domctl
from ..protocol import domtable as dt

__all__ = ["XenctrlReader", "PRIVCMD", "find_library", "preflight", "XENVER_version", "XENVER_extraversion"]

PRIVCMD = "/dev/xen/privcmd"
XENVER_version = 0        # public/version.h: returns major << 16 | minor
XENVER_extraversion = 1   # public/version.h: char[16], e.g. ".5"
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib", "/lib/x86_64-linux-gnu")
_MAX_DOMID = 0x7FF0       # DOMID_FIRST_RESERVED (public/xen.h): ids past it are never domains
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _unavailable(why: str) -> NoConnectError:
    return NoConnectError(f"Xen hypervisor channel unavailable: {why}")


def find_library() -> str | None:
    """Path (or soname) of libxenctrl: $XVIRT_LIBXENCTRL, else the newest libxenctrl.so.* found."""
    env = os.environ.get("XVIRT_LIBXENCTRL")
    if env:
        return env
    found = []
    for d in _LIB_DIRS:
        found += glob.glob(os.path.join(d, "libxenctrl.so*"))
    if not found:
        return None

    def key(p: str):
        return tuple(int(x) for x in re.findall(r"\d+", os.path.basename(p).split(".so", 1)[1]))
    return max(found, key=key)


def preflight(privcmd: str = PRIVCMD, *, euid: int | None = None) -> None:
    """Raise the clear error for a host where hypercalls cannot work at all."""
    if not os.path.exists(privcmd):
        raise _unavailable(f"{privcmd} does not exist: this host is not a Xen dom0 "
                           "(or the xen-privcmd module is not loaded)")
    euid = os.geteuid() if euid is None else euid
    if euid != 0 or not os.access(privcmd, os.R_OK | os.W_OK):
        raise _unavailable(f"{privcmd} needs root: hypercalls are for the dom0 administrator "
                           f"(running as uid {euid})")


def _bind(path: str):
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError as e:
        raise _unavailable(f"cannot load libxenctrl ({path}): {e}") from None
    c = ctypes
    try:
        lib.xc_interface_open.restype = c.c_void_p
        lib.xc_interface_open.argtypes = [c.c_void_p, c.c_void_p, c.c_uint]
        lib.xc_interface_close.restype = c.c_int
        lib.xc_interface_close.argtypes = [c.c_void_p]
        lib.xc_version.restype = c.c_int
        lib.xc_version.argtypes = [c.c_void_p, c.c_int, c.c_void_p]
        lib.xc_domain_getinfolist.restype = c.c_int
        lib.xc_domain_getinfolist.argtypes = [c.c_void_p, c.c_uint32, c.c_uint, c.c_void_p]
        lib.xc_physinfo.restype = c.c_int
        lib.xc_physinfo.argtypes = [c.c_void_p, c.c_void_p]
    except AttributeError as e:
        raise _unavailable(f"{path} is not a usable libxenctrl: {e}") from None
    return lib


class XenctrlReader:
    """Domain info from the running hypervisor (``xc_domain_getinfolist``, ``xc_physinfo``)."""

    def __init__(self, *, privcmd: str = PRIVCMD, library: str | None = None, lib=None,
                 euid: int | None = None) -> None:
        """``lib`` replaces the loaded library (tests): an object with libxenctrl's functions."""
        self.reads = 0
        self._lock = threading.Lock()
        self._xch = None
        if lib is None:
            preflight(privcmd, euid=euid)
            path = library or find_library()
            if path is None:
                raise _unavailable("libxenctrl is not installed (Debian: the libxenmisc package of "
                                   "xen-utils; set XVIRT_LIBXENCTRL to its path if it lives elsewhere)")
            lib = _bind(path)
        self._lib = lib
        xch = lib.xc_interface_open(None, None, 0)
        if not xch:
            err = ctypes.get_errno()
            raise _unavailable(f"xc_interface_open failed: {os.strerror(err) if err else 'unknown error'}")
        self._xch = xch
        try:
            self.version = domctl.split_version(lib.xc_version(xch, XENVER_version, None))
            extra = ctypes.create_string_buffer(16)
            self.extra = extra.value.decode("ascii", "replace") \
                if lib.xc_version(xch, XENVER_extraversion, extra) == 0 else ""
            self.layout = domctl.layout_for(*self.version)
        except LibvirtError:
            self.close()
            raise
        self._physbuf = ctypes.create_string_buffer(domctl.PHYSINFO_BUFFER)
        self._chunk = 64
        self._buf = self._alloc(self._chunk)
        self._one = self._alloc(1)
        self._boot_id: bytes | None = None

    def _alloc(self, n: int):
        # a spare record of slack: a library built for a slightly larger record never overruns
        return ctypes.create_string_buffer((n + 1) * self.layout.dominfo_size)

    def _getinfolist(self, first: int, count: int, buf) -> int:
        if self._xch is None:
            raise NoConnectError("Xen hypervisor channel is closed")
        self.reads += 1
        n = self._lib.xc_domain_getinfolist(self._xch, first, count, buf)
        if n < 0:
            err = ctypes.get_errno()
            raise XenCallError(f"xc_domain_getinfolist({first}, {count}) failed: "
                               f"{os.strerror(err) if err else 'error ' + str(n)}")
        if n > count:
            raise XenCallError(f"xc_domain_getinfolist returned {n} records for a buffer of {count}")
        return n

    # -- the calls ----------------------------------------------------------------------------
    def info(self, domid: int) -> dt.DomainInfo | None:
        """The record of exactly ``domid`` (one hypercall), or None."""
        if not 0 <= domid < _MAX_DOMID:
            return None
        with self._lock:
            n = self._getinfolist(domid, 1, self._one)
            if n == 0:
                return None
            info = domctl.decode_domaininfo(self.layout, self._one.raw)
        return info if info.domid == domid else None

    def snapshot(self) -> list[dt.DomainInfo]:
        """Every domain, ascending by id (dying ones included, as the table has them)."""
        out: list[dt.DomainInfo] = []
        with self._lock:
            first = 0
            while first < _MAX_DOMID:
                n = self._getinfolist(first, self._chunk, self._buf)
                out += domctl.decode_domaininfos(self.layout, self._buf.raw, n)
                if n < self._chunk:
                    break
                first = out[-1].domid + 1
                if self._chunk < 4096:  # a big host: fewer, larger hypercalls from now on
                    self._chunk *= 4
                    self._buf = self._alloc(self._chunk)
        return out

    def list_ids(self, *, skip_dying: bool = False) -> list[int]:
        return [i.domid for i in self.snapshot() if not (skip_dying and i.flags & dt.DYING)]

    def find_handle(self, handle: bytes) -> dt.DomainInfo | None:
        """The domain whose handle (UUID) is ``handle``; a live record wins over a dying one."""
        found = None
        for info in self.snapshot():
            if info.handle == handle:
                if not info.flags & dt.DYING:
                    return info
                found = found or info
        return found

    def physinfo(self) -> dt.Header:
        """The host's physical facts (``xc_physinfo``), in the shape DomainTableReader returns."""
        with self._lock:
            if self._xch is None:
                raise NoConnectError("Xen hypervisor channel is closed")
            self.reads += 1
            if self._lib.xc_physinfo(self._xch, self._physbuf) != 0:
                err = ctypes.get_errno()
                raise XenCallError(f"xc_physinfo failed: {os.strerror(err) if err else 'error'}")
            p = domctl.decode_physinfo(self.layout, self._physbuf.raw)
        topo = (max(1, p.nr_nodes), p.sockets_per_node, max(1, p.cores_per_socket), max(1, p.threads_per_core))
        return dt.Header(seq=0, count=0, capacity=0, record_size=self.layout.dominfo_size,
                         boot_id=self.boot_id(), host_cpus=p.nr_cpus, closed=False,
                         total_memory_mib=p.total_memory_mib, cpu_mhz=p.cpu_mhz, topology=topo)

    def host_cpus(self) -> int:
        return self.physinfo().host_cpus

    def is_alive(self) -> bool:
        """The hypervisor outlives any dom0 process: alive while this handle is open."""
        return self._xch is not None

    def boot_id(self) -> bytes:
        """This boot of the host (dom0's kernel boot id: Xen and dom0 boot together)."""
        if self._boot_id is None:
            try:
                with open(_BOOT_ID) as f:
                    self._boot_id = _uuid.UUID(f.read(64).strip()).bytes
            except (OSError, ValueError):
                self._boot_id = b"\0" * 16
        return self._boot_id

    def close(self) -> None:
        with self._lock:
            xch, self._xch = self._xch, None
        if xch:
            self._lib.xc_interface_close(xch)
