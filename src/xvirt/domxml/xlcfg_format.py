""":class:`~xvirt.domxml.model.DomainDef` -> xl.cfg(5) / xm configuration (libvirt's xenFormatXL/XM).

Settings come in libvirt 11's order (src/libxl/xen_common.c xenFormatConfigCommon, then
xen_xl.c xenFormatXL or xen_xm.c xenFormatXM), so the text equals libvirt's byte for byte:
name, uuid, maxmem, memory, [maxvcpus], vcpus, [cpus], HVM features (pae acpi apic [hap]
viridian), timers (tsc_mode, hpet), [rtc_timeoffset], localtime, on_*, device_model_override,
VNC/SDL keys or the PV ``vfb`` list, vif, pci, HVM parallel/serial, soundhw; then for xl: OS
keys (builder/type, bios, kernel, ramdisk, cmdline, boot, nestedhvm / bootloader ...), cpuid,
vnuma, max_event_channels/max_grant_frames, disk, SPICE keys, usb/usbdevice, usbdev, usbctrl,
channel, device_model_args; for xm: OS keys, disk, usb/usbdevice. A definition the format cannot
express raises :class:`~xvirt.errors.ConfigUnsupportedError` and produces nothing.
"""

from __future__ import annotations

from ..errors import ConfigUnsupportedError, ErrorDomain
from . import model as m
from .chardev import ChrSyntaxError, format_chr
from .xlconf import Conf, format_conf
from .xlcfg_parse import CPUID_NAMES
from .xlspec import PciSpec, VifSpec, XlDisk, XmDisk, format_pci, format_vif, format_xl_disk, \
    format_xm_disk

__all__ = ["format_native_config", "conf_from_domain", "DEFAULT_VIF_SCRIPT"]

DEFAULT_VIF_SCRIPT = "vif-bridge"
_TO_LIBXL = dict(CPUID_NAMES)
_BOOT = {"fd": "a", "cdrom": "d", "network": "n", "hd": "c"}


def format_native_config(d: m.DomainDef, fmt: str) -> str:
    try:
        return format_conf(conf_from_domain(d, fmt))
    except ConfigUnsupportedError as e:     # libvirt reports these from its xl / xm code
        e.domain = ErrorDomain.XENXL if fmt == "xen-xl" else ErrorDomain.XENXM
        raise


