"""Every simulated XenD operation is all or nothing (issue 12, items 1, 2 and 5): a refused or
failed operation leaves the model, the domain table, xenstore and the managed configs on disk as
they were, and the domain keeps working."""

from __future__ import annotations

import os
import uuid as uuidlib

import pytest

from xvirt.errors import NoDomainError, PostFailedError
from xvirt.protocol import sxp
from xvirt.protocol.xenstore import XsNoEntError
from xvirt.sim.simdomain import MAX_MEMORY_MIB, MAX_NAME_LEN
from xvirt.transport.hypervisor import DomainTableReader
from xvirt.transport.xend import XendClient
from xvirt.transport.xenstore import XenstoreClient

pytestmark = pytest.mark.simhost(domains=2)

HUGE = "9999999999999999999999"


def cfg(name: str, *, uuid: str | None = None, memory: str | int = 64, maxmem=None) -> str:
    uuid = uuid or str(uuidlib.uuid4())
    return (f"(vm (name '{name}') (uuid {uuid}) (memory {memory}) (maxmem {maxmem or memory}) "
            f"(vcpus 1) (image (linux (kernel /boot/vmlinuz))))")


class Env:
    def __init__(self, simhost) -> None:
        self.h, self.ctl = simhost, simhost.control
        self.x = XendClient(simhost.paths.xend, timeout=10)
        self.table = DomainTableReader(simhost.paths.domtable)
        self.xs = XenstoreClient(simhost.paths.xenstored)

    def close(self) -> None:
        self.table.close()
        self.xs.close()

    def refused(self, path: str, op: str, **params) -> str:
        with pytest.raises(PostFailedError) as ei:
            self.x.post(path, op, **params)
        return ei.value.xend_message

    def state(self) -> dict:
        """Everything an operation could change: truth, table, xenstore domain dirs, disk."""
        truth = self.ctl.truth()
        truth.pop("pending", None)
        for d in truth["running"]:
            d.pop("cpu_ns")
        table = [(i.domid, i.uuid, i.flags, i.tot_pages, i.max_pages, i.online_vcpus)
                 for i in self.table.snapshot()]
        xs = sorted(self.xs.directory("/local/domain")), sorted(self.xs.directory("/vm"))
        managed = {}
        for name in sorted(os.listdir(self.h.paths.managed)) if os.path.isdir(self.h.paths.managed) else []:
            with open(os.path.join(self.h.paths.managed, name), "rb") as f:
                managed[name] = f.read()
        return {"truth": truth, "table": table, "xs": xs, "managed": managed}

    def create(self, name: str, **kw) -> int:
        rec = self.x.post("/xend/domain/", "create", config=cfg(name, **kw))
        domid = int(sxp.child_value(rec, "domid"))
        self.x.post(f"/xend/domain/{domid}", "unpause")
        return domid


@pytest.fixture
def env(simhost):
    e = Env(simhost)
    e.ctl.settle()
    yield e
    e.close()


def test_setmaxmem_out_of_range_changes_nothing_and_the_domain_keeps_working(env):
    domid = env.create("mm1")
    env.x.post("/xend/domain/", "new", config=cfg("mmdef"))
    before = env.state()
    for dom in ("mm1", "mmdef"):
        for value in (HUGE, str(MAX_MEMORY_MIB + 1), "0", "-5"):
            msg = env.refused(f"/xend/domain/{dom}", "maxmem_set", memory=value)
            assert "Invalid memory size" in msg, msg
            msg = env.refused(f"/xend/domain/{dom}", "mem_target_set", target=value)
            assert "memory" in msg.lower(), msg
    assert env.state() == before
    # the domain is not stuck: pause, unpause, setmem and a save still work
    env.x.post("/xend/domain/mm1", "pause")
    env.x.post("/xend/domain/mm1", "unpause")
    env.x.post("/xend/domain/mm1", "mem_target_set", target="32")
    assert env.table.info(domid).memory_kib == 32 * 1024
    env.x.post("/xend/domain/mm1", "save", file="mm1.img")
    env.ctl.settle()
    with pytest.raises(NoDomainError):
        env.x.get("/xend/domain/mm1")


def test_largest_memory_xen_holds_is_accepted(env):
    env.create("big1")
    env.x.post("/xend/domain/big1", "maxmem_set", memory=str(MAX_MEMORY_MIB))
    rec = env.x.get("/xend/domain/big1")
    assert sxp.child_value(rec, "maxmem") == str(MAX_MEMORY_MIB)
    env.x.post("/xend/domain/big1", "save", file="big1.img")   # the image holds it too
    env.ctl.settle()
    env.x.post("/xend/domain/", "restore", file="big1.img")
    assert sxp.child_value(env.x.get("/xend/domain/big1"), "maxmem") == str(MAX_MEMORY_MIB)


