"""xl.cfg(5) / xm configuration -> :class:`~xvirt.domxml.model.DomainDef` (libvirt's xenParseXL/XM).

Follows libvirt 11's src/libxl/xen_common.c (xenParseConfigCommon: name/uuid/type, memory,
lifecycle, vcpus, hypervisor features and timers, clock, emulator, vifs, PCI, sound, VNC/SDL/vfb,
serial/parallel), src/libxl/xen_xl.c (OS and boot, vNUMA, xenbus limits, cpuid, disks via
libxlutil's disk syntax, SPICE, USB, channels, device_model_args) and src/libxl/xen_xm.c (OS,
the xm disk syntax), then the defaults libvirt's libxl driver adds after parsing
(:func:`libxl_post_parse`): arch/machine, loader, disk formats, implicit controllers, inputs,
video and the memory balloon. Bad values raise libvirt errors naming the setting and its
line:column (:class:`~xvirt.errors.ConfSyntaxError`), unsupported ones
:class:`~xvirt.errors.ConfigUnsupportedError`.

Deliberate differences from libvirt, all so that config -> XML -> config keeps every fact (none
shows in libvirt's test pairs; tests/domxml/test_xlcfg_convert.py checks each):
  D1 ``vnuma`` keeps the ``<cpu>`` mode/features ``nestedhvm`` set (libvirt replaces the <cpu>);
  D2 ``cpuid`` always makes the CPU host-passthrough (libvirt leaves the mode unset after vnuma
     and then drops the cpuid when writing);
  D3 ``rtc_timeoffset`` may be negative (xl.cfg(5) seconds; libvirt writes negative values it
     then refuses to read);
  D4 a PV ``vfb`` VNC without ``vncdisplay`` is autoport (libvirt prints port 0);
  D5 xm with several USB input devices is refused when writing (libvirt keeps the last one);
  D6 a channel needs ``name=`` and an RBD monitor port must be 0-65535 (libvirt writes
     ``name=(null)`` / accepts and truncates).
"""

from __future__ import annotations

import re

from ..errors import ConfigUnsupportedError, ConfSyntaxError, ErrorDomain
from . import model as m
from .chardev import ChrSyntaxError, parse_chr
from .xlconf import Conf, parse_conf
from .xlspec import (SpecError, parse_pci, parse_rate, parse_vif, parse_xl_disk, parse_xm_disk,
                     split_keyvals)

__all__ = ["parse_native_config", "domain_from_conf", "libxl_post_parse", "HVMLOADER",
           "QEMU_DM", "FIRMWARE_DIR", "CPUID_NAMES"]

# tests/testutilsxen.c capabilities (the libxl driver's defaults for x86_64 guests)
HVMLOADER = "/usr/lib/xen/boot/hvmloader"
QEMU_DM = "/usr/lib/xen/bin/qemu-system-i386"
FIRMWARE_DIR = "/usr/lib/xen/boot"          # LIBXL_FIRMWARE_DIR
ARCH = "x86_64"
MACHINES = {"hvm": "xenfv", "linux": "xenpv", "xenpvh": "xenpvh"}
MIN_GUEST_MIB = 64                           # xen_common.h MIN_XEN_GUEST_SIZE
MAX_VCPUS = 4096
# xen_xl.c xenTranslateCPUFeature: (libvirt name, libxl name)
CPUID_NAMES = (("cx16", "cmpxchg16"), ("cid", "cntxid"), ("ds_cpl", "dscpl"),
               ("pclmuldq", "pclmulqdq"), ("pni", "sse3"), ("ht", "htt"), ("pn", "psn"),
               ("clflush", "clfsh"), ("sep", "sysenter"), ("cx8", "cmpxchg8"),
               ("nodeid_msr", "nodeid"), ("cr8legacy", "altmovcr8"), ("lahf_lm", "lahfsahf"),
               ("cmp_legacy", "cmplegacy"), ("fxsr_opt", "ffxsr"), ("pdpe1gb", "page1gb"),
               ("spec-ctrl", "ibrsb"))
_FROM_LIBXL = {x: v for v, x in CPUID_NAMES}
_CPUID_POLICY = {"1": "force", "0": "disable", "x": "optional", "k": "optional", "s": "optional"}


