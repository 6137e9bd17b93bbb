"""Deterministic seed population of a simulated host: realistic guests, some paused, some inactive."""

from __future__ import annotations

import random
import uuid as _uuid

__all__ = ["seed_configs"]

ROLES = ["web", "db", "cache", "mail", "build", "ci-runner", "dns", "proxy", "app", "batch",
         "ldap", "monitor", "backup", "queue", "search", "files"]
DISTROS = [("fc6", "2.6.18-1.2798.fc6xen"), ("rhel5", "2.6.18-8.el5xen"), ("debian", "2.6.18-4-xen-amd64"),
           ("sles10", "2.6.16.21-0.8-xen")]


def _config(rng: random.Random, name: str, index: int) -> list:
    uid = str(_uuid.UUID(int=rng.getrandbits(128), version=4))
    mem = rng.choice([256, 384, 512, 768, 1024, 2048, 4096])
    vcpus = rng.choice([1, 1, 1, 2, 2, 4])
    distro, kver = rng.choice(DISTROS)
    mac = "00:16:3e:%02x:%02x:%02x" % (index >> 16 & 0xFF, index >> 8 & 0xFF, index & 0xFF)
    return ["vm", ["name", name], ["uuid", uid], ["memory", str(mem)], ["maxmem", str(mem)],
            ["vcpus", str(vcpus)], ["on_poweroff", "destroy"], ["on_reboot", "restart"],
            ["on_crash", "restart"],
            ["image", ["linux", ["kernel", f"/boot/vmlinuz-{kver}"], ["ramdisk", f"/boot/initrd-{kver}.img"],
                       ["root", "/dev/xvda1 ro"], ["args", "console=xvc0"]]],
            ["device", ["vbd", ["dev", "xvda"], ["uname", f"phy:/dev/vg0/{name}-{distro}"], ["mode", "w"]]],
            ["device", ["vif", ["mac", mac], ["bridge", "xenbr0"], ["script", "vif-bridge"]]]]


def seed_configs(n_running: int, n_inactive: int, seed: int = 2006) -> list[tuple[list, dict]]:
    """``n_running`` guests to start and ``n_inactive`` defined-only ones, as (config, traits).

    traits: ``running`` (start it), ``paused``, ``blocked`` and ``activity`` (thousandths of a CPU).
    """
    rng = random.Random(seed)
    out = []
    for i in range(n_running + n_inactive):
        role = ROLES[i % len(ROLES)]
        name = f"{role}-{i // len(ROLES) + 1:02d}" if n_running + n_inactive > len(ROLES) else f"{role}-01"
        cfg = _config(rng, name, i)
        busy = rng.random() < 0.25
        traits = {"running": i < n_running, "paused": i < n_running and i % 10 == 7,
                  "blocked": not busy, "activity": rng.randint(200, 1500) if busy else rng.randint(2, 40)}
        out.append((cfg, traits))
    return out
