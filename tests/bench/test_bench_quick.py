"""The benchmark harness in quick mode (N=20, latency 0): exact request counts, W4 verdicts, outputs; never times.

Counts are written out here from the algorithms (n = ids listed = 20 guests + Domain-0 = 21), not
taken from ``bench/plan.py``; the test also checks that plan.py's formulas agree with them.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import plan  # noqa: E402
from bench.__main__ import parse_args, run  # noqa: E402
from bench.plot import write_png_fallback  # noqa: E402
from bench.report import NAMES  # noqa: E402

N = 20
n = N + 1                      # ids listed: the guests and Domain-0
SCAN = n * (n + 1) // 2        # pre-patch: names GET over one pass of every id (positions 1..n)

# XenD requests of each workload, the connection's open excluded
XEND = {
    # pre-patch: list (1) + per id: names (1) + scan to the match + info GET (1)
    ("prepatch", "W1"): 1 + n + SCAN + n,
    ("prepatch", "W2"): 5 * (1 + n + SCAN + n),
    # patch 1: list (1) + per id: GET /xend/domain/<id> for the lookup and again for info
    ("patch1", "W1"): 1 + 2 * n,
    ("patch1", "W2"): 5 * (1 + 2 * n),
    # patch 2: as patch 1, but lookups after the first pass come from the id cache
    ("patch2", "W1"): 1 + 2 * n,
    ("patch2", "W2"): 5 * 1 + n + 5 * n,
    # xvirt strict: never XenD
    ("xvirt-strict", "W1"): 0, ("xvirt-strict", "W2"): 0, ("xvirt-strict", "W3"): 0, ("xvirt-strict", "W3w"): 0,
    # xvirt XenD-only: ?detail=1 list, then GET by id (lookup), by UUID (info) and by UUID (name)
    ("xvirt-xend", "W1"): 1 + 3 * n,
    ("xvirt-xend", "W2"): 5 * (1 + 2 * n),
    ("xvirt-xend", "W3"): 1, ("xvirt-xend", "W3w"): 1,
    # max_staleness: one ?detail=1 snapshot answers the whole run (and the warm W3w from the cache)
    ("xvirt-stale", "W1"): 1, ("xvirt-stale", "W2"): 1, ("xvirt-stale", "W3"): 1, ("xvirt-stale", "W3w"): 0,
}
# xenstore messages: only strict xvirt talks to xenstored (names); W3 on a fresh connection
# registers 3 watches, syncs once and reads every name; warm, one sync round trip
XENSTORE = {("xvirt-strict", "W1"): n, ("xvirt-strict", "W2"): 0, ("xvirt-strict", "W3"): 3 + 1 + n,
            ("xvirt-strict", "W3w"): 1}
REPLAYS = ("prepatch", "patch1", "patch2")
XVIRT = ("xvirt-strict", "xvirt-xend", "xvirt-stale")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    data = run(parse_args(["--quick", "--no-libvirt", "--out", str(out)]))
    return data, out


def cell(data, strategy, workload, n_guests=N):
    found = [c for c in data["cells"] if (c["strategy"], c["workload"], c["n"]) == (strategy, workload, n_guests)]
    assert len(found) == 1, (strategy, workload)
    return found[0]


def test_quick_settings(quick):
    data, _ = quick
    st = data["meta"]["settings"]
    assert st["quick"] and st["ns"] == [N] and st["latency_ms"] == 0 and st["churn_rate"] == 0
    assert data["meta"]["libvirt"] == "not run (--no-libvirt)"


@pytest.mark.parametrize("key", sorted(XEND))
def test_exact_xend_requests(quick, key):
    data, _ = quick
    c = cell(data, *key)
    assert c["status"] == "ok" and c["ids"] == n
    assert c["xend"] == XEND[key], c["xend_endpoints"]
    assert c["xend_client"] == c["xend"]          # client and simulator agree
    assert c["xenstore"] == XENSTORE.get(key, 0), c["xenstore_types"]
    assert c["xenstore_client"] == c["xenstore"]
    assert c["open"] == {"xend": 1 if key[0] in REPLAYS else 0, "xenstore": 0}
    assert c["exact_xend"] == XEND[key] == plan.xend_requests(*key, n)
    assert plan.xenstore_messages(*key, n) == XENSTORE.get(key, 0)
    assert c["detail"]["found"] == c["detail"]["listed"] == (5 * n if key[1] == "W2" else n)


def test_replay_endpoints(quick):
    data, _ = quick
    pre = cell(data, "prepatch", "W1")["xend_endpoints"]
    assert pre == {"GET /xend/domain?detail=1": 1, "GET /xend/domain": n, "GET /xend/domain/<x>": SCAN + n}
    p2 = cell(data, "patch2", "W2")["xend_endpoints"]
    assert p2 == {"GET /xend/domain?detail=1": 5, "GET /xend/domain/<x>": n + 5 * n}


def test_replays_have_no_bulk_call(quick):
    data, _ = quick
    for algo in REPLAYS:
        for wl in ("W3", "W3w"):
            assert cell(data, algo, wl)["status"] == "n/a"


def test_2006_rows(quick):
    data, _ = quick
    r = data["repro2006"]
    assert r["domains"] == 20
    m = 20  # Domain-0 + 19 guests, as virsh list showed the thread's host
    want = {("prepatch", "W1"): 1 + m + m * (m + 1) // 2,      # 231: "~230"
            ("patch1", "W1"): 1 + m,                            # 21
            ("patch1", "W2"): 1 + 5 * m,                        # 101
            ("patch2", "W2"): 1 + m,                            # 21
            ("prepatch", "W2"): 1 + 5 * (m + m * (m + 1) // 2)}  # 1151
    got = {(row["strategy"], row["workload"]): row["cell"] for row in r["rows"]}
    assert set(got) == set(want)
    for key, total in want.items():
        c = got[key]
        assert c["status"] == "ok"
        assert c["open"]["xend"] + c["xend"] == total == c["exact_total"], key
        assert c["xend_client"] == c["xend"]
    assert [want[k] for k in [("prepatch", "W1"), ("patch1", "W1"), ("patch1", "W2"), ("patch2", "W2")]] == [231, 21, 101, 21]


def test_w4_zero_wrong_answers_for_xvirt(quick):
    data, _ = quick
    for key in XVIRT:
        c = cell(data, key, "W4")
        d = c["detail"]
        assert d["wrong"] == 0, d["wrong_samples"]
        assert d["errors"] == 0, d["error_samples"]
        assert d["lookups"] == 5 * n  # the churn keeps the number of running domains
    # strict xvirt never needed XenD for it, even under churn
    assert cell(data, "xvirt-strict", "W4")["xend"] == 0


def test_w4_patch2_gives_false_answers(quick):
    data, _ = quick
    d = cell(data, "patch2", "W4")["detail"]
    assert d["wrong_lookups"] > 0
    # the scripted churn moves ids between the listing and the lookups, so the cache answers for
    # ids that nobody holds any more (the rover never hands an id out twice in a run)
    assert d["wrong_ghost"] == d["wrong_lookups"]
    # each wrong answer names a domain that, before and after the call, no longer had that id
    for s in d["wrong_samples"]:
        assert s["answer"] not in s["before"] + s["after"]
    # the replays without a cache re-ask XenD and are right
    for algo in ("prepatch", "patch1"):
        assert cell(data, algo, "W4")["detail"]["wrong"] == 0


def test_w4_truth_checks_and_churn(quick):
    data, _ = quick
    for key in REPLAYS + XVIRT:
        c = cell(data, key, "W4")
        assert c["table_matches_truth_before"] and c["table_matches_truth_after"]
        assert c["history_matches_table"]
        assert c["churn"]["failed"] == 0, c["churn"]["failures"]
        assert c["churn"]["ops"] == {"save_restore": 5, "reboot": 5, "rename": 5, "replace": 5}


def test_outputs_written(quick):
    data, out = quick
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["cells"]) == len(data["cells"])
    report = (out / "report.md").read_text()
    for heading in ("## Summary", "## The 2006 rows, reproduced", "## W4: answers under churn",
                    "## Where each strategy stops", "## All measurements", "## Method"):
        assert heading in report
    assert data["meta"]["machine"]["cores"] >= 1


def test_fallback_png_writer(quick, tmp_path):
    data, _ = quick
    path = tmp_path / "fallback.png"
    write_png_fallback(data, str(path), NAMES)
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    width, height = struct.unpack(">II", raw[16:24])
    assert width > 0 and height > 0 and raw.endswith(b"IEND\xaeB`\x82")


def test_skip_large_is_reported_not_silent(tmp_path):
    data = run(parse_args(["--quick", "--n", "2000", "--skip-large", "--no-2006", "--no-libvirt",
                           "--out", str(tmp_path)]))
    assert data["meta"]["skipped_ns"] == [2000]
    skipped = [c for c in data["cells"] if c["n"] == 2000]
    assert skipped and all(c["status"] == "skipped" and "--skip-large" in c["reason"] for c in skipped)
    assert "Skipped on request (`--skip-large`): N = 2000" in (tmp_path / "report.md").read_text()
