"""Client of a simulated host's control socket (JSON lines): one request per call, no simulator imports.

The server side is :mod:`xvirt.sim.control`; this module is what tests, benchmarks and the CLI use
to drive a host as another management tool would.
"""

from __future__ import annotations

import json
import socket
import threading

from ..errors import NoConnectError, OperationFailedError
from ..protocol import sxp

__all__ = ["SimControl"]


class SimControl:
    """Client of the control socket. Every method is one request; failures raise LibvirtErrors."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path, self.timeout = path, timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._file = None

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError as e:
            s.close()
            raise NoConnectError(f"control socket {self.path}: {e.strerror or e}") from None
        self._sock, self._file = s, s.makefile("rb")

    def call(self, cmd: str, **args):
        with self._lock:
            for attempt in (0, 1):
                if self._sock is None:
                    self._connect()
                try:
                    self._sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
                    # no size cap on replies: the host's truth with 10000 domains is several MiB
                    line = self._file.readline()
                    if not line:
                        raise OSError("connection closed")
                    break
                except OSError as e:
                    self.close_locked()
                    if attempt or cmd == "stop":
                        raise NoConnectError(f"control socket {self.path}: {e}") from None
            reply = json.loads(line)
        if not reply.get("ok"):
            raise OperationFailedError(reply.get("error", "control request failed"))
        return reply.get("result")

    def close_locked(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    # conveniences
    def ping(self) -> str:
        return self.call("ping")

    def truth(self) -> dict:
        return self.call("truth")

    def events(self, since: int = 0, limit: int = 8192) -> dict:
        """The host's event log after ``since`` (see ``xvirt.sim.eventlog``; the host caps
        ``limit`` at its own page size)."""
        return self.call("events", since=since, limit=limit)

    def all_events(self, since: int = 0) -> list[dict]:
        """Every entry after ``since``, paging through; OperationFailedError if some were lost."""
        out: list[dict] = []
        while True:
            page = self.events(since)
            if page["first"] > since + 1 and page["last"] >= since + 1:
                raise OperationFailedError(f"event log lost entries {since + 1}..{page['first'] - 1}")
            out += page["events"]
            if not page["events"] or page["events"][-1]["seq"] >= page["last"]:
                return out
            since = page["events"][-1]["seq"]

    def counters(self) -> dict:
        return self.call("counters")

    def reset_counters(self) -> None:
        self.call("reset_counters")

    def faults(self, **changes) -> dict:
        return self.call("faults", set=changes)

    def settle(self, timeout: float = 10.0) -> bool:
        return self.call("settle", timeout=timeout)

    def op(self, op: str, domain, **params):
        return self.call("op", op=op, domain=str(domain), **params)

    def guest(self, event: str, domain) -> bool:
        return self.call("guest", event=event, domain=str(domain))

    def create(self, config: str | list, *, paused: bool = False) -> dict:
        text = config if isinstance(config, str) else sxp.show(config)
        return self.call("create", config=text, paused=paused)

    def define(self, config: str | list) -> dict:
        text = config if isinstance(config, str) else sxp.show(config)
        return self.call("define", config=text)

    def restore(self, file: str) -> dict:
        return self.call("restore", file=file)
