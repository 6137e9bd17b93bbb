""":class:`DomainDef` -> the ``(vm ...)`` create config libvirt POSTs to XenD (op=new / op=create).

Facts from libvirt's xml2sexpr direction (src/xenxs/xen_sxpr.c xenFormatSxpr, 2013; final
additions from src/xenconfig/xen_sxpr.c), by ``xend_config_format`` (1 = xend 3.0.2 ... 4 = 3.1.0):

* HVM disk names: format 1 ``ioemu:hda`` and CD-ROMs only as ``(cdrom PATH)`` in the image (hdc);
  format >= 2 ``hda:disk`` / ``hdc:cdrom`` vbds;
* old-style VNC keys: format 1 writes only ``(vnc 1)``; PV graphics are image keys before format 3
  and ``(device (vkbd))(device (vfb ...))`` from format 3; PV ``device_model`` from format 3;
* HVM vifs carry ``(type ioemu)`` up to format 3;
* clock: format < 4 writes only a top-level ``(localtime 0|1)``; format 4 also writes
  ``(rtc_timeoffset N)`` (HVM) and ``(localtime N)`` inside the image.

Output style is libvirt's: values single-quoted with ``\\`` and ``'`` escaped, numbers and keywords
bare, no spaces between sibling lists, no trailing newline. Things XenD cannot express raise
:class:`xvirt.errors.NoSupportError`.
"""

from __future__ import annotations

from typing import Callable

from ..errors import NoSupportError
from . import model as m
from .chardev import ChrSyntaxError, format_chr

__all__ = ["Q", "format_domain_sxpr", "build_domain_sxpr", "show_libvirt"]


class Q(str):
    """An atom libvirt writes single-quoted (plain ``str`` atoms are written bare)."""

    __slots__ = ()


def show_libvirt(value) -> str:
    """Print a tree of lists / :class:`Q` / str the way libvirt's sexpr formatters do."""
    if isinstance(value, list):
        out = ["("]
        prev = None
        for i, item in enumerate(value):
            if i and not (isinstance(item, list) and isinstance(prev, list)):
                out.append(" ")
            out.append(show_libvirt(item))
            prev = item
        out.append(")")
        return "".join(out)
    if isinstance(value, Q) or not value or any(ch in value for ch in " \t\r\n()'\"\\;#"):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return value


def format_domain_sxpr(d: m.DomainDef, *, xend_config_format: int = 4,
                       network_bridge: Callable[[str], str] | None = None) -> str:
    return show_libvirt(build_domain_sxpr(d, xend_config_format=xend_config_format,
                                          network_bridge=network_bridge))


def _kv(key: str, value, quoted: bool = True) -> list:
    return [key, Q(str(value)) if quoted else str(value)]


