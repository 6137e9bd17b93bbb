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
    h = xsd(max_connections=64, reserve=4, evict_idle=0.2, idle_timeout=600)
    for _ in range(64):
        h.idle_client()
    assert wait_for(lambda: h.server.connections >= 60)
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
    assert ("closed the connection" in str(ei.value) or "reset" in str(ei.value)) and c.retry_in() == 0
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