class _Cfg:
    """Typed getters over a :class:`Conf` with errors that name the setting and its position."""

    def __init__(self, conf: Conf, domain: int = ErrorDomain.XENXL) -> None:
        self.conf = conf
        self.domain = domain     # VIR_FROM_XENXL / VIR_FROM_XENXM, as libvirt reports them

    def where(self, name: str) -> str:
        s = self.conf.setting(name)
        return f" (line {s.line}, column {s.column})" if s is not None and s.line else ""

    def fail(self, name: str, what: str, cls=ConfSyntaxError):
        s = self.conf.setting(name)
        kw = {"int1": s.line, "int2": s.column} if s is not None and s.line else {}
        return cls(f"config value {name}{self.where(name)}: {what}", domain=self.domain, **kw)

    def missing(self, name: str) -> ConfSyntaxError:
        return ConfSyntaxError(f"config value {name} was missing", domain=self.domain)

    def has(self, name: str) -> bool:
        return name in self.conf

    def string(self, name: str, default: str | None = None) -> str | None:
        v = self.conf.get(name)
        if v is None:
            return default
        if not isinstance(v, str):
            raise self.fail(name, "expected a string")
        return v

    def number(self, name: str, default: int | None = None, *,
               signed: bool = False) -> int | None:
        """xenConfigGetULong(Long): a number, or a string of decimal digits."""
        v = self.conf.get(name)
        if v is None:
            return default
        if isinstance(v, str):
            if not re.fullmatch(r"-?\d{1,19}" if signed else r"\d{1,19}", v.strip()):
                raise self.fail(name, f"'{v}' is not a number")
            v = int(v)
        if not isinstance(v, int) or (v < 0 and not signed):
            raise self.fail(name, "expected a non-negative number")
        return v

    def boolean(self, name: str, default: int) -> int:
        """xenConfigGetBool: number (0 false, else true), or the string "1" for true."""
        v = self.conf.get(name)
        if v is None:
            return default
        if isinstance(v, int):
            return 1 if v else 0
        if isinstance(v, str):
            return 1 if v == "1" else 0
        raise self.fail(name, "malformed (a list where a boolean is expected)")

    def strings(self, name: str) -> list[str] | None:
        """A list of strings (None if unset); a single string counts as a one-item list."""
        v = self.conf.get(name)
        if v is None:
            return None
        if isinstance(v, str):
            return [v]
        if not isinstance(v, list):
            raise self.fail(name, "expected a list of strings")
        out = []
        for item in v:
            if not isinstance(item, str):
                raise self.fail(name, "expected a list of strings")
            out.append(item)
        return out


def parse_native_config(text: str | bytes, fmt: str) -> m.DomainDef:
    """Parse xl (``fmt='xen-xl'``) or xm (``'xen-xm'``) text into a post-parsed DomainDef."""
    return domain_from_conf(parse_conf(text), fmt)


def domain_from_conf(conf: Conf, fmt: str) -> m.DomainDef:
    xl = fmt == "xen-xl"
    c = _Cfg(conf, ErrorDomain.XENXL if xl else ErrorDomain.XENXM)
    d = _general(c)
    _memory(c, d)
    for name, default in (("on_poweroff", "destroy"), ("on_reboot", "restart"),
                          ("on_crash", "restart")):
        value = c.string(name, default)
        allowed = m.LIFECYCLE_ACTIONS if name == "on_crash" else m.LIFECYCLE_ACTIONS[:4]
        if value not in allowed:
            raise c.fail(name, f"unexpected value '{value}'")
        setattr(d, name, value)
    _cpus(c, d)
    _features(c, d)
    _clock(c, d)
    d.emulator = c.string("device_model_override", c.string("device_model"))
    _vifs(c, d, "vif" if xl else "netfront")
    _pci(c, d)
    if d.hvm:
        sound = c.string("soundhw")
        if sound:
            _sound(c, d, sound)
    _vfb(c, d)
    _chardevs(c, d, xl)
    if xl:
        _xl_os(c, d)
        _vnuma(c, d)
        _xenbus(c, d)
        _cpuid(c, d)
        _xl_disks(c, d)
        _spice(c, d)
        _usb_inputs(c, d)
        _usbdev(c, d)
        _usbctrl(c, d)
        _channels(c, d)
        args = c.strings("device_model_args")
        d.emulator_args = list(args or [])
    else:
        _xm_os(c, d)
        _xm_disks(c, d)
        _usb_inputs(c, d, xl=False)
    libxl_post_parse(d)
    return d


