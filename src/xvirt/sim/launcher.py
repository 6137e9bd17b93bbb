"""Starts, checks and stops a simulated host from outside: runs ``python -m xvirt.sim.daemon``.

The library and the CLI use only this module (and :mod:`.paths`, :mod:`.control_client`) to
reach a simulated host, so that nothing on the client side imports the simulator's process code.
A host is created once with its settings, recorded in ``sim.json``; every later start uses
exactly those, and a start that asks for other ones is refused instead of silently applied.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time

from ..atomicfile import write_atomic
from ..errors import InvalidArgError, NoConnectError, OperationFailedError, OperationInvalidError
from .control_client import SimControl
from .paths import DEFAULT_NAME, SimPaths, check_state_dir, prepare_state_dir, state_dir

__all__ = ["DEFAULTS", "start", "stop", "status", "is_running", "recorded_settings", "parse_tcp",
           "ensure_running", "describe_start"]

# what a host is created with unless told otherwise (the keys of sim.json's "settings")
DEFAULTS = {"domains": 20, "inactive": None, "xend_latency_ms": 40.0, "tcp": None, "force_tcp": False,
            "first_domid": 1, "host_cpus": 8, "max_domid": 0x7FEF, "toolstack": "xend"}


def parse_tcp(spec: str | None, *, force: bool = False) -> tuple[str, int] | None:
    if not spec:
        return None
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgError(f"invalid --tcp {spec!r}: expected HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not force:
        raise InvalidArgError(f"refusing to listen on non-loopback address {host!r} (use --force-tcp to override)")
    return host, int(port)


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live simulator process. The pid file of a killed simulator may name a
    pid the system has since given to an unrelated process, which stop() must never signal; where
    /proc exists its command line tells (a zombie's is empty, so it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: never ours
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"xvirt.sim.daemon" in f.read()
        except OSError:
            return False
    return True


def _exiting(pid: int) -> bool:
    """Whether ``pid`` is between releasing its memory (empty command line) and becoming a
    zombie: it still holds its files and locks, so stop() waits (it never signals it again)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _read_pid(paths: SimPaths) -> int | None:
    try:
        with open(paths.pidfile) as f:
            pid = int(f.read(32).strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _read_json(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 20))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded_settings(name: str = DEFAULT_NAME, root: str | None = None) -> dict | None:
    """The settings the host was created with, or None if it was never started."""
    data = _read_json(SimPaths(root or state_dir(name)).settings)
    if data is None or not isinstance(data.get("settings"), dict):
        return None
    return {k: data["settings"].get(k, v) for k, v in DEFAULTS.items()}


def is_running(name: str = DEFAULT_NAME, root: str | None = None) -> bool:
    """Whether the simulated host answers (its pid lives and its control socket pings back):
    cheap at any number of domains, unlike ``status`` which counts them."""
    paths = SimPaths(root or state_dir(name))
    if _read_pid(paths) is None:
        return False
    try:
        ctl = SimControl(paths.control, timeout=5)
        try:
            return ctl.ping() == "pong"
        finally:
            ctl.close()
    except (NoConnectError, OperationFailedError):
        return False


def status(name: str = DEFAULT_NAME, root: str | None = None) -> dict:
    paths = SimPaths(root or state_dir(name))
    pid = _read_pid(paths)
    info: dict = {"name": name, "state_dir": paths.root, "running": False, "pid": pid}
    if pid is None:
        return info
    try:
        ctl = SimControl(paths.control, timeout=5)
        truth = ctl.truth()
        ctl.close()
    except (NoConnectError, OperationFailedError):
        return info
    info.update(running=True, domains=len(truth["running"]), inactive=len(truth["inactive"]))
    run = _read_json(paths.info)
    if run is not None:
        info["settings"] = run
    return info


def _validate(s: dict) -> None:
    parse_tcp(s["tcp"], force=bool(s["force_tcp"]))
    for key in ("domains", "first_domid", "host_cpus", "max_domid"):
        if not isinstance(s[key], int) or isinstance(s[key], bool):
            raise InvalidArgError(f"simulated host setting {key} must be an integer, got {s[key]!r}")
    if s["inactive"] is not None and (not isinstance(s["inactive"], int) or s["inactive"] < 0):
        raise InvalidArgError(f"simulated host setting inactive must be >= 0, got {s['inactive']!r}")
    if s["domains"] < 0 or s["host_cpus"] < 1 or float(s["xend_latency_ms"]) < 0:
        raise InvalidArgError("simulated host settings: domains >= 0, host_cpus >= 1, latency >= 0")
    if s["toolstack"] not in ("xend", "xl"):
        raise InvalidArgError(f"--toolstack must be 'xend' or 'xl', got {s['toolstack']!r}")
    if not 1 <= s["max_domid"] <= 0x7FEF:
        raise InvalidArgError(f"--max-domid must be in 1..32751, got {s['max_domid']}")
    if not 1 <= s["first_domid"] <= s["max_domid"]:
        raise InvalidArgError(f"--first-domid must be in 1..{s['max_domid']}, got {s['first_domid']}")


def _write_settings(paths: SimPaths, name: str, settings: dict) -> None:
    record = {"name": name, "settings": settings, "created": time.time()}
    write_atomic(paths.settings, json.dumps(record).encode(), fsync=False)


