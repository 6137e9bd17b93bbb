"""Managed (defined) domain configs survive stop and kill -9 of the simulator; running domains do not."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid as uuidlib

import pytest

from xvirt.errors import HttpError, LibvirtError, NoConnectError, NoDomainError
from xvirt.protocol import sxp
from xvirt.sim import daemon
from xvirt.sim.control import SimControl
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient


def cfg(name: str, uuid: str, memory: int = 64, vcpus: int = 1, on_crash: str = "restart") -> str:
    return (f"(vm (name {name}) (uuid {uuid}) (memory {memory}) (maxmem {memory * 2}) (vcpus {vcpus}) "
            f"(on_crash {on_crash}) (image (linux (kernel /boot/vmlinuz-xen) (args 'console=xvc0 quiet'))) "
            f"(device (vif (mac 00:16:3e:00:00:{memory % 256:02x}) (bridge xenbr0))))")


@pytest.fixture
def host_root(tmp_path):
    root = str(tmp_path / "h")
    yield root
    daemon.stop("p", root=root)


def start(root: str, domains: int = 2) -> daemon.SimPaths:
    daemon.start("p", root=root, domains=domains, latency_ms=0)
    return daemon.SimPaths(root)


def kill9(root: str) -> None:
    with open(daemon.SimPaths(root).pidfile) as f:
        pid = int(f.read())
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)   # our child (daemon.start spawned it): reap it
    except ChildProcessError:
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.01)


def boot_info(paths: daemon.SimPaths) -> dict:
    with open(paths.info) as f:
        return json.load(f)


def managed_files(paths: daemon.SimPaths) -> dict[str, list]:
    out = {}
    for name in os.listdir(paths.managed):
        with open(os.path.join(paths.managed, name)) as f:
            out[name] = sxp.parse(f.read())
    return out


@pytest.mark.parametrize("how", ["stop", "kill -9"])
def test_defined_domains_survive_and_come_back_inactive(host_root, how):
    paths = start(host_root)
    x = XendClient(paths.xend)
    defined = {}
    for i in range(5):
        u = str(uuidlib.uuid4())
        x.post("/xend/domain/", "new", config=cfg(f"def{i}", u, memory=64 + 32 * i, vcpus=1 + i % 3,
                                                   on_crash="preserve" if i % 2 else "restart"))
        defined[f"def{i}"] = u
    x.post("/xend/domain/def0", "start")                          # running when the host goes
    x.post("/xend/domain/def1", "rename", name="def1-renamed")    # persisted rename
    defined["def1-renamed"] = defined.pop("def1")
    x.post("/xend/domain/def2", "maxmem_set", memory=512)         # persisted change
    x.post("/xend/domain/def3", "delete")                         # undefined: stays gone
    gone_uuid = defined.pop("def3")
    x.post("/xend/domain/", "create", config=cfg("transient", str(uuidlib.uuid4())))
    ctl = SimControl(paths.control)
    running_before = {d["name"] for d in ctl.truth()["running"]}
    ctl.close()
    assert {"def0", "transient"} <= running_before

    if how == "stop":
        assert daemon.stop("p", root=host_root) is True
        assert not os.path.exists(paths.pidfile)
    else:
        kill9(host_root)
        assert os.path.exists(paths.pidfile)                      # nobody cleaned up
    assert daemon.status("p", host_root)["running"] is False

    start(host_root)
    info = boot_info(paths)
    assert info["boot_errors"] == []
    assert info["loaded_managed"] == len(defined) + 3             # + the seed's 2 running, 1 inactive
    halted = x.get("/xend/domain", state="halted")
    running = x.get("/xend/domain")
    for name, u in defined.items():
        assert name in halted and name not in running, name
        rec = x.get(f"/xend/domain/{u}")
        assert sxp.child_value(rec, "name") == name
        assert sxp.child_value(rec, "domid") is None and sxp.child_value(rec, "status") == "0"
        i = int(name[3])
        assert sxp.child_value(rec, "memory") == str(64 + 32 * i)
        assert sxp.child_value(rec, "vcpus") == str(1 + i % 3)
        assert sxp.child_value(rec, "on_crash") == ("preserve" if i % 2 else "restart")
        assert sxp.child_value(sxp.child(rec, "image")[1], "args") == "console=xvc0 quiet"
    assert sxp.child_value(x.get("/xend/domain/def2"), "maxmem") == "512"
    with pytest.raises(NoDomainError):
        x.get("/xend/domain/transient")                           # running domains died with the host
    with pytest.raises(NoDomainError):
        x.get(f"/xend/domain/{gone_uuid}")
    # a fresh boot: ids start again at 1; only dom0 and the seeded guests run
    table = DomainTableReader(paths.domtable)
    assert table.list_ids() == [0, 1, 2]
    table.close()
    files = managed_files(paths)
    assert all(n.endswith(".sxp") and ".tmp" not in n for n in files)
    assert {sxp.child_value(c, "uuid") for c in files.values()} >= set(defined.values())
    # and they still work
    x.post("/xend/domain/def0", "start")
    assert "def0" in x.get("/xend/domain")


def test_kill9_during_a_define_undefine_burst(host_root):
    paths = start(host_root, domains=1)
    x = XendClient(paths.xend, timeout=10)
    lock = threading.Lock()
    acked: list[tuple[str, str, str]] = []          # (name, op, uuid) in acknowledgement order
    inflight: dict[str, tuple[str, str]] = {}       # name -> (op, uuid) sent, reply not seen
    failures: list[str] = []
    stop = threading.Event()

    def burst(prefix: str) -> None:
        state: dict[str, str] = {}                   # name -> uuid while defined
        i = 0
        while not stop.is_set():
            name = f"{prefix}{i % 25}"
            i += 1
            if name in state:
                op, u = "delete", state[name]
            else:
                op, u = "new", str(uuidlib.uuid4())
            with lock:
                inflight[name] = (op, u)
            try:
                if op == "new":
                    x.post("/xend/domain/", "new", config=cfg(name, u, memory=32 + i % 200))
                else:
                    x.post(f"/xend/domain/{name}", "delete")
            except (NoConnectError, HttpError):
                return                                # the host is gone: stop here
            except LibvirtError as e:                 # XenD refused: a real failure
                failures.append(f"{op} {name}: {e}")
                return
            with lock:
                del inflight[name]
                acked.append((name, op, u))
            if op == "new":
                state[name] = u
            else:
                del state[name]

    threads = [threading.Thread(target=burst, args=(p,)) for p in ("ba", "bb")]
    for t in threads:
        t.start()
    # kill in the middle of the burst once it has done enough (a condition, not a time): the
    # deadline only bounds a burst that stalls, which the assertions below then report
    deadline = time.monotonic() + 120
    while (len(acked) <= 60 and not failures and any(t.is_alive() for t in threads)
           and time.monotonic() < deadline):
        time.sleep(0.01)
    kill9(host_root)
    stop.set()
    for t in threads:
        t.join(15)
    assert not failures, failures
    assert len(acked) > 50, f"only {len(acked)} operations in the burst"

    # leftovers of interrupted writes must never be taken for configs
    ghost = str(uuidlib.uuid4())
    with open(os.path.join(paths.managed, f"{ghost}.sxp.tmp.4242.99"), "w") as f:
        f.write(cfg("ghost-from-tmp", ghost))
    with open(os.path.join(paths.managed, f"{ghost}.sxp.tmp.4242.98"), "w") as f:
        f.write("(vm (name torn")

    start(host_root, domains=1)
    info = boot_info(paths)
    assert info["boot_errors"] == []
    expect: dict[str, str | None] = {}
    for name, op, u in acked:
        expect[name] = u if op == "new" else None
    present = {}
    for name in x.get("/xend/domain", state="all"):
        present[name] = sxp.child_value(x.get(f"/xend/domain/{name}"), "uuid")
    checked = 0
    for name, u in expect.items():
        if name in inflight:
            op, u2 = inflight[name]
            # outcome unknown: either before or after the interrupted operation
            assert present.get(name) in {u, u2 if op == "new" else None}, name
            continue
        checked += 1
        if u is None:
            assert name not in present, f"acknowledged undefine of {name} was lost"
        else:
            assert present.get(name) == u, f"acknowledged define of {name} was lost"
            rec = x.get(f"/xend/domain/{u}")
            assert sxp.child_value(rec, "name") == name and sxp.child_value(rec, "domid") is None
    assert checked >= 20
    assert "ghost-from-tmp" not in present
    files = managed_files(paths)                      # every file parses
    assert not [n for n in files if ".tmp" in n]
    for fname, config in files.items():
        assert fname == f"{sxp.child_value(config, 'uuid')}.sxp"


def test_unreadable_config_is_reported_not_fatal(host_root):
    paths = start(host_root, domains=1)
    x = XendClient(paths.xend)
    u = str(uuidlib.uuid4())
    x.post("/xend/domain/", "new", config=cfg("fine", u))
    daemon.stop("p", root=host_root)
    bad = os.path.join(paths.managed, f"{uuidlib.uuid4()}.sxp")
    with open(bad, "w") as f:
        f.write("(vm (name broken")
    start(host_root, domains=1)
    info = boot_info(paths)
    assert any(os.path.basename(bad) in e for e in info["boot_errors"])
    assert "fine" in x.get("/xend/domain", state="halted")
    assert os.path.exists(bad)                        # left in place for the operator


def test_a_defined_domain_holding_a_seed_name_survives_restart(host_root):
    paths = start(host_root, domains=2)
    x = XendClient(paths.xend)
    halted = x.get("/xend/domain", state="halted")
    assert halted == ["cache-01"]                     # the seed's defined-but-inactive domain
    seed_uuid = sxp.child_value(x.get("/xend/domain/cache-01"), "uuid")
    x.post("/xend/domain/cache-01", "delete")
    mine = str(uuidlib.uuid4())
    x.post("/xend/domain/", "new", config=cfg("cache-01", mine))
    daemon.stop("p", root=host_root)
    start(host_root, domains=2)                      # used to die: seed name already in use
    assert sxp.child_value(x.get("/xend/domain/cache-01"), "uuid") == mine
    assert any("seed domain skipped" in e for e in boot_info(paths)["boot_errors"])
    assert seed_uuid != mine
