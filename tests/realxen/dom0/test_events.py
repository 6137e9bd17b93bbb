"""Domain events on a real Xen dom0 (xen:///): what `xl` does to a PV guest arrives as libvirt's events.

xl is another program, so these are the events Xen pushes (xenstore watches, the hypervisor's
records): create, pause, unpause, save, restore, shutdown, reboot, destroy (by xl and by xvirt).
Each operation waits for its event before the next (another program's pause and unpause are seen
through the records, see docs/events.md).
"""

import os
import queue
import subprocess
import sys
import threading

from conftest import XL_SLOW, guest_cfg, make_guest, wait_for, xl, xl_list

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
    stream = conn.events(timeout=XL_SLOW)
    try:
        make_guest("g4")
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_BOOTED, "g4")]
        xl("pause", "g4")   # told once the hold is over (libxl's destroy pauses first)
        assert _only(stream, "g4", 1) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, "g4")]
        xl("unpause", "g4")
        assert _only(stream, "g4", 1) == [(ev.RESUMED, ev.RESUMED_UNPAUSED, "g4")]
        xl("save", "g4", "/tmp/g4.save", timeout=XL_SLOW)
        assert _only(stream, "g4", 1) == [(ev.STOPPED, ev.STOPPED_SAVED, "g4")]
        xl("restore", "/tmp/g4.save", timeout=XL_SLOW)
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_RESTORED, "g4")]
        # the guest powers off (its kernel runs /sbin/poweroff); xl's monitor destroys it
        xl("shutdown", "-w", "g4", timeout=XL_SLOW)
        assert _only(stream, "g4", 2) == [(ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, "g4"),
                                          (ev.STOPPED, ev.STOPPED_SHUTDOWN, "g4")]
        make_guest("g4")
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_BOOTED, "g4")]
        # reboot: the guest shuts down with reason reboot, xl's monitor builds it again (new id)
        xl("reboot", "g4", timeout=XL_SLOW)
        assert _only(stream, "g4", 4) == [(ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, "g4"),
                                          (ev.STOPPED, ev.STOPPED_SHUTDOWN, "g4"),
                                          (ev.STARTED, ev.STARTED_BOOTED, "g4"), ("reboot", "g4")]
        # libxl pauses before it destroys: that pause is no SUSPENDED event, whether xvirt or
        # xl destroys (the guests need not have finished booting for that)
        conn.lookup_by_name("g4").destroy()
        assert _only(stream, "g4", 1) == [(ev.STOPPED, ev.STOPPED_DESTROYED, "g4")]
        xl("create", guest_cfg("g4"), timeout=XL_SLOW)   # returns once libxl unpaused it
        assert _only(stream, "g4", 1) == [(ev.STARTED, ev.STARTED_BOOTED, "g4")]
        xl("destroy", "g4")
        assert _only(stream, "g4", 1) == [(ev.STOPPED, ev.STOPPED_DESTROYED, "g4")]
        # nothing more for g4 arrives (a late SUSPENDED would come within the hold)
        marker = conn.lookup_by_name("g1")
        marker.suspend()
        marker.resume()
        rest = []
        for e in stream:
            if e.name == "g1" and e.event == ev.RESUMED:
                break
            rest.append((e.event, e.detail, e.name))
        assert [r for r in rest if r[-1] == "g4"] == []
    finally:
        stream.close()
        for name in ("g4", "g5"):
            if name in xl_list():
                xl("destroy", name, check=False)


EVENT_TEST = "/run/xenqemu/event-test.py"   # libvirt-python 9.0.0's examples/event-test.py, unmodified


def test_libvirt_python_event_test_py_sees_xl_operations(guests):
    """libvirt-python's own event-test.py under ``python3 -m xvirt.libvirt`` on xen:/// (its
    ``import libvirt`` gets xvirt's facade, not Debian's python3-libvirt) sees another program's
    pause and unpause of a real guest, through both of its lifecycle callbacks."""
    g1 = guests["g1"]
    proc = subprocess.Popen([sys.executable, "-m", "xvirt.libvirt", EVENT_TEST, "--loop", "native",
                             "--timeout", "600", "xen:///"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))   # a pipe: no buffering
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def next_line(timeout=60):
        try:
            return lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"event-test.py printed nothing for {timeout}s") from None
    try:
        assert next_line() == "Using uri 'xen:///' and event loop 'native'\n"
        # it subscribes at some moment after that line: pause and unpause until it tells one
        # (the pause is held back for a second on libxl before it is told: see docs/events.md)
        for _ in range(30):
            xl("pause", "g1")
            xl("unpause", "g1")
            try:
                lines.get(timeout=5)
                break
            except queue.Empty:
                continue
        else:
            raise AssertionError("event-test.py never told a pause of g1")
        while True:   # the rest of the warm-up's lines, until it is quiet
            try:
                lines.get(timeout=3)
            except queue.Empty:
                break
        for op, words in (("pause", "Suspended Paused"), ("unpause", "Resumed Unpaused")):
            xl(op, "g1")
            got = [next_line(), next_line()]
            assert got == [f"myDomainEventCallback1 EVENT: Domain g1({g1.id}) {words}\n",
                           f"myDomainEventCallback2 EVENT: Domain g1({g1.id}) {words}\n"], got
    finally:
        if "p" in xl_list()["g1"].state:
            xl("unpause", "g1")
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