def test_create_with_huge_memory_leaves_no_ghost(env):
    before = env.state()
    for config in (cfg("ghost1", memory="99999999999999999999"),
                   cfg("ghost2", memory=64, maxmem=HUGE)):
        msg = env.refused("/xend/domain/", "create", config=config)
        assert "Invalid memory size" in msg, msg
        msg = env.refused("/xend/domain/", "new", config=config)
        assert "Invalid memory size" in msg, msg
    assert env.state() == before
    for name in ("ghost1", "ghost2"):
        with pytest.raises(NoDomainError):
            env.x.get(f"/xend/domain/{name}")
    # the next create gets the id the failed ones would have had, and works
    domid = env.create("after-ghost")
    assert domid == before["truth"]["rover"] + 1
    assert env.xs.read(f"/local/domain/{domid}/name") == b"after-ghost"


def test_create_with_a_name_too_long_leaves_no_ghost_id(env):
    before = env.state()
    for name in ("n" * 5000, "n" * (MAX_NAME_LEN + 1)):
        msg = env.refused("/xend/domain/", "create", config=cfg(name))
        assert "invalid vm name" in msg and "longer than" in msg, msg
        assert "invalid vm name" in env.refused("/xend/domain/", "new", config=cfg(name))
    assert env.state() == before
    longest = "n" * MAX_NAME_LEN                       # the limit itself is fine, and saves
    domid = env.create(longest)
    assert env.xs.read(f"/local/domain/{domid}/name") == longest.encode()
    env.x.post(f"/xend/domain/{domid}", "save", file="long.img")
    env.ctl.settle()
    env.x.post("/xend/domain/", "restore", file="long.img")
    assert sxp.child_value(env.x.get(f"/xend/domain/{longest}"), "name") == longest


@pytest.mark.parametrize("name", ["a/b", "/lead", "trail/", "sp ace", "x\u00e9"])
def test_names_xend_cannot_carry_are_refused_at_create_define_and_rename(env, name):
    env.create("victim")
    before = env.state()
    for op in ("create", "new"):
        msg = env.refused("/xend/domain/", op, config=cfg(name))
        assert "invalid vm name" in msg, msg
    msg = env.refused("/xend/domain/victim", "rename", name=name)
    assert "invalid vm name" in msg, msg
    assert env.state() == before


def test_huge_mem_target_then_save_does_not_stick_in_saving(env):
    env.create("sv1")
    env.refused("/xend/domain/sv1", "maxmem_set", memory=HUGE)
    env.refused("/xend/domain/sv1", "mem_target_set", target=HUGE)
    env.x.post("/xend/domain/sv1", "save", file="sv1.img")
    env.ctl.settle()
    env.x.post("/xend/domain/", "restore", file="sv1.img")
    assert sxp.child_value(env.x.get("/xend/domain/sv1"), "name") == "sv1"


class ManagedDir:
    """Replaces managed/ by a regular file: every write of a config then fails (even for root)."""

    def __init__(self, path: str) -> None:
        self.path, self.aside = path, path + ".aside"

    def break_(self) -> None:
        os.rename(self.path, self.aside)
        with open(self.path, "wb"):
            pass

    def repair(self) -> None:
        if os.path.isfile(self.path):
            os.unlink(self.path)
            os.rename(self.aside, self.path)


@pytest.fixture
def managed_dir(env):
    m = ManagedDir(env.h.paths.managed)
    yield m
    m.repair()


def _managed_count(env) -> int:
    return len(os.listdir(env.h.paths.managed))


def test_unwritable_managed_dir_setmem_define_rename_change_nothing(env, managed_dir):
    env.x.post("/xend/domain/", "new", config=cfg("pm1", memory=128))
    env.x.post("/xend/domain/", "new", config=cfg("pm2", memory=128))
    env.x.post("/xend/domain/pm2", "start")
    env.ctl.settle()
    n_configs = _managed_count(env)
    managed_dir.break_()
    before = env.state()
    for dom in ("pm1", "pm2"):
        msg = env.refused(f"/xend/domain/{dom}", "mem_target_set", target="64")
        assert "Error saving the configuration" in msg, msg
        msg = env.refused(f"/xend/domain/{dom}", "maxmem_set", memory="96")
        assert "Error saving the configuration" in msg, msg
        msg = env.refused(f"/xend/domain/{dom}", "rename", name=f"{dom}-new")
        assert "Error saving the configuration" in msg, msg
        assert sxp.child_value(env.x.get(f"/xend/domain/{dom}"), "memory") == "128"
        with pytest.raises(NoDomainError):
            env.x.get(f"/xend/domain/{dom}-new")
    msg = env.refused("/xend/domain/", "new", config=cfg("pm3"))
    assert "Error saving the configuration" in msg, msg
    with pytest.raises(NoDomainError):
        env.x.get("/xend/domain/pm3")
    assert "pm3" not in env.x.get("/xend/domain", state="halted")
    assert env.state() == before
    managed_dir.repair()
    assert _managed_count(env) == n_configs
    env.x.post("/xend/domain/pm2", "mem_target_set", target="64")   # works again
    assert sxp.child_value(env.x.get("/xend/domain/pm2"), "memory") == "64"
