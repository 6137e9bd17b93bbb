"""Reads per-domain device counters the way dom0 reads sysfs: one bounded file read, no daemon, counted.

``SimStatsReader`` reads the simulated host's ``stats/<domid>`` files (``xvirt.protocol.devstats``).
``SysfsStatsReader`` reads a real dom0's blkback and netback counters
(``/sys/bus/xen-backend/devices/vbd-<domid>-<devid>/statistics/*``,
``/sys/class/net/vif<domid>.<devid>/statistics/*``) into the same records; the devices come
from the directory listing, their names from xenstore's backend nodes when given.
"""

from __future__ import annotations

import os
import threading
import time

from ..protocol import devstats as ds

__all__ = ["SimStatsReader", "SysfsStatsReader"]


class SimStatsReader:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.reads = 0
        self._lock = threading.Lock()

    def read(self, domid: int, uuid: str) -> ds.DomainDevStats | None:
        """The counters of ``domid`` now, or None if it has no file or the file belongs to
        another domain (the id was reused): the caller checks the domain still runs."""
        with self._lock:
            self.reads += 1
        try:
            fd = os.open(os.path.join(self.dir, str(int(domid))), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            raw = os.read(fd, ds.MAX_SIZE + 1)
        finally:
            os.close(fd)
        try:
            stats = ds.decode(raw, time.monotonic_ns())
        except ValueError:
            return None
        return stats if stats.uuid == uuid and stats.domid == domid else None


def _read_int(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return max(0, int(f.read(64).strip() or b"0"))
    except (OSError, ValueError):
        return 0


class SysfsStatsReader:
    """A real dom0's counters. ``root`` is ``/`` on a host (a directory tree in tests)."""

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self.reads = 0

    def read(self, domid: int, uuid: str, names: dict | None = None) -> ds.DomainDevStats:
        self.reads += 1
        names = names or {}
        devices = []
        backend = os.path.join(self.root, "sys/bus/xen-backend/devices")
        prefix = f"vbd-{int(domid)}-"
        try:
            entries = sorted(os.listdir(backend))
        except OSError:
            entries = []
        for entry in entries:
            if entry.startswith(prefix) and entry[len(prefix):].isdigit():
                devid = int(entry[len(prefix):])
                stat = os.path.join(backend, entry, "statistics")
                devices.append(ds.Device("vbd", devid, names.get(("vbd", devid), str(devid)), "",
                                         {k: _read_int(os.path.join(stat, k)) for k in ds.VBD_FIELDS}))
        net = os.path.join(self.root, "sys/class/net")
        vprefix = f"vif{int(domid)}."
        try:
            nets = sorted(os.listdir(net))
        except OSError:
            nets = []
        for entry in nets:
            if entry.startswith(vprefix) and entry[len(vprefix):].isdigit():
                stat = os.path.join(net, entry, "statistics")
                devid = int(entry[len(vprefix):])
                devices.append(ds.Device("vif", devid, entry, names.get(("vif", devid), ""),
                                         {k: _read_int(os.path.join(stat, k)) for k in ds.VIF_FIELDS}))
        return ds.DomainDevStats(domid, uuid, tuple(devices))
