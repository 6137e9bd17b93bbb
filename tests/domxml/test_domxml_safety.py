"""Hostile and malformed input: XML bombs, XXE, size/depth limits, invalid values, bad records.

Every failure must be a libvirt-numbered error (XMLError 27 / SexprError 13 / NoSupportError /
InvalidArgError) with a message naming what is wrong, never a raw Python exception. The mutation
tests also judge what is accepted: it must convert to something with the input's facts that
converts back to them (each allowance for a rule of the XenD formats is listed where it is made).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from domxml_corpus import CORPUS, corpus_dir
from xvirt.domxml import (domain_xml_from_native, domain_xml_from_sxpr, domain_xml_to_native,
                          domain_xml_to_sxpr)
from xvirt.domxml import facts_from_sxpr, facts_from_xml
from xvirt.domxml.facts import compare_facts
from xvirt.domxml.safexml import MAX_XML_SIZE, parse_xml
from xvirt.protocol import sxp
from xvirt.errors import (ErrorCode, ErrorDomain, InvalidArgError, LibvirtError, NoSupportError,
                          SexprError, XMLError)

GOOD = """<domain type='xen'>
  <name>pv</name>
  <uuid>596a5d21-71f4-8fb2-e068-e2386a5c413e</uuid>
  <memory unit='KiB'>430080</memory>
  <os><type>linux</type><kernel>/boot/vmlinuz</kernel></os>
  <devices>
    <disk type='file' device='disk'><source file='/img'/><target dev='xvda'/></disk>
  </devices>
</domain>"""


def _xml_error(text) -> XMLError:
    with pytest.raises(XMLError) as info:
        domain_xml_to_sxpr(text)
    err = info.value
    assert err.code == ErrorCode.XML_ERROR == 27
    assert err.domain == ErrorDomain.XML
    return err


def test_good_document_converts():
    assert domain_xml_to_sxpr(GOOD).startswith("(vm (name 'pv')")


# -- entity attacks -----------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<domain type='xen'><name>&lol9;</name><memory>1024</memory><os><type>hvm</type></os></domain>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE domain [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<domain type='xen'><name>&xxe;</name><memory>1024</memory></domain>"""

