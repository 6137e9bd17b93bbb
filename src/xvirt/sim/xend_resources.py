"""XenD 3.0.4's resource tree over the simulated host model: one request in, one reply out (no sockets).

The tree (reference §1.3) and what each node answers (§1.4, §1.5), as read in Xen's
tools/python/xen/web/{SrvDir,SrvBase,resource,httpserver}.py and
tools/python/xen/xend/server/{SrvDomainDir,SrvDomain}.py of the 3.0.4 era:

    /                 (ls )                     only child: xend (added with putChild, so not listed)
    /xend/            (ls  node domain vnet)    SrvDir.ls writes '(ls ' then ' ' + name per child
    /xend/node/       node record; POST op=shutdown|reboot -> 0 (no-ops)
    /xend/node/dmesg  text/plain console ring; POST op=clear -> 200, empty
    /xend/node/log    text/plain xend log
    /xend/vnet/       ()
    /xend/domain[/]   names (?state=, default running) | ?detail=1 records of every domain
                      with an id, paused ones included (3.0.4's SrvDomainDir calls list()
                      without a state, so ``state`` is ignored there; the host decides what
                      "running" covers, see Host.domain_records) ; POST op=create|new|restore|list
    /xend/domain/<x>  record | ?op=vcpuinfo ; POST ops

Resolution happens before the method is looked at: an unknown child is 404 text/plain
``Not found: <x>`` (SrvDir.noChild) and an unknown domain is 404 ``No domain named '<x>'.`` for GET
and POST alike. POST dispatch follows SrvBase.perform: no ``op`` or several -> 406 "Invalid
request"; unknown op -> 501 "Operation not implemented: <op>" (text/plain); an exception in the
op -> 500 "Request failed: <op>" with ``(xend.err '<message>')``. Threaded ops (save, dump,
restore) keep the status they had set before the work ran (202; restore 200 until it succeeds
with 201) and carry ``(xend.err ...)`` on failure, and their results are discarded (empty body).

Deliberate differences from xend, each harmless to clients: always SXP (xend sent HTML to
browsers that sent both User-Agent and Accept without application/sxp); a missing parameter is
``Missing parameter: <p>`` for every op (ops that indexed ``req.args`` directly raised KeyError
text such as ``'reason'``); ``start`` honours ``paused=1`` (3.0.4 compared the form value with
the integer list ``[1]``, so it never did); a failed record GET answers 500 with ``(xend.err ...)``
rather than an empty 500.
"""

from __future__ import annotations

import logging
from typing import Callable

from ..protocol import sxp
from ..protocol.xend import (Args, Reply, XendRequest, empty_reply, sxp_reply, text_reply,
                             xend_err_reply)
from ..errors import SexprError

__all__ = ["XendApp", "ArgError", "POWER_STATES"]

log = logging.getLogger("xvirt.sim.xend")

POWER_STATES = ("running", "paused", "halted", "suspended", "shuttingdown", "unknown", "all")
NODE_OPS = ("shutdown", "reboot")


class ArgError(Exception):
    """A form parameter is missing or cannot be converted (xend's Args.ArgError)."""


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "message", None)
    return msg if isinstance(msg, str) else str(exc)


def _form(args: Args, name: str, kind: type = str, *, single: bool = True):
    """A parameter as Args.FormFn read it: required, one value (``single``), coerced."""
    values = args.get(name)
    if not values:
        raise ArgError(f"Missing parameter: {name}")
    if single and len(values) > 1:
        raise ArgError(f"Too many values for {name}")
    if kind is int:
        try:
            return int(values[0])
        except ValueError as e:  # the text Python gives, as xend passed str(ex) on
            raise ArgError(str(e)) from None
    return values[0]


def _direct(args: Args, name: str, kind: type = str):
    """A parameter read as ``req.args[name][0]`` (first value wins, no 'Too many values')."""
    return _form(args, name, kind, single=False)


