"""Fixtures for the in-dom0 suite: `xl` as the truth, PV guests g1..g3, a reporter the host side reads.

Runs inside the Xen 4.17 dom0 booted by tests/realxen/test_realxen.py, as root, with the checkout's
src/ on PYTHONPATH. Each test's outcome is printed as one ``XVIRT_DOM0_RESULT {json}`` line on the
console so the host-side test can report every in-dom0 failure by name.
"""

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

GUEST_CFG = "/opt/xenqemu/guest.cfg"
GUESTS = ("g1", "g2", "g3")
GUEST_MEM = 96   # the Debian kernel of the guests crashes at boot with 80


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        text = "" if report.passed else str(report.longrepr)[-6000:]
        line = json.dumps({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                           "seconds": round(report.duration, 3), "longrepr": text})
        sys.__stdout__.write(f"\nXVIRT_DOM0_RESULT {line}\n")
        sys.__stdout__.flush()


def run(*cmd, check=True, timeout=120, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed rc={r.returncode}: {r.stdout}{r.stderr}")
    return r


XL_SLOW = 300   # seconds a domain build/save/restore may take on a loaded machine under TCG


def xl(*args, check=True, timeout=120):
    return run("xl", *args, check=check, timeout=timeout)


@dataclass(frozen=True)
class XlDom:
    name: str
    id: int
    mem_mib: int
    vcpus: int
    state: str
    uuid: str


def xl_list() -> dict:
    """``xl list -v``: name -> XlDom (the truth the tests compare with)."""
    out = {}
    for line in xl("list", "-v").stdout.splitlines()[1:]:
        f = line.split()
        if len(f) >= 7:
            out[f[0]] = XlDom(f[0], int(f[1]), int(f[2]), int(f[3]), f[4], f[6])
    return out


def bracketed(fn, tries=20):
    """``(fn(), truth)`` where ``xl list -v`` gave the same ``truth`` just before and just after
    ``fn`` ran: a guest's memory moves by itself for a while after it boots (its balloon driver
    gives back what libxl's build left), so only an answer bracketed by one steady truth can be
    compared with it."""
    for _ in range(tries):
        before = xl_list()
        result = fn()
        after = xl_list()
        if {n: (d.id, d.mem_mib) for n, d in after.items()} == {n: (d.id, d.mem_mib) for n, d in before.items()}:
            return result, after
        time.sleep(1.0)
    raise AssertionError(f"xl list did not hold still across {tries} tries")


def wait_for(pred, what, timeout=90.0, interval=0.2):
    """Poll ``pred`` until it returns a truthy value; the deadline only bounds the wait."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def guest_cfg(name, mem=GUEST_MEM):
    cfg = f"/tmp/{name}.cfg"
    with open(GUEST_CFG) as f:
        text = f.read()
    text = re.sub(r'^name = .*$', f'name = "{name}"', text, flags=re.M)
    text = re.sub(r'^memory = .*$', f'memory = {mem}', text, flags=re.M)
    with open(cfg, "w") as f:
        f.write(text)
    return cfg


def _xs_read(path):
    from xvirt.protocol.xenstore import XsNoEntError
    from xvirt.transport.xenstore import XenstoreClient
    xs = XenstoreClient("/run/xenstored/socket")
    try:
        return xs.read(path)
    except XsNoEntError:
        return None
    finally:
        xs.close()


def _settled(d) -> bool:
    """The guest's kernel answers control requests (it wrote control/feature-suspend: before
    that, `xl save`/`xl reboot` fail with "guest didn't acknowledge") and its balloon driver has
    brought its memory to libxl's target (until then `xl list` shows the build's extra MiB)."""
    if _xs_read(f"/local/domain/{d.id}/control/feature-suspend") != b"1":
        return False
    target = _xs_read(f"/local/domain/{d.id}/memory/target")
    return target is not None and d.mem_mib == int(target) // 1024


def wait_ready(names):
    """Until each guest booted and settled (see _settled)."""
    def ready():
        have = xl_list()
        for n in names:
            if n in have and "c" in have[n].state:
                raise AssertionError(f"guest {n} crashed while booting:\n{console(n)}")
        return all(n in have and _settled(have[n]) for n in names)
    wait_for(ready, f"{names} to boot", timeout=XL_SLOW, interval=1.0)


def console(name, lines=30):
    try:
        with open(f"/var/log/xen/console/guest-{name}.log", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(no console log: {e})"


def make_guest(name, mem=GUEST_MEM):
    xl("create", guest_cfg(name, mem), timeout=XL_SLOW)
    wait_ready([name])
    return xl_list()[name]


def make_guests(names):
    """Create several guests at once (building a domain is slow under QEMU's emulated CPU)."""
    procs = [(n, subprocess.Popen(["xl", "create", guest_cfg(n)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)) for n in names]
    for n, p in procs:
        out, _ = p.communicate(timeout=XL_SLOW)
        assert p.returncode == 0, f"xl create {n} failed rc={p.returncode}: {out}"
    wait_ready(names)


def toolstack_calls(conn) -> int:
    """Requests to any toolstack (XenD, xl/libxl) the connection made."""
    c = conn.request_counts()
    return c.get("xend_total", 0) + c.get("xl_total", 0)


@pytest.fixture
def guests():
    """g1..g3 running (created when missing; a test that changed them leaves them running)."""
    have = xl_list()
    missing = [n for n in GUESTS if n not in have]
    if missing:   # only new guests are waited for: a restored guest does not write its features again
        make_guests(missing)
    return xl_list()


@pytest.fixture
def conn():
    import xvirt
    c = xvirt.open("xen:///")
    yield c
    c.close()
