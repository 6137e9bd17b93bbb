"""libvirt's event API through the facade: an ``import libvirt`` program in each of the three loop
modes of libvirt-python's event-test.py sees the lifecycle events of CLI operations, then the
close callback when the host stops; deregistration; the loop functions on their own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

import xvirt.libvirt as libvirt
from xvirt.cli.main import cli
from click.testing import CliRunner

PROGRAM = os.path.join(os.path.dirname(__file__), "event_program.py")


def _spawn(mode: str, uri: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xvirt.libvirt", PROGRAM, mode, uri],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _xvirt(uri: str, *args: str) -> str:
    r = CliRunner().invoke(cli, ["-c", uri, *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("mode", ["native", "poll", "asyncio"])
@pytest.mark.simhost(domains=3)
def test_event_program_in_each_loop_mode_sees_cli_operations_then_close(simhost, mode):
    simhost.control.call("settings", set={"dying_delay": 3.0})
    proc = _spawn(mode, simhost.uri)
    try:
        assert proc.stdout.readline() == "ready 25 4\n"   # baseline taken: from now on it is news
        dom = simhost.control.truth()["running"][1]
        name, domid = dom["name"], dom["domid"]
        seen = []
        for op, event in (("suspend", 3), ("resume", 4), ("destroy", 5)):
            _xvirt(simhost.uri, op, name)
            seen += [proc.stdout.readline(), proc.stdout.readline()]
        shown = -1  # a STOPPED event's domain has no id any more (libvirt gives -1 too)
        assert seen == [f"lifecycle 1 {name} {domid} 3 0\n", f"lifecycle 2 {name} {domid} 3 0\n",
                        f"lifecycle 1 {name} {domid} 4 0\n", f"lifecycle 2 {name} {domid} 4 0\n",
                        f"lifecycle 1 {name} {shown} 5 1\n", f"lifecycle 2 {name} {shown} 5 1\n"]
        _xvirt(simhost.uri, "start", name)
        new = next(d["domid"] for d in simhost.control.truth()["running"] if d["name"] == name)
        assert [proc.stdout.readline(), proc.stdout.readline()] == [f"lifecycle 1 {name} {new} 2 0\n",
                                                                   f"lifecycle 2 {name} {new} 2 0\n"]
        simhost.control.guest("reboot", name)
        lines = [proc.stdout.readline() for _ in range(7)]
        newer = next(d["domid"] for d in simhost.control.truth()["running"] if d["name"] == name)
        assert lines == [f"lifecycle 1 {name} {new} 6 0\n", f"lifecycle 2 {name} {new} 6 0\n",
                         f"lifecycle 1 {name} -1 5 0\n", f"lifecycle 2 {name} -1 5 0\n",
                         f"lifecycle 1 {name} {newer} 2 0\n", f"lifecycle 2 {name} {newer} 2 0\n",
                         f"reboot {name} {newer}\n"]
        proc.stdin.write("wait-close\n")
        proc.stdin.flush()
        simhost.stop()
        out, err = proc.communicate(timeout=60)
        assert out == "close 1\nwaiting True\n"   # VIR_CONNECT_CLOSE_REASON_EOF
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.simhost(domains=2)
def test_deregistering_everything_then_close(simhost):
    proc = _spawn("native", simhost.uri)
    try:
        assert proc.stdout.readline() == "ready 25 4\n"
        out, err = proc.communicate("deregister\n", timeout=60)
        assert (out, proc.returncode) == ("deregistered 0\n", 0), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.simhost(domains=2)
def test_registration_errors_are_libvirt_errors(simhost):
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.openReadOnly(simhost.uri)
    try:
        for call in (lambda: conn.domainEventRegisterAny(None, 999, lambda *a: None, None),
                     lambda: conn.domainEventDeregisterAny(12345),
                     lambda: conn.domainEventDeregister(print),
                     lambda: conn.unregisterCloseCallback(),
                     lambda: conn.setKeepAlive(5, -1)):
            with pytest.raises(libvirt.libvirtError) as e:
                call()
            assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
        conn.registerCloseCallback(lambda *a: None, None)
        with pytest.raises(libvirt.libvirtError):
            conn.registerCloseCallback(lambda *a: None, None)
    finally:
        conn.close()


def test_default_loop_handles_and_timeouts():
    libvirt.virEventRegisterDefaultImpl()
    r, w = os.pipe()
    fired = []
    try:
        hid = libvirt.virEventAddHandle(r, libvirt.VIR_EVENT_HANDLE_READABLE,
                                        lambda watch, fd, events, opaque: fired.append(("h", watch, os.read(fd, 1), events, opaque)), "o")
        os.write(w, b"x")
        libvirt.virEventRunDefaultImpl()
        assert fired == [("h", hid, b"x", libvirt.VIR_EVENT_HANDLE_READABLE, "o")]
        libvirt.virEventUpdateHandle(hid, 0)          # not watched any more
        tid = libvirt.virEventAddTimeout(0, lambda timer, opaque: fired.append(("t", timer, opaque)), 7)
        os.write(w, b"y")
        libvirt.virEventRunDefaultImpl()
        assert fired[1:] == [("t", tid, 7)]
        libvirt.virEventUpdateTimeout(tid, -1)        # disabled
        libvirt.virEventUpdateHandle(hid, libvirt.VIR_EVENT_HANDLE_READABLE)
        libvirt.virEventRunDefaultImpl()
        assert fired[2] == ("h", hid, b"y", libvirt.VIR_EVENT_HANDLE_READABLE, "o") and len(fired) == 3
        assert libvirt.virEventRemoveHandle(hid) == 0 and libvirt.virEventRemoveTimeout(tid) == 0
        assert libvirt.virEventRemoveHandle(hid) == -1
        # a handle added from another thread wakes a loop that is already waiting in poll()
        late = threading.Event()
        t = threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(late.is_set, True)])
        t.start()
        r2, w2 = os.pipe()
        h2 = libvirt.virEventAddHandle(r2, libvirt.VIR_EVENT_HANDLE_READABLE, lambda *a: late.set(), None)
        os.write(w2, b"z")
        t.join(30)
        assert late.is_set() and not t.is_alive()
        libvirt.virEventRemoveHandle(h2)
        os.close(r2)
        os.close(w2)
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.simhost(domains=2)
def test_keepalive_closes_the_connection_when_probes_fail(simhost):
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.openReadOnly(simhost.uri)
    closed = threading.Event()
    reasons = []
    stop = threading.Event()
    loop = threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(stop.is_set, True)])
    loop.start()
    try:
        conn.registerCloseCallback(lambda c, reason, opaque: (reasons.append((c, reason, opaque)), closed.set()), "x")
        conn.setKeepAlive(1, 0)
        conn._o.is_alive = lambda: False       # the host stops answering the probe
        assert closed.wait(30)
        assert reasons == [(conn, libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE, "x")]
    finally:
        stop.set()
        waker = libvirt.virEventAddTimeout(0, lambda *a: None, None)   # wake the loop so it sees stop
        loop.join(30)
        libvirt.virEventRemoveTimeout(waker)
        conn.close()