# -- common (xen_common.c) -------------------------------------------------------------------------

def _general(c: _Cfg) -> m.DomainDef:
    name = c.string("name")
    if name is None:
        raise c.missing("name")
    if not name or len(name) > 1024 or "\n" in name or "/" in name:
        raise c.fail("name", f"invalid domain name '{name[:40]}'")
    uuid_text = c.string("uuid")
    if uuid_text is None:
        uuid = m.random_uuid()
    else:
        if not uuid_text:
            raise c.fail("uuid", "uuid can't be empty")
        uuid = m.parse_uuid(uuid_text)
        if uuid is None:
            raise c.fail("uuid", f"'{uuid_text}' not parseable")
    d = m.DomainDef(name=name, uuid=uuid)
    gtype = c.string("type")
    if gtype is not None:
        kinds = {"pv": "linux", "pvh": "xenpvh", "hvm": "hvm"}
        if gtype not in kinds:
            raise c.fail("type", f"type {gtype} is not supported", ConfigUnsupportedError)
        d.os_type = kinds[gtype]
    elif c.string("builder", "linux") == "hvm":
        d.os_type = "hvm"
    d.arch, d.machine = ARCH, MACHINES[d.os_type]
    return d


def _memory(c: _Cfg, d: m.DomainDef) -> None:
    cur = c.number("memory", MIN_GUEST_MIB * 2)
    mx = c.number("maxmem", cur)
    if cur > 2 ** 43 or mx > 2 ** 43:
        raise c.fail("memory" if cur > 2 ** 43 else "maxmem", "too large")
    d.current_memory, d.memory = cur * 1024, mx * 1024
    if d.memory < d.current_memory:
        d.memory = d.current_memory    # virDomainDefPostParse: maximum at least the balloon
    if d.memory == 0:
        raise c.fail("memory", "memory size must be positive")
    if d.current_memory == 0:          # virDomainDefPostParseMemory: no balloon = maximum
        d.current_memory = d.memory


def _cpus(c: _Cfg, d: m.DomainDef) -> None:
    count = c.number("vcpus", 1)
    if not 1 <= count <= MAX_VCPUS:
        raise c.fail("vcpus", f"vcpus {count} out of range 1-{MAX_VCPUS}")
    d.vcpus = count
    if c.has("maxvcpus"):
        mx = c.number("maxvcpus", 0)
        if not 1 <= mx <= MAX_VCPUS or mx < count:
            raise c.fail("maxvcpus", f"maxvcpus {mx} must be between vcpus ({count}) and "
                                     f"{MAX_VCPUS}")
        d.vcpus = mx
        d.vcpus_current = count if count < mx else None
    cpus = c.string("cpus")
    if cpus:
        parsed = m.parse_cpuset(cpus)
        if parsed is None:
            raise c.fail("cpus", f"malformed CPU set '{cpus}'")
        d.cpuset = m.format_cpuset(parsed)


def _features(c: _Cfg, d: m.DomainDef) -> None:
    tsc = c.string("tsc_mode")
    if tsc is not None:
        mode = {"always_emulate": "emulate", "native": "native",
                "native_paravirt": "paravirt"}.get(tsc, "auto")
        d.clock.timers.append(m.Timer("tsc", True, mode))
    passthrough = c.string("passthrough")
    if passthrough is not None and passthrough not in ("disabled", "enabled", "sync_pt",
                                                       "share_pt"):
        raise c.fail("passthrough", f"invalid passthrough mode '{passthrough}'")
    if passthrough is not None:
        d.passthrough = {"disabled": "off", "enabled": "on"}.get(passthrough, passthrough)
    if d.hvm:
        for name, default in (("acpi", 1), ("apic", 1), ("pae", 1)):
            if c.boolean(name, default):
                d.features.append(name)
        if not c.boolean("hap", 1):
            d.features_off.append("hap")
        if c.boolean("viridian", 0):
            d.features.append("viridian")
        d.features = [f for f in m.FEATURES if f in d.features]
        hpet = c.boolean("hpet", -1) if c.has("hpet") else -1
        if hpet != -1:
            d.clock.timers.append(m.Timer("hpet", bool(hpet)))
    elif c.boolean("e820_host", 0):
        d.e820_host = True


