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
