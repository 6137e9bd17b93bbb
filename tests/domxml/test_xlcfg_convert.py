"""xl.cfg / xm config <-> domain XML beyond the corpus: defaults, precedence, refusals, round trips."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xvirt.domxml import (domain_xml_from_native, domain_xml_to_native, native_to_xml,
                          xml_to_native)
from xvirt.domxml.xlconf import parse_conf
from xvirt.errors import (ConfigUnsupportedError, ConfSyntaxError, ErrorCode, ErrorDomain,
                          InvalidArgError, LibvirtError, NoSupportError, XMLError)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"

PV = '''name = "pv1"
uuid = "45b60f51-88a9-47a8-a3b3-5e66d71b2283"
memory = 256
kernel = "/boot/vmlinuz"
ramdisk = "/boot/initrd"
cmdline = "root=/dev/xvda1 ro"
vif = [ "mac=00:16:3e:00:00:01,bridge=xenbr0" ]
disk = [ "format=raw,vdev=xvda,access=rw,backendtype=phy,target=/dev/vg/pv1" ]
'''


def xml_of(cfg: str, fmt: str = "xen-xl") -> ET.Element:
    return ET.fromstring(native_to_xml(cfg, fmt))


def settings(text: str) -> dict:
    return {s.name: s.value for s in parse_conf(text).settings}


def test_pv_basics_and_defaults() -> None:
    root = xml_of(PV)
    assert root.findtext("name") == "pv1"
    assert root.findtext("memory") == root.findtext("currentMemory") == str(256 * 1024)
    assert root.findtext("vcpu") == "1"
    assert root.find("os/type").text == "linux"
    assert root.find("os/type").get("machine") == "xenpv"
    assert (root.findtext("os/kernel"), root.findtext("os/initrd"),
            root.findtext("os/cmdline")) == ("/boot/vmlinuz", "/boot/initrd", "root=/dev/xvda1 ro")
    assert [root.findtext(t) for t in ("on_poweroff", "on_reboot", "on_crash")] == \
        ["destroy", "restart", "restart"]
    assert root.find("clock").attrib == {"offset": "utc", "adjustment": "reset"}
    disk = root.find("devices/disk")
    assert disk.get("type") == "block" and disk.find("source").get("dev") == "/dev/vg/pv1"
    assert disk.find("target").attrib == {"dev": "xvda", "bus": "xen"}
    assert root.find("devices/interface/source").get("bridge") == "xenbr0"
    assert root.find("devices/console/target").attrib == {"type": "xen", "port": "0"}
    back = settings(xml_to_native(native_to_xml(PV, "xen-xl"), "xen-xl"))
    assert back["kernel"] == "/boot/vmlinuz" and back["cmdline"] == "root=/dev/xvda1 ro"
    assert back["maxmem"] == back["memory"] == 256 and back["vcpus"] == 1
    assert back["vif"] == ["mac=00:16:3e:00:00:01,bridge=xenbr0,script=vif-bridge"]
    assert "builder" not in back and "type" not in back


def test_missing_uuid_and_mac_are_generated_and_memory_defaults() -> None:
    root = xml_of('name = "g"\nbootloader = "/usr/bin/pygrub"\nvif = [ "bridge=br0" ]\n')
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        root.findtext("uuid"))
    assert root.find("devices/interface/mac").get("address").startswith("00:16:3e:")
    assert root.findtext("memory") == str(128 * 1024)   # MIN_XEN_GUEST_SIZE * 2 MiB


def test_cmdline_wins_over_root_and_extra() -> None:
    base = 'name = "g"\nkernel = "/k"\n'
    assert xml_of(base + 'root = "/dev/xvda1"\nextra = "ro quiet"\n').findtext("os/cmdline") \
        == "root=/dev/xvda1 ro quiet"
    assert xml_of(base + 'root = "/dev/xvda1"\n').findtext("os/cmdline") == "root=/dev/xvda1"
    assert xml_of(base + 'cmdline = "a"\nroot = "/r"\nextra = "e"\n').findtext("os/cmdline") \
        == "a"
    # xm has no cmdline=: root + extra, written back as extra=
    assert settings(xml_to_native(native_to_xml(base + 'root = "/r"\nextra = "e"\n', "xen-xm"),
                                  "xen-xm"))["extra"] == "root=/r e"


def test_type_and_builder_choose_the_guest_type() -> None:
    def kind(cfg: str) -> tuple:
        t = xml_of('name = "g"\n' + cfg).find("os/type")
        return t.text, t.get("machine")
    assert kind('type = "hvm"\n') == ("hvm", "xenfv")
    assert kind('builder = "hvm"\n') == ("hvm", "xenfv")
    assert kind('type = "pvh"\nkernel = "/k"\n') == ("xenpvh", "xenpvh")
    assert kind('type = "pv"\nbuilder = "hvm"\nkernel = "/k"\n') == ("linux", "xenpv")
    pvh = xml_to_native(native_to_xml('name = "g"\ntype = "pvh"\nkernel = "/k"\n', "xen-xl"),
                        "xen-xl")
    assert settings(pvh)["type"] == "pvh"
    with pytest.raises(ConfigUnsupportedError, match="type bogus is not supported") as ei:
        native_to_xml('name = "g"\ntype = "bogus"\n', "xen-xl")
    assert ei.value.code == ErrorCode.CONFIG_UNSUPPORTED == 67
    assert (ei.value.int1, ei.value.int2) == (2, 1)


def test_hvm_features_timers_and_clock() -> None:
    cfg = ('name = "h"\nbuilder = "hvm"\nacpi = 0\nhap = 0\nviridian = 1\nhpet = 0\n'
           'tsc_mode = "always_emulate"\nlocaltime = 1\nrtc_timeoffset = 3600\n')
    root = xml_of(cfg)
    assert [e.tag for e in root.find("features")] == ["apic", "pae", "hap", "viridian"]
    assert root.find("features/hap").get("state") == "off"
    assert root.find("clock").attrib == {"offset": "variable", "adjustment": "3600",
                                         "basis": "localtime"}
    assert [t.attrib for t in root.findall("clock/timer")] == [
        {"name": "tsc", "present": "yes", "mode": "emulate"}, {"name": "hpet", "present": "no"}]
    back = settings(xml_to_native(native_to_xml(cfg, "xen-xl"), "xen-xl"))
    assert (back["acpi"], back["apic"], back["pae"], back["hap"], back["viridian"]) == \
        (0, 1, 1, 0, 1)
    assert (back["hpet"], back["tsc_mode"], back["localtime"], back["rtc_timeoffset"]) == \
        (0, "always_emulate", 1, 3600)


def test_negative_rtc_timeoffset_round_trips() -> None:
    cfg = 'name = "h"\nbuilder = "hvm"\nrtc_timeoffset = -3600\n'
    assert xml_of(cfg).find("clock").get("adjustment") == "-3600"
    assert settings(xml_to_native(native_to_xml(cfg, "xen-xl"), "xen-xl"))["rtc_timeoffset"] \
        == -3600
    with pytest.raises(ConfSyntaxError, match="out of range"):
        native_to_xml('name = "h"\nbuilder = "hvm"\nrtc_timeoffset = 0x80000000\n', "xen-xl")


def test_serial_lists_keep_port_numbers() -> None:
    cfg = 'name = "h"\nbuilder = "hvm"\nserial = [ "pty", "none", "file:/tmp/s" ]\n'
    root = xml_of(cfg)
    assert [(s.get("type"), s.find("target").get("port")) for s in
            root.findall("devices/serial")] == [("pty", "0"), ("file", "2")]
    assert settings(xml_to_native(native_to_xml(cfg, "xen-xl"), "xen-xl"))["serial"] == \
        ["pty", "none", "file:/tmp/s"]
    with pytest.raises(ConfigUnsupportedError, match="Multiple serial devices") as ei:
        native_to_xml(cfg + 'kernel = "/usr/lib/xen/boot/hvmloader"\n', "xen-xm")
    assert ei.value.domain == ErrorDomain.XENXM == 15
    with pytest.raises(ConfigUnsupportedError, match="Multiple serial devices"):
        xml_to_native(native_to_xml(cfg, "xen-xl"), "xen-xm")


def test_vif_vlan_trunk_and_ethernet() -> None:
    cfg = ('name = "g"\nbootloader = "/b"\nvif = [ "mac=00:16:3e:00:00:01,bridge=ovs0:10:20",'
           ' "mac=00:16:3e:00:00:02,script=/etc/xen/scripts/my,ip=10.0.0.2" ]\n')
    root = xml_of(cfg)
    first, second = root.findall("devices/interface")
    assert first.find("vlan").get("trunk") == "yes"
    assert [t.get("id") for t in first.findall("vlan/tag")] == ["10", "20"]
    assert first.find("virtualport").get("type") == "openvswitch"
    assert second.get("type") == "ethernet" and second.find("ip").get("address") == "10.0.0.2"
    assert settings(xml_to_native(native_to_xml(cfg, "xen-xl"), "xen-xl"))["vif"] == [
        "mac=00:16:3e:00:00:01,bridge=ovs0:10:20,script=vif-openvswitch",
        "mac=00:16:3e:00:00:02,script=/etc/xen/scripts/my,ip=10.0.0.2"]


def test_usb_controllers_and_sdl() -> None:
    cfg = ('name = "h"\nbuilder = "hvm"\nsdl = 1\ndisplay = ":0"\nusbctrl = [ "version=1,'
           'ports=4", "type=qusb,ports=10" ]\nusbdevice = [ "tablet", "keyboard" ]\n')
    root = xml_of(cfg)
    assert [(c.get("type"), c.get("model"), c.get("ports")) for c in
            root.findall("devices/controller")] == [("xenbus", None, None),
                                                    ("usb", "qusb1", "4"), ("usb", "qusb2", "16")]
    assert root.find("devices/graphics").attrib == {"type": "sdl", "display": ":0"}
    back = settings(xml_to_native(native_to_xml(cfg, "xen-xl"), "xen-xl"))
    assert back["usbctrl"] == ["type=qusb,version=1,ports=4", "type=qusb,version=2,ports=10"]
    assert back["usbdevice"] == ["tablet", "keyboard"] and back["usb"] == 1
    assert (back["sdl"], back["vnc"], back["display"]) == (1, 0, ":0")


@pytest.mark.parametrize("cfg,cls,words,pos", [
    ('memory = 5\n', ConfSyntaxError, "name was missing", None),
    ('name = 5\n', ConfSyntaxError, "expected a string", (1, 1)),
    ('name = "g"\nuuid = "nope"\n', ConfSyntaxError, "not parseable", (2, 1)),
    ('name = "g"\nmemory = "lots"\n', ConfSyntaxError, "not a number", (2, 1)),
    ('name = "g"\nvcpus = 0\n', ConfSyntaxError, "out of range", (2, 1)),
    ('name = "g"\nvcpus = 4\nmaxvcpus = 2\n', ConfSyntaxError, "maxvcpus", (3, 1)),
    ('name = "g"\non_crash = "explode"\n', ConfSyntaxError, "unexpected value", (2, 1)),
    ('name = "g"\nvif = [ "mac=zz" ]\n', ConfSyntaxError, "malformed mac", (2, 1)),
    ('name = "g"\nvif = [ "mac" ]\n', ConfSyntaxError, "not key=value", (2, 1)),
    ('name = "g"\nvif = [ "rate=fast" ]\n', ConfSyntaxError, "invalid rate", (2, 1)),
    ('name = "g"\n\ndisk = [ "vdev=xvda" ]\n', ConfSyntaxError, "no target", (3, 1)),
    ('name = "g"\npci = [ "1:2:3" ]\n', ConfSyntaxError, "malformed PCI", (2, 1)),
    ('name = "g"\nbuilder = "hvm"\nserial = "bogus:x"\n', ConfSyntaxError, "unknown", (3, 1)),
    ('name = "g"\nbuilder = "hvm"\nsoundhw = "sb16,kazoo"\n', ConfSyntaxError, "kazoo", (3, 1)),
    ('name = "g"\nbuilder = "hvm"\ncpuid = "intel,x=1"\n', ConfSyntaxError, "only libxl", (3, 1)),
    ('name = "g"\nbuilder = "hvm"\ncpuid = "host,x=7"\n', ConfSyntaxError, "cpuid value", (3, 1)),
    ('name = "g"\nvnuma = [ [ "pnode=0" ] ]\n', ConfSyntaxError, "Incomplete vnuma", (2, 1)),
    ('name = "g"\nvcpus = 1\nvnuma = [ [ "pnode=0", "size=512", "vcpus=0-3", '
     '"vdistances=10" ] ]\n', ConfigUnsupportedError, "greater than", (3, 1)),
    ('name = "g"\nchannel = [ "connection=tcp,name=x" ]\n', ConfigUnsupportedError,
     "connection", (2, 1)),
    ('name = "g"\nusbdev = [ "hostbus=1" ]\n', ConfSyntaxError, "invalid USB", (2, 1)),
    ('name = "g"\nlocaltime = [ 1 ]\n', ConfSyntaxError, "malformed", (2, 1)),
])
def test_bad_values_name_the_setting_and_position(cfg, cls, words, pos) -> None:
    with pytest.raises(cls, match=words) as ei:
        native_to_xml(cfg, "xen-xl")
    assert ei.value.domain == ErrorDomain.XENXL == 64
    if pos is not None:
        assert (ei.value.int1, ei.value.int2) == pos
        assert f"(line {pos[0]}, column {pos[1]})" in ei.value.message


def test_xml_the_formats_cannot_express_is_refused() -> None:
    xml = native_to_xml(PV, "xen-xl")
    net = xml.replace("<interface type='bridge'>", "<interface type='network'>") \
        .replace("<source bridge='xenbr0'/>", "<source network='default'/>")
    with pytest.raises(ConfigUnsupportedError, match="network") as ei:
        xml_to_native(net, "xen-xl")
    assert (ei.value.code, ei.value.domain) == (ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.XENXL)
    with pytest.raises(XMLError):
        xml_to_native("<domain type='xen'><name>x</name>", "xen-xl")
    pvh = native_to_xml('name = "g"\ntype = "pvh"\nkernel = "/k"\n', "xen-xl")
    with pytest.raises(ConfigUnsupportedError, match="PVH"):
        xml_to_native(pvh, "xen-xm")


def test_format_names_and_argument_types() -> None:
    with pytest.raises(NoSupportError, match="xen-xl"):
        native_to_xml(PV, "xl")
    with pytest.raises(InvalidArgError):
        native_to_xml(PV, None)   # type: ignore[arg-type]
    with pytest.raises(InvalidArgError):
        xml_to_native(b"\x00" if False else 42, "xen-xl")   # type: ignore[arg-type]
    assert domain_xml_from_native("xen-xl", PV) == native_to_xml(PV, "xen-xl")
    xml = native_to_xml(PV, "xen-xl")
    assert domain_xml_to_native("xen-xm", xml) == xml_to_native(xml, "xen-xm")
    assert native_to_xml(PV.encode(), "xen-xl") == xml


@pytest.mark.parametrize("folder,fmt", [("xl-config", "xen-xl"), ("xm-config", "xen-xm")])
def test_every_corpus_config_round_trips_to_a_fixed_point(folder: str, fmt: str) -> None:
    """cfg -> XML -> cfg -> XML: the second XML equals the first (every fact survived), and the
    second cfg is libvirt's canonical text of the first (converting it again changes nothing)."""
    for path in sorted((CORPUS / folder).glob("*.cfg")):
        xml1 = native_to_xml(path.read_text(), fmt)
        cfg1 = xml_to_native(xml1, fmt)
        xml2 = native_to_xml(cfg1, fmt)
        assert xml2 == xml1, path.name
        assert xml_to_native(xml2, fmt) == cfg1, path.name