def _clock(c: _Cfg, d: m.DomainDef) -> None:
    localtime = c.boolean("localtime", 0)
    if d.hvm:
        d.clock.offset = "variable"
        # seconds, signed (xl.cfg(5)); libvirt reads it unsigned but writes negative values
        adj = c.number("rtc_timeoffset", 0, signed=True)
        if not -2 ** 31 <= adj < 2 ** 31:
            raise c.fail("rtc_timeoffset", f"{adj} out of range")
        d.clock.adjustment = adj
        d.clock.basis = "localtime" if localtime else "utc"
    else:
        d.clock.offset = "localtime" if localtime else "utc"
        d.clock.reset = True


def _vifs(c: _Cfg, d: m.DomainDef, typename: str) -> None:
    v = c.conf.get("vif")
    if not isinstance(v, list):
        return
    for spec in v:
        if not isinstance(spec, str):
            continue
        try:
            vif = parse_vif(spec)
            rate = parse_rate(vif.rate) if vif.rate else None
        except SpecError as e:
            raise c.fail("vif", str(e)) from None
        net = m.Net()
        if vif.mac:
            net.mac = m.parse_mac(vif.mac)
            if net.mac is None:
                raise c.fail("vif", f"malformed mac address '{vif.mac}'")
        else:
            net.mac = m.random_mac()
        if vif.bridge or vif.script in ("vif-bridge", "vif-vnic"):
            net.type = "bridge"
            if vif.bridge:
                _vif_bridge(c, net, vif.bridge)
        else:
            net.type = "ethernet"
        if vif.ip:
            net.ips = [ip for ip in vif.ip.split(" ") if ip]
        if vif.script:
            net.script = vif.script
        if vif.model:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", vif.model):
                raise c.fail("vif", f"invalid model '{vif.model}'")
            net.model = vif.model
        elif vif.type == typename:
            net.model = "netfront"
        net.ifname = vif.vifname or None
        net.rate_kbps = rate or None
        d.nets.append(net)


def _vif_bridge(c: _Cfg, net: m.Net, bridge: str) -> None:
    """``BRIDGE[.VLAN]`` or ``BRIDGE:TRUNK:TRUNK`` (Open vSwitch tags, xenParseVifBridge)."""
    if "." in bridge:
        name, _, tag = bridge.partition(".")
        tags = [tag]
    elif ":" in bridge:
        name, *tags = bridge.split(":")
        net.vlan_trunk = True
    else:
        net.bridge = bridge
        return
    if not all(re.fullmatch(r"\d{1,4}", t) and int(t) <= 4095 for t in tags):
        raise c.fail("vif", f"invalid VLAN tag in bridge '{bridge}'")
    net.bridge = name
    net.vlan_tags = [int(t) for t in tags]
    net.virtualport = "openvswitch"


def _pci(c: _Cfg, d: m.DomainDef) -> None:
    for spec in c.strings("pci") or []:
        try:
            p = parse_pci(spec)
        except SpecError as e:
            raise c.fail("pci", str(e)) from None
        d.hostdevs.append(m.Hostdev(p.domain, p.bus, p.slot, p.function, managed=False,
                                    write_filtering=None if p.permissive is None
                                    else not p.permissive))


def _sound(c: _Cfg, d: m.DomainDef, value: str) -> None:
    if value == "all":
        d.sounds = ["sb16", "es1370"]
        return
    for model in value.split(","):
        if model not in m.SOUND_MODELS:
            raise c.fail("soundhw", f"unknown sound model '{model}'")
        d.sounds.append(model)


def _vfb(c: _Cfg, d: m.DomainDef) -> None:
    if d.hvm:
        if c.boolean("vnc", 0):
            g = m.Graphics(type="vnc")
            g.autoport = bool(c.boolean("vncunused", 1))
            if not g.autoport:
                g.port = c.number("vncdisplay", 0) + 5900
                if g.port > 65535:
                    raise c.fail("vncdisplay", "display number too large")
            g.listen = c.string("vnclisten")
            g.passwd = c.string("vncpasswd")
            g.keymap = c.string("keymap")
            d.graphics = [g]
        elif c.boolean("sdl", 0):
            d.graphics = [m.Graphics(type="sdl", display=c.string("display"),
                                     xauth=c.string("xauthority"))]
        return
    vfbs = c.strings("vfb")
    if not vfbs:
        return
    spec = vfbs[0]
    g = m.Graphics(type="sdl" if "type=sdl" in spec else "vnc")
    try:
        items = split_keyvals(spec, "vfb")
    except SpecError as e:
        raise c.fail("vfb", str(e)) from None
    for key, value in items:
        if g.type == "vnc":
            if key == "vncunused":
                g.autoport = value == "1"
            elif key == "vnclisten":
                g.listen = value
            elif key == "vncpasswd":
                g.passwd = value
            elif key == "keymap":
                g.keymap = value
            elif key == "vncdisplay":
                if not re.fullmatch(r"\d{1,5}", value) or int(value) + 5900 > 65535:
                    raise c.fail("vfb", f"invalid vncdisplay value '{value}'")
                g.port = int(value) + 5900
        elif key == "display":
            g.display = value
        elif key == "xauthority":
            g.xauth = value
    if g.type == "vnc" and (g.autoport or g.port == -1):
        # no display number: libvirt's XML reader takes an unknown port as autoport
        g.autoport, g.port = True, -1
    d.graphics = [g]


