"""One connection used from several threads at once: every answer still matches the host."""

import threading

import pytest

import xvirt
from xvirt.constants import StatsFlags


@pytest.mark.simhost(domains=30)
def test_concurrent_calls_on_one_connection(simhost):
    truth = {d["domid"]: (d["uuid"], d["name"]) for d in simhost.control.truth()["running"]}
    errors = []
    with xvirt.open(simhost.uri) as conn:
        def worker(k):
            try:
                for _ in range(20):
                    for domid, (uid, name) in truth.items():
                        if (domid + k) % 3 == 0:
                            dom = conn.lookup_by_id(domid)
                            assert (dom.uuid, dom.name) == (uid, name)
                        elif (domid + k) % 3 == 1:
                            assert conn.lookup_by_name(name).id == domid
                        else:
                            dom = conn.lookup_by_uuid(uid)
                            assert dom.info().mem_kib > 0
                    stats = conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)
                    assert {(s.id, s.name) for s in stats} == {(i, n) for i, (_, n) in truth.items()}
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert conn.request_counts()["xend_total"] == 0
    assert errors == []
