"""One simulated domain: its config, run state and cpu accounting, and how XenD and xenstore show it.

A ``SimDomain`` is identified by its UUID. While it runs it has a ``domid``; a managed (defined)
domain that is not running has none and is shown by XenD without ``domid`` and ``state`` (Xen
3.0.4 XendConfig). Records are rendered in the field order of xend's ``XendDomainInfo.sxpr()``
(reference/xend-protocol.md §2.4) with 3.0.4's ``status`` added.
"""

from __future__ import annotations

import re
import time
import uuid as _uuid
from dataclasses import dataclass, field

from ..protocol import domtable as dt
from ..protocol import sxp

__all__ = ["SimDomain", "ConfigError", "parse_config", "normalise_uuid", "NAME_RE", "check_name",
           "check_memory", "MAX_NAME_LEN", "MAX_MEMORY_MIB",
           "POWER_HALTED", "POWER_PAUSED", "POWER_RUNNING", "POWER_SUSPENDED", "POWER_SHUTTINGDOWN"]

# xend's allowed name characters without '/': a name is one XenD path segment and one xenstore
# value, and a '/' in it vanished from listings (issue 12); refused as xl refuses it
NAME_RE = re.compile(r"[A-Za-z0-9_\-.:+]+\Z")
# xenstore values are at most 4096 bytes (xs_wire.h XENSTORE_PAYLOAD_MAX) and XenD request lines
# 8192; a name must also fit with the "migrating-" prefix a save gives it, quoted in a URL
MAX_NAME_LEN = 1024
# Xen 3.x ``struct domain`` keeps ``tot_pages``/``max_pages`` as ``unsigned int`` (xen/include/
# xen/sched.h): at most 2**32-1 pages of 4 KiB; the save image stores MiB in 32 bits too
MAX_MEMORY_MIB = (2 ** 32 - 1) // 256
ACTIONS = ("destroy", "restart", "preserve", "rename-restart")
POWER_HALTED, POWER_PAUSED, POWER_RUNNING, POWER_SUSPENDED, POWER_SHUTTINGDOWN = 0, 1, 2, 3, 4
DOM0_UUID = "00000000-0000-0000-0000-000000000000"


class ConfigError(ValueError):
    """A create config XenD would refuse; the message is xend's text."""


def normalise_uuid(text: str) -> str:
    try:
        return str(_uuid.UUID(hex=text.strip()))
    except ValueError:
        raise ConfigError(f"Invalid UUID: {text}") from None


def _int(config: list, key: str, default: int | None) -> int | None:
    val = sxp.child_value(config, key)
    if val is None:
        return default
    try:
        return int(val, 0) if not val.isdigit() else int(val)
    except ValueError:
        raise ConfigError(f"Invalid configuration: {key} must be an integer, got {val!r}") from None