def _chardevs(c: _Cfg, d: m.DomainDef, xl: bool) -> None:
    if not d.hvm:
        d.consoles = [m.Chr(type="pty", port=0, target_type="xen")]
        return
    parallel = c.string("parallel")
    if parallel and parallel != "none":
        d.parallels = [_chr(c, "parallel", parallel)]
    serial = c.conf.get("serial")
    if isinstance(serial, list):
        if not xl:
            raise c.fail("serial", "Multiple serial devices are not supported by xen-xm",
                         ConfigUnsupportedError)
        for port, value in enumerate(c.strings("serial") or []):
            if value == "none":
                continue
            ch = _chr(c, "serial", value)
            ch.port = port
            d.serials.append(ch)
    else:
        value = c.string("serial")
        if value and value != "none":
            d.serials = [_chr(c, "serial", value)]


def _chr(c: _Cfg, name: str, value: str) -> m.Chr:
    try:
        return parse_chr(value)
    except ChrSyntaxError as e:
        raise c.fail(name, str(e)) from None


# -- xl only (xen_xl.c) ------------------------------------------------------------------------------

def _cmdline(c: _Cfg) -> str | None:
    cmdline, root, extra = c.string("cmdline"), c.string("root"), c.string("extra")
    if cmdline is not None:
        return cmdline
    if root is not None and extra is not None:
        return f"root={root} {extra}"
    if root is not None:
        return f"root={root}"
    return extra


def _boot(c: _Cfg, d: m.DomainDef) -> None:
    letters = {"a": "fd", "d": "cdrom", "n": "network"}
    d.boot = [letters.get(ch, "hd") for ch in (c.string("boot", "c") or "c")[:4]]


def _xl_os(c: _Cfg, d: m.DomainDef) -> None:
    if d.hvm:
        bios = c.string("bios")
        if bios == "ovmf":
            d.loader = c.string("bios_path_override") or f"{FIRMWARE_DIR}/ovmf.bin"
            d.loader_type, d.loader_readonly = "pflash", True
        else:
            d.loader = HVMLOADER
        d.slic_table = c.string("acpi_firmware")
        d.kernel, d.initrd = c.string("kernel"), c.string("ramdisk")
        d.cmdline = _cmdline(c)
        _boot(c, d)
        nested = c.boolean("nestedhvm", -1) if c.has("nestedhvm") else -1
        if nested != -1:
            if d.cpu is None:
                d.cpu = m.Cpu(mode="host-passthrough")
            if nested == 0:
                d.cpu.features.append(("disable", "vmx"))
        return
    d.bootloader = c.string("bootloader")
    d.bootloader_args = c.string("bootargs")
    d.kernel, d.initrd = c.string("kernel"), c.string("ramdisk")
    d.cmdline = _cmdline(c)


