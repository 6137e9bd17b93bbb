"""The in-memory domain definition both converters meet in (a subset of libvirt's virDomainDef).

Parsers (``xml_parse``, ``sxpr_parse``) build a :class:`DomainDef`; formatters (``xml_format``,
``sxpr_format``) print one. Field meanings follow libvirt's ``src/conf/domain_conf.h``; units are
libvirt's (memory in KiB). Small shared helpers live here too: UUID and MAC normalisation, CPU-set
ranges, the disk-bus-from-name rule and the implicit devices libvirt adds after parsing.
"""

from __future__ import annotations

import random
import re
import uuid as _uuid
from dataclasses import dataclass, field

__all__ = [
    "Disk", "Net", "Chr", "Graphics", "Input", "Hostdev", "Clock", "DomainDef", "Timer",
    "Controller", "Video", "Cpu", "NumaCell", "NetHost",
    "LIFECYCLE_ACTIONS", "FEATURES", "SOUND_MODELS", "BOOT_DEVICES", "DISK_DRIVERS",
    "parse_uuid", "random_uuid", "parse_mac", "random_mac", "parse_cpuset",
    "format_cpuset", "bus_for_target", "add_implicit_devices",
]

# domain_conf.c: virDomainLifecycle / virDomainLifecycleCrash (crash adds the coredump actions)
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve",
                     "coredump-destroy", "coredump-restart")
# domain_conf.c virDomainFeature order, restricted to what XenD knows (xen_sxpr.c)
FEATURES = ("acpi", "apic", "pae", "hap", "viridian")
# disk driver names = XenD uname prefixes libvirt's Xen driver knew (formatdomain.html: Xen
# supports "tap", "tap2", "phy" or "file")
DISK_DRIVERS = ("file", "phy", "tap", "tap2")
# domain_conf.c virDomainSoundModel
SOUND_MODELS = ("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb")
# <boot dev> names and XenD's boot letters (xen_sxpr.c xenParseSxprOS / xenFormatSxpr)
BOOT_DEVICES = {"fd": "a", "hd": "c", "cdrom": "d", "network": "n"}


@dataclass
class NetHost:
    """A host of a network disk source (``<source protocol='rbd'><host name port/>``)."""

    name: str
    port: int | None = None


@dataclass
class Disk:
    target: str
    type: str = "file"               # file | block | network
    device: str = "disk"             # disk | cdrom | floppy
    source: str | None = None        # None: empty CD-ROM drive
    driver_name: str | None = None   # file | phy | tap | tap2 | ...
    driver_type: str | None = None   # raw | qcow | qcow2 | vmdk | ...
    bus: str | None = None           # xen | ide | scsi | fdc | usb
    readonly: bool = False
    shareable: bool = False
    protocol: str | None = None      # network disks: rbd
    hosts: list[NetHost] = field(default_factory=list)


@dataclass
class Net:
    type: str = "bridge"             # bridge | ethernet | network
    mac: str | None = None
    bridge: str | None = None
    network: str | None = None
    script: str | None = None
    ip: str | None = None
    ifname: str | None = None        # <target dev>
    model: str | None = None
    rate_kbps: int | None = None     # <bandwidth><outbound average> (KB/s)
    ips: list[str] = field(default_factory=list)    # more <ip address> after ``ip``
    vlan_tags: list[int] = field(default_factory=list)
    vlan_trunk: bool = False
    virtualport: str | None = None   # <virtualport type='openvswitch'/>


@dataclass
class Chr:
    """A serial, parallel or console device (libvirt virDomainChrDef)."""

    type: str = "pty"                # pty null stdio vc file pipe dev tcp udp unix
    path: str | None = None          # file, pipe, dev, unix, pty (tty)
    host: str | None = None          # tcp
    service: str | None = None       # tcp
    listen: bool = False             # tcp, unix: mode='bind'
    protocol: str = "raw"            # tcp: raw | telnet
    connect_host: str | None = None  # udp
    connect_service: str | None = None
    bind_host: str | None = None
    bind_service: str | None = None
    port: int = 0
    target_type: str | None = None   # console: serial | xen; channel: xen
    target_name: str | None = None   # channel only


