"""defineXML -> XMLDesc through the simulated host for every create-config pair of libvirt's corpus,
and hostile XML refused with code 27 leaving nothing defined."""

import csv

import pytest

import xvirt
from xvirt.domxml.facts import compare_facts, facts_from_xml
from xvirt.errors import XMLError
from xvirt.testing import sim_host


@pytest.fixture(scope="module")
def host():
    with sim_host(domains=2) as h:
        yield h


def create_config_pairs(corpus_dir):
    folder = corpus_dir / "xend-sexpr" / "create-config"
    with open(folder / "CASES.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["xml_file"]]
    assert len(rows) == 33
    return [(r["case"], (folder / r["xml_file"]).read_text()) for r in rows]


def test_define_then_xmldesc_keeps_the_facts_of_every_pair(host, corpus_dir):
    failures = {}
    with xvirt.open(host.uri) as conn:
        before = set(conn.list_defined_domains())
        for case, xml in create_config_pairs(corpus_dir):
            dom = conn.define_xml(xml)
            try:
                assert dom.id == -1 and dom.is_persistent()
                diffs = compare_facts(facts_from_xml(xml), facts_from_xml(dom.xml_desc()))
                if diffs:
                    failures[case] = diffs
            finally:
                dom.undefine()
        assert set(conn.list_defined_domains()) == before
    assert failures == {}


HOSTILE = {
    "billion laughs": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                      '<domain type="xen"><name>&b;</name></domain>',
    "external entity": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       '<domain type="xen"><name>&x;</name></domain>',
    "missing name": "<domain type='xen'><memory>1024</memory><os><type>linux</type><kernel>/k</kernel></os></domain>",
    "bad uuid": "<domain type='xen'><name>x</name><uuid>not-a-uuid</uuid><memory>1024</memory>"
                "<os><type>linux</type><kernel>/k</kernel></os></domain>",
    "bad memory": "<domain type='xen'><name>x</name><memory>lots</memory><os><type>linux</type>"
                  "<kernel>/k</kernel></os></domain>",
    "unknown disk type": "<domain type='xen'><name>x</name><memory>1024</memory><os><type>linux</type>"
                         "<kernel>/k</kernel></os><devices><disk type='weird' device='disk'>"
                         "<source file='/f'/><target dev='xvda'/></disk></devices></domain>",
    "not xml": "<domain",
    "oversized": "<domain type='xen'><name>x</name><description>" + "a" * (2 << 20) + "</description></domain>",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_xml_is_refused_and_defines_nothing(host, case):
    with xvirt.open(host.uri) as conn:
        before = {d.uuid for d in conn.list_all_domains()}
        with pytest.raises(XMLError) as ei:
            conn.define_xml(HOSTILE[case])
        assert ei.value.get_error_code() == 27
        assert {d.uuid for d in conn.list_all_domains()} == before