def _vnuma(c: _Cfg, d: m.DomainDef) -> None:
    value = c.conf.get("vnuma")
    if not isinstance(value, list):
        return
    nodes = value
    if not all(isinstance(n, list) for n in nodes):
        raise c.fail("vnuma", "expected a list of vnode lists")
    cells, vcpus = [], 0
    for idx, node in enumerate(nodes):
        pnode, size, cpus, dist = None, None, None, None
        for item in node:
            if not isinstance(item, str) or "=" not in item:
                raise c.fail("vnuma", f"vnuma vnode invalid format '{item}'")
            key, _, data = item.rpartition("=")
            if not data:
                continue
            if key == "pnode":
                if not data.isdigit() or int(data) >= len(nodes):
                    raise c.fail("vnuma", f"vnuma vnode {idx} contains invalid pnode value "
                                          f"'{data}'", ConfigUnsupportedError)
                pnode = int(data)
            elif key == "size":
                if not re.fullmatch(r"\d{1,12}", data):
                    raise c.fail("vnuma", f"vnuma vnode {idx} size '{data}' is not a number")
                size = int(data) * 1024
            elif key == "vcpus":
                cpus = m.parse_cpuset(data)
                if cpus is None:
                    raise c.fail("vnuma", f"vnuma vnode {idx} vcpus '{data}' malformed")
            elif key == "vdistances":
                parts = data.split(",")
                if len(parts) != len(nodes) or not all(re.fullmatch(r"\d{1,9}", p)
                                                       for p in parts):
                    raise c.fail("vnuma", f"vnuma pnode {pnode} configured '{item}' (count "
                                 f"{len(parts)}) doesn't fit the number of specified vnodes "
                                 f"{len(nodes)}", ConfigUnsupportedError)
                dist = {i: int(p) for i, p in enumerate(parts)}
                if any(not 10 <= v <= 255 for v in dist.values()):
                    # virDomainNumaSetNodeDistance: LOCAL_DISTANCE (10) to UNREACHABLE (255)
                    raise c.fail("vnuma", f"vnuma vnode {idx} distance out of range 10-255 in "
                                          f"'{item}'")
            else:
                raise c.fail("vnuma", f"Invalid vnuma configuration for vnode {idx}")
        if pnode is None or cpus is None or not size:
            raise c.fail("vnuma", f"Incomplete vnuma configuration for vnode {idx}")
        vcpus += len(cpus)
        cells.append(m.NumaCell(idx, m.format_cpuset(cpus), size, dist or {}))
    if d.vcpus < vcpus:
        raise c.fail("vnuma", f"vnuma configuration contains {vcpus} vcpus, which is greater "
                              f"than {d.vcpus} maxvcpus", ConfigUnsupportedError)
    # libvirt replaces a <cpu> that nestedhvm made; xvirt keeps its mode and features
    if d.cpu is None:
        d.cpu = m.Cpu()
    d.cpu.cells = cells


def _xenbus(c: _Cfg, d: m.DomainDef) -> None:
    ctl = m.Controller("xenbus", 0)
    ev = c.number("max_event_channels", 0)
    gf = c.number("max_grant_frames", 0)
    if ev > 2 ** 31 or gf > 2 ** 31:
        raise c.fail("max_event_channels" if ev > 2 ** 31 else "max_grant_frames", "too large")
    ctl.max_event_channels = ev or None
    ctl.max_grant_frames = gf or None
    d.controllers.append(ctl)


def _cpuid(c: _Cfg, d: m.DomainDef) -> None:
    value = c.string("cpuid")
    if not value:
        return
    pairs = value.split(",")
    if pairs[0] != "host":
        raise c.fail("cpuid", f"cpuid starting with {pairs[0]} is not supported, only libxl "
                              "format is")
    if d.cpu is None:
        d.cpu = m.Cpu()
    # "host,..." is the host CPU with changes: host-passthrough (libvirt leaves the mode unset
    # when vnuma made the <cpu> first, and then cannot write the cpuid back)
    d.cpu.mode = "host-passthrough"
    for pair in pairs[1:]:
        name, eq, val = pair.partition("=")
        if not name or not eq:
            raise c.fail("cpuid", f"Invalid libxl cpuid key=value element: {pair}")
        if val not in _CPUID_POLICY:
            raise c.fail("cpuid", f"Invalid libxl cpuid value: {pair}")
        d.cpu.features.append((_CPUID_POLICY[val], _FROM_LIBXL.get(name, name)))


def _bus(vdev: str, hvm: bool) -> str:
    if vdev.startswith("xvd") or not hvm:
        return "xen"
    if vdev.startswith("sd"):
        return "scsi"
    return "ide"


