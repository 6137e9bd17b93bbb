"""Freshness under churn: after every step, every client answer equals the simulator's truth.

A hypothesis state machine interleaves client calls (lookups by id/name/UUID, info, lists, bulk
stats, through a strict three-channel connection and a XenD-only one) with churn done by "another
management tool" through the simulator's control socket: save/restore, reboot, rename, destroy,
create reusing a name with a new UUID, undefine then define with the same UUID, pause/unpause,
guest crash, XenD down/up. Ids start near the wrap point (0x7FEF) so they wrap during the run.
Churn settles before the next client call, so the truth read after a call is the truth during it
(test_race.py runs churn *during* calls and judges answers against the host's event log).
XVIRT_LONG=1 runs many more steps.
"""

import itertools
import os
import uuid as _uuid

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition, rule,
                                 run_state_machine_as_test)

import xvirt
from xvirt.constants import DomainState, StatsFlags
from xvirt.errors import NoConnectError, NoDomainError, OperationFailedError
from xvirt.protocol import domtable as dt
from xvirt.testing import sim_host

LONG = os.environ.get("XVIRT_LONG") == "1"
HOST = {}
NAMES = itertools.count(1)  # the host outlives each example: fresh names must stay fresh


@pytest.fixture(scope="module", params=["near-wrap", "small-id-space"])
def churn_host(request):
    # near-wrap: Xen's id space, rover starting just below 0x7FEF; small-id-space: the rover wraps
    # every few creations, so ids are handed to other domains again (what broke 2006's cache)
    options = {"first_domid": 0x7FEF - 12} if request.param == "near-wrap" else {"max_domid": 14}
    with sim_host(domains=6, **options) as host:
        host.control.call("settings", set={"guest_delay": 0.005, "dying_delay": 0.005, "save_delay": 0.002})
        HOST["h"] = host
        yield host
        HOST.clear()


def config(name, uid):
    return ["vm", ["name", name], ["uuid", uid], ["memory", "128"], ["maxmem", "256"], ["vcpus", "2"],
            ["on_poweroff", "destroy"], ["on_reboot", "restart"], ["on_crash", "restart"],
            ["image", ["linux", ["kernel", "/boot/vmlinuz"]]]]