class XendApp:
    """Answers :class:`XendRequest` values from a host model (``docs/architecture.md`` interface).

    ``op_error`` is the host's failure class (``xvirt.sim.host.XendOpError``); every exception an
    op raises becomes ``(xend.err ...)`` as in SrvBase.perform, and ``op_error`` only decides
    whether it is logged as expected (message taken from ``.message``) or as a bug. Without
    ``op_error``, any exception class named ``XendOpError`` is recognised, so this module needs
    no import of the host model. ``url_port`` is the port in Location URLs (xend's unix server
    kept its HttpServer default 8080).
    """

    def __init__(self, host, *, op_error: type[BaseException] | None = None,
                 url_port: int = 8080) -> None:
        self.host = host
        self.op_error = op_error
        self.url_port = url_port
        self._domain_ops: dict[str, Callable] = {
            "pause": self._pause, "unpause": self._unpause, "shutdown": self._shutdown,
            "destroy": self._destroy, "rename": self._rename, "sysrq": self._sysrq,
            "wait_for_devices": self._wait_for_devices, "save": self._save, "dump": self._dump,
            "pincpu": self._pincpu, "maxmem_set": self._maxmem_set,
            "mem_target_set": self._mem_target_set, "set_vcpus": self._set_vcpus,
            "start": self._start, "delete": self._delete, "vcpuinfo": self._vcpuinfo,
            "domain_sched_credit_get": self._sched_get, "domain_sched_credit_set": self._sched_set,
            "device_create": self._device_create, "device_destroy": self._device_destroy,
            "migrate": self._migrate,
        }
        self._dir_ops: dict[str, Callable] = {
            "create": self._create, "new": self._new, "restore": self._restore, "list": self._list,
        }

    # ------------------------------------------------------------------ routing

    def handle(self, req: XendRequest) -> Reply:
        """The reply to one request; never raises for anything the client or host does."""
        try:
            return self._route(req)
        except Exception as exc:  # a host bug while routing: xend's processError (500)
            log.exception("XenD request %s %s failed", req.method, req.target)
            return xend_err_reply(_message(exc), 500)

    def _route(self, req: XendRequest) -> Reply:
        node = "root"
        dom = None
        for seg in req.segments:
            if seg == "":
                continue  # an empty element means "this directory" (SrvDir.getChild)
            if node == "root" and seg == "xend":
                node = "xend"
            elif node == "xend" and seg in ("node", "domain", "vnet"):
                node = seg
            elif node == "node" and seg in ("dmesg", "log"):
                node = seg
            elif node == "domain":
                dom = self.host.lookup(seg)
                if dom is None:  # 3.0.4 XendInvalidDomain text, via SrvDir.noChild
                    return text_reply(404, f"No domain named '{seg}'.")
                node = "dom"
            else:
                return text_reply(404, f"Not found: {seg}")
        post = req.method == "POST"
        if node in ("root", "xend", "log"):
            if post:  # these resources kept web/resource.py's default render_POST
                return text_reply(200, "POST")
            if node == "log":
                return text_reply(200, self._host_text("xend_log", "[xend] INFO (SrvDaemon:0) Xend started (simulated)\n"))
            listing = "(ls )" if node == "root" else "(ls  node domain vnet)"
            return Reply(200, None, listing.encode(), "application/sxp")
        if node == "node":
            if post:
                return self._perform(req, {op: self._node_noop for op in NODE_OPS})
            return sxp_reply(self.host.node_sxpr())
        if node == "dmesg":
            if post:
                return self._perform(req, {"clear": self._dmesg_clear})
            return text_reply(200, self._host_text("dmesg", "(XEN) Xen version 3.0.4 (simulated)\n"))
        if node == "vnet":
            return self._perform(req, {}) if post else sxp_reply([])
        if node == "domain":
            return self._perform(req, self._dir_ops) if post else self._list_get(req)
        assert node == "dom"
        if post:
            return self._perform(req, self._domain_ops, dom)
        ops = req.args.get("op")
        if ops and ops[0] == "vcpuinfo":  # SrvDomain.render_GET: only vcpuinfo is performed
            return self._perform(req, {"vcpuinfo": self._vcpuinfo}, dom)
        try:
            return sxp_reply(self.host.domain_sxpr(dom))
        except Exception as exc:
            self._log_failure("GET", exc)
            return xend_err_reply(_message(exc), 500)

    def _perform(self, req: XendRequest, ops: dict[str, Callable], *extra) -> Reply:
        values = req.args.get("op")
        if values is None or len(values) != 1:
            return empty_reply(406, "Invalid request")
        op = values[0]
        fn = ops.get(op)
        if fn is None:
            return text_reply(501, f"Operation not implemented: {op}",
                              reason=f"Operation not implemented: {op}")
        try:
            return fn(req, *extra)
        except Exception as exc:
            self._log_failure(op, exc)
            return xend_err_reply(_message(exc), 500, f"Request failed: {op}")

    def _threaded(self, op: str, status: int, work: Callable[[], Reply]) -> Reply:
        """A threadRequest op: failures keep the status set so far and carry (xend.err ...)."""
        try:
            return work()
        except Exception as exc:
            self._log_failure(op, exc)
            return xend_err_reply(_message(exc), status)

    def _log_failure(self, op: str, exc: Exception) -> None:
        if isinstance(exc, ArgError) or self._is_op_error(exc):
            log.debug("XenD op %s failed: %s", op, _message(exc))
        else:
            log.warning("XenD op %s raised %r", op, exc, exc_info=True)

    def _is_op_error(self, exc: BaseException) -> bool:
        if self.op_error is not None:
            return isinstance(exc, self.op_error)
        return any(c.__name__ == "XendOpError" for c in type(exc).__mro__)

    def _host_text(self, attr: str, default: str) -> str:
        fn = getattr(self.host, attr, None)
        return str(fn()) if callable(fn) else default

    def _url(self, req: XendRequest) -> str:
        """xend's req.prePathURL(): host from the Host header, the server port, the path."""
        hostname = (req.http.header("host") or "localhost").split(":")[0] or "localhost"
        port = "" if self.url_port == 80 else f":{self.url_port}"
        return f"http://{hostname}{port}{req.path}"

    def _accepted(self, req: XendRequest) -> Reply:
        """SrvDomain.acceptCommand: 202 with Location <prePathURL>/.. and the op's empty body."""
        return empty_reply(202, headers=[("Location", f"{self._url(req)}/..")])

    def _name_of(self, dom) -> str:
        name = getattr(dom, "name", None)
        if isinstance(name, str):
            return name
        return sxp.child_value(self.host.domain_sxpr(dom), "name", "") or ""

    # ------------------------------------------------------------------ node

    def _node_noop(self, req: XendRequest) -> Reply:
        return sxp_reply(0)  # XendNode.shutdown/reboot return 0

    def _dmesg_clear(self, req: XendRequest) -> Reply:
        fn = getattr(self.host, "dmesg_clear", None)
        if callable(fn):
            fn()
        return empty_reply()

    # ------------------------------------------------------------------ domain directory

    def _list_get(self, req: XendRequest) -> Reply:
        if req.args.get("detail") == ["1"]:
            return sxp_reply(self.host.domain_records())
        states = req.args.get("state")
        state = states[0].lower() if states and states[0] else "running"
        if state not in POWER_STATES:  # XendDomain.list: no domain has that state name
            return sxp_reply([])
        return sxp_reply(self.host.domain_names(state))

    def _list(self, req: XendRequest) -> Reply:
        return sxp_reply(self.host.domain_records())

    @staticmethod
    def _config(req: XendRequest):
        text = _direct(req.args, "config")
        try:
            values = sxp.parse_all(text)
            if not values:
                raise SexprError("malformed S-expression: empty input")
        except SexprError as e:
            raise ArgError(f"Invalid configuration {e.message}") from None
        return values[0]

    def _creation_error(self, op: str, exc: Exception) -> Exception:
        """SrvDomainDir.op_create/op_new wrapped whatever creation raised as
        ``Error creating domain: <msg>``; a message that already says so is not wrapped twice."""
        self._log_failure(op, exc)
        msg = _message(exc)
        prefix = "Error creating domain: "
        return ArgError(msg if msg.startswith(prefix) else prefix + msg)

    def _create(self, req: XendRequest) -> Reply:
        config = self._config(req)
        try:
            dom = self.host.op_create(config)
            record = self.host.domain_sxpr(dom)
        except Exception as exc:
            raise self._creation_error("create", exc) from None
        name = sxp.child_value(record, "name", "") or self._name_of(dom)
        return sxp_reply(record, 201, "created", [("Location", f"{self._url(req)}/{name}")])

    def _new(self, req: XendRequest) -> Reply:
        config = self._config(req)
        try:
            self.host.op_new(config)
        except Exception as exc:
            raise self._creation_error("new", exc) from None
        return empty_reply()

    def _restore(self, req: XendRequest) -> Reply:
        def work() -> Reply:
            dom = self.host.op_restore(_form(req.args, "file"))
            location = f"{self._url(req)}/{self._name_of(dom)}"
            return empty_reply(201, headers=[("Location", location)])
        return self._threaded("restore", 200, work)

    # ------------------------------------------------------------------ one domain

    def _pause(self, req, dom) -> Reply:
        self.host.op_pause(dom)
        return empty_reply()

    def _unpause(self, req, dom) -> Reply:
        self.host.op_unpause(dom)
        return empty_reply()

    def _shutdown(self, req, dom) -> Reply:
        self.host.op_shutdown(dom, _direct(req.args, "reason"))
        return self._accepted(req)

    def _destroy(self, req, dom) -> Reply:
        self.host.op_destroy(dom)
        return self._accepted(req)

    def _rename(self, req, dom) -> Reply:
        self.host.op_rename(dom, _direct(req.args, "name"))
        return self._accepted(req)

    def _sysrq(self, req, dom) -> Reply:
        self.host.op_sysrq(dom, _direct(req.args, "key", int))
        return self._accepted(req)

    def _wait_for_devices(self, req, dom) -> Reply:
        self.host.op_wait_for_devices(dom)
        return self._accepted(req)

    def _save(self, req, dom) -> Reply:
        def work() -> Reply:
            self.host.op_save(dom, _direct(req.args, "file"))
            return self._accepted(req)
        return self._threaded("save", 202, work)

    def _dump(self, req, dom) -> Reply:
        def work() -> Reply:
            a = req.args
            self.host.op_dump(dom, _form(a, "file"), _form(a, "live", int), _form(a, "crash", int))
            return self._accepted(req)
        return self._threaded("dump", 202, work)

    def _pincpu(self, req, dom) -> Reply:
        self.host.op_pincpu(dom, _form(req.args, "vcpu"), _form(req.args, "cpumap"))
        return sxp_reply(0)

    def _migrate(self, req, dom) -> Reply:
        a = req.args
        self.host.op_migrate(dom, _form(a, "destination"), _form(a, "port", int) if a.get("port") else 0,
                             _form(a, "live", int) if a.get("live") else 0)
        return sxp_reply(0)

    def _device_create(self, req, dom) -> Reply:
        self.host.op_device_create(dom, _form(req.args, "config"))
        return sxp_reply(0)

    def _device_destroy(self, req, dom) -> Reply:
        self.host.op_device_destroy(dom, _form(req.args, "type"), _form(req.args, "dev"))
        return sxp_reply(0)

    def _sched_get(self, req, dom) -> Reply:
        return sxp_reply(self.host.op_domain_sched_credit_get(dom))

    def _sched_set(self, req, dom) -> Reply:
        a = req.args
        weight = _form(a, "weight", int) if a.get("weight") else None
        cap = _form(a, "cap", int) if a.get("cap") else None
        self.host.op_domain_sched_credit_set(dom, weight, cap)
        return sxp_reply(0)

    def _maxmem_set(self, req, dom) -> Reply:
        self.host.op_maxmem_set(dom, _form(req.args, "memory", int))
        return sxp_reply(0)

    def _mem_target_set(self, req, dom) -> Reply:
        self.host.op_mem_target_set(dom, _form(req.args, "target", int))
        return empty_reply()

    def _set_vcpus(self, req, dom) -> Reply:
        self.host.op_set_vcpus(dom, _form(req.args, "vcpus", int))
        return empty_reply()

    def _start(self, req, dom) -> Reply:
        paused = (req.args.get("paused") or [""])[0].lower() in ("1", "true", "yes")
        self.host.op_start(dom, paused)
        return self._accepted(req)

    def _delete(self, req, dom) -> Reply:
        self.host.op_delete(dom)
        return self._accepted(req)

    def _vcpuinfo(self, req, dom) -> Reply:
        return sxp_reply(self.host.vcpuinfo_sxpr(dom))
