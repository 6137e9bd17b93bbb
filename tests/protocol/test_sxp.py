"""SXP codec: the corpus, xend's grammar and printer, libvirt's lenient reading, bounds, round trips."""

import pytest
from hypothesis import given, settings, strategies as st

from xvirt.errors import SexprError
from xvirt.protocol import sxp


def corpus_files(corpus_dir):
    files = sorted(corpus_dir.glob("xend-sexpr/*/*.sexpr"))
    assert len(files) == 68, "the corpus has 33 domain records and 35 create configs"
    return files


def test_every_corpus_file_parses_and_print_parse_is_stable(corpus_dir):
    lenient = []
    for path in corpus_files(corpus_dir):
        text = path.read_text()
        try:
            value = sxp.parse(text)
        except SexprError:
            value = sxp.parse(text, mode="lenient")
            lenient.append(path.name)
        assert isinstance(value, list) and value[0] in ("domain", "vm")
        printed = sxp.show(value)
        assert sxp.parse(printed) == value
        assert sxp.show(sxp.parse(printed)) == printed
    # files with an extra ")" (unbalanced) need libvirt's lenient reader
    assert "sexpr2xml-pv-vfb-new.sexpr" in lenient


def test_xend_grammar():
    text = "(a b 'c d' \"e'f\" [0,1] x#comment\n y 'esc\\t\\x41\\101\\q')"
    assert sxp.parse(text) == ["a", "b", "c d", "e'f", "[0,1", "]", "x", "y", "esc\tAA\\q"]
    assert sxp.parse_all("(a) (b c) d") == [["a"], ["b", "c"], "d"]
    assert sxp.parse("(features )") == ["features"]
    assert sxp.parse("(x '')") == ["x", ""]


def test_xend_printer_rules():
    assert sxp.show(["domain", ["name", "fc5"], ["uuid", "6c3a1f2e-8b0d-4c8e-9f41-0d5e7a2b9c11"]]) == \
        "(domain (name fc5) (uuid 6c3a1f2e-8b0d-4c8e-9f41-0d5e7a2b9c11))"
    assert sxp.show(["root", "/dev/sda1 ro"]) == "(root '/dev/sda1 ro')"
    assert sxp.show(["xend.err", "VM name 'fc5' already in use by domain 1"]) == \
        "(xend.err \"VM name 'fc5' already in use by domain 1\")"
    assert sxp.show(["p", "virt_start=0xfc000000", "file:/a.img,ioemu:hda", "phy:/dev/x", "tap:aio:/f"]) == \
        "(p 'virt_start=0xfc000000' 'file:/a.img,ioemu:hda' phy:/dev/x tap:aio:/f)"
    assert sxp.show([1, 2.5, True]) == "(1 2.5 1)"


def test_lenient_mode_reads_what_libvirt_accepted():
    assert sxp.parse("(domain (name x)", mode="lenient") == ["domain", ["name", "x"]]
    assert sxp.parse("(domain (name x))) trailing junk", mode="lenient") == ["domain", ["name", "x"]]
    assert sxp.parse("(mode w!) ignored", mode="lenient") == ["mode", "w!"]
    with pytest.raises(SexprError):
        sxp.parse("(domain (name x)")
    with pytest.raises(SexprError):
        sxp.parse("(domain (name x)))")


@pytest.mark.parametrize("bad, why", [
    ("(a 'unterminated", "EOF"), (")", "syntax error"), ("(a \x01)", "invalid character"),
    ("(a é)", "invalid character"), ("", "empty"), ("(a) (b)", "top-level values"),
])
def test_malformed_input_is_a_clear_error(bad, why):
    with pytest.raises(SexprError) as ei:
        sxp.parse(bad)
    assert why in str(ei.value) and ei.value.get_error_code() == 13


def test_bounds():
    with pytest.raises(SexprError, match="nesting deeper"):
        sxp.parse("(" * 100 + ")" * 100)
    assert sxp.parse("(" * 10 + ")" * 10, max_depth=10) is not None
    with pytest.raises(SexprError, match="exceeds limit"):
        sxp.parse("(" + "a " * 1000 + ")", max_size=100)
    with pytest.raises(SexprError, match="not UTF-8"):
        sxp.parse(b"(a '\xff')")
    assert sxp.parse(b"(a '\xc3\xa9')") == ["a", "é"]


def test_child_helpers():
    rec = sxp.parse("(domain (domid 5) (image (linux (kernel /k))) (device (vbd (dev xvda))) (device (vif (mac m))) (features ))")
    assert sxp.child_value(rec, "domid") == "5"
    assert sxp.child_value(rec, "image/linux/kernel") == "/k"
    assert sxp.child_value(rec, "features") is None
    assert sxp.child_value(rec, "nosuch", "d") == "d"
    assert [d[1][0] for d in sxp.children(rec, "device")] == ["vbd", "vif"]


atoms = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
trees = st.recursive(atoms, lambda kids: st.lists(kids, max_size=5), max_leaves=30)


@settings(max_examples=400)
@given(trees)
def test_round_trip_of_arbitrary_trees(tree):
    assert sxp.parse(sxp.show(tree)) == tree


@given(st.lists(atoms, min_size=1, max_size=6))
def test_atoms_that_need_quoting_survive(values):
    values = values + ["", "it's", 'say "hi"', "a\\b", "tab\there", "[x]", "#not-a-comment", "ü"]
    assert sxp.parse(sxp.show(values)) == values
