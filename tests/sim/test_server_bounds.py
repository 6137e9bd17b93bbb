"""Bounds of the simulated servers (issue 12, items 4 and 7): idle and slow connections cannot
shut other clients out of xenstored or XenD, and a xenstored connection has a memory quota."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time

import pytest

from xvirt.errors import XendError
from xvirt.protocol.xenstore import XsError
from xvirt.sim.xenstore_tree import XenstoreTree
from xvirt.sim.xenstored import XenstoredServer
from xvirt.transport.xenstore import XenstoreClient, XsConnectionError


def wait_for(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


class Xenstored:
    def __init__(self, **kw) -> None:
        self.dir = tempfile.mkdtemp(prefix="xvb-")
        self.rw = os.path.join(self.dir, "rw.sock")
        self.tree = XenstoreTree()
        self.tree.write("/local/domain/0/name", b"Domain-0")
        self.server = XenstoredServer(self.tree, self.rw, os.path.join(self.dir, "ro.sock"), **kw)
        self.server.start()
        self.socks: list[socket.socket] = []

    def idle_client(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.rw)
        self.socks.append(s)
        return s

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def xsd(request):
    servers = []

    def make(**kw) -> Xenstored:
        servers.append(Xenstored(**kw))
        return servers[-1]
    yield make
    for s in servers:
        s.close()


# ------------------------------------------------------------------ xenstored: idle connections

def test_idle_connections_do_not_lock_a_fresh_client_out(xsd):
    """512 idle connections (scaled down to 64: the same mechanism) fill every slot; a fresh
    client is still served, taking the slot of the connection idle longest."""
    # evict_idle starts out of reach, so that however slowly the 64 connect (a busy machine) none
    # of them makes another leave: all 64 hold a slot, then the server's eviction age drops
    h = xsd(max_connections=64, reserve=4, evict_idle=3600, idle_timeout=600)
    for _ in range(64):
        h.idle_client()
    assert wait_for(lambda: h.server.connections == 64)
    assert h.server.evicted == 0 and h.server.refused == 0
    h.server.evict_idle = 0.2
    time.sleep(0.3)  # every one of them is now idle for longer than evict_idle
    fresh = [XenstoreClient(h.rw, timeout=5) for _ in range(10)]
    for c in fresh:                                  # kept open: each needs a slot of its own
        assert c.read("/local/domain/0/name") == b"Domain-0"
    assert h.server.evicted == 10 and h.server.refused == 0
    assert wait_for(lambda: h.server.connections == 64)
    for c in fresh:
        assert c.read("/local/domain/0/name") == b"Domain-0" and c.reconnects == 0
        c.close()


def test_when_every_connection_is_busy_a_new_one_is_refused_at_once(xsd):
    h = xsd(max_connections=8, reserve=2, evict_idle=3600, idle_timeout=600)
    for _ in range(8):
        h.idle_client()
    assert wait_for(lambda: h.server.connections == 8)
    c = XenstoreClient(h.rw, timeout=30)
    with pytest.raises(XsConnectionError) as ei:   # EOF at once, not a 30 s wait
        c.read("/local/domain/0/name")
    assert "may be refusing clients" in str(ei.value) and c.retry_in() == 0
    assert h.server.refused == 1 and h.server.evicted == 0
    c.close()


def test_a_silent_connection_is_closed_after_the_idle_timeout(xsd):
    h = xsd(idle_timeout=0.3)
    s = h.idle_client()
    s.settimeout(10)
    assert s.recv(16) == b""                        # closed by the server
    assert h.server.timed_out == 1
    c = XenstoreClient(h.rw, timeout=5)
    c.watch("/local/domain", "w")
    assert wait_for(lambda: h.server.timed_out == 2)  # idle clients too; the next call reconnects
    assert c.read("/local/domain/0/name") == b"Domain-0"
    c.sync()
    assert ("/local/domain", "w") in c.events()      # the watch was registered again
    assert c.reconnects == 1
    c.close()


# ------------------------------------------------------------------ xenstored: memory quota

def test_a_connection_cannot_write_beyond_its_quota(xsd):
    h = xsd(quota_bytes=64 * 1024)
    c = XenstoreClient(h.rw, timeout=5)
    value = b"v" * 4000
    written = 0
    with pytest.raises(XsError) as ei:
        for i in range(1000):
            c.write(f"/data/{i:04d}", value)
            written += 1
    assert ei.value.errno == "ENOSPC"
    per_node = len("/data/0000") + 4000
    assert written == 64 * 1024 // per_node
    assert len(h.tree.directory("/data")) == written       # the refused write changed nothing
    assert c.read("/data/0000") == value                    # still usable
    other = XenstoreClient(h.rw, timeout=5)                 # others have their own quota
    other.write("/other/x", value)
    c.rm("/data/0000")                                      # removing frees quota
    c.write("/data/again", value)
    with pytest.raises(XsError):
        c.write("/data/more", value)
    h.tree.rm("/data/0001")                                 # removed by someone else: counted
    c.write("/data/more", value)                            # again once the quota is checked
    c.close()
    other.close()


# ------------------------------------------------------------------ XenD: slow connections

class Xend:
    def __init__(self, tmp_path, **kw) -> None:
        from xvirt.sim.host import Host, HostSettings
        from xvirt.sim.hypervisor import DomainTableWriter
        from xvirt.sim.store import ConfigStore, SaveArea
        from xvirt.sim.xend_server import XendServer
        self.dir = tempfile.mkdtemp(prefix="xvbx-")
        self.path = os.path.join(self.dir, "xend.sock")
        self.table = DomainTableWriter(str(tmp_path / "domtable"), host_cpus=2)
        self.host = Host(HostSettings(), tree=XenstoreTree(), table=self.table,
                         store=ConfigStore(str(tmp_path / "managed")),
                         save_area=SaveArea(str(tmp_path / "save")))
        self.server = XendServer(self.host, self.path, **kw).start()
        self.socks: list[socket.socket] = []

    def slow_client(self) -> socket.socket:
        """Starts a request and then goes quiet (the slowloris pattern)."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.path)
        s.sendall(b"GET /xend/node/ HTTP/1.1\r\nHost: x\r\n")
        self.socks.append(s)
        return s

    def client(self, timeout: float = 10.0):
        from xvirt.transport.xend import XendClient
        return XendClient(self.path, timeout=timeout)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.server.stop()
        self.host.close()
        self.table.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def xend(tmp_path):
    servers = []

    def make(**kw) -> Xend:
        servers.append(Xend(tmp_path / str(len(servers)), **kw))
        return servers[-1]
    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    yield make
    for s in servers:
        s.close()


