"""Events on a host whose toolstack is libxl: its destroy pauses the domain first, and that pause is
no SUSPENDED event (the simulated host does what libxl__destroy_domid does: pause, close the
backends, destroy ``destroy_delay`` later — longer than the event source's 50 ms poll)."""

from __future__ import annotations

import subprocess
import time

import pytest

import xvirt
from xvirt import events as ev

pytestmark = pytest.mark.simhost(domains=5, toolstack="xl")


def xl(simhost, *args):
    r = subprocess.run([*simhost.xl_command, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def events_of(stream, uuid, until_event):
    """This domain's events up to and including the first ``until_event``."""
    out = []
    for e in stream:
        if e.uuid == uuid:
            out.append((e.event, e.detail))
            if e.event == until_event:
                return out
    raise AssertionError(f"the stream ended after {out}")


def quiet_for(stream, uuid, seconds):
    """Nothing more for ``uuid`` within ``seconds`` (longer than the hold)."""
    end = time.monotonic() + seconds
    for e in stream:
        assert e.uuid != uuid, f"unexpected {e.virsh_line()}"
        if time.monotonic() > end:
            return
    # the stream's own timeout ended it: quiet


def running(simhost):
    return [d for d in simhost.control.truth()["running"] if d["domid"] and "p" not in d["state"]]


def test_xl_destroy_gives_stopped_destroyed_alone(simhost):
    simhost.control.call("settings", set={"destroy_delay": 0.3, "dying_delay": 1.0})
    with xvirt.open(simhost.uri) as conn:
        assert conn._driver.event_pause_hold() == ev.PAUSE_HOLD > 0.3
        doms = running(simhost)
        stream = conn.events(timeout=ev.PAUSE_HOLD + 1)
        try:
            for d in doms[:2]:   # another program's destroy, then this process's
                if d is doms[0]:
                    xl(simhost, "destroy", d["name"])
                else:
                    conn.lookup_by_name(d["name"]).destroy()
                assert events_of(stream, d["uuid"], ev.STOPPED) == [(ev.STOPPED, ev.STOPPED_DESTROYED)]
            quiet_for(stream, doms[0]["uuid"], ev.PAUSE_HOLD + 0.5)
        finally:
            stream.close()


def test_a_pause_that_lasts_is_told_and_a_later_destroy_after_it(simhost):
    simhost.control.call("settings", set={"destroy_delay": 0.3, "dying_delay": 1.0})
    with xvirt.open(simhost.uri) as conn:
        d = running(simhost)[0]
        stream = conn.events(timeout=30)
        try:
            t0 = time.monotonic()
            xl(simhost, "pause", d["name"])
            assert events_of(stream, d["uuid"], ev.SUSPENDED) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED)]
            assert time.monotonic() - t0 >= ev.PAUSE_HOLD * 0.9   # held back, then told
            xl(simhost, "unpause", d["name"])
            assert events_of(stream, d["uuid"], ev.RESUMED) == [(ev.RESUMED, ev.RESUMED_UNPAUSED)]
            xl(simhost, "pause", d["name"])
            xl(simhost, "unpause", d["name"])   # both within the hold: both told, in order
            assert events_of(stream, d["uuid"], ev.RESUMED) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED),
                                                                (ev.RESUMED, ev.RESUMED_UNPAUSED)]
            xl(simhost, "pause", d["name"])
            assert events_of(stream, d["uuid"], ev.SUSPENDED) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED)]
            xl(simhost, "destroy", d["name"])
            assert events_of(stream, d["uuid"], ev.STOPPED) == [(ev.STOPPED, ev.STOPPED_DESTROYED)]
        finally:
            stream.close()


def test_own_pause_and_resume(simhost):
    with xvirt.open(simhost.uri) as conn:
        d = conn.lookup_by_name(running(simhost)[0]["name"])
        stream = conn.events(timeout=30)
        try:
            d.suspend()
            assert events_of(stream, d.uuid, ev.SUSPENDED) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED)]
            d.resume()
            assert events_of(stream, d.uuid, ev.RESUMED) == [(ev.RESUMED, ev.RESUMED_UNPAUSED)]
        finally:
            stream.close()