class Freshness(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.h = HOST["h"]
        self.ctl = self.h.control
        self.ctl.faults(xend_down=False)
        self.conn = xvirt.open(self.h.uri)
        self.xconn = xvirt.open(f"xen+unix://{self.h.paths.xend}")
        self.handles = {}          # uuid -> Domain held across steps (never re-looked up)
        self.seen_names = set()
        self.seen_uuids = set()
        self.xend_down = False

    def teardown(self):
        self.ctl.faults(xend_down=False)
        self.conn.close()
        self.xconn.close()

    # -- truth --------------------------------------------------------------------------------
    def truth(self):
        assert self.ctl.settle()
        t = self.ctl.truth()
        for d in t["running"] + t["inactive"]:
            self.seen_names.add(d["name"])
            self.seen_uuids.add(d["uuid"])
        return t

    def guests(self, t):
        return [d for d in t["running"] if d["domid"] != 0 and not d["name"].startswith("migrating-")]

    @staticmethod
    def refused(fn, *args, **kwargs):
        """Run a churn operation; the only refusal it may meet is a full id space."""
        try:
            fn(*args, **kwargs)
        except OperationFailedError as e:
            assert "out of domain ids" in str(e), e

    def fresh_name(self):
        return f"churn-{next(NAMES)}"

    # -- churn (another management tool) -------------------------------------------------------
    @rule(i=st.integers(0, 50))
    def save_restore(self, i):
        g = self.guests(self.truth())
        if g:
            d = g[i % len(g)]
            self.ctl.op("save", d["uuid"], file="churn.img")
            self.refused(self.ctl.restore, "churn.img")

    @rule(i=st.integers(0, 50))
    def reboot(self, i):
        g = self.guests(self.truth())
        if g:
            self.ctl.op("shutdown", g[i % len(g)]["uuid"], reason="reboot")

    @rule(i=st.integers(0, 50))
    def rename(self, i):
        g = self.guests(self.truth())
        if g:
            self.ctl.op("rename", g[i % len(g)]["uuid"], name=self.fresh_name())

    @rule(i=st.integers(0, 50))
    def destroy(self, i):
        g = self.guests(self.truth())
        if len(g) > 2:
            self.ctl.op("destroy", g[i % len(g)]["uuid"])

    @rule(i=st.integers(0, 50), reuse=st.booleans())
    def create_reusing_a_name(self, i, reuse):
        t = self.truth()
        taken = {d["name"] for d in t["running"] + t["inactive"]}
        free = sorted(self.seen_names - taken)
        name = free[i % len(free)] if (reuse and free) else self.fresh_name()
        if len(t["running"]) < 11:
            self.refused(self.ctl.create, config(name, str(_uuid.uuid4())))

    @rule(i=st.integers(0, 50))
    def undefine_then_define_same_uuid(self, i):
        inactive = self.truth()["inactive"]
        if inactive:
            d = inactive[i % len(inactive)]
            self.ctl.op("delete", d["uuid"])
            self.ctl.define(config(d["name"] if i % 2 else self.fresh_name(), d["uuid"]))

    @rule(i=st.integers(0, 50))
    def start_inactive(self, i):
        inactive = self.truth()["inactive"]
        if inactive:
            self.refused(self.ctl.op, "start", inactive[i % len(inactive)]["uuid"])

    @rule(i=st.integers(0, 50))
    def pause_toggle(self, i):
        g = self.guests(self.truth())
        if g:
            d = g[i % len(g)]
            self.ctl.op("unpause" if d["flags"] & dt.PAUSED else "pause", d["uuid"])

    @rule(i=st.integers(0, 50))
    def guest_crash(self, i):
        g = self.guests(self.truth())
        if g:
            self.ctl.guest("crash", g[i % len(g)]["uuid"])

    @rule()
    def toggle_xend(self):
        self.xend_down = not self.xend_down
        self.ctl.faults(xend_down=self.xend_down)

    # -- client calls, each checked against the truth ----------------------------------------
    def expect_xend_error(self, exc):
        assert self.xend_down and isinstance(exc, NoConnectError), repr(exc)

    @rule(i=st.integers(0, 60))
    def lookup_by_id(self, i):
        t = self.truth()
        ids = [d["domid"] for d in t["running"]]
        probe = ids[i % len(ids)] if i < 50 else i - 50 + (ids[-1] if i % 2 else 0)
        expected = {d["domid"]: d["uuid"] for d in t["running"]}.get(probe)
        try:
            dom = self.conn.lookup_by_id(probe)
            assert dom.uuid == expected
            self.handles[dom.uuid] = dom
        except NoDomainError:
            assert expected is None
        if not self.xend_down:
            try:
                assert self.xconn.lookup_by_id(probe).uuid == expected
            except NoDomainError:
                assert expected is None

    @rule(i=st.integers(0, 60))
    def lookup_by_name(self, i):
        t = self.truth()
        names = sorted(self.seen_names) or ["nosuch"]
        name = names[i % len(names)]
        expected = {d["name"]: d["uuid"] for d in t["running"] + t["inactive"]}.get(name)
        running = name in {d["name"] for d in t["running"]}
        for conn in (self.conn, self.xconn):
            try:
                dom = conn.lookup_by_name(name)
                assert dom.uuid == expected, (name, dom.uuid, expected)
                self.handles.setdefault(dom.uuid, dom)
            except NoDomainError:
                assert expected is None, (name, expected)
            except NoConnectError as e:
                if conn is self.conn and running:
                    raise
                self.expect_xend_error(e)

    @rule(i=st.integers(0, 60))
    def lookup_by_uuid(self, i):
        t = self.truth()
        uuids = sorted(self.seen_uuids) or [str(_uuid.uuid4())]
        uid = uuids[i % len(uuids)]
        known = {d["uuid"] for d in t["running"] + t["inactive"]}
        running = uid in {d["uuid"] for d in t["running"]}
        try:
            dom = self.conn.lookup_by_uuid(uid)
            assert uid in known
            self.handles[uid] = dom
        except NoDomainError:
            assert uid not in known
        except NoConnectError as e:
            assert not running
            self.expect_xend_error(e)

    @rule()
    def handles_follow_their_uuid(self):
        t = self.truth()
        run = {d["uuid"]: d for d in t["running"]}
        inactive = {d["uuid"]: d for d in t["inactive"]}
        for uid, dom in list(self.handles.items()):
            try:
                info = dom.info()
                domid, name = dom.id, dom.name
            except NoDomainError:
                assert uid not in run and uid not in inactive
                continue
            except NoConnectError as e:
                assert uid not in run
                self.expect_xend_error(e)
                continue
            if uid in run:
                d = run[uid]
                assert (domid, name) == (d["domid"], d["name"])
                assert info.state == dt.state_of_flags(d["flags"])
                assert (info.mem_kib, info.max_mem_kib, info.vcpus) == (d["memory_kib"], d["maxmem_kib"], d["vcpus"])
            else:
                assert uid in inactive, uid
                assert (domid, name, info.state) == (-1, inactive[uid]["name"], DomainState.SHUTOFF)

    @rule()
    def list_ids(self):
        t = self.truth()
        assert self.conn.list_domain_ids() == [d["domid"] for d in t["running"]]
        if not self.xend_down:
            assert self.xconn.list_domain_ids() == [d["domid"] for d in t["running"]]

    @rule()
    def bulk_stats(self):
        t = self.truth()
        got = {(s.id, s.domain.uuid, s.name, s.stats["state.state"], s.stats["balloon.current"])
               for s in self.conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)}
        want = {(d["domid"], d["uuid"], d["name"], dt.state_of_flags(d["flags"]), d["memory_kib"])
                for d in t["running"]}
        assert got == want

    @precondition(lambda self: not self.xend_down)
    @rule()
    def list_all(self):
        t = self.truth()
        got = {d.uuid for d in self.conn.list_all_domains()}
        assert got == {d["uuid"] for d in t["running"] + t["inactive"]}
        assert sorted(self.conn.list_defined_domains()) == sorted(d["name"] for d in t["inactive"])

    @invariant()
    def ids_stay_in_range(self):
        for d in self.ctl.truth()["running"]:
            assert 0 <= d["domid"] <= 0x7FEF


def test_every_answer_matches_the_truth_under_churn(churn_host):
    run_state_machine_as_test(Freshness, settings=settings(
        max_examples=300 if LONG else 40, stateful_step_count=60 if LONG else 40, deadline=None,
        suppress_health_check=list(HealthCheck), database=None))
