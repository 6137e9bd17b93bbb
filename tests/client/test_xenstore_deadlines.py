"""The xenstore client against hostile servers (issue 12, item 3): one deadline for a whole
request however the peer spreads its bytes, a failed channel left alone until its back-off ends,
the driver falling back to XenD meanwhile; and the xenbus character device as a channel."""

from __future__ import annotations

import os
import pty
import threading
import time
import tty

import pytest

import xvirt
from xvirt.errors import ErrorCode, XenstoreError
from xvirt.protocol import xenstore as xs
from xvirt.protocol.xenstore import XsProtocolError
from xvirt.transport.xenstore import XenstoreClient, XsConnectionError

from .hostile import HostileXenstored


@pytest.fixture
def hostile(request):
    servers = []

    def make(mode: str, **kw) -> HostileXenstored:
        s = HostileXenstored(mode, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def test_a_flood_of_watch_events_does_not_hold_a_request(hostile):
    srv = hostile("flood")
    c = XenstoreClient(srv.path, timeout=0.5, max_events=1000)
    with pytest.raises(XsConnectionError) as ei:
        c.read("/local/domain/1/name")
    assert "did not answer READ within 0.5s" in str(ei.value)
    assert ei.value.code == ErrorCode.NO_XENSTORE
    assert c.events_lost > 0            # it was flooded, and gave up while the flood went on
    c.close()
    assert wait_for(lambda: srv.hung_up_early == 1)   # the client hung up on a live flood


def wait_for(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def test_a_reply_dripped_a_byte_at_a_time_misses_the_deadline(hostile):
    srv = hostile("drip", interval=0.3)   # 16 + 5 bytes: the whole reply would take 6 s
    c = XenstoreClient(srv.path, timeout=0.5)
    with pytest.raises(XsConnectionError) as ei:
        c.read("/local/domain/1/name")
    assert "within 0.5s" in str(ei.value)
    c.close()
    assert wait_for(lambda: srv.hung_up_early == 1)
    assert 0 < srv.sent < 21


def test_a_silent_server_costs_one_deadline_then_calls_fail_at_once(hostile):
    srv = hostile("silent")
    c = XenstoreClient(srv.path, timeout=0.3, backoff=(30.0, 60.0))
    errors = []
    for domid in range(21):
        with pytest.raises(XsConnectionError) as ei:
            c.read(f"/local/domain/{domid}/name")
        errors.append(str(ei.value))
    assert "within 0.3s" in errors[0]
    assert all("not retried for another" in e for e in errors[1:])
    assert c.counts() == {"READ": 1} and srv.requests == 1 and srv.connections == 1
    assert c.retry_in() > 0
    c.close()


def test_back_off_doubles_then_a_probe_that_works_resets_it(hostile):
    srv = hostile("silent")
    c = XenstoreClient(srv.path, timeout=0.2, backoff=(0.2, 0.5))
    for attempt in range(3):
        with pytest.raises(XsConnectionError):
            c.read("/x")
        assert c.failures == attempt + 1
        assert c.retry_in() <= min(0.5, 0.2 * 2 ** attempt)
        while c.retry_in() > 0:
            threading.Event().wait(0.05)
    assert srv.requests == 3 and srv.connections == 3   # one probe per back-off, no more
    good = hostile("honest")
    c.path = good.path                                      # the service comes back
    assert c.get_domain_path(0) == "/local/domain/0"
    assert c.failures == 0 and c.retry_in() == 0
    c.close()


def test_driver_falls_back_to_xend_when_xenstored_is_silent(simhost, hostile):
    srv = hostile("silent")
    truth = {d["name"] for d in simhost.control.truth()["running"]}
    with xvirt.open(simhost.uri) as conn:
        drv = conn._driver
        drv.xs.close()
        drv.xs = XenstoreClient(srv.path, timeout=0.3, backoff=(30.0, 60.0))
        for _ in range(3):
            assert {d.name for d in conn.list_all_domains(1)} == truth   # 1: active
            for name in truth:
                assert conn.lookup_by_name(name).name == name
    assert srv.requests == 1   # the first request timed out; the rest never reached it


def test_transaction_start_with_a_bad_reply_is_a_xenstore_error(hostile):
    srv = hostile("bad_tx")
    c = XenstoreClient(srv.path, timeout=2)
    with pytest.raises(XenstoreError) as ei:
        c.transaction_start()
    assert isinstance(ei.value, XsProtocolError) and not isinstance(ei.value, ValueError)
    assert "TRANSACTION_START" in str(ei.value)
    assert c.get_domain_path(3) == "/local/domain/0"   # the connection itself is fine
    c.close()


# ------------------------------------------------------------------ the xenbus character device

class PtyXenbus:
    """A pseudo-terminal in raw mode stands in for /dev/xen/xenbus: a character device that
    carries the bytes unchanged. The far end answers READ and WATCH with the shared codec."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.values = {"/local/domain/0/name": b"Domain-0"}
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        import select
        dec = xs.Decoder()
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                dec.feed(os.read(self.master, 65536))
            except OSError:
                return
            for m in dec:
                self.seen.append(m.type_name)
                if m.type == xs.XsType.READ:
                    path = m.payload.rstrip(b"\0").decode()
                    out = (xs.encode(m.type, self.values[path], m.req_id) if path in self.values
                           else xs.error_reply("ENOENT", m.req_id))
                elif m.type == xs.XsType.WATCH:
                    path, token = xs.parse_request(m.type, m.payload)
                    out = xs.ok_reply(m.type, m.req_id) + xs.watch_event(path, token)
                else:
                    out = xs.error_reply("ENOSYS", m.req_id)
                os.write(self.master, out)

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        os.close(self.master)
        os.close(self.slave)


def test_client_speaks_the_same_protocol_over_a_character_device():
    dev = PtyXenbus()
    try:
        c = XenstoreClient(dev.path, timeout=2)
        assert c.read("/local/domain/0/name") == b"Domain-0"
        with pytest.raises(xs.XsNoEntError):
            c.read("/local/domain/7/name")
        c.watch("/local/domain", "t")
        with pytest.raises(xs.XsError) as ei:
            c.get_domain_path(1)
        assert ei.value.errno == "ENOSYS"
        assert c.events() == [("/local/domain", "t")]
        assert dev.seen == ["READ", "READ", "WATCH", "GET_DOMAIN_PATH"]
        assert c.counts() == {"READ": 2, "WATCH": 1, "GET_DOMAIN_PATH": 1}
        c.close()
    finally:
        dev.close()


def test_a_silent_character_device_misses_the_deadline_too():
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        c = XenstoreClient(os.ttyname(slave), timeout=0.3)
        with pytest.raises(XsConnectionError) as ei:
            c.read("/x")
        assert "within 0.3s" in str(ei.value)
        c.close()
    finally:
        os.close(master)
        os.close(slave)


# ------------------------------------------------------------------ XenD: the same discipline

def test_a_silent_xend_costs_one_deadline_then_calls_fail_at_once():
    from xvirt.errors import NoConnectError
    from xvirt.transport.xend import XendClient

    from .hostile import HostileXend, SilentXend
    srv = SilentXend()
    try:
        c = XendClient(srv.path, timeout=0.3, backoff=(0.3, 60.0))
        errors = []
        for _ in range(5):
            with pytest.raises(NoConnectError) as ei:
                c.get("/xend/node/")
            errors.append(str(ei.value))
        assert "no reply within 0.3 s" in errors[0]
        assert all("not retried for another" in e for e in errors[1:])
        assert srv.connections == 1 and c.total() == 1 and c.failures == 1
        good = HostileXend(b"(node (nr_cpus 2))")
        try:
            c.address = good.path          # the service comes back: probed after the back-off
            assert wait_for(lambda: c.retry_in() == 0)
            assert c.get("/xend/node/") == ["node", ["nr_cpus", "2"]]
            assert c.failures == 0 and good.requests == 1
        finally:
            good.close()
    finally:
        srv.close()
