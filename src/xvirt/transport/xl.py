"""Runs the ``xl`` command (or the simulator's stand-in) with one deadline and bounded output, counting each call.

Each call is one process: ``prefix + [subcommand, *args]``. stdout and stderr go to anonymous
temporary files (so a chatty or hostile command cannot grow this process's memory; at most
``protocol.xl.MAX_OUTPUT`` bytes of each are read back); the whole run has one deadline, after
which the process (our child) is killed. ``counts()`` is ``{subcommand: calls}``, exact.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass

from ..errors import NoSupportError, OperationTimeoutError
from ..protocol.xl import MAX_OUTPUT

__all__ = ["XlRunner", "XlResult"]


@dataclass(frozen=True)
class XlResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _read(f) -> str:
    f.seek(0)
    return f.read(MAX_OUTPUT).decode("utf-8", "replace")


class XlRunner:
    def __init__(self, prefix: tuple[str, ...] | list[str], *, timeout: float = 120.0) -> None:
        if not prefix:
            raise NoSupportError("no xl command configured")
        self.prefix = tuple(prefix)
        self.timeout = timeout
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def run(self, sub: str, *args: str, timeout: float | None = None) -> XlResult:
        argv = (*self.prefix, sub, *map(str, args))
        with self._lock:
            self._counts[sub] += 1
        limit = self.timeout if timeout is None else timeout
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        close_fds=True, env=os.environ.copy())
            except OSError as e:
                raise NoSupportError(f"cannot run {argv[0]}: {e.strerror or e}") from None
            try:
                rc = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise OperationTimeoutError(f"xl {sub} did not finish within {limit:g}s") from None
            return XlResult(argv, rc, _read(out), _read(err))