def test_errors_are_libvirt_errors_never_tracebacks() -> None:
    for text in ("", "\n\n", "# only a comment\n", 'name = ""\n'):
        with pytest.raises(LibvirtError):
            native_to_xml(text, "xen-xl")


def test_xen_features_and_acpi_table() -> None:
    pv = 'name = "g"\nkernel = "/k"\ne820_host = 1\npassthrough = "share_pt"\n'
    root = xml_of(pv)
    assert [(e.tag, e.attrib) for e in root.find("features/xen")] == [
        ("e820_host", {"state": "on"}), ("passthrough", {"state": "on", "mode": "share_pt"})]
    back = settings(xml_to_native(native_to_xml(pv, "xen-xl"), "xen-xl"))
    assert (back["e820_host"], back["passthrough"]) == (1, "share_pt")
    hvm = 'name = "h"\nbuilder = "hvm"\nacpi_firmware = "/slic.bin"\npassthrough = "enabled"\n'
    root = xml_of(hvm)
    assert root.find("os/acpi/table").attrib == {"type": "slic"}
    assert root.findtext("os/acpi/table") == "/slic.bin"
    back = settings(xml_to_native(native_to_xml(hvm, "xen-xl"), "xen-xl"))
    assert (back["acpi_firmware"], back["passthrough"]) == ("/slic.bin", "enabled")
    assert list(back).index("acpi_firmware") == list(back).index("builder") + 1
    with pytest.raises(ConfSyntaxError, match="invalid passthrough mode"):
        native_to_xml('name = "g"\npassthrough = "sometimes"\n', "xen-xl")


