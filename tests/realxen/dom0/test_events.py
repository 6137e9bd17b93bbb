"""Domain events on a real Xen dom0 (xen:///): what `xl` does to a PV guest arrives as libvirt's events.

xl is another program, so these are the events Xen pushes (xenstore watches, the hypervisor's
records): create, pause, unpause, save, restore, shutdown, destroy. Each operation waits for its
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
        # the restored guest (a busybox initramfs) does not answer a shutdown request again under
        # QEMU (`xl shutdown -w` waited 300 s): destroy it, and shut down a freshly booted one
        xl("destroy", "g4")
        assert _only(stream, "g4", 1) == [(ev.STOPPED, ev.STOPPED_DESTROYED, "g4")]
        make_guest("g4")
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_BOOTED, "g4")]
        xl("shutdown", "-w", "g4", timeout=300)
        assert _only(stream, "g4", 2) == [(ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, "g4"),
                                          (ev.STOPPED, ev.STOPPED_SHUTDOWN, "g4")]
    finally:
        stream.close()
        if "g4" in xl_list():
            xl("destroy", "g4", check=False)
