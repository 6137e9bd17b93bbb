"""Durable storage of the simulated host: managed domain configs and save images, confined to a directory.

Configs are written atomically (temporary file, fsync, rename, fsync of the directory), so a
simulator killed at any instant leaves each config either as it was or as it became, never torn.
Paths that arrive over a protocol (``file=`` of save/restore/dump) are resolved inside the save
directory and refused when they point elsewhere.
"""

from __future__ import annotations

import os
import struct

from ..atomicfile import TMP_MARK, write_atomic
from ..protocol import sxp

__all__ = ["ConfigStore", "SaveArea", "PathRefused", "SAVE_MAGIC"]

SAVE_MAGIC = b"LinuxGuestRecord"  # xend XendCheckpoint.py: signature, 4-byte BE length, config SXP
_LEN = struct.Struct(">I")
MAX_CONFIG = 1 << 20


class PathRefused(ValueError):
    """A protocol-supplied path that falls outside the simulator's save directory."""


class ConfigStore:
    """``<dir>/<uuid>.sxp`` for every managed domain."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.fsync = True  # off only while seeding, followed by one os.sync()
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _path(self, uuid: str) -> str:
        return os.path.join(self.dir, f"{uuid}.sxp")

    def save(self, uuid: str, config: list) -> None:
        write_atomic(self._path(uuid), sxp.show(config).encode(), fsync=self.fsync)

    def delete(self, uuid: str) -> None:
        try:
            os.unlink(self._path(uuid))
        except FileNotFoundError:
            pass

    def load_all(self) -> tuple[list[list], list[str]]:
        """Every stored config, plus the names of files that could not be read (left in place)."""
        configs, bad = [], []
        for name in sorted(os.listdir(self.dir)):
            path = os.path.join(self.dir, name)
            if TMP_MARK in name:
                os.unlink(path)  # an interrupted write: the rename never happened
                continue
            if not name.endswith(".sxp"):
                continue
            try:
                with open(path, "rb") as f:
                    configs.append(sxp.parse(f.read(MAX_CONFIG + 1), max_size=MAX_CONFIG))
            except Exception:  # noqa: BLE001 - reported to the caller, never fatal
                bad.append(name)
        return configs, bad


class SaveArea:
    """Save images and core dumps under one directory."""

    def __init__(self, directory: str) -> None:
        self.dir = os.path.realpath(directory)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def resolve(self, file: str) -> str:
        if not file or "\0" in file:
            raise PathRefused("Invalid file name")
        path = os.path.realpath(os.path.join(self.dir, file))
        if os.path.commonpath([path, self.dir]) != self.dir or path == self.dir:
            raise PathRefused(f"Path '{file}' is outside the save directory {self.dir}")
        return path

    @staticmethod
    def image_bytes(config: list, memory_mib: int) -> bytes:
        """A save image: the config, then a small stand-in for the memory (distinct, checkable)."""
        body = sxp.show(config).encode()
        return SAVE_MAGIC + _LEN.pack(len(body)) + body + (b"\0" * 4096) + _LEN.pack(memory_mib)

    def write_image(self, file: str, config: list, memory_mib: int) -> str:
        path = self.resolve(file)
        write_atomic(path, self.image_bytes(config, memory_mib))
        return path

    def read_image(self, file: str) -> list:
        path = self.resolve(file)
        try:
            with open(path, "rb") as f:
                head = f.read(len(SAVE_MAGIC) + _LEN.size)
                if len(head) < len(SAVE_MAGIC) + _LEN.size or not head.startswith(SAVE_MAGIC):
                    raise ValueError("not a valid guest state file")
                (n,) = _LEN.unpack(head[len(SAVE_MAGIC):])
                if n > MAX_CONFIG:
                    raise ValueError("guest state file has an oversized config")
                body = f.read(n)
        except FileNotFoundError:
            raise ValueError(f"{file}: No such file or directory") from None
        except IsADirectoryError:
            raise ValueError(f"{file}: Is a directory") from None
        if len(body) != n:
            raise ValueError("guest state file is truncated")
        config = sxp.parse(body, max_size=MAX_CONFIG)
        if not isinstance(config, list):
            raise ValueError("not a valid guest state file")
        return config

    def write_dump(self, file: str, domid: int, memory_mib: int) -> str:
        path = self.resolve(file)
        write_atomic(path, b"XVIRTCORE" + _LEN.pack(domid) + _LEN.pack(memory_mib))
        return path
