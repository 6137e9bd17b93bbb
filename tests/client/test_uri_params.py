"""URI parameters: the documented ones are honoured, anything else is refused naming the parameter."""

from __future__ import annotations

import pytest

import xvirt
from xvirt.errors import ErrorCode, InvalidArgError
from xvirt.uri import XEND_SOCKET, parse_uri


@pytest.mark.parametrize("uri, name", [
    ("xen+sim:///default?max_staleness=abc", "max_staleness"),
    ("xen+sim:///default?max_staleness=-1", "max_staleness"),
    ("xen+sim:///default?max_staleness=nan", "max_staleness"),
    ("xen+sim:///default?max_staleness=inf", "max_staleness"),
    ("xen+sim:///default?max_staleness=", "max_staleness"),
    ("xen+sim:///default?nosuch=1", "nosuch"),
    ("xen+sim:///default?dir=relative/path", "dir"),
    ("xen+sim:///default?dir=", "dir"),
    ("xen+sim:///default?autostart=yes", "autostart"),
    ("xen+sim:///lab?autostart=1", "autostart"),
    ("xen+sim:///default?dir=/a&dir=/b", "dir"),
    ("xen+sim:///default?socket=/x", "socket"),
    ("xen:///?socket=relative", "socket"),
    ("xen:///?max_staleness=x", "max_staleness"),
    ("xen:///?dir=/tmp", "dir"),
    ("xen+unix:///var/lib/xend/xend-socket?socket=/other", "socket"),
    ("xen+unix:///var/lib/xend/xend-socket?max_staleness=-3", "max_staleness"),
    ("xen+http://localhost:8000/?max_staleness=1e400", "max_staleness"),
    ("xen+http://localhost:8000/?timeout=3", "timeout"),
    ("xen://localhost:8000/?autostart=0", "autostart"),
])
def test_bad_parameters_are_refused_naming_them(uri, name):
    with pytest.raises(InvalidArgError) as e:
        xvirt.open(uri)
    assert e.value.code == ErrorCode.INVALID_ARG == 8
    assert name in str(e.value), str(e.value)


def test_malformed_query_is_refused():
    with pytest.raises(InvalidArgError, match="malformed parameters"):
        parse_uri("xen+sim:///default?dir")


def test_documented_parameters_parse():
    t = parse_uri("xen+sim:///lab?dir=/tmp/x/../y&max_staleness=2.5&autostart=0")
    assert (t.sim_name, t.sim_root, t.autostart, t.max_staleness) == ("lab", "/tmp/y", False, 2.5)
    assert t.xend == "/tmp/y/xend.sock"
    t = parse_uri("xen:///?socket=/run/xend.sock&max_staleness=0")
    assert t.xend == "/run/xend.sock" and t.max_staleness == 0.0
    assert parse_uri("xen:///").xend == XEND_SOCKET and parse_uri("xen:///").max_staleness is None
    assert parse_uri("xen+unix:///s?max_staleness=7").max_staleness == 7.0
    assert parse_uri("xen+http://h:8001/?max_staleness=1").max_staleness == 1.0
    assert parse_uri("xen://localhost/?max_staleness=3").max_staleness == 3.0


def _monitor_cost(conn) -> int:
    """XenD requests of one monitor round: list ids, then lookup + info of each."""
    before = conn.request_counts()["xend_total"]
    for domid in conn.list_domain_ids():
        conn.lookup_by_id(domid).info()
    return conn.request_counts()["xend_total"] - before


def test_max_staleness_in_the_uri_is_honoured(simhost):
    uri = f"xen+unix://{simhost.paths.xend}"
    with xvirt.open(uri) as strict:                      # one request per lookup and per info
        strict_cost = _monitor_cost(strict)
        assert strict_cost == 1 + 2 * (len(simhost.control.truth()["running"]))
    with xvirt.open(uri + "?max_staleness=3600") as relaxed:
        assert _monitor_cost(relaxed) == 1               # one snapshot answers the whole round
        assert _monitor_cost(relaxed) == 0               # and the next, while it is young enough
    with xvirt.open(uri + "?max_staleness=3600", max_staleness=0) as keyword_wins:
        assert _monitor_cost(keyword_wins) > 1           # 0 s: no answer from an older snapshot
        assert _monitor_cost(keyword_wins) > 1
    with xvirt.open(simhost.uri + "&max_staleness=3600") as sim:   # accepted on xen+sim too
        assert sim._driver.max_staleness == 3600.0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "5", True])
def test_bad_max_staleness_keyword(simhost, bad):
    with pytest.raises(InvalidArgError, match="max_staleness"):
        xvirt.open(simhost.uri, max_staleness=bad)
