"""xl's text formats: the codec against a real Xen 4.17.5 dom0's output, and format/parse round trips."""

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from xvirt.protocol import xl

DATA = Path(__file__).resolve().parents[1] / "data" / "realxen"


def test_parses_real_xl_list():
    rows = xl.parse_list((DATA / "xl-list.txt").read_text())
    assert [(r.name, r.domid, r.mem_mib, r.vcpus, r.state) for r in rows] == [
        ("Domain-0", 0, 1024, 2, "r-----"), ("g1", 1, 128, 1, "-b----"), ("g2", 2, 96, 1, "r-----")]
    assert rows[0].cpu_seconds == pytest.approx(27.0)
    assert all(r.uuid is None for r in rows)


def test_parses_real_xl_list_verbose():
    rows = xl.parse_list((DATA / "xl-list-v.txt").read_text())
    assert [(r.name, r.uuid, r.reason) for r in rows] == [
        ("Domain-0", "00000000-0000-0000-0000-000000000000", None),
        ("g1", "3d1f85c3-2bb5-431f-95cf-fe7e71fc8577", None),
        ("g2", "80634390-cb2d-4bd3-b463-542d2b11ba57", None)]


@pytest.mark.parametrize("name,verbose", [("xl-list.txt", False), ("xl-list-v.txt", True)])
def test_formats_exactly_as_real_xl(name, verbose):
    """Every line of the real output is reproduced byte for byte from its parsed row."""
    text = (DATA / name).read_text()
    lines = text.splitlines()
    assert lines[0] == (xl.LIST_HEADER_VERBOSE if verbose else xl.LIST_HEADER)
    for line, row in zip(lines[1:], xl.parse_list(text)):
        assert xl.format_list_row(row, verbose=verbose) == line


def test_parses_real_xl_info():
    info = xl.parse_info((DATA / "xl-info.txt").read_text())
    assert (info["xen_major"], info["xen_minor"], info["xen_extra"]) == ("4", "17", ".5")
    assert info["nr_cpus"] == "2" and info["total_memory"] == "2047" and info["host"] == "dom0"
    assert info["xen_commandline"].startswith("console=com1")  # values may contain ':' and spaces
    assert info["xend_config_format"] == "4"


def test_info_round_trip_keeps_alignment():
    text = (DATA / "xl-info.txt").read_text()
    items = list(xl.parse_info(text).items())
    assert xl.format_info(items).splitlines()[:5] == text.splitlines()[:5]


def test_rc_of_real_error_lines():
    errors = (DATA / "xl-errors.txt").read_text()
    assert xl.parse_rc("nosuch is an invalid domain identifier (rc=-6)") == -6
    assert xl.parse_rc(errors) == -21  # the last rc printed: destroy failed (rc=-21)
    assert xl.parse_rc("no code here") is None
    assert xl.ERRORS[-6] == "INVAL" and xl.ERRORS[-21] == "DOMAIN_NOTFOUND"


@pytest.mark.parametrize("text", ["", "garbage\n", "Name ID\nweb 1 2\n",
                                  xl.LIST_HEADER + "\nweb 1 2 3 xyzxyz 1.0\n",
                                  xl.LIST_HEADER + "\nweb one 2 3 r----- 1.0\n",
                                  xl.LIST_HEADER_VERBOSE + "\nweb 1 2 3 r----- 1.0 not-a-uuid - -\n"])
def test_refuses_malformed_list(text):
    with pytest.raises(ValueError):
        xl.parse_list(text)


names = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-_."),
                min_size=1, max_size=60)
states = st.tuples(*[st.sampled_from([c, "-"]) for c in xl.STATE_LETTERS]).map("".join)


@given(st.lists(st.tuples(names, st.integers(0, 32767), st.integers(0, 10**7), st.integers(0, 512), states,
                          st.integers(0, 10**9), st.uuids().map(str), st.none() | st.integers(0, 255)),
                max_size=20),
       st.booleans())
def test_format_parse_round_trip(rows, verbose):
    rows = [xl.ListRow(n, i, m, v, s, c / 10, u if verbose else None, r if verbose else None)
            for n, i, m, v, s, c, u, r in rows]
    header = xl.LIST_HEADER_VERBOSE if verbose else xl.LIST_HEADER
    text = "\n".join([header] + [xl.format_list_row(r, verbose=verbose) for r in rows]) + "\n"
    assert xl.parse_list(text) == rows