def _rbd(c: _Cfg, disk: m.Disk, src: str) -> None:
    """``rbd:POOL/IMAGE[:opt=val...]`` with ``mon_host=H\\:P\\;H\\:P`` (virStorageSourceParseRBDColonString)."""
    text = src.replace("\\\\", "\\")[4:]
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if ch == ":":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    disk.type, disk.protocol, disk.source = "network", "rbd", parts[0]
    if not parts[0] or "/" not in parts[0]:
        raise c.fail("disk", f"invalid RBD source '{src}'")
    for opt in parts[1:]:
        key, _, value = opt.partition("=")
        if key == "mon_host":
            for host in value.split("\\;"):
                name, sep, port = host.partition("\\:")
                if not name or (sep and not (port.isdigit() and int(port) <= 65535)):
                    raise c.fail("disk", f"invalid RBD monitor host '{host}'")
                disk.hosts.append(m.NetHost(name, int(port) if sep else None))
        elif key not in ("auth_supported", "id", "conf", "snapshot"):
            raise c.fail("disk", f"unsupported RBD option '{key}'", ConfigUnsupportedError)


def _xl_disks(c: _Cfg, d: m.DomainDef) -> None:
    value = c.conf.get("disk")
    if not isinstance(value, list):
        return
    for spec in value:
        if not isinstance(spec, str):
            continue
        try:
            x = parse_xl_disk(spec)
        except SpecError as e:
            raise c.fail("disk", str(e)) from None
        disk = m.Disk(target=x.vdev, readonly=not x.readwrite)
        if x.target and x.target.startswith("rbd:"):
            _rbd(c, disk, x.target)
        elif x.target:
            disk.source = x.target
        if x.cdrom:
            disk.driver_name, disk.device = "qemu", "cdrom"
            disk.type = "file"
            disk.driver_type = "raw" if disk.source else None
        else:
            disk.driver_type = {"qcow": "qcow", "qcow2": "qcow2", "vhd": "vhd",
                                "qed": "qed"}.get(x.format or "", "raw")
            backend = x.backendtype or "qdisk"
            if backend in ("qdisk", "standalone"):
                disk.driver_name = "qemu"
                if disk.type != "network":
                    disk.type = "file"
            elif backend == "tap":
                disk.driver_name, disk.type = "tap", "file"
            else:
                disk.driver_name, disk.type = "phy", "block"
        disk.bus = _bus(x.vdev, d.hvm)
        d.disks.append(disk)


def _spice(c: _Cfg, d: m.DomainDef) -> None:
    if not d.hvm or not c.boolean("spice", 0):
        return
    g = m.Graphics(type="spice")
    g.listen = c.string("spicehost")
    g.tls_port = c.number("spicetls_port", 0)
    g.port = c.number("spiceport", 0)
    if g.port > 65535 or g.tls_port > 65535:
        raise c.fail("spiceport", "port out of range")
    g.autoport = not g.tls_port and not g.port
    if g.autoport:
        g.port, g.tls_port = -1, None
    if not c.boolean("spicedisable_ticketing", 0):
        g.passwd = c.string("spicepasswd")
        if g.passwd is None:
            raise c.missing("spicepasswd")
    g.mousemode = "client" if c.boolean("spiceagent_mouse", 0) else "server"
    g.copypaste = bool(c.boolean("spice_clipboard_sharing", 0))
    d.graphics = [g]


def _usb_inputs(c: _Cfg, d: m.DomainDef, xl: bool = True) -> None:
    """usbdevice: a string, or (xl only) a list of strings."""
    if not d.hvm:
        return
    values = (c.strings("usbdevice") or []) if xl else [c.string("usbdevice") or ""]
    for value in values:
        if value in ("mouse", "tablet", "keyboard"):
            d.inputs.append(m.Input(value, "usb"))


def _usbdev(c: _Cfg, d: m.DomainDef) -> None:
    for spec in c.strings("usbdev") or []:
        try:
            items = dict(split_keyvals(spec, "usbdev"))
        except SpecError as e:
            raise c.fail("usbdev", str(e)) from None
        bus, dev = items.get("hostbus", ""), items.get("hostaddr", "")
        if not re.fullmatch(r"[0-9a-fA-F]{1,2}", bus) or not re.fullmatch(r"[0-9a-fA-F]{1,2}", dev):
            raise c.fail("usbdev", f"invalid USB device '{spec}'")
        d.hostdevs.append(m.Hostdev(0, 0, 0, 0, kind="usb", usb_bus=int(bus, 16),
                                    usb_device=int(dev, 16)))


