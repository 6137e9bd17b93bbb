"""The simulator process: state directory, start/status/stop/env, socket modes, TCP option."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time

import pytest

from xvirt.errors import InvalidArgError, NoConnectError
from xvirt.sim import daemon
from xvirt.sim.control import SimControl
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient
from xvirt.transport.xenstore import XenstoreClient

SOCKETS = ("xend.sock", "xenstored.sock", "xenstored_ro.sock", "control.sock")


@pytest.fixture
def root(tmp_path):
    r = str(tmp_path / "state")
    yield r
    daemon.stop("d", root=r)


def _pid_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_start_status_stop(root):
    paths = daemon.SimPaths(root)
    assert daemon.status("d", root) == {"name": "d", "state_dir": root, "running": False, "pid": None}
    st = daemon.start("d", root=root, domains=4, latency_ms=0)
    assert st["running"] is True and st["domains"] == 5 and st["inactive"] == 1
    with open(paths.pidfile) as f:
        pid = int(f.read())
    assert st["pid"] == pid and _pid_running(pid)
    settings = st["settings"]
    assert settings["pid"] == pid and settings["domains"] == 4 and settings["xend_latency_ms"] == 0
    assert settings["uri"] == "xen+sim:///d" and settings["paths"]["root"] == root
    assert isinstance(settings["start_seconds"], float) and settings["boot_errors"] == []
    assert daemon.status("d", root)["pid"] == pid
    # every channel answers
    assert XendClient(paths.xend).get("/xend/node/")[0] == "node"
    with XenstoreClient(paths.xenstored) as xs:
        assert xs.read("/local/domain/0/name") == b"Domain-0"
    r = DomainTableReader(paths.domtable)
    assert r.list_ids() == [0, 1, 2, 3, 4]

    assert daemon.stop("d", root=root) is True
    assert not _pid_running(pid)
    for name in SOCKETS + ("sim.pid", "run.json"):
        assert not os.path.exists(os.path.join(root, name)), name
    with open(paths.settings) as f:                    # the settings it was created with stay
        assert json.load(f)["settings"]["domains"] == 4
    assert os.path.exists(paths.domtable) and os.path.isdir(paths.managed)   # state stays
    assert daemon.status("d", root)["running"] is False
    assert daemon.stop("d", root=root) is False
    with pytest.raises(NoConnectError):
        r.list_ids()                                   # the table says the host is gone
    r.close()
    with pytest.raises(NoConnectError):
        XendClient(paths.xend).get("/xend/node/")


def test_stop_of_a_host_that_ignores_sigterm_returns_once_it_is_gone(root):
    """stop()'s last resort (SIGKILL after its deadline) also waits for the process to be gone."""
    st = daemon.start("d", root=root, domains=1, latency_ms=0)
    pid = st["pid"]
    os.kill(pid, signal.SIGSTOP)                       # it cannot act on SIGTERM now
    try:
        assert daemon.stop("d", root=root, timeout=0.3) is True
        assert not _pid_running(pid), "stop() must return only once the simulator's process is gone"
    finally:
        if _pid_running(pid):
            os.kill(pid, signal.SIGCONT)


def test_state_dir_and_socket_modes(root):
    old = os.umask(0o000)                              # a careless umask must not matter
    try:
        daemon.start("d", root=root, domains=1, latency_ms=0)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700  # created by the simulator
    for name in SOCKETS:
        st = os.stat(os.path.join(root, name))
        assert stat.S_ISSOCK(st.st_mode), name
        assert stat.S_IMODE(st.st_mode) == 0o600, (name, oct(st.st_mode))
    for sub in ("managed", "save"):
        assert stat.S_IMODE(os.stat(os.path.join(root, sub)).st_mode) & 0o077 == 0, sub
    assert stat.S_IMODE(os.stat(os.path.join(root, "domtable")).st_mode) & 0o077 == 0


def test_second_start_returns_the_running_host(root):
    first = daemon.start("d", root=root, domains=2, latency_ms=0)
    t0 = time.monotonic()
    again = daemon.start("d", root=root, domains=50, latency_ms=10)
    assert again["pid"] == first["pid"] and again["running"] is True
    assert again["domains"] == 3                        # the running host, not a new one with 50
    with open(daemon.SimPaths(root).pidfile) as f:
        assert int(f.read()) == first["pid"]
    with open(daemon.SimPaths(root).info) as f:
        assert json.load(f)["domains"] == 2