def _div_up(kib: int) -> int:
    return -(-kib // 1024)


def conf_from_domain(d: m.DomainDef, fmt: str) -> Conf:
    xl = fmt == "xen-xl"
    c = Conf()
    c.set("name", d.name)
    c.set("uuid", d.uuid)
    c.set("maxmem", _div_up(d.memory))
    c.set("memory", _div_up(d.current_memory or d.memory))
    current = d.vcpus_current or d.vcpus
    if current < d.vcpus:
        c.set("maxvcpus", d.vcpus)
    c.set("vcpus", current)
    if d.cpuset:
        c.set("cpus", d.cpuset)
    _features(c, d)
    _clock(c, d)
    c.set("on_poweroff", d.on_poweroff)
    c.set("on_reboot", d.on_reboot)
    c.set("on_crash", d.on_crash)
    if d.emulator:
        c.set("device_model_override", d.emulator)
    _vfb(c, d)
    vifs = [_vif(n, d.hvm, "vif" if xl else "netfront") for n in d.nets]
    if vifs:
        c.set("vif", vifs)
    pcis = [format_pci(PciSpec(h.domain, h.bus, h.slot, h.function,
                               None if h.write_filtering is None else not h.write_filtering))
            for h in d.hostdevs if h.kind == "pci"]
    if pcis:
        c.set("pci", pcis)
    _chardevs(c, d, xl)
    if d.hvm and d.sounds:
        c.set("soundhw", ",".join(d.sounds))
    if xl:
        _xl_os(c, d)
        _cpuid(c, d)
        _vnuma(c, d)
        for ctl in d.controllers:
            if ctl.type == "xenbus":
                if ctl.max_event_channels:
                    c.set("max_event_channels", ctl.max_event_channels)
                if ctl.max_grant_frames:
                    c.set("max_grant_frames", ctl.max_grant_frames)
        disks = [format_xl_disk(_xl_disk(x)) for x in d.disks if x.device != "floppy"]
        if disks:
            c.set("disk", disks)
        _spice(c, d)
        _usb_inputs(c, d, xl=True)
        usbdevs = [f"hostbus={h.usb_bus:x},hostaddr={h.usb_device:x}"
                   for h in d.hostdevs if h.kind == "usb"]
        if usbdevs:
            c.set("usbdev", usbdevs)
        ctrls = [_usbctrl(x) for x in d.controllers if x.type == "usb"]
        if ctrls:
            c.set("usbctrl", ctrls)
        channels = [_channel(ch) for ch in d.channels if ch.target_type == "xen"]
        if channels:
            c.set("channel", channels)
        if d.emulator_args:
            c.set("device_model_args", list(d.emulator_args))
    else:
        _xm_os(c, d)
        disks = [format_xm_disk(_xm_disk(x)) for x in d.disks if x.device != "floppy"]
        if disks:
            c.set("disk", disks)
        _usb_inputs(c, d, xl=False)
    return c


def _features(c: Conf, d: m.DomainDef) -> None:
    if d.hvm:
        c.set("pae", 1 if "pae" in d.features else 0)
        c.set("acpi", 1 if "acpi" in d.features else 0)
        c.set("apic", 1 if "apic" in d.features else 0)
        if "hap" in d.features_off:
            c.set("hap", 0)
        c.set("viridian", 1 if "viridian" in d.features else 0)
    elif d.e820_host:
        c.set("e820_host", 1)
    if d.passthrough not in (None, "off"):
        c.set("passthrough", d.passthrough if d.passthrough != "on" else "enabled")
    timers = list(d.clock.timers)
    if not timers and d.clock.hpet is not None:
        timers = [m.Timer("hpet", d.clock.hpet)]
    for t in timers:
        if t.name == "tsc":
            c.set("tsc_mode", {"native": "native", "paravirt": "native_paravirt",
                               "emulate": "always_emulate"}.get(t.mode or "", "default"))
        elif t.name == "hpet":
            if not d.hvm:
                raise ConfigUnsupportedError("unsupported timer type (name) 'hpet'")
            c.set("hpet", 0 if t.present is False else 1)
        else:
            raise ConfigUnsupportedError(f"unsupported timer type (name) '{t.name}'")


def _clock(c: Conf, d: m.DomainDef) -> None:
    k = d.clock
    if d.hvm:
        if k.offset == "variable":
            localtime, offset = (1 if k.basis == "localtime" else 0), k.adjustment
        elif k.offset in ("utc", "localtime"):
            if k.reset:
                raise ConfigUnsupportedError("unsupported clock adjustment='reset'")
            localtime, offset = (1 if k.offset == "localtime" else 0), 0
        else:
            raise ConfigUnsupportedError(f"unsupported clock offset='{k.offset}'")
        c.set("rtc_timeoffset", offset)
    else:
        if k.offset not in ("utc", "localtime"):
            raise ConfigUnsupportedError(f"unsupported clock offset='{k.offset}'")
        localtime = 1 if k.offset == "localtime" else 0
    c.set("localtime", localtime)


def _vfb(c: Conf, d: m.DomainDef) -> None:
    if len(d.graphics) != 1 or d.graphics[0].type == "spice":
        return
    g = d.graphics[0]
    if d.hvm:
        if g.type == "sdl":
            c.set("sdl", 1)
            c.set("vnc", 0)
            if g.display:
                c.set("display", g.display)
            if g.xauth:
                c.set("xauthority", g.xauth)
            return
        c.set("sdl", 0)
        c.set("vnc", 1)
        c.set("vncunused", 1 if g.autoport else 0)
        if not g.autoport:
            c.set("vncdisplay", g.port - 5900)
        if g.listen:
            c.set("vnclisten", g.listen)
        if g.passwd is not None:  # an empty password is one (libvirt's xen_xl.c copies it)
            c.set("vncpasswd", g.passwd)
        if g.keymap:
            c.set("keymap", g.keymap)
        return
    if g.type == "sdl":
        parts = ["type=sdl"]
        if g.display:
            parts.append(f"display={g.display}")
        if g.xauth:
            parts.append(f"xauthority={g.xauth}")
    else:
        parts = ["type=vnc", f"vncunused={1 if g.autoport else 0}"]
        if not g.autoport:
            parts.append(f"vncdisplay={g.port - 5900}")
        if g.listen:
            parts.append(f"vnclisten={g.listen}")
        if g.passwd is not None:
            parts.append(f"vncpasswd={g.passwd}")
        if g.keymap:
            parts.append(f"keymap={g.keymap}")
    c.set("vfb", [",".join(parts)])


def _vif(n: m.Net, hvm: bool, typename: str) -> str:
    v = VifSpec(mac=n.mac)
    ips = ([n.ip] if n.ip else []) + n.ips
    if n.type == "bridge":
        script = n.script
        bridge = n.bridge or ""
        if n.virtualport == "openvswitch":
            script = script or "vif-openvswitch"
            if n.vlan_tags:
                bridge += ("".join(f":{t}" for t in n.vlan_tags) if n.vlan_trunk
                           else f".{n.vlan_tags[0]}")
        v.bridge = bridge or None
        v.ip = " ".join(ips) if ips else None
        v.script = script or DEFAULT_VIF_SCRIPT
    elif n.type == "ethernet":
        v.script = n.script
        v.ip = " ".join(ips) if ips else None
    else:
        raise ConfigUnsupportedError(f"Unsupported net type '{n.type}'")
    if n.model:
        if hvm and n.model == "netfront":
            v.type = typename
        else:
            v.model = n.model
    v.vifname = n.ifname
    if n.rate_kbps:
        v.rate = f"{n.rate_kbps}KB/s"
    out = format_vif(v)
    return out


def _chardevs(c: Conf, d: m.DomainDef, xl: bool) -> None:
    if not d.hvm:
        return
    try:
        c.set("parallel", format_chr(d.parallels[0]) if d.parallels else "none")
        if not d.serials:
            c.set("serial", "none")
        elif len(d.serials) == 1 and d.serials[0].port == 0:
            c.set("serial", format_chr(d.serials[0]))
        else:
            if not xl:
                raise ConfigUnsupportedError("Multiple serial devices are not supported by "
                                             "xen-xm")
            by_port = {s.port: s for s in d.serials}
            c.set("serial", [format_chr(by_port[p]) if p in by_port else "none"
                             for p in range(max(by_port) + 1)])
    except ChrSyntaxError as e:
        raise ConfigUnsupportedError(str(e)) from None


def _boot_letters(d: m.DomainDef) -> str:
    return "".join(_BOOT.get(b, "c") for b in d.boot) or "c"


def _xl_os(c: Conf, d: m.DomainDef) -> None:
    if d.hvm:
        c.set("builder", "hvm")
        if d.loader_type == "pflash":
            c.set("bios", "ovmf")
            if d.loader:
                c.set("bios_path_override", d.loader)
        if d.slic_table:
            c.set("acpi_firmware", d.slic_table)
        _direct_boot(c, d)
        c.set("boot", _boot_letters(d))
        if d.cpu is not None and d.cpu.mode == "host-passthrough":
            hw = not any(p in ("disable", "forbid") and n in ("vmx", "svm")
                         for p, n in d.cpu.features)
            c.set("nestedhvm", 1 if hw else 0)
        return
    if d.os_type == "xenpvh":
        c.set("type", "pvh")
    if d.bootloader:
        c.set("bootloader", d.bootloader)
    if d.bootloader_args:
        c.set("bootargs", d.bootloader_args)
    _direct_boot(c, d)


def _direct_boot(c: Conf, d: m.DomainDef) -> None:
    """kernel, ramdisk and cmdline: the same keys for HVM and PV guests."""
    for key, value in (("kernel", d.kernel), ("ramdisk", d.initrd), ("cmdline", d.cmdline)):
        if value:
            c.set(key, value)


def _cpuid(c: Conf, d: m.DomainDef) -> None:
    if d.cpu is None or d.cpu.mode != "host-passthrough":
        return
    pairs = ["host"]
    for policy, name in d.cpu.features:
        xname = _TO_LIBXL.get(name, name)
        if xname in ("vmx", "svm"):
            continue
        value = {"force": "1", "require": "1", "optional": "x", "disable": "0",
                 "forbid": "0"}.get(policy)
        if value is None:
            raise ConfigUnsupportedError(f"unsupported CPU feature policy '{policy}'")
        pairs.append(f"{xname}={value}")
    if len(pairs) > 1:
        c.set("cpuid", ",".join(pairs))


def _vnuma(c: Conf, d: m.DomainDef) -> None:
    if d.cpu is None or not d.cpu.cells:
        return
    n = len(d.cpu.cells)
    nodes = []
    for i, cell in enumerate(d.cpu.cells):
        dist = [cell.distances.get(j, 10 if i == j else _sibling(d.cpu.cells, j, i))
                for j in range(n)]
        nodes.append([f"pnode={i}", f"size={cell.memory // 1024}", f"vcpus={cell.cpus}",
                      "vdistances=" + ",".join(str(x) for x in dist)])
    c.set("vnuma", nodes)


def _sibling(cells: list[m.NumaCell], i: int, j: int) -> int:
    """virDomainNumaGetNodeDistance: a missing distance is the reverse one, else 20 (remote)."""
    if i < len(cells) and j in cells[i].distances:
        return cells[i].distances[j]
    return 20


def _xl_disk(x: m.Disk) -> XlDisk:
    src = x.source
    if x.type == "network":
        src = _rbd_target(x)
    backend = None
    if x.driver_name in ("qemu", "file"):
        backend = "qdisk"
    elif x.driver_name in ("tap", "phy"):
        backend = x.driver_name
    fmt = x.driver_type if x.driver_type in ("raw", "qcow", "qcow2", "qed") else \
        "xvhd" if x.driver_type == "vhd" else "raw"
    return XlDisk(target=src, format=fmt if fmt != "xvhd" else "vhd", vdev=x.target,
                  readwrite=not x.readonly, backendtype=backend, cdrom=x.device == "cdrom")


def _rbd_target(x: m.Disk) -> str:
    if x.protocol != "rbd":
        raise ConfigUnsupportedError(f"Unsupported network block protocol '{x.protocol}'")
    pool, _, image = (x.source or "").partition("/")
    if ":" in image:
        raise ConfigUnsupportedError(f"':' not allowed in RBD source volume name '{image}'")
    out = f"rbd:{x.source}:auth_supported=none"
    if x.hosts:
        hosts = []
        for h in x.hosts:
            name = f"[{h.name.replace(':', chr(92) + ':')}]" if ":" in h.name else h.name
            hosts.append(name + (f"\\\\:{h.port}" if h.port else ""))
        out += ":mon_host=" + "\\\\;".join(hosts)
    return out


def _xm_disk(x: m.Disk) -> XmDisk:
    if x.type not in ("file", "block"):
        raise ConfigUnsupportedError(f"unsupported disk type {x.type}")
    driver = x.driver_name
    if x.driver_type is None or driver is None:
        driver = "file" if x.type == "file" else "phy"
    return XmDisk(source=x.source, driver=driver, driver_type=x.driver_type, target=x.target,
                  cdrom=x.device == "cdrom", readonly=x.readonly, shared=x.shareable)


def _spice(c: Conf, d: m.DomainDef) -> None:
    if not d.hvm or not d.graphics or d.graphics[0].type != "spice":
        return
    g = d.graphics[0]
    c.set("sdl", 0)
    c.set("vnc", 0)
    c.set("spice", 1)
    if g.listen:
        c.set("spicehost", g.listen)
    c.set("spiceport", g.port if g.port and g.port > 0 else 0)
    c.set("spicetls_port", g.tls_port or 0)
    if g.passwd:
        c.set("spicedisable_ticketing", 0)
        c.set("spicepasswd", g.passwd)
    else:
        c.set("spicedisable_ticketing", 1)
    if g.mousemode == "server":
        c.set("spiceagent_mouse", 0)
    elif g.mousemode == "client":
        c.set("spiceagent_mouse", 1)
        c.set("spicevdagent", 1)
    if g.copypaste:
        c.set("spice_clipboard_sharing", 1)
        c.set("spicevdagent", 1)


def _usb_inputs(c: Conf, d: m.DomainDef, xl: bool) -> None:
    if not d.hvm:
        return
    devs = [i.type for i in d.inputs if i.bus == "usb"]
    if not devs:
        return
    c.set("usb", 1)
    if len(devs) > 1 and not xl:
        raise ConfigUnsupportedError("xen-xm supports one USB input device (usbdevice)")
    if len(devs) == 1:
        c.set("usbdevice", devs[0])
    else:
        c.set("usbdevice", devs)


def _usbctrl(x: m.Controller) -> str:
    out = ""
    if x.model is not None:
        if x.model not in ("qusb1", "qusb2"):
            raise ConfigUnsupportedError(f"unsupported USB controller model '{x.model}'")
        out = f"type=qusb,version={x.model[-1]},"
    if x.ports is not None:
        out += f"ports={x.ports:x}"
    return out


def _channel(ch: m.Chr) -> str:
    if ch.type == "pty":
        out = "connection=pty,"
    elif ch.type == "unix":
        out = "connection=socket,"
        if ch.path:
            out += f"path={ch.path},"
    else:
        raise ConfigUnsupportedError(f"unsupported channel type '{ch.type}'")
    if not ch.target_name:
        raise ConfigUnsupportedError("a Xen channel needs <target name=...>")
    return out + f"name={ch.target_name}"


def _xm_os(c: Conf, d: m.DomainDef) -> None:
    if d.hvm:
        c.set("builder", "hvm")
        if d.loader:
            c.set("kernel", d.loader)
        c.set("boot", _boot_letters(d))
        return
    if d.os_type == "xenpvh":
        raise ConfigUnsupportedError("PVH guests cannot be written as xm config")
    if d.bootloader:
        c.set("bootloader", d.bootloader)
    if d.bootloader_args:
        c.set("bootargs", d.bootloader_args)
    if d.kernel:
        c.set("kernel", d.kernel)
    if d.initrd:
        c.set("ramdisk", d.initrd)
    if d.cmdline:
        c.set("extra", d.cmdline)
