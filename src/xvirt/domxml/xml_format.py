""":class:`DomainDef` -> libvirt domain XML, in one style: libvirt's final (2015+) Xen output.

Element order is domain_conf.c's virDomainDefFormat: name, uuid, description, memory,
currentMemory, vcpu, bootloader, os, features, clock, on_*, devices (emulator, disks, interfaces,
serials, parallels, consoles, inputs, graphics, sounds, hostdevs, memballoon). Final-style markers
(docs/design.md §6.3): ``unit='KiB'``, ``placement='static'``,
``<loader type='rom'>``, ``<backingStore/>``, drive ``<address>`` for IDE/SCSI/floppy disks,
``<listen>`` sub-elements, implicit keyboards, ``<memballoon model='xen'/>``, and HVM consoles that
mirror serial port 0. Passwords are never printed (libvirt needs VIR_DOMAIN_XML_SECURE for them).

``style="libxl"`` prints what libvirt 11's libxl driver prints for an inactive definition with
VIR_DOMAIN_XML_SECURE (its xl/xm converter tests): ``<type arch machine>``, loader
``type``/``format``/``readonly`` as the model says, ``<cpu>`` (features, NUMA cells), clock
timers, ``<hap state='off'/>``, no ``<backingStore/>``, controllers, channels, ``<video>``, USB
hostdevs, ``writeFiltering``, passwords, and the ``xen:`` namespace for emulator arguments.
"""

from __future__ import annotations

from . import model as m
from .safexml import XMLWriter

__all__ = ["format_domain_xml", "drive_address"]


XEN_NS = "http://libvirt.org/schemas/domain/xen/1.0"


def format_domain_xml(d: m.DomainDef, *, style: str = "xend") -> str:
    libxl = style == "libxl"
    w = XMLWriter()
    w.open("domain", type_="xen", id=d.id if d.id >= 0 else None,
           **{"xmlns:xen": XEN_NS if libxl and d.emulator_args else None})
    w.text("name", d.name)
    w.text("uuid", d.uuid)
    w.text("description", d.description)
    w.text("memory", d.memory, unit="KiB")
    w.text("currentMemory", d.current_memory, unit="KiB")
    w.text("vcpu", d.vcpus, placement="static", cpuset=d.cpuset,
           current=d.vcpus_current if d.vcpus_current and d.vcpus_current < d.vcpus else None)
    if d.bootloader is not None:
        if d.bootloader:
            w.text("bootloader", d.bootloader)
        else:
            w.empty("bootloader")
        w.text("bootloader_args", d.bootloader_args)
    _os(w, d)
    xen_features = libxl and (d.e820_host or d.passthrough is not None)
    if d.features or d.features_off or xen_features:
        w.open("features")
        for f in m.FEATURES:
            if f in d.features:
                w.empty(f)
            elif f in d.features_off:
                w.empty(f, state="off")
        if xen_features:
            w.open("xen")
            if d.e820_host:
                w.empty("e820_host", state="on")
            if d.passthrough is not None:
                state = "off" if d.passthrough == "off" else "on"
                mode = d.passthrough if d.passthrough in ("sync_pt", "share_pt") else None
                w.empty("passthrough", state=state, mode=mode)
            w.close("xen")
        w.close("features")
    if libxl and d.cpu is not None:
        _cpu(w, d.cpu)
    _clock(w, d.clock)
    w.text("on_poweroff", d.on_poweroff)
    w.text("on_reboot", d.on_reboot)
    w.text("on_crash", d.on_crash)
    w.open("devices")
    w.text("emulator", d.emulator)
    for disk in d.disks:
        _disk(w, disk, libxl)
    if libxl:
        for c in d.controllers:
            _controller(w, c)
    for net in d.nets:
        _net(w, net, libxl)
    for c in d.serials:
        _chr(w, "serial", c)
    for c in d.parallels:
        _chr(w, "parallel", c)
    consoles = list(d.consoles)
    if d.hvm and not consoles and d.serials:
        # domain_conf.c: an HVM guest's console is serial port 0, printed again as <console>
        first = d.serials[0]
        consoles = [m.Chr(**{**first.__dict__, "port": 0, "target_type": "serial"})]
    for c in consoles:
        _chr(w, "console", c)
    if libxl:
        for c in d.channels:
            _chr(w, "channel", c)
    for i in d.inputs:
        w.empty("input", type_=i.type, bus=i.bus)
    for g in d.graphics:
        _graphics(w, g, libxl)
    for s in d.sounds:
        w.empty("sound", model=s)
    if libxl:
        for v in d.videos:
            w.open("video")
            w.empty("model", type_=v.model, vram=v.vram, heads=v.heads,
                    primary="yes" if v.primary else None)
            w.close("video")
    for h in d.hostdevs:
        _hostdev(w, h)
    if d.memballoon or not libxl:
        w.empty("memballoon", model="xen")
    w.close("devices")
    if libxl and d.emulator_args:
        w.open("xen:commandline")
        for arg in d.emulator_args:
            w.empty("xen:arg", value=arg)
        w.close("xen:commandline")
    w.close("domain")
    return w.getvalue()