@dataclass
class Graphics:
    type: str = "vnc"                # vnc | sdl
    port: int = -1                   # -1: not known
    autoport: bool = False
    listen: str | None = None
    passwd: str | None = None
    keymap: str | None = None
    display: str | None = None       # sdl
    xauth: str | None = None         # sdl
    tls_port: int | None = None      # spice
    mousemode: str | None = None     # spice: client | server
    copypaste: bool | None = None    # spice clipboard


@dataclass
class Input:
    type: str                        # mouse | tablet | keyboard
    bus: str                         # usb | ps2 | xen


@dataclass
class Hostdev:
    domain: int
    bus: int
    slot: int
    function: int
    managed: bool = False
    kind: str = "pci"                # pci | usb (usb: bus + device in usb_bus/usb_device)
    write_filtering: bool | None = None   # pci <source writeFiltering>
    usb_bus: int = 0
    usb_device: int = 0


@dataclass
class Timer:
    name: str                        # hpet | tsc | ...
    present: bool | None = None
    mode: str | None = None          # tsc: native | paravirt | emulate | auto


@dataclass
class Controller:
    type: str                        # xenbus | ide | usb | ...
    index: int = 0
    model: str | None = None         # usb: qusb1 | qusb2
    ports: int | None = None
    max_event_channels: int | None = None
    max_grant_frames: int | None = None


@dataclass
class Video:
    model: str = "cirrus"            # cirrus | xen | vga
    vram: int | None = None          # KiB
    heads: int | None = 1
    primary: bool = True


@dataclass
class NumaCell:
    id: int
    cpus: str
    memory: int                      # KiB
    distances: dict[int, int] = field(default_factory=dict)


@dataclass
class Cpu:
    mode: str | None = None          # host-passthrough | None
    features: list[tuple[str, str]] = field(default_factory=list)   # (policy, name)
    cells: list[NumaCell] = field(default_factory=list)


@dataclass
class Clock:
    offset: str = "utc"              # utc | localtime | variable
    reset: bool = False              # adjustment='reset' (utc/localtime)
    adjustment: int = 0              # variable
    basis: str = "utc"               # variable: utc | localtime
    hpet: bool | None = None         # <timer name='hpet' present=...> (XenD converters)
    timers: list[Timer] = field(default_factory=list)   # xl/xm converters, in XML order


@dataclass
class DomainDef:
    name: str
    uuid: str                        # canonical: dashed, lower case
    id: int = -1
    description: str | None = None
    memory: int = 0                  # KiB, maximum
    current_memory: int = 0          # KiB
    vcpus: int = 1                   # maximum
    vcpus_current: int | None = None
    cpuset: str | None = None
    os_type: str = "linux"           # linux | hvm | xenpvh
    arch: str | None = None          # <type arch> (x86_64)
    machine: str | None = None       # <type machine> (xenpv | xenfv | xenpvh)
    loader_type: str | None = None   # rom | pflash (None: the XenD converter's rule)
    loader_readonly: bool | None = None
    loader_format: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    root: str | None = None
    loader: str | None = None
    boot: list[str] = field(default_factory=list)
    bootloader: str | None = None
    bootloader_args: str | None = None
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"
    features: list[str] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    emulator: str | None = None
    disks: list[Disk] = field(default_factory=list)
    nets: list[Net] = field(default_factory=list)
    serials: list[Chr] = field(default_factory=list)
    parallels: list[Chr] = field(default_factory=list)
    consoles: list[Chr] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)
    graphics: list[Graphics] = field(default_factory=list)
    sounds: list[str] = field(default_factory=list)
    hostdevs: list[Hostdev] = field(default_factory=list)
    # fields the xl/xm converters use (libvirt 11 domain XML); XenD leaves them empty
    features_off: list[str] = field(default_factory=list)   # <hap state='off'/> ...
    cpu: Cpu | None = None
    controllers: list[Controller] = field(default_factory=list)
    channels: list[Chr] = field(default_factory=list)
    videos: list[Video] = field(default_factory=list)
    emulator_args: list[str] = field(default_factory=list)  # <xen:commandline><xen:arg>
    e820_host: bool = False          # <features><xen><e820_host state='on'/>
    passthrough: str | None = None   # <features><xen><passthrough>: on | off | sync_pt | share_pt
    slic_table: str | None = None    # <os><acpi><table type='slic'>
    memballoon: bool = True

    @property
    def hvm(self) -> bool:
        return self.os_type == "hvm"


