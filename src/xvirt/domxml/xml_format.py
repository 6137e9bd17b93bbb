""":class:`DomainDef` -> libvirt domain XML, in one style: libvirt's final (2015+) Xen output.

Element order is domain_conf.c's virDomainDefFormat: name, uuid, description, memory,
currentMemory, vcpu, bootloader, os, features, clock, on_*, devices (emulator, disks, interfaces,
serials, parallels, consoles, inputs, graphics, sounds, hostdevs, memballoon). Final-style markers
(shared/reference/xml-sxpr-conversion.md §4): ``unit='KiB'``, ``placement='static'``,
``<loader type='rom'>``, ``<backingStore/>``, drive ``<address>`` for IDE/SCSI/floppy disks,
``<listen>`` sub-elements, implicit keyboards, ``<memballoon model='xen'/>``, and HVM consoles that
mirror serial port 0. Passwords are never printed (libvirt needs VIR_DOMAIN_XML_SECURE for them).
"""

from __future__ import annotations

from . import model as m
from .safexml import XMLWriter

__all__ = ["format_domain_xml", "drive_address"]


def format_domain_xml(d: m.DomainDef) -> str:
    w = XMLWriter()
    w.open("domain", type_="xen", id=d.id if d.id >= 0 else None)
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
    if d.features:
        w.open("features")
        for f in m.FEATURES:
            if f in d.features:
                w.empty(f)
        w.close("features")
    _clock(w, d.clock)
    w.text("on_poweroff", d.on_poweroff)
    w.text("on_reboot", d.on_reboot)
    w.text("on_crash", d.on_crash)
    w.open("devices")
    w.text("emulator", d.emulator)
    for disk in d.disks:
        _disk(w, disk)
    for net in d.nets:
        _net(w, net)
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
    for i in d.inputs:
        w.empty("input", type_=i.type, bus=i.bus)
    for g in d.graphics:
        _graphics(w, g)
    for s in d.sounds:
        w.empty("sound", model=s)
    for h in d.hostdevs:
        w.open("hostdev", mode="subsystem", type_="pci", managed="yes" if h.managed else "no")
        w.open("source")
        w.empty("address", domain=f"0x{h.domain:04x}", bus=f"0x{h.bus:02x}",
                slot=f"0x{h.slot:02x}", function=f"0x{h.function:x}")
        w.close("source")
        w.close("hostdev")
    w.empty("memballoon", model="xen")
    w.close("devices")
    w.close("domain")
    return w.getvalue()


def _os(w: XMLWriter, d: m.DomainDef) -> None:
    w.open("os")
    w.text("type", d.os_type)
    if d.loader is not None:
        w.text("loader", d.loader, type_="rom" if d.hvm else None)
    w.text("kernel", d.kernel)
    w.text("initrd", d.initrd)
    w.text("cmdline", d.cmdline)
    w.text("root", d.root)
    for dev in d.boot:
        w.empty("boot", dev=dev)
    w.close("os")


def _clock(w: XMLWriter, c: m.Clock) -> None:
    if c.offset == "variable":
        attrs = {"offset": "variable", "adjustment": c.adjustment, "basis": c.basis}
    else:
        attrs = {"offset": c.offset, "adjustment": "reset" if c.reset else None}
    if c.hpet is None:
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


def _disk(w: XMLWriter, disk: m.Disk) -> None:
    w.open("disk", type_=disk.type, device=disk.device)
    if disk.driver_name or disk.driver_type:
        w.empty("driver", name=disk.driver_name, type_=disk.driver_type)
    if disk.source is not None:
        w.empty("source", **{"file" if disk.type == "file" else "dev": disk.source})
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


def _net(w: XMLWriter, net: m.Net) -> None:
    w.open("interface", type_=net.type)
    w.empty("mac", address=net.mac)
    if net.type == "bridge":
        if net.bridge:   # none: XenD's default bridge (no <source>, see xml_parse)
            w.empty("source", bridge=net.bridge)
    elif net.type == "network":
        w.empty("source", network=net.network)
    if net.ip:
        w.empty("ip", address=net.ip)
    if net.script:
        w.empty("script", path=net.script)
    if net.ifname:
        w.empty("target", dev=net.ifname)
    if net.model:
        w.empty("model", type_=net.model)
    if net.rate_kbps:
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
    w.empty("target", type_=c.target_type if kind == "console" else None, port=c.port)
    w.close(kind)


def _graphics(w: XMLWriter, g: m.Graphics) -> None:
    if g.type == "sdl":
        w.empty("graphics", type_="sdl", display=g.display, xauth=g.xauth)
        return
    attrs = {"type_": "vnc", "port": g.port, "autoport": "yes" if g.autoport else "no",
             "listen": g.listen, "keymap": g.keymap}
    if g.listen:
        w.open("graphics", **attrs)
        w.empty("listen", type_="address", address=g.listen)
        w.close("graphics")
    else:
        w.empty("graphics", **attrs)
