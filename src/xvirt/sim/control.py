"""The simulated host's control interface (JSON lines on a unix socket) and its Python client.

Tests and benchmarks use it to act as another management tool would (any lifecycle operation),
to make guests misbehave (crash, reboot or power off from inside), to inject faults, to read the
exact request counters, the host's truth and its event log, and to wait until deferred events
have settled.
One request per line: ``{"cmd": ..., ...}``; one reply per line: ``{"ok": true, "result": ...}``
or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading

from ..errors import NoConnectError, OperationFailedError, SexprError
from ..protocol import sxp
from .eventlog import MAX_REPLY
from .host import Host, XendOpError

__all__ = ["ControlServer", "SimControl"]

MAX_LINE = 1 << 20
GUEST_EVENTS = {"poweroff": 0, "reboot": 1, "suspend": 2, "crash": 3}
# lifecycle operations offered to "another management tool", with their parameter coercions
OPS = {"pause": {}, "unpause": {}, "destroy": {}, "shutdown": {"reason": str}, "save": {"file": str},
       "rename": {"name": str}, "mem_target_set": {"target": int}, "maxmem_set": {"memory": int},
       "set_vcpus": {"vcpus": int}, "start": {"paused": bool}, "delete": {},
       "dump": {"file": str, "live": int, "crash": int}, "sysrq": {"key": int}}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: ControlServer = self.server.control  # type: ignore[attr-defined]
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE:
                self._reply({"ok": False, "error": "request too large"})
                return
            try:
                req = json.loads(line)
                if not isinstance(req, dict):
                    raise ValueError("request must be a JSON object")
                result = server.dispatch(req)
                reply = {"ok": True, "result": result}
            except XendOpError as e:
                reply = {"ok": False, "error": e.message}
            except (ValueError, KeyError, TypeError, SexprError) as e:
                reply = {"ok": False, "error": f"bad request: {e}"}
            except Exception as e:  # noqa: BLE001 - a failed request must not end the connection
                reply = {"ok": False, "error": f"request failed: {e!r}"}
            self._reply(reply)

    def _reply(self, obj: dict) -> None:
        self.wfile.write(json.dumps(obj).encode() + b"\n")
        self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class ControlServer:
    def __init__(self, host: Host, path: str, *, counters, faults, on_stop=None, xend_server=None) -> None:
        self.host, self.path, self.counters, self.faults = host, path, counters, faults
        self.xend_server = xend_server
        self.on_stop = on_stop
        old = os.umask(0o177)
        try:
            if os.path.exists(path):
                os.unlink(path)
            self._srv = _Server(path, _Handler)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._srv.control = self  # type: ignore[attr-defined]
        # a short poll interval: stop() waits for it (the default 0.5 s slowed every host stop)
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sim-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _domain(self, req: dict):
        ref = str(req["domain"])
        dom = self.host.lookup(ref)
        if dom is None:
            raise XendOpError(f"No domain named '{ref}'.")
        return dom

    def dispatch(self, req: dict):
        cmd = req.get("cmd")
        host = self.host
        if cmd == "ping":
            return "pong"
        if cmd == "truth":
            return host.truth()
        if cmd == "events":
            return host.events.read(int(req.get("since", 0)), int(req.get("limit", MAX_REPLY)))
        if cmd == "counters":
            return self.counters.snapshot()
        if cmd == "reset_counters":
            self.counters.reset()
            return None
        if cmd == "faults":
            changes = dict(req.get("set") or {})
            if "xend_down" in changes and self.xend_server is not None:
                # synchronous: the reply comes once the listeners are really closed (or open)
                self.xend_server.set_down(bool(changes.pop("xend_down")))
            if changes:
                self.faults.update(**changes)
            return self.faults.as_dict()
        if cmd == "settle":
            return host.scheduler.settle(float(req.get("timeout", 10)))
        if cmd == "settings":
            for k, v in (req.get("set") or {}).items():
                if k not in ("guest_delay", "dying_delay", "save_delay"):
                    raise ValueError(f"setting {k!r} cannot be changed at run time")
                setattr(host.settings, k, float(v))
            return {k: getattr(host.settings, k) for k in ("guest_delay", "dying_delay", "save_delay")}
        if cmd in ("create", "define"):
            config = sxp.parse(req["config"])
            dom = host.op_create(config) if cmd == "create" else host.op_new(config)
            if cmd == "create" and not req.get("paused"):
                host.op_unpause(dom)
            return {"uuid": dom.uuid, "name": dom.name, "domid": dom.domid}
        if cmd == "restore":
            dom = host.op_restore(str(req["file"]))
            return {"uuid": dom.uuid, "name": dom.name, "domid": dom.domid}
        if cmd == "op":
            op = req["op"]
            if op not in OPS:
                raise ValueError(f"unknown op {op!r}")
            params = {k: conv(req[k]) for k, conv in OPS[op].items() if k in req}
            getattr(host, f"op_{op}")(self._domain(req), **params)
            return None
        if cmd == "guest":
            event = req["event"]
            if event not in GUEST_EVENTS:
                raise ValueError(f"unknown guest event {event!r}")
            return host.guest_shutdown(self._domain(req), GUEST_EVENTS[event])
        if cmd == "stop":
            if self.on_stop:
                threading.Thread(target=self.on_stop, daemon=True).start()
            return None
        raise ValueError(f"unknown command {cmd!r}")


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
            raise NoConnectError(f"simulator control socket {self.path}: {e.strerror or e}") from None
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
                        raise NoConnectError(f"simulator control socket {self.path}: {e}") from None
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

    def events(self, since: int = 0, limit: int = MAX_REPLY) -> dict:
        """The host's event log after ``since`` (see ``xvirt.sim.eventlog``)."""
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

    def op(self, op: str, domain, **params) -> None:
        self.call("op", op=op, domain=str(domain), **params)

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
