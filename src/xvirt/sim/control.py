"""The simulated host's control interface: the JSON-lines server (its client is ``control_client``).

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
import socketserver
import threading

from ..errors import SexprError
from ..protocol import sxp
from .control_client import SimControl  # noqa: F401 - re-exported for callers of the old name
from .eventlog import MAX_REPLY
from .host import Host, XendOpError

__all__ = ["ControlServer", "SimControl"]

MAX_LINE = 1 << 20
GUEST_EVENTS = {"poweroff": 0, "reboot": 1, "suspend": 2, "crash": 3}
# lifecycle operations offered to "another management tool", with their parameter coercions
OPS = {"pause": {}, "unpause": {}, "destroy": {}, "shutdown": {"reason": str}, "save": {"file": str},
       "rename": {"name": str}, "mem_target_set": {"target": int}, "maxmem_set": {"memory": int},
       "set_vcpus": {"vcpus": int}, "start": {"paused": bool}, "delete": {},
       "dump": {"file": str, "live": int, "crash": int}, "sysrq": {"key": int},
       "pincpu": {"vcpu": str, "cpumap": str}, "domain_sched_credit_get": {},
       "domain_sched_credit_set": {"weight": int, "cap": int},
       "device_create": {"config": str}, "device_destroy": {"type": str, "dev": str}}


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
        if cmd == "xl_called":
            self.counters.count_xl(str(req["sub"])[:64])
            return None
        if cmd == "node":
            return sxp.show(host.node_sxpr())
        if cmd == "domain":  # one domain's XenD-style record (the simulated xl reads configs from it)
            return sxp.show(host.domain_sxpr(self._domain(req)))
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
                if k not in ("guest_delay", "dying_delay", "save_delay", "destroy_delay"):
                    raise ValueError(f"setting {k!r} cannot be changed at run time")
                setattr(host.settings, k, float(v))
            return {k: getattr(host.settings, k) for k in ("guest_delay", "dying_delay", "save_delay", "destroy_delay")}
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
            result = getattr(host, f"op_{op}")(self._domain(req), **params)
            return result if isinstance(result, list) else None   # sched_credit_get's record
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
