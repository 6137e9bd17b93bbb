"""A crashed simulated host does not look alive, and a damaged domain table never crashes a
reader (issue 12, item 6)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid

import pytest

import xvirt
from xvirt.errors import NoConnectError, XenCallError
from xvirt.protocol import domtable as dt
from xvirt.sim import daemon
from xvirt.sim.hypervisor import DomainTableWriter
from xvirt.transport.hypervisor import DomainTableReader


def _fields(k: int) -> dict:
    return {"flags": dt.RUNNING, "tot_pages": 256, "max_pages": 256, "cpu_time": 0,
            "cpu_stamp_ns": 1, "cpu_rate_milli": 500, "online_vcpus": 1, "max_vcpu_id": 0,
            "handle": uuid.UUID(int=k + 1).bytes}


def test_a_killed_host_is_not_alive_and_shows_no_live_records():
    root = tempfile.mkdtemp(prefix="xvk")
    try:
        daemon.start("killed", root=root, domains=4, latency_ms=0)
        pid = int(open(daemon.SimPaths(root).pidfile).read())
        conn = xvirt.open(daemon.sim_uri("killed", root))
        dom = conn.lookup_by_id(1)
        assert conn.is_alive() and len(conn.list_domain_ids()) == 5
        assert dom.info().cpu_time_ns >= 0
        os.kill(pid, signal.SIGKILL)       # the simulator this test started, by its pid
        os.waitpid(pid, 0)                 # dead and reaped: its lock on the table is gone
        assert conn.is_alive() is False
        for call in (conn.list_domain_ids, dom.info, lambda: conn.get_all_domain_stats()):
            with pytest.raises(NoConnectError) as ei:
                call()
            assert "gone" in str(ei.value) or "XenD" in str(ei.value)
        reader = DomainTableReader(daemon.SimPaths(root).domtable)
        assert reader.is_alive() is False
        with pytest.raises(NoConnectError, match="crashed or killed"):
            reader.snapshot()               # no cpu time extrapolated from a dead table
        reader.close()
        conn.close()
    finally:
        daemon.stop("killed", root=root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def live_table(tmp_path):
    path = str(tmp_path / "domtable")
    w = DomainTableWriter(path, host_cpus=2)
    for i in (0, 1, 2):
        w.upsert(i, **_fields(i))
    r = DomainTableReader(path)
    yield w, r, path
    r.close()
    w.close()


@pytest.mark.parametrize("size", [0, 10, dt.HEADER_SIZE, dt.HEADER_SIZE + 80, dt.FILE_SIZE - 1])
def test_a_truncated_table_is_a_clear_error_not_sigbus(live_table, size):
    w, r, path = live_table
    assert r.list_ids() == [0, 1, 2] and r.is_alive()
    os.truncate(path, size)
    calls = (r.list_ids, r.snapshot, lambda: r.info(1), lambda: r.find_handle(b"x" * 16),
             r.physinfo, r.boot_id)
    for call in calls:
        with pytest.raises(XenCallError, match="truncated"):
            call()
    assert r.is_alive() is False
    with pytest.raises(XenCallError, match="truncated"):
        DomainTableReader(path)             # a new reader refuses to map it at all
    os.truncate(path, dt.TOTAL_SIZE)         # grown back with zeros: whatever is left is read
    if size < dt.HEADER_SIZE:                # or refused, never a crash
        with pytest.raises(XenCallError, match="not an xvirt domain table"):
            r.list_ids()
    else:                                    # the header survived: records read as they are
        assert len(r.list_ids()) == 3


def test_a_corrupt_header_from_a_live_publisher_is_a_clear_error(live_table):
    w, r, path = live_table
    with open(path, "r+b") as f:
        f.write(b"JUNK")
    with pytest.raises(XenCallError, match="not an xvirt domain table"):
        r.list_ids()


def test_a_publisher_that_died_mid_update_is_gone_not_stuck(tmp_path):
    path = str(tmp_path / "domtable")
    w = DomainTableWriter(path, host_cpus=2)
    w.upsert(1, **_fields(1))
    r = DomainTableReader(path)
    w._begin()            # sequence left odd ...
    w._release()          # ... and the process died
    with pytest.raises(NoConnectError, match="crashed or killed"):
        r.list_ids()
    r.close()


def test_a_second_publisher_of_a_live_table_is_refused(live_table):
    _, r, path = live_table
    with pytest.raises(RuntimeError, match="another live process"):
        DomainTableWriter(path, host_cpus=2)
    assert r.list_ids() == [0, 1, 2]
