"""libvirt domain XML -> :class:`~xvirt.domxml.model.DomainDef`, for the Xen driver's needs.

Follows what libvirt's domain XML parser (src/conf/domain_conf.c, virDomainDefParseXML and the
per-device parsers) does for the elements the XenD driver uses; anything else is ignored, as
libvirt's Xen driver ignored it. Invalid values raise :class:`xvirt.errors.XMLError` naming the
element at fault. Input goes through :func:`~xvirt.domxml.safexml.parse_xml` (no DTDs/entities).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..errors import XMLError
from . import model as m
from .safexml import parse_xml

__all__ = ["parse_domain_xml", "domain_from_element"]

# unit suffixes accepted by domain_conf.c virDomainParseMemory (via virScaleInteger)
_UNITS = {"": 1024, "b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024 ** 2,
          "mib": 1024 ** 2, "mb": 1000 ** 2, "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 1000 ** 3,
          "t": 1024 ** 4, "tib": 1024 ** 4, "tb": 1000 ** 4}
_CHR_TYPES = ("pty", "null", "stdio", "vc", "file", "pipe", "dev", "tcp", "udp", "unix")
_INPUT_TYPES = ("mouse", "tablet", "keyboard")
_INPUT_BUSES = ("ps2", "usb", "xen")


def parse_domain_xml(text: str | bytes, *, driver: str = "xend") -> m.DomainDef:
    """Parse a ``<domain>`` document (safely) into a DomainDef.

    ``driver="libxl"`` follows libvirt 11's libxl driver where it differs from the XenD one: an
    HVM guest may leave out ``<loader>`` (the driver supplies hvmloader) and ``xenpvh`` is a
    guest type.
    """
    return domain_from_element(parse_xml(text), driver=driver)


def _text(elem: ET.Element | None) -> str | None:
    if elem is None:
        return None
    return elem.text or ""


def _int(value: str, what: str, lo: int = 0, hi: int = 2 ** 63) -> int:
    try:
        n = int(value.strip(), 0) if value.strip().lower().startswith("0x") else int(value.strip())
    except (ValueError, AttributeError):
        raise XMLError(f"invalid value '{value}' in {what}: not an integer") from None
    if not lo <= n <= hi:
        raise XMLError(f"invalid value '{value}' in {what}: out of range")
    return n


def _memory(root: ET.Element, tag: str) -> int | None:
    """A memory size in KiB from <memory>/<currentMemory> with an optional unit (rounded up)."""
    elem = root.find(tag)
    if elem is None:
        return None
    unit = elem.get("unit", "KiB")
    scale = _UNITS.get(unit.lower())
    if scale is None:
        raise XMLError(f"unknown unit '{unit}' in <{tag}>")
    value = (elem.text or "").strip()
    if not re.fullmatch(r"\d+", value):
        raise XMLError(f"invalid value '{elem.text or ''}' in <{tag}>: expected a number of {unit}")
    kib = -(-int(value) * scale // 1024)
    if kib > 2 ** 53:
        raise XMLError(f"invalid value '{value}' in <{tag}>: too large")
    return kib


def domain_from_element(root: ET.Element, *, driver: str = "xend") -> m.DomainDef:
    if root.tag != "domain":
        raise XMLError(f"unexpected root element <{root.tag}>, expecting <domain>")
    dtype = root.get("type")
    if dtype is None:
        raise XMLError("missing domain type attribute in <domain>")
    if dtype != "xen":
        raise XMLError(f"unsupported domain type '{dtype}' in <domain>: only 'xen' is handled here")

    name = _text(root.find("name"))
    if name is None or not name.strip():
        raise XMLError("missing <name> element in <domain>")
    if "\n" in name or len(name) > 1024:
        raise XMLError(f"invalid domain name in <name>: {name[:40]!r}")
    uuid_text = _text(root.find("uuid"))
    if uuid_text is None:
        uuid = m.random_uuid()   # domain_conf.c generates one when absent
    else:
        uuid = m.parse_uuid(uuid_text)
        if uuid is None:
            raise XMLError(f"malformed UUID '{uuid_text.strip()}' in <uuid>")
    d = m.DomainDef(name=name, uuid=uuid)
    if root.get("id") is not None:
        d.id = _int(root.get("id"), "<domain id>", -1, 2 ** 31)
    d.description = _text(root.find("description"))

    _parse_memory(root, d)
    _parse_vcpu(root, d)
    _parse_os(root, d, driver)
    for tag in ("on_poweroff", "on_reboot", "on_crash"):
        value = _text(root.find(tag))
        if value is not None:
            value = value.strip()
            allowed = m.LIFECYCLE_ACTIONS if tag == "on_crash" else m.LIFECYCLE_ACTIONS[:4]
            if value not in allowed:
                raise XMLError(f"unknown lifecycle action '{value}' in <{tag}>")
            setattr(d, tag, value)
    feats = root.find("features")
    if feats is not None:
        for f in m.FEATURES:
            e = feats.find(f)
            if e is None:
                continue
            state = e.get("state", "on")
            if state not in ("on", "off"):
                raise XMLError(f"invalid state '{state}' in <features><{f}>")
            (d.features if state == "on" else d.features_off).append(f)
        xen = feats.find("xen")
        if xen is not None and driver == "libxl":
            e820 = xen.find("e820_host")
            d.e820_host = e820 is not None and e820.get("state", "on") == "on"
            pt = xen.find("passthrough")
            if pt is not None:
                state, mode = pt.get("state", "on"), pt.get("mode")
                if state not in ("on", "off") or mode not in (None, "sync_pt", "share_pt"):
                    raise XMLError(f"invalid <features><xen><passthrough state='{state}' "
                                   f"mode='{mode}'>")
                d.passthrough = "off" if state == "off" else (mode or "on")
    cpu = root.find("cpu")
    if cpu is not None:
        d.cpu = _parse_cpu(cpu)
    _parse_clock(root.find("clock"), d)

    devices = root.find("devices")
    if devices is not None:
        _parse_devices(devices, d, driver)
    d.memballoon = devices is not None and devices.find("memballoon") is not None
    cmdline = root.find("xen:commandline")
    if cmdline is not None:
        for arg in cmdline.findall("xen:arg"):
            value = arg.get("value")
            if value is None:
                raise XMLError("missing value in <xen:commandline><xen:arg>")
            d.emulator_args.append(value)
    m.add_implicit_devices(d)
    return d


def _parse_cpu(elem: ET.Element) -> m.Cpu:
    cpu = m.Cpu(mode=elem.get("mode"))
    if cpu.mode not in (None, "host-passthrough", "custom", "host-model", "maximum"):
        raise XMLError(f"unknown CPU mode '{cpu.mode}' in <cpu>")
    for f in elem.findall("feature"):
        policy, name = f.get("policy", "require"), f.get("name")
        if policy not in ("force", "require", "optional", "disable", "forbid") or not name:
            raise XMLError(f"invalid <cpu><feature policy='{policy}' name='{name}'>")
        cpu.features.append((policy, name))
    for i, cell in enumerate(elem.findall("numa/cell")):
        cid = _int(cell.get("id", str(i)), "<cell id>", 0, 4096)
        cpus = m.parse_cpuset(cell.get("cpus", ""))
        if cpus is None:
            raise XMLError(f"malformed cpus '{cell.get('cpus')}' in <numa><cell>")
        scale = _UNITS.get(cell.get("unit", "KiB").lower())
        if scale is None:
            raise XMLError(f"unknown unit '{cell.get('unit')}' in <numa><cell>")
        mem = -(-_int(cell.get("memory", ""), "<cell memory>", 1, 2 ** 53) * scale // 1024)
        dist = {}
        for sib in cell.findall("distances/sibling"):
            dist[_int(sib.get("id", ""), "<sibling id>", 0, 4096)] = \
                _int(sib.get("value", ""), "<sibling value>", 10, 255)
        cpu.cells.append(m.NumaCell(cid, m.format_cpuset(cpus), mem, dist))
    # virDomainNumaDefParseXML: a missing distance i->j takes j->i when given
    for cell in cpu.cells:
        for other in cpu.cells:
            if other.id not in cell.distances and cell.id in other.distances:
                cell.distances[other.id] = other.distances[cell.id]
    return cpu


def _parse_memory(root: ET.Element, d: m.DomainDef) -> None:
    mem = _memory(root, "memory")
    if mem is None:
        raise XMLError("missing <memory> element in <domain>")
    if mem == 0:
        raise XMLError("invalid value '0' in <memory>: must be positive")
    cur = _memory(root, "currentMemory")
    d.memory = mem
    d.current_memory = mem if cur is None or cur == 0 or cur > mem else cur


def _parse_vcpu(root: ET.Element, d: m.DomainDef) -> None:
    v = root.find("vcpu")
    if v is None:
        return
    d.vcpus = _int(v.text or "", "<vcpu>", 1, 4096)
    if v.get("current") is not None:
        cur = _int(v.get("current"), "<vcpu current>", 1, 4096)
        if cur > d.vcpus:
            raise XMLError(f"invalid value '{cur}' in <vcpu current>: more than the maximum "
                           f"{d.vcpus}")
        d.vcpus_current = cur if cur < d.vcpus else None
    if v.get("cpuset") is not None:
        cpus = m.parse_cpuset(v.get("cpuset"))
        if cpus is None:
            raise XMLError(f"malformed CPU set '{v.get('cpuset')}' in <vcpu cpuset>")
        d.cpuset = m.format_cpuset(cpus)


def _parse_os(root: ET.Element, d: m.DomainDef, driver: str = "xend") -> None:
    d.bootloader = _text(root.find("bootloader"))
    if d.bootloader is not None:
        d.bootloader = d.bootloader.strip()
        d.bootloader_args = _text(root.find("bootloader_args"))
    os_elem = root.find("os")
    os_type = _text(os_elem.find("type")) if os_elem is not None else None
    if os_type is None:
        if d.bootloader is None:   # domain_conf.c: a bootloader implies a PV ("xen") guest
            raise XMLError("missing <type> in <os>: an OS type must be specified")
        os_type = "linux"
    os_type = os_type.strip()
    if os_type in ("linux", "xen"):
        d.os_type = "linux"
    elif os_type == "hvm":
        d.os_type = "hvm"
    elif os_type == "xenpvh" and driver == "libxl":
        d.os_type = "xenpvh"
    else:
        raise XMLError(f"unknown OS type '{os_type}' in <os><type>: expecting linux, xen or hvm")
    if os_elem is None:
        return
    te = os_elem.find("type")
    if te is not None:
        d.arch, d.machine = te.get("arch"), te.get("machine")
    d.loader = _text(os_elem.find("loader"))
    le = os_elem.find("loader")
    if le is not None and driver == "libxl":
        d.loader_type = le.get("type")
        if d.loader_type not in (None, "rom", "pflash"):
            raise XMLError(f"unknown loader type '{d.loader_type}' in <os><loader>")
        ro = le.get("readonly")
        d.loader_readonly = None if ro is None else ro == "yes"
        d.loader_format = le.get("format")
    d.kernel = _text(os_elem.find("kernel"))
    d.initrd = _text(os_elem.find("initrd"))
    d.cmdline = _text(os_elem.find("cmdline"))
    d.root = _text(os_elem.find("root"))
    for table in os_elem.findall("acpi/table"):
        if table.get("type") != "slic":
            raise XMLError(f"unsupported ACPI table type '{table.get('type')}' in <os><acpi>")
        d.slic_table = _text(table)
    for b in os_elem.findall("boot"):
        dev = b.get("dev")
        if dev not in m.BOOT_DEVICES:
            raise XMLError(f"unknown boot device '{dev}' in <os><boot>")
        d.boot.append(dev)
    if d.hvm and not d.loader and driver != "libxl":
        raise XMLError("missing <loader> in <os>: an HVM guest needs a loader")


def _parse_clock(clock: ET.Element | None, d: m.DomainDef) -> None:
    if clock is None:
        return
    c = d.clock
    offset = clock.get("offset", "utc")
    if offset not in ("utc", "localtime", "variable"):
        raise XMLError(f"unsupported clock offset '{offset}' in <clock>")
    c.offset = offset
    adj = clock.get("adjustment")
    if offset == "variable":
        c.adjustment = _int(adj, "<clock adjustment>", -2 ** 40, 2 ** 40) if adj else 0
        c.basis = clock.get("basis", "utc")
        if c.basis not in ("utc", "localtime"):
            raise XMLError(f"unknown clock basis '{c.basis}' in <clock>")
    elif adj is not None:
        if adj != "reset":
            raise XMLError(f"invalid adjustment '{adj}' in <clock offset='{offset}'>")
        c.reset = True
    for timer in clock.findall("timer"):
        if timer.get("name") == "hpet" and timer.get("present") in ("yes", "no"):
            c.hpet = timer.get("present") == "yes"
        name, present, mode = timer.get("name"), timer.get("present"), timer.get("mode")
        if name not in ("platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock",
                        "armvtimer"):
            raise XMLError(f"unknown timer name '{name}' in <clock><timer>")
        if present not in (None, "yes", "no"):
            raise XMLError(f"invalid present='{present}' in <timer name='{name}'>")
        if mode not in (None, "auto", "native", "emulate", "paravirt", "smpsafe"):
            raise XMLError(f"invalid mode='{mode}' in <timer name='{name}'>")
        c.timers.append(m.Timer(name, None if present is None else present == "yes", mode))


def _parse_devices(devices: ET.Element, d: m.DomainDef, driver: str = "xend") -> None:
    libxl = driver == "libxl"
    d.emulator = _text(devices.find("emulator"))
    for elem in devices:
        tag = elem.tag
        if tag == "disk":
            d.disks.append(_parse_disk(elem, libxl))
        elif tag == "interface":
            d.nets.append(_parse_net(elem, libxl))
        elif tag in ("serial", "parallel", "console"):
            chr_ = _parse_chr(elem, tag)
            {"serial": d.serials, "parallel": d.parallels, "console": d.consoles}[tag].append(chr_)
        elif tag == "input":
            itype, bus = elem.get("type"), elem.get("bus") or ("ps2" if d.hvm else "xen")
            if itype not in _INPUT_TYPES:
                raise XMLError(f"unknown input device type '{itype}' in <input>")
            if bus not in _INPUT_BUSES:
                raise XMLError(f"unknown input bus '{bus}' in <input>")
            d.inputs.append(m.Input(itype, bus))
        elif tag == "graphics":
            d.graphics.append(_parse_graphics(elem, libxl))
        elif tag == "sound":
            model = elem.get("model")
            if model not in m.SOUND_MODELS:
                raise XMLError(f"unknown sound model '{model}' in <sound>")
            d.sounds.append(model)
        elif tag == "hostdev":
            d.hostdevs.append(_parse_hostdev(elem))
        elif tag == "controller":
            d.controllers.append(_parse_controller(elem))
        elif tag == "channel":
            ch = _parse_chr(elem, "channel")
            target = elem.find("target")
            ch.target_type = target.get("type") if target is not None else None
            ch.target_name = target.get("name") if target is not None else None
            d.channels.append(ch)
        elif tag == "video":
            model = elem.find("model")
            mtype = model.get("type", "cirrus") if model is not None else "cirrus"
            if mtype not in ("cirrus", "vga", "xen", "vmvga", "qxl", "none"):
                raise XMLError(f"unsupported video model '{mtype}' in <video>")
            vram = model.get("vram") if model is not None else None
            heads = model.get("heads") if model is not None else None
            d.videos.append(m.Video(mtype, _int(vram, "<video vram>", 0, 2 ** 31) if vram
                                    else None,
                                    _int(heads, "<video heads>", 1, 16) if heads else None,
                                    model is not None and model.get("primary") == "yes"))
    # domain_conf.c: for HVM, a <console> without serials stands for serial port 0; with
    # serials it is only the mirror of serial 0 and carries nothing of its own.
    if d.hvm and d.consoles:
        if not d.serials and d.consoles[0].target_type in (None, "serial"):
            first = d.consoles[0]
            first.target_type, first.port = None, 0
            d.serials.append(first)
        d.consoles = [c for c in d.consoles if c.target_type not in (None, "serial")]
    if not d.hvm:
        for c in d.consoles:
            c.target_type = c.target_type or "xen"


def _parse_controller(elem: ET.Element) -> m.Controller:
    ctype = elem.get("type")
    if ctype not in ("xenbus", "ide", "usb", "scsi", "pci", "fdc", "sata", "virtio-serial"):
        raise XMLError(f"unsupported controller type '{ctype}' in <controller>")
    c = m.Controller(ctype, _int(elem.get("index", "0"), "<controller index>", 0, 255))
    c.model = elem.get("model")
    for attr, field in (("ports", "ports"), ("maxEventChannels", "max_event_channels"),
                        ("maxGrantFrames", "max_grant_frames")):
        if elem.get(attr) is not None:
            setattr(c, field, _int(elem.get(attr), f"<controller {attr}>", 0, 2 ** 31))
    return c


def _parse_disk(elem: ET.Element, libxl: bool = False) -> m.Disk:
    dtype = elem.get("type", "file")
    if dtype not in (("file", "block", "network") if libxl else ("file", "block")):
        raise XMLError(f"unknown disk type '{dtype}' in <disk>: expecting file or block"
                       + (" or network" if libxl else ""))
    device = elem.get("device", "disk")
    if device not in ("disk", "cdrom", "floppy"):
        raise XMLError(f"unknown disk device '{device}' in <disk>")
    target = elem.find("target")
    dev = target.get("dev") if target is not None else None
    if not dev:
        raise XMLError("missing <target dev=...> in <disk>")
    if dev.startswith("ioemu:"):   # domain_conf.c strips the old HVM prefix
        dev = dev[6:]
    if not re.fullmatch(r"[A-Za-z0-9_]+", dev):
        raise XMLError(f"invalid disk target '{dev}' in <disk><target>")
    disk = m.Disk(target=dev, type=dtype, device=device)
    src = elem.find("source")
    if src is not None and dtype == "network":
        disk.protocol, disk.source = src.get("protocol"), src.get("name")
        if disk.protocol not in ("rbd", "nbd", "iscsi", "gluster", "http", "https"):
            raise XMLError(f"unsupported network disk protocol '{disk.protocol}' in "
                           "<disk><source>")
        for h in src.findall("host"):
            port = h.get("port")
            disk.hosts.append(m.NetHost(h.get("name", ""),
                                        _int(port, "<host port>", 0, 65535) if port else None))
    elif src is not None:
        disk.source = src.get("file" if dtype == "file" else "dev")
    if disk.source is None and device == "disk":
        raise XMLError(f"missing <source> in <disk> for target '{dev}'")
    drv = elem.find("driver")
    if drv is not None:
        disk.driver_name = drv.get("name")
        # the uname prefixes libvirt's Xen driver knew (formatdomain: "tap", "tap2", "phy" or
        # "file"); any other would reach XenD as a block script it lacks and read back as a file.
        # libxl takes its own backends ("qemu", "phy", ...): xl_disk checks those
        if not libxl and disk.driver_name is not None and disk.driver_name not in m.DISK_DRIVERS:
            raise XMLError(f"unknown disk driver '{disk.driver_name}' in <disk><driver>")
        dt = drv.get("type")
        disk.driver_type = "raw" if dt == "aio" else dt
    bus = target.get("bus")
    if bus is not None and bus not in ("ide", "scsi", "xen", "fdc", "usb", "virtio"):
        raise XMLError(f"unknown disk bus '{bus}' in <disk><target>")
    disk.bus = bus or m.bus_for_target(dev, device)
    disk.readonly = elem.find("readonly") is not None or device == "cdrom"
    disk.shareable = elem.find("shareable") is not None
    return disk


def _parse_net(elem: ET.Element, libxl: bool = False) -> m.Net:
    ntype = elem.get("type")
    if ntype not in ("bridge", "ethernet", "network"):
        raise XMLError(f"unsupported interface type '{ntype}' in <interface>")
    net = m.Net(type=ntype)
    mac = elem.find("mac")
    if mac is not None:
        net.mac = m.parse_mac(mac.get("address", ""))
        if net.mac is None:
            raise XMLError(f"malformed MAC address '{mac.get('address')}' in <interface><mac>")
    else:
        net.mac = m.random_mac()
    src = elem.find("source")
    if ntype == "bridge":
        # no <source>: XenD's default bridge (vif-bridge picks it). That is what dumpxml shows
        # for a vif XenD reports with (script vif-bridge) and no (bridge ...), as libvirt did
        net.bridge = src.get("bridge") if src is not None else None
        if src is not None and not net.bridge and not libxl:   # libxl: the vif script picks the default bridge
            raise XMLError("missing <source bridge=...> in <interface type='bridge'>")
    elif ntype == "network":
        net.network = src.get("network") if src is not None else None
        if not net.network:
            raise XMLError("missing <source network=...> in <interface type='network'>")
    script = elem.find("script")
    if script is not None:
        net.script = script.get("path")
    ips = [ip.get("address") for ip in elem.findall("ip")]
    if any(not ip for ip in ips):
        raise XMLError("missing address in <interface><ip>")
    if ips:
        net.ip, net.ips = ips[0], ips[1:]
    vlan = elem.find("vlan")
    if vlan is not None:
        net.vlan_trunk = vlan.get("trunk") == "yes"
        net.vlan_tags = [_int(t.get("id", ""), "<vlan><tag id>", 0, 4095)
                         for t in vlan.findall("tag")]
    vport = elem.find("virtualport")
    if vport is not None:
        net.virtualport = vport.get("type")
    target = elem.find("target")
    if target is not None:
        net.ifname = target.get("dev")
    model = elem.find("model")
    if model is not None:
        net.model = model.get("type")
        if not net.model or not re.fullmatch(r"[A-Za-z0-9_-]+", net.model):
            raise XMLError(f"invalid model '{net.model}' in <interface><model>")
    out = elem.find("bandwidth/outbound")
    if out is not None and out.get("average"):
        net.rate_kbps = _int(out.get("average"), "<bandwidth><outbound average>", 1)
    return net


def _parse_chr(elem: ET.Element, kind: str) -> m.Chr:
    ctype = elem.get("type", "pty")
    if ctype not in _CHR_TYPES:
        raise XMLError(f"unknown character device type '{ctype}' in <{kind}>")
    c = m.Chr(type=ctype)
    sources = elem.findall("source")
    if ctype in ("file", "pipe", "dev"):
        c.path = sources[0].get("path") if sources else None
        if not c.path:
            raise XMLError(f"missing <source path=...> in <{kind} type='{ctype}'>")
    elif ctype == "pty":
        c.path = (sources[0].get("path") if sources else None) or elem.get("tty")
    elif ctype == "tcp":
        if not sources or not sources[0].get("service"):
            raise XMLError(f"missing <source service=...> in <{kind} type='tcp'>")
        c.host, c.service = sources[0].get("host"), sources[0].get("service")
        c.listen = sources[0].get("mode", "connect") == "bind"
        proto = elem.find("protocol")
        c.protocol = proto.get("type", "raw") if proto is not None else "raw"
        if c.protocol not in ("raw", "telnet"):
            raise XMLError(f"unsupported protocol '{c.protocol}' in <{kind}><protocol>")
    elif ctype == "udp":
        for s in sources:
            if s.get("mode", "connect") == "bind":
                c.bind_host, c.bind_service = s.get("host"), s.get("service")
            else:
                c.connect_host, c.connect_service = s.get("host"), s.get("service")
        if not c.connect_service:
            raise XMLError(f"missing <source mode='connect' service=...> in <{kind} type='udp'>")
    elif ctype == "unix":
        c.path = sources[0].get("path") if sources else None
        if not c.path:
            raise XMLError(f"missing <source path=...> in <{kind} type='unix'>")
        c.listen = sources[0].get("mode", "connect") == "bind"
    target = elem.find("target")
    if target is not None:
        if target.get("port") is not None:
            c.port = _int(target.get("port"), f"<{kind}><target port>", 0, 255)
        if kind == "console":
            c.target_type = target.get("type")
    return c


def _parse_graphics(elem: ET.Element, libxl: bool = False) -> m.Graphics:
    gtype = elem.get("type")
    if gtype not in (("vnc", "sdl", "spice") if libxl else ("vnc", "sdl")):
        raise XMLError(f"unsupported graphics type '{gtype}' in <graphics>: expecting vnc or sdl"
                       + (" or spice" if libxl else ""))
    g = m.Graphics(type=gtype)
    if gtype == "sdl":
        g.display, g.xauth = elem.get("display"), elem.get("xauth")
        return g
    if gtype == "spice":
        g.port = _int(elem.get("port", "-1"), "<graphics port>", -1, 65535)
        tls = elem.get("tlsPort")
        g.tls_port = _int(tls, "<graphics tlsPort>", -1, 65535) if tls else None
        g.autoport = elem.get("autoport") == "yes"
        g.listen = elem.get("listen")
        if g.listen is None:
            lst = elem.find("listen")
            if lst is not None and lst.get("type", "address") == "address":
                g.listen = lst.get("address")
        g.passwd = elem.get("passwd")
        mouse = elem.find("mouse")
        g.mousemode = mouse.get("mode") if mouse is not None else None
        clip = elem.find("clipboard")
        g.copypaste = None if clip is None else clip.get("copypaste") == "yes"
        return g
    if elem.get("port") is not None:
        g.port = _int(elem.get("port"), "<graphics port>", -1, 65535)
    g.autoport = elem.get("autoport") == "yes" or g.port == -1
    if g.autoport:
        g.port = -1
    elif g.port < 5900:
        raise XMLError(f"invalid VNC port '{g.port}' in <graphics>: XenD needs 5900 or above")
    g.listen = elem.get("listen")
    if g.listen is None:
        lst = elem.find("listen")
        if lst is not None and lst.get("type", "address") == "address":
            g.listen = lst.get("address")
    g.passwd, g.keymap = elem.get("passwd"), elem.get("keymap")
    return g


def _parse_hostdev(elem: ET.Element) -> m.Hostdev:
    if elem.get("mode") == "subsystem" and elem.get("type") == "usb":
        addr = elem.find("source/address")
        if addr is None:
            raise XMLError("missing <source><address> in <hostdev type='usb'>")
        return m.Hostdev(0, 0, 0, 0, managed=elem.get("managed") == "yes", kind="usb",
                         usb_bus=_int(addr.get("bus", ""), "<hostdev address bus>", 0, 255),
                         usb_device=_int(addr.get("device", ""), "<hostdev address device>",
                                         0, 255))
    if elem.get("mode") != "subsystem" or elem.get("type") != "pci":
        raise XMLError(f"unsupported <hostdev mode='{elem.get('mode')}' type='{elem.get('type')}'>:"
                       " only PCI subsystem devices")
    addr = elem.find("source/address")
    if addr is None:
        raise XMLError("missing <source><address> in <hostdev>")
    vals = []
    for attr, hi in (("domain", 0xFFFF), ("bus", 0xFF), ("slot", 0x1F), ("function", 7)):
        value = addr.get(attr)
        if value is None:
            raise XMLError(f"missing {attr} in <hostdev><source><address>")
        vals.append(_int(value, f"<hostdev><source><address {attr}>", 0, hi))
    wf = elem.find("source").get("writeFiltering")
    return m.Hostdev(*vals, managed=elem.get("managed") == "yes",
                     write_filtering=None if wf is None else wf == "yes")
