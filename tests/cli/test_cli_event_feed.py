"""Monitoring commands and events: the exporter counts them (xvirt_events_total) and the feed top uses
wakes up at once; no XenD request for any of it."""

from __future__ import annotations

import select
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import xvirt
from xvirt.cli.event_feed import EventFeed
from xvirt.cli.exporter import Exporter, serve


def _events_total(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {s.labels["type"]: s.value for fam in text_string_to_metric_families(text)
            for s in fam.samples if s.name == "xvirt_events_total"}


def _until(predicate, what: str, limit: float = 30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"never saw {what}")


@pytest.mark.simhost(domains=4)
def test_exporter_counts_events_by_type(simhost):
    simhost.control.call("settings", set={"dying_delay": 3.0})
    ex = Exporter(simhost.uri, timeout=10)
    server, _ = serve(ex, "127.0.0.1", 0)
    try:
        port = server.server_port
        assert _events_total(port) == {}          # the first scrape opens the connection and its feed
        simhost.control.reset_counters()
        name = simhost.control.truth()["running"][1]["name"]
        # another program's pause and unpause reach us through the table (polled, see docs/events.md):
        # wait for each before the next, as a person at a console would
        for op, kind in (("pause", "suspended"), ("unpause", "resumed"), ("destroy", "stopped")):
            simhost.control.op(op, name)
            _until(lambda: ex.events_total().get(kind), f"the {kind} event")
        assert _events_total(port) == {"suspended": 1.0, "resumed": 1.0, "stopped": 1.0}
        assert simhost.control.counters()["xend_total"] == 0   # events and scrapes ask XenD nothing
    finally:
        server.shutdown()
        server.server_close()
        ex.close()


@pytest.mark.simhost(domains=3)
def test_feed_wakes_a_select_at_once(simhost):
    with xvirt.open(simhost.uri, readonly=True) as conn:
        feed = EventFeed(conn)
        try:
            assert select.select([feed.fd], [], [], 0)[0] == [] and feed.drain() is False
            name = simhost.control.truth()["running"][1]["name"]
            simhost.control.op("pause", name)
            assert select.select([feed.fd], [], [], 30)[0] == [feed.fd]
            assert feed.drain() is True
            assert (feed.last.name, feed.last.event_name) == (name, "Suspended")
            assert feed.snapshot() == {"suspended": 1}
        finally:
            feed.close()


def test_feed_without_an_xvirt_connection_stays_silent():
    feed = EventFeed(object())
    try:
        assert feed.source is None and feed.snapshot() == {} and feed.drain() is False
    finally:
        feed.close()
