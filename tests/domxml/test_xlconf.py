"""The xl.cfg / xm KEY = VALUE codec (xvirt.domxml.xlconf): grammar, bounds, errors, writer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xvirt.domxml.xlconf import (MAX_CONF_SIZE, MAX_LIST_DEPTH, MAX_LIST_ITEMS, Conf, Setting,
                                 format_conf, format_value, parse_conf)
from xvirt.errors import ConfSyntaxError, ErrorCode, ErrorDomain, InvalidArgError


def values(text: str) -> dict:
    return {s.name: s.value for s in parse_conf(text).settings}


def test_settings_separators_and_comments() -> None:
    text = ('# a comment\n\nname = "g" ; memory=512;vcpus = 2   # trailing\n'
            "\n  on_crash='restart'\n;;\nlast = 1")
    assert values(text) == {"name": "g", "memory": 512, "vcpus": 2, "on_crash": "restart",
                            "last": 1}


def test_three_quote_kinds_and_no_escapes() -> None:
    v = values('a = "it\'s"\nb = \'say "hi"\'\nc = """both \' and "\nand a newline"""\n'
               'd = "back\\\\slash"\n')
    assert v == {"a": "it's", "b": 'say "hi"', "c": "both ' and \"\nand a newline",
                 "d": "back\\\\slash"}


def test_numbers_decimal_octal_hex_and_signs() -> None:
    assert values("a = 10\nb = 010\nc = 0x1F\nd = 0X1f\ne = -3\nf = +4\ng = 0") == \
        {"a": 10, "b": 8, "c": 31, "d": 31, "e": -3, "f": 4, "g": 0}


def test_nested_lists_trailing_commas_comments_inside() -> None:
    v = values('vnuma = [ [ "pnode=0", "size=2048" ],\n  # node 1\n  [ "pnode=1", ], ]\n'
               "empty = []\nmixed = [1, 'x', [2]]")
    assert v == {"vnuma": [["pnode=0", "size=2048"], ["pnode=1"]], "empty": [],
                 "mixed": [1, "x", [2]]}


def test_positions_are_recorded_and_first_setting_wins() -> None:
    conf = parse_conf('a = 1\n  b = "x"\na = 2\n')
    assert [(s.name, s.line, s.column) for s in conf.settings] == \
        [("a", 1, 1), ("b", 2, 3), ("a", 3, 1)]
    assert conf.get("a") == 1 and "b" in conf and "c" not in conf


@pytest.mark.parametrize("text,line,col,words", [
    ('name = "unterminated\n', 1, 8, "unterminated string"),
    ("a = 1\nb = 'open\n", 2, 5, "unterminated string"),
    ('a = """never closed\n\n', 1, 5, 'unterminated string (opened with """)'),
    ("a = [1, 2\n", 1, 5, "unterminated list"),
    ("a = [1 2]\n", 1, 8, "expecting ',' or ']'"),
    ("a = 08\n", 1, 5, "malformed number"),
    ("a = 0x\n", 1, 5, "malformed number"),
    ("a = 12abc\n", 1, 5, "malformed number"),
    ("= 1\n", 1, 1, "expecting a setting name"),
    ("a 1\n", 1, 3, "expecting '='"),
    ("a =\n", 1, 4, "expecting a value"),
    ("a = 1 b = 2\n", 1, 7, "expecting a separator"),
    ("a = yes\n", 1, 5, "expecting a value"),
    ("a = 1\n\n   b = \x01\n", 3, 8, "control character"),
    ("9a = 1\n", 1, 1, "expecting a setting name"),
])
def test_errors_name_line_column_and_code(text: str, line: int, col: int, words: str) -> None:
    with pytest.raises(ConfSyntaxError) as ei:
        parse_conf(text)
    e = ei.value
    assert e.code == ErrorCode.CONF_SYNTAX == 33 and e.domain == ErrorDomain.CONF == 9
    assert (e.int1, e.int2) == (line, col), e.message
    assert f"line {line}, column {col}" in e.message and words in e.message


def test_bounds() -> None:
    with pytest.raises(ConfSyntaxError, match="exceed"):
        parse_conf("a = 1\n" * (MAX_CONF_SIZE // 6 + 1))
    deep = "a = " + "[" * (MAX_LIST_DEPTH + 1) + "]" * (MAX_LIST_DEPTH + 1)
    with pytest.raises(ConfSyntaxError, match="nested deeper"):
        parse_conf(deep)
    ok = "a = " + "[" * MAX_LIST_DEPTH + "]" * MAX_LIST_DEPTH
    assert parse_conf(ok).get("a") is not None
    with pytest.raises(ConfSyntaxError, match="items in one list"):
        parse_conf("a = [" + "1," * (MAX_LIST_ITEMS + 1) + "]")
    with pytest.raises(ConfSyntaxError, match="out of range"):
        parse_conf("a = 0x1" + "0" * 16)
    with pytest.raises(ConfSyntaxError, match="not valid UTF-8") as ei:
        parse_conf(b'a = 1\nb = "\xff\xfe"\n')
    assert (ei.value.int1, ei.value.int2) == (2, 6)
    with pytest.raises(InvalidArgError):
        parse_conf(12)   # type: ignore[arg-type]


def test_writer_layout_is_libvirts() -> None:
    conf = Conf([Setting("name", "g"), Setting("memory", 512), Setting("q", 'a "b"'),
                 Setting("t", "x'y\"z"), Setting("nl", "l1\nl2"),
                 Setting("vif", ["mac=00:16:3e:00:00:01", "bridge=br0"]),
                 Setting("vnuma", [["pnode=0"], ["pnode=1"]]), Setting("e", [])])
    assert format_conf(conf) == (
        'name = "g"\nmemory = 512\nq = \'a "b"\'\nt = """x\'y"z"""\nnl = """l1\nl2"""\n'
        'vif = [ "mac=00:16:3e:00:00:01", "bridge=br0" ]\n'
        'vnuma = [ [ "pnode=0" ], [ "pnode=1" ] ]\ne = [  ]\n')
    assert format_value('has """ inside') == "'has \"\"\" inside'"
    for bad in ('it\'s """ here', 'line\nends with "'):
        with pytest.raises(InvalidArgError):
            format_value(bad)


def test_set_replaces_in_place_or_appends() -> None:
    conf = parse_conf("a = 1\nb = 2\n")
    conf.set("a", 3)
    conf.set("c", "x")
    assert format_conf(conf) == 'a = 3\nb = 2\nc = "x"\n'


_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_strings = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF) | st.sampled_from("\n\t"),
                   max_size=20) \
    .filter(lambda s: not (("\n" in s or ('"' in s and "'" in s))
                           and ('"""' in s or s.endswith('"'))))
_scalars = st.one_of(st.integers(0, 2 ** 63), _strings)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8))
def test_write_then_read_gives_the_same_settings(items) -> None:
    conf = Conf([Setting(n, v) for n, v in items])
    back = parse_conf(format_conf(conf))
    assert [(s.name, s.value) for s in back.settings] == items
