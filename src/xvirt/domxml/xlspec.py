"""The comma-separated spec mini-languages inside xl.cfg / xm device lists (disk, vif, pci).

Facts from Xen's xl-disk-configuration(5) and xl-network-configuration(5), libxlutil's disk lexer
(tools/libs/util/libxlu_disk_l.l: positional ``target,format,vdev,access``, ``target=`` swallowing
the rest, deprecated ``phy:``/``file:``/``tap:aio:`` prefixes and ``vdev:cdrom``), and libvirt's
readers (src/libxl/xen_common.c xenParseVif / xenParsePCI, src/libxl/xen_xm.c xenParseXMDisk).
Every function is pure; a malformed spec raises :class:`SpecError` (a ``ValueError``) with a
message the converter turns into a libvirt error naming the setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SpecError", "XlDisk", "parse_xl_disk", "format_xl_disk", "XmDisk", "parse_xm_disk",
           "format_xm_disk", "VifSpec", "parse_vif", "format_vif", "PciSpec", "parse_pci",
           "format_pci", "split_keyvals", "parse_rate"]

MAX_SPEC = 4096   # characters in one spec string


class SpecError(ValueError):
    """A device spec string that Xen's / libvirt's readers would refuse."""


def _check_len(spec: str, what: str) -> None:
    if len(spec) > MAX_SPEC:
        raise SpecError(f"{what} spec longer than {MAX_SPEC} characters")


# -- xl disk spec ---------------------------------------------------------------------------------

DISK_FORMATS = ("raw", "qcow", "qcow2", "vhd", "qed")
BACKEND_TYPES = ("phy", "tap", "qdisk", "standalone")
_DEPRECATED_PREFIXES = ("tapdisk:", "tap2:", "tap:", "aio:", "ioemu:", "file:", "phy:")
_FLAGS = ("cdrom", "direct-io-safe", "discard", "no-discard", "trusted", "untrusted")


@dataclass
class XlDisk:
    """libxl_device_disk's fields as libxlutil fills them."""

    target: str | None = None        # pdev_path; None or "" = empty (CD-ROM without media)
    format: str | None = None        # None = unknown (raw); "empty"
    vdev: str | None = None
    readwrite: bool = True
    backendtype: str | None = None   # None = unknown
    cdrom: bool = False
    script: str | None = None
    backend: str | None = None
    direct_io_safe: bool = False
    discard: bool | None = None


def _set_once(d: XlDisk, attr: str, value: str, what: str) -> None:
    if getattr(d, attr) is not None:
        raise SpecError(f"disk spec gives {what} more than once")
    setattr(d, attr, value)


def _set_format(d: XlDisk, value: str) -> None:
    if value == "":             # libxlutil setformat: empty means raw
        d.format = "raw"
        return
    if value not in DISK_FORMATS:
        raise SpecError(f"unknown value for format: '{value}'")
    d.format = value


def _set_access(d: XlDisk, value: str) -> None:
    if value in ("", "w", "rw"):
        d.readwrite = True
    elif value in ("r", "ro"):
        d.readwrite = False
    else:
        raise SpecError(f"unknown value for access: '{value}'")


def _vdev_and_devtype(d: XlDisk, token: str) -> bool:
    """``hdc:cdrom`` / ``xvda:disk`` (deprecated): set vdev (and cdrom); False if no colon."""
    vdev, colon, devtype = token.rpartition(":")
    if not colon:
        return False
    if devtype == "cdrom":
        d.cdrom = True
    elif devtype != "disk":
        raise SpecError(f"unknown deprecated disk type '{devtype}'")
    _set_once(d, "vdev", vdev, "vdev")
    return True


