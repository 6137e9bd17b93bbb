"""Constructs and xend_config_format differences beyond the corpus pairs, both directions."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from xvirt.domxml import domain_xml_from_sxpr, domain_xml_to_sxpr, facts_from_sxpr, facts_from_xml
from xvirt.domxml.chardev import ChrSyntaxError, format_chr, parse_chr
from xvirt.domxml.facts import compare_facts
from xvirt.domxml.sxpr_format import show_libvirt, Q
from xvirt.errors import NoSupportError, SexprError
from xvirt.protocol import sxp

UUID = "596a5d21-71f4-8fb2-e068-e2386a5c413e"


def hvm_record(image_extra: str = "", devices: str = "", top: str = "", domid: int = 4) -> str:
    return (f"(domain (domid {domid})(name 'fv')(memory 400)(maxmem 512)(vcpus 2){top}"
            f"(uuid '{UUID}')(image (hvm (kernel '/usr/lib/xen/boot/hvmloader')"
            f"(device_model '/usr/bin/qemu-dm')(boot cd){image_extra}))"
            f"(device (vbd (dev 'hda:disk')(uname 'phy:/dev/vg/fv')(mode 'w'))){devices})")


def pv_record(image_extra: str = "", devices: str = "", top: str = "", domid: int = 6) -> str:
    return (f"(domain (domid {domid})(name 'pv')(memory 256)(maxmem 256)(vcpus 1){top}"
            f"(uuid '{UUID}')(image (linux (kernel '/boot/vmlinuz')(ramdisk '/boot/initrd')"
            f"(args 'ro quiet')(root '/dev/xvda1'){image_extra}))"
            f"(device (vbd (dev 'xvda')(uname 'file:/img')(mode 'w'))){devices})")


def xml_of(record: str, fmt: int = 4, **kw) -> ET.Element:
    return ET.fromstring(domain_xml_from_sxpr(record, xend_config_format=fmt, **kw))


def config_of(xml: str | ET.Element, fmt: int = 4) -> list:
    if isinstance(xml, ET.Element):
        xml = ET.tostring(xml, encoding="unicode")
    return sxp.parse(domain_xml_to_sxpr(xml, xend_config_format=fmt))


def image_of(config: list) -> list:
    image = sxp.child(config, "image")
    return image[1]


# -- serial / parallel strings ------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "pty", "null", "stdio", "vc", "file:/tmp/s.log", "pipe:/tmp/fifo", "/dev/ttyS0",
    "tcp:localhost:9999", "tcp:localhost:9999,server,nowait", "tcp::4555,server,nowait",
    "telnet:example.org:23", "telnet:0.0.0.0:2323,server,nowait", "udp:localhost:9998",
    "udp:localhost:9998@localhost:9999", "udp::9998@:9999", "unix:/tmp/s.sock",
    "unix:/tmp/s.sock,server,nowait",
])
def test_chr_syntax_round_trip(value):
    assert format_chr(parse_chr(value)) == value


@pytest.mark.parametrize("value", ["", "bogus:x", "tcp:nohostport", "udp:", "file:", "unix:"])
def test_chr_syntax_errors(value):
    with pytest.raises(ChrSyntaxError):
        parse_chr(value)


def test_serial_types_in_xml_and_back():
    rec = hvm_record("(serial (telnet:0.0.0.0:2323,server,nowait none pipe:/tmp/p))"
                     "(parallel file:/tmp/lp)")
    root = xml_of(rec)
    serials = root.findall("devices/serial")
    assert [(s.get("type"), s.find("target").get("port")) for s in serials] == \
        [("tcp", "0"), ("pipe", "2")]
    assert serials[0].find("protocol").get("type") == "telnet"
    assert serials[0].find("source").get("mode") == "bind"
    console = root.find("devices/console")   # HVM: console mirrors serial 0
    assert console.get("type") == "tcp" and console.find("target").get("type") == "serial"
    assert root.find("devices/parallel").find("source").get("path") == "/tmp/lp"
    image = image_of(config_of(root))
    assert sxp.child(image, "serial") == ["serial", ["telnet:0.0.0.0:2323,server,nowait",
                                                     "none", "pipe:/tmp/p"]]
    assert sxp.child_value(image, "parallel") == "file:/tmp/lp"


def test_single_serial_not_on_port_0_uses_list_form():
    xml = ET.fromstring(domain_xml_from_sxpr(hvm_record("(serial (none vc))")))
    assert sxp.child(image_of(config_of(xml)), "serial") == ["serial", ["none", "vc"]]


def test_pty_console_with_tty_from_xenstore():
    root = xml_of(pv_record(), tty="/dev/pts/4")
    console = root.find("devices/console")
    assert console.get("tty") == "/dev/pts/4"
    assert console.find("source").get("path") == "/dev/pts/4"
    assert console.find("target").attrib == {"type": "xen", "port": "0"}


# -- graphics -----------------------------------------------------------------------------------

def test_vnc_password_never_in_xml():
    text = domain_xml_from_sxpr(pv_record("(vnc 1)(vncpasswd 'sekrit')(vnclisten '0.0.0.0')"),
                                xend_config_format=2)
    assert "sekrit" not in text and "passwd" not in text
    assert "listen='0.0.0.0'" in text


@pytest.mark.parametrize("fmt, port, autoport", [(1, "5904", "no"), (2, "-1", "yes"),
                                                 (4, "-1", "yes")])
def test_unknown_vnc_port_by_format(fmt, port, autoport):
    g = xml_of(hvm_record("(vnc 1)"), fmt).find("devices/graphics")
    assert (g.get("port"), g.get("autoport")) == (port, autoport)


def test_vnc_port_from_xenstore_and_vncdisplay():
    g = xml_of(hvm_record("(vnc 1)"), 2, vnc_port=5999).find("devices/graphics")
    assert (g.get("port"), g.get("autoport")) == ("5999", "no")
    g = xml_of(pv_record(devices="(device (vfb (type vnc)(vncdisplay 3)(vncunused 0)))"),
               3).find("devices/graphics")
    assert (g.get("port"), g.get("autoport")) == ("5903", "no")


def test_sdl_old_and_new_style():
    for rec, fmt in ((pv_record("(sdl 1)(display ':0.0')(xauthority '/root/.Xauthority')"), 2),
                     (pv_record(devices="(device (vfb (type sdl)(display ':1')))"), 3),
                     (pv_record(devices="(device (vfb (sdl 1)(display ':1')))"), 3)):
        root = xml_of(rec, fmt)
        g = root.find("devices/graphics")
        assert g.get("type") == "sdl" and g.get("display") in (":0.0", ":1")
        inputs = [(i.get("type"), i.get("bus")) for i in root.findall("devices/input")]
        assert inputs == [("mouse", "xen"), ("keyboard", "xen")]


@pytest.mark.parametrize("fmt", [1, 2, 3, 4])
def test_pv_graphics_old_or_new_style_by_format(fmt):
    xml = domain_xml_from_sxpr(pv_record("(vnc 1)(vncunused 0)(vncdisplay 6)(keymap 'de')"),
                               xend_config_format=2)
    config = config_of(xml, fmt)
    image = image_of(config)
    devices = [d[1][0] for d in sxp.children(config, "device")]
    if fmt < 3:
        assert sxp.child_value(image, "vnc") == "1" and "vfb" not in devices
        expected_keys = {1: None, 2: "6"}[fmt]
        assert sxp.child_value(image, "vncdisplay") == expected_keys
    else:
        assert sxp.child(image, "vnc") is None and devices[-2:] == ["vkbd", "vfb"]
        vfb = sxp.children(config, "device")
        assert sxp.child_value(list(vfb)[-1][1], "vncdisplay") == "6"


# -- disks --------------------------------------------------------------------------------------

def test_hvm_cdrom_by_format():
    rec1 = hvm_record("(cdrom '/iso/boot.iso')").replace("hda:disk", "ioemu:hda")
    disks = xml_of(rec1, 1).findall("devices/disk")
    assert [(d.get("device"), d.find("target").get("dev")) for d in disks] == \
        [("disk", "hda"), ("cdrom", "hdc")]
    assert xml_of(rec1, 2).find("devices/disk[@device='cdrom']") is None   # format >= 2: vbds
    xml = domain_xml_from_sxpr(rec1, xend_config_format=1)
    assert sxp.child_value(image_of(config_of(xml, 1)), "cdrom") == "/iso/boot.iso"
    vbds = [sxp.child_value(d[1], "dev") for d in sxp.children(config_of(xml, 2), "device")]
    assert vbds == ["hda:disk", "hdc:cdrom"]
    vbds = [sxp.child_value(d[1], "dev") for d in sxp.children(config_of(xml, 1), "device")]
    assert vbds == ["ioemu:hda"]
    with pytest.raises(NoSupportError):   # format 1 has one CD-ROM only, at hdc
        config_of(xml.replace("dev='hdc'", "dev='hdd'"), 1)


def test_format1_record_with_new_style_vbd_names():
    # a ':cdrom' vbd in a format-1 record comes from a newer xend: read it, and make no second
    # hdc from the image's (cdrom ...)
    rec = hvm_record("(cdrom '/iso/a.iso')", devices="(device (vbd (dev 'hdc:cdrom')"
                     "(uname 'file:/iso/a.iso')(mode 'r')))")
    disks = xml_of(rec, 1).findall("devices/disk")
    assert [(d.get("device"), d.find("target").get("dev")) for d in disks] == \
        [("disk", "hda"), ("cdrom", "hdc")]


def test_floppies_live_in_the_image():
    root = xml_of(hvm_record("(fda '/f/a.img')(fdb '/f/b.img')"))
    floppies = root.findall("devices/disk[@device='floppy']")
    assert [f.find("target").attrib for f in floppies] == [{"dev": "fda", "bus": "fdc"},
                                                            {"dev": "fdb", "bus": "fdc"}]
    config = config_of(root)
    assert sxp.child_value(image_of(config), "fda") == "/f/a.img"
    assert all(sxp.child_value(d[1], "dev") != "fda:disk" for d in sxp.children(config, "device"))


def test_disk_modes_drivers_and_bootable_order():
    rec = pv_record(devices="(device (tap (dev 'xvdb')(uname 'tap:qcow2:/q.img')(mode 'w!')))"
                    "(device (tap2 (dev 'xvdc')(uname 'tap:aio:/r.img')(mode 'r')))"
                    "(device (vbd (dev 'sda')(uname 'phy:sdb')(mode 'w')(bootable 1)))")
    root = xml_of(rec)
    disks = root.findall("devices/disk")
    assert [d.find("target").attrib for d in disks] == [
        {"dev": "sda", "bus": "scsi"}, {"dev": "xvda", "bus": "xen"},
        {"dev": "xvdb", "bus": "xen"}, {"dev": "xvdc", "bus": "xen"}]
    assert disks[2].find("shareable") is not None
    assert disks[2].find("driver").attrib == {"name": "tap", "type": "qcow2"}
    assert disks[3].find("driver").attrib == {"name": "tap2", "type": "raw"}
    assert disks[3].find("readonly") is not None
    assert disks[0].get("type") == "block"
    config = config_of(root)
    blocks = [(d[1][0], sxp.child_value(d[1], "uname"), sxp.child_value(d[1], "mode"))
              for d in sxp.children(config, "device")]
    assert blocks == [("vbd", "phy:sdb", "w"), ("vbd", "file:/img", "w"),
                      ("tap", "tap:qcow2:/q.img", "w!"), ("tap2", "tap2:aio:/r.img", "r")]


def test_block_disk_without_driver_and_relative_name():
    xml = ("<domain type='xen'><name>b</name><memory>1024</memory><os><type>linux</type>"
           "<kernel>/k</kernel></os><devices><disk type='block'><source dev='sdb1'/>"
           "<target dev='xvdb'/></disk></devices></domain>")
    dev = sxp.children(config_of(xml, 2), "device")
    assert sxp.child_value(next(dev)[1], "uname") == "phy:/dev/sdb1"


def test_escaping_of_quotes_and_backslashes():
    xml = ("<domain type='xen'><name>it&apos;s</name><memory>1024</memory><os><type>linux"
           "</type><kernel>/k</kernel><cmdline>a=\"b\" c='d' e\\f</cmdline></os><devices>"
           "<disk type='file'><source file='/x/&apos;\\y.img'/><target dev='xvda'/></disk>"
           "</devices></domain>")
    text = domain_xml_to_sxpr(xml)
    assert "(name 'it\\'s')" in text and "(uname 'file:/x/\\'\\\\y.img')" in text
    tree = sxp.parse(text)
    assert sxp.child_value(tree, "name") == "it's"
    root = ET.fromstring(domain_xml_from_sxpr(text.replace("(vm ", "(domain (domid 3)", 1)))
    assert root.findtext("name") == "it's"
    assert root.findtext("os/cmdline") == "a=\"b\" c='d' e\\f"
    assert root.find("devices/disk/source").get("file") == "/x/'\\y.img"


# -- interfaces ---------------------------------------------------------------------------------

def test_interface_details_round_trip():
    rec = pv_record(devices="(device (vif (mac '00:16:3E:AA:BB:CC')(bridge 'br0')"
                    "(script 'vif-bridge')(ip '10.0.0.2')(vifname 'web0')(model 'e1000')"
                    "(rate '10MB/s')))(device (vif (mac '00:16:3e:00:00:01')(script 'my-script')))")
    root = xml_of(rec)
    nets = root.findall("devices/interface")
    assert nets[0].get("type") == "bridge" and nets[1].get("type") == "ethernet"
    assert nets[0].find("mac").get("address") == "00:16:3e:aa:bb:cc"
    assert nets[0].find("ip").get("address") == "10.0.0.2"
    assert nets[0].find("target").get("dev") == "web0"
    assert nets[0].find("bandwidth/outbound").get("average") == "10240"
    assert nets[1].find("target").get("dev") == "vif6.1"
    config = config_of(root)
    vif = next(sxp.children(config, "device"), None)
    vifs = [d[1] for d in sxp.children(config, "device") if d[1][0] == "vif"]
    assert vifs[0] == ["vif", ["mac", "00:16:3e:aa:bb:cc"], ["rate", "10240KB/s"],
                       ["bridge", "br0"], ["script", "vif-bridge"], ["ip", "10.0.0.2"],
                       ["vifname", "web0"], ["model", "e1000"]]
    assert vifs[1] == ["vif", ["mac", "00:16:3e:00:00:01"], ["script", "my-script"]]
    assert vif is not None


@pytest.mark.parametrize("fmt, has_ioemu", [(1, True), (3, True), (4, False)])
def test_hvm_vif_type_ioemu_by_format(fmt, has_ioemu):
    rec = hvm_record(devices="(device (vif (mac '00:16:3e:00:00:02')(bridge 'br0')))"
                     "(device (vif (mac '00:16:3e:00:00:03')(bridge 'br0')(type netfront)))")
    root = xml_of(rec, fmt)
    assert root.findall("devices/interface")[1].find("model").get("type") == "netfront"
    vifs = [d[1] for d in sxp.children(config_of(root, fmt), "device") if d[1][0] == "vif"]
    assert (sxp.child(vifs[0], "type") == ["type", "ioemu"]) is has_ioemu
    assert sxp.child(vifs[1], "type") == ["type", "netfront"]


def test_virtual_network_needs_a_resolver():
    xml = ("<domain type='xen'><name>n</name><memory>1024</memory><os><type>linux</type>"
           "<kernel>/k</kernel></os><devices><interface type='network'>"
           "<source network='default'/><mac address='00:16:3e:00:00:09'/></interface>"
           "</devices></domain>")
    with pytest.raises(NoSupportError):
        domain_xml_to_sxpr(xml)
    text = domain_xml_to_sxpr(xml, network_bridge=lambda name: {"default": "virbr0"}[name])
    assert "(bridge 'virbr0')(script 'vif-bridge')" in text


# -- os, clock, cpus, misc ----------------------------------------------------------------------

def test_hvm_direct_kernel_boot():
    rec = ("(domain (domid 2)(name 'k')(memory 400)(maxmem 400)(vcpus 1)(uuid '" + UUID + "')"
           "(image (hvm (loader '/usr/lib/xen/boot/hvmloader')(kernel '/boot/vmlinuz')"
           "(ramdisk '/boot/initrd')(args 'console=ttyS0')(boot c))))")
    root = xml_of(rec)
    assert root.findtext("os/loader") == "/usr/lib/xen/boot/hvmloader"
    assert root.findtext("os/kernel") == "/boot/vmlinuz"
    assert root.find("os/boot") is None
    image = image_of(config_of(root))
    assert [c[0] for c in image[1:6]] == ["kernel", "ramdisk", "args", "loader", "vcpus"]


def test_bootloader_forms():
    rec = ("(domain (domid 7)(name 'b')(memory 256)(maxmem 256)(vcpus 1)(uuid '" + UUID + "')"
           "(bootloader)(image (linux (args 'single'))))")
    root = xml_of(rec)
    assert root.find("bootloader") is not None and root.find("bootloader").text is None
    config = config_of(root, 2)
    assert sxp.child(config, "bootloader") == ["bootloader"]
    assert image_of(config) == ["linux", ["args", "single"]]
    assert sxp.child(config_of(root, 4), "image") == ["image", ["linux", ["args", "single"],
                                                                ["localtime", "0"]]]


@pytest.mark.parametrize("fmt", [1, 2, 3, 4])
def test_hvm_clock_by_format(fmt):
    rec = hvm_record("(localtime 1)(rtc_timeoffset 3600)(hpet 0)")
    clock = xml_of(rec, fmt).find("clock")
    if fmt < 4:
        assert clock.attrib == {"offset": "localtime", "adjustment": "reset"}
    else:
        assert clock.attrib == {"offset": "variable", "adjustment": "3600", "basis": "localtime"}
    assert clock.find("timer").attrib == {"name": "hpet", "present": "no"}
    if fmt == 4:
        config = config_of(xml_of(rec, 4), 4)
        image = image_of(config)
        assert sxp.child_value(image, "rtc_timeoffset") == "3600"
        assert sxp.child_value(image, "localtime") == "1"
        assert sxp.child_value(config, "localtime") == "1"
        assert sxp.child_value(image, "hpet") == "0"
        with pytest.raises(NoSupportError):   # variable offsets need xend 3.1
            config_of(xml_of(rec, 4), 3)
    else:
        with pytest.raises(NoSupportError):   # adjustment='reset' is not for xend 3.1 HVM
            config_of(xml_of(rec, fmt), 4)


def test_features_sound_usb_cpus_description():
    rec = hvm_record("(acpi 1)(apic 0)(pae 1)(hap 1)(viridian 1)(usbdevice tablet)"
                     "(soundhw all)", top="(vcpu_avail 1)(cpus '0-3,^2')(description 'a & b')")
    root = xml_of(rec)
    assert [f.tag for f in root.find("features")] == ["acpi", "pae", "hap", "viridian"]
    assert [s.get("model") for s in root.findall("devices/sound")] == ["sb16", "es1370"]
    assert root.find("vcpu").attrib == {"placement": "static", "cpuset": "0-1,3",
                                        "current": "1"}
    assert root.findtext("description") == "a & b"
    inputs = [(i.get("type"), i.get("bus")) for i in root.findall("devices/input")]
    assert inputs == [("tablet", "usb")]   # no graphics: no implicit PS/2 devices
    config = config_of(root)
    image = image_of(config)
    assert sxp.child_value(image, "soundhw") == "sb16,es1370"
    assert sxp.child_value(image, "usbdevice") == "tablet"
    assert sxp.child_value(config, "cpus") == "0-1,3"
    assert sxp.child_value(config, "vcpu_avail") == "1"
    assert sxp.child_value(image, "vcpu_avail") == "1"


def test_pci_passthrough_both_ways():
    rec = pv_record(devices="(device (pci (dev (domain 0x0001)(bus 0x0c)(slot 0x1b)(func 0x2))))")
    addr = xml_of(rec).find("devices/hostdev/source/address")
    assert addr.attrib == {"domain": "0x0001", "bus": "0x0c", "slot": "0x1b", "function": "0x2"}
    pci = [d[1] for d in sxp.children(config_of(xml_of(rec)), "device") if d[1][0] == "pci"]
    assert pci == [["pci", ["dev", ["domain", "0x0001"], ["bus", "0x0c"], ["slot", "0x1b"],
                            ["func", "0x2"]]]]


def test_dom0_and_inactive_records():
    dom0 = ("(domain (domid 0)(name 'Domain-0')(memory 1024)(maxmem 2048)(vcpus 2)"
            "(uuid '00000000-0000-0000-0000-000000000000'))")
    root = xml_of(dom0, 2)
    assert root.get("id") == "0" and root.find("devices/console") is None
    inactive = pv_record().replace("(domid 6)", "")
    root = xml_of(inactive, 3)
    assert root.get("id") is None
    with pytest.raises(SexprError):
        xml_of(inactive, 2)
    # a (vm ...) config is read as an inactive definition in any format
    assert xml_of(domain_xml_to_sxpr(domain_xml_from_sxpr(pv_record())), 1).get("id") is None


def test_memory_units_and_rounding():
    xml = ("<domain type='xen'><name>m</name><memory unit='MiB'>1000</memory>"
           "<currentMemory unit='b'>1000000</currentMemory><os><type>linux</type>"
           "<kernel>/k</kernel></os></domain>")
    config = config_of(xml)
    assert sxp.child_value(config, "maxmem") == "1000"
    assert sxp.child_value(config, "memory") == "1"   # 977 KiB rounded up to 1 MiB


# -- output style -------------------------------------------------------------------------------

def test_xml_output_style():
    text = domain_xml_from_sxpr(hvm_record("(vnc 1)(serial pty)(acpi 1)"))
    assert text.endswith("</domain>\n") and not text.endswith("\n\n")
    assert '"' not in text   # single-quoted attributes
    root = ET.fromstring(text)
    assert [c.tag for c in root] == ["name", "uuid", "memory", "currentMemory", "vcpu", "os",
                                     "features", "clock", "on_poweroff", "on_reboot",
                                     "on_crash", "devices"]
    assert [c.tag for c in root.find("devices")] == [
        "emulator", "disk", "serial", "console", "input", "input", "graphics", "memballoon"]
    assert root.find("memory").get("unit") == "KiB"


def test_sxpr_output_style():
    assert show_libvirt(["vm", ["name", Q("x")], ["memory", "1"], ["device", ["vkbd"]],
                         ["serial", ["a", "b"]], ["bootloader"]]) == \
        "(vm (name 'x')(memory 1)(device (vkbd))(serial (a b))(bootloader))"
    assert show_libvirt(["k", "needs quoting"]) == "(k 'needs quoting')"


def test_facts_agree_for_a_rich_record():
    rec = hvm_record("(acpi 1)(vnc 1)(vncunused 0)(vncdisplay 7)(keymap 'fr')(serial pty)"
                     "(usbdevice mouse)", devices="(device (vif (mac '00:16:3e:00:00:02')"
                     "(bridge 'br0')(script 'vif-bridge')))")
    for fmt in (2, 3, 4):
        xml = domain_xml_from_sxpr(rec, xend_config_format=fmt)
        assert compare_facts(facts_from_xml(xml), facts_from_sxpr(rec)) == []
        config = domain_xml_to_sxpr(xml, xend_config_format=fmt)
        assert compare_facts(facts_from_sxpr(config), facts_from_sxpr(rec)) == []
