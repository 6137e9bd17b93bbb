"""libvirt's own sexpr2xml / xml2sexpr test pairs (tests/data/corpus/xend-sexpr), both directions.

Checks per pair (see domxml_normalise.py for the explicit era rules):

* domain-get (XenD record -> XML): ``exact`` pairs must be equal as canonical XML after the era
  normalisation; ``nearest`` pairs must agree on every fact both documents carry. <console>,
  <input> and <memballoon> of every pair (exact and nearest) must equal libvirt's after only the
  rules of the expected document's era (X5 in domxml_normalise.py). Every pair is
  also checked for fact agreement between the record and the expected XML (the extractor itself),
  and round-tripped: record -> XML -> create config must keep the record's facts.
* create-config (XML -> ``(vm ...)``): every pair must be equal as a parsed S-expression tree after
  the S1/S2 era rules (``exact`` and ``nearest`` alike), and agree on facts; round trip: XML ->
  config -> XML keeps the input's facts. ``pv`` and ``pv-vfb-new`` have no XML in the corpus:
  their configs must parse, and are checked against substitute inputs from the corpus.

Informational counts (not asserted) go to the end-of-run report: raw canonical equality with no
normalisation, byte-identical configs.
"""

from __future__ import annotations

import difflib

import pytest

from domxml_corpus import corpus_dir, pair_params, record
from domxml_normalise import (canonical_xml, document_era, era_uncarried_facts, normalise_sxpr, normalise_xml,
                              parse_sxpr)
from xvirt.domxml import (domain_xml_from_sxpr, domain_xml_to_sxpr, facts_from_sxpr,
                          facts_from_xml)
from xvirt.domxml.facts import compare_facts
import xml.etree.ElementTree as ET

DOMAIN_GET = pair_params("domain-get")
CREATE = pair_params("create-config")
CREATE_NO_XML = pair_params("create-config", with_xml=False)


def _ids(p):
    return p.id


def _load(pair):
    if pair.case == "CORPUS-MISSING":
        corpus_dir()   # raises CorpusMissing with the path
    return pair.sexpr_path().read_text(), (pair.xml_path().read_text() if pair.xml_file else None)


def _xml_diff(expected: str, actual: str) -> str:
    split = lambda s: s.replace("><", ">\n<").splitlines()  # noqa: E731
    return "\n".join(difflib.unified_diff(split(expected), split(actual), "expected", "ours",
                                          lineterm=""))


def _fact_diffs(a: dict, b: dict, skip: set[str] = frozenset()) -> list[str]:
    a = {k: v for k, v in a.items() if k not in skip}
    b = {k: v for k, v in b.items() if k not in skip}
    return compare_facts(a, b)


# -- domain-get: XenD record -> domain XML ------------------------------------------------------

@pytest.mark.parametrize("pair", DOMAIN_GET, ids=_ids)
def test_domain_get_pair(pair):
    sexpr, expected = _load(pair)
    ours = domain_xml_from_sxpr(sexpr, xend_config_format=pair.fmt)
    raw = canonical_xml(ET.fromstring(ours)) == canonical_xml(ET.fromstring(expected))
    record("domain-get", "XML, raw canonical equality (info)", pair.id, raw)
    if pair.pairing == "exact":
        era = document_era(expected)
        a = canonical_xml(normalise_xml(expected, era))
        b = canonical_xml(normalise_xml(ours, era))
        record("domain-get", "XML, exact pairs: equal after era normalisation", pair.id, a == b)
        assert a == b, _xml_diff(a, b)
    else:
        record("domain-get", "XML, nearest pairs: equal after era norm. (info)", pair.id,
               canonical_xml(normalise_xml(expected)) ==
               canonical_xml(normalise_xml(ours, document_era(expected))))
        diffs = _fact_diffs(facts_from_xml(ours), facts_from_xml(expected),
                            era_uncarried_facts(expected))
        record("domain-get", "XML, nearest pairs: facts agree", pair.id, not diffs)
        assert not diffs, diffs


IMPLICIT = ("console", "input", "memballoon")


@pytest.mark.parametrize("pair", DOMAIN_GET, ids=_ids)
def test_domain_get_consoles_inputs_and_balloon(pair):
    """<console>, <input> and <memballoon> as libvirt printed them, exact and nearest pairs alike,
    after only the X5 rules of the expected document's era (libvirt derives all three from the
    record: the PV console, serial 0 as the HVM console, default mice/keyboards, the balloon)."""
    sexpr, expected = _load(pair)
    ours = domain_xml_from_sxpr(sexpr, xend_config_format=pair.fmt)
    era = document_era(expected)

    def devices(text):
        root = normalise_xml(text, era)
        return [canonical_xml(d) for d in root.iterfind("devices/*") if d.tag in IMPLICIT]

    want, got = devices(expected), devices(ours)
    record("domain-get", "console/input/memballoon equal after X5 (all pairs)", pair.id, want == got)
    assert got == want, (f"console/input/memballoon of the converted record differ from libvirt's "
                         f"(era {era}):\n" + _xml_diff("\n".join(want), "\n".join(got)))


@pytest.mark.parametrize("pair", DOMAIN_GET, ids=_ids)
def test_domain_get_record_facts_match_expected_xml(pair):
    """The fact extractor reads the record and libvirt's XML alike (validates the extractor)."""
    sexpr, expected = _load(pair)
    diffs = _fact_diffs(facts_from_sxpr(sexpr), facts_from_xml(expected),
                        era_uncarried_facts(expected))
    record("domain-get", "facts(record) == facts(expected XML)", pair.id, not diffs)
    assert not diffs, diffs


