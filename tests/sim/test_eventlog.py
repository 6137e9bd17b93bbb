"""The host's event log: every change of a domain's id, name or state, timed, bounded, readable."""

import threading
import time

import pytest

from xvirt.errors import OperationFailedError
from xvirt.protocol import domtable as dt
from xvirt.sim.control import SimControl
from xvirt.sim.eventlog import EventLog, TimedRLock
from xvirt.testing import sim_host


def cfg(name, uid, memory=64):
    return (f"(vm (name {name}) (uuid {uid}) (memory {memory}) (maxmem 128) (vcpus 1) "
            "(on_poweroff destroy) (on_reboot restart) (on_crash restart))")


def history(events, uuid):
    return [(e["present"], e["domid"], e["name"]) for e in events if e["uuid"] == uuid]


def test_lifecycle_changes_are_logged_in_order_with_times():
    with sim_host(domains=2) as h:
        ctl = h.control
        start = ctl.events()["last"]
        before = time.monotonic()
        uid = "11111111-2222-3333-4444-555555555555"
        made = ctl.create(cfg("logged", uid))
        ctl.op("rename", uid, name="logged2")
        ctl.op("pause", uid)
        ctl.op("save", uid, file="log.img")
        back = ctl.restore("log.img")
        ctl.op("destroy", uid)
        after = time.monotonic()
        events = ctl.all_events(start)
        hist = history(events, uid)
        d1, d2 = made["domid"], back["domid"]
        assert d1 != d2, "restore gives a new id"
        # created (present, not yet running), running, renamed, paused, migrating-, saved (gone),
        # restored (new id), dying (no id), forgotten (transient)
        assert hist[0] == (True, None, "logged")
        assert (True, d1, "logged") in hist
        assert hist.index((True, d1, "logged2")) > hist.index((True, d1, "logged"))
        assert (True, d1, "migrating-logged2") in hist
        assert hist[-1] == (False, None, "logged2"), hist
        assert (True, d2, "logged2") in hist
        paused = [e for e in events if e["uuid"] == uid and e["flags"] & dt.PAUSED]
        assert paused and all(e["domid"] == d1 for e in paused)
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(start + 1, start + 1 + len(events)))
        for a, b in zip(events, events[1:]):
            assert a["t0"] <= a["t1"] <= b["t1"] and a["t0"] <= b["t0"]
        assert before <= events[0]["t0"] and events[-1]["t1"] <= after  # CLOCK_MONOTONIC is shared


def test_changes_that_change_nothing_are_not_logged():
    with sim_host(domains=2) as h:
        ctl = h.control
        g = [d for d in ctl.truth()["running"] if d["domid"] != 0][0]
        ctl.op("rename", g["uuid"], name="once")
        last = ctl.events()["last"]
        ctl.op("rename", g["uuid"], name="once")
        ctl.op("sysrq", g["uuid"], key=104)
        assert ctl.events()["last"] == last


def test_the_log_is_bounded_and_a_reader_sees_what_it_lost():
    log = EventLog(maxlen=4)
    for i in range(10):
        log.note({"uuid": f"u{i}", "present": True, "name": f"n{i}"}, time.monotonic())
    page = log.read(0)
    assert page["first"] == 7 and page["last"] == 10 and [e["seq"] for e in page["events"]] == [7, 8, 9, 10]
    assert [e["seq"] for e in log.read(8)["events"]] == [9, 10]
    assert [e["seq"] for e in log.read(6, limit=2)["events"]] == [7, 8]
    assert log.read(10)["events"] == []


def test_reading_pages_through_and_refuses_a_gap():
    with sim_host(domains=2) as h:
        ctl = h.control
        g = [d for d in ctl.truth()["running"] if d["domid"] != 0][0]
        start = ctl.events()["last"]
        for i in range(30):
            ctl.op("rename", g["uuid"], name=f"page-{i}")
        page = ctl.events(start, limit=7)
        assert len(page["events"]) == 7
        names = [e["name"] for e in ctl.all_events(start) if e["uuid"] == g["uuid"]]
        assert names == [f"page-{i}" for i in range(30)]
        with pytest.raises(OperationFailedError, match="bad request"):
            ctl.call("events", since="x")


def test_all_events_reports_lost_entries():
    ctl = SimControl("/nonexistent")
    ctl.events = lambda since=0, limit=0: {"first": 5, "last": 9, "events": []}
    with pytest.raises(OperationFailedError, match="lost entries 1..4"):
        ctl.all_events(0)


def test_timed_lock_keeps_the_outermost_start():
    lock = TimedRLock()
    with lock:
        outer = lock.since
        time.sleep(0.001)
        with lock:
            assert lock.since == outer
    seen = []

    def other():
        with lock:
            seen.append(lock.since)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen and seen[0] > outer
