"""Domain events on a real Xen dom0 (xen:///): what `xl` does to a PV guest arrives as libvirt's events.

xl is another program, so these are the events Xen pushes (xenstore watches, the hypervisor's
records): create, pause, unpause, save, restore (shutdown and destroy: see the note in the test).
Each operation waits for its
event before the next (another program's pause and unpause are seen through the records, see
docs/events.md).
"""

from conftest import make_guest, wait_for, xl, xl_list

from xvirt import events as ev


def _next(stream, n=1):
    out = []
    for _ in range(n):
        e = next(stream)
        out.append((e.event, e.detail, e.name) if e.id == ev.ID_LIFECYCLE else ("reboot", e.name))
    return out


def _only(stream, name, n):
    """The next ``n`` events of ``name`` (dom0 and the other guests may have their own)."""
    out = []
    while len(out) < n:
        got = _next(stream)[0]
        if got[-1] == name:
            out.append(got)
    return out


def test_xl_lifecycle_of_a_pv_guest_gives_libvirt_events(guests, conn):
    if "g4" in xl_list():
        xl("destroy", "g4")
        wait_for(lambda: "g4" not in xl_list(), "g4 gone")
    stream = conn.events(timeout=120)
    try:
        make_guest("g4")
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_BOOTED, "g4")]
        xl("pause", "g4")
        assert _only(stream, "g4", 1) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, "g4")]
        xl("unpause", "g4")
        assert _only(stream, "g4", 1) == [(ev.RESUMED, ev.RESUMED_UNPAUSED, "g4")]
        xl("save", "g4", "/tmp/g4.save", timeout=300)
        assert _only(stream, "g4", 1) == [(ev.STOPPED, ev.STOPPED_SAVED, "g4")]
        xl("restore", "/tmp/g4.save", timeout=300)
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_RESTORED, "g4")]
        # Not checked here yet (issue 14 stays open, docs/events.md): shutdown — `xl shutdown -w` of
        # the busybox guest timed out (300 s) in 1 of 2 boots under QEMU — and destroy, before which
        # libxl pauses the domain, which xvirt may report as an extra SUSPENDED.
    finally:
        stream.close()
        for name in ("g4", "g5"):
            if name in xl_list():
                xl("destroy", name, check=False)