@pytest.mark.parametrize("pair", DOMAIN_GET, ids=_ids)
def test_domain_get_round_trip(pair):
    """record -> XML -> (vm ...) config: the config says what the record said."""
    sexpr, _ = _load(pair)
    xml = domain_xml_from_sxpr(sexpr, xend_config_format=pair.fmt)
    config = domain_xml_to_sxpr(xml, xend_config_format=pair.fmt)
    diffs = compare_facts(facts_from_sxpr(config), facts_from_sxpr(sexpr))
    record("domain-get", "round trip record -> XML -> config: facts kept", pair.id, not diffs)
    assert not diffs, diffs


# -- create-config: domain XML -> (vm ...) ------------------------------------------------------

@pytest.mark.parametrize("pair", CREATE, ids=_ids)
def test_create_config_pair(pair):
    sexpr, xml = _load(pair)
    ours_text = domain_xml_to_sxpr(xml, xend_config_format=pair.fmt)
    ours, expected = parse_sxpr(ours_text), parse_sxpr(sexpr)
    record("create-config", "SXP, byte-identical to libvirt's output (info)", pair.id,
           ours_text == sexpr)
    record("create-config", "SXP, raw tree equality (info)", pair.id, ours == expected)
    equal = normalise_sxpr(ours) == normalise_sxpr(expected)
    record("create-config", f"SXP, {pair.pairing} pairs: tree equal after S1/S2", pair.id,
           equal)
    assert equal, f"\nexpected {sexpr}\nours     {ours_text}"


@pytest.mark.parametrize("pair", CREATE, ids=_ids)
def test_create_config_facts(pair):
    sexpr, xml = _load(pair)
    ours = domain_xml_to_sxpr(xml, xend_config_format=pair.fmt)
    diffs = compare_facts(facts_from_sxpr(ours), facts_from_sxpr(sexpr))
    label = "nearest pairs" if pair.pairing == "nearest" else "exact pairs"
    record("create-config", f"SXP, {label}: facts agree", pair.id, not diffs)
    assert not diffs, diffs


@pytest.mark.parametrize("pair", CREATE, ids=_ids)
def test_create_config_input_facts_match_expected(pair):
    """The input XML and libvirt's config carry the same facts (validates the extractor)."""
    sexpr, xml = _load(pair)
    diffs = compare_facts(facts_from_xml(xml), facts_from_sxpr(sexpr))
    record("create-config", "facts(input XML) == facts(expected config)", pair.id, not diffs)
    assert not diffs, diffs


@pytest.mark.parametrize("pair", CREATE, ids=_ids)
def test_create_config_round_trip(pair):
    """XML -> config -> XML (the config read back as a record) keeps the input's facts."""
    _, xml = _load(pair)
    config = domain_xml_to_sxpr(xml, xend_config_format=pair.fmt)
    back = domain_xml_from_sxpr(config, xend_config_format=pair.fmt)
    diffs = compare_facts(facts_from_xml(back), facts_from_xml(xml))
    record("create-config", "round trip XML -> config -> XML: facts kept", pair.id, not diffs)
    assert not diffs, diffs


@pytest.mark.parametrize("pair", CREATE_NO_XML, ids=_ids)
def test_create_config_without_xml(pair):
    """``pv`` and ``pv-vfb-new``: libvirt's input XML was never saved; the config still parses."""
    sexpr, _ = _load(pair)
    assert pair.pairing == "missing" and pair.xml_file == ""
    assert not list(pair.sexpr_path().parent.glob(pair.sexpr_file.replace(".sexpr", ".xml")))
    tree = parse_sxpr(sexpr)
    assert tree[0] == "vm"
    facts = facts_from_sxpr(tree)
    assert facts["name"] == "pvtest" and facts["os_type"] == "linux"
    record("create-config", "no XML in corpus: config parses", pair.id, True)


@pytest.mark.parametrize("pair", CREATE_NO_XML, ids=_ids)
def test_create_config_without_xml_from_a_substitute(pair):
    """Stand-ins for the lost XML, both from the corpus itself:

    * ``pv``: libvirt's domain-get ``pv`` record describes the same guest; record -> XML ->
      config must give ``xml2sexpr-pv.sexpr``;
    * ``pv-vfb-new``: RHEL-5 builds of libvirt (new-style PV framebuffer from format 2) compared
      ``xml2sexpr-pv-vfb-orig.xml`` with ``xml2sexpr-pv-vfb-new.sexpr`` (reference §1); with the
      stock threshold that is format 3.
    """
    sexpr, _ = _load(pair)
    if pair.case == "pv":
        source = pair.sexpr_path().parent.parent / "domain-get" / "sexpr2xml-pv.sexpr"
        xml = domain_xml_from_sxpr(source.read_text(), xend_config_format=pair.fmt)
    else:
        xml = (pair.sexpr_path().parent / "xml2sexpr-pv-vfb-orig.xml").read_text()
    ours = domain_xml_to_sxpr(xml, xend_config_format=pair.fmt)
    record("create-config", "no XML in corpus: substitute input gives the config", pair.id,
           ours == sexpr)
    assert ours == sexpr


def test_corpus_has_every_listed_case():
    """Both CASES.tsv files are read and every listed file exists (fails if the corpus is gone)."""
    corpus_dir()
    for pairs in (DOMAIN_GET, CREATE, CREATE_NO_XML):
        for p in pairs:
            assert p.sexpr_path().is_file(), p.sexpr_path()
            if p.xml_file:
                assert p.xml_path().is_file(), p.xml_path()
    assert len({p.case for p in DOMAIN_GET}) == 33
    assert len({p.case for p in CREATE}) + len({p.case for p in CREATE_NO_XML}) == 35
