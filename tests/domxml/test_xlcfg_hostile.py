"""Hostile xl/xm input: huge, deeply nested, unterminated, binary, and fuzzed configs and XML.

Every input is either refused with a libvirt error (a code; for text the codec cannot read, the
line and column too) or converted; a converted config goes to XML, back to a config and to XML
again with the same facts. The round-trip comparison normalises two libvirt defaults that the
config format writes out explicitly: a bridged interface without a script gets libvirt's default
``vif-bridge`` (``vif-openvswitch`` with an Open vSwitch port; xenFormatNet), and a CD-ROM is
read-only.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xvirt.domxml import native_to_xml, xml_to_native
from xvirt.domxml.xlconf import MAX_CONF_SIZE
from xvirt.errors import ConfSyntaxError, ErrorCode, LibvirtError

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
CFGS = [(p.read_text(), "xen-xl" if p.parent.name == "xl-config" else "xen-xm")
        for p in sorted(CORPUS.glob("x*-config/*.cfg"))]
XMLS = [(p.read_text(), "xen-xl" if p.parent.name == "xl-config" else "xen-xm")
        for p in sorted(CORPUS.glob("x*-config/*.xml"))]
KNOWN_CODES = {c.value for c in ErrorCode}


def facts(xml: str) -> str:
    root = ET.fromstring(xml)
    for iface in root.iter("interface"):
        if iface.get("type") == "bridge" and iface.find("script") is None:
            ovs = iface.find("virtualport") is not None
            ET.SubElement(iface, "script", path="vif-openvswitch" if ovs else "vif-bridge")
        children = sorted(list(iface), key=lambda e: ET.tostring(e))
        for c in list(iface):
            iface.remove(c)
        iface.extend(children)
    for disk in root.iter("disk"):
        if disk.get("device") == "cdrom" and disk.find("readonly") is None:
            ET.SubElement(disk, "readonly")
        children = sorted(list(disk), key=lambda e: ET.tostring(e))
        for c in list(disk):
            disk.remove(c)
        disk.extend(children)
    for e in root.iter():
        e.tail = None
        if e.text is not None and not e.text.strip():
            e.text = None
    return ET.canonicalize(ET.tostring(copy.deepcopy(root), encoding="unicode"))


def check_refused_or_round_trips(text, fmt: str) -> None:
    try:
        xml1 = native_to_xml(text, fmt)
    except ConfSyntaxError as e:
        assert e.code == ErrorCode.CONF_SYNTAX
        if "line" in e.message:
            assert e.int1 >= 1 and e.int2 >= 1
        return
    except LibvirtError as e:
        assert e.code in KNOWN_CODES and e.message
        return
    cfg = xml_to_native(xml1, fmt)
    xml2 = native_to_xml(cfg, fmt)
    assert facts(xml2) == facts(xml1)


def test_huge_input_is_refused_quickly() -> None:
    big = 'name = "g"\n' + "# padding\n" * (MAX_CONF_SIZE // 10 + 1)
    with pytest.raises(ConfSyntaxError, match="limit"):
        native_to_xml(big, "xen-xl")
    with pytest.raises(ConfSyntaxError, match="limit"):
        native_to_xml(big.encode(), "xen-xm")
    long_string = 'name = "' + "x" * (MAX_CONF_SIZE - 20) + '"\n'
    with pytest.raises(LibvirtError):
        native_to_xml(long_string, "xen-xl")


def test_deep_lists_are_refused_without_recursion_errors() -> None:
    for depth in (9, 100, 100_000):
        text = 'name = "g"\nvnuma = ' + "[" * depth + "]" * depth + "\n"
        with pytest.raises(ConfSyntaxError, match="nested deeper") as ei:
            native_to_xml(text, "xen-xl")
        assert ei.value.int1 == 2


@pytest.mark.parametrize("text,line,col", [
    ('name = "g\nmemory = 512\n', 1, 8),
    ('name = "g"\ndisk = [ "vdev=xvda,target=/x\n', 2, 10),
    ('name = "g"\nextra = """never\nclosed\n', 2, 9),
    ('name = "g"\nvif = [ "a", \n\n', 2, 7),
])
def test_unterminated_strings_and_lists(text: str, line: int, col: int) -> None:
    with pytest.raises(ConfSyntaxError) as ei:
        native_to_xml(text, "xen-xl")
    assert (ei.value.int1, ei.value.int2) == (line, col)