# -- identifiers --------------------------------------------------------------------------------

_HEX32 = re.compile(r"[0-9a-fA-F]{32}\Z")
_MAC = re.compile(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}\Z")


def parse_uuid(text: str) -> str | None:
    """Canonical dashed lower-case form of a UUID written with or without dashes, or None.

    libvirt's virUUIDParse (util/viruuid.c) accepts 32 hex digits with dashes between them and
    surrounding blanks; XenD records of 2006-2007 carry the dash-less form.
    """
    raw = text.strip().replace("-", "")
    if not _HEX32.match(raw):
        return None
    raw = raw.lower()
    return f"{raw[0:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


def random_uuid() -> str:
    return str(_uuid.uuid4())


def parse_mac(text: str) -> str | None:
    """Canonical ``aa:bb:cc:dd:ee:ff`` (libvirt virMacAddrParse/Format), or None if malformed."""
    text = text.strip()
    if not _MAC.match(text):
        return None
    return ":".join(f"{int(p, 16):02x}" for p in text.split(":"))


def random_mac() -> str:
    # Xen's OUI, as libvirt's xen driver uses for generated addresses (virDomainNetGenerateMAC)
    return "00:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


# -- CPU sets (util/virbitmap.c virBitmapParse / virBitmapFormat syntax) ------------------------

MAX_CPUS = 4096


def parse_cpuset(text: str) -> set[int] | None:
    """Parse ``0-3,^2,5`` into a set of CPU numbers; None when malformed or empty."""
    cpus: set[int] = set()
    excluded: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        neg = part.startswith("^")
        if neg:
            part = part[1:]
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            return None
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo or hi >= MAX_CPUS or (neg and m.group(2) is not None):
            return None
        (excluded if neg else cpus).update(range(lo, hi + 1))
    cpus -= excluded
    return cpus or None


def format_cpuset(cpus: set[int]) -> str:
    out: list[str] = []
    items = sorted(cpus)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)


# -- rules shared by both parsers ---------------------------------------------------------------

def bus_for_target(target: str, device: str = "disk") -> str:
    """Disk bus from the device name prefix (xen_sxpr.c xenParseSxprDisks; domain_conf defaults)."""
    if device == "floppy" or target.startswith("fd"):
        return "fdc"
    if target.startswith("xvd"):
        return "xen"
    if target.startswith("sd"):
        return "scsi"
    if target.startswith("ubd"):
        return "uml"
    return "ide"


def add_implicit_devices(d: DomainDef) -> None:
    """Devices libvirt adds after parsing either representation (domain_conf.c post-parse).

    With graphics there is an implicit mouse and keyboard: PS/2 for HVM, the Xen virtual
    framebuffer's for PV (the keyboard since ~2015, libvirt's final style).
    """
    if not d.graphics:
        return
    bus = "ps2" if d.hvm else "xen"
    for kind in ("mouse", "keyboard"):
        if not any(i.type == kind and i.bus == bus for i in d.inputs):
            d.inputs.append(Input(kind, bus))
