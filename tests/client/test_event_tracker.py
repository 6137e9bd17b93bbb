"""The event tracker on its own (no I/O): snapshots in, libvirt events out."""

from __future__ import annotations

import uuid as _uuid

from xvirt import events as ev
from xvirt.protocol import domtable as dt

U1, U2 = str(_uuid.uuid4()), str(_uuid.uuid4())


def rec(domid: int, uuid: str, flags: int) -> dt.DomainInfo:
    return dt.DomainInfo(domid, flags, 0, 0, 0, 1, 0, 0, _uuid.UUID(uuid).bytes)


def shut(code: int, extra: int = 0) -> int:
    return dt.SHUTDOWN | code << dt.SHUTDOWN_SHIFT | extra


def primed(*infos) -> ev.Tracker:
    t = ev.Tracker()
    assert t.observe(list(infos), {i.domid: f"d{i.domid}" for i in infos}) == []   # baseline: no news
    return t


def kinds(raws):
    return [(r[1], r[2], r[5]) if r[0] == ev.ID_LIFECYCLE else ("reboot", r[5]) for r in raws]


def test_baseline_is_not_news_and_dying_records_at_start_stay_silent():
    t = primed(rec(1, U1, dt.RUNNING), rec(2, U2, dt.DYING))
    assert t.observe([rec(1, U1, dt.RUNNING), rec(2, U2, dt.DYING)], {}) == []
    assert t.observe([rec(1, U1, dt.RUNNING)], {}) == []   # the hypervisor freed it


def test_started_and_died_between_two_reads_gives_both_once():
    t = primed(rec(1, U1, dt.RUNNING))
    got = t.observe([rec(1, U1, dt.RUNNING), rec(5, U2, dt.DYING | shut(0))], {})
    assert kinds(got) == [(ev.STARTED, ev.STARTED_BOOTED, 5), (ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, 5),
                          (ev.STOPPED, ev.STOPPED_SHUTDOWN, -1)]
    assert t.observe([rec(1, U1, dt.RUNNING), rec(5, U2, dt.DYING | shut(0))], {}) == []


def test_vanished_under_a_migrating_name_is_a_save_and_the_next_start_a_restore():
    t = primed(rec(1, U1, dt.RUNNING))
    assert t.observe([rec(1, U1, dt.PAUSED)], {1: "migrating-d1"}) == []
    assert kinds(t.observe([], {})) == [(ev.STOPPED, ev.STOPPED_SAVED, -1)]
    got = t.observe([rec(7, U1, dt.RUNNING)], {7: "d1"})
    assert kinds(got) == [(ev.STARTED, ev.STARTED_RESTORED, 7)] and got[0][4] == "d1"


def test_reboot_crash_and_an_id_reused_by_another_domain():
    t = primed(rec(1, U1, dt.RUNNING))
    got = t.observe([rec(1, U1, dt.DYING | shut(1))], {})
    assert kinds(got) == [(ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, 1), (ev.STOPPED, ev.STOPPED_SHUTDOWN, -1)]
    assert kinds(t.observe([rec(2, U1, dt.RUNNING)], {2: "d1"})) == [(ev.STARTED, ev.STARTED_BOOTED, 2), ("reboot", 2)]
    assert kinds(t.observe([rec(2, U1, shut(3))], {})) == [(ev.CRASHED, ev.CRASHED_PANICKED, 2)]
    got = t.observe([rec(2, U2, dt.RUNNING)], {2: "other"})   # same id, another UUID
    assert kinds(got) == [(ev.STOPPED, ev.STOPPED_CRASHED, -1), (ev.STARTED, ev.STARTED_BOOTED, 2)]


def test_notes_and_table_agree_on_one_event_per_change():
    t = primed(rec(1, U1, dt.RUNNING))
    assert kinds(t.note("pause", U1)) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 1)]
    assert t.observe([rec(1, U1, dt.PAUSED)], {}) == []       # the table says the same: nothing new
    assert kinds(t.observe([rec(1, U1, dt.RUNNING)], {})) == [(ev.RESUMED, ev.RESUMED_UNPAUSED, 1)]
    assert t.note("unpause", U1) == []                         # already running


