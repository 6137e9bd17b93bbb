"""The simulated hypervisor's side of the domain table: publishes records into the mapped file.

The file is created once and then reused in place across simulator restarts (a new ``boot_id``
marks a new boot), so a client that mapped it keeps seeing the current host. Every change happens
between two increments of the sequence counter (see ``xvirt.protocol.domtable``). Records stay
sorted by domid; an insert or removal moves the tail with one slice copy.

Liveness: the publisher holds an exclusive ``flock`` on the file for as long as it runs; the
kernel drops it when the process dies, however it dies. A reader that can take a shared lock
knows the publisher is gone (``xvirt.transport.hypervisor``), so a crashed host never looks alive.

The host usage block after the records is kept with running sums (pages held and CPU rate of
every record), so each change costs O(1): free pages = total - pages held by domains (dying ones
still hold theirs, as in Xen); the physical CPUs are idle at ``host_cpus`` minus the domains'
summed rate, and their idle time is re-stamped whenever that rate changes.
"""

from __future__ import annotations

import bisect
import fcntl
import mmap
import os
import threading
import time

from ..protocol import domtable as dt

__all__ = ["DomainTableWriter"]



class DomainTableWriter:
    def __init__(self, path: str, *, host_cpus: int, total_memory_mib: int = 0, cpu_mhz: int = 0,
                 topology: tuple[int, int, int, int] = (1, 1, 1, 1)) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._take_lock(fd)
            if os.fstat(fd).st_size != dt.TOTAL_SIZE:
                os.ftruncate(fd, dt.TOTAL_SIZE)
            self._mm = mmap.mmap(fd, dt.TOTAL_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd  # kept open: it holds the publisher's lock
        self._seqv = dt.seq_view(self._mm)
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._seq = 0
        try:  # continue the counter of a previous boot so readers never see it go back
            self._seq = (dt.unpack_header(self._mm).seq + 2) & ~1
        except ValueError:
            pass
        self.boot_id = os.urandom(16)
        self._host_cpus = host_cpus
        self._physinfo = {"total_memory_mib": total_memory_mib, "cpu_mhz": cpu_mhz, "topology": topology}
        # host usage: running sums over the records, and the idle-time integral
        self._total_pages = total_memory_mib * 1024 // dt.PAGE_KIB
        self._pages: dict[int, int] = {}
        self._rates: dict[int, int] = {}
        self._held = self._busy = 0
        self._boot_ns = self._idle_stamp = time.monotonic_ns()
        self._idle_ns = 0
        self._seqv[0] = self._seq | 1  # odd in one store first: the header copy then keeps it
        self._mm[: dt.HEADER_SIZE] = dt.pack_header(seq=self._seq | 1, count=0, boot_id=self.boot_id,
                                                     host_cpus=host_cpus, **self._physinfo)
        self._account(-1, 0, 0)
        self._finish(0)

    @staticmethod
    def _take_lock(fd: int, wait: float = 2.0) -> None:
        """The publisher's exclusive lock; readers probing liveness hold a shared one for an
        instant, so retry briefly; a lock held longer belongs to another live publisher."""
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > end:
                    raise RuntimeError("the domain table is published by another live process") from None
                time.sleep(0.001)

    def _release(self) -> None:
        """Drop the publisher's lock (what the kernel does when the process dies)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # the mapping shares the open file: unlock first
            os.close(self._fd)
            self._fd = None

    # -- seqlock ------------------------------------------------------------------------------
    def _begin(self) -> None:
        self._seq += 1
        self._seqv[0] = self._seq  # one store (see domtable.seq_view)

    def _finish(self, count: int, closed: bool = False) -> None:
        if not self._seq & 1:
            self._begin()
        # everything but the counter first, then the counter: a reader that sees the new even
        # value has also seen the header it guards
        self._mm[: dt.HEADER_SIZE] = dt.pack_header(seq=self._seq, count=count, boot_id=self.boot_id,
                                                     host_cpus=self._host_cpus, closed=closed,
                                                     **self._physinfo)
        self._seq += 1
        self._seqv[0] = self._seq  # one store (see domtable.seq_view)

    def _account(self, domid: int, pages: int, rate: int) -> None:
        """Update the usage sums for ``domid`` (0, 0 when it goes) and rewrite the usage block."""
        now = time.monotonic_ns()
        self._idle_ns += (now - self._idle_stamp) * self._idle_rate() // 1000
        self._idle_stamp = now
        self._held += pages - self._pages.pop(domid, 0)
        self._busy += rate - self._rates.pop(domid, 0)
        if pages:
            self._pages[domid] = pages
        if rate:
            self._rates[domid] = rate
        self._mm[dt.USAGE_OFFSET: dt.USAGE_OFFSET + dt.USAGE_SIZE] = dt.pack_usage(
            boot_stamp_ns=self._boot_ns, free_pages=max(0, self._total_pages - self._held),
            idle_ns=self._idle_ns, idle_stamp_ns=now, idle_rate_milli=self._idle_rate())

    def _idle_rate(self) -> int:
        return max(0, self._host_cpus * 1000 - self._busy)

    def _off(self, index: int) -> int:
        return dt.HEADER_SIZE + index * dt.RECORD_SIZE

    # -- changes ------------------------------------------------------------------------------
    def upsert(self, domid: int, **fields) -> None:
        """Insert the record of ``domid`` or replace it (fields as ``domtable.pack_record``)."""
        rec = dt.pack_record(domid=domid, **fields)
        with self._lock:
            ids = self._ids
            i = bisect.bisect_left(ids, domid)
            self._begin()
            if i < len(ids) and ids[i] == domid:
                self._mm[self._off(i): self._off(i + 1)] = rec
            else:
                n = len(ids)
                if n >= dt.CAPACITY:
                    self._finish(n)
                    raise OverflowError("domain table full")
                if i < n:
                    self._mm.move(self._off(i + 1), self._off(i), (n - i) * dt.RECORD_SIZE)
                self._mm[self._off(i): self._off(i + 1)] = rec
                ids.insert(i, domid)
            self._account(domid, fields["tot_pages"], fields["cpu_rate_milli"])
            self._finish(len(ids))

    def remove(self, domid: int) -> None:
        with self._lock:
            ids = self._ids
            i = bisect.bisect_left(ids, domid)
            if i >= len(ids) or ids[i] != domid:
                return
            n = len(ids)
            self._begin()
            if i < n - 1:
                self._mm.move(self._off(i), self._off(i + 1), (n - i - 1) * dt.RECORD_SIZE)
            del ids[i]
            self._account(domid, 0, 0)
            self._finish(len(ids))

    def close(self) -> None:
        """Mark the host as gone (no domains, ``closed``) and unmap."""
        with self._lock:
            if self._mm.closed:
                return
            self._begin()
            self._ids.clear()
            self._mm[dt.USAGE_OFFSET: dt.USAGE_OFFSET + dt.USAGE_SIZE] = bytes(dt.USAGE_SIZE)
            self._finish(0, closed=True)
            self._mm.flush()
            self._seqv.release()
            self._mm.close()
            self._release()