def test_restart_after_kill9_and_stop_by_control(root):
    paths = daemon.SimPaths(root)
    pid1 = daemon.start("d", root=root, domains=1, latency_ms=0)["pid"]
    os.kill(pid1, signal.SIGKILL)
    os.waitpid(pid1, 0)
    assert all(os.path.exists(os.path.join(root, n)) for n in SOCKETS)   # stale sockets left
    st = daemon.start("d", root=root, domains=1, latency_ms=0)
    assert st["running"] is True and st["pid"] != pid1
    assert st["settings"]["pid"] == st["pid"]          # not the dead process's sim.json
    assert XendClient(paths.xend).get("/xend/domain") == ["Domain-0", "web-01"]
    ctl = SimControl(paths.control)
    ctl.call("stop")
    ctl.close()
    deadline = time.monotonic() + 10
    while _pid_running(st["pid"]):
        assert time.monotonic() < deadline
        try:
            os.waitpid(st["pid"], os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    assert not any(os.path.exists(os.path.join(root, n)) for n in SOCKETS)


def test_env_lines_and_uri(root):
    lines = daemon.env_lines("d", root)
    env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert all(line.startswith("export ") for line in lines)
    assert env["XENSTORED_PATH"] == os.path.join(root, "xenstored.sock")
    assert env["XENSTORED_RO_PATH"] == os.path.join(root, "xenstored_ro.sock")
    assert env["XEND_SOCKET"] == os.path.join(root, "xend.sock")
    assert env["XVIRT_SIM_CONTROL"] == os.path.join(root, "control.sock")
    assert env["XVIRT_DEFAULT_URI"] == f"xen+sim:///d?dir={root}"
    assert daemon.sim_uri("lab") == "xen+sim:///lab"


def test_state_dir_location(monkeypatch, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    assert daemon.state_dir("lab") == str(run / "xvirt" / "sim" / "lab")
    assert daemon.state_dir() == str(run / "xvirt" / "sim" / "default")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert daemon.state_dir("lab") == str(tmp_path / "home" / ".local" / "state" / "xvirt" / "sim" / "lab")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))   # unusable: fall back
    assert daemon.state_dir("lab").startswith(str(tmp_path / "home"))
    for bad in ("", "a/b", ".", ".."):
        with pytest.raises(InvalidArgError):
            daemon.state_dir(bad)


@pytest.mark.parametrize("spec,expect", [
    (None, None), ("", None),
    ("127.0.0.1:8000", ("127.0.0.1", 8000)),
    ("localhost:8000", ("localhost", 8000)),
    ("[::1]:8000", ("::1", 8000)),
    (":8000", ("127.0.0.1", 8000)),
    ("127.1.2.3:1", ("127.1.2.3", 1)),
])
def test_parse_tcp_accepts_loopback(spec, expect):
    assert daemon.parse_tcp(spec) == expect


@pytest.mark.parametrize("spec", ["0.0.0.0:8000", "192.168.1.5:8000", "[::]:8000", "example.com:80"])
def test_parse_tcp_refuses_non_loopback_without_force(spec):
    with pytest.raises(InvalidArgError, match="non-loopback"):
        daemon.parse_tcp(spec)
    host, port = daemon.parse_tcp(spec, force=True)
    assert port in (8000, 80)


@pytest.mark.parametrize("spec", ["8000", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http",
                                  "127.0.0.1:-1"])
def test_parse_tcp_rejects_malformed(spec):
    with pytest.raises(InvalidArgError, match="HOST:PORT"):
        daemon.parse_tcp(spec)


def test_start_refuses_bad_options_before_forking(root):
    with pytest.raises(InvalidArgError, match="non-loopback"):
        daemon.start("d", root=root, tcp="0.0.0.0:8000", latency_ms=0)
    for bad in (0, 0x7FF0, -5):
        with pytest.raises(InvalidArgError, match="first-domid"):
            daemon.start("d", root=root, first_domid=bad, latency_ms=0)
    assert not os.path.exists(os.path.join(root, "sim.pid"))
    assert daemon.status("d", root)["running"] is False


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_xend_over_loopback_tcp(root):
    port = _free_port()
    st = daemon.start("d", root=root, domains=1, latency_ms=0, tcp=f"127.0.0.1:{port}")
    assert st["settings"]["tcp"] == f"127.0.0.1:{port}"
    x = XendClient(("127.0.0.1", port))
    assert x.get("/xend/domain") == ["Domain-0", "web-01"]
    assert XendClient(daemon.SimPaths(root).xend).get("/xend/domain") == ["Domain-0", "web-01"]


def test_latency_option_slows_xend(root):
    daemon.start("d", root=root, domains=1, latency_ms=80)
    x = XendClient(daemon.SimPaths(root).xend)
    t0 = time.monotonic()
    x.get("/xend/node/")
    assert time.monotonic() - t0 >= 0.075


def test_stale_pid_file_naming_an_unrelated_process(root):
    """After a kill -9 the pid in sim.pid may belong to another process by now: leave it alone."""
    import subprocess
    other = subprocess.Popen(["sleep", "30"])
    try:
        os.makedirs(root, mode=0o700)
        open(daemon.SimPaths(root).marker, "w").close()  # the state directory of a killed host
        with open(os.path.join(root, "sim.pid"), "w") as f:
            f.write(str(other.pid))
        assert daemon.status("d", root)["running"] is False
        assert daemon.stop("d", root=root, timeout=1) is False
        assert other.poll() is None                     # not signalled
        st = daemon.start("d", root=root, domains=1, latency_ms=0)
        assert st["running"] is True and st["pid"] != other.pid
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
