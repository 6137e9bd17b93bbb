"""The exporter: single-flight collection, fresh series per scrape, time bound, and a scrape of a real host."""

from __future__ import annotations

import threading
import time
import urllib.request
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from xvirt.cli.exporter import CollectionTimeout, Exporter, LibvirtCollector, SingleFlight, parse_listen, serve
from xvirt.errors import InvalidArgError, NoConnectError


def test_concurrent_callers_share_one_run():
    gate, calls = threading.Event(), []

    def fn():
        calls.append(1)
        gate.wait(5)
        return object()
    flight = SingleFlight(fn, timeout=5)
    results = []
    threads = [threading.Thread(target=lambda: results.append(flight.get())) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and len(results) == 5 and len({id(r) for r in results}) == 1
    flight.get()  # a later caller starts a new run
    assert len(calls) == 2 and flight.runs == 2


def test_time_bound_and_late_callers_join_the_running_collection():
    gate = threading.Event()
    flight = SingleFlight(lambda: (gate.wait(5), "done")[1], timeout=0.1)
    with pytest.raises(CollectionTimeout):
        flight.get()
    with pytest.raises(CollectionTimeout):
        flight.get()
    assert flight.runs == 1  # no overlapping collection was started
    gate.set()
    time.sleep(0.1)
    assert flight.get() == "done"


def test_errors_reach_every_caller():
    def fn():
        raise NoConnectError("down")
    with pytest.raises(NoConnectError):
        SingleFlight(fn, timeout=1).get()


class FakeConn:
    def __init__(self, samples):
        self.samples = list(samples)

    def get_all_domain_stats(self, stats=0, flags=0):
        doms = self.samples.pop(0)
        if isinstance(doms, threading.Event):
            doms.wait(5)
            return []
        if isinstance(doms, Exception):
            raise doms
        return [SimpleNamespace(domain=SimpleNamespace(uuid=f"uuid-{n}"), id=i, name=n,
                                stats={"state.state": 1, "cpu.time": 2_500_000_000, "balloon.current": 1024,
                                       "balloon.maximum": 2048, "vcpu.current": 2}) for i, n in doms]

    def request_counts(self):
        return {"xend": {}, "xenstore": {"READ": 2}, "hypervisor": 1, "xend_total": 0, "xenstore_total": 2}

    def close(self):
        pass


def _scrape(exporter) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LibvirtCollector(exporter))
    out = {}
    for fam in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_series_are_built_fresh_so_a_gone_domain_has_none():
    conn = FakeConn([[(1, "a"), (2, "b")], [(1, "a")]])
    ex = Exporter(connect=lambda: conn)
    first = _scrape(ex)
    assert first["libvirt_up"] == [({}, 1.0)]
    assert sorted(lab["domain"] for lab, _ in first["libvirt_domain_info_virtual_cpus"]) == ["a", "b"]
    a = dict((lab["domain"], v) for lab, v in first["libvirt_domain_info_maximum_memory_bytes"])["a"]
    assert a == 2048 * 1024
    assert first["libvirt_domain_info_cpu_time_seconds_total"][0][1] == 2.5
    assert first["libvirt_domain_info_memory_usage_bytes"][0][0] == {"domain": "a", "uuid": "uuid-a"}
    second = _scrape(ex)
    for name in ("libvirt_domain_info_virtual_cpus", "libvirt_domain_info_vstate", "xvirt_domain_id",
                 "libvirt_domain_info_cpu_time_seconds_total", "libvirt_domain_info_memory_usage_bytes"):
        assert [lab["domain"] for lab, _ in second[name]] == ["a"], name
    assert second["xvirt_exporter_collections_total"] == [({}, 2.0)]
    assert ({"channel": "xenstore"}, 2.0) in second["xvirt_requests_total"]


def test_failed_collection_reports_down_without_domain_series():
    ex = Exporter(connect=lambda: FakeConn([NoConnectError("gone")]))
    out = _scrape(ex)
    assert out["libvirt_up"] == [({}, 0.0)]
    assert "libvirt_domain_info_virtual_cpus" not in out
    assert out["xvirt_exporter_collection_errors_total"] == [({}, 1.0)]