def _hostdev(w: XMLWriter, h: m.Hostdev) -> None:
    w.open("hostdev", mode="subsystem", type_=h.kind, managed="yes" if h.managed else "no")
    if h.kind == "usb":
        w.open("source")
        w.empty("address", bus=h.usb_bus, device=h.usb_device)
    else:
        wf = None if h.write_filtering is None else ("yes" if h.write_filtering else "no")
        w.open("source", writeFiltering=wf)
        w.empty("address", domain=f"0x{h.domain:04x}", bus=f"0x{h.bus:02x}",
                slot=f"0x{h.slot:02x}", function=f"0x{h.function:x}")
    w.close("source")
    w.close("hostdev")


def _controller(w: XMLWriter, c: m.Controller) -> None:
    attrs = {"type_": c.type, "index": c.index, "model": c.model, "ports": c.ports,
             "maxGrantFrames": c.max_grant_frames, "maxEventChannels": c.max_event_channels}
    w.empty("controller", **attrs)


def _cpu(w: XMLWriter, cpu: m.Cpu) -> None:
    if not cpu.features and not cpu.cells:
        w.empty("cpu", mode=cpu.mode)
        return
    w.open("cpu", mode=cpu.mode)
    for policy, name in cpu.features:
        w.empty("feature", policy=policy, name=name)
    if cpu.cells:
        w.open("numa")
        for cell in cpu.cells:
            attrs = {"id": cell.id, "cpus": cell.cpus, "memory": cell.memory, "unit": "KiB"}
            if not cell.distances:
                w.empty("cell", **attrs)
                continue
            w.open("cell", **attrs)
            w.open("distances")
            for sid in sorted(cell.distances):
                w.empty("sibling", id=sid, value=cell.distances[sid])
            w.close("distances")
            w.close("cell")
        w.close("numa")
    w.close("cpu")


def _os(w: XMLWriter, d: m.DomainDef) -> None:
    w.open("os")
    w.text("type", d.os_type, arch=d.arch, machine=d.machine)
    if d.loader is not None:
        if d.loader_type is None and d.loader_format is None and d.loader_readonly is None:
            w.text("loader", d.loader, type_="rom" if d.hvm else None)
        else:
            ro = None if d.loader_readonly is None else ("yes" if d.loader_readonly else "no")
            w.text("loader", d.loader, readonly=ro, type_=d.loader_type,
                   format=d.loader_format)
    w.text("kernel", d.kernel)
    w.text("initrd", d.initrd)
    w.text("cmdline", d.cmdline)
    w.text("root", d.root)
    if d.slic_table is not None:
        w.open("acpi")
        w.text("table", d.slic_table, type_="slic")
        w.close("acpi")
    for dev in d.boot:
        w.empty("boot", dev=dev)
    w.close("os")


def _clock(w: XMLWriter, c: m.Clock) -> None:
    if c.offset == "variable":
        attrs = {"offset": "variable", "adjustment": c.adjustment, "basis": c.basis}
    else:
        attrs = {"offset": c.offset, "adjustment": "reset" if c.reset else None}
    if c.timers:
        w.open("clock", **attrs)
        for t in c.timers:
            present = None if t.present is None else ("yes" if t.present else "no")
            w.empty("timer", name=t.name, present=present, mode=t.mode)
        w.close("clock")
    elif c.hpet is None:
        w.empty("clock", **attrs)
    else:
        w.open("clock", **attrs)
        w.empty("timer", name="hpet", present="yes" if c.hpet else "no")
        w.close("clock")