def build_domain_sxpr(d: m.DomainDef, *, xend_config_format: int = 4,
                      network_bridge: Callable[[str], str] | None = None) -> list:
    """The ``(vm ...)`` tree (lists of :class:`Q`/str atoms)."""
    fmt = xend_config_format
    if fmt not in (1, 2, 3, 4):
        raise NoSupportError(f"unsupported xend_config_format {fmt!r}: expecting 1, 2, 3 or 4")
    hvm = d.hvm
    vm: list = ["vm", _kv("name", d.name)]
    vm += [_kv("memory", -(-d.current_memory // 1024), False),
           _kv("maxmem", -(-d.memory // 1024), False), _kv("vcpus", d.vcpus, False)]
    avail = _vcpu_avail(d)
    if avail:
        vm.append(avail)
    if d.cpuset:
        vm.append(_kv("cpus", d.cpuset))
    vm.append(_kv("uuid", d.uuid))
    if d.description is not None:
        vm.append(_kv("description", d.description))
    bootloader = d.bootloader if not hvm else None
    if bootloader is not None:
        vm.append(_kv("bootloader", bootloader) if bootloader else ["bootloader"])
        if d.bootloader_args is not None:
            vm.append(_kv("bootloader_args", d.bootloader_args))
    for key in ("on_poweroff", "on_reboot", "on_crash"):
        vm.append(_kv(key, getattr(d, key)))

    image: list | None = None
    if bootloader is None:
        image = [("hvm" if hvm else "linux")]
        _image(image, d, fmt)
    else:
        # PV with a bootloader: libvirt kept only the kernel command line here; the old-style
        # (format < 3) graphics keys also live in the image, so keep them too (libvirt lost them)
        extra = [_kv("args", d.cmdline)] if d.cmdline else []
        if fmt < 3 and d.graphics:
            extra += _graphics(d.graphics[0], fmt, new_style=False)
        image = ["linux"] + extra if extra else None
    localtime = _clock(d, fmt, image)
    if image is None and fmt >= 4:
        image = [("hvm" if hvm else "linux")]
        _clock(d, fmt, image)
    if image is not None:
        vm.append(["image", image])
    vm.append(_kv("localtime", localtime, False))

    for disk in d.disks:
        dev = _disk(disk, hvm, fmt)
        if dev is not None:
            vm.append(["device", dev])
    for net in d.nets:
        vm.append(["device", _net(net, hvm, fmt, network_bridge)])
    pci = list(d.hostdevs)
    if pci:
        if any(h.managed for h in pci):
            raise NoSupportError("managed PCI devices are not supported with XenD "
                                 "(<hostdev managed='yes'>)")
        vm.append(["device", ["pci"] + [
            ["dev", ["domain", f"0x{h.domain:04x}"], ["bus", f"0x{h.bus:02x}"],
             ["slot", f"0x{h.slot:02x}"], ["func", f"0x{h.function:x}"]] for h in pci]])
    if not hvm and fmt >= 3 and d.graphics:
        vm.append(["device", ["vkbd"]])
        vm.append(["device", ["vfb"] + _graphics(d.graphics[0], fmt, new_style=True)])
    return vm


def _vcpu_avail(d: m.DomainDef) -> list | None:
    cur = d.vcpus_current
    if cur is not None and cur < d.vcpus:
        return _kv("vcpu_avail", (1 << cur) - 1, False)
    return None


def _image(image: list, d: m.DomainDef, fmt: int) -> None:
    hvm = d.hvm
    if hvm and not d.loader:
        raise NoSupportError("an HVM guest needs an <os><loader> for XenD")
    for key, value in (("kernel", d.kernel), ("ramdisk", d.initrd), ("root", d.root),
                       ("args", d.cmdline)):
        if value is not None:
            image.append(_kv(key, value))
    if hvm:
        image.append(_kv("loader" if d.kernel else "kernel", d.loader))
        image.append(_kv("vcpus", d.vcpus, False))
        avail = _vcpu_avail(d)
        if avail:
            image.append(avail)
        image.append(_kv("boot", "".join(m.BOOT_DEVICES[b] for b in d.boot) or "c", False))
        for disk in d.disks:
            if disk.device == "cdrom" and fmt == 1:
                if disk.target != "hdc":   # libvirt dropped these silently
                    raise NoSupportError(f"xend 3.0.2 (format 1) takes one CD-ROM, hdc, not "
                                         f"'{disk.target}'")
                if not disk.source:        # libvirt dropped it too; it would not come back
                    raise NoSupportError("xend 3.0.2 (format 1) cannot express an empty CD-ROM "
                                         "drive (hdc)")
                image.append(_kv("cdrom", disk.source))
            elif disk.device == "floppy":
                if disk.target not in ("fda", "fdb") or not disk.source:
                    raise NoSupportError(f"XenD knows floppies fda and fdb with media only, "
                                         f"not '{disk.target}'")
                image.append(_kv(disk.target, disk.source))
        for f in m.FEATURES:
            if f in d.features:
                image.append(_kv(f, 1, False))
        image.append(_kv("usb", 1, False))
        usb = [i for i in d.inputs if i.bus == "usb"]
        if len(usb) > 1:
            raise NoSupportError("XenD takes one USB input device, not several")
        for i in usb:
            image.append(_kv("usbdevice", i.type, False))
        image.append(["parallel", _chr(d.parallels[0]) if d.parallels else "none"])
        image.append(_serials(d.serials))
        if d.sounds:
            seen = list(dict.fromkeys(d.sounds))   # each model once: qemu-dm takes a set
            image.append(_kv("soundhw", ",".join(seen)))
    if d.emulator and (hvm or fmt >= 3):
        image.append(_kv("device_model", d.emulator))
    if hvm and d.clock.hpet is not None:
        image.append(_kv("hpet", int(d.clock.hpet), False))
    if (hvm or fmt < 3) and d.graphics:
        image.extend(_graphics(d.graphics[0], fmt, new_style=False))


def _clock(d: m.DomainDef, fmt: int, image: list | None) -> int:
    """Write the format-4 clock keys into ``image`` and return the localtime flag."""
    c = d.clock
    if fmt < 4 or not d.hvm:
        if c.offset not in ("utc", "localtime"):
            raise NoSupportError(f"unsupported clock offset='{c.offset}' for this guest with "
                                 f"xend_config_format {fmt}")
        localtime = int(c.offset == "localtime")
        if fmt >= 4 and image is not None:
            image.append(_kv("localtime", localtime, False))
        return localtime
    if c.offset == "variable":
        localtime, offset = int(c.basis == "localtime"), c.adjustment
    else:
        if c.reset:
            raise NoSupportError("unsupported clock adjustment='reset' with xend_config_format 4")
        localtime, offset = int(c.offset == "localtime"), 0
    if image is not None:
        image.append(_kv("rtc_timeoffset", offset, False))
        image.append(_kv("localtime", localtime, False))
    return localtime


def _chr(c: m.Chr) -> str:
    try:
        return format_chr(c)
    except ChrSyntaxError as e:
        raise NoSupportError(str(e)) from None


def _serials(serials: list[m.Chr]) -> list:
    if not serials:
        return ["serial", "none"]
    if len(serials) == 1 and serials[0].port == 0:
        return ["serial", _chr(serials[0])]
    by_port = {c.port: c for c in serials}
    return ["serial", [(_chr(by_port[p]) if p in by_port else "none")
                       for p in range(max(by_port) + 1)]]


def _graphics(g: m.Graphics, fmt: int, new_style: bool) -> list:
    out: list = []
    if g.type == "sdl":
        out.append(["type", "sdl"] if new_style else ["sdl", "1"])
        if g.display:
            out.append(_kv("display", g.display))
        if g.xauth:
            out.append(_kv("xauthority", g.xauth))
        return out
    if g.type != "vnc":
        raise NoSupportError(f"graphics type '{g.type}' is not supported with XenD")
    out.append(["type", "vnc"] if new_style else ["vnc", "1"])
    if new_style or fmt >= 2:
        if g.autoport or g.port < 5900:
            out.append(_kv("vncunused", 1, False))
        else:
            out += [_kv("vncunused", 0, False), _kv("vncdisplay", g.port - 5900, False)]
        if g.listen:
            out.append(_kv("vnclisten", g.listen))
        if g.passwd is not None:
            out.append(_kv("vncpasswd", g.passwd))
        if g.keymap:
            out.append(_kv("keymap", g.keymap))
    return out


def _disk(disk: m.Disk, hvm: bool, fmt: int) -> list | None:
    if hvm and disk.device == "floppy":
        return None   # floppies live in the hvm image (all xend versions)
    if hvm and disk.device == "cdrom" and fmt == 1:
        return None   # xend 3.0.2: (cdrom ...) in the image, written by _image
    block = disk.driver_name if disk.driver_name in ("tap", "tap2") else "vbd"
    if hvm:
        dev = f"ioemu:{disk.target}" if fmt == 1 else \
            f"{disk.target}:{'cdrom' if disk.device == 'cdrom' else 'disk'}"
    elif disk.device == "cdrom":
        dev = f"{disk.target}:cdrom"
    else:
        dev = disk.target
    out: list = [block, _kv("dev", dev)]
    if disk.source is not None:
        if disk.driver_name in ("tap", "tap2"):
            kind = "aio" if disk.driver_type in (None, "raw") else disk.driver_type
            uname = f"{disk.driver_name}:{kind}:{disk.source}"
        elif disk.driver_name:
            uname = f"{disk.driver_name}:{disk.source}"
        elif disk.type == "block":
            src = disk.source
            uname = f"phy:{src}" if src.startswith("/") else f"phy:/dev/{src}"
        else:
            uname = f"file:{disk.source}"
        out.append(_kv("uname", uname))
    elif not (hvm and disk.device == "cdrom"):
        raise NoSupportError(f"disk '{disk.target}' has no source: only an HVM CD-ROM may be "
                             "empty")
    out.append(_kv("mode", "r" if disk.readonly else "w!" if disk.shareable else "w"))
    return out


def _net(net: m.Net, hvm: bool, fmt: int, network_bridge) -> list:
    out: list = ["vif", _kv("mac", net.mac or m.random_mac())]
    if net.rate_kbps:
        out.append(_kv("rate", f"{net.rate_kbps}KB/s"))
    if net.type == "bridge":
        out += ([_kv("bridge", net.bridge)] if net.bridge else []) + [_kv("script", net.script or "vif-bridge")]
        if net.ip:
            out.append(_kv("ip", net.ip))
    elif net.type == "network":
        if network_bridge is None:
            raise NoSupportError(f"interface on virtual network '{net.network}' needs a network "
                                 "resolver (network_bridge=...) to find its bridge")
        if net.script:
            raise NoSupportError("scripts are not supported on interfaces of type network")
        out += [_kv("bridge", network_bridge(net.network)), _kv("script", "vif-bridge")]
    else:
        if net.script:
            out.append(_kv("script", net.script))
        if net.ip:
            out.append(_kv("ip", net.ip))
    if net.ifname and not net.ifname.startswith("vif"):
        out.append(_kv("vifname", net.ifname))
    if not hvm:
        if net.model:
            out.append(_kv("model", net.model))
    elif net.model == "netfront":
        out.append(["type", "netfront"])
    else:
        if net.model:
            out.append(_kv("model", net.model))
        if fmt <= 3:
            out.append(["type", "ioemu"])
    return out