def check_name(name: str) -> None:
    """ConfigError unless ``name`` is a name XenD and xenstore can carry."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        shown = name if len(name or "") <= 64 else f"{name[:64]}..."
        raise ConfigError(f"invalid vm name '{shown}': use letters, digits and _-.:+ only")
    if len(name) > MAX_NAME_LEN:
        raise ConfigError(f"invalid vm name '{name[:64]}...': longer than {MAX_NAME_LEN} characters")


def check_memory(mib: int, what: str = "memory") -> None:
    """ConfigError unless ``mib`` is a memory size Xen can hold (1 MiB .. ``MAX_MEMORY_MIB``)."""
    if not 0 < mib <= MAX_MEMORY_MIB:
        raise ConfigError(f"Invalid memory size: {what} {mib} MiB is outside 1..{MAX_MEMORY_MIB} MiB")


def parse_config(config: sxp.Value) -> dict:
    """Read the fields the host needs from a ``(vm ...)``/``(domain ...)`` create config."""
    if not isinstance(config, list) or not config or not isinstance(config[0], str):
        raise ConfigError("Invalid configuration: not a domain configuration")
    name = sxp.child_value(config, "name")
    if not name:
        raise ConfigError("Invalid configuration: missing name")
    check_name(name)
    raw_uuid = sxp.child_value(config, "uuid")
    uid = normalise_uuid(raw_uuid) if raw_uuid else str(_uuid.uuid4())
    memory = _int(config, "memory", 128)
    maxmem = _int(config, "maxmem", memory)
    vcpus = _int(config, "vcpus", 1)
    if memory <= 0 or vcpus <= 0 or vcpus > 128:
        raise ConfigError("Invalid configuration: memory and vcpus must be positive (vcpus <= 128)")
    check_memory(memory)
    check_memory(max(maxmem, memory), "maxmem")
    avail = _int(config, "vcpu_avail", (1 << vcpus) - 1)
    actions = {}
    for key, default in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "restart")):
        val = sxp.child_value(config, key, default)
        if val not in ACTIONS:
            raise ConfigError(f"Invalid configuration: {key} {val!r} is not one of {', '.join(ACTIONS)}")
        actions[key] = val
    image = sxp.child(config, "image")
    return {"name": name, "uuid": uid, "memory": memory, "maxmem": max(maxmem, memory),
            "vcpus": vcpus, "vcpu_avail": avail & ((1 << vcpus) - 1) or 1, **actions,
            "hvm": bool(image and len(image) > 1 and isinstance(image[1], list) and image[1][:1] == ["hvm"])}


@dataclass(eq=False)
class SimDomain:
    uuid: str
    name: str
    config: list                    # the create config as stored (name/uuid kept in sync)
    memory: int                     # MiB
    maxmem: int                     # MiB
    vcpus: int
    vcpu_avail: int
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "restart"
    hvm: bool = False
    managed: bool = False
    domid: int | None = None
    # run state of a running instance
    paused: bool = False
    blocked: bool = True
    shutdown_code: int | None = None  # set when the guest has shut down (0 poweroff .. 3 crash)
    dying: bool = False
    saving: bool = False
    cpu_ns: int = 0
    cpu_stamp: int = 0
    activity: int = 20              # thousandths of a CPU used when not paused
    start_time: float = 0.0
    pending: set = field(default_factory=set)
    # device counters' clock (sim/devstats.py), vCPU affinity and credit scheduler parameters
    io_ns: int = 0
    io_stamp: int = 0
    io_active: bool = False
    affinity: dict = field(default_factory=dict)   # vcpu -> list of physical CPUs
    io_since: dict = field(default_factory=dict)   # (kind, devid) -> active ns when hot-plugged
    sched_weight: int = 256
    sched_cap: int = 0

    @classmethod
    def from_config(cls, config: list, *, managed: bool) -> "SimDomain":
        f = parse_config(config)
        dom = cls(config=list(config), managed=managed, **f)
        dom.sync_config()
        return dom

    @property
    def is_dom0(self) -> bool:
        return self.domid == 0

    @property
    def running(self) -> bool:
        return self.domid is not None

    # -- cpu accounting -----------------------------------------------------------------------
    def rate(self) -> int:
        if not self.running or self.paused or self.dying or self.shutdown_code is not None:
            return 0
        return min(self.activity, 1000 * bin(self.vcpu_avail).count("1"))

    def fold_cpu(self, now_ns: int | None = None) -> None:
        """Bank the cpu time used so far; call before changing anything ``rate()`` depends on."""
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        if self.cpu_stamp:
            self.cpu_ns += max(0, now_ns - self.cpu_stamp) * self.rate() // 1000
        self.cpu_stamp = now_ns

    def cpu_now(self) -> int:
        now = time.monotonic_ns()
        return self.cpu_ns + (max(0, now - self.cpu_stamp) * self.rate() // 1000 if self.cpu_stamp else 0)

    # -- hypervisor view ----------------------------------------------------------------------
    def flags(self) -> int:
        f = 0
        if self.dying:
            f |= dt.DYING
        if self.hvm:
            f |= dt.HVM
        if self.shutdown_code is not None:
            f |= dt.SHUTDOWN | (self.shutdown_code << dt.SHUTDOWN_SHIFT)
        elif self.paused:
            f |= dt.PAUSED
        elif not self.dying:
            f |= dt.BLOCKED if self.blocked else dt.RUNNING
        return f

    def table_fields(self) -> dict:
        online = bin(self.vcpu_avail).count("1")
        return {"flags": self.flags(), "tot_pages": self.memory * 256, "max_pages": self.maxmem * 256,
                "cpu_time": self.cpu_ns, "cpu_stamp_ns": self.cpu_stamp, "cpu_rate_milli": self.rate(),
                "online_vcpus": online, "max_vcpu_id": self.vcpus - 1,
                "handle": _uuid.UUID(self.uuid).bytes}

    def state_string(self) -> str:
        crashed = self.shutdown_code == dt.SHUTDOWN_CRASH
        shut = self.shutdown_code is not None and not crashed
        run = self.running and not (self.paused or self.dying or self.shutdown_code is not None)
        return "".join(c if on else "-" for c, on in (
            ("r", run and not self.blocked), ("b", run and self.blocked), ("p", self.paused),
            ("s", shut), ("c", crashed), ("d", self.dying)))

    def power_state(self) -> int:
        if not self.running:
            return POWER_HALTED
        if self.dying or self.shutdown_code is not None:
            return POWER_SHUTTINGDOWN
        return POWER_PAUSED if self.paused else POWER_RUNNING

    # -- config ------------------------------------------------------------------------------
    def sync_config(self) -> None:
        """Write name, uuid and sizes back into ``config`` (it is what gets persisted and saved)."""
        values = {"name": self.name, "uuid": self.uuid, "memory": str(self.memory),
                  "maxmem": str(self.maxmem), "vcpus": str(self.vcpus),
                  "vcpu_avail": str(self.vcpu_avail)}
        for key, val in values.items():
            node = sxp.child(self.config, key)
            if node is None:
                self.config.insert(1, [key, val])
            else:
                node[1:] = [val]

    def sxpr(self) -> list:
        """The record XenD returns for ``GET /xend/domain/<x>``."""
        c = self.config
        rec: list = ["domain"]
        if self.running:
            rec.append(["domid", str(self.domid)])
        rec += [["uuid", self.uuid], ["vcpus", str(self.vcpus)], ["vcpu_avail", str(self.vcpu_avail)],
                ["cpu_weight", "1.0"], ["memory", str(self.memory)], ["shadow_memory", "0"],
                ["maxmem", str(self.maxmem)]]
        # config fields xend 3.0.3+ echoes in the record (after maxmem, reference §2.4)
        for key in ("localtime", "cpus", "description", "bootloader", "bootloader_args", "on_xend_start"):
            node = sxp.child(c, key)
            if node is not None:
                rec.append(list(node))
        rec += [["features", ""], ["name", self.name], ["on_poweroff", self.on_poweroff],
                ["on_reboot", self.on_reboot], ["on_crash", self.on_crash]]
        image = sxp.child(c, "image")
        if image is not None:
            rec.append(image)
        for dev in sxp.children(c, "device"):
            if self.running and len(dev) > 1 and isinstance(dev[1], list):
                dev = ["device", [dev[1][0], ["backend", "0"], *dev[1][1:]]]
            rec.append(dev)
        if self.running:
            rec += [["state", self.state_string()],
                    ["shutdown_reason", ("poweroff", "reboot", "suspend", "crash")[self.shutdown_code or 0]],
                    ["cpu_time", f"{self.cpu_now() / 1e9:.9f}"],
                    ["online_vcpus", str(bin(self.vcpu_avail).count("1"))]]
            if not self.is_dom0:
                rec += [["up_time", f"{time.time() - self.start_time:.7f}"],
                        ["start_time", f"{self.start_time:.2f}"]]
        rec.append(["status", str(self.power_state())])
        # simulator extension: whether xend manages (persists) the domain; real 3.0.4 records
        # do not say, and libvirt then assumed every domain XenD knows is persistent
        rec.append(["managed", "1" if self.managed else "0"])
        return rec

    def vcpuinfo(self, host_cpus: int) -> list:
        online = bin(self.vcpu_avail).count("1")
        out: list = ["domain", ["domid", str(self.domid)], ["name", self.name], ["vcpu_count", str(online)]]
        per = self.cpu_now() / max(online, 1) / 1e9
        run = self.rate() > 0
        for i in range(self.vcpus):
            on = bool(self.vcpu_avail >> i & 1)
            out.append(["vcpu", ["number", str(i)], ["online", str(int(on))],
                        ["blocked", str(int(on and self.blocked))], ["running", str(int(on and run and not self.blocked))],
                        ["cpu_time", f"{per if on else 0.0:.9f}"], ["cpu", str(self.vcpu_cpu(i, host_cpus) if on else -1)],
                        ["cpumap", [str(c) for c in self.affinity.get(i, range(host_cpus))]]])
        return out

    def vcpu_cpu(self, vcpu: int, host_cpus: int) -> int:
        """The physical CPU vCPU ``vcpu`` runs on: one of its affinity (as the reader computes it)."""
        cpus = list(self.affinity.get(vcpu, range(host_cpus))) or list(range(host_cpus))
        return cpus[vcpu % len(cpus)]

    # -- xenstore view -----------------------------------------------------------------------
    def xenstore_nodes(self, layout: str = "xend") -> list[tuple[str, str]]:
        """The nodes xend (reference §4.2) or libxl writes for a running domain, as (path, value)."""
        if layout == "libxl":
            return self.libxl_nodes()
        d, vm = f"/local/domain/{self.domid}", f"/vm/{self.uuid}"
        nodes = [(f"{vm}/uuid", self.uuid), (f"{vm}/name", self.name), (f"{vm}/memory", str(self.memory)),
                 (f"{vm}/maxmem", str(self.maxmem)), (f"{vm}/vcpus", str(self.vcpus)),
                 (f"{vm}/vcpu_avail", str(self.vcpu_avail)), (f"{vm}/on_poweroff", self.on_poweroff),
                 (f"{vm}/on_reboot", self.on_reboot), (f"{vm}/on_crash", self.on_crash),
                 (f"{vm}/start_time", f"{self.start_time:.2f}"),
                 (f"{vm}/image/ostype", "hvm" if self.hvm else "linux"),
                 (f"{d}/domid", str(self.domid)), (f"{d}/vm", vm), (f"{d}/name", self.name),
                 (f"{d}/memory/target", str(self.memory * 1024)), (f"{d}/console/limit", "1048576"),
                 (f"{d}/console/port", "2"), (f"{d}/store/port", "1"),
                 (f"{d}/control/platform-feature-multiprocessor-suspend", "1")]
        for i in range(self.vcpus):
            nodes.append((f"{d}/cpu/{i}/availability", "online" if self.vcpu_avail >> i & 1 else "offline"))
        for kind, devid, spec in self.devices():
            nodes += self.device_nodes(kind, devid, spec)
        return nodes

    def device_nodes(self, kind: str, devid: int, spec: list) -> list[tuple[str, str]]:
        """A device's frontend and backend nodes (xend's layout, reference §4.2)."""
        d = f"/local/domain/{self.domid}"
        back = f"/local/domain/0/backend/{kind}/{self.domid}/{devid}"
        nodes = [(f"{d}/device/{kind}/{devid}/backend", back), (f"{d}/device/{kind}/{devid}/state", "4")]
        for key in ("dev", "uname", "mode", "mac", "bridge", "script"):
            val = sxp.child_value(spec, key)
            if val is not None:
                nodes.append((f"{back}/{key}", val))
        return nodes

    def devices(self) -> list[tuple[str, int, list]]:
        """(kind, devid, spec) of each device: a ``devid`` the spec carries (set when devices are
        hot-plugged), else Xen's numbering: vbds from 51712 (xvda, 202 << 8) in steps of 16,
        vifs from 0."""
        out, vbds, vifs, other = [], 0, 0, 0
        for dev in sxp.children(self.config, "device"):
            if len(dev) < 2 or not isinstance(dev[1], list) or not dev[1] or not isinstance(dev[1][0], str):
                continue
            spec, kind = dev[1], dev[1][0]
            given = sxp.child_value(spec, "devid")
            if kind in ("vbd", "tap"):
                devid, vbds = 51712 + 16 * vbds, vbds + 1
            elif kind == "vif":
                devid, vifs = vifs, vifs + 1
            else:
                devid, other = other, other + 1
            if given is not None and given.isdigit():
                devid = int(given)
            out.append((kind, devid, spec))
        return out

    def pin_devids(self) -> None:
        """Write each device's current ``devid`` into its spec, so removing one renumbers none."""
        for _kind, devid, spec in self.devices():
            node = sxp.child(spec, "devid")
            if node is None:
                spec.append(["devid", str(devid)])
            else:
                node[1:] = [str(devid)]

    def libxl_nodes(self) -> list[tuple[str, str]]:
        """The nodes libxl 4.17 writes for a running PV domain, as a real dom0 shows them
        (tests/data/realxen/xenstore-ls.txt; permissions are not modelled). Dom0 gets only what
        the dom0 of the capture has."""
        d, vm, n = f"/local/domain/{self.domid}", f"/vm/{self.uuid}", self.domid
        kib = str(self.memory * 1024)
        if self.is_dom0:
            return [(f"{d}/control/feature-poweroff", "1"), (f"{d}/control/feature-reboot", "1"),
                    (f"{d}/control/feature-suspend", "1"), (f"{d}/domid", "0"), (f"{d}/name", self.name),
                    (f"{d}/memory/target", kib), (f"{d}/memory/static-max", str(self.maxmem * 1024))]
        image = sxp.child(self.config, "image")
        linux = image[1] if image and len(image) > 1 and isinstance(image[1], list) else []
        console = f"/local/domain/0/backend/console/{n}/0"
        nodes = [(f"{d}/vm", vm), (f"{d}/name", self.name)]
        for i in range(self.vcpus):
            nodes.append((f"{d}/cpu/{i}/availability", "online" if self.vcpu_avail >> i & 1 else "offline"))
        nodes += [(f"{d}/memory/static-max", str(self.maxmem * 1024)), (f"{d}/memory/target", kib),
                  (f"{d}/memory/videoram", "0"), (f"{d}/device/suspend/event-channel", ""),
                  (f"{d}/control/shutdown", ""), (f"{d}/control/feature-poweroff", "1"),
                  (f"{d}/control/feature-reboot", "1"), (f"{d}/control/feature-suspend", "1"),
                  (f"{d}/control/sysrq", ""), (f"{d}/control/platform-feature-multiprocessor-suspend", "1"),
                  (f"{d}/control/platform-feature-xs_reset_watches", "1"), (f"{d}/data", ""),
                  (f"{d}/drivers", ""), (f"{d}/feature", ""), (f"{d}/attr", ""), (f"{d}/error", ""),
                  (f"{d}/domid", str(n)), (f"{d}/store/port", "1"), (f"{d}/store/ring-ref", str(259585 + 2 * n)),
                  (f"{d}/console/backend", console), (f"{d}/console/backend-id", "0"),
                  (f"{d}/console/limit", "1048576"), (f"{d}/console/type", "xenconsoled"),
                  (f"{d}/console/output", "pty"), (f"{d}/console/tty", f"/dev/pts/{n}"),
                  (f"{d}/console/port", "2"), (f"{d}/console/ring-ref", str(259586 + 2 * n)),
                  (f"{vm}/name", self.name), (f"{vm}/uuid", self.uuid),
                  (f"{vm}/image/ostype", "hvm" if self.hvm else "linux")]
        for key, node in (("kernel", "kernel"), ("ramdisk", "ramdisk"), ("args", "cmdline")):
            val = sxp.child_value(linux, key) if linux else None
            if val is not None:
                nodes.append((f"{vm}/image/{node}", val))
        nodes.append((f"{vm}/start_time", f"{self.start_time:.2f}"))
        for key, val in (("frontend", f"{d}/console"), ("frontend-id", str(n)), ("online", "1"),
                         ("state", "1"), ("protocol", "vt100")):
            nodes.append((f"{console}/{key}", val))
        lx = f"/libxl/{n}"
        for key, val in (("frontend", f"{d}/console"), ("backend", console), ("frontend-id", str(n)),
                         ("online", "1"), ("state", "1"), ("protocol", "vt100")):
            nodes.append((f"{lx}/device/console/0/{key}", val))
        nodes += [(f"{lx}/type", "hvm" if self.hvm else "pv"), (f"{lx}/dm-version", "qemu_xen")]
        return nodes
