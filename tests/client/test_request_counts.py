"""Exact request counts per channel for the seed's workloads (W1, W2, bulk), client and simulator agreeing."""

import pytest

import xvirt
from xvirt.constants import ListFlags, StatsFlags

N = 20  # guests; Domain-0 makes 21 running domains


def w1(conn, names=False):
    """virsh list logic: list ids, look each up, get its info (and its name when printing)."""
    out = []
    for domid in conn.list_domain_ids():
        dom = conn.lookup_by_id(domid)
        info = dom.info()
        out.append((domid, dom.name if names else None, info.state))
    return out


def sim_counts(simhost):
    c = simhost.control.counters()
    return c["xend_total"], c["xenstore_total"], c["xend"], c["xenstore"]


@pytest.mark.simhost(domains=N)
def test_w1_fresh_connection_asks_xend_nothing(simhost):
    simhost.control.reset_counters()
    with xvirt.open(simhost.uri) as conn:
        rows = w1(conn)
        counts = conn.request_counts()
    assert len(rows) == N + 1
    assert counts["xend_total"] == 0 and counts["xenstore_total"] == 0
    # 1 list + per domain 1 lookup read + 1 info read
    assert counts["hypervisor"] == 1 + 2 * (N + 1)
    assert sim_counts(simhost)[:2] == (0, 0)


@pytest.mark.simhost(domains=N)
def test_w1_with_names_reads_each_name_once_from_xenstore(simhost):
    simhost.control.reset_counters()
    with xvirt.open(simhost.uri) as conn:
        rows = w1(conn, names=True)
        counts = conn.request_counts()
    truth = {d["domid"]: d["name"] for d in simhost.control.truth()["running"]}
    assert {domid: name for domid, name, _ in rows} == truth
    assert counts["xend_total"] == 0
    assert counts["xenstore"] == {"READ": N + 1}
    xend_total, xs_total, _, xs = sim_counts(simhost)
    assert (xend_total, xs) == (0, {"READ": N + 1})


@pytest.mark.simhost(domains=N)
def test_w2_monitor_loop_handles_freed_each_time(simhost):
    simhost.control.reset_counters()
    with xvirt.open(simhost.uri) as conn:
        per_iter = []
        for _ in range(5):
            before = conn.request_counts()
            rows = w1(conn)
            del rows  # the handles are gone, as in a Python program
            after = conn.request_counts()
            per_iter.append({k: after[k] - before[k] for k in ("xend_total", "xenstore_total", "hypervisor")})
    assert all(it["xend_total"] == 0 for it in per_iter)
    assert all(it["xenstore_total"] == 0 for it in per_iter[1:])
    assert all(it["hypervisor"] == 1 + 2 * (N + 1) for it in per_iter)
    assert sim_counts(simhost)[:2] == (0, 0)


@pytest.mark.simhost(domains=N)
def test_bulk_stats_one_round_trip_after_warm_up(simhost):
    simhost.control.reset_counters()
    with xvirt.open(simhost.uri) as conn:
        first = conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)
        c1 = conn.request_counts()
        second = conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)
        c2 = conn.request_counts()
    assert len(first) == len(second) == N + 1
    assert {s.name for s in second} == {d["name"] for d in simhost.control.truth()["running"]}
    assert c1["xend_total"] == c2["xend_total"] == 0
    # warm-up: 3 watches, one sync round trip, one read per name
    assert c1["xenstore"] == {"WATCH": 3, "GET_DOMAIN_PATH": 1, "READ": N + 1}
    # after: one sync round trip, names from the watch-validated cache
    assert {k: c2["xenstore"][k] - c1["xenstore"].get(k, 0) for k in c2["xenstore"]} == \
        {"WATCH": 0, "GET_DOMAIN_PATH": 1, "READ": 0}
    assert c2["hypervisor"] - c1["hypervisor"] == 1
    xend_total, _, _, xs = sim_counts(simhost)
    assert xend_total == 0 and xs == c2["xenstore"]


