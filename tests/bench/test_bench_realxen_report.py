"""The real-Xen benchmark's report from a result record (the measuring half runs only in dom0)."""

import json

from bench import realxen


def _t(ms):
    return {"n": 20, "median_ms": ms, "min_ms": ms * 0.9, "max_ms": ms * 1.2}


RESULT = {
    "meta": {"domains": 4, "xvirt_ids": [0, 1, 2, 3], "libvirt_ids": [0, 1, 2, 3], "names": ["Domain-0", "g1", "g2", "g3"],
             "xen": "4.17.5", "libvirt": 9000000, "python": "3.11.2", "libvirt_W3": "listAllDomains+info"},
    "workloads": {"W1": {"xvirt": _t(10.0), "libvirt": _t(40.0), "xl list": _t(200.0), "xl list -l": _t(300.0)},
                  "W2": {"xvirt": _t(20.0), "libvirt": _t(200.0), "xl list": _t(1000.0)},
                  "W3": {"xvirt": _t(8.0), "libvirt": _t(20.0), "xl list -l": _t(300.0)},
                  "W3w": {"xvirt": _t(4.0), "libvirt": _t(16.0)}},
    "percall": {"lookup_by_id": {"xvirt": _t(0.5), "libvirt": _t(4.0)}, "info": {"xvirt": _t(0.4), "libvirt": _t(4.0)}},
    "counts": {"W2": {"xend": 0, "xenstore": 0, "hypervisor": 25, "toolstack": 0}},
}


def test_report_has_ratios_and_counts(tmp_path):
    path = realxen.write_report(RESULT, str(tmp_path), boot_s=120.0, reps=20)
    text = open(path).read()
    assert "| W1 | 10.00 ms | 40.00 ms | 200.00 ms | 300.00 ms | 4.0x | 20.0x |" in text
    assert "| W2 | 20.00 ms | 200.00 ms | 1000.00 ms | - | 10.0x | 50.0x |" in text
    assert "| W3w | 4.00 ms | 16.00 ms | - | - | 4.0x | - |" in text
    assert "| lookup_by_id | 0.500 ms | 4.000 ms | 8.0x |" in text
    assert "| W2 | 0 | 0 | 25 |" in text and "libvirt 9.0.0" in text and "Xen 4.17.5" in text
    saved = json.loads((tmp_path / "realxen.json").read_text())
    assert saved["workloads"]["W1"]["xvirt"]["median_ms"] == 10.0 and saved["reps"] == 20