def test_a_request_dripped_slowly_gets_408_within_the_request_deadline(xend):
    """A client that keeps dripping bytes of a request it never completes (one byte every 0.1 s,
    far inside the idle timeout) is answered 408 by the request deadline, whatever the machine's
    load: the request never becomes whole, so only that deadline can end the exchange."""
    h = xend(request_timeout=0.5, idle_timeout=30)
    s = socket.socket(socket.AF_UNIX)
    s.connect(h.path)
    s.settimeout(10)
    head = b"GET /xend/node/ HTTP/1.1\r\nHost: x\r\nX-Drip: "   # the header never ends
    s.sendall(head[:1])
    reply, sent = b"", 1
    safety = time.monotonic() + 30                       # a bound on the test, not on the server
    while not reply and time.monotonic() < safety:
        try:
            s.sendall(head[sent:sent + 1] if sent < len(head) else b"a")
            sent += 1
        except OSError:                                  # the server answered and closed
            break
        time.sleep(0.1)
        s.setblocking(False)
        try:
            reply += s.recv(65536)
        except BlockingIOError:
            pass
        finally:
            s.setblocking(True)
    s.settimeout(10)
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:                           # never answered: reported below
            break
        if not chunk:
            break
        reply += chunk
    s.close()
    assert reply.startswith(b"HTTP/1.1 408"), ("a request still dripping after the request "
                                               "deadline must get 408", sent, reply[:40])
    assert h.server.timed_out == 1


def test_slow_connections_do_not_lock_fresh_clients_out(xend):
    """1024 slow connections (scaled down to 64: the same mechanism) hold every slot; fresh
    clients are served, each taking the slot of the connection that has waited longest."""
    h = xend(max_connections=64, reserve=4, evict_idle=0.2)
    for _ in range(64):
        h.slow_client()
    assert wait_for(lambda: len(h.server._conns) == 64)
    time.sleep(0.3)
    c = h.client()
    for _ in range(10):
        assert c.get("/xend/node/")[0] == "node"
    # each fresh client that found fewer than `reserve` slots free evicted one slow connection
    assert 1 <= h.server.evicted <= 10 and h.server.refused == 0
    oldest = h.socks[0]                               # the first slow client was evicted first
    oldest.settimeout(5)
    assert oldest.recv(100) == b""


def test_when_every_slot_is_busy_a_fresh_client_gets_503_at_once(xend):
    h = xend(max_connections=8, reserve=2, evict_idle=3600)
    for _ in range(8):
        h.slow_client()
    assert wait_for(lambda: len(h.server._conns) == 8)
    with pytest.raises(XendError) as ei:
        h.client(timeout=60).get("/xend/node/")
    assert "503" in str(ei.value)
    assert h.server.refused == 1


def test_reconnecting_does_not_get_round_the_quota(xsd):
    h = xsd(quota_bytes=64 * 1024, max_client_bytes=128 * 1024)
    value = b"v" * 4000
    per_node = len("/c0/0000") + 4000
    written = []
    for k in range(3):                      # three connections in turn, each to its own quota
        c = XenstoreClient(h.rw, timeout=5)
        n = 0
        with pytest.raises(XsError) as ei:
            for i in range(100):
                c.write(f"/c{k}/{i:04d}", value)
                n += 1
        assert ei.value.errno == "ENOSPC"
        written.append(n)
        c.close()
    # the first two filled their own quota; the third only what the clients' total left
    assert written[:2] == [64 * 1024 // per_node] * 2
    assert written[2] == (128 * 1024 - 2 * written[0] * per_node) // per_node
    h.tree.rm("/c0")                         # the gone client's nodes removed: room again
    c = XenstoreClient(h.rw, timeout=5)
    for i in range(written[0]):
        c.write(f"/c3/{i:04d}", value)
    c.close()
