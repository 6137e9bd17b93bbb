"""Issue 11's acceptance on the libxl toolstack: every domain XML of libvirt's xl.cfg corpus, defined
and read back with XMLDesc (inactive, then started through xl and running), gives the same xl.cfg,
byte for byte, and the same facts."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

import xvirt
from xvirt.domxml import xml_to_native
from xvirt.domxml.facts import compare_facts, facts_from_xml
from xvirt.errors import XMLError
from xvirt.testing import sim_host

FOLDER = Path(__file__).resolve().parents[1] / "data" / "corpus" / "xl-config"


def cases() -> list[tuple[str, str]]:
    with open(FOLDER / "CASES.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["xml_file"]]
    return [(r["case"], (FOLDER / r["xml_file"]).read_text()) for r in rows]


def facts_or_none(xml: str):
    """The fact extractor knows XenD's devices; for the few libxl-only ones (USB host devices)
    the byte-identical xl.cfg is the whole check."""
    try:
        return facts_from_xml(xml)
    except XMLError:
        return None


def test_corpus_has_the_pairs():
    assert len(cases()) >= 30


def test_define_xmldesc_start_xmldesc_keeps_every_fact():
    failures: dict[str, list] = {}
    with sim_host(domains=1, toolstack="xl", name="rt") as host, xvirt.open(host.uri) as conn:
        for case, xml in cases():
            want_cfg, want_facts = xml_to_native(xml, "xen-xl"), facts_or_none(xml)
            dom = conn.define_xml(xml)
            try:
                for phase in ("inactive", "running"):
                    if phase == "running":
                        dom.create()
                        assert dom.id > 0, case
                    desc = dom.xml_desc()
                    # the live id is the one thing a running domain's XML adds
                    desc = re.sub(r"<domain type='xen' id='\d+'>", "<domain type='xen'>", desc, count=1)
                    problems = [] if want_facts is None else compare_facts(want_facts, facts_from_xml(desc))
                    if xml_to_native(desc, "xen-xl") != want_cfg:
                        problems.append("xl.cfg differs")
                    if problems:
                        failures[f"{case} ({phase})"] = problems
            finally:
                if dom.id >= 0:
                    dom.destroy()
                dom.undefine()
        assert conn.list_defined_domains() == []
    assert failures == {}