def test_late_collection_serves_the_last_good_sample_within_max_age():
    gate = threading.Event()
    conn = FakeConn([[(1, "a")], gate, gate])
    ex = Exporter(connect=lambda: conn, timeout=0.2, max_age=60)
    assert _scrape(ex)["libvirt_up"] == [({}, 1.0)]
    late = _scrape(ex)
    assert late["libvirt_up"] == [({}, 1.0)] and late["xvirt_exporter_collection_timeouts_total"] == [({}, 1.0)]
    assert [lab["domain"] for lab, _ in late["libvirt_domain_info_virtual_cpus"]] == ["a"]
    ex.max_age = 0
    assert _scrape(ex)["libvirt_up"] == [({}, 0.0)]
    gate.set()


def test_parse_listen():
    assert parse_listen("127.0.0.1:9177") == ("127.0.0.1", 9177)
    assert parse_listen(":9177") == ("127.0.0.1", 9177)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("9177", "host:port", "example.com:80", "1.2.3.4:99999"):
        with pytest.raises(InvalidArgError):
            parse_listen(bad)


# -- against a simulated host ------------------------------------------------------------------------
def _get(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.fixture
def served(simhost):
    ex = Exporter(simhost.uri, timeout=10)
    server, _ = serve(ex, "127.0.0.1", 0)
    yield ex, server.server_port
    server.shutdown()
    server.server_close()
    ex.close()


@pytest.mark.simhost(domains=5)
def test_destroyed_domain_is_gone_from_the_next_scrape_and_scrapes_cost_no_xend(simhost, served):
    ex, port = served
    simhost.control.reset_counters()
    first = _get(port)
    names = {lab["domain"] for lab, _ in first["libvirt_domain_info_virtual_cpus"]}
    assert names == {d["name"] for d in simhost.control.truth()["running"]}
    simhost.control.op("destroy", "db-01")
    second = _get(port)
    assert {lab["domain"] for lab, _ in second["libvirt_domain_info_virtual_cpus"]} == names - {"db-01"}
    assert simhost.control.counters()["xend_total"] == 0
    assert second["xvirt_requests_total"][0] == ({"channel": "xend"}, 0.0)


@pytest.mark.simhost(domains=5)
def test_two_concurrent_scrapes_cost_one_sample(simhost, served):
    ex, port = served
    _get(port)                                   # connection and watches set up
    simhost.control.faults(xs_delay=0.4)         # make one collection slow enough to overlap
    try:
        before = ex.collections
        results = []
        barrier = threading.Barrier(2)

        def scrape():
            barrier.wait()
            results.append(_get(port))
        threads = [threading.Thread(target=scrape) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    finally:
        simhost.control.faults(xs_delay=0.0)
    assert len(results) == 2
    assert ex.collections - before == 1
    assert all(r["libvirt_up"] == [({}, 1.0)] for r in results)
    assert results[0]["libvirt_domain_info_virtual_cpus"] == results[1]["libvirt_domain_info_virtual_cpus"]


@pytest.mark.simhost(domains=4)
def test_block_interface_and_vcpu_series_with_the_common_exporters_names(simhost, served):
    ex, port = served
    simhost.control.reset_counters()
    out = _get(port)
    truth = {d["name"]: d for d in simhost.control.truth()["running"]}
    guests = {n for n, d in truth.items() if d["domid"] > 0}
    read = {lab["domain"]: (lab, v) for lab, v in out["libvirt_domain_block_stats_read_bytes_total"]}
    assert set(read) == guests
    for name, (lab, v) in read.items():
        assert lab["target_device"] == "xvda" and lab["source_file"].startswith("/dev/vg0/") and v % 512 == 0
    for metric in ("libvirt_domain_block_stats_read_requests_total", "libvirt_domain_block_stats_write_bytes_total",
                   "libvirt_domain_block_stats_write_requests_total"):
        assert {lab["domain"] for lab, _ in out[metric]} == guests
    rx = {lab["domain"]: lab for lab, _ in out["libvirt_domain_interface_stats_receive_bytes_total"]}
    assert {n: lab["target_device"] for n, lab in rx.items()} == {n: f"vif{truth[n]['domid']}.0" for n in guests}
    for key in ("receive_packets", "receive_errors", "receive_drops", "transmit_bytes", "transmit_packets",
                "transmit_errors", "transmit_drops"):
        assert {lab["domain"] for lab, _ in out[f"libvirt_domain_interface_stats_{key}_total"]} == guests
    vt = out["libvirt_domain_vcpu_time_seconds_total"]
    assert len(vt) == sum(d["vcpus"] for d in truth.values())
    assert {(lab["domain"], lab["vcpu"]) for lab, _ in out["libvirt_domain_vcpu_state"]} == \
        {(lab["domain"], lab["vcpu"]) for lab, _ in vt}
    assert simhost.control.counters()["xend_total"] == 0
