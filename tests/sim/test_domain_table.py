"""The domain table a running simulated host publishes, read from this (another) process."""

from __future__ import annotations

import threading
import time
import uuid as uuidlib

import pytest

from xvirt.errors import NoConnectError
from xvirt.protocol import domtable as dt
from xvirt.protocol import sxp
from xvirt.sim import daemon
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient
from xvirt.transport.xenstore import XenstoreClient


def cfg(name: str, memory: int = 64) -> str:
    return f"(vm (name {name}) (uuid {uuidlib.uuid4()}) (memory {memory}) (vcpus 1))"


def seq_of(path: str) -> int:
    with open(path, "rb") as f:
        return dt.unpack_header(f.read(dt.HEADER_SIZE)).seq


@pytest.fixture
def reader(simhost):
    r = DomainTableReader(simhost.paths.domtable)
    yield r
    r.close()


@pytest.mark.simhost(domains=20, host_cpus=4)
def test_table_matches_the_hosts_truth(simhost, reader):
    truth = simhost.control.truth()
    snap = reader.snapshot()
    assert [i.domid for i in snap] == [d["domid"] for d in truth["running"]] == reader.list_ids()
    assert len(snap) == 21 and snap[0].domid == 0
    assert reader.host_cpus() == truth["host_cpus"] == 4
    for info, d in zip(snap, truth["running"]):
        assert info.uuid == d["uuid"]
        assert info.flags == d["flags"], d["name"]
        assert info.memory_kib == d["memory_kib"] and info.max_memory_kib == d["maxmem_kib"]
        assert info.online_vcpus == d["vcpus"] and info.max_vcpu_id == d["max_vcpus"] - 1
        assert info.cpu_time >= d["cpu_ns"]               # read later, never behind
        assert info.cpu_time - d["cpu_ns"] < 5 * 10**9
    dom0 = snap[0]
    assert dom0.uuid == "00000000-0000-0000-0000-000000000000" and dom0.flags & dt.RUNNING
    assert dom0.online_vcpus == 4
    # the seed pauses a few guests and leaves most blocked, as a real host looks
    states = [i.state for i in snap[1:]]
    assert states.count(3) == 2 and states.count(2) >= 10
    # XenD's records agree on ids and UUIDs
    x = XendClient(simhost.paths.xend)
    for rec in x.get("/xend/domain", detail=1):
        info = reader.info(int(sxp.child_value(rec, "domid")))
        assert info is not None and info.uuid == sxp.child_value(rec, "uuid")


@pytest.mark.simhost(domains=20)
def test_cpu_time_advances_without_rewriting_the_table(simhost, reader):
    path = simhost.paths.domtable
    simhost.control.settle()
    seq = seq_of(path)
    first = {i.domid: i for i in reader.snapshot()}
    time.sleep(0.1)
    second = {i.domid: i for i in reader.snapshot()}
    assert seq_of(path) == seq, "the simulator rewrote the table although nothing changed"
    assert first.keys() == second.keys()
    for domid, a in first.items():
        b = second[domid]
        if a.flags & dt.PAUSED:
            assert b.cpu_time == a.cpu_time, domid
        else:
            assert b.cpu_time > a.cpu_time, domid
    assert second[0].cpu_time - first[0].cpu_time >= 10_000_000   # dom0 uses 0.15 CPU: >= 10 ms


@pytest.mark.simhost(domains=2)
def test_restarted_domain_has_two_records_briefly_and_the_live_one_wins(simhost, reader):
    ctl = simhost.control
    ctl.call("settings", set={"guest_delay": 0.01, "dying_delay": 1.5})
    x = XendClient(simhost.paths.xend)
    rec = x.post("/xend/domain/", "create", config=cfg("twin"))
    old, u = int(sxp.child_value(rec, "domid")), sxp.child_value(rec, "uuid")
    x.post("/xend/domain/twin", "unpause")
    x.post("/xend/domain/twin", "shutdown", reason="reboot")
    deadline = time.monotonic() + 3
    while not any(d["name"] == "twin" and d["domid"] != old for d in ctl.truth()["running"]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    handle = uuidlib.UUID(u).bytes
    with_handle = [i for i in reader.snapshot() if i.handle == handle]
    assert len(with_handle) == 2
    dying = [i for i in with_handle if i.flags & dt.DYING]
    assert [i.domid for i in dying] == [old]
    new = reader.find_handle(handle)
    assert new.domid != old and not new.flags & dt.DYING and new.domid > old
    ctl.settle()
    assert [i.domid for i in reader.snapshot() if i.handle == handle] == [new.domid]


@pytest.mark.simhost(domains=2)
def test_a_live_record_always_has_its_xenstore_name(simhost, reader):
    """The host writes a new domain's xenstore nodes before its table record appears."""
    x = XendClient(simhost.paths.xend)
    done = threading.Event()
    created: list[int] = []

    def churn():
        try:
            for i in range(60):
                rec = x.post("/xend/domain/", "create", config=cfg(f"order{i}"))
                created.append(int(sxp.child_value(rec, "domid")))
        finally:
            done.set()

    t = threading.Thread(target=churn)
    t.start()
    checked: set[int] = set()
    with XenstoreClient(simhost.paths.xenstored) as xs:
        while not done.is_set() or len(checked) < len(created) + 3:
            for domid in reader.list_ids():
                if domid not in checked:
                    assert xs.read(f"/local/domain/{domid}/name")   # never ENOENT
                    checked.add(domid)
            if done.is_set() and set(created) <= checked:
                break
    t.join()
    assert set(created) <= checked and len(created) == 60


def test_reader_mapped_before_a_restart_sees_the_new_boot(tmp_path):
    root = str(tmp_path / "h")
    try:
        daemon.start("tb", root=root, domains=3, latency_ms=0)
        r = DomainTableReader(daemon.SimPaths(root).domtable)
        boot1 = r.boot_id()
        x = XendClient(daemon.SimPaths(root).xend)
        x.post("/xend/domain/", "create", config=cfg("transient"))
        ids1 = r.list_ids()
        assert len(ids1) == 5
        daemon.stop("tb", root=root)
        with pytest.raises(NoConnectError):
            r.list_ids()
        with pytest.raises(NoConnectError):
            r.info(0)
        daemon.start("tb", root=root, domains=3, latency_ms=0)
        assert r.boot_id() != boot1
        ids2 = r.list_ids()                 # the same mapping, the new boot's records
        assert ids2 == [0, 1, 2, 3]         # the transient domain died with the host
        assert r.info(0).flags & dt.RUNNING
        assert r.snapshot()[1].uuid == ids_uuid(root, 1)
        r.close()
    finally:
        daemon.stop("tb", root=root)


def ids_uuid(root: str, domid: int) -> str:
    rec = XendClient(daemon.SimPaths(root).xend).get(f"/xend/domain/{domid}")
    return sxp.child_value(rec, "uuid")
