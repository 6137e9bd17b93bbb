"""Xen lifecycle and domain id semantics of the simulated host, driven through XenD and the control
socket of a real simulator process, checked against the host's truth, the domain table and
xenstore (DESIGN §4, reference/xend-protocol.md §1.4-1.5 and §5)."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid as uuidlib

import pytest

from xvirt.errors import NoDomainError, OperationFailedError, PostFailedError, XendError
from xvirt.protocol import domtable as dt
from xvirt.protocol import sxp
from xvirt.protocol.xenstore import XsNoEntError
from xvirt.sim.host import DOMID_MAX, Host, HostSettings, XendOpError
from xvirt.sim.hypervisor import DomainTableWriter
from xvirt.sim.store import ConfigStore, SaveArea
from xvirt.sim.xenstore_tree import XenstoreTree
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient
from xvirt.transport.xenstore import XenstoreClient

pytestmark = pytest.mark.simhost(domains=3)


# ------------------------------------------------------------------ helpers

def cfg(name: str, *, uuid: str | None = None, memory: int = 64, vcpus: int = 1,
        on_poweroff: str = "destroy", on_reboot: str = "restart", on_crash: str = "restart") -> str:
    uuid = uuid or str(uuidlib.uuid4())
    return (f"(vm (name {name}) (uuid {uuid}) (memory {memory}) (maxmem {memory}) (vcpus {vcpus}) "
            f"(on_poweroff {on_poweroff}) (on_reboot {on_reboot}) (on_crash {on_crash}) "
            f"(image (linux (kernel /boot/vmlinuz-2.6.18-xen) (root '/dev/xvda1 ro'))) "
            f"(device (vbd (dev xvda) (uname phy:/dev/vg0/{name}) (mode w))))")


class Env:
    """One simulated host seen through its three channels and its control socket."""

    def __init__(self, simhost) -> None:
        self.h = simhost
        self.ctl = simhost.control
        self.x = XendClient(simhost.paths.xend, timeout=10)
        self.table = DomainTableReader(simhost.paths.domtable)
        self.xs = XenstoreClient(simhost.paths.xenstored)

    def close(self) -> None:
        self.table.close()
        self.xs.close()

    def create(self, name: str, **kw) -> tuple[int, str]:
        """op=create (domain comes up paused) then unpause; returns (domid, uuid)."""
        rec = self.x.post("/xend/domain/", "create", config=cfg(name, **kw))
        assert sxp.child_value(rec, "name") == name
        domid = int(sxp.child_value(rec, "domid"))
        assert sxp.child_value(rec, "state")[2] == "p"      # created paused, as xend did
        self.x.post(f"/xend/domain/{domid}", "unpause")
        return domid, sxp.child_value(rec, "uuid")

    def define(self, name: str, **kw) -> str:
        u = kw.setdefault("uuid", str(uuidlib.uuid4()))
        assert self.x.post("/xend/domain/", "new", config=cfg(name, **kw)) is None
        return u

    def running(self) -> dict[str, dict]:
        return {d["name"]: d for d in self.ctl.truth()["running"]}

    def domid(self, name: str) -> int | None:
        d = self.running().get(name)
        return None if d is None else d["domid"]

    def names(self, state: str = "running") -> list[str]:
        return self.x.get("/xend/domain", state=state)

    def settings(self, **values) -> None:
        self.ctl.call("settings", set=values)

    def xs_read(self, path: str) -> bytes:
        return self.xs.read(path)

    def xend_error(self, path: str, op: str, **params) -> str:
        with pytest.raises(PostFailedError) as ei:
            self.x.post(path, op, **params)
        return ei.value.xend_message


@pytest.fixture
def env(simhost):
    e = Env(simhost)
    yield e
    e.close()


def wait_for(pred, timeout: float = 5.0, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# ------------------------------------------------------------------ save / restore

def test_save_then_restore_gives_new_id_same_uuid_and_name(env):
    domid, u = env.create("sr1", memory=96)
    assert env.x.post("/xend/domain/sr1", "save", file="sr1.img") is None
    image = os.path.join(env.h.paths.save, "sr1.img")
    with open(image, "rb") as f:
        head = f.read(20)
    assert head.startswith(b"LinuxGuestRecord")
    env.ctl.settle()
    with pytest.raises(NoDomainError):
        env.x.get("/xend/domain/sr1")
    assert env.table.info(domid) is None and "sr1" not in env.running()
    with pytest.raises(XsNoEntError):
        env.xs_read(f"/local/domain/{domid}/name")

    assert env.x.post("/xend/domain/", "restore", file="sr1.img") is None
    new = env.domid("sr1")
    assert new is not None and new != domid and new > domid      # the rover moves on
    rec = env.x.get("/xend/domain/sr1")
    assert int(sxp.child_value(rec, "domid")) == new
    assert sxp.child_value(rec, "uuid") == u
    assert sxp.child_value(rec, "memory") == "96"
    assert "p" not in sxp.child_value(rec, "state")               # restore resumes the domain
    info = env.table.info(new)
    assert info.handle == uuidlib.UUID(u).bytes and info.memory_kib == 96 * 1024
    assert not info.flags & (dt.PAUSED | dt.DYING)
    assert env.xs_read(f"/local/domain/{new}/name") == b"sr1"
    assert env.xs_read(f"/local/domain/{new}/vm") == f"/vm/{u}".encode()


def test_save_restore_of_a_managed_domain_and_absolute_path_inside_save_dir(env):
    u = env.define("sr2")
    env.x.post("/xend/domain/sr2", "start")
    first = env.domid("sr2")
    path = os.path.join(env.h.paths.save, "sub-sr2.img")
    env.x.post("/xend/domain/sr2", "save", file=path)
    env.ctl.settle()
    assert "sr2" in env.names("halted")                            # defined, no longer running
    rec = env.x.get("/xend/domain/sr2")
    assert sxp.child_value(rec, "domid") is None and sxp.child_value(rec, "status") == "0"
    env.x.post("/xend/domain/", "restore", file=path)
    second = env.domid("sr2")
    assert second not in (None, first)
    assert env.running()["sr2"]["uuid"] == u and env.running()["sr2"]["managed"] is True


def test_during_save_the_name_is_migrating(env):
    env.settings(save_delay=1.0)
    domid, u = env.create("mig")
    errors: list[BaseException] = []

    def save():
        try:
            env.x.post("/xend/domain/mig", "save", file="mig.img")
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    t = threading.Thread(target=save)
    t.start()
    try:
        wait_for(lambda: env.running().get("migrating-mig", {}).get("domid") == domid, timeout=3)
        # every channel shows the saving domain under its temporary name and the same id
        rec = env.x.get("/xend/domain/migrating-mig")
        assert int(sxp.child_value(rec, "domid")) == domid and sxp.child_value(rec, "uuid") == u
        assert env.xs_read(f"/local/domain/{domid}/name") == b"migrating-mig"
        assert "mig" not in env.names("all")
        with pytest.raises(NoDomainError):
            env.x.get("/xend/domain/mig")
        assert env.table.info(domid).flags & dt.PAUSED
        assert env.xend_error("/xend/domain/migrating-mig", "save", file="again.img") == \
            "Domain is already being saved"
    finally:
        t.join(10)
    assert not errors and not t.is_alive()
    env.ctl.settle()
    assert "migrating-mig" not in env.running() and "mig" not in env.running()
    assert os.path.exists(os.path.join(env.h.paths.save, "mig.img"))
    env.x.post("/xend/domain/", "restore", file="mig.img")
    assert env.running()["mig"]["uuid"] == u                       # saved under its real name


def test_save_outside_the_save_dir_is_refused(env):
    domid, _ = env.create("sv-out")
    for bad in ("/tmp/xvirt-evil.img", "../evil.img", "../../etc/evil", os.path.dirname(env.h.paths.save)):
        msg = env.xend_error("/xend/domain/sv-out", "save", file=bad)
        assert "is outside the save directory" in msg, msg
    assert env.xend_error("/xend/domain/sv-out", "save", file="") == "Invalid file name"
    assert not os.path.exists("/tmp/xvirt-evil.img")
    assert env.domid("sv-out") == domid                            # still running, same name and id
    msg = env.xend_error("/xend/domain/sv-out", "dump", file="/tmp/xvirt-core", live=0, crash=0)
    assert "outside" in msg


def test_restore_of_garbage_missing_or_outside_files(env):
    save = env.h.paths.save
    with open(os.path.join(save, "garbage.img"), "wb") as f:
        f.write(os.urandom(500))
    with open(os.path.join(save, "short.img"), "wb") as f:
        f.write(b"LinuxGuestRecord\x00\x00\x10\x00(vm (name x)")
    with open(os.path.join(save, "notsxp.img"), "wb") as f:
        body = b"(vm (name"
        f.write(b"LinuxGuestRecord" + len(body).to_bytes(4, "big") + body)
    with open(os.path.join(save, "noname.img"), "wb") as f:
        body = b"(vm (memory 64))"
        f.write(b"LinuxGuestRecord" + len(body).to_bytes(4, "big") + body)
    def ids():
        return [(d["domid"], d["name"], d["uuid"]) for d in env.ctl.truth()["running"]]

    before = ids()
    cases = {"garbage.img": "not a valid guest state file", "short.img": "truncated",
             "missing.img": "No such file or directory", "/etc/passwd": "outside",
             "notsxp.img": "Restore failed", "noname.img": "missing name"}
    for file, text in cases.items():
        msg = env.xend_error("/xend/domain/", "restore", file=file)
        assert msg.startswith("Restore failed") or "Invalid configuration" in msg, msg
        assert text in msg, (file, msg)
    assert ids() == before                                          # nothing was started


def test_restore_while_the_same_uuid_runs_is_refused(env):
    domid, u = env.create("twice")
    env.x.post("/xend/domain/twice", "save", file="twice.img")
    env.x.post("/xend/domain/", "restore", file="twice.img")
    assert "already running" in env.xend_error("/xend/domain/", "restore", file="twice.img")


# ------------------------------------------------------------------ id rover

@pytest.mark.simhost(domains=2, first_domid=32750)
def test_wrap_around_from_32750(env):
    t = env.ctl.truth()
    seeded = sorted(d["domid"] for d in t["running"])
    assert seeded == [0, 32750, 32751]                              # 0x7FEF is the last usable id
    ids = []
    for i in range(4):
        domid, _ = env.create(f"w{i}")
        ids.append(domid)
    assert ids == [1, 2, 3, 4]                                      # wrapped, 0 never handed out
    env.x.post("/xend/domain/w1", "destroy")
    env.ctl.settle()
    ids.append(env.create("w4")[0])
    assert ids[-1] == 5                                             # no reuse until the next wrap
    listed = env.table.list_ids()
    assert listed == [0, 1, 3, 4, 5, 32750, 32751]
    assert max(listed) <= DOMID_MAX == 0x7FEF
    assert [d["domid"] for d in env.ctl.truth()["running"]] == listed


@pytest.mark.simhost(domains=2, first_domid=9, max_domid=10)
def test_rover_skips_live_and_dying_ids_after_wrapping(env):
    """A shrunken id space (1..10) so the rover wraps twice in a few creates."""
    assert sorted(d["domid"] for d in env.ctl.truth()["running"]) == [0, 9, 10]
    env.settings(dying_delay=0)
    keep, _ = env.create("keep")
    assert keep == 1                                                # first wrap
    churn = []
    for _ in range(7):
        domid, _ = env.create("churn")
        churn.append(domid)
        env.x.post("/xend/domain/churn", "destroy")
    assert churn == [2, 3, 4, 5, 6, 7, 8]
    c2, _ = env.create("c2")
    assert c2 == 2                                                  # skipped 9, 10 (live) and 1 (live)
    env.settings(dying_delay=30)                                    # id 2 stays dying
    env.x.post("/xend/domain/c2", "destroy")
    assert env.table.info(2).flags & dt.DYING and 2 in env.ctl.truth()["dying"]
    env.settings(dying_delay=0)
    churn = []
    for _ in range(6):
        domid, _ = env.create("churn")
        churn.append(domid)
        env.x.post("/xend/domain/churn", "destroy")
    assert churn == [3, 4, 5, 6, 7, 8]
    nxt, _ = env.create("next")
    assert nxt == 3                                                 # skipped 9, 10, 1 live and 2 dying
    assert max(env.table.list_ids()) == 10


# ------------------------------------------------------------------ rename, pause

def test_rename_keeps_the_id(env):
    domid, u = env.create("rn1")
    assert env.x.post("/xend/domain/rn1", "rename", name="rn2") is None
    assert env.domid("rn2") == domid and "rn1" not in env.running()
    rec = env.x.get(f"/xend/domain/{domid}")
    assert sxp.child_value(rec, "name") == "rn2" and sxp.child_value(rec, "uuid") == u
    with pytest.raises(NoDomainError):
        env.x.get("/xend/domain/rn1")
    assert env.xs_read(f"/local/domain/{domid}/name") == b"rn2"
    assert env.xs_read(f"/vm/{u}/name") == b"rn2"
    assert env.table.info(domid).handle == uuidlib.UUID(u).bytes
    assert env.xend_error("/xend/domain/rn2", "rename", name="bad name!").startswith("invalid vm name")
    other, _ = env.create("other")
    assert "already in use" in env.xend_error("/xend/domain/rn2", "rename", name="other")
    # a defined (inactive) domain holds its name too
    env.define("parked")
    assert "already in use" in env.xend_error("/xend/domain/rn2", "rename", name="parked")
    assert env.domid("rn2") == domid
    # the freed name can be taken by a new domain
    assert env.create("rn1")[0] not in (domid, other)


def test_rename_of_a_managed_domain_persists(env):
    u = env.define("mrn")
    env.x.post("/xend/domain/mrn", "start")
    domid = env.domid("mrn")
    env.x.post("/xend/domain/mrn", "rename", name="mrn-renamed")
    assert env.domid("mrn-renamed") == domid
    with open(os.path.join(env.h.paths.managed, f"{u}.sxp")) as f:
        assert sxp.child_value(sxp.parse(f.read()), "name") == "mrn-renamed"


def test_pause_unpause_keep_the_id_and_freeze_cpu_time(env):
    domid, u = env.create("pz")
    env.x.post("/xend/domain/pz", "pause")
    assert env.domid("pz") == domid
    assert sxp.child_value(env.x.get("/xend/domain/pz"), "state") == "--p---"
    info = env.table.info(domid)
    assert info.flags & dt.PAUSED and info.state == 3
    frozen = info.cpu_time
    time.sleep(0.05)
    assert env.table.info(domid).cpu_time == frozen
    assert "pz" not in env.names() and "pz" in env.names("paused")
    env.x.post("/xend/domain/pz", "unpause")
    assert env.domid("pz") == domid
    info = env.table.info(domid)
    assert not info.flags & dt.PAUSED and info.state in (1, 2)
    time.sleep(0.05)
    assert env.table.info(domid).cpu_time > frozen
    assert "pz" in env.names()


# ------------------------------------------------------------------ shutdown, reboot, actions

def test_reboot_gives_a_new_id_after_the_guest_delay(env):
    env.settings(guest_delay=1.0, dying_delay=0.3)
    domid, u = env.create("rb")
    assert env.x.post("/xend/domain/rb", "shutdown", reason="reboot") is None
    # asynchronous: xend only asked the guest, which has not reacted yet
    assert env.xs_read(f"/local/domain/{domid}/control/shutdown") == b"reboot"
    assert env.domid("rb") == domid and env.table.info(domid).flags & dt.BLOCKED
    new = wait_for(lambda: (d := env.domid("rb")) != domid and d)
    assert new > domid
    assert env.running()["rb"]["uuid"] == u
    assert env.xs_read(f"/local/domain/{new}/name") == b"rb"
    assert env.table.find_handle(uuidlib.UUID(u).bytes).domid == new   # live record wins
    old = env.table.info(domid)
    assert old is None or old.flags & dt.DYING
    env.ctl.settle()
    assert env.table.info(domid) is None
    rec = env.x.get("/xend/domain/rb")
    assert int(sxp.child_value(rec, "domid")) == new and sxp.child_value(rec, "uuid") == u


@pytest.mark.parametrize("reason", ["poweroff", "halt"])
def test_shutdown_poweroff_destroys_unmanaged_and_deactivates_managed(env, reason):
    env.settings(guest_delay=0.01)
    domid, _ = env.create(f"po-{reason}")
    u = env.define(f"mpo-{reason}")
    env.x.post(f"/xend/domain/mpo-{reason}", "start")
    mid = env.domid(f"mpo-{reason}")
    env.x.post(f"/xend/domain/po-{reason}", "shutdown", reason=reason)
    env.x.post(f"/xend/domain/mpo-{reason}", "shutdown", reason=reason)
    env.ctl.settle()
    with pytest.raises(NoDomainError):
        env.x.get(f"/xend/domain/po-{reason}")
    assert env.table.info(domid) is None and env.table.info(mid) is None
    assert f"mpo-{reason}" in env.names("halted")
    rec = env.x.get(f"/xend/domain/{u}")
    assert sxp.child_value(rec, "name") == f"mpo-{reason}" and sxp.child_value(rec, "domid") is None
    env.x.post(f"/xend/domain/mpo-{reason}", "start")             # and it can start again
    assert env.domid(f"mpo-{reason}") not in (None, mid)


def test_shutdown_with_an_invalid_reason(env):
    env.create("badr")
    assert env.xend_error("/xend/domain/badr", "shutdown", reason="nap") == "Invalid reason: nap"
    assert env.xend_error("/xend/domain/badr", "shutdown") == "Missing parameter: reason"


def _wait_settled(env):
    assert env.ctl.settle() is True


@pytest.mark.parametrize("trigger,action,expect", [
    ("reboot", "destroy", "gone"),
    ("reboot", "restart", "new"),
    ("reboot", "preserve", "kept"),
    ("poweroff", "restart", "new"),
    ("poweroff", "preserve", "kept"),
    ("crash", "destroy", "gone"),
    ("crash", "restart", "new"),
    ("crash", "preserve", "kept"),
])
def test_shutdown_actions(env, trigger, action, expect):
    env.settings(guest_delay=0.01)
    key = {"reboot": "on_reboot", "poweroff": "on_poweroff", "crash": "on_crash"}[trigger]
    domid, u = env.create("act", **{key: action})
    if trigger == "crash":
        assert env.ctl.guest("crash", "act") is True                # from inside the guest
    else:
        env.x.post("/xend/domain/act", "shutdown", reason=trigger)
    _wait_settled(env)
    code = {"reboot": dt.SHUTDOWN_REBOOT, "poweroff": dt.SHUTDOWN_POWEROFF, "crash": dt.SHUTDOWN_CRASH}[trigger]
    if expect == "gone":
        assert "act" not in env.running() and env.table.info(domid) is None
        with pytest.raises(NoDomainError):
            env.x.get("/xend/domain/act")
    elif expect == "new":
        new = env.domid("act")
        assert new not in (None, domid) and env.running()["act"]["uuid"] == u
        assert env.table.info(domid) is None
        assert not env.table.info(new).flags & dt.SHUTDOWN
    else:  # preserve: same id, shut down with the reason, still listed until destroyed
        assert env.domid("act") == domid
        info = env.table.info(domid)
        assert info.flags & dt.SHUTDOWN and info.shutdown_code == code
        assert info.state == (6 if trigger == "crash" else 5)
        rec = env.x.get("/xend/domain/act")
        assert sxp.child_value(rec, "state") == ("----c-" if trigger == "crash" else "---s--")
        assert sxp.child_value(rec, "shutdown_reason") == trigger
        assert env.ctl.guest("crash", "act") is False               # already down
        env.x.post("/xend/domain/act", "destroy")
        _wait_settled(env)
        assert "act" not in env.running()


def test_on_crash_rename_restart(env):
    env.settings(guest_delay=0.01)
    domid, u = env.create("rr", on_crash="rename-restart")
    assert env.ctl.guest("crash", "rr") is True
    _wait_settled(env)
    run = env.running()
    kept = run["rr-1"]
    assert kept["domid"] == domid and kept["uuid"] != u              # the corpse, renamed, fresh uuid
    assert kept["state"] == "----c-"
    assert run["rr"]["uuid"] == u and run["rr"]["domid"] not in (domid, None)
    assert env.table.info(domid).shutdown_code == dt.SHUTDOWN_CRASH
    assert env.table.info(domid).handle == uuidlib.UUID(kept["uuid"]).bytes
    assert env.table.find_handle(uuidlib.UUID(u).bytes).domid == run["rr"]["domid"]
    assert env.xs_read(f"/local/domain/{domid}/name") == b"rr-1"
    assert env.xs_read(f"/local/domain/{run['rr']['domid']}/name") == b"rr"
    env.ctl.guest("crash", "rr")                                     # again: the next free suffix
    _wait_settled(env)
    assert {"rr", "rr-1", "rr-2"} <= set(env.running())
    env.x.post("/xend/domain/rr-1", "destroy")                       # the corpse can be cleaned up
    _wait_settled(env)
    assert "rr-1" not in env.running() and env.table.info(domid) is None


def test_guest_initiated_events_through_control(env):
    env.settings(guest_delay=0.01)
    domid, u = env.create("ge", on_reboot="restart", on_poweroff="destroy")
    assert env.ctl.guest("reboot", "ge") is True
    _wait_settled(env)
    new = env.domid("ge")
    assert new not in (None, domid)
    assert env.ctl.guest("poweroff", str(new)) is True              # by id
    _wait_settled(env)
    assert "ge" not in env.running()
    with pytest.raises(OperationFailedError, match="No domain named"):
        env.ctl.guest("crash", "ge")
    with pytest.raises(OperationFailedError, match="unknown guest event"):
        env.ctl.guest("explode", "Domain-0")


# ------------------------------------------------------------------ destroy and xenstore

def test_destroy_leaves_the_id_dying_briefly(env):
    env.settings(dying_delay=1.0)
    domid, u = env.create("dy")
    env.x.post("/xend/domain/dy", "destroy")
    info = env.table.info(domid)
    assert info is not None and info.flags & dt.DYING and info.state == 4
    assert not info.flags & (dt.RUNNING | dt.BLOCKED)
    assert domid in env.ctl.truth()["dying"]
    with pytest.raises(NoDomainError):                              # XenD forgets it at once
        env.x.get("/xend/domain/dy")
    with pytest.raises(XsNoEntError):
        env.xs_read(f"/local/domain/{domid}/name")
    assert str(domid) not in env.xs.directory("/local/domain")
    wait_for(lambda: env.table.info(domid) is None, timeout=3)
    assert env.ctl.truth()["dying"] == []


def test_xenstore_nodes_appear_and_vanish(env):
    domid, u = env.create("xsn", memory=96, vcpus=2)
    base = f"/local/domain/{domid}"
    assert env.xs_read(f"{base}/name") == b"xsn"
    assert env.xs_read(f"{base}/vm") == f"/vm/{u}".encode()
    assert env.xs_read(f"{base}/domid") == str(domid).encode()
    assert env.xs_read(f"{base}/memory/target") == b"98304"          # KiB
    assert env.xs_read(f"{base}/cpu/1/availability") == b"online"
    assert env.xs_read(f"/vm/{u}/name") == b"xsn"
    assert env.xs_read(f"/vm/{u}/uuid") == u.encode()
    assert str(domid) in env.xs.directory("/local/domain")
    assert env.xs.directory(f"{base}/device/vbd")                   # the disk's frontend
    env.x.post("/xend/domain/xsn", "mem_target_set", target=64)
    assert env.xs_read(f"{base}/memory/target") == b"65536"
    assert env.table.info(domid).memory_kib == 65536
    env.x.post("/xend/domain/xsn", "set_vcpus", vcpus=1)
    assert env.xs_read(f"{base}/cpu/1/availability") == b"offline"
    assert env.table.info(domid).online_vcpus == 1
    env.x.post("/xend/domain/xsn", "destroy")
    for path in (f"{base}/name", f"{base}/vm", f"{base}/memory/target", base, f"/vm/{u}"):
        with pytest.raises(XsNoEntError):
            env.xs_read(path)
    assert str(domid) not in env.xs.directory("/local/domain")
    with pytest.raises(XsNoEntError):
        env.xs_read(f"/local/domain/0/backend/vbd/{domid}")


def test_every_running_domain_has_its_xenstore_name(env):
    for d in env.ctl.truth()["running"]:
        assert env.xs_read(f"/local/domain/{d['domid']}/name") == d["name"].encode()
        assert env.xs_read(f"/local/domain/{d['domid']}/vm") == f"/vm/{d['uuid']}".encode()


# ------------------------------------------------------------------ refusals

def test_operations_on_an_inactive_domain(env):
    env.define("ina")
    ops = [("pause", {}), ("unpause", {}), ("destroy", {}), ("shutdown", {"reason": "poweroff"}),
           ("save", {"file": "ina.img"}), ("sysrq", {"key": 98}), ("wait_for_devices", {}),
           ("pincpu", {"vcpu": "0", "cpumap": "[0]"}),
           ("dump", {"file": "ina.core", "live": 0, "crash": 0})]
    for op, params in ops:
        assert env.xend_error("/xend/domain/ina", op, **params) == "Domain is not running", op
    with pytest.raises(XendError, match="Domain is not running"):
        env.x.get("/xend/domain/ina", op="vcpuinfo")
    env.x.post("/xend/domain/ina", "start")
    assert env.domid("ina") is not None
    assert env.xend_error("/xend/domain/ina", "start") == "Domain is already running"
    assert env.xend_error("/xend/domain/ina", "delete") == "Domain is not halted."
    env.x.post("/xend/domain/ina", "destroy")
    env.x.post("/xend/domain/ina", "delete")
    with pytest.raises(NoDomainError):
        env.x.get("/xend/domain/ina")
    # an unmanaged running domain cannot be deleted or started
    env.create("unm")
    assert env.xend_error("/xend/domain/unm", "delete") == "Domain is not halted."


def test_dom0_is_protected(env):
    for ref in ("0", "Domain-0"):
        path = f"/xend/domain/{ref}"
        assert env.xend_error(path, "destroy") == "Cannot destroy privileged domain 0"
        assert env.xend_error(path, "shutdown", reason="poweroff") == "Cannot shutdown privileged domain 0"
        assert env.xend_error(path, "save", file="dom0.img") == "Cannot save privileged domain 0"
        assert env.xend_error(path, "pause") == "Cannot pause privileged domain 0"
        assert env.xend_error(path, "rename", name="Domain-1") == "Cannot rename privileged domain 0"
        assert env.xend_error(path, "delete") == "Domain is not halted."
    assert env.ctl.guest("crash", "Domain-0") is False
    env.x.post("/xend/domain/0", "dump", file="dom0.core", live=1, crash=1)   # crash ignored for dom0
    env.ctl.settle()
    assert env.domid("Domain-0") == 0
    info = env.table.info(0)
    assert info.flags & dt.RUNNING and not info.flags & (dt.SHUTDOWN | dt.DYING | dt.PAUSED)
    assert env.xs_read("/local/domain/0/name") == b"Domain-0"
    assert not os.path.exists(os.path.join(env.h.paths.save, "dom0.img"))


def test_create_with_a_name_or_uuid_in_use(env):
    domid, u = env.create("dup")
    msg = env.xend_error("/xend/domain/", "create", config=cfg("dup"))
    assert msg.endswith(f"VM name 'dup' already in use by domain {domid}"), msg
    msg = env.xend_error("/xend/domain/", "create", config=cfg("dup2", uuid=u))
    assert "already running" in msg
    env.define("dupdef")
    assert "already in use" in env.xend_error("/xend/domain/", "create", config=cfg("dupdef"))
    assert "Invalid configuration: missing name" in \
        env.xend_error("/xend/domain/", "create", config="(vm (memory 64))")


# ------------------------------------------------------------------ the model, in process

def _host(tmp_path, **settings) -> Host:
    tree = XenstoreTree()
    table = DomainTableWriter(str(tmp_path / "domtable"), host_cpus=4)
    return Host(HostSettings(**settings), tree=tree, table=table,
                store=ConfigStore(str(tmp_path / "managed")), save_area=SaveArea(str(tmp_path / "save")))


def test_name_index_matches_a_full_scan_under_random_operations(tmp_path):
    """Host keeps a name index for name-in-use checks; it must agree with the domains it holds."""
    host = _host(tmp_path, guest_delay=0, dying_delay=0, save_delay=0)
    rng = random.Random(2006)
    names = [f"n{i}" for i in range(12)]
    try:
        for step in range(600):
            with host.lock:
                doms = list(host._by_uuid.values())
            name = rng.choice(names)
            action = rng.randrange(9)
            try:
                if action == 0:
                    dom = host.op_create(sxp.parse(cfg(name)))
                    host.op_unpause(dom)
                elif action == 1:
                    host.op_new(sxp.parse(cfg(name)))
                elif action == 2 and doms:
                    host.op_rename(rng.choice(doms), name)
                elif action == 3 and doms:
                    host.op_destroy(rng.choice(doms))
                elif action == 4 and doms:
                    host.op_delete(rng.choice(doms))
                elif action == 5 and doms:
                    host.op_start(rng.choice(doms))
                elif action == 6 and doms:
                    host.guest_shutdown(rng.choice(doms), rng.choice([0, 1, 3]))
                elif action == 7 and doms:
                    dom = rng.choice(doms)
                    host.op_save(dom, f"s{step}.img")
                    host.op_restore(f"s{step}.img")
                elif action == 8 and doms:
                    dom = rng.choice(doms)
                    dom.on_crash = "rename-restart"
                    host.guest_shutdown(dom, 3)
            except XendOpError:
                pass
            host.scheduler.settle()
            with host.lock:
                live = list(host._by_uuid.values())
                for n in names + [f"{m}-{k}" for m in names for k in (1, 2, 3)] + ["Domain-0"]:
                    scan = [d for d in live if d.name == n]
                    assert len(scan) <= 1, f"two domains named {n}"
                    assert host._name_owner(n) is (scan[0] if scan else None), (step, n)
                ids = [d.domid for d in live if d.running]
                assert len(ids) == len(set(ids)) and all(0 <= i <= DOMID_MAX for i in ids)
    finally:
        host.close()
        host.table.close()


def test_rover_allocation_in_process(tmp_path):
    host = _host(tmp_path, first_domid=DOMID_MAX - 1, dying_delay=30)
    try:
        a = host.op_create(sxp.parse(cfg("a")))
        b = host.op_create(sxp.parse(cfg("b")))
        c = host.op_create(sxp.parse(cfg("c")))
        assert (a.domid, b.domid, c.domid) == (DOMID_MAX - 1, DOMID_MAX, 1)
        host.op_destroy(b)                      # dying for 30 s: its id is still in use
        host._rover = DOMID_MAX - 2             # as if the rover had gone round once more
        d = host.op_create(sxp.parse(cfg("d")))
        assert d.domid == 2                      # skipped 0x7FEE (live), 0x7FEF (dying), 1 (live)
    finally:
        host.close()
        host.table.close()