def parse_xl_disk(spec: str) -> XlDisk:
    """One xl DISKSPEC (keyword, positional or deprecated form) -> :class:`XlDisk`."""
    _check_len(spec, "disk")
    d = XlDisk()
    had_prefix = False
    access_set = False
    format_slot_used = False
    rest = spec
    while rest:
        stripped = rest.lstrip(" \t\n")
        if stripped != rest:
            rest = stripped
            continue
        if rest.startswith("target="):
            _set_once(d, "target", rest[len("target="):], "target")
            break
        token, comma, rest = rest.partition(",")
        key, eq, value = token.partition("=")
        if eq:
            if key == "format":
                format_slot_used = True
                _set_format(d, value)
            elif key == "vdev":
                _set_once(d, "vdev", value, "vdev")
            elif key == "access":
                _set_access(d, value)
                access_set = True
            elif key == "backendtype":
                if value not in BACKEND_TYPES:
                    raise SpecError(f"unknown value for backendtype: '{value}'")
                d.backendtype = value
            elif key == "devtype":
                if value == "cdrom":
                    d.cdrom = True
                elif value != "disk":
                    raise SpecError(f"unknown value for devtype: '{value}'")
            elif key == "script":
                d.script = value
            elif key == "backend":
                d.backend = value
            elif key in ("specification", "colo-host", "colo-port", "colo-export",
                         "active-disk", "hidden-disk"):
                pass   # accepted by libxlutil, not represented in domain XML
            else:
                raise SpecError(f"unknown disk parameter '{key}'")
            continue
        if token in _FLAGS:
            if token == "cdrom":
                d.cdrom = True
            elif token == "direct-io-safe":
                d.direct_io_safe = True
            elif token in ("discard", "no-discard"):
                d.discard = token == "discard"
            continue
        # positional parameter (a token without '=')
        if d.target is None:
            for prefix in ("raw:", "qcow:", "qcow2:", "vhd:"):
                if token.startswith(prefix):
                    d.format = prefix[:-1]
                    token = token[len(prefix):]
                    had_prefix = True
                    break
            changed = True
            while changed:
                changed = False
                for prefix in _DEPRECATED_PREFIXES:
                    if token.startswith(prefix):
                        token = token[len(prefix):]
                        had_prefix = changed = True
            d.target = token
        elif not had_prefix and not format_slot_used and d.vdev is None:
            format_slot_used = True
            if d.target == "" and _vdev_and_devtype(d, token):
                d.format = "empty"
            else:
                _set_format(d, token)
        elif d.vdev is None:
            if not _vdev_and_devtype(d, token):
                d.vdev = token
        elif not access_set:
            access_set = True
            _set_access(d, token)
        else:
            raise SpecError(f"too many positional parameters in disk spec '{spec}'")
    if not d.vdev:
        raise SpecError(f"no vdev specified in disk spec '{spec}'")
    if not re.fullmatch(r"[A-Za-z0-9_]+", d.vdev):
        raise SpecError(f"invalid vdev '{d.vdev}' in disk spec")
    if d.cdrom:
        d.readwrite = False
        if not d.target:
            d.format = "empty"
    elif not d.target:
        raise SpecError(f"no target specified in disk spec '{spec}'")
    return d


def format_xl_disk(d: XlDisk) -> str:
    """libvirt's canonical key=value form: ``format=,vdev=,access=,[backendtype=,][devtype=,]target=``."""
    fmt = d.format if d.format in DISK_FORMATS else "raw"
    out = [f"format={fmt}", f"vdev={d.vdev}",
           f"access={'rw' if d.readwrite else 'ro'}"]
    if d.backendtype:
        out.append(f"backendtype={d.backendtype}")
    if d.cdrom:
        out.append("devtype=cdrom")
    if d.target:
        out.append(f"target={d.target}")
    return ",".join(out)


# -- xm disk spec (xenParseXMDisk) ---------------------------------------------------------------

@dataclass
class XmDisk:
    source: str | None          # None: empty CD-ROM
    driver: str                 # phy | file | tap | tap2 | ...
    driver_type: str | None     # tap/tap2 sub-type (aio -> raw)
    target: str
    cdrom: bool = False
    readonly: bool = False
    shared: bool = False


def parse_xm_disk(spec: str) -> XmDisk:
    """``[DRIVER:[SUBTYPE:]]SOURCE,[ioemu:]TARGET[:cdrom|:disk],MODE``."""
    _check_len(spec, "disk")
    src, comma, rest = spec.partition(",")
    if not comma:
        raise SpecError(f"malformed xm disk spec '{spec}': expecting SOURCE,TARGET,MODE")
    if rest.startswith("ioemu:"):
        rest = rest[6:]
    target, comma, mode = rest.partition(",")
    if not comma:
        raise SpecError(f"malformed xm disk spec '{spec}': expecting SOURCE,TARGET,MODE")
    driver, driver_type = None, None
    source: str | None = src or None
    if source is not None and ":" in source:
        driver, _, source = source.partition(":")
        if driver in ("tap", "tap2"):
            sub, colon, path = source.partition(":")
            if not colon:
                raise SpecError(f"malformed xm disk spec '{spec}': {driver}: needs a sub-type")
            driver_type = "raw" if sub == "aio" else sub
            if driver_type not in ("raw", "qcow", "qcow2", "vhd", "vmdk", "qed", "cow", "bochs",
                                   "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vvfat", "ploop"):
                raise SpecError(f"unknown driver type '{sub}' in xm disk spec")
            source = path
    cdrom = False
    base, colon, suffix = target.partition(":")
    if colon:
        cdrom = suffix == "cdrom"
        target = base
    if not target or not re.fullmatch(r"[A-Za-z0-9_]+", target):
        raise SpecError(f"invalid target device '{target}' in xm disk spec")
    if source is None and not cdrom:
        raise SpecError(f"xm disk spec '{spec}' has no source")
    return XmDisk(source=source, driver=driver or "phy", driver_type=driver_type, target=target,
                  cdrom=cdrom, readonly=mode in ("r", "ro"), shared=mode in ("w!", "!"))


