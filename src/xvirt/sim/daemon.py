"""The simulated Xen host's process: ``python -m xvirt.sim.daemon --root DIR ...`` serves until stopped.

:mod:`.launcher` starts it detached (its own session, output to ``sim.log``) and waits for the
control socket; the process writes ``sim.pid`` and ``run.json`` (pid, socket paths, boot facts)
and removes them and its sockets when it stops (SIGTERM, SIGINT or the control ``stop``
command). Running domains die with it, as on a host reboot; managed configs stay under
``managed/``; ``sim.json`` keeps the settings the host was created with.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict

from ..atomicfile import write_atomic
from .launcher import is_running, parse_tcp, start, status, stop
from .paths import SimPaths, env_lines, prepare_state_dir, sim_uri, state_dir

# the names callers used before the launcher and paths modules existed (tests, benchmarks)
__all__ = ["SimPaths", "state_dir", "start", "stop", "status", "is_running", "env_lines", "sim_uri", "parse_tcp",
           "main", "serve"]


# -- the process --------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    from .control import ControlServer
    from .counters import Counters
    from .faults import Faults
    from .devstats import DevStatsWriter
    from .host import Host, HostSettings, XendOpError
    from .hypervisor import DomainTableWriter
    from .seed import seed_configs
    from .store import ConfigStore, SaveArea
    from .xend_server import XendServer
    from .xenstore_tree import XenstoreTree
    from .xenstored import XenstoredServer

    t0 = time.monotonic()
    paths = SimPaths(args.root)
    prepare_state_dir(paths.root)
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)  # noqa: E731
    counters, faults = Counters(), Faults()
    settings = HostSettings(name=args.name, host_cpus=args.host_cpus, first_domid=args.first_domid,
                            max_domid=args.max_domid)
    tree = XenstoreTree(counters=counters)
    table = DomainTableWriter(paths.domtable, host_cpus=args.host_cpus, total_memory_mib=settings.total_memory,
                              cpu_mhz=settings.cpu_mhz, topology=settings.topology())
    xl = args.toolstack == "xl"
    host = Host(settings, tree=tree, table=table, store=ConfigStore(paths.managed),
                save_area=SaveArea(paths.save), log=log, layout="libxl" if xl else "xend",
                devstats=DevStatsWriter(paths.stats, args.host_cpus))
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
    from .relocation import RelocationServer
    relocation = RelocationServer(host, paths.relocation, host.saves.dir)
    relocation.start()
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
    for path, data in ((paths.info, info), (paths.settings, None)):
        if data is None:  # started directly, not by the launcher: record what it was created with
            if os.path.exists(path):
                continue
            data = {"name": args.name, "created": time.time(), "settings": {
                "domains": args.domains, "inactive": args.inactive, "xend_latency_ms": args.xend_latency_ms,
                "tcp": args.tcp, "force_tcp": args.force_tcp, "first_domid": args.first_domid,
                "host_cpus": args.host_cpus, "max_domid": args.max_domid,
                "toolstack": args.toolstack}}
        write_atomic(path, json.dumps(data).encode(), fsync=False)
    log(f"simulated host {args.name!r} up in {info['start_seconds']}s: {args.domains} running, "
        f"{loaded} managed configs loaded")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    log("stopping")
    control.stop()
    relocation.stop()
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