def start(name: str = DEFAULT_NAME, *, root: str | None = None, domains: int | None = None,
          inactive: int | None = None, latency_ms: float | None = None, tcp: str | None = None,
          force_tcp: bool | None = None, first_domid: int | None = None, host_cpus: int | None = None,
          max_domid: int | None = None, toolstack: str | None = None, timeout: float = 120.0,
          python: str | None = None) -> dict:
    """Start the simulated host unless it runs; returns its status (with ``started: True`` when
    this call started it). ``toolstack="xl"`` gives a host without XenD whose xenstore is laid out
    as libxl lays it out, driven by ``python -m xvirt.sim.xl --root STATE_DIR`` (the host's ``xl``).

    A host that was created before starts with the settings it was created with: asking for
    different ones raises OperationInvalidError and changes nothing (None means "as created").
    """
    root = root or state_dir(name)
    paths = SimPaths(root)
    requested = {k: v for k, v in (("domains", domains), ("inactive", inactive), ("xend_latency_ms", latency_ms),
                                   ("tcp", tcp), ("force_tcp", force_tcp), ("first_domid", first_domid),
                                   ("host_cpus", host_cpus), ("max_domid", max_domid), ("toolstack", toolstack))
                 if v is not None}
    if _read_pid(paths) is not None:
        st = status(name, root)
        if st["running"]:
            return st
    recorded = recorded_settings(name, root) if check_state_dir(root) else None
    if recorded is not None:
        differ = {k: v for k, v in requested.items() if recorded[k] != v}
        if differ:
            was = ", ".join(f"{k}={recorded[k]!r}" for k in differ)
            raise OperationInvalidError(
                f"simulated host {name!r} was created with {was}; it starts only with the settings it was "
                f"created with (to create it anew, remove {root})")
        settings = recorded
    else:
        settings = dict(DEFAULTS, **requested)
    _validate(settings)  # before anything is created
    prepare_state_dir(root)
    lock_fd = os.open(os.path.join(root, ".start.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # two clients starting one host: the second finds it running
        if _read_pid(paths) is not None and is_running(name, root):
            return status(name, root)
        if recorded is None:
            _write_settings(paths, name, settings)
        return _spawn(name, paths, settings, timeout, python)
    finally:
        os.close(lock_fd)


def _spawn(name: str, paths: SimPaths, s: dict, timeout: float, python: str | None) -> dict:
    for stale in (paths.pidfile, paths.info):  # left by a killed process; we wait for new ones
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    args = [python or sys.executable, "-m", "xvirt.sim.daemon", "--root", paths.root, "--name", name,
            "--domains", str(s["domains"]), "--xend-latency-ms", str(s["xend_latency_ms"]),
            "--first-domid", str(s["first_domid"]), "--host-cpus", str(s["host_cpus"]),
            "--max-domid", str(s["max_domid"])]
    if s["inactive"] is not None:
        args += ["--inactive", str(s["inactive"])]
    if s["toolstack"] != "xend":  # a host without XenD (the simulator's xl personality)
        args += ["--toolstack", s["toolstack"]]
    if s["tcp"]:
        args += ["--tcp", s["tcp"]] + (["--force-tcp"] if s["force_tcp"] else [])
    # the child runs this very package, wherever it was imported from
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OperationFailedError(f"simulated host exited with status {proc.returncode}; see {paths.log}")
        if os.path.exists(paths.control) and os.path.exists(paths.info) and _read_pid(paths) == proc.pid:
            try:
                ctl = SimControl(paths.control, timeout=5)
                ctl.ping()
                ctl.close()
                return dict(status(name, paths.root), started=True)
            except (NoConnectError, OperationFailedError):
                pass
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise OperationFailedError(f"simulated host did not start within {timeout:.0f}s; see {paths.log}")


def stop(name: str = DEFAULT_NAME, *, root: str | None = None, timeout: float = 30.0) -> bool:
    """Stop the simulated host (only the process its pid file names, if it is one); False if it was
    not running."""
    paths = SimPaths(root or state_dir(name))
    pid = _read_pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    if _pid_alive(pid):  # still our simulator (never a process that took its pid since)
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, KILL_WAIT)  # return once it is gone, as after SIGTERM (SIGKILL cannot be refused)
    return True


KILL_WAIT = 30.0  # seconds a SIGKILLed simulator may take to be gone on a very busy machine


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is no live simulator and not exiting (reaping it if it is our child)."""
    deadline = time.monotonic() + timeout
    while True:
        if not _pid_alive(pid) and not _exiting(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        try:  # reap it if it is our child (tests start it from this process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)


def describe_start(st: dict) -> str:
    s = st.get("settings") or {}
    return (f"started simulated host '{st['name']}' ({st.get('domains', '?')} running, "
            f"{st.get('inactive', '?')} inactive domains, XenD latency {s.get('xend_latency_ms', '?')} ms) "
            f"in {st['state_dir']}; stop it with `xvirt sim stop {st['name']}`")


def ensure_running(name: str, root: str | None, *, autostart: bool = True) -> dict | None:
    """For a connection: nothing if the host runs; start the embedded default host (returns its
    status, the caller says so); any other host that is not running is an error."""
    if is_running(name, root):
        return None
    if name == DEFAULT_NAME and root is None and autostart:
        return start(name)
    how = f"xvirt sim start {name}" + (f" --dir {root}" if root is not None else "")
    raise NoConnectError(f"simulated host {name!r} is not running; start it with `{how}`"
                         + ("" if name == DEFAULT_NAME else " (only the default host starts on demand)"))
