"""The host facts builders (driver/nodefacts.py), checked against libvirt's Xen driver rules.

The cases mirror libvirt's tests/xencapsdata (capability strings and the guests libvirt derives
from them); the expectations are written out here, not copied.
"""

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from xvirt.driver import nodefacts as nf

# CPUID words as Xen's hw_caps: leaf1 EDX : 80000001 EDX : transmeta : linux : leaf1 ECX : via : 80000001 ECX
SVM_CPU = "178bfbff:ebd3fbff:00000000:00000010:00002001:00000000:0000001f:00000000"   # AMD: PAE + SVM
PAE_ONLY = "afe9fbff:00000000:00000000:00000000:00000000"                             # no VMX, no SVM
NO_PAE = "afe9fbbf:00000000:00000000:00000000:00000000"


def node(caps, hw_caps=SVM_CPU, machine="x86_64", major=3, minor=0, **extra):
    rec = ["node", ["machine", machine], ["xen_major", str(major)], ["xen_minor", str(minor)],
           ["xen_caps", caps], ["hw_caps", hw_caps]]
    return rec + [[k, v] for k, v in extra.items()]


def guests(xml):
    root = ET.fromstring(xml)
    return [(g.findtext("os_type"), g.find("arch").get("name"), g.findtext("arch/wordsize"),
             g.findtext("arch/emulator"), g.findtext("arch/loader"), g.findtext("arch/machine"),
             [(f.tag, f.get("default"), f.get("toggle")) for f in g.findall("features/*")])
            for g in root.findall("guest")]


def test_x86_64_host_with_hvm_as_libvirt_builds_it():
    """libvirt's xen-x86_64-hvm case: one PV x86_64 guest, HVM i686 (pae + nonpae merged), HVM x86_64."""
    xml = nf.capabilities_xml(node("xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"))
    root = ET.fromstring(xml)
    assert root.findtext("host/cpu/arch") == "x86_64"
    assert [f.tag for f in root.find("host/cpu/features")] == ["svm"]
    assert root.find("host/power_management") is not None and root.find("host/migration_features/live") is not None
    qemu = "/usr/lib64/xen/bin/qemu-dm"
    hvmloader = "/usr/lib/xen/boot/hvmloader"
    toggles = [("acpi", "on", "yes"), ("apic", "on", "yes")]
    assert guests(xml) == [
        ("xen", "x86_64", "64", qemu, None, "xenpv", []),
        ("hvm", "i686", "32", qemu, hvmloader, "xenfv", [("pae", None, None), ("nonpae", None, None), *toggles]),
        ("hvm", "x86_64", "64", qemu, hvmloader, "xenfv", toggles),
    ]
    assert "<arch name='x86_64'>" in xml and "<domain type='xen'/>" in xml   # libvirt's quoting


def test_i686_pae_host_pv_only():
    xml = nf.capabilities_xml(node("xen-3.0-x86_32p", hw_caps=PAE_ONLY, machine="i686"))
    assert [f.tag for f in ET.fromstring(xml).find("host/cpu/features")] == ["pae"]
    assert guests(xml) == [("xen", "i686", "32", "/usr/lib/xen/bin/qemu-dm", None, "xenpv", [("pae", None, None)])]


def test_host_without_pae_or_hvm_has_no_feature_list():
    xml = nf.capabilities_xml(node("xen-3.0-x86_32", hw_caps=NO_PAE, machine="i686"))
    assert ET.fromstring(xml).find("host/cpu/features") is None
    assert guests(xml)[0][-1] == [("nonpae", None, None)]


def test_ia64_big_endian_and_unknown_tokens():
    xml = nf.capabilities_xml(node("xen-3.0-ia64 xen-3.0-ia64be hvm-3.0-ia64 bogus xen-3.0-arm", machine="ia64"))
    assert [(g[0], g[1], g[-1]) for g in guests(xml)] == [
        ("xen", "ia64", [("ia64_be", None, None)]),
        ("hvm", "ia64", [("acpi", "on", "yes"), ("apic", "on", "yes")])]


def test_newer_xen_adds_hap_and_viridian():
    feats = guests(nf.capabilities_xml(node("hvm-3.4-x86_64", major=3, minor=4)))[0][-1]
    assert ("hap", "on", "yes") in feats and ("viridian", "off", "yes") in feats
    feats = guests(nf.capabilities_xml(node("hvm-4.1-x86_64", major=4, minor=1)))[0][-1]
    assert ("apic", "on", "no") in feats      # libvirt: apic stops toggling for Xen > 3.x.0


def test_numa_topology_from_node_to_cpu():
    xml = nf.capabilities_xml(node("xen-3.0-x86_64", node_to_cpu="node0:0-1,4\nnode1:2-3\nnode2:no cpus"))
    cells = ET.fromstring(xml).findall("host/topology/cells/cell")
    assert [(c.get("id"), c.find("cpus").get("num"), [x.get("id") for x in c.findall("cpus/cpu")])
            for c in cells] == [("0", "3", ["0", "1", "4"]), ("1", "2", ["2", "3"]), ("2", "0", [])]
    assert ET.fromstring(nf.capabilities_xml(node("xen-3.0-x86_64"))).find("host/topology") is None


@given(st.text(max_size=200))
def test_node_to_cpu_parser_never_raises(text):
    cells = nf.parse_node_to_cpu(text)
    assert cells is None or all(isinstance(c, list) for c in cells)


def test_cells_of_node():
    assert nf.cells_of_node(["node"], 4096) == [4096]
    assert nf.cells_of_node(["node", ["node_to_memory", "node0:100\nnode1:28"]], 0) == [100 * 1024, 28 * 1024]


def test_sysinfo_escapes_and_skips_missing():
    xml = nf.sysinfo_xml({"sys_vendor": "A&B", "product_uuid": "", "bios_date": "01/02/2006"})
    root = ET.fromstring(xml)
    assert root.find("bios/entry").text == "01/02/2006"
    assert [(e.get("name"), e.text) for e in root.findall("system/entry")] == [("manufacturer", "A&B")]
