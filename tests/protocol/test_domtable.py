"""The hypervisor domain table: layout codec, and the writer/reader pair over a shared file.

The writer (``xvirt.sim.hypervisor.DomainTableWriter``) and the reader
(``xvirt.transport.hypervisor.DomainTableReader``) are exercised here without a simulator
process; tests/sim/test_domain_table.py checks the table a running simulated host publishes.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xvirt.errors import NoConnectError, XenCallError
from xvirt.protocol import domtable as dt
from xvirt.sim.hypervisor import DomainTableWriter
from xvirt.transport import hypervisor as hv
from xvirt.transport.hypervisor import DomainTableReader

U64 = st.integers(0, 2**64 - 1)
U32 = st.integers(0, 2**32 - 1)


def fields(k: int = 0, *, flags: int = dt.BLOCKED, rate: int = 0, stamp: int = 0,
           handle: bytes | None = None) -> dict:
    """Record fields for DomainTableWriter.upsert / domtable.pack_record (domid excluded)."""
    return {"flags": flags, "tot_pages": 256 * (k + 1), "max_pages": 512 * (k + 1), "cpu_time": k,
            "cpu_stamp_ns": stamp, "cpu_rate_milli": rate, "online_vcpus": 1, "max_vcpu_id": 1,
            "handle": handle if handle is not None else uuid.UUID(int=k + 1).bytes}


@pytest.fixture
def table(tmp_path):
    path = str(tmp_path / "domtable")
    w = DomainTableWriter(path, host_cpus=4)
    r = DomainTableReader(path)
    yield w, r, path
    r.close()
    w.close()


# ------------------------------------------------------------------ layout codec

def test_sizes_match_the_documented_layout():
    assert dt.RECORD_SIZE == 80 and dt.RECORD.size == 80
    assert dt.HEADER.size <= dt.HEADER_SIZE == 64
    assert dt.CAPACITY == 0x7FF1  # ids 0..0x7FEF
    assert dt.FILE_SIZE == 64 + 0x7FF1 * 80
    # the handle sits where the reader's find_handle looks for it
    rec = dt.pack_record(domid=1, handle=b"H" * 16, **{k: v for k, v in fields().items() if k != "handle"})
    assert rec.index(b"H" * 16) == hv._HANDLE_OFF


def test_header_round_trip():
    boot = os.urandom(16)
    raw = dt.pack_header(seq=42, count=7, boot_id=boot, host_cpus=16, closed=True)
    assert len(raw) == dt.HEADER_SIZE
    h = dt.unpack_header(raw)
    assert (h.seq, h.count, h.capacity, h.record_size, h.boot_id, h.host_cpus, h.closed) == (
        42, 7, dt.CAPACITY, 80, boot, 16, True)
    assert struct.unpack_from("<Q", raw, dt.SEQ_OFFSET)[0] == 42
    assert dt.unpack_header(dt.pack_header(seq=0, count=0, boot_id=boot, host_cpus=1)).closed is False


def test_header_rejects_foreign_or_corrupt_data():
    good = bytearray(dt.pack_header(seq=2, count=1, boot_id=b"\0" * 16, host_cpus=1))
    bad_magic = b"XXXX" + bytes(good[4:])
    with pytest.raises(ValueError, match="not an xvirt domain table"):
        dt.unpack_header(bad_magic)
    bad_count = bytearray(good)
    struct.pack_into("<I", bad_count, 16, dt.CAPACITY + 1)
    with pytest.raises(ValueError, match="count"):
        dt.unpack_header(bytes(bad_count))
    with pytest.raises(ValueError):
        dt.unpack_header(bytes(64))


@settings(max_examples=200, deadline=None)
@given(domid=st.integers(0, 0xFFFF), flags=U32, tot=U64, maxp=U64, sif=U64, cpu=st.integers(0, 2**62),
       online=U32, maxid=U32, ssid=U32, handle=st.binary(min_size=16, max_size=16))
def test_record_round_trip(domid, flags, tot, maxp, sif, cpu, online, maxid, ssid, handle):
    raw = dt.pack_record(domid=domid, flags=flags, tot_pages=tot, max_pages=maxp, cpu_time=cpu,
                         cpu_stamp_ns=0, cpu_rate_milli=0, online_vcpus=online, max_vcpu_id=maxid,
                         handle=handle, ssidref=ssid, shared_info_frame=sif)
    assert len(raw) == dt.RECORD_SIZE
    info = dt.unpack_record(b"pad" + raw, 3, now_ns=10**12)
    assert info == dt.DomainInfo(domid, flags, tot, maxp, cpu, online, maxid, ssid, handle, sif)
    assert dt.unpack_records(raw * 3, 0) == [info] * 3


def test_domain_info_properties():
    u = uuid.uuid4()
    info = dt.unpack_record(dt.pack_record(domid=3, **fields(handle=u.bytes)), 0, 0)
    assert info.uuid == str(u)
    assert info.memory_kib == 256 * 4 and info.max_memory_kib == 512 * 4
    crashed = dt.SHUTDOWN | (dt.SHUTDOWN_CRASH << dt.SHUTDOWN_SHIFT)
    info = dt.unpack_record(dt.pack_record(domid=3, **fields(flags=crashed)), 0, 0)
    assert info.shutdown_code == dt.SHUTDOWN_CRASH and info.state == 6


def test_flag_bits_are_xen_dominf():
    assert (dt.DYING, dt.HVM, dt.SHUTDOWN, dt.PAUSED, dt.BLOCKED, dt.RUNNING) == (1, 2, 4, 8, 16, 32)
    assert dt.SHUTDOWN_SHIFT == 16
    assert (dt.SHUTDOWN_POWEROFF, dt.SHUTDOWN_REBOOT, dt.SHUTDOWN_SUSPEND, dt.SHUTDOWN_CRASH) == (0, 1, 2, 3)


@pytest.mark.parametrize("flags,state", [
    (0, 0),                                                           # NOSTATE
    (dt.RUNNING, 1),
    (dt.BLOCKED, 2),
    (dt.PAUSED, 3),
    (dt.PAUSED | dt.BLOCKED, 3),                                      # libvirt's exact match gave 0
    (dt.PAUSED | dt.RUNNING | dt.HVM, 3),
    (dt.DYING, 4),
    (dt.DYING | dt.PAUSED, 4),
    (dt.SHUTDOWN | (dt.SHUTDOWN_POWEROFF << 16), 5),
    (dt.SHUTDOWN | (dt.SHUTDOWN_REBOOT << 16), 5),
    (dt.SHUTDOWN | (dt.SHUTDOWN_SUSPEND << 16) | dt.DYING, 5),
    (dt.SHUTDOWN | (dt.SHUTDOWN_CRASH << 16), 6),
    (dt.SHUTDOWN | (dt.SHUTDOWN_CRASH << 16) | dt.DYING | dt.PAUSED, 6),
    (dt.HVM, 0),
])
def test_state_of_flags(flags, state):
    assert dt.state_of_flags(flags) == state


def test_cpu_time_extrapolation_in_the_codec():
    stamp = 5 * 10**9
    running = dt.pack_record(domid=1, **{**fields(), "cpu_time": 1000, "cpu_stamp_ns": stamp,
                                         "cpu_rate_milli": 500})
    assert dt.unpack_record(running, 0, stamp).cpu_time == 1000
    assert dt.unpack_record(running, 0, stamp + 2 * 10**9).cpu_time == 1000 + 10**9   # half a CPU
    assert dt.unpack_record(running, 0, stamp - 10**9).cpu_time == 1000               # clock before stamp
    two_cpus = dt.pack_record(domid=1, **{**fields(), "cpu_time": 0, "cpu_stamp_ns": stamp,
                                          "cpu_rate_milli": 2000})
    assert dt.unpack_records(two_cpus, stamp + 10**9)[0].cpu_time == 2 * 10**9
    paused = dt.pack_record(domid=1, **{**fields(), "cpu_time": 1000, "cpu_stamp_ns": stamp,
                                        "cpu_rate_milli": 0})
    assert dt.unpack_record(paused, 0, stamp + 10**12).cpu_time == 1000


def test_ids_from_records():
    assert dt.ids_from_records(b"") == []
    ids = [0, 1, 7, 300, 0x7FEF]
    raw = b"".join(dt.pack_record(domid=i, **fields(i, handle=b"\xff" * 16)) for i in ids)
    assert dt.ids_from_records(raw) == ids
    assert [i.domid for i in dt.unpack_records(raw, 0)] == ids


# ------------------------------------------------------------------ writer and reader

def test_new_table_has_no_domains(table):
    w, r, _ = table
    assert r.list_ids() == [] and r.snapshot() == []
    assert r.host_cpus() == 4
    assert r.boot_id() == w.boot_id and len(w.boot_id) == 16


def test_inserts_in_any_order_stay_sorted_and_removes_close_gaps(table):
    w, r, _ = table
    ids = random.Random(7).sample(range(0, 0x7FF0), 400)
    for i in ids:
        w.upsert(i, **fields(i))
    assert r.list_ids() == sorted(ids)
    snap = r.snapshot()
    assert [s.domid for s in snap] == sorted(ids)
    assert all(s.tot_pages == 256 * (s.domid + 1) and s.handle == uuid.UUID(int=s.domid + 1).bytes
               for s in snap)
    gone = ids[::3]
    for i in gone:
        w.remove(i)
    w.remove(0x7FF0)          # not present: no-op
    w.remove(gone[0])         # twice: no-op
    left = sorted(set(ids) - set(gone))
    assert r.list_ids() == left
    assert [s.domid for s in r.snapshot()] == left
    # replacing keeps the count and changes the record in place
    w.upsert(left[0], **fields(999))
    assert r.list_ids() == left
    assert r.info(left[0]).tot_pages == 256 * 1000


def test_extremes_first_and_last_id(table):
    w, r, _ = table
    for i in (0x7FEF, 0, 1, 0x7FEE):
        w.upsert(i, **fields(i))
    assert r.list_ids() == [0, 1, 0x7FEE, 0x7FEF]
    assert r.info(0x7FEF).domid == 0x7FEF and r.info(0).domid == 0


def test_info_is_exact_not_first_id_at_or_above(table):
    w, r, _ = table
    for i in (0, 5, 9):
        w.upsert(i, **fields(i))
    # getdomaininfo(3) would answer domain 5; the reader checks the id it was asked for
    assert r.info(3) is None
    assert r.info(5).domid == 5 and r.info(5).tot_pages == 256 * 6
    assert r.info(9).domid == 9
    assert r.info(10) is None and r.info(0x7FEF) is None
    assert r.info(-1) is None and r.info(0x10000) is None
    assert r.info(0).domid == 0


def test_info_on_empty_table(table):
    _, r, _ = table
    assert r.info(0) is None


def test_find_handle_prefers_live_over_dying(table):
    w, r, _ = table
    h = uuid.uuid4().bytes
    w.upsert(3, **fields(3, flags=dt.DYING, handle=h))       # the old instance, dying
    w.upsert(7, **fields(7, flags=dt.RUNNING, handle=h))     # the restarted one
    w.upsert(5, **fields(5))
    assert r.find_handle(h).domid == 7
    # the other way round: live record first, dying one later
    h2 = uuid.uuid4().bytes
    w.upsert(10, **fields(10, flags=dt.BLOCKED, handle=h2))
    w.upsert(12, **fields(12, flags=dt.DYING | dt.SHUTDOWN, handle=h2))
    assert r.find_handle(h2).domid == 10
    # only a dying record: that one is returned
    w.remove(7)
    assert r.find_handle(h).domid == 3 and r.find_handle(h).flags & dt.DYING
    assert r.find_handle(uuid.uuid4().bytes) is None


def test_find_handle_ignores_matches_outside_the_handle_field(table):
    w, r, _ = table
    h = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef").bytes
    # a record whose tot_pages/max_pages bytes spell the handle (offset 8 of the record)
    lure = {**fields(1), "tot_pages": int.from_bytes(h[:8], "little"),
            "max_pages": int.from_bytes(h[8:], "little")}
    w.upsert(1, **lure)
    raw = r._stable(r._records)
    assert raw.find(h) == 8
    assert r.find_handle(h) is None
    w.upsert(2, **fields(2, handle=h))
    assert r.find_handle(h).domid == 2


def test_cpu_time_advances_for_running_not_for_paused_without_rewrites(table):
    w, r, path = table
    now = time.monotonic_ns()
    w.upsert(1, **fields(1, flags=dt.RUNNING, rate=1000, stamp=now))
    w.upsert(2, **fields(2, flags=dt.PAUSED, rate=0, stamp=now))
    seq = dt.unpack_header(open(path, "rb").read(64)).seq
    a1, p1 = r.info(1).cpu_time, r.info(2).cpu_time
    time.sleep(0.05)
    a2, p2 = r.info(1).cpu_time, r.info(2).cpu_time
    assert dt.unpack_header(open(path, "rb").read(64)).seq == seq   # nothing was rewritten
    assert a2 - a1 >= 40_000_000                                     # one full CPU for >= 50 ms
    assert p2 == p1 == 2
    snap = {i.domid: i for i in r.snapshot()}
    assert snap[1].cpu_time >= a2 and snap[2].cpu_time == 2


def test_reads_are_counted(table):
    w, r, _ = table
    w.upsert(1, **fields(1))
    before = r.reads
    r.list_ids(), r.snapshot(), r.info(1), r.find_handle(b"x" * 16), r.host_cpus()
    assert r.reads == before + 5


def test_closed_table_raises_no_connect(table):
    w, r, _ = table
    w.upsert(1, **fields(1))
    w.close()
    for call in (r.list_ids, r.snapshot, lambda: r.info(1), lambda: r.find_handle(b"x" * 16)):
        with pytest.raises(NoConnectError, match="stopped"):
            call()
    w.close()  # idempotent


def test_missing_truncated_or_foreign_file(tmp_path):
    with pytest.raises(NoConnectError, match="unavailable"):
        DomainTableReader(str(tmp_path / "nothing"))
    short = tmp_path / "short"
    short.write_bytes(b"\0" * 1000)
    with pytest.raises(XenCallError, match="truncated"):
        DomainTableReader(str(short))
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"\0" * dt.FILE_SIZE)
    with pytest.raises(XenCallError, match="not an xvirt domain table"):
        DomainTableReader(str(foreign))


def test_corrupt_header_with_stable_seq_is_a_xen_call_error(table):
    w, r, path = table
    w.upsert(1, **fields(1))
    with open(path, "r+b") as f:   # count > capacity, sequence even and unchanging
        f.seek(16)
        f.write(struct.pack("<I", dt.CAPACITY + 5))
    with pytest.raises(XenCallError, match="count"):
        r.list_ids()


def test_writer_stuck_mid_update_gives_xen_call_error(table, monkeypatch):
    w, r, path = table
    w.upsert(1, **fields(1))
    monkeypatch.setattr(hv, "_MAX_SPIN", 0.1)
    w._begin()                       # odd and never finished, as a writer killed mid-update
    t0 = time.monotonic()
    with pytest.raises(XenCallError, match="inconsistent"):
        r.list_ids()
    assert time.monotonic() - t0 < 60   # liveness: it gave up instead of spinning forever
    w._finish(1)
    assert r.list_ids() == [1]


def test_file_reused_across_writer_restarts(tmp_path):
    path = str(tmp_path / "domtable")
    w1 = DomainTableWriter(path, host_cpus=2)
    for i in (0, 1, 2):
        w1.upsert(i, **fields(i))
    r = DomainTableReader(path)           # mapped during the first boot
    boot1 = r.boot_id()
    seq1 = dt.unpack_header(r._mm).seq
    assert r.list_ids() == [0, 1, 2] and r.host_cpus() == 2
    w1.close()
    with pytest.raises(NoConnectError):
        r.list_ids()
    ino = os.stat(path).st_ino
    w2 = DomainTableWriter(path, host_cpus=6)   # the next boot
    try:
        assert os.stat(path).st_ino == ino and os.path.getsize(path) == dt.TOTAL_SIZE
        assert r.list_ids() == []            # the old boot's records are not shown
        w2.upsert(0, **fields(0))
        w2.upsert(4, **fields(4))
        assert r.list_ids() == [0, 4]
        assert r.boot_id() == w2.boot_id != boot1
        assert r.host_cpus() == 6
        assert dt.unpack_header(r._mm).seq > seq1   # the counter never goes back
    finally:
        w2.close()
        r.close()


def test_writer_restart_after_a_kill_mid_update(tmp_path):
    path = str(tmp_path / "domtable")
    w1 = DomainTableWriter(path, host_cpus=2)
    w1.upsert(1, **fields(1))
    w1._begin()                     # killed here: sequence left odd, file never closed
    w1._release()                   # ... and the kernel drops a killed process's lock
    odd = dt.unpack_header(open(path, "rb").read(64)).seq
    assert odd & 1
    w2 = DomainTableWriter(path, host_cpus=2)
    r = DomainTableReader(path)
    try:
        seq = dt.unpack_header(r._mm).seq
        assert seq > odd and not seq & 1
        assert r.list_ids() == []
        w2.upsert(3, **fields(3))
        assert r.list_ids() == [3]
    finally:
        r.close()
        w2.close()


# ------------------------------------------------------------------ consistency under concurrency
#
# Every record the writer publishes is self-describing: for version k of domain d,
# tot_pages == max_pages == ssidref-ish values derived from (d, k), and the handle encodes (d, k).
# A torn record (half old, half new) or a torn table (a record moved twice, a gap, an id out of
# order) is therefore visible in a snapshot.

def _versioned(domid: int, k: int) -> dict:
    return {"flags": dt.BLOCKED, "tot_pages": k, "max_pages": k ^ 0x5A5A5A5A, "cpu_time": k * 3,
            "cpu_stamp_ns": 0, "cpu_rate_milli": 0, "online_vcpus": domid, "max_vcpu_id": domid,
            "ssidref": k & 0xFFFFFFFF, "handle": struct.pack("<QQ", domid, k)}


def _check_snapshot(snap, stable_ids, last_seen) -> None:
    ids = [s.domid for s in snap]
    assert ids == sorted(set(ids)), f"ids out of order or duplicated: {ids}"
    assert stable_ids <= set(ids), f"a domain that is never removed is missing: {stable_ids - set(ids)}"
    for s in snap:
        d, k = struct.unpack("<QQ", s.handle)
        assert d == s.domid and s.online_vcpus == d and s.max_vcpu_id == d, f"torn record {s}"
        assert s.tot_pages == k and s.max_pages == k ^ 0x5A5A5A5A and s.cpu_time == 3 * k, f"torn {s}"
        assert s.ssidref == k & 0xFFFFFFFF
        if d in stable_ids:
            assert k >= last_seen.get(d, 0), f"domain {d} went back from {last_seen[d]} to {k}"
            last_seen[d] = k


def _hammer(w: DomainTableWriter, stop: threading.Event, stable: list[int], churn: list[int]) -> int:
    k = 0
    rng = random.Random(1)
    present: set[int] = set()
    while not stop.is_set():
        k += 1
        for d in stable:
            w.upsert(d, **_versioned(d, k))
        c = rng.choice(churn)           # inserts and removes move the tail of the table
        if c in present:
            w.remove(c)
            present.discard(c)
        else:
            w.upsert(c, **_versioned(c, k))
            present.add(c)
    return k


def test_concurrent_writer_thread_never_yields_a_torn_snapshot(tmp_path):
    path = str(tmp_path / "domtable")
    w = DomainTableWriter(path, host_cpus=2)
    stable = [0, 50, 100, 150, 200, 250, 300]
    churn = [1, 2, 3, 49, 51, 99, 101, 149, 151, 199, 201, 299, 301, 400]
    for d in stable:
        w.upsert(d, **_versioned(d, 0))
    r = DomainTableReader(path)
    stop = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("k", _hammer(w, stop, stable, churn)))
    t.start()
    last_seen: dict[int, int] = {}
    try:
        n = 0
        deadline = time.monotonic() + 3.0
        while n < 5000 and time.monotonic() < deadline:
            _check_snapshot(r.snapshot(), set(stable), last_seen)
            if n % 4 == 0:
                info = r.info(100)
                assert info is not None and struct.unpack("<QQ", info.handle)[0] == 100
                assert info.tot_pages >= last_seen.get(100, 0)
            n += 1
        assert n >= 1000
    finally:
        stop.set()
        t.join()
        r.close()
        w.close()
    assert result["k"] > 10 and max(last_seen.values()) > 1   # the writer really was writing


WRITER_SCRIPT = textwrap.dedent("""
    import os, random, struct, sys, threading, time
    from xvirt.sim.hypervisor import DomainTableWriter
    sys.path.insert(0, sys.argv[2])
    from test_domtable import _hammer, _versioned
    w = DomainTableWriter(sys.argv[1], host_cpus=2)
    stable = [0, 50, 100, 150, 200, 250, 300]
    for d in stable:
        w.upsert(d, **_versioned(d, 0))
    print("ready", flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    print(_hammer(w, stop, stable, [1, 2, 3, 49, 51, 99, 101, 149, 151, 199, 201, 299, 301, 400]), flush=True)
""")


def test_concurrent_writer_process_never_yields_a_torn_snapshot(tmp_path):
    """The same with the writer in another process: true parallelism, no GIL between them."""
    path = str(tmp_path / "domtable")
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, path, os.path.dirname(__file__)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        r = DomainTableReader(path)
        last_seen: dict[int, int] = {}
        n = 0
        deadline = time.monotonic() + 120  # a liveness bound only: counts decide when to stop
        while (n < 1000 or last_seen.get(300, 0) <= 1) and time.monotonic() < deadline:
            assert proc.poll() is None
            _check_snapshot(r.snapshot(), {0, 50, 100, 150, 200, 250, 300}, last_seen)
            n += 1
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        rounds = int(proc.stdout.readline())
        assert proc.wait(10) == 0
        assert n >= 1000 and rounds > 100 and last_seen[300] > 1
        r.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_host_usage_block_free_pages_and_idle_time(tmp_path):
    """The usage block after the records: free pages = total - pages held (dying records still
    hold theirs); idle time grows at host_cpus minus the running domains' summed rate."""
    path = str(tmp_path / "usage")
    w = DomainTableWriter(path, host_cpus=4, total_memory_mib=1024)
    try:
        r = DomainTableReader(path)
        u0 = r.host_usage()
        assert u0.free_pages == 1024 * 256 and u0.free_kib == 1024 * 1024
        base = dict(flags=dt.RUNNING, max_pages=256 * 256, cpu_time=0, cpu_stamp_ns=time.monotonic_ns(),
                    online_vcpus=1, max_vcpu_id=0, handle=b"\x01" * 16)
        w.upsert(0, tot_pages=256 * 256, cpu_rate_milli=1000, **base)     # 256 MiB, one busy CPU
        w.upsert(3, tot_pages=128 * 256, cpu_rate_milli=2000, **base)     # 128 MiB, two busy CPUs
        assert r.host_usage().free_kib == (1024 - 384) * 1024
        a = r.host_usage()
        time.sleep(0.05)
        b = r.host_usage()
        # one CPU of four is idle: idle grows at 1 ns per ns of uptime
        assert b.uptime_ns > a.uptime_ns and b.idle_ns > a.idle_ns
        assert b.idle_ns - a.idle_ns <= b.uptime_ns - a.uptime_ns + 1_000_000
        w.upsert(3, tot_pages=128 * 256, cpu_rate_milli=0, **{**base, "flags": dt.DYING})
        assert r.host_usage().free_kib == (1024 - 384) * 1024           # dying still holds memory
        w.remove(3)
        w.remove(0)
        assert r.host_usage().free_pages == 1024 * 256
        assert r.host_usage().idle_ns <= 4 * r.host_usage().uptime_ns
    finally:
        w.close()
    with pytest.raises(NoConnectError):        # a stopped host answers nothing
        r.host_usage()


def test_seq_view_is_the_little_endian_counter_of_the_header():
    """The counter is stored and loaded whole through seq_view; it is the same 8 bytes the
    header codec reads (a struct store goes byte by byte through transient values)."""
    buf = bytearray(dt.pack_header(seq=0x1FF, count=0, boot_id=b"b" * 16, host_cpus=1))
    view = dt.seq_view(buf)
    assert view[0] == 0x1FF
    view[0] = 0x200
    assert dt.unpack_header(bytes(buf)).seq == 0x200
    assert bytes(buf[dt.SEQ_OFFSET:dt.SEQ_OFFSET + 8]) == (0x200).to_bytes(8, "little")
    view.release()