@pytest.mark.parametrize("fmt", ["xen-xl", "xen-xm"])
@pytest.mark.parametrize("text,line,col", [
    ('name = "g"\n# a comment \udcff\nmemory = 512\n', 2, 13),        # where nothing reads it
    ('name = "g"\nchannel = [ "name=\udcffx" ]\n', 2, 19),            # in a value
])
def test_a_lone_surrogate_is_refused_as_invalid_utf8(text: str, line: int, col: int, fmt: str) -> None:
    """Text no file could hold (found by test_mutated_configs): refused with its position."""
    with pytest.raises(ConfSyntaxError) as ei:
        native_to_xml(text, fmt)
    assert (ei.value.int1, ei.value.int2) == (line, col)
    assert "not valid UTF-8" in ei.value.message


@pytest.mark.parametrize("text", ['name = "g"\nbuilder = "hvm"\nvnc = 1\nvncpasswd = ""\n',
                                  'name = "g"\nvfb = [ "type=vnc,vncpasswd=" ]\n'])
def test_an_empty_vnc_password_survives_the_round_trip(text: str) -> None:
    """Found by test_mutated_configs: an empty vncpasswd is kept, not dropped on the way back."""
    xml = native_to_xml(text, "xen-xl")
    assert "passwd=''" in xml or 'passwd=""' in xml
    assert native_to_xml(xml_to_native(xml, "xen-xl"), "xen-xl") == xml


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_binary_junk(data: bytes) -> None:
    check_refused_or_round_trips(data, "xen-xl")
    check_refused_or_round_trips(data, "xen-xm")


_inserts = st.sampled_from(list('"\'[],;=#\n \\:.0123456789-x') + ['"""', "\x00", "\u00e9",
                                                                    "\udcff"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CFGS), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 2),
                                                 _inserts), min_size=1, max_size=4))
def test_mutated_configs(case, edits) -> None:
    text, fmt = case
    for pos, kind, s in edits:
        pos %= len(text) + 1
        if kind == 0:
            text = text[:pos] + s + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + 1 + len(s):]
        else:
            text = text[:pos] + text[pos:pos + 40] + text[pos:]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(LibvirtError):
            native_to_xml(text, fmt)
        return
    check_refused_or_round_trips(text, fmt)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(XMLS), st.integers(0, 3000), st.integers(1, 30),
       st.sampled_from(["", "x", "'", "<", "0", "-1", "99999999999", "zz:zz"]))
def test_mutated_xml(case, pos, length, insert) -> None:
    xml, fmt = case
    pos %= len(xml)
    mutated = xml[:pos] + insert + xml[pos + length:]
    try:
        cfg = xml_to_native(mutated, fmt)
    except LibvirtError as e:
        assert e.code in KNOWN_CODES and e.message
        return
    check_refused_or_round_trips(cfg, fmt)


# -- generated configs: random combinations of the keys the converters know ----------------------

