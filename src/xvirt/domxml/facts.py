"""Normalised facts of a domain, read from either representation, for comparing them.

:func:`facts_from_xml` reads libvirt domain XML of any era (2006 to final style) and
:func:`facts_from_sxpr` reads XenD ``(domain ...)`` records and ``(vm ...)`` configs of any
xend_config_format; both give the same dict shape, so a record and its XML (or a config and the XML
it came from) can be compared with :func:`compare_facts`. This module reads the trees itself and
does not use the converters, so it can check them.

Normalisation: UUIDs dashed lower case, MACs lower case, memory in KiB, disk targets without
``ioemu:`` / ``:disk`` / ``:cdrom``, tap ``aio`` = ``raw``, clock as (offset basis, adjustment),
VNC port -1 = unknown, and only explicit (USB) input devices. A value of ``None`` means "this
representation does not say" and is skipped by :func:`compare_facts`; device lists are dicts keyed
by target / MAC / port so that order does not matter.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..errors import SexprError, XMLError
from ..protocol import sxp
from .safexml import parse_xml

__all__ = ["facts_from_xml", "facts_from_sxpr", "compare_facts"]

_SOUNDS = ("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb")
_FEATURES = ("acpi", "apic", "pae", "hap", "viridian")
_BOOT = {"a": "fd", "c": "hd", "d": "cdrom", "n": "network"}
_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024 ** 2,
          "mib": 1024 ** 2, "mb": 10 ** 6, "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 10 ** 9}


def _uuid(text: str | None) -> str | None:
    if text is None:
        return None
    raw = text.strip().replace("-", "").lower()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}" if len(raw) == 32 else raw


def _target(dev: str) -> tuple[str, str | None]:
    """(name, device implied by a suffix) for ``ioemu:hda`` / ``hdc:cdrom`` / ``xvda:disk``."""
    if dev.startswith("ioemu:"):
        dev = dev[6:]
    base, colon, suffix = dev.rpartition(":")
    if colon:  # xen_sxpr.c: any other suffix is stripped too ("pretend it's a disk")
        return base, suffix if suffix == "cdrom" else "disk"
    return dev, None


def _cpuset(text: str) -> str:
    cpus: set[int] = set()
    minus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        neg = part.startswith("^")
        lo, _, hi = part.lstrip("^").partition("-")
        (minus if neg else cpus).update(range(int(lo), int(hi or lo) + 1))
    return ",".join(str(c) for c in sorted(cpus - minus))


def _keyed(items: list[tuple[str, dict]]) -> dict:
    out: dict = {}
    for key, value in items:
        k, n = key, 2
        while k in out:
            k, n = f"{key}#{n}", n + 1
        out[k] = value
    return out


# -- XML ----------------------------------------------------------------------------------------

def facts_from_xml(xml: str | bytes | ET.Element) -> dict:
    """Facts of a ``<domain>`` document (parsed safely) or an already parsed element."""
    root = xml if isinstance(xml, ET.Element) else parse_xml(xml)
    try:
        return _facts_from_xml(root)
    except (ValueError, TypeError, AttributeError) as e:
        raise XMLError(f"cannot read facts from domain XML: {e}") from None


def _facts_from_xml(root: ET.Element) -> dict:
    t = lambda path: root.findtext(path)  # noqa: E731
    os_type = (t("os/type") or ("linux" if root.find("bootloader") is not None else "")).strip()
    hvm = os_type == "hvm"
    mem = _xml_kib(root.find("memory"))
    cur = _xml_kib(root.find("currentMemory"))
    vcpu = root.find("vcpu")
    vcpus = int(vcpu.text) if vcpu is not None else 1
    clock = root.find("clock")
    offset, adjustment = "utc", 0
    if clock is not None:
        offset = clock.get("offset", "utc")
        if offset == "variable":
            offset, adjustment = clock.get("basis", "utc"), int(clock.get("adjustment", "0"))
    hpet = None
    for timer in root.findall("clock/timer"):
        if timer.get("name") == "hpet" and timer.get("present") in ("yes", "no"):
            hpet = timer.get("present") == "yes"
    boot = tuple(b.get("dev") for b in root.findall("os/boot"))
    bl = root.find("bootloader")
    f = {
        "name": t("name"), "uuid": _uuid(t("uuid")), "description": t("description") or "",
        "memory_kib": mem, "current_memory_kib": min(cur, mem) if cur else mem,
        "vcpus": vcpus,
        "vcpus_current": int(vcpu.get("current")) if vcpu is not None and vcpu.get("current")
        else vcpus,
        "cpuset": _cpuset(vcpu.get("cpuset")) if vcpu is not None and vcpu.get("cpuset") else "",
        "os_type": "linux" if os_type == "xen" else os_type,
        "kernel": t("os/kernel"), "initrd": t("os/initrd"), "cmdline": t("os/cmdline"),
        "root": t("os/root"), "loader": t("os/loader"),
        "boot": (boot or ("hd",)) if hvm and not t("os/kernel") else None,
        "bootloader": None if hvm else (False if bl is None else (bl.text or "").strip()),
        "bootloader_args": t("bootloader_args") if bl is not None and not hvm else None,
        "on_poweroff": (t("on_poweroff") or "destroy").strip(),
        "on_reboot": (t("on_reboot") or "restart").strip(),
        "on_crash": (t("on_crash") or "destroy").strip(),
        "features": tuple(x for x in _FEATURES if root.find(f"features/{x}") is not None),
        "clock_offset": offset, "clock_adjustment": adjustment, "hpet": hpet,
        "emulator": t("devices/emulator"),
    }
    devs = root.find("devices")
    devs = devs if devs is not None else ET.Element("devices")
    f["disks"] = _keyed([_xml_disk(e) for e in devs.findall("disk")])
    f["interfaces"] = _keyed([_xml_net(e, i) for i, e in enumerate(devs.findall("interface"))])
    f["graphics"] = {e.get("type"): _xml_graphics(e) for e in devs.findall("graphics")}
    serials = devs.findall("serial")
    consoles = devs.findall("console")
    if hvm and not serials and consoles:   # an HVM console alone stands for serial port 0
        serials = consoles[:1]
    f["serials"] = {_port(e): _xml_chr(e) for e in serials}
    f["parallels"] = {_port(e): _xml_chr(e) for e in devs.findall("parallel")}
    f["consoles"] = ({_port(e): _xml_chr(e) for e in consoles} if consoles and not hvm else None)
    f["inputs"] = tuple(sorted((e.get("type"), "usb") for e in devs.findall("input")
                               if e.get("bus") == "usb"))
    f["sounds"] = tuple(sorted({e.get("model") for e in devs.findall("sound")} & set(_SOUNDS)))
    f["hostdevs"] = tuple(sorted(
        tuple(int(a.get(k), 16) for k in ("domain", "bus", "slot", "function"))
        for a in devs.findall("hostdev/source/address")))
    return f


def _xml_kib(elem: ET.Element | None) -> int | None:
    if elem is None or not (elem.text or "").strip():
        return None
    scale = _UNITS.get(elem.get("unit", "KiB").lower(), 1024)
    return -(-int(elem.text.strip()) * scale // 1024)


def _port(elem: ET.Element) -> int:
    target = elem.find("target")
    return int(target.get("port", "0")) if target is not None else 0


def _xml_disk(e: ET.Element) -> tuple[str, dict]:
    target = e.find("target")
    name, implied = _target(target.get("dev", "") if target is not None else "")
    device = e.get("device") or implied or "disk"
    dtype = e.get("type", "file")
    src = e.find("source")
    source = ((src.get("file") if dtype == "file" else src.get("dev")) if src is not None else "")
    drv = e.find("driver")
    dname = drv.get("name") if drv is not None else None
    dfmt = drv.get("type") if drv is not None else None
    return name, {
        "device": device, "type": dtype, "source": source or "",
        "bus": target.get("bus") if target is not None else None,
        "readonly": e.find("readonly") is not None or device == "cdrom",
        "shareable": e.find("shareable") is not None,
        "driver_name": dname, "driver_type": "raw" if dfmt == "aio" else dfmt,
    }


def _mac(text: str | None) -> str:
    """A MAC as a fact: six 1-2 digit hex groups mean one address (virMacAddrParse reads
    ``0:16:3e:1:6:15`` as ``00:16:3e:01:06:15``); anything else is kept as written."""
    raw = (text or "").strip().lower()
    parts = raw.split(":")
    if len(parts) == 6 and all(re.fullmatch(r"[0-9a-f]{1,2}", p) for p in parts):
        return ":".join(p.rjust(2, "0") for p in parts)
    return raw


def _xml_net(e: ET.Element, index: int) -> tuple[str, dict]:
    g = lambda path, attr: e.find(path).get(attr) if e.find(path) is not None else None  # noqa
    mac = _mac(g("mac", "address"))
    rate = g("bandwidth/outbound", "average")
    return mac or f"#{index}", {
        "type": e.get("type"), "bridge": g("source", "bridge"), "script": g("script", "path"),
        "model": g("model", "type"), "ip": g("ip", "address"), "ifname": g("target", "dev"),
        "rate_kbps": int(rate) if rate else None,
    }


def _xml_graphics(e: ET.Element) -> dict:
    if e.get("type") == "sdl":
        return {"display": e.get("display"), "xauth": e.get("xauth")}
    port = int(e.get("port", "-1"))
    autoport = e.get("autoport")
    listen = e.get("listen")
    if listen is None and e.find("listen") is not None:
        listen = e.find("listen").get("address")
    return {"port": None if port == -1 else port,
            "autoport": True if autoport == "yes" or port == -1 else
            False if autoport == "no" else None,
            "listen": listen, "keymap": e.get("keymap"), "passwd": e.get("passwd")}


def _xml_chr(e: ET.Element) -> dict:
    ctype = e.get("type", "pty")
    out = {"type": ctype}
    sources = e.findall("source")
    if ctype in ("file", "pipe", "dev", "unix"):
        out["path"] = sources[0].get("path") if sources else None
    if ctype in ("tcp", "unix"):
        out["mode"] = sources[0].get("mode", "connect") if sources else None
    if ctype == "tcp":
        out["host"], out["service"] = sources[0].get("host"), sources[0].get("service")
        proto = e.find("protocol")
        out["protocol"] = proto.get("type", "raw") if proto is not None else "raw"
    if ctype == "udp":
        for s in sources:
            side = "bind" if s.get("mode", "connect") == "bind" else "connect"
            out[f"{side}_host"], out[f"{side}_service"] = s.get("host"), s.get("service")
    return out


# -- S-expressions ------------------------------------------------------------------------------

def facts_from_sxpr(tree: list | str | bytes, xend_config_format: int | None = None) -> dict:
    """Facts of a XenD ``(domain ...)`` record or ``(vm ...)`` config (text or parsed tree).

    With ``xend_config_format`` >= 2 an HVM image's ``(cdrom ...)`` is not a disk: from format 2
    on, CD-ROMs are vbds and libvirt ignored the image key (xen_sxpr.c reads it for format 1).
    """
    if not isinstance(tree, list):
        try:
            tree = sxp.parse(tree)
        except SexprError:
            tree = sxp.parse(tree, mode="lenient")
    if not isinstance(tree, list):
        raise SexprError("cannot read facts: the S-expression is an atom")
    try:
        return _facts_from_sxpr(tree, xend_config_format)
    except (ValueError, TypeError, AttributeError, IndexError) as e:
        raise SexprError(f"cannot read facts from the S-expression: {e}") from None


def _facts_from_sxpr(tree: list, fmt: int | None = None) -> dict:
    v = lambda path: sxp.child_value(tree, path)  # noqa: E731
    hvm_img = sxp.child(sxp.child(tree, "image"), "hvm") if sxp.child(tree, "image") else None
    hvm = hvm_img is not None
    img = hvm_img if hvm else (sxp.child(sxp.child(tree, "image"), "linux")
                               if sxp.child(tree, "image") else None)
    iv = (lambda key: sxp.child_value(img, key)) if img is not None else (lambda key: None)
    maxmem = int(v("maxmem") or v("memory")) * 1024
    mem = int(v("memory") or v("maxmem")) * 1024
    vcpus = int(v("vcpus") or 1)
    avail = int(v("vcpu_avail") or 0)
    cur = bin(avail).count("1") if avail else vcpus
    loader, kernel = (iv("loader"), iv("kernel")) if hvm else (None, iv("kernel"))
    if hvm and loader is None:
        loader, kernel = kernel, None
    if hvm and (kernel == "" or kernel == loader):
        kernel = None
    localtime = v("localtime")
    if iv("localtime") is not None:
        localtime = iv("localtime")
    hpet = iv("hpet") if hvm else None
    cpus = v("cpus")
    bl = sxp.child(tree, "bootloader")
    f = {
        "name": v("name"), "uuid": _uuid(v("uuid")), "description": v("description") or "",
        "memory_kib": maxmem, "current_memory_kib": min(mem, maxmem),
        "vcpus": vcpus, "vcpus_current": cur if cur < vcpus else vcpus,
        "cpuset": _cpuset(cpus) if cpus else ("" if sxp.child(tree, "cpus") is None else None),
        "os_type": "hvm" if hvm else "linux",
        "kernel": kernel, "initrd": iv("ramdisk") if kernel or not hvm else None,
        "cmdline": iv("args") if kernel or not hvm else None,
        "root": iv("root") if kernel or not hvm else None, "loader": loader,
        "boot": tuple(_BOOT[c] for c in (iv("boot") or "c") if c in _BOOT) if hvm and not kernel
        else None,
        "bootloader": None if hvm else (False if bl is None else (v("bootloader") or "")),
        "bootloader_args": v("bootloader_args") if bl is not None and not hvm else None,
        "on_poweroff": v("on_poweroff") or "destroy", "on_reboot": v("on_reboot") or "restart",
        "on_crash": v("on_crash") or "destroy",
        "features": tuple(x for x in _FEATURES if hvm and (iv(x) or "0") not in ("0", "")),
        "clock_offset": "localtime" if int(localtime or 0) else "utc",
        "clock_adjustment": int(iv("rtc_timeoffset") or 0) if hvm else 0,
        "hpet": None if hpet is None else hpet != "0",
        "emulator": iv("device_model"),
    }
    disks, nets, graphics = [], [], {}
    for dev in sxp.children(tree, "device"):
        for node in sxp.children(dev):
            kind = node[0]
            if kind in ("vbd", "tap", "tap2"):
                disks.append(_sx_disk(node))
            elif kind == "vif":
                nets.append(_sx_net(node, len(nets)))
            elif kind == "vfb" and not graphics:
                gtype = sxp.child_value(node, "type") or ("sdl" if sxp.child(node, "sdl")
                                                           else "vnc")
                graphics[gtype] = _sx_graphics(node, gtype)
            elif kind == "pci":
                f["hostdevs"] = tuple(sorted(
                    tuple(int(sxp.child_value(d, k), 16) for k in ("domain", "bus", "slot", "func"))
                    for d in sxp.children(node, "dev")))
    f.setdefault("hostdevs", ())
    if not graphics and img is not None:
        for gtype in ("vnc", "sdl"):
            if (iv(gtype) or "0").startswith("1"):
                graphics[gtype] = _sx_graphics(img, gtype)
                break
    if hvm:
        if iv("cdrom") and not any(d[0] == "hdc" for d in disks) and (fmt is None or fmt < 2):
            disks.append(("hdc", {"device": "cdrom", "type": "file", "source": iv("cdrom"),
                                  "readonly": True, "shareable": False}))
        for fd in ("fda", "fdb"):
            if iv(fd):
                disks.append((fd, {"device": "floppy", "type": "file", "source": iv(fd)}))
    f["disks"] = _keyed(disks)
    f["interfaces"] = _keyed(nets)
    f["graphics"] = graphics
    f["serials"], f["parallels"] = {}, {}
    if hvm:
        serial = sxp.child(hvm_img, "serial")
        values = serial[1] if serial is not None and len(serial) > 1 else "none"
        for port, value in enumerate(values if isinstance(values, list) else [values]):
            if isinstance(value, str) and value != "none":
                f["serials"][port] = _sx_chr(value)
        if iv("parallel") and iv("parallel") != "none":
            f["parallels"][0] = _sx_chr(iv("parallel"))
    f["consoles"] = None
    usb = iv("usbdevice") if hvm else None
    f["inputs"] = ((usb, "usb"),) if usb in ("mouse", "tablet", "keyboard") else ()
    sound = (iv("soundhw") or "") if hvm else ""
    models = ["sb16", "es1370"] if sound == "all" else sound.split(",")
    f["sounds"] = tuple(sorted(set(models) & set(_SOUNDS)))
    return f


def _sx_disk(node: list) -> tuple[str, dict]:
    val = lambda key: sxp.child_value(node, key)  # noqa: E731
    name, implied = _target(val("dev") or "")
    uname = val("uname")
    device = implied or "disk"
    out = {"device": device, "source": "", "readonly": "r" in (val("mode") or "") or device == "cdrom",
           "shareable": "!" in (val("mode") or ""), "driver_name": None, "driver_type": None}
    if uname is not None:
        drv, _, path = uname.partition(":")
        if node[0] == "tap2" and drv == "tap":
            drv = "tap2"
        out["driver_name"] = drv
        if drv in ("tap", "tap2"):
            kind, _, path = path.partition(":")
            out["driver_type"] = "raw" if kind == "aio" else kind
        out["type"] = "block" if drv == "phy" else "file"
        out["source"] = path
    else:
        out["type"] = None
    return name, out


def _sx_net(node: list, index: int) -> tuple[str, dict]:
    val = lambda key: sxp.child_value(node, key)  # noqa: E731
    bridge, script = val("bridge"), val("script")
    rate = val("rate")
    m = re.match(r"(\d+)KB/s", rate or "")
    model = val("model") or ("netfront" if val("type") == "netfront" else None)
    return _mac(val("mac")) or f"#{index}", {
        "type": "bridge" if bridge is not None or script in ("vif-bridge", "vif-vnic")
        else "ethernet",
        "bridge": bridge, "script": script, "model": model, "ip": val("ip"),
        "ifname": val("vifname"), "rate_kbps": int(m.group(1)) if m else None,
    }


def _sx_graphics(node: list, gtype: str) -> dict:
    val = lambda key: sxp.child_value(node, key)  # noqa: E731
    if gtype == "sdl":
        return {"display": val("display"), "xauth": val("xauthority")}
    port = None
    if val("vncdisplay") is not None:
        port = int(val("vncdisplay"))
        port = port + 5900 if port < 5900 else port
    unused = val("vncunused")
    return {"port": port, "autoport": None if unused is None else unused == "1",
            "listen": val("vnclisten"), "keymap": val("keymap"), "passwd": val("vncpasswd")}


def _sx_chr(value: str) -> dict:
    if value.startswith("/"):
        return {"type": "dev", "path": value}
    prefix, _, rest = value.partition(":")
    if prefix in ("file", "pipe"):
        return {"type": prefix, "path": rest}
    if prefix in ("tcp", "telnet"):
        host, _, service = rest.partition(":")
        service, _, opts = service.partition(",")
        return {"type": "tcp", "host": host or None, "service": service,
                "mode": "bind" if "server" in opts.split(",") else "connect",
                "protocol": "telnet" if prefix == "telnet" else "raw"}
    if prefix == "udp":
        conn, _, bind = rest.partition("@")
        ch, _, cs = conn.partition(":")
        bh, _, bs = bind.partition(":")
        return {"type": "udp", "connect_host": ch or None, "connect_service": cs or None,
                "bind_host": bh or None, "bind_service": bs or None}
    if prefix == "unix":
        path, _, opts = rest.partition(",")
        return {"type": "unix", "path": path,
                "mode": "bind" if "server" in opts.split(",") else "connect"}
    return {"type": prefix}


# -- comparison ---------------------------------------------------------------------------------

def compare_facts(a: dict, b: dict, *, path: str = "") -> list[str]:
    """Disagreements between two fact dicts, skipping anything either side leaves at None."""
    diffs: list[str] = []
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        where = f"{path}{key}"
        if x is None or y is None:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            nested = all(isinstance(v, dict) for v in list(x.values()) + list(y.values()))
            if nested and set(x) != set(y):
                diffs.append(f"{where}: keys {sorted(map(str, x))} != {sorted(map(str, y))}")
                continue
            diffs += compare_facts(x, y, path=f"{where}.")
        elif x != y:
            diffs.append(f"{where}: {x!r} != {y!r}")
    return diffs
