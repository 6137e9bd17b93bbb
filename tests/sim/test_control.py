"""The control socket: counters, faults, settle, lifecycle as another tool, and robustness."""

from __future__ import annotations

import json
import socket
import time
import uuid as uuidlib

import pytest

from xvirt.errors import LibvirtError, NoConnectError, OperationFailedError
from xvirt.protocol import sxp
from xvirt.transport.xend import XendClient
from xvirt.transport.xenstore import XenstoreClient

pytestmark = pytest.mark.simhost(domains=3)
NAMES = ["Domain-0", "cache-01", "db-01", "web-01"]


def cfg(name: str, memory: int = 64) -> str:
    return f"(vm (name {name}) (uuid {uuidlib.uuid4()}) (memory {memory}) (vcpus 1))"


class Raw:
    """A bare JSON-lines connection to the control socket."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> dict | None:
        self.sock.sendall(data)
        line = self.file.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_ping_and_truth(simhost):
    ctl = simhost.control
    assert ctl.ping() == "pong"
    t = ctl.truth()
    assert [d["domid"] for d in t["running"]] == [0, 1, 2, 3]
    assert t["running"][0]["name"] == "Domain-0" and t["running"][0]["managed"] is False
    assert [d["name"] for d in t["running"][1:]] == ["web-01", "db-01", "cache-01"]
    assert [d["name"] for d in t["inactive"]] == ["mail-01"]
    assert t["dying"] == [] and t["rover"] == 3 and t["hostname"] == "xensim-test"


def test_counters_are_exact_and_reset(simhost):
    ctl = simhost.control
    x = XendClient(simhost.paths.xend)
    ctl.reset_counters()
    assert ctl.counters() == {"xend": {}, "xenstore": {}, "xl": {}, "xend_total": 0, "xenstore_total": 0,
                              "xl_total": 0}
    for _ in range(3):
        x.get("/xend/domain")
    x.get("/xend/domain", detail=1)
    x.get("/xend/domain/web-01")
    x.get("/xend/domain/1")
    x.post("/xend/domain/web-01", "pause")
    x.post("/xend/domain/web-01", "unpause")
    x.get("/xend/node/")
    with XenstoreClient(simhost.paths.xenstored) as xs:
        for i in range(4):
            xs.read(f"/local/domain/{i}/name")
        xs.directory("/local/domain")
        xs.write("/tool/test", b"1")
        xs_counts = xs.counts()
    c = ctl.counters()
    assert c["xend"] == x.counts()                     # one key function on both sides
    assert c["xend_total"] == 9 == x.total()
    assert c["xend"]["GET /xend/domain"] == 3
    assert sum(v for k, v in c["xend"].items() if k.startswith("POST")) == 2
    assert c["xenstore"] == xs_counts
    assert c["xenstore"]["READ"] == 4 and c["xenstore"]["DIRECTORY"] == 1 and c["xenstore"]["WRITE"] == 1
    assert c["xenstore_total"] == 6
    ctl.reset_counters()
    x.get("/xend/node/")
    c = ctl.counters()
    assert c["xend_total"] == 1 and c["xenstore_total"] == 0


def test_faults_set_and_get(simhost):
    ctl = simhost.control
    x = XendClient(simhost.paths.xend, timeout=5)
    assert ctl.faults() == {"xend_down": False, "xend_extra_latency": 0.0, "xend_malformed": 0,
                            "xend_drop": 0, "xs_delay": 0.0}
    assert ctl.faults(xend_extra_latency=0.15)["xend_extra_latency"] == 0.15
    t0 = time.monotonic()
    x.get("/xend/node/")
    assert time.monotonic() - t0 >= 0.14
    ctl.faults(xend_extra_latency=0)

    assert ctl.faults(xend_drop=1)["xend_drop"] == 1
    with pytest.raises(NoConnectError):
        x.get("/xend/domain")
    assert ctl.faults()["xend_drop"] == 0              # used up
    assert x.get("/xend/domain") == NAMES

    ctl.faults(xend_malformed=1)
    with pytest.raises(LibvirtError):
        x.get("/xend/domain")
    assert x.get("/xend/domain") == NAMES

    ctl.faults(xend_down=True)
    with pytest.raises(NoConnectError):
        x.get("/xend/domain")
    assert ctl.ping() == "pong"                        # the control socket is not affected
    ctl.faults(xend_down=False)
    deadline = time.monotonic() + 5
    while True:
        try:
            assert x.get("/xend/domain") == NAMES
            break
        except NoConnectError:
            assert time.monotonic() < deadline, "XenD did not come back"
            time.sleep(0.02)

    ctl.faults(xs_delay=0.1)
    with XenstoreClient(simhost.paths.xenstored) as xs:
        t0 = time.monotonic()
        xs.read("/local/domain/0/name")
        assert time.monotonic() - t0 >= 0.09
    ctl.faults(xs_delay=0)

    with pytest.raises(OperationFailedError, match="unknown fault"):
        ctl.faults(xend_explode=1)
    assert ctl.faults()["xend_down"] is False


def test_settings_and_settle(simhost):
    ctl = simhost.control
    x = XendClient(simhost.paths.xend)
    assert ctl.call("settings", set={"guest_delay": 1.0}) == {
        "guest_delay": 1.0, "dying_delay": pytest.approx(0.02), "save_delay": pytest.approx(0.01),
        "destroy_delay": pytest.approx(0.1)}
    with pytest.raises(OperationFailedError, match="cannot be changed"):
        ctl.call("settings", set={"first_domid": 7})
    x.post("/xend/domain/web-01", "shutdown", reason="poweroff")
    assert ctl.truth()["pending"] >= 1
    assert ctl.settle(timeout=0.01) is False          # the guest has not reacted yet
    t0 = time.monotonic()
    assert ctl.settle() is True
    assert time.monotonic() - t0 >= 0.5
    t = ctl.truth()
    assert t["pending"] == 0 and "web-01" not in {d["name"] for d in t["running"]}
    assert "web-01" in {d["name"] for d in t["inactive"]}           # seeded guests are managed
    assert ctl.settle(timeout=0) is True               # nothing pending: immediately true


def test_lifecycle_as_another_management_tool(simhost):
    ctl = simhost.control
    x = XendClient(simhost.paths.xend)
    made = ctl.create(cfg("tool1"))
    assert made["name"] == "tool1" and made["domid"] == 4
    assert sxp.child_value(x.get("/xend/domain/tool1"), "state") != "--p---"   # unpaused
    paused = ctl.create(cfg("tool2"), paused=True)
    assert sxp.child_value(x.get(f"/xend/domain/{paused['domid']}"), "state") == "--p---"
    ctl.op("pause", "tool1")
    assert "tool1" in x.get("/xend/domain", state="paused")
    ctl.op("rename", "tool1", name="tool1b")
    assert sxp.child_value(x.get("/xend/domain/4"), "name") == "tool1b"
    ctl.op("mem_target_set", 4, target=32)
    assert sxp.child_value(x.get("/xend/domain/4"), "memory") == "32"
    ctl.op("save", "tool1b", file="tool.img")
    with pytest.raises(LibvirtError):
        x.get("/xend/domain/tool1b")
    back = ctl.restore("tool.img")
    assert back["name"] == "tool1b" and back["uuid"] == made["uuid"] and back["domid"] > 5
    defined = ctl.define(cfg("tool3"))
    assert defined["domid"] is None and "tool3" in x.get("/xend/domain", state="halted")
    ctl.op("start", "tool3", paused=True)
    assert "tool3" in x.get("/xend/domain", state="paused")
    ctl.op("destroy", "tool3")
    ctl.op("delete", "tool3")
    assert "tool3" not in x.get("/xend/domain", state="all")
    with pytest.raises(OperationFailedError, match="Cannot destroy privileged domain 0"):
        ctl.op("destroy", 0)
    with pytest.raises(OperationFailedError, match="No domain named 'nosuch'"):
        ctl.op("pause", "nosuch")


@pytest.mark.parametrize("args,message", [
    ({"cmd": "frobnicate"}, "unknown command 'frobnicate'"),
    ({}, "unknown command None"),
    ({"cmd": "op", "op": "explode", "domain": "0"}, "unknown op 'explode'"),
    ({"cmd": "op", "op": "pause"}, "bad request"),
    ({"cmd": "create"}, "bad request"),
    ({"cmd": "create", "config": "(vm (name"}, "bad request"),
    ({"cmd": "define", "config": "(vm (memory 64))"}, "missing name"),
    ({"cmd": "op", "op": "set_vcpus", "domain": "web-01", "vcpus": "many"}, "bad request"),
])
def test_bad_requests_get_clear_errors(simhost, args, message):
    raw = Raw(simhost.paths.control)
    try:
        reply = raw.send(json.dumps(args).encode() + b"\n")
        assert reply["ok"] is False and message in reply["error"], reply
        assert raw.send(b'{"cmd": "ping"}\n') == {"ok": True, "result": "pong"}
    finally:
        raw.close()


def test_malformed_lines_keep_the_connection_serving(simhost):
    raw = Raw(simhost.paths.control)
    try:
        for junk in (b"this is not json\n", b"{\"cmd\": \n", b"[1, 2, 3]\n", b"\"ping\"\n", b"\xff\xfe\x00\n",
                     b"\n", b"null\n"):
            reply = raw.send(junk)
            assert reply is not None and reply["ok"] is False, junk
            assert reply["error"].startswith("bad request"), reply
        assert raw.send(b'{"cmd": "ping"}\n') == {"ok": True, "result": "pong"}
        # several requests in one write are answered in order
        raw.sock.sendall(b'{"cmd": "ping"}\nnope\n{"cmd": "ping"}\n')
        replies = [json.loads(raw.file.readline()) for _ in range(3)]
        assert [r["ok"] for r in replies] == [True, False, True]
    finally:
        raw.close()


def test_oversized_line_is_refused_and_others_are_served(simhost):
    raw = Raw(simhost.paths.control)
    try:
        reply = raw.send(b"x" * ((1 << 20) + 10) + b"\n")
        assert reply == {"ok": False, "error": "request too large"}
    finally:
        raw.close()
    # a client that goes away in the middle of a line
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(simhost.paths.control)
    s.sendall(b'{"cmd": "pi')
    s.close()
    assert simhost.control.ping() == "pong"
    other = Raw(simhost.paths.control)
    assert other.send(b'{"cmd": "ping"}\n')["ok"] is True
    other.close()


def test_client_reconnects_after_the_server_dropped_it(simhost):
    ctl = simhost.control
    assert ctl.ping() == "pong"
    ctl._sock.shutdown(socket.SHUT_RDWR)                 # as if the connection broke
    assert ctl.ping() == "pong"