def format_xm_disk(d: XmDisk) -> str:
    """xen_xm.c xenFormatXMDisk: ``DRIVER:[aio:]SOURCE,TARGET[:cdrom],r|!|w``."""
    out = ""
    if d.source is not None:
        if d.driver:
            out += f"{d.driver}:"
            if d.driver in ("tap", "tap2"):
                out += f"{'aio' if d.driver_type in (None, 'raw') else d.driver_type}:"
        out += d.source
    out += f",{d.target}{':cdrom' if d.cdrom else ''}"
    out += ",r" if d.readonly else ",!" if d.shared else ",w"
    return out


# -- key=value lists -------------------------------------------------------------------------------

def split_keyvals(spec: str, what: str) -> list[tuple[str, str]]:
    """``k=v,k=v`` with blanks after commas skipped (libvirt's key scanning); each item needs '='."""
    _check_len(spec, what)
    out = []
    for item in spec.split(","):
        item = item.lstrip(" \t")
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise SpecError(f"malformed {what} spec '{spec}': '{item}' is not key=value")
        out.append((key.strip(), value))
    return out


# -- vif spec ---------------------------------------------------------------------------------------

# xen_common.c xenParseVif: fixed-size buffers (with the NUL) per field
_VIF_LIMITS = {"mac": 17, "bridge": 49, "model": 9, "type": 9, "vifname": 49, "ip": 127,
               "rate": 49}


@dataclass
class VifSpec:
    mac: str | None = None
    bridge: str | None = None
    script: str | None = None
    model: str | None = None
    type: str | None = None
    vifname: str | None = None
    ip: str | None = None
    rate: str | None = None


def parse_vif(spec: str) -> VifSpec:
    v = VifSpec()
    for key, value in split_keyvals(spec, "vif"):
        if key in _VIF_LIMITS and len(value) > _VIF_LIMITS[key]:
            raise SpecError(f"vif {key} '{value}' too long (at most {_VIF_LIMITS[key]} "
                            "characters)")
        if key in ("mac", "bridge", "script", "model", "type", "vifname", "ip", "rate"):
            setattr(v, key, value)
    return v


def format_vif(v: VifSpec) -> str:
    """libvirt's order (xenFormatNet): mac, bridge, ip, script (a bridge-less vif: script, ip),
    model or type, vifname, rate."""
    parts = [f"mac={v.mac}"]
    order = ("bridge", "ip", "script") if v.bridge is not None else ("script", "ip")
    for key in order + ("model", "type", "vifname", "rate"):
        if getattr(v, key) is not None:
            parts.append(f"{key}={getattr(v, key)}")
    return ",".join(parts)


_RATE = re.compile(r"([0-9]+)([GMK]?)([Bb])/s\Z")


def parse_rate(rate: str) -> int:
    """``10240KB/s[@INTERVAL]`` -> KB/s (xen_common.c xenParseSxprVifRate)."""
    m = _RATE.match(rate.partition("@")[0])
    if not m:
        raise SpecError(f"invalid rate '{rate}'")
    n = int(m.group(1))
    n *= {"G": 1024 * 1024, "M": 1024, "K": 1, "": 1}[m.group(2)]
    if m.group(3) == "b":
        n //= 8
    return n


# -- pci spec ----------------------------------------------------------------------------------------

@dataclass
class PciSpec:
    domain: int
    bus: int
    slot: int
    function: int
    permissive: bool | None = None


_PCI = re.compile(r"(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])"
                  r"(?:,(.*))?\Z")


def parse_pci(spec: str) -> PciSpec:
    """``[DDDD:]BB:SS.F[,permissive=N]`` (xen_common.c xenParsePCI)."""
    _check_len(spec, "pci")
    m = _PCI.match(spec.strip())
    if not m:
        raise SpecError(f"malformed PCI address '{spec}'")
    p = PciSpec(int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16),
                int(m.group(4)))
    if p.slot > 0x1F:
        raise SpecError(f"malformed PCI address '{spec}': slot out of range")
    if m.group(5):
        for key, value in split_keyvals(m.group(5), "pci"):
            if key == "permissive":
                if not re.fullmatch(r"-?\d+", value):
                    raise SpecError(f"malformed PCI option permissive='{value}'")
                p.permissive = int(value) != 0
    return p


def format_pci(p: PciSpec) -> str:
    out = f"{p.domain:04x}:{p.bus:02x}:{p.slot:02x}.{p.function:x}"
    if p.permissive is not None:
        out += f",permissive={1 if p.permissive else 0}"
    return out