def test_a_domain_that_appears_paused_is_being_created():
    t = primed()
    assert kinds(t.observe([rec(3, U1, dt.PAUSED)], {3: "new"})) == [(ev.STARTED, ev.STARTED_BOOTED, 3)]
    assert t.observe([rec(3, U1, dt.RUNNING)], {}) == []
    assert kinds(t.observe([rec(3, U1, dt.PAUSED)], {})) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 3)]


def test_notify_reaches_only_sources_of_the_same_host():
    import types
    from xvirt.uri import Target

    mine = types.SimpleNamespace(target=Target("xen+unix:///a", "/tmp/a-xend"))
    other = types.SimpleNamespace(target=Target("xen+unix:///b", "/tmp/b-xend"))
    src = ev.EventSource(mine.target)          # XenD-only: this process's operations only
    try:
        assert ev.listening(mine) and not ev.listening(other)
        stream = ev.EventStream(src, timeout=30)
        ev.notify(other, "define", U2, "elsewhere")
        ev.notify(mine, "define", U1, "here")
        ev.notify(mine, "undefine", U1)
        got = [next(stream), next(stream)]
        assert [(e.event, e.detail, e.name, e.uuid) for e in got] == [
            (ev.DEFINED, ev.DEFINED_ADDED, "here", U1), (ev.UNDEFINED, ev.UNDEFINED_REMOVED, "here", U1)]
    finally:
        src.close()
    assert not ev.listening(mine)


def test_a_domain_introduced_before_its_name_starts_once_named():
    """libxl introduces a domain, then writes /local/domain/<id>/name (seen on real Xen 4.17):
    STARTED waits for the name's watch event and carries the name, never an empty one."""
    t = primed(rec(1, U1, dt.RUNNING))
    assert t.observe([rec(1, U1, dt.RUNNING), rec(6, U2, dt.BLOCKED)], {6: None}) == []
    got = t.observe([rec(1, U1, dt.RUNNING), rec(6, U2, dt.BLOCKED)], {6: "g4"})
    assert [(r[1], r[2], r[4], r[5]) for r in got] == [(ev.STARTED, ev.STARTED_BOOTED, "g4", 6)]


def test_a_domain_never_named_is_still_told_when_its_state_moves_or_it_goes():
    t = primed(rec(1, U1, dt.RUNNING))
    t.observe([rec(6, U2, dt.BLOCKED)], {6: None})     # id 1 stops; 6 waits for its name
    got = t.observe([rec(6, U2, dt.PAUSED)], {6: None})
    assert (got[0][1], got[0][2], got[0][4], got[0][5]) == (ev.STARTED, ev.STARTED_BOOTED, "", 6)
    t2 = primed(rec(1, U1, dt.RUNNING))
    t2.observe([rec(1, U1, dt.RUNNING), rec(7, U2, dt.BLOCKED)], {7: None})
    got = t2.observe([rec(1, U1, dt.RUNNING)], {})
    assert kinds(got) == [(ev.STARTED, ev.STARTED_BOOTED, 7), (ev.STOPPED, ev.STOPPED_DESTROYED, -1)]


# -- libxl pauses a domain before it destroys it (libxl__destroy_domid) ------------------------------
def held(hold: float = 1.0) -> ev.Tracker:
    t = primed(rec(1, U1, dt.RUNNING), rec(2, U2, dt.RUNNING))
    t.hold_pauses = hold
    return t