_KEYS = {
    "uuid": ['"c7a5fdb2-cdaf-9455-926a-d65c16db1809"', '"C7A5FDB2CDAF9455926AD65C16DB1809"'],
    "memory": ["512", '"256"', "0x100", "0"], "maxmem": ["1024", "128"],
    "vcpus": ["1", "4"], "maxvcpus": ["4", "8"], "cpus": ['"0-3,^1"', '"2"'],
    "on_poweroff": ['"destroy"', '"preserve"'], "on_crash": ['"coredump-restart"'],
    "localtime": ["1", '"1"', "0"], "rtc_timeoffset": ["-60", "3600"],
    "pae": ["0"], "acpi": ["0"], "apic": ["0"], "hap": ["0", "1"], "viridian": ["1"],
    "hpet": ["0", "1"], "tsc_mode": ['"native"', '"native_paravirt"', '"default"'],
    "e820_host": ["1"], "passthrough": ['"enabled"', '"sync_pt"'],
    "nestedhvm": ["0", "1"], "cpuid": ['"host,sse3=0,pdpe1gb=1,aes=x"'],
    "device_model_override": ['"/usr/lib/xen/bin/qemu-system-i386"'],
    "vnc": ["1", "0"], "vncunused": ["0", "1"], "vncdisplay": ["3"], "vnclisten": ['"0.0.0.0"'],
    "vncpasswd": ['"pw"'], "keymap": ['"de"'], "sdl": ["1"], "display": ['":1"'],
    "vfb": ['[ "type=vnc,vncdisplay=2,vnclisten=::1,keymap=fr" ]', '[ "type=sdl,display=:0" ]'],
    "spice": ["1"], "spicehost": ['"127.0.0.1"'], "spiceport": ["5901"],
    "spicedisable_ticketing": ["1"], "spiceagent_mouse": ["0", "1"],
    "spice_clipboard_sharing": ["1"],
    "vif": ['[ "mac=00:16:3e:00:00:01,bridge=br0.5,rate=1MB/s", "mac=00:16:3e:00:00:02" ]',
            '[ "mac=00:16:3e:00:00:03,model=e1000,vifname=vx,ip=10.0.0.9" ]',
            '[ "mac=00:16:3e:00:00:04,type=vif", "mac=00:16:3e:00:00:05,type=netfront" ]'],
    "pci": ['[ "0000:01:00.0,permissive=0", "02:03.4" ]'],
    "serial": ['"pty"', '[ "pty", "none", "tcp:localhost:99,server,nowait" ]',
               '"udp:a:1@b:2"', '"unix:/s,server"', '"/dev/ttyS1"', '"telnet::23"'],
    "parallel": ['"file:/tmp/lp"', '"none"'],
    "soundhw": ['"all"', '"ac97,es1370"'],
    "usb": ["1"], "usbdevice": ['"tablet"', '[ "mouse", "keyboard" ]'],
    "usbdev": ['[ "hostbus=2,hostaddr=0a" ]'], "usbctrl": ['[ "version=1,ports=2" ]'],
    "channel": ['[ "connection=pty,name=org.a", "connection=socket,path=/p,name=b" ]'],
    "max_event_channels": ["1023"], "max_grant_frames": ["64"],
    "device_model_args": ['[ "-debugcon", "file:/tmp/x" ]'],
    "boot": ['"dcn"', '"a"'], "bios": ['"ovmf"'], "acpi_firmware": ['"/slic"'],
    "kernel": ['"/boot/k"'], "ramdisk": ['"/boot/i"'], "cmdline": ['"ro quiet"'],
    "root": ['"/dev/xvda1"'], "extra": ['"console=hvc0"'], "bootloader": ['"/usr/bin/pygrub"'],
    "bootargs": ['"-q"'],
    "vnuma": ['[ [ "pnode=0", "size=256", "vcpus=0", "vdistances=10,20" ], '
              '[ "pnode=1", "size=256", "vcpus=1", "vdistances=20,10" ] ]'],
}
_XL_DISKS = ['"format=qcow2,vdev=xvda,access=rw,backendtype=qdisk,target=/i/a.qcow2"',
             '"/dev/vg/b,raw,xvdb,r"', '"vdev=hdc,cdrom"', '"/i/c.iso,,hdd,,devtype=cdrom"',
             '"format=vhd,vdev=sda,backendtype=tap,target=/i/d.vhd"',
             '"vdev=xvde,target=rbd:p/i:auth_supported=none:mon_host=m1\\\\\\\\:1\\\\\\\\;m2"']
_XM_DISKS = ['"phy:/dev/vg/a,xvda,w"', '"file:/i/b,hdb,r"', '",hdc:cdrom,r"',
             '"tap:qcow2:/i/c,xvdc,w!"', '"tap2:aio:/i/d,sda,w"']


@st.composite
def _configs(draw):
    fmt = draw(st.sampled_from(["xen-xl", "xen-xm"]))
    lines = ['name = "gen"']
    kind = draw(st.sampled_from(["pv", "hvm", "pvh"] if fmt == "xen-xl" else ["pv", "hvm"]))
    if kind == "hvm":
        lines.append('builder = "hvm"' if draw(st.booleans()) else 'type = "hvm"')
        if fmt == "xen-xm":
            lines.append('kernel = "/usr/lib/xen/boot/hvmloader"')
    elif kind == "pvh":
        lines.append('type = "pvh"')
    for key in draw(st.lists(st.sampled_from(sorted(_KEYS)), max_size=12, unique=True)):
        if fmt == "xen-xm" and key == "kernel" and kind == "hvm":
            continue
        lines.append(f"{key} = {draw(st.sampled_from(_KEYS[key]))}")
    disks = draw(st.lists(st.sampled_from(_XL_DISKS if fmt == "xen-xl" else _XM_DISKS),
                          max_size=3, unique=True))
    if disks:
        lines.append("disk = [ " + ", ".join(disks) + " ]")
    return "\n".join(lines) + "\n", fmt


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_generated_configs(case) -> None:
    check_refused_or_round_trips(*case)
