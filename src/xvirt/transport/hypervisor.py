"""The hypervisor channel: reads domain-info records from the shared domain table, no daemon.

Each public method is one consistent read under the table's sequence lock (the analogue of one
``getdomaininfo``/``getdomaininfolist`` hypercall) and counts as one hypervisor read.

Before each read the reader checks, with two cheap system calls, that the file still has its
full size (a mapping of a truncated file would kill the process with SIGBUS on access) and that
the publisher still holds its lock on the file (``flock``: a shared lock we can take means the
simulated host is gone, crashed or killed, so its records and extrapolated cpu times are not
shown as live). A truncation racing with a read in progress is not covered.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
import time

from ..errors import NoConnectError, XenCallError
from ..protocol import domtable as dt

__all__ = ["DomainTableReader"]

_ID = struct.Struct("<H")
_HANDLE_OFF = 56  # offset of the handle inside a record (see domtable.RECORD)
_MAX_SPIN = 2.0   # seconds a writer may hold the table odd before we call it broken


class DomainTableReader:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise NoConnectError(f"hypervisor domain table unavailable at {path}: {e.strerror}") from None
        try:
            self._fd = fd  # kept open: size and liveness checks
            size = os.fstat(fd).st_size
            self._has_usage = size >= dt.TOTAL_SIZE  # tables of older publishers end at the records
            self._size = dt.TOTAL_SIZE if self._has_usage else dt.FILE_SIZE
            self._check_size()
            self._mm = mmap.mmap(fd, self._size, mmap.MAP_SHARED, mmap.PROT_READ)
        except BaseException:
            os.close(fd)
            raise
        self._seq = dt.seq_view(self._mm)  # loaded whole (see domtable.seq_view)
        self.reads = 0
        self._count_lock = threading.Lock()
        try:
            dt.unpack_header(self._mm)
        except ValueError as e:
            self.close()
            raise XenCallError(str(e)) from None

    def _check_size(self) -> None:
        try:
            size = os.fstat(self._fd).st_size
        except (OSError, TypeError):
            raise NoConnectError(f"hypervisor domain table {self.path} is closed") from None
        if size < self._size:  # reading past the end of a mapped file would be SIGBUS
            raise XenCallError(f"hypervisor domain table {self.path} is truncated ({size} bytes, "
                               f"{self._size} expected)")

    def _check(self) -> None:
        """The file is whole and its publisher alive, or a clear error (see the module doc)."""
        self._check_size()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # the publisher holds its lock: alive
        except OSError as e:
            raise XenCallError(f"hypervisor domain table {self.path}: {e.strerror}") from None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        try:
            closed = dt.unpack_header(self._mm).closed
        except (ValueError, AttributeError):
            closed = False
        if closed:
            raise NoConnectError("hypervisor unavailable: the domain table's publisher has stopped")
        raise NoConnectError("hypervisor unavailable: the domain table's publisher is gone (it "
                             "stopped without closing the table: crashed or killed)")

    def is_alive(self) -> bool:
        """Whether the publisher of the table is running (cheap: no table read)."""
        try:
            self._check()
        except (NoConnectError, XenCallError):
            return False
        return True

    def _stable(self, fn):
        """Run ``fn(count)`` between two equal, even reads of the sequence counter."""
        with self._count_lock:
            self.reads += 1
        self._check()
        mm, seq = self._mm, self._seq
        deadline = None
        while True:
            s1 = seq[0]
            if not s1 & 1:
                try:
                    hdr = dt.unpack_header(mm)
                except ValueError as e:  # torn by a concurrent writer, or really corrupt
                    if seq[0] == s1:
                        raise XenCallError(str(e)) from None
                    continue
                if hdr.closed:
                    raise NoConnectError("hypervisor unavailable: the host has stopped")
                result = fn(hdr.count)
                if seq[0] == s1:
                    return result
            if deadline is None:
                deadline = time.monotonic() + _MAX_SPIN
            elif time.monotonic() > deadline:
                raise XenCallError("hypervisor domain table stayed inconsistent (writer stuck)")
            time.sleep(0)

    def _records(self, count: int) -> bytes:
        return self._mm[dt.HEADER_SIZE: dt.HEADER_SIZE + count * dt.RECORD_SIZE]

    # -- the calls ----------------------------------------------------------------------------
    def list_ids(self, *, skip_dying: bool = False) -> list[int]:
        """Ids of all domains, ascending (``getdomaininfolist`` from 0, ids only)."""
        return dt.ids_from_records(self._stable(self._records), skip_dying=skip_dying)

    def snapshot(self) -> list[dt.DomainInfo]:
        """Every record, ascending by id, cpu time extrapolated to now."""
        raw = self._stable(self._records)
        return dt.unpack_records(raw, time.monotonic_ns())

    def info(self, domid: int) -> dt.DomainInfo | None:
        """The record of exactly ``domid`` (``getdomaininfo`` returns the first id >= X; we check)."""
        if not 0 <= domid <= 0xFFFF:
            return None
        mm = self._mm

        def find(count: int):
            lo, hi = 0, count
            while lo < hi:
                mid = (lo + hi) // 2
                if _ID.unpack_from(mm, dt.HEADER_SIZE + mid * dt.RECORD_SIZE)[0] < domid:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < count:
                off = dt.HEADER_SIZE + lo * dt.RECORD_SIZE
                return mm[off: off + dt.RECORD_SIZE]
            return None

        rec = self._stable(find)
        if rec is None:
            return None
        info = dt.unpack_record(rec, 0, time.monotonic_ns())
        return info if info.domid == domid else None

    def find_handle(self, handle: bytes) -> dt.DomainInfo | None:
        """The domain whose handle (UUID) is ``handle``, scanning the whole table once.

        A restarted domain may briefly have two records with its handle: the old one dying and
        the new one; the live record wins.
        """
        raw = self._stable(self._records)
        now = time.monotonic_ns()
        found = None
        start = 0
        while True:
            pos = raw.find(handle, start)
            if pos < 0:
                return found
            if pos % dt.RECORD_SIZE == _HANDLE_OFF:
                info = dt.unpack_record(raw, pos - _HANDLE_OFF, now)
                if not info.flags & dt.DYING:
                    return info
                found = found or info
            start = pos + 1

    def host_cpus(self) -> int:
        return self.physinfo().host_cpus

    def physinfo(self) -> dt.Header:
        """The host's physical facts (cpus, memory, MHz, topology), as Xen's ``physinfo``."""
        return self._stable(lambda count: dt.unpack_header(self._mm))

    def host_usage(self) -> dt.HostUsage | None:
        """Free memory and physical CPU idle time (Xen's ``physinfo`` free_pages and
        ``XEN_SYSCTL_getcpuinfo`` idletime); None when the table has no usage block."""
        if not self._has_usage:
            return None
        self._check_size()
        raw = self._stable(lambda count: self._mm[dt.USAGE_OFFSET: dt.USAGE_OFFSET + dt.USAGE_SIZE])
        return dt.unpack_usage(raw, 0, time.monotonic_ns())

    def generation(self) -> int:
        """The table's sequence counter: it changes whenever the hypervisor rewrites a record
        (no daemon round trip; a poller reads the table only when this moved)."""
        self._check_size()
        return self._seq[0]

    def boot_id(self) -> bytes:
        self._check_size()
        return dt.unpack_header(self._mm).boot_id

    def close(self) -> None:
        seq = getattr(self, "_seq", None)
        if seq is not None:
            seq.release()
            self._seq = None
        mm = getattr(self, "_mm", None)
        if mm is not None and not mm.closed:
            mm.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