def test_a_pause_followed_by_the_death_of_the_domain_is_the_destroy_alone():
    t = held()
    assert t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.0) == []
    assert t.tick(10.5) == []
    got = t.observe([rec(1, U1, dt.DYING | dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.6)
    assert kinds(got) == [(ev.STOPPED, ev.STOPPED_DESTROYED, -1)]
    assert t.tick(99.0) == []


def test_a_pause_that_outlives_the_hold_is_told_late_but_told():
    t = held()
    assert t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.0) == []
    assert t.tick(10.99) == []
    got = t.tick(11.0)
    assert kinds(got) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 1)] and got[0][4] == "d1"
    got = t.observe([rec(1, U1, dt.DYING | dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=12.0)
    assert kinds(got) == [(ev.STOPPED, ev.STOPPED_DESTROYED, -1)]   # already told: not taken back


def test_anything_else_that_happens_to_the_domain_releases_the_pause_first():
    t = held()
    t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.PAUSED)], {}, now=10.0)
    got = t.observe([rec(1, U1, dt.RUNNING), rec(2, U2, dt.PAUSED)], {}, now=10.1)
    assert kinds(got) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 1), (ev.RESUMED, ev.RESUMED_UNPAUSED, 1)]
    got = t.observe([rec(1, U1, dt.RUNNING), rec(2, U2, dt.PAUSED)], {2: "renamed"}, now=10.2)
    assert kinds(got) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 2), (ev.UNDEFINED, ev.UNDEFINED_RENAMED, 2),
                          (ev.DEFINED, ev.DEFINED_RENAMED, 2)]
    assert got[0][4] == "d2"   # the name it had when it was paused
    assert t.tick(99.0) == []


def test_devices_going_away_stretch_the_hold_until_the_domain_dies():
    t = held()
    t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.0)
    t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.5, teardown={1})
    assert t.tick(20.0) == []                     # libxl waits for each backend (up to 10 s)
    got = t.observe([rec(2, U2, dt.RUNNING)], {}, now=21.0)
    assert kinds(got) == [(ev.STOPPED, ev.STOPPED_DESTROYED, -1)]
    # teardown seen just before the pause (one batch of watch events) counts as well
    t.observe([rec(2, U2, dt.RUNNING)], {}, now=30.0, teardown={2})
    t.observe([rec(2, U2, dt.PAUSED)], {}, now=30.2)
    assert t.tick(31.5) == [] and t.tick(30.1 + ev.TEARDOWN_HOLD) == []
    assert kinds(t.tick(30.2 + ev.TEARDOWN_HOLD)) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 2)]


def test_our_own_destroy_hides_its_pause_and_our_own_pause_is_told_when_noted():
    t = held()
    assert t.note("destroying", U1, now=10.0) == []
    t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.1)
    assert t.tick(25.0) == []                     # ours: held as long as a teardown
    assert kinds(t.observe([rec(2, U2, dt.RUNNING)], {}, now=26.0)) == [(ev.STOPPED, ev.STOPPED_DESTROYED, -1)]
    # our own pause, seen in the records before the note arrives: told when the note comes
    assert t.observe([rec(2, U2, dt.PAUSED)], {}, now=27.0) == []
    assert kinds(t.note("pause", U2, now=27.01)) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 2)]
    assert t.tick(99.0) == []


def test_a_destroy_that_failed_after_its_pause_leaves_a_paused_domain_and_says_so():
    t = held()
    t.note("destroying", U1, now=10.0)
    t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.1)
    assert kinds(t.note("destroy_failed", U1, now=10.3)) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 1)]


def test_without_a_hold_a_pause_is_told_at_once():
    t = held(0.0)
    got = t.observe([rec(1, U1, dt.PAUSED), rec(2, U2, dt.RUNNING)], {}, now=10.0)
    assert kinds(got) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, 1)]


def test_which_watch_events_show_a_domain_being_taken_down():
    # paths seen on the real-Xen rig during `xl destroy` of domain 1 (a console-only PV guest),
    # and what a disk/vif teardown adds; then the chatter of a running guest, which is no teardown
    down = ["/local/domain/1/console", "/local/domain/0/backend/console/1/0", "/local/domain/0/backend/console/1",
            "/vm/1fa2a229-1569-4a03-a727-269458f874b0", "/local/domain/1", "/libxl/1",
            "/local/domain/0/backend/vbd/1/51712/online", "/local/domain/1/device/vif/0"]
    touched, teardown = ev._touched([(p, "t") for p in down])
    assert teardown == {1} and touched == {1}
    chatter = ["/local/domain/3/device/vbd/51712/state", "/local/domain/0/backend/vbd/3/51712/state",
               "/local/domain/3/memory/target", "/local/domain/3/control/shutdown", "/local/domain/3/name",
               "/local/domain/0/backend/vif/3/0/hotplug-status", "/local/domain/x/device/vif/0", "@releaseDomain"]
    touched, teardown = ev._touched([(p, "t") for p in chatter])
    assert teardown == set() and touched == {3}
