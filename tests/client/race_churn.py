"""Churn for the race test: another management tool driving a simulated host, run as its own process.

``python race_churn.py CONTROL_SOCK XEND_SOCK SEED STEPS`` does STEPS seeded operations as fast
as it can, without waiting for deferred guest events: save (XenD) then restore (control socket),
reboot (XenD), rename onto a small pool of names (XenD), destroy (control), create reusing pool
names with a new UUID and a distinct memory size (control), pause/unpause and memory target
(XenD), undefine then define the same UUID, start (XenD), guest crash (control). With a small id
space the rover hands ids to other domains again while calls are in flight. Operations that the
host refuses because another change got there first are counted, not fatal; anything else is.
Prints one JSON line of counts.
"""

from __future__ import annotations

import json
import random
import sys
import uuid as _uuid

from xvirt.errors import LibvirtError, NoConnectError
from xvirt.sim.control import SimControl
from xvirt.transport.xend import XendClient

NAME_POOL = [f"race-{i}" for i in range(10)]
MEMORY = [64, 96, 128, 160, 192, 224, 256]   # MiB: distinct sizes make a wrong info() visible


def config(name: str, uid: str, memory: int) -> list:
    return ["vm", ["name", name], ["uuid", uid], ["memory", str(memory)], ["maxmem", "512"],
            ["vcpus", "2"], ["on_poweroff", "destroy"], ["on_reboot", "restart"],
            ["on_crash", "restart"], ["image", ["linux", ["kernel", "/boot/vmlinuz"]]]]


class Churn:
    def __init__(self, control: str, xend: str, seed: int, max_running: int = 8) -> None:
        self.ctl = SimControl(control)
        self.xend = XendClient(xend)
        self.rng = random.Random(seed)
        self.max_running = max_running
        self.done: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.saves = 0

    def post(self, uuid: str, op: str, **params) -> None:
        self.xend.post(f"/xend/domain/{uuid}", op, **params)

    def step(self) -> None:
        t = self.ctl.truth()
        guests = [d for d in t["running"] if d["domid"] != 0 and not d["name"].startswith("migrating-")]
        inactive = t["inactive"]
        rng = self.rng
        ops = ["save_restore", "reboot", "rename", "create", "pause_toggle", "crash", "memory"]
        if len(guests) > 3:
            ops += ["destroy"] * 2
        if inactive:
            ops += ["start", "redefine"]
        if len(guests) < 4:
            ops += ["create", "create"]
        op = rng.choice(ops)
        g = rng.choice(guests) if guests else None
        try:
            if op == "create":
                if len(t["running"]) > self.max_running:
                    return
                self.ctl.create(config(rng.choice(NAME_POOL), str(_uuid.uuid4()), rng.choice(MEMORY)))
            elif op == "start":
                self.post(rng.choice(inactive)["uuid"], "start")
            elif op == "redefine":
                d = rng.choice(inactive)
                self.ctl.op("delete", d["uuid"])
                name = d["name"] if rng.random() < 0.5 else rng.choice(NAME_POOL)
                self.ctl.define(config(name, d["uuid"], rng.choice(MEMORY)))
            elif g is None:
                return
            elif op == "save_restore":
                self.saves += 1
                image = f"race-{self.saves % 4}.img"
                self.post(g["uuid"], "save", file=image)
                self.ctl.restore(image)
            elif op == "reboot":
                self.post(g["uuid"], "shutdown", reason="reboot")
            elif op == "rename":
                self.post(g["uuid"], "rename", name=rng.choice(NAME_POOL))
            elif op == "destroy":
                self.ctl.op("destroy", g["uuid"])
            elif op == "pause_toggle":
                self.post(g["uuid"], "unpause" if g["state"][2] == "p" else "pause")
            elif op == "crash":
                self.ctl.guest("crash", g["uuid"])
            elif op == "memory":
                self.post(g["uuid"], "mem_target_set", target=rng.choice(MEMORY))
        except NoConnectError:
            raise
        except LibvirtError as e:
            # another change got there first (a name in use, a domain gone or not running yet,
            # no free id): what a real tool meets too
            self.refused[op] = self.refused.get(op, 0) + 1
            self.last_refusal = f"{op}: {e}"
            return
        self.done[op] = self.done.get(op, 0) + 1


def main(argv: list[str]) -> int:
    control, xend, seed, steps = argv[0], argv[1], int(argv[2]), int(argv[3])
    churn = Churn(control, xend, seed)
    for _ in range(steps):
        churn.step()
    print(json.dumps({"done": churn.done, "refused": churn.refused,
                      "last_refusal": getattr(churn, "last_refusal", None)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
