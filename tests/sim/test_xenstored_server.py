"""XenstoredServer and XenstoreClient over real unix sockets in a temporary directory."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import struct
import tempfile
import threading
import time

import pytest

from xvirt.errors import ErrorCode, XenstoreError
from xvirt.protocol import xenstore as xs
from xvirt.protocol.xenstore import Decoder, XsError, XsNoEntError, XsType
from xvirt.sim.counters import Counters
from xvirt.sim.faults import Faults
from xvirt.sim.xenstore_tree import XenstoreTree
from xvirt.sim.xenstored import XenstoredServer
from xvirt.transport.xenstore import XenstoreClient, XsConnectionError


class Host:
    def __init__(self, **server_kwargs) -> None:
        self.dir = tempfile.mkdtemp(prefix="xvxs-")  # short: sun_path holds 108 bytes
        self.rw = os.path.join(self.dir, "xenstored.sock")
        self.ro = os.path.join(self.dir, "xenstored_ro.sock")
        self.tree = XenstoreTree()
        self.counters = Counters()
        self.faults = Faults()
        self.server = XenstoredServer(self.tree, self.rw, self.ro, counters=self.counters,
                                      faults=self.faults, **server_kwargs)
        self.clients: list[XenstoreClient] = []
        self.server.start()

    def client(self, ro: bool = False, **kw) -> XenstoreClient:
        c = XenstoreClient(self.ro if ro else self.rw, **kw)
        self.clients.append(c)
        return c

    def raw(self, ro: bool = False) -> socket.socket:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.ro if ro else self.rw)
        return s

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def host():
    h = Host()
    h.tree.write("/local/domain/0/name", b"Domain-0")
    h.tree.write("/local/domain/3/name", b"web")
    yield h
    h.close()


def recv_msgs(sock: socket.socket, n: int) -> list[xs.Message]:
    d = Decoder()
    out: list[xs.Message] = []
    while len(out) < n:
        data = sock.recv(65536)
        if not data:
            break
        d.feed(data)
        out.extend(d)
    return out


def recv_until_eof(sock: socket.socket) -> list[xs.Message]:
    d = Decoder()
    out: list[xs.Message] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        d.feed(data)
        out.extend(d)


# ---------------------------------------------------------------- basics

def test_sockets_are_0600_and_removed_on_stop() -> None:
    h = Host()
    for p in (h.rw, h.ro):
        st = os.stat(p)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    h.close()
    assert not os.path.exists(h.rw) and not os.path.exists(h.ro)


def test_read_write_directory_mkdir_rm(host: Host) -> None:
    c = host.client()
    assert c.read("/local/domain/3/name") == b"web"
    c.write("/local/domain/3/memory/target", b"524288")
    assert host.tree.read("/local/domain/3/memory/target") == b"524288"
    assert c.directory("/local/domain") == ["0", "3"]
    c.mkdir("/local/domain/3/device")
    assert c.directory("/local/domain/3") == ["name", "memory", "device"]
    c.rm("/local/domain/3")
    assert c.directory("/local/domain") == ["0"]
    c.rm("/local/domain/3")  # missing, but the parent exists: fine (xenstored do_rm)
    with pytest.raises(XsNoEntError):
        c.rm("/no/such/parent")
    assert c.get_perms("/local/domain/0") == ["n0"]
    c.set_perms("/local/domain/0", ["n0", "r3"])
    assert c.get_perms("/local/domain/0") == ["n0", "r3"]


def test_missing_node_is_distinguishable_from_down(host: Host) -> None:
    c = host.client()
    with pytest.raises(XsNoEntError) as ei:
        c.read("/local/domain/99/name")
    assert ei.value.errno == "ENOENT" and ei.value.path == "/local/domain/99/name"
    host.server.stop()
    with pytest.raises(XsConnectionError) as ei2:
        c.read("/local/domain/3/name")
    assert not isinstance(ei2.value, XsError)
    assert isinstance(ei2.value, XenstoreError) and ei2.value.code == ErrorCode.NO_XENSTORE


def test_get_domain_path_never_fails_and_is_domain_introduced(host: Host) -> None:
    c = host.client()
    assert c.get_domain_path(4242) == "/local/domain/4242"
    assert c.get_domain_path(3) == "/local/domain/3"
    assert c.is_domain_introduced(3) and not c.is_domain_introduced(4242)
    s = host.raw()
    s.sendall(xs.request(XsType.GET_DOMAIN_PATH, "junk", req_id=5))
    (m,) = recv_msgs(s, 1)
    assert (m.type, m.req_id, m.payload) == (XsType.GET_DOMAIN_PATH, 5, b"/local/domain/0\0")
    s.close()


def test_relative_paths_are_under_domain_0(host: Host) -> None:
    c = host.client()
    c.write("data/x", b"1")
    assert host.tree.read("/local/domain/0/data/x") == b"1"
    c.watch("data", "rel")
    c.write("data/y", b"2")
    c.sync()
    assert c.events() == [("data", "rel"), ("data/y", "rel")]


def test_large_directory_uses_directory_part(host: Host) -> None:
    with host.tree.batch():
        for i in range(2000):
            host.tree.write(f"/local/domain/{i + 100}/name", f"g{i}")
    c = host.client()
    s = host.raw()
    s.sendall(xs.request(XsType.DIRECTORY, "/local/domain", req_id=1))
    (m,) = recv_msgs(s, 1)
    assert m.type == XsType.ERROR and xs.parse_error(m.payload) == "E2BIG"
    s.close()
    names = c.directory("/local/domain")
    assert names == ["0", "3"] + [str(i + 100) for i in range(2000)]
    counts = c.counts()
    assert counts["DIRECTORY"] == 1 and counts["DIRECTORY_PART"] >= 3


# ---------------------------------------------------------------- watches and ordering

def test_watch_ack_comes_before_the_first_event(host: Host) -> None:
    s = host.raw()
    s.sendall(xs.request(XsType.WATCH, "/local/domain", "tok", req_id=9))
    ack, ev = recv_msgs(s, 2)
    assert (ack.type, ack.req_id, ack.payload) == (XsType.WATCH, 9, b"OK\0")
    assert (ev.type, ev.payload) == (XsType.WATCH_EVENT, b"/local/domain\0tok\0")
    s.close()


def test_event_from_another_connection_arrives_before_a_later_reply(host: Host) -> None:
    a, b = host.client(), host.client()
    a.watch("/local/domain", "dom")
    a.sync()
    assert a.events() == [("/local/domain", "dom")]
    for i in range(300):
        b.write(f"/local/domain/3/counter", str(i))
        a.sync()  # B's write has returned, so its event must already be here
        assert a.events() == [("/local/domain/3/counter", "dom")], i


def test_events_from_the_tree_thread_are_ordered_with_replies(host: Host) -> None:
    a = host.client()
    a.watch("@releaseDomain", "rel")
    a.watch("@introduceDomain", "intro")
    a.sync()
    a.events()
    host.tree.fire_special("@releaseDomain")
    host.tree.write("/local/domain/3/name", b"renamed")
    host.tree.fire_special("@introduceDomain")
    assert a.read("/local/domain/3/name") == b"renamed"
    assert a.events() == [("@releaseDomain", "rel"), ("@introduceDomain", "intro")]


def test_unwatch_and_reset_watches(host: Host) -> None:
    c = host.client()
    c.watch("/local", "a")
    c.watch("/vm", "b")
    c.unwatch("/local", "a")
    with pytest.raises(XsError) as ei:
        c.unwatch("/local", "a")
    assert ei.value.errno == "ENOENT"
    s = host.raw()
    s.sendall(xs.request(XsType.WATCH, "/local", "x", req_id=1))
    recv_msgs(s, 2)
    s.sendall(xs.encode(XsType.RESET_WATCHES, b"", req_id=2))
    (m,) = recv_msgs(s, 1)
    assert m.type == XsType.RESET_WATCHES and m.payload == b"OK\0"
    c.events()
    c.write("/local/x", b"1")
    c.write("/vm/x", b"1")
    c.sync()
    assert c.events() == [("/vm/x", "b")]
    s.settimeout(0.2)
    with pytest.raises(socket.timeout):  # the raw connection's watch is gone
        s.recv(100)
    s.close()


def test_introduce_and_release_fire_specials(host: Host) -> None:
    c = host.client()
    c.watch("@introduceDomain", "i")
    c.watch("@releaseDomain", "r")
    c.sync()
    c.events()
    s = host.raw()
    s.sendall(xs.request(XsType.INTRODUCE, "7", "1234", "5", req_id=1)
              + xs.request(XsType.RELEASE, "7", req_id=2))
    m1, m2 = recv_msgs(s, 2)
    assert (m1.type, m1.payload, m2.type, m2.payload) == (
        XsType.INTRODUCE, b"OK\0", XsType.RELEASE, b"OK\0")
    c.sync()
    assert c.events() == [("@introduceDomain", "i"), ("@releaseDomain", "r")]
    s.close()


def test_watch_limit_per_connection() -> None:
    h = Host()
    h.tree.max_watches = 4
    try:
        c = h.client()
        for i in range(4):
            c.watch(f"/w{i}", "t")
        with pytest.raises(XsError) as ei:
            c.watch("/w9", "t")
        assert ei.value.errno == "E2BIG"
        h.client().watch("/w9", "t")  # another connection has its own budget
    finally:
        h.close()


def test_slow_reader_is_dropped_without_blocking_others() -> None:
    h = Host(max_queue_bytes=64 * 1024)
    try:
        lazy = h.raw()
        lazy.sendall(xs.request(XsType.WATCH, "/", "all", req_id=1))
        assert lazy.recv(16)  # the WATCH was answered (or its first event sent): it is connected
        assert h.server.connections == 1
        busy = h.client()
        t0 = time.monotonic()
        for i in range(3000):  # ~0.2 MB of events for the watcher that never reads
            busy.write(f"/local/domain/1/k{i % 50}", b"x" * 20)
        assert time.monotonic() - t0 < 30
        deadline = time.monotonic() + 30
        while h.server.connections != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert h.server.connections == 1  # the lazy one is gone, the busy one stays
        assert busy.read("/local/domain/1/k0") == b"x" * 20
        lazy.close()
    finally:
        h.close()


# ---------------------------------------------------------------- transactions

def test_transactions_over_the_wire(host: Host) -> None:
    a, b = host.client(), host.client()
    tx = a.transaction_start()
    assert tx > 0
    assert a.read("/local/domain/3/name", tx) == b"web"
    a.write("/local/domain/3/name", b"inside", tx)
    assert b.read("/local/domain/3/name") == b"web"
    a.transaction_end(tx)
    assert b.read("/local/domain/3/name") == b"inside"

    tx = a.transaction_start()
    a.read("/local/domain/3/name", tx)
    b.write("/local/domain/3/name", b"conflict")
    a.write("/local/domain/3/name", b"lost", tx)
    with pytest.raises(XsError) as ei:
        a.transaction_end(tx)
    assert ei.value.errno == "EAGAIN"
    assert b.read("/local/domain/3/name") == b"conflict"

    with pytest.raises(XsError) as ei:  # another connection's transaction id is unknown here
        tx2 = a.transaction_start()
        b.read("/local/domain/3/name", tx2)
    assert ei.value.errno == "ENOENT"


# ---------------------------------------------------------------- read-only socket

def test_read_only_socket_refuses_changes(host: Host) -> None:
    ro = host.client(ro=True)
    assert ro.read("/local/domain/3/name") == b"web"
    assert ro.directory("/local/domain") == ["0", "3"]
    for op, args in ((ro.write, ("/local/domain/3/name", b"x")), (ro.mkdir, ("/new",)),
                     (ro.rm, ("/local/domain/3",)), (ro.set_perms, ("/local", ["n0"]))):
        with pytest.raises(XsError) as ei:
            op(*args)
        assert ei.value.errno == "EACCES", op
    s = host.raw(ro=True)
    s.sendall(xs.request(XsType.INTRODUCE, "7", "1", "2", req_id=1)
              + xs.request(XsType.RELEASE, "7", req_id=2))
    m1, m2 = recv_msgs(s, 2)
    assert xs.parse_error(m1.payload) == xs.parse_error(m2.payload) == "EACCES"
    s.close()
    ro.watch("/local/domain", "ro")  # watches are allowed
    tx = ro.transaction_start()  # and read-only transactions
    ro.read("/local/domain/3/name", tx)
    with pytest.raises(XsError):
        ro.write("/local/domain/3/name", b"x", tx)
    ro.transaction_end(tx)
    assert host.tree.read("/local/domain/3/name") == b"web"
    host.client().write("/local/domain/3/name", b"changed")
    ro.sync()
    assert ro.events() == [("/local/domain", "ro"), ("/local/domain/3/name", "ro")]


# ---------------------------------------------------------------- malformed input

def test_garbage_header_gets_e2big_then_close_and_others_keep_working(host: Host) -> None:
    good = host.client()
    bad = host.raw()
    bad.sendall(struct.pack("<IIII", 2, 77, 0, 0x7FFFFFFF) + b"junk")
    msgs = recv_until_eof(bad)
    assert [(m.type, m.req_id, xs.parse_error(m.payload)) for m in msgs] == [
        (XsType.ERROR, 77, "E2BIG")]
    bad.close()
    bad = host.raw()
    bad.sendall(os.urandom(1) + b"\xff" * 40)
    assert recv_until_eof(bad)[0].type == XsType.ERROR
    bad.close()
    assert good.read("/local/domain/3/name") == b"web"


def test_unknown_type_and_missing_nuls_get_einval_and_the_connection_stays(host: Host) -> None:
    s = host.raw()
    s.sendall(struct.pack("<IIII", 99, 1, 0, 2) + b"a\0"          # unknown type
              + xs.encode(XsType.READ, b"/local/domain/3/name", req_id=2)  # no NUL
              + xs.encode(XsType.WATCH, b"/only-path\0", req_id=3)  # token missing
              + xs.encode(XsType.WATCH_EVENT, b"/a\0t\0", req_id=4)  # reply-only type
              + xs.encode(20, b"", req_id=5)                         # removed XS_RESTRICT
              + xs.request(XsType.READ, "/local/domain/3/name", req_id=6))
    msgs = recv_msgs(s, 6)
    assert [(m.req_id, m.type) for m in msgs[:5]] == [(i, XsType.ERROR) for i in range(1, 6)]
    assert {xs.parse_error(m.payload) for m in msgs[:5]} == {"EINVAL"}
    assert (msgs[5].req_id, msgs[5].type, msgs[5].payload) == (6, XsType.READ, b"web")
    s.close()


def test_truncated_frame_then_eof(host: Host) -> None:
    other = host.client()
    s = host.raw()
    s.sendall(xs.request(XsType.READ, "/local/domain/3/name", req_id=8)[:-3])
    s.shutdown(socket.SHUT_WR)
    msgs = recv_until_eof(s)
    assert [(m.type, m.req_id) for m in msgs] == [(XsType.ERROR, 8)]
    s.close()
    s = host.raw()
    s.sendall(b"\x02\x00")  # not even a header
    s.shutdown(socket.SHUT_WR)
    assert [m.type for m in recv_until_eof(s)] == [XsType.ERROR]
    s.close()
    assert other.read("/local/domain/0/name") == b"Domain-0"
    deadline = time.monotonic() + 30  # the server reaps closed connections on its own threads
    while host.server.connections != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert host.server.connections == 1


def test_control_commands(host: Host) -> None:
    s = host.raw()
    s.sendall(xs.request(XsType.CONTROL, "print", "hello", req_id=1)
              + xs.request(XsType.CONTROL, "help", req_id=2)
              + xs.request(XsType.CONTROL, "no-such-command", req_id=3))
    m1, m2, m3 = recv_msgs(s, 3)
    assert (m1.type, m1.payload) == (XsType.CONTROL, b"OK\0")
    assert m2.type == XsType.CONTROL and b"print" in m2.payload
    assert xs.parse_error(m3.payload) == "EINVAL"
    s.close()


# ---------------------------------------------------------------- faults, counters, client

def test_xs_delay_fault_delays_each_reply(host: Host) -> None:
    c = host.client()
    c.read("/local/domain/3/name")
    host.faults.update(xs_delay=0.25)
    t0 = time.monotonic()
    c.read("/local/domain/3/name")
    c.read("/local/domain/0/name")
    assert time.monotonic() - t0 >= 0.5
    host.faults.update(xs_delay=0.0)
    assert host.faults.xs_delay == 0.0 and c.read("/local/domain/3/name")


def test_client_timeout_then_backoff_then_recovery(host: Host) -> None:
    c = host.client(timeout=0.2, backoff=(0.3, 5.0))
    host.faults.update(xs_delay=0.6)
    with pytest.raises(XsConnectionError) as ei:
        c.read("/local/domain/3/name")
    assert "within" in str(ei.value) and ei.value.code == ErrorCode.NO_XENSTORE
    host.faults.update(xs_delay=0.0)
    # the channel is marked failed: calls fail at once, without sending, until the back-off ends
    assert c.retry_in() > 0
    with pytest.raises(XsConnectionError) as ei:
        c.read("/local/domain/3/name")
    assert "not retried for another" in str(ei.value)
    assert c.counts() == {"READ": 1}
    while c.retry_in() > 0:
        time.sleep(0.05)
    assert c.read("/local/domain/3/name") == b"web"  # a fresh connection, no stale reply
    assert c.reconnects == 1 and c.counts() == {"READ": 2} and c.failures == 0


def test_counters_agree_with_the_client(host: Host) -> None:
    c = host.client()
    host.counters.reset()
    c.read("/local/domain/3/name")
    c.read("/local/domain/0/name")
    with pytest.raises(XsNoEntError):
        c.read("/missing")
    c.write("/x", b"1")
    c.directory("/local/domain")
    c.watch("/x", "t")
    c.sync()
    s = host.raw()
    s.sendall(struct.pack("<IIII", 99, 1, 0, 0))
    recv_msgs(s, 1)
    s.close()
    expected = {"READ": 3, "WRITE": 1, "DIRECTORY": 1, "WATCH": 1, "GET_DOMAIN_PATH": 1}
    assert c.counts() == expected
    snap = host.counters.snapshot()["xenstore"]
    assert snap == {**expected, "UNKNOWN": 1}


def test_client_reconnects_and_rewatches_after_a_server_restart() -> None:
    h = Host()
    try:
        c = h.client()
        c.watch("/local/domain", "dom")
        c.sync()
        assert c.events() == [("/local/domain", "dom")]
        h.server.stop()
        with pytest.raises(XsConnectionError):
            c.read("/local")
        with pytest.raises(XsConnectionError):  # still down: a clear error, not OSError
            c.read("/local")
        h.server = XenstoredServer(h.tree, h.rw, h.ro, counters=h.counters).start()
        h.tree.write("/local/domain/5/name", b"n")
        assert c.read("/local/domain/5/name") == b"n"
        c.sync()
        # the watch was registered again; its immediate firing tells the caller to re-read
        assert c.events() == [("/local/domain", "dom")]
        h.tree.write("/local/domain/5/name", b"m")
        c.sync()
        assert c.events() == [("/local/domain/5/name", "dom")]
        assert c.counts()["WATCH"] == 2
    finally:
        h.close()


def test_restart_while_idle_is_transparent_to_the_next_call() -> None:
    h = Host()
    try:
        h.tree.write("/local/domain/1/name", b"a")
        c = h.client()
        c.watch("@releaseDomain", "rel")
        assert c.read("/local/domain/1/name") == b"a"
        h.server.stop()
        h.server = XenstoredServer(h.tree, h.rw, h.ro, counters=h.counters).start()
        assert c.read("/local/domain/1/name") == b"a"  # unsent on the dead socket: retried
        assert c.reconnects == 1
        c.sync()
        assert c.events() == [("@releaseDomain", "rel"), ("@releaseDomain", "rel")]
        assert c.counts() == {"WATCH": 2, "READ": 2, "GET_DOMAIN_PATH": 1}
    finally:
        h.close()


def test_reconnect_to_a_server_that_turns_connections_away_fails_cleanly() -> None:
    h = Host(max_connections=1)
    try:
        b = h.client()
        b.watch("/local", "w")  # b holds the only slot
        h.server.stop()
        h.server = XenstoredServer(h.tree, h.rw, h.ro, max_connections=1).start()
        a = h.client()
        a.read("/")  # now a holds it; the server accepts b and closes it at once
        for _ in range(3):
            with pytest.raises(XsConnectionError):
                b.read("/local")
        assert a.read("/") == b""
    finally:
        h.close()


def test_unencodable_path_is_einval_not_a_unicode_error(host: Host) -> None:
    c = host.client()
    for op in (c.read, c.directory, c.rm):
        with pytest.raises(XsError) as ei:
            op("/bad\ud800")
        assert ei.value.errno == "EINVAL"
    with pytest.raises(XsError) as ei:
        c.read("/local\0/x")  # an embedded NUL: xenstored sees two strings
    assert ei.value.errno == "EINVAL"


def test_client_is_thread_safe(host: Host) -> None:
    c = host.client()
    errors = []

    def worker(n: int) -> None:
        try:
            for i in range(150):
                c.write(f"/t/{n}/{i}", str(i))
                assert c.read(f"/t/{n}/{i}") == str(i).encode()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert c.counts() == {"WRITE": 600, "READ": 600}


def test_closed_client_refuses_and_stop_closes_connections(host: Host) -> None:
    c = host.client()
    c.read("/local")
    c.close()
    with pytest.raises(XsConnectionError):
        c.read("/local")
    s = host.raw()
    time.sleep(0.05)
    host.server.stop()
    assert s.recv(10) == b""  # the server closed it
    s.close()
