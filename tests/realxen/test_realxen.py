"""Boots real Xen 4.17 (QEMU) once, runs the in-dom0 suite there and reports each of its tests here.

The image is built once per recipe hash and cached (realxen/image.py). The checkout's src/,
examples/ and tests/realxen/dom0/ travel into dom0 in the initramfs; the suite runs as root under
Debian 12's pytest with src/ on PYTHONPATH and prints one result line per test, which the tests
below turn back into one host-side test per in-dom0 test, failing with the in-dom0 report.
"""

import ast
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOM0 = HERE / "dom0"

_spec = importlib.util.spec_from_file_location("xvirt_realxen_image", REPO / "realxen" / "image.py")
image = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = image          # dataclasses look their module up
_spec.loader.exec_module(image)

DOM0_SCRIPT = """
cd /run/xenqemu/checkout || exit 3
export PYTHONPATH=$PWD/src HOME=/root   # bytecode is cached (tmpfs): each CLI process would compile again
python3 -m pytest -c tests/realxen/dom0/pytest.ini --rootdir tests/realxen/dom0 -q --durations=0 tests/realxen/dom0
"""


def _dom0_tests() -> list[str]:
    out = []
    for f in sorted(DOM0.glob("test_*.py")):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                out.append(f"{f.name}::{node.name}")
    return out


@pytest.fixture(scope="session")
def dom0_run():
    t0 = time.monotonic()
    built = image.ensure_image()
    # libvirt-python's own event-test.py (fetched by scripts/ensure-deps test; not committed)
    event_test = Path(sys.prefix) / "share" / "xvirt-realclients" / "libvirt-python-9.0.0" / "examples" / "event-test.py"
    if not event_test.is_file():
        pytest.fail(f"{event_test} missing: run scripts/ensure-deps test first")
    res = image.boot(DOM0_SCRIPT, timeout=float(os.environ.get("XVIRT_REALXEN_TIMEOUT", "1200")),
                     extra={"event-test.py": event_test})
    results = {}
    for line in res.output.splitlines():
        if line.startswith("XVIRT_DOM0_RESULT "):
            r = json.loads(line.split(" ", 1)[1])
            results.setdefault(r["nodeid"], []).append(r)
    timings = {"image": "built" if built.built else "cached", "image_seconds": round(built.seconds, 1),
               "boot_and_suite_seconds": round(res.seconds, 1), "total_seconds": round(time.monotonic() - t0, 1),
               "rc": res.rc}
    try:    # the whole console of the last run, for reading after a failure
        (image.cache_root() / "last-run.json").write_text(json.dumps(timings, indent=1) + "\n")
        (image.cache_root() / "last-run.log").write_text(res.output)
    except OSError:
        pass
    return res, results, timings


def test_dom0_suite_ran_to_the_end(dom0_run):
    res, results, timings = dom0_run
    assert results, f"no in-dom0 results (rc={res.rc}); console:\n{res.output[-8000:]}"
    tail = res.output[-3000:]
    assert res.rc == 0, f"in-dom0 pytest rc={res.rc} ({timings}):\n{tail}"


@pytest.mark.parametrize("test", _dom0_tests())
def test_in_dom0(dom0_run, test):
    res, results, _ = dom0_run
    mine = {k: v for k, v in results.items() if k == test or k.startswith(test + "[")}
    assert mine, f"{test} did not report in dom0 (rc={res.rc}):\n{res.output[-4000:]}"
    failed = [r for rs in mine.values() for r in rs if r["outcome"] != "passed"]
    assert not failed, "\n\n".join(f"{r['nodeid']} ({r['when']}): {r['outcome']}\n{r['longrepr']}" for r in failed)