def _usbctrl(c: _Cfg, d: m.DomainDef) -> None:
    for spec in c.strings("usbctrl") or []:
        try:
            items = dict(split_keyvals(spec, "usbctrl"))
        except SpecError as e:
            raise c.fail("usbctrl", str(e)) from None
        version, ports = items.get("version", "2"), items.get("ports", "8")
        if not re.fullmatch(r"[0-9a-fA-F]{1,2}", version) or \
                not re.fullmatch(r"[0-9a-fA-F]{1,2}", ports):
            raise c.fail("usbctrl", f"invalid USB controller '{spec}'")
        ctype = items.get("type", "qusb")
        if not ctype.startswith("qusb"):
            raise c.fail("usbctrl", f"unsupported USB controller type '{ctype}'",
                         ConfigUnsupportedError)
        model = "qusb1" if int(version, 16) == 1 else "qusb2"
        index = sum(1 for x in d.controllers if x.type == "usb")
        d.controllers.append(m.Controller("usb", index, model=model, ports=int(ports, 16)))


def _channels(c: _Cfg, d: m.DomainDef) -> None:
    for spec in c.strings("channel") or []:
        try:
            items = dict(split_keyvals(spec, "channel"))
        except SpecError as e:
            raise c.fail("channel", str(e)) from None
        conn = items.get("connection", "")
        if conn.startswith("socket"):
            ch = m.Chr(type="unix", path=items.get("path"), listen=True)
            if not ch.path:
                raise c.fail("channel", "a socket channel needs path=")
        elif conn.startswith("pty"):
            ch = m.Chr(type="pty")
        else:
            raise c.fail("channel", f"unsupported channel connection '{conn}'",
                         ConfigUnsupportedError)
        ch.target_type, ch.target_name = "xen", items.get("name")
        if not ch.target_name:
            raise c.fail("channel", "a channel needs name= (xl.cfg(5))")
        d.channels.append(ch)


# -- xm only (xen_xm.c) -------------------------------------------------------------------------------

def _xm_os(c: _Cfg, d: m.DomainDef) -> None:
    if d.hvm:
        loader = c.string("kernel")
        if loader is None:
            raise c.missing("kernel")
        d.loader = loader
        _boot(c, d)
        return
    d.bootloader = c.string("bootloader")
    d.bootloader_args = c.string("bootargs")
    d.kernel, d.initrd = c.string("kernel"), c.string("ramdisk")
    root, extra = c.string("root"), c.string("extra")
    if root is not None and extra is not None:
        d.cmdline = f"root={root} {extra}"
    elif root is not None:
        d.cmdline = f"root={root}"
    else:
        d.cmdline = extra


def _xm_disks(c: _Cfg, d: m.DomainDef) -> None:
    for spec in c.strings("disk") or []:
        try:
            x = parse_xm_disk(spec)
        except SpecError as e:
            raise c.fail("disk", str(e)) from None
        disk = m.Disk(target=x.target, type="block" if x.driver == "phy" else "file",
                      device="cdrom" if x.cdrom else "disk", source=x.source,
                      driver_name=x.driver, driver_type=x.driver_type,
                      readonly=x.readonly, shareable=x.shared)
        disk.bus = _bus(x.target, d.hvm)
        d.disks.append(disk)


# -- defaults libvirt's libxl driver adds after parsing ---------------------------------------------

def libxl_post_parse(d: m.DomainDef) -> None:
    """What virDomainDefPostParse + libxlDomainDefPostParse add (libvirt 11, libxl driver)."""
    d.arch = d.arch or ARCH
    d.machine = d.machine or MACHINES.get(d.os_type)
    if d.hvm:
        if d.loader is None:
            d.loader = HVMLOADER
        d.loader_type = d.loader_type or "rom"
        d.loader_format = d.loader_format or "raw"
    for disk in d.disks:   # libxlDomainDeviceDefPostParse: unknown formats are raw
        if disk.driver_type is None:
            disk.driver_type = "raw"
    if not any(x.type == "xenbus" for x in d.controllers):
        d.controllers.insert(0, m.Controller("xenbus", 0))
    if any(x.bus == "ide" for x in d.disks) and not any(x.type == "ide" for x in d.controllers):
        d.controllers.append(m.Controller("ide", 0))
    bus = "ps2" if d.hvm else "xen"
    for kind in ("mouse", "keyboard"):
        if not any(i.type == kind and i.bus == bus for i in d.inputs):
            d.inputs.append(m.Input(kind, bus))
    if d.graphics and not d.videos:
        if d.hvm:
            d.videos.append(m.Video("cirrus", 8192))
        else:
            d.videos.append(m.Video("xen", 4096))
    d.memballoon = True
