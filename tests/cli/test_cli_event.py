"""``xvirt event``: virsh's event lines for operations another program does, --list, options, errors."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cli_helpers import running
from event_listener import listening_cost, wait_subscribed

pytestmark = pytest.mark.simhost(domains=3)

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: "


def _spawn(uri: str, *args: str) -> subprocess.Popen:
    code = "from xvirt.cli.main import cli; cli()"
    return subprocess.Popen([sys.executable, "-c", code, "-c", uri, "event", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_event_loop_prints_virsh_lines_with_timestamps(simhost):
    simhost.control.call("settings", set={"dying_delay": 3.0})
    cost = listening_cost(simhost)
    before = simhost.control.counters()["xenstore"]
    proc = _spawn(simhost.uri, "--all", "--loop", "--timestamp", "--timeout", "60")
    try:
        wait_subscribed(simhost, before, cost)
        dom = running(simhost)[1]
        lines = []
        for op in ("pause", "unpause", "destroy"):
            simhost.control.op(op, dom["name"])
            lines.append(proc.stdout.readline())   # one event per operation, in order
        assert [re.sub(STAMP, "", line) for line in lines] == [
            f"event 'lifecycle' for domain '{dom['name']}': Suspended Paused\n",
            f"event 'lifecycle' for domain '{dom['name']}': Resumed Unpaused\n",
            f"event 'lifecycle' for domain '{dom['name']}': Stopped Destroyed\n"]
        assert all(re.match(STAMP, line) for line in lines)
        simhost.stop()   # the host goes away: the loop ends with what it received
        out, err = proc.communicate(timeout=60)
        assert (out, proc.returncode) == ("events received: 3\n\n", 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_without_loop_the_first_event_ends_it(simhost):
    dom = running(simhost)[1]
    cost = listening_cost(simhost, dom["name"])
    before = simhost.control.counters()["xenstore"]
    proc = _spawn(simhost.uri, "--event", "lifecycle", "--domain", dom["name"])
    try:
        wait_subscribed(simhost, before, cost)
        simhost.control.op("pause", running(simhost)[2]["name"])   # another domain: filtered out
        simhost.control.op("pause", dom["name"])
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            now = simhost.control.counters()["xenstore"]
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(("the listener missed the pause", cost,
                                  {k: v - before.get(k, 0) for k, v in now.items()}, out, err[-800:])) from None
        assert out == f"event 'lifecycle' for domain '{dom['name']}': Suspended Paused\nevents received: 1\n\n"
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_timeout_without_events(xv):
    r = xv("event", "--event", "reboot", "--timeout", "1")
    assert (r.exit_code, r.stdout) == (0, "event loop timed out\nevents received: 0\n\n")


def test_list_and_option_errors(xv):
    r = xv("event", "--list")
    assert r.exit_code == 0 and r.stdout.splitlines()[:2] == ["lifecycle", "reboot"]
    r = xv("event")
    assert r.exit_code == 1 and "one of --list, --all, or --event <type> is required" in r.stderr
    r = xv("event", "--event", "nonsense")
    assert r.exit_code == 1 and "unknown event type nonsense" in r.stderr
    r = xv("event", "--all", "--timeout", "0")
    assert r.exit_code == 1 and "invalid timeout value" in r.stderr
    r = xv("event", "--all", "--domain", "no-such-domain", "--timeout", "1")
    assert r.exit_code == 1 and "no-such-domain" in r.stderr


def test_a_xend_only_uri_says_what_it_cannot_deliver(simhost, xv):
    from cli_helpers import Run
    from xvirt.cli.commands_event import NO_PUSH_NOTE
    r = Run(f"xen+unix://{simhost.paths.xend}")("event", "--all", "--timeout", "1")
    assert r.exit_code == 0 and NO_PUSH_NOTE in r.stderr and "events received: 0" in r.stdout
    r = xv("event", "--all", "--timeout", "1")   # with xenstore and the records: no such note
    assert r.exit_code == 0 and "note:" not in r.stderr