XXE_PARAM = """<?xml version="1.0"?>
<!DOCTYPE domain [ <!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd"> %remote; ]>
<domain type='xen'><name>x</name></domain>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE domain SYSTEM "http://127.0.0.1:1/domain.dtd">
<domain type='xen'><name>x</name></domain>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE, XXE_PARAM, EXTERNAL_DTD],
                         ids=["billion-laughs", "xxe-file", "xxe-parameter-entity", "external-dtd"])
def test_entity_attacks_are_refused(doc):
    err = _xml_error(doc)
    assert "entities are not allowed" in err.message


def test_doctype_refused_even_when_hidden_by_an_encoding():
    # UTF-16 bytes do not contain the ASCII "<!DOCTYPE": the expat handlers must still refuse it
    data = XXE.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    err = _xml_error(data.encode("utf-16"))
    assert "not allowed" in err.message


def test_undeclared_entity_is_an_error():
    err = _xml_error(GOOD.replace("<name>pv</name>", "<name>&boom;</name>"))
    assert "undefined entity" in err.message


def test_oversized_input():
    big = GOOD.replace("<name>pv</name>", "<name>pv</name><description>" + "x" * MAX_XML_SIZE +
                       "</description>")
    err = _xml_error(big)
    assert "exceeds the limit" in err.message


def test_deep_nesting():
    deep = GOOD.replace("</devices>", "<a>" * 100 + "</a>" * 100 + "</devices>")
    err = _xml_error(deep)
    assert "nested deeper" in err.message


@pytest.mark.parametrize("doc", ["", "not xml", "<domain type='xen'><name>x</name>",
                                 "<domain type='xen'></domain><domain/>"],
                         ids=["empty", "text", "unclosed", "two-roots"])
def test_malformed_xml(doc):
    err = _xml_error(doc)
    assert "malformed XML" in err.message or "no root" in err.message


def test_non_text_input():
    with pytest.raises(XMLError):
        parse_xml(12345)


# -- invalid values name the element ------------------------------------------------------------

@pytest.mark.parametrize("change, element", [
    (("<name>pv</name>", ""), "<name>"),
    (("<name>pv</name>", "<name>  </name>"), "<name>"),
    (("596a5d21-71f4-8fb2-e068-e2386a5c413e", "not-a-uuid"), "<uuid>"),
    (("596a5d21-71f4-8fb2-e068-e2386a5c413e", "596a5d2171f48fb2e068e2386a5c41"), "<uuid>"),
    (("430080</memory>", "lots</memory>"), "<memory>"),
    (("430080</memory>", "-5</memory>"), "<memory>"),
    (("unit='KiB'", "unit='parsecs'"), "<memory>"),
    (("<memory unit='KiB'>430080</memory>", ""), "<memory>"),
    (("<disk type='file'", "<disk type='network'"), "<disk>"),
    (("device='disk'", "device='tape'"), "<disk>"),
    (("<target dev='xvda'/>", ""), "<disk>"),
    (("<type>linux</type>", "<type>exe</type>"), "<os><type>"),
    (("<type>linux</type>", ""), "<os>"),
    (("</os>", "</os><vcpu>many</vcpu>"), "<vcpu>"),
    (("</os>", "</os><on_crash>explode</on_crash>"), "<on_crash>"),
    (("</devices>", "<interface type='bridge'><mac address='zz'/><source bridge='b'/>"
                    "</interface></devices>"), "<mac>"),
    (("</devices>", "<graphics type='spice'/></devices>"), "<graphics>"),
    (("</devices>", "<sound model='gus'/></devices>"), "<sound>"),
    (("</devices>", "<serial type='tcp'><target port='0'/></serial></devices>"), "<serial"),
    (("type='xen'", "type='kvm'"), "<domain>"),
    (("<source file='/img'/>", "<driver name='ph'/><source file='/img'/>"), "<disk><driver>"),
])
def test_invalid_values_name_the_element(change, element):
    err = _xml_error(GOOD.replace(*change))
    assert element in err.message, err.message


def test_wrong_root_element():
    err = _xml_error("<network><name>x</name></network>")
    assert "<network>" in err.message


# -- things XenD cannot express -----------------------------------------------------------------

@pytest.mark.parametrize("change, words", [
    (("</devices>", "<hostdev mode='subsystem' type='pci' managed='yes'><source><address "
                    "domain='0' bus='1' slot='2' function='3'/></source></hostdev></devices>"),
     "managed PCI"),
    (("</devices>", "<interface type='network'><source network='default'/></interface>"
                    "</devices>"), "network"),
    (("</os>", "</os><clock offset='variable' adjustment='10'/>"), "clock offset"),
])
def test_unsupported_configurations(change, words):
    with pytest.raises(NoSupportError) as info:
        domain_xml_to_sxpr(GOOD.replace(*change), xend_config_format=2)
    assert words in info.value.message


# -- malformed S-expression records -------------------------------------------------------------

REC = ("(domain (domid 6)(name 'pv')(memory 420)(maxmem 420)(vcpus 2)"
       "(uuid '596a5d2171f48fb2e068e2386a5c413e')(image (linux (kernel '/k')))"
       "(device (vbd (dev 'xvda')(uname 'file:/img')(mode 'w'))))")


@pytest.mark.parametrize("record, words", [
    ("(domain (name 'x'", "unexpected EOF"),
    ("", "empty input"),
    ("atom", "expected a list"),
    ("(node (name x))", "expected (domain ...)"),
    (REC.replace("(name 'pv')", ""), "missing (name"),
    (REC.replace("(uuid '596a5d2171f48fb2e068e2386a5c413e')", ""), "missing (uuid"),
    (REC.replace("596a5d2171f48fb2e068e2386a5c413e", "xyz"), "malformed (uuid"),
    (REC.replace("(memory 420)(maxmem 420)", "(memory lots)"), "(memory"),
    (REC.replace("(domid 6)", ""), "domid"),
    (REC.replace("(image (linux (kernel '/k')))", ""), "kernel"),
    (REC.replace("(dev 'xvda')", ""), "no (dev"),
    (REC.replace("file:/img", "noprefix"), "missing driver name"),
    (REC.replace("(kernel '/k')", "(kernel '/k')") .replace("(image (linux",
     "(image (hvm (serial 'bogus:thing')"), "serial"),
    (REC.replace("(on_", "(x_").replace("(vcpus 2)", "(vcpus 2)(on_crash 'explode')"),
     "lifecycle"),
    (REC.replace("(mode 'w')", "(mode 'w')))(device (vfb (type spice)"), "graphics type"),
    # found by the mutation tests: each used to convert to XML that did not convert back
    (REC.replace("file:/img", "ph:/img"), "unknown driver 'ph'"),
    (REC.replace("(dev 'xvda')", "(dev 'xvda ')"), "invalid disk target"),
    (REC.replace("(kernel '/k')", "(kernel '/k')(args 'a\\bc')"), "U+0008"),
    (REC.replace("(memory 420)", "(memory 0)"), "must be positive"),
    (REC[:-1] + "(device (vif (bridge xenbr0))))", "no (mac"),
    (REC.replace("(image (linux (kernel '/k')))", "(image (hvm (loader '')(kernel '')))"), "HVM loader"),
])
def test_malformed_records(record, words):
    with pytest.raises(SexprError) as info:
        domain_xml_from_sxpr(record, xend_config_format=2)
    assert info.value.code == ErrorCode.SEXPR_SERIAL
    assert words in info.value.message, info.value.message


def test_empty_cdrom_drive_cannot_be_said_in_format_1():
    xml = GOOD.replace("<type>linux</type><kernel>/boot/vmlinuz</kernel>",
                       "<type>hvm</type><loader>/usr/lib/xen/boot/hvmloader</loader>").replace(
        "</devices>", "<disk type='file' device='cdrom'><target dev='hdc'/></disk></devices>")
    with pytest.raises(NoSupportError, match="empty CD-ROM"):
        domain_xml_to_sxpr(xml, xend_config_format=1)
    assert "(dev 'hdc:cdrom')" in domain_xml_to_sxpr(xml, xend_config_format=2)


def test_bridge_without_source_is_xends_default_bridge_both_ways():
    rec = REC[:-1] + "(device (vif (mac '00:16:3e:00:00:01')(script 'vif-bridge'))))"
    xml = domain_xml_from_sxpr(rec, xend_config_format=4)
    assert "<interface type='bridge'>" in xml and "<source" not in xml.split("<interface")[1]
    config = domain_xml_to_sxpr(xml)
    assert "(script 'vif-bridge')" in config and "(bridge" not in config
    assert not compare_facts(facts_from_sxpr(config), facts_from_sxpr(rec))


def test_record_not_utf8():
    with pytest.raises(SexprError):
        domain_xml_from_sxpr(b"(domain (name '\xff'))")


def test_bad_format_number():
    with pytest.raises(SexprError):
        domain_xml_from_sxpr(REC, xend_config_format=7)
    with pytest.raises(NoSupportError):
        domain_xml_to_sxpr(GOOD, xend_config_format=0)


def _mutations(text: str, rng: random.Random, n: int):
    alphabet = "()' \\\"x:0-/\n#"
    for _ in range(n):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(chars) or 1)
            if op < 0.4 and chars:
                del chars[pos]
            elif op < 0.8:
                chars.insert(pos, rng.choice(alphabet))
            elif chars:
                chars[pos] = rng.choice(alphabet)
        yield "".join(chars)


PROMISE_RECORD = ("a damaged record is refused with SexprError (VIR_ERR_SEXPR_SERIAL, 13) or converted "
                  "to XML that says what the record says and converts back to the same facts")
PROMISE_XML = ("damaged XML is refused with XMLError (VIR_ERR_XML_ERROR, 27) or converted to a config "
               "that says what the XML says and converts back to the same facts")


def _by_position(facts: dict) -> dict:
    """Interfaces keyed by position: an interface without a MAC gets one generated on the way
    to XenD (libvirt's virDomainNetGenerateMAC), so a MAC cannot identify it on both sides."""
    nets = facts.get("interfaces")
    if not isinstance(nets, dict):
        return facts
    return {**facts, "interfaces": {f"#{i}": {**v, "mac": k} for i, (k, v) in enumerate(nets.items())}}


def _no_vif_names(facts: dict) -> dict:
    """``vif<domid>.<n>`` interface names are derived from the domain id and never written to
    XenD (libvirt writes (vifname) only for names not starting with "vif")."""
    nets = facts.get("interfaces")
    if not isinstance(nets, dict):
        return facts
    return {**facts, "interfaces": {k: {**v, "ifname": None} if str(v.get("ifname")).startswith("vif") else v
                                    for k, v in nets.items()}}


def _same_facts(a: dict, b: dict, promise: str, text: str, what: str, fmt: int = 4) -> None:
    a, b = _no_vif_names(a), _no_vif_names(b)
    if any(k.startswith("#") for k in (b.get("interfaces") or {})):
        a, b = _by_position(a), _by_position(b)
        b = {**b, "interfaces": {k: {**v, "mac": None} for k, v in b["interfaces"].items()}}
    diffs = compare_facts(a, b)
    if fmt == 1:  # a format-1 record has no VNC port of its own: libvirt showed 5900 + domid
        diffs = [d for d in diffs if not d.startswith(("graphics.vnc.port", "graphics.vnc.autoport"))]
    assert not diffs, f"promise broken: {promise}; {what} differ (format {fmt}): {diffs}\ninput:\n{text}"


def test_mutated_records_fail_cleanly():
    """Random damage to real records: a SexprError (13), or XML with the record's facts whose
    create config has them too. Never another error, never a conversion that changed a fact."""
    rng = random.Random(20061109)
    folder = corpus_dir() / "domain-get"
    outcome = Counter()
    for path in sorted(folder.glob("*.sexpr")):
        for text in _mutations(path.read_text(), rng, 40):
            for fmt in (1, 2, 4):
                try:
                    xml = domain_xml_from_sxpr(text, xend_config_format=fmt)
                except SexprError as e:
                    assert e.code == ErrorCode.SEXPR_SERIAL == 13, (PROMISE_RECORD, repr(e))
                    outcome["refused"] += 1
                    continue
                except LibvirtError as e:
                    raise AssertionError(f"promise broken: {PROMISE_RECORD}; got {e!r}\ninput:\n{text}") from None
                outcome["converted"] += 1
                want = facts_from_sxpr(text, fmt)
                _same_facts(facts_from_xml(xml), want, PROMISE_RECORD, text, "record and XML facts", fmt)
                try:
                    config = domain_xml_to_sxpr(xml, xend_config_format=fmt)
                except NoSupportError:
                    outcome["no config"] += 1  # e.g. a managed PCI device: XenD cannot be told
                    continue
                _same_facts(facts_from_sxpr(config, fmt), want, PROMISE_RECORD, text, "record and config facts", fmt)
    assert outcome["converted"] > 100 and outcome["refused"] > 100, outcome


def test_mutated_xml_fails_cleanly():
    """Random damage to real XML: an XMLError (27), or a config with the document's facts whose
    XML has them too. NoSupportError only for what XenD cannot express."""
    rng = random.Random(20080508)
    folder = corpus_dir() / "create-config"
    outcome = Counter()
    for path in sorted(folder.glob("*.xml")):
        for text in _mutations(path.read_text(), rng, 40):
            for fmt in (1, 4):
                try:
                    config = domain_xml_to_sxpr(text, xend_config_format=fmt)
                except XMLError as e:
                    assert e.code == ErrorCode.XML_ERROR == 27, (PROMISE_XML, repr(e))
                    outcome["refused"] += 1
                    continue
                except NoSupportError:
                    outcome["unsupported"] += 1
                    continue
                except LibvirtError as e:
                    raise AssertionError(f"promise broken: {PROMISE_XML}; got {e!r}\ninput:\n{text}") from None
                outcome["converted"] += 1
                want = facts_from_xml(text)
                _same_facts(facts_from_sxpr(config, fmt), _in_mib(want), PROMISE_XML, text, "XML and config facts", fmt)
                record = _as_record(config, fmt)
                _same_facts(facts_from_xml(domain_xml_from_sxpr(record, xend_config_format=fmt)), _in_mib(want),
                            PROMISE_XML, text, "XML and re-converted XML facts", fmt)
    assert outcome["converted"] > 100 and outcome["refused"] > 100, outcome


def _in_mib(facts: dict) -> dict:
    """XenD keeps memory in MiB: libvirt rounds KiB up to whole MiB (xen_sxpr.c VIR_DIV_UP)."""
    return {k: (-(-v // 1024) * 1024 if k.endswith("memory_kib") and isinstance(v, int) else v)
            for k, v in facts.items()}


def _as_record(config: str, fmt: int) -> str:
    """The ``(domain ...)`` record XenD shows for a domain made from ``config`` (running, with an
    id, below format 3, where libvirt read only running domains' records)."""
    tree = sxp.parse(config)
    return sxp.show(["domain"] + ([["domid", "1"]] if fmt < 3 else []) + tree[1:])


# -- the libvirt-style native-format entry points -----------------------------------------------

def test_native_format_names():
    record = (CORPUS / "domain-get" / "sexpr2xml-pv.sexpr").read_text()
    assert "<name>pvtest</name>" in domain_xml_from_native("xen-sxpr", record,
                                                           xend_config_format=2)
    assert domain_xml_to_native("xen-sxpr", GOOD).startswith("(vm ")
    with pytest.raises(NoSupportError) as info:
        domain_xml_from_native("vmware-vmx", record)
    assert "vmware-vmx" in info.value.message and "xen-sxpr" in info.value.message
    with pytest.raises(NoSupportError):
        domain_xml_to_native("qemu-argv", GOOD)
    with pytest.raises(InvalidArgError):
        domain_xml_to_native(None, GOOD)
    with pytest.raises(InvalidArgError):
        domain_xml_from_native("xen-sxpr", 42)


def test_fact_extractors_fail_cleanly():
    from xvirt.domxml import facts_from_sxpr, facts_from_xml
    with pytest.raises(SexprError):
        facts_from_sxpr("(domain (name x)(memory lots))")
    with pytest.raises(SexprError):
        facts_from_sxpr("atom")
    with pytest.raises(XMLError):
        facts_from_xml("<domain type='xen'><memory>lots</memory></domain>")
    with pytest.raises(XMLError):
        facts_from_xml(BILLION_LAUGHS)
