"""Runs a simulated Xen host as a process: state directory, start/stop/status/env, no root needed.

``start`` launches ``python -m xvirt.sim.daemon`` detached (its own session, output to
``sim.log``) and returns once the control socket answers; the process writes ``sim.pid`` and
``sim.json`` (its settings and socket paths) and removes its sockets when it stops (SIGTERM,
SIGINT or the control ``stop`` command). Running domains die with it, as on a host reboot;
managed configs stay under ``managed/``.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass

from ..errors import InvalidArgError, NoConnectError, OperationFailedError

__all__ = ["SimPaths", "state_dir", "start", "stop", "status", "is_running", "env_lines", "sim_uri", "parse_tcp", "main"]


def state_dir(name: str = "default") -> str:
    if not name or "/" in name or name in (".", ".."):
        raise InvalidArgError(f"invalid simulated host name {name!r}")
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base) and os.access(base, os.W_OK):
        return os.path.join(base, "xvirt", "sim", name)
    return os.path.join(os.path.expanduser("~"), ".local", "state", "xvirt", "sim", name)


@dataclass(frozen=True)
class SimPaths:
    root: str

    @property
    def xend(self) -> str:
        return os.path.join(self.root, "xend.sock")

    @property
    def xenstored(self) -> str:
        return os.path.join(self.root, "xenstored.sock")

    @property
    def xenstored_ro(self) -> str:
        return os.path.join(self.root, "xenstored_ro.sock")

    @property
    def control(self) -> str:
        return os.path.join(self.root, "control.sock")

    @property
    def domtable(self) -> str:
        return os.path.join(self.root, "domtable")

    @property
    def managed(self) -> str:
        return os.path.join(self.root, "managed")

    @property
    def save(self) -> str:
        return os.path.join(self.root, "save")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.root, "sim.pid")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "sim.log")

    @property
    def info(self) -> str:
        return os.path.join(self.root, "sim.json")


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


def _read_pid(paths: SimPaths) -> int | None:
    try:
        with open(paths.pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def is_running(name: str = "default", root: str | None = None) -> bool:
    """Whether the simulated host answers (its pid lives and its control socket pings back):
    cheap at any number of domains, unlike ``status`` which counts them."""
    paths = SimPaths(root or state_dir(name))
    if _read_pid(paths) is None:
        return False
    from .control import SimControl
    try:
        ctl = SimControl(paths.control, timeout=5)
        try:
            return ctl.ping() == "pong"
        finally:
            ctl.close()
    except (NoConnectError, OperationFailedError):
        return False


def status(name: str = "default", root: str | None = None) -> dict:
    paths = SimPaths(root or state_dir(name))
    pid = _read_pid(paths)
    info: dict = {"name": name, "state_dir": paths.root, "running": False, "pid": pid}
    if pid is None:
        return info
    from .control import SimControl
    try:
        ctl = SimControl(paths.control, timeout=5)
        truth = ctl.truth()
        ctl.close()
    except (NoConnectError, OperationFailedError):
        return info
    info.update(running=True, domains=len(truth["running"]), inactive=len(truth["inactive"]))
    try:
        with open(paths.info) as f:
            info["settings"] = json.load(f)
    except (OSError, ValueError):
        pass
    return info


def start(name: str = "default", *, root: str | None = None, domains: int = 20, inactive: int | None = None,
          latency_ms: float = 40.0, tcp: str | None = None, force_tcp: bool = False, first_domid: int = 1,
          host_cpus: int = 8, max_domid: int = 0x7FEF, timeout: float = 120.0,
          python: str | None = None, toolstack: str = "xend") -> dict:
    """Start the simulated host unless it runs; returns its status. ``toolstack="xl"`` gives a
    host without XenD whose xenstore is laid out as libxl lays it out, driven by
    ``python -m xvirt.sim.xl --root STATE_DIR`` (the host's ``xl``)."""
    root = root or state_dir(name)
    paths = SimPaths(root)
    if _read_pid(paths) is not None:
        st = status(name, root)
        if st["running"]:
            return st
    parse_tcp(tcp, force=force_tcp)  # validate before forking
    if toolstack not in ("xend", "xl"):
        raise InvalidArgError(f"--toolstack must be 'xend' or 'xl', got {toolstack!r}")
    if not 1 <= max_domid <= 0x7FEF:
        raise InvalidArgError(f"--max-domid must be in 1..32751, got {max_domid}")
    if not 1 <= first_domid <= max_domid:
        raise InvalidArgError(f"--first-domid must be in 1..{max_domid}, got {first_domid}")
    os.makedirs(root, mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)
    for stale in (paths.pidfile, paths.info):  # left by a killed process; we wait for new ones
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    args = [python or sys.executable, "-m", "xvirt.sim.daemon", "--root", root, "--name", name,
            "--domains", str(domains), "--xend-latency-ms", str(latency_ms), "--first-domid", str(first_domid),
            "--host-cpus", str(host_cpus), "--max-domid", str(max_domid)]
    if inactive is not None:
        args += ["--inactive", str(inactive)]
    if toolstack != "xend":
        args += ["--toolstack", toolstack]
    if tcp:
        args += ["--tcp", tcp] + (["--force-tcp"] if force_tcp else [])
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    from .control import SimControl
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OperationFailedError(f"simulated host exited with status {proc.returncode}; see {paths.log}")
        if os.path.exists(paths.control) and os.path.exists(paths.info) and _read_pid(paths) == proc.pid:
            try:
                ctl = SimControl(paths.control, timeout=5)
                ctl.ping()
                ctl.close()
                return status(name, root)
            except (NoConnectError, OperationFailedError):
                pass
        time.sleep(0.02)
    proc.kill()
    raise OperationFailedError(f"simulated host did not start within {timeout:.0f}s; see {paths.log}")


def stop(name: str = "default", *, root: str | None = None, timeout: float = 30.0) -> bool:
    """Stop the simulated host; False if it was not running."""
    paths = SimPaths(root or state_dir(name))
    pid = _read_pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        try:  # reap it if it is our child (tests start it from this process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return True


def env_lines(name: str = "default", root: str | None = None) -> list[str]:
    paths = SimPaths(root or state_dir(name))
    return [f"export XENSTORED_PATH={paths.xenstored}",
            f"export XENSTORED_RO_PATH={paths.xenstored_ro}",
            f"export XEND_SOCKET={paths.xend}",
            f"export XVIRT_SIM_CONTROL={paths.control}",
            f"export XVIRT_DEFAULT_URI={sim_uri(name, root)}"]


def sim_uri(name: str = "default", root: str | None = None) -> str:
    """The connection URI of a simulated host (``?dir=`` when it lives outside the default place)."""
    return f"xen+sim:///{name}" if root is None else f"xen+sim:///{name}?dir={root}"


# -- the process --------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    from .control import ControlServer
    from .counters import Counters
    from .faults import Faults
    from .host import Host, HostSettings, XendOpError
    from .hypervisor import DomainTableWriter
    from .seed import seed_configs
    from .store import ConfigStore, SaveArea
    from .xend_server import XendServer
    from .xenstore_tree import XenstoreTree
    from .xenstored import XenstoredServer

    t0 = time.monotonic()
    paths = SimPaths(args.root)
    os.makedirs(paths.root, mode=0o700, exist_ok=True)
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)  # noqa: E731
    counters, faults = Counters(), Faults()
    settings = HostSettings(name=args.name, host_cpus=args.host_cpus, first_domid=args.first_domid,
                            max_domid=args.max_domid)
    tree = XenstoreTree(counters=counters)
    table = DomainTableWriter(paths.domtable, host_cpus=args.host_cpus, total_memory_mib=settings.total_memory,
                              cpu_mhz=settings.cpu_mhz, topology=settings.topology())
    xl = args.toolstack == "xl"
    host = Host(settings, tree=tree, table=table, store=ConfigStore(paths.managed),
                save_area=SaveArea(paths.save), log=log, layout="libxl" if xl else "xend")
    # with xl the toolstack keeps no defined domains (xvirt's libxl driver keeps them itself):
    # the seeded guests run as transient domains, as ``xl create`` makes them
    loaded = 0 if xl else host.load_managed()
    host.store.fsync = False  # seeding thousands of configs: one sync at the end instead
    n_inactive = 0 if xl else args.inactive if args.inactive is not None else min(3, max(1, args.domains // 5))
    for config, traits in seed_configs(args.domains, n_inactive):
        with host.lock:
            try:  # a domain defined since the last boot may hold a seed name: keep it, skip the seed
                dom = host.op_create(config) if xl else host.op_new(config)
            except XendOpError as e:
                host.boot_errors.append(f"seed domain skipped: {e.message}")
                continue
            if xl:
                dom.blocked, dom.activity = traits["blocked"], traits["activity"]
                if not traits["paused"]:
                    host.op_unpause(dom)
            elif traits["running"] and not dom.running:
                dom.blocked, dom.activity = traits["blocked"], traits["activity"]
                host.op_start(dom, paused=traits["paused"])
    host.store.fsync = True
    os.sync()
    # the seeded domains live as long as the host: keep their objects out of every later GC pass
    # (with 10000 domains the collector otherwise dominates e.g. building ?detail=1, 1 s -> 0.3 s)
    gc.collect()
    gc.freeze()
    xs = XenstoredServer(tree, paths.xenstored, paths.xenstored_ro, counters=counters, faults=faults)
    xs.start()
    tcp = parse_tcp(args.tcp, force=args.force_tcp)
    xend = None
    if not xl:
        xend = XendServer(host, paths.xend, tcp=tcp, latency=args.xend_latency_ms / 1000.0,
                          counters=counters, faults=faults, allow_non_loopback=args.force_tcp)
        xend.start()
    done = threading.Event()
    control = ControlServer(host, paths.control, counters=counters, faults=faults, on_stop=done.set,
                            xend_server=xend)
    control.start()
    counters.reset()  # seeding is not client traffic
    with open(paths.pidfile, "w") as f:
        f.write(str(os.getpid()))
    if xl:  # boot starts xvirt's autostart domains (as libvirtd does at its start), before "ready"
        _autostart(args.name, paths.root, log)
    info = {"name": args.name, "pid": os.getpid(), "uri": f"xen+sim:///{args.name}",
            "xend_latency_ms": args.xend_latency_ms, "tcp": args.tcp, "domains": args.domains,
            "first_domid": args.first_domid, "host_cpus": args.host_cpus, "toolstack": args.toolstack,
            "started": time.time(), "start_seconds": round(time.monotonic() - t0, 3),
            "loaded_managed": loaded, "boot_errors": host.boot_errors, "paths": asdict(paths)}
    tmp = paths.info + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, paths.info)
    log(f"simulated host {args.name!r} up in {info['start_seconds']}s: {args.domains} running, "
        f"{loaded} managed configs loaded")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    log("stopping")
    control.stop()
    if xend is not None:
        xend.stop()
    xs.stop()
    host.close()
    table.close()
    for p in (paths.pidfile, paths.info):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    return 0


def _autostart(name: str, root: str, log) -> None:
    config_dir = os.path.join(root, "libxl")
    if not any(n.endswith(".autostart") for n in (os.listdir(config_dir) if os.path.isdir(config_dir) else [])):
        return
    try:
        from ..connection import Connection
        with Connection(sim_uri(name, root)) as conn:
            started = conn.start_autostart_domains()
        log(f"autostart: started {len(started)} domain(s)")
    except Exception as e:  # noqa: BLE001 - a failed autostart must not take the host down
        log(f"autostart failed: {e!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xvirt.sim.daemon")
    p.add_argument("--root", required=True)
    p.add_argument("--name", default="default")
    p.add_argument("--domains", type=int, default=20)
    p.add_argument("--inactive", type=int, default=None)
    p.add_argument("--xend-latency-ms", type=float, default=40.0)
    p.add_argument("--tcp", default=None)
    p.add_argument("--force-tcp", action="store_true")
    p.add_argument("--first-domid", type=int, default=1)
    p.add_argument("--host-cpus", type=int, default=8)
    p.add_argument("--max-domid", type=int, default=0x7FEF, help="shrink the id space (tests)")
    p.add_argument("--toolstack", choices=("xend", "xl"), default="xend")
    return serve(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
