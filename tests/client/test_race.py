"""The freshness contract under races: churn runs *while* calls are in flight, answers judged by the log.

Another process (``race_churn.py``, seeded, a bounded number of steps) drives the simulated host
through its control socket and XenD as another tool would, without ever waiting for things to
settle: save/restore, reboot, rename onto a small pool of names, destroy, create reusing names,
undefine/define, pause, memory changes, guest crashes. The id space is 1..10, so ids are handed
to other domains again within a call's window. Meanwhile this process makes calls (lookups by id,
name and UUID; ``info()``, ``state()``, ``id``, ``name`` of held handles; the id list and the
defined list) through two strict three-channel connections (one of them a monitor that looks each domain up
once and then keeps using its handle) and a XenD-only one, recording each
call's start and end on CLOCK_MONOTONIC. Afterwards every answer is judged against the host's own
event log (``race_judge``): wrong when no instant of its window makes it true.

Fixed seeds and step counts keep CI reproducible in what is done (the interleaving is the
machine's); XVIRT_LONG=1 runs more seeds, longer.
"""

import json
import os
import random
import subprocess
import sys
import time
import uuid as _uuid
from pathlib import Path

import pytest

import xvirt
from xvirt.errors import LibvirtError, NoDomainError
from xvirt.testing import sim_host

from race_churn import NAME_POOL
from race_judge import ABSENT, PROMISE, History, Raised, verdicts

LONG = os.environ.get("XVIRT_LONG") == "1"
SEEDS = list(range(1, 9)) if LONG else [1, 2]
STEPS = 3000 if LONG else 250
MAX_DOMID = 10
CHURN = Path(__file__).with_name("race_churn.py")
CALLS = {"lookup_by_id", "lookup_by_name", "lookup_by_uuid", "info", "state", "id", "name",
         "list_domain_ids", "list_defined_domains"}


class Caller:
    """Makes seeded random calls through two connections, recording (conn, call, arg, answer,
    start, end) for each; keeps the handles lookups return and keeps using them."""

    def __init__(self, host, seed: int, names: list[str]) -> None:
        # "held" is a monitor's connection: it looks each UUID up once and then only uses the
        # handle, so nothing but the handle's own validation keeps its id binding right
        self.conns = {"strict": xvirt.open(host.uri), "held": xvirt.open(host.uri),
                      "xend": xvirt.open(f"xen+unix://{host.paths.xend}")}
        self.rng = random.Random(seed)
        self.names = sorted(set(names) | set(NAME_POOL) | {"nosuch"})
        self.handles = {label: {} for label in self.conns}
        self.uuids = [str(_uuid.uuid4())]   # one the host never knew
        self.answers: list[tuple] = []

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()

    def _record(self, label: str, call: str, arg, fn) -> None:
        start = time.monotonic()
        try:
            answer = fn()
        except NoDomainError:
            answer = ABSENT
        except LibvirtError as e:
            answer = Raised(f"{type(e).__name__}: {e}")
        end = time.monotonic()
        self.answers.append((label, call, arg, answer, start, end))

    def _lookup(self, label: str, dom) -> str:
        self.handles[label][dom.uuid] = dom
        if dom.uuid not in self.uuids:
            self.uuids.append(dom.uuid)
        return dom.uuid

    def one(self) -> None:
        rng = self.rng
        label = rng.choice(("strict", "held", "xend"))
        conn = self.conns[label]
        handles = self.handles[label]
        roll = rng.random()
        if label == "held":
            new = [u for u in self.uuids if u not in handles]
            if new and (roll < 0.2 or not handles):
                uid = rng.choice(new)
                self._record(label, "lookup_by_uuid", uid, lambda: self._lookup(label, conn.lookup_by_uuid(uid)))
                return
            roll = 0.0
        if roll < 0.5 and handles:
            dom = handles[rng.choice(sorted(handles))]
            call = rng.choice(("info", "state", "id", "name"))
            fn = {"info": lambda: tuple(dom.info()[:4]), "state": lambda: dom.state()[0],
                  "id": lambda: dom.id, "name": lambda: dom.name}[call]
            self._record(label, call, dom.uuid, fn)
        elif roll < 0.65:
            probe = rng.randint(0, MAX_DOMID + 1)
            self._record(label, "lookup_by_id", probe, lambda: self._lookup(label, conn.lookup_by_id(probe)))
        elif roll < 0.8:
            name = rng.choice(self.names)
            self._record(label, "lookup_by_name", name, lambda: self._lookup(label, conn.lookup_by_name(name)))
        elif roll < 0.9:
            uid = rng.choice(self.uuids)
            self._record(label, "lookup_by_uuid", uid, lambda: self._lookup(label, conn.lookup_by_uuid(uid)))
        elif roll < 0.95:
            self._record(label, "list_domain_ids", None, conn.list_domain_ids)
        else:
            self._record(label, "list_defined_domains", None, conn.list_defined_domains)


def run_race(seed: int, steps: int):
    with sim_host(domains=6, max_domid=MAX_DOMID) as h:
        ctl = h.control
        ctl.call("settings", set={"guest_delay": 0.003, "dying_delay": 0.003, "save_delay": 0.002})
        truth = ctl.truth()
        caller = Caller(h, seed, [d["name"] for d in truth["running"] + truth["inactive"]])
        proc = subprocess.Popen([sys.executable, str(CHURN), h.paths.control, h.paths.xend, str(seed), str(steps)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 300  # one deadline for the whole run
            while proc.poll() is None and time.monotonic() < deadline:
                caller.one()
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            caller.close()
        assert proc.returncode == 0, f"churn process failed: {err[-2000:]}"
        churn = json.loads(out.strip().splitlines()[-1])
        events = ctl.all_events(0)
    assert events and events[0]["seq"] == 1, "the event log must cover the whole run"
    return caller.answers, History.from_events(events), churn


@pytest.mark.parametrize("seed", SEEDS)
def test_every_answer_is_true_at_an_instant_of_its_call_under_concurrent_churn(seed):
    answers, history, churn = run_race(seed, STEPS)
    wrong = verdicts(history, answers)
    assert not wrong, (f"promise broken: {PROMISE}; {len(wrong)} of {len(answers)} answers under "
                       f"concurrent churn (seed {seed}) were true at no instant of their call:\n"
                       + "\n".join(wrong[:10]))
    # the run really raced: every kind of churn happened, ids were handed to other domains,
    # every kind of call was made and judged, and changes landed inside calls' windows
    for op in ("save_restore", "reboot", "rename", "create", "destroy"):
        assert churn["done"].get(op, 0) > 0, (op, churn)
    assert history.ids_reused() > 0, "the small id space must make the rover reuse ids"
    assert {a[1] for a in answers} == CALLS
    raced = history.changes_within([(a[4], a[5]) for a in answers])
    print(f"seed {seed}: {len(answers)} answers, {raced} with a change inside their window, "
          f"{history.events} log entries, {history.ids_reused()} id reuses, churn {churn}")
    assert raced > 0, "no change ever landed inside a call: the churn did not race the calls"