def test_deliberate_differences_from_libvirt() -> None:
    """D1-D6 of xvirt.domxml.xlcfg_parse: where libvirt would lose a fact, xvirt keeps it."""
    numa = ('vnuma = [ [ "pnode=0", "size=256", "vcpus=0", "vdistances=10,20" ], '
            '[ "pnode=1", "size=256", "vcpus=1", "vdistances=20,10" ] ]\n')
    hvm = 'name = "h"\nbuilder = "hvm"\nvcpus = 2\nnestedhvm = 0\n' + numa       # D1
    cpu = xml_of(hvm).find("cpu")
    assert cpu.get("mode") == "host-passthrough" and len(cpu.findall("numa/cell")) == 2
    assert settings(xml_to_native(native_to_xml(hvm, "xen-xl"), "xen-xl"))["nestedhvm"] == 0
    pv = 'name = "p"\nkernel = "/k"\nvcpus = 2\ncpuid = "host,aes=0"\n' + numa         # D2
    back = settings(xml_to_native(native_to_xml(pv, "xen-xl"), "xen-xl"))
    assert back["cpuid"] == "host,aes=0" and len(back["vnuma"]) == 2
    assert settings(xml_to_native(native_to_xml(                                     # D3
        'name = "h"\nbuilder = "hvm"\nrtc_timeoffset = -5\n', "xen-xl"), "xen-xl"))[
        "rtc_timeoffset"] == -5
    g = xml_of('name = "p"\nkernel = "/k"\nvfb = [ "type=vnc,vncunused=0" ]\n',       # D4
               "xen-xm").find("devices/graphics")
    assert (g.get("port"), g.get("autoport")) == ("-1", "yes")
    two_usb = native_to_xml('name = "h"\nbuilder = "hvm"\nusbdevice = [ "mouse", "tablet" ]\n',
                            "xen-xl")
    with pytest.raises(ConfigUnsupportedError, match="one USB input"):                 # D5
        xml_to_native(two_usb, "xen-xm")
    with pytest.raises(ConfSyntaxError, match="needs name="):                          # D6
        native_to_xml('name = "p"\nchannel = [ "connection=pty" ]\n', "xen-xl")
    with pytest.raises(ConfSyntaxError, match="monitor host"):
        native_to_xml('name = "p"\ndisk = [ "vdev=xvda,target=rbd:p/i:mon_host=m\\\\:99999" ]\n',
                      "xen-xl")