def drive_address(disk: m.Disk) -> dict[str, int] | None:
    """The drive address libvirt assigns from the target name (virDomainDiskDefAssignAddress)."""
    name = disk.target
    prefix = {"ide": "hd", "scsi": "sd", "fdc": "fd"}.get(disk.bus or "")
    if prefix is None or not name.startswith(prefix) or not name[len(prefix):].isalpha():
        return None
    idx = 0
    for ch in name[len(prefix):]:
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    idx -= 1
    if disk.bus == "ide":
        return {"controller": idx // 4, "bus": (idx % 4) // 2, "target": 0, "unit": idx % 2}
    if disk.bus == "fdc":
        return {"controller": idx // 2, "bus": 0, "target": 0, "unit": idx % 2}
    return {"controller": idx // 7, "bus": 0, "target": 0, "unit": idx % 7}


def _disk(w: XMLWriter, disk: m.Disk, libxl: bool = False) -> None:
    w.open("disk", type_=disk.type, device=disk.device)
    if disk.driver_name or disk.driver_type:
        w.empty("driver", name=disk.driver_name, type_=disk.driver_type)
    if disk.type == "network":
        w.open("source", protocol=disk.protocol, name=disk.source)
        for h in disk.hosts:
            w.empty("host", name=h.name, port=h.port)
        w.close("source")
    elif disk.source is not None:
        w.empty("source", **{"file" if disk.type == "file" else "dev": disk.source})
        if not libxl:
            w.empty("backingStore")
    w.empty("target", dev=disk.target, bus=disk.bus)
    if disk.readonly:
        w.empty("readonly")
    if disk.shareable:
        w.empty("shareable")
    addr = drive_address(disk)
    if addr is not None:
        w.empty("address", type_="drive", **{k: str(v) for k, v in addr.items()})
    w.close("disk")


def _net(w: XMLWriter, net: m.Net, libxl: bool = False) -> None:
    w.open("interface", type_=net.type)
    w.empty("mac", address=net.mac)
    if net.type == "bridge":
        if net.bridge:   # none: XenD's default bridge (no <source>, see xml_parse)
            w.empty("source", bridge=net.bridge)
    elif net.type == "network":
        w.empty("source", network=net.network)
    if net.vlan_tags:
        w.open("vlan", trunk="yes" if net.vlan_trunk else None)
        for tag in net.vlan_tags:
            w.empty("tag", id=tag)
        w.close("vlan")
    if net.virtualport:
        w.empty("virtualport", type_=net.virtualport)
    if libxl and net.rate_kbps:
        w.open("bandwidth")
        w.empty("outbound", average=net.rate_kbps)
        w.close("bandwidth")
    for ip in ([net.ip] if net.ip else []) + net.ips:
        w.empty("ip", address=ip, family=(("ipv6" if ":" in ip else "ipv4") if libxl else None))
    if net.script:
        w.empty("script", path=net.script)
    if net.ifname:
        w.empty("target", dev=net.ifname)
    if net.model:
        w.empty("model", type_=net.model)
    if net.rate_kbps and not libxl:
        w.open("bandwidth")
        w.empty("outbound", average=net.rate_kbps)
        w.close("bandwidth")
    w.close("interface")


def _chr(w: XMLWriter, kind: str, c: m.Chr) -> None:
    tty = c.path if c.type == "pty" and c.path else None
    w.open(kind, type_=c.type, tty=tty)
    if c.type in ("file", "pipe", "dev") or (c.type == "pty" and c.path):
        w.empty("source", path=c.path)
    elif c.type == "tcp":
        w.empty("source", mode="bind" if c.listen else "connect", host=c.host, service=c.service)
        w.empty("protocol", type_=c.protocol)
    elif c.type == "udp":
        if c.bind_host or c.bind_service:
            w.empty("source", mode="bind", host=c.bind_host, service=c.bind_service)
        w.empty("source", mode="connect", host=c.connect_host, service=c.connect_service)
    elif c.type == "unix":
        w.empty("source", mode="bind" if c.listen else "connect", path=c.path)
    if kind == "channel":
        w.empty("target", type_=c.target_type, name=c.target_name)
    else:
        w.empty("target", type_=c.target_type if kind == "console" else None, port=c.port)
    w.close(kind)


def _graphics(w: XMLWriter, g: m.Graphics, libxl: bool = False) -> None:
    if g.type == "sdl":
        w.empty("graphics", type_="sdl", display=g.display, xauth=g.xauth)
        return
    passwd = g.passwd if libxl else None
    if g.type == "spice":
        attrs = {"type_": "spice", "port": g.port, "tlsPort": g.tls_port,
                 "autoport": "yes" if g.autoport else "no", "listen": g.listen,
                 "passwd": passwd}
    else:
        attrs = {"type_": "vnc", "port": g.port, "autoport": "yes" if g.autoport else "no",
                 "listen": g.listen, "keymap": g.keymap, "passwd": passwd}
    children = g.type == "spice" and (g.mousemode or g.copypaste is not None)
    if g.listen or children or libxl:
        w.open("graphics", **attrs)
        if g.listen:
            w.empty("listen", type_="address", address=g.listen)
        elif libxl:
            w.empty("listen", type_="none" if g.type == "spice" else "address")
        if g.type == "spice":
            if g.mousemode:
                w.empty("mouse", mode=g.mousemode)
            if g.copypaste is not None:
                w.empty("clipboard", copypaste="yes" if g.copypaste else "no")
        w.close("graphics")
    else:
        w.empty("graphics", **attrs)