@pytest.mark.simhost(domains=N)
def test_rename_is_seen_by_the_next_bulk_call(simhost):
    with xvirt.open(simhost.uri) as conn:
        conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)
        simhost.control.op("rename", "web-01", name="web-renamed")
        names = {s.name for s in conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)}
    assert "web-renamed" in names and "web-01" not in names


@pytest.mark.simhost(domains=N)
def test_xend_only_uri_uses_one_bulk_request(simhost):
    uri = f"xen+unix://{simhost.paths.xend}"
    with xvirt.open(uri) as conn:
        ids = conn.list_domain_ids()
        assert conn.request_counts()["xend"] == {"GET /xend/domain?detail=1": 1}
        stats = conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)
        assert conn.request_counts()["xend"] == {"GET /xend/domain?detail=1": 2}
        assert conn.request_counts()["xenstore_total"] == 0 and conn.request_counts()["hypervisor"] == 0
    truth = simhost.control.truth()
    assert ids == [d["domid"] for d in truth["running"]]
    assert {(s.id, s.name) for s in stats} == {(d["domid"], d["name"]) for d in truth["running"]}


@pytest.mark.simhost(domains=N)
def test_xend_only_with_max_staleness_answers_lookups_from_the_snapshot(simhost):
    uri = f"xen+unix://{simhost.paths.xend}"
    with xvirt.open(uri, max_staleness=60) as conn:
        for domid in conn.list_domain_ids():
            conn.lookup_by_id(domid).info()
        assert conn.request_counts()["xend_total"] == 1
    with xvirt.open(uri) as strict:  # strict: one request per lookup and per info
        ids = strict.list_domain_ids()
        for domid in ids:
            strict.lookup_by_id(domid).info()
        assert strict.request_counts()["xend_total"] == 1 + 2 * len(ids)


@pytest.mark.simhost(domains=N)
def test_inactive_domains_need_xend(simhost):
    with xvirt.open(simhost.uri) as conn:
        names = conn.list_defined_domains()
        assert conn.request_counts()["xend"] == {"GET /xend/domain?state=halted": 1}
        doms = conn.list_all_domains(ListFlags.INACTIVE)
    assert sorted(names) == sorted(d["name"] for d in simhost.control.truth()["inactive"])
    assert len(doms) == len(names)


@pytest.mark.simhost(domains=N)
def test_persistence_filter_costs_one_bulk_request_not_one_per_domain(simhost):
    simhost.control.create(["vm", ["name", "transient-1"], ["memory", "64"], ["vcpus", "1"]])
    truth = simhost.control.truth()
    with xvirt.open(simhost.uri) as conn:
        transient = conn.list_all_domains(ListFlags.ACTIVE | ListFlags.TRANSIENT)
        assert conn.request_counts()["xend"] == {"GET /xend/domain?detail=1": 1}
        persistent = conn.list_all_domains(ListFlags.ACTIVE | ListFlags.PERSISTENT)
        assert conn.request_counts()["xend"] == {"GET /xend/domain?detail=1": 2}
    assert {d.uuid for d in transient} == {d["uuid"] for d in truth["running"] if not d["managed"]}
    assert {d.uuid for d in persistent} == {d["uuid"] for d in truth["running"] if d["managed"]}
    assert "transient-1" in {d["name"] for d in truth["running"] if not d["managed"]}


@pytest.mark.simhost(domains=N)
def test_lookup_by_name_syncs_once(simhost):
    with xvirt.open(simhost.uri) as conn:
        conn.lookup_by_name("web-01")  # first: watches, one sync, one read per name
        first = conn.request_counts()["xenstore"]
        conn.lookup_by_name("db-01")   # then: one sync round trip
        second = conn.request_counts()["xenstore"]
    assert first == {"WATCH": 3, "GET_DOMAIN_PATH": 1, "READ": N + 1}
    assert {k: second[k] - first.get(k, 0) for k in second} == {"WATCH": 0, "GET_DOMAIN_PATH": 1, "READ": 0}
