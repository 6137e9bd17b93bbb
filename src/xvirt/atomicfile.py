"""Crash-safe file replacement shared by every writer of state files (library and simulator).

``write_atomic`` writes ``<path>.tmp.<pid>.<thread>`` (0600, never through a symlink), fsyncs
it, renames it over ``path`` and fsyncs the directory, so a process killed at any instant leaves
the file as it was or as it became; readers that list a directory skip names containing
``TMP_MARK`` (leftovers of an interrupted write). ``fsync=False`` keeps the atomic rename but
skips both fsyncs (for files whose loss on power failure is harmless, or a bulk seed followed
by one ``os.sync()``).
"""

from __future__ import annotations

import os
import threading

__all__ = ["write_atomic", "fsync_dir", "TMP_MARK"]

TMP_MARK = ".tmp."


def fsync_dir(path: str) -> None:
    """Make the directory entries of ``path`` (a directory) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; an OSError leaves ``path`` and no temporary file."""
    tmp = f"{path}{TMP_MARK}{os.getpid()}.{threading.get_ident()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        fsync_dir(os.path.dirname(path) or ".")
