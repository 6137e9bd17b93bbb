"""The hypervisor channel: reads domain-info records from the shared domain table, no daemon.

Each public method is one consistent read under the table's sequence lock (the analogue of one
``getdomaininfo``/``getdomaininfolist`` hypercall) and counts as one hypervisor read.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time

from ..errors import NoConnectError, XenCallError
from ..protocol import domtable as dt

__all__ = ["DomainTableReader"]

_SEQ = struct.Struct("<Q")
_ID = struct.Struct("<H")
_HANDLE_OFF = 56  # offset of the handle inside a record (see domtable.RECORD)
_MAX_SPIN = 2.0   # seconds a writer may hold the table odd before we call it broken


class DomainTableReader:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise NoConnectError(f"hypervisor domain table unavailable at {path}: {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < dt.FILE_SIZE:
                raise XenCallError(f"hypervisor domain table {path} is truncated ({size} bytes)")
            self._mm = mmap.mmap(fd, dt.FILE_SIZE, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self.reads = 0
        self._count_lock = threading.Lock()
        try:
            dt.unpack_header(self._mm)
        except ValueError as e:
            raise XenCallError(str(e)) from None

    def _stable(self, fn):
        """Run ``fn(count)`` between two equal, even reads of the sequence counter."""
        with self._count_lock:
            self.reads += 1
        mm = self._mm
        deadline = None
        while True:
            s1 = _SEQ.unpack_from(mm, dt.SEQ_OFFSET)[0]
            if not s1 & 1:
                try:
                    hdr = dt.unpack_header(mm)
                except ValueError as e:  # torn by a concurrent writer, or really corrupt
                    if _SEQ.unpack_from(mm, dt.SEQ_OFFSET)[0] == s1:
                        raise XenCallError(str(e)) from None
                    continue
                if hdr.closed:
                    raise NoConnectError("hypervisor unavailable: the simulated host has stopped")
                result = fn(hdr.count)
                if _SEQ.unpack_from(mm, dt.SEQ_OFFSET)[0] == s1:
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

    def generation(self) -> int:
        """The table's sequence counter: it changes whenever the hypervisor rewrites a record
        (no daemon round trip; a poller reads the table only when this moved)."""
        return _SEQ.unpack_from(self._mm, dt.SEQ_OFFSET)[0]

    def boot_id(self) -> bytes:
        return dt.unpack_header(self._mm).boot_id

    def close(self) -> None:
        if not self._mm.closed:
            self._mm.close()
