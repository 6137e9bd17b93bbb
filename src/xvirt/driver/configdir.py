"""The libxl toolstack's own store of domain configs: domain XML per UUID, autostart flags, crash-safe.

libvirt's libxl driver keeps defined domains as ``/etc/libvirt/libxl/NAME.xml`` and autostart
links beside them; xvirt keeps ``<dir>/<uuid>.xml`` (a rename then touches one file) and an empty
``<dir>/<uuid>.autostart`` marker, plus ``<dir>/running/<uuid>.xml`` for the definition a running
domain was started from (libvirt's ``/var/run/libvirt/libxl``). The directory is created 0700;
every write goes to a temporary file that is fsynced and renamed over the old one, and the
directory is fsynced, so a ``kill -9`` at any instant leaves each file as it was or as it became.
Leftover temporary files are ignored and removed on the next listing. Default place on a real
host: ``/var/lib/xvirt/libxl``; for a simulated host: ``<state dir>/libxl``.
"""

from __future__ import annotations

import os
import re
import threading

from ..atomicfile import TMP_MARK, fsync_dir, write_atomic
from ..errors import OperationFailedError

__all__ = ["ConfigDir", "DEFAULT_CONFIG_DIR", "MAX_XML"]

DEFAULT_CONFIG_DIR = "/var/lib/xvirt/libxl"
MAX_XML = 1 << 20
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


class ConfigDir:
    def __init__(self, path: str) -> None:
        self.path = path
        self.running_path = os.path.join(path, "running")
        self._lock = threading.Lock()

    def _ensure(self) -> None:
        try:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            for path in (self.path, self.running_path):
                try:
                    os.mkdir(path, 0o700)  # an existing directory keeps the mode it has
                except FileExistsError:
                    pass
        except OSError as e:
            raise OperationFailedError(f"cannot create config directory {self.path}: {e.strerror}") from None

    def _file(self, uuid: str, suffix: str, running: bool = False) -> str:
        if not _UUID.match(uuid):
            raise ValueError(f"not a canonical UUID: {uuid!r}")
        return os.path.join(self.running_path if running else self.path, uuid + suffix)

    def _write(self, path: str, data: bytes) -> None:
        self._ensure()
        try:
            write_atomic(path, data)
        except OSError as e:
            raise OperationFailedError(f"cannot write {path}: {e.strerror}") from None

    def _remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as e:
            raise OperationFailedError(f"cannot remove {path}: {e.strerror}") from None
        fsync_dir(os.path.dirname(path))

    @staticmethod
    def _read(path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_XML + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise OperationFailedError(f"cannot read {path}: {e.strerror}") from None
        if len(data) > MAX_XML:
            raise OperationFailedError(f"{path} is larger than {MAX_XML} bytes")
        return data.decode("utf-8", "replace")

    # -- defined domains ------------------------------------------------------------------------
    def save(self, uuid: str, xml: str) -> None:
        with self._lock:
            self._write(self._file(uuid, ".xml"), xml.encode())

    def load(self, uuid: str) -> str | None:
        return self._read(self._file(uuid, ".xml"))

    def delete(self, uuid: str) -> None:
        with self._lock:
            self._remove(self._file(uuid, ".autostart"))
            self._remove(self._file(uuid, ".xml"))

    def uuids(self) -> list[str]:
        """UUIDs of the defined domains (leftover temporary files are removed)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as e:
            raise OperationFailedError(f"cannot list {self.path}: {e.strerror}") from None
        out = []
        for name in names:
            if TMP_MARK in name:
                try:
                    os.unlink(os.path.join(self.path, name))
                except OSError:
                    pass
            elif name.endswith(".xml") and _UUID.match(name[:-4]):
                out.append(name[:-4])
        return sorted(out)

    def autostart(self, uuid: str) -> bool:
        return os.path.exists(self._file(uuid, ".autostart"))

    def set_autostart(self, uuid: str, on: bool) -> None:
        with self._lock:
            if on:
                self._write(self._file(uuid, ".autostart"), b"")
            else:
                self._remove(self._file(uuid, ".autostart"))

    # -- the definitions running domains were started from --------------------------------------
    def save_running(self, uuid: str, xml: str) -> None:
        with self._lock:
            self._write(self._file(uuid, ".xml", running=True), xml.encode())

    def load_running(self, uuid: str) -> str | None:
        return self._read(self._file(uuid, ".xml", running=True))

    def delete_running(self, uuid: str) -> None:
        with self._lock:
            self._remove(self._file(uuid, ".xml", running=True))
