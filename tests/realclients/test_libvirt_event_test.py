"""libvirt-python's own examples/event-test.py, unmodified, against a simulated host through the facade.

The file comes from libvirt-python 9.0.0's sdist on PyPI (scripts/ensure-deps fetches it into
.venv/share/xvirt-realclients/, checked by sha256; it is not part of this repository). It runs under
``python -m xvirt.libvirt`` (which makes ``import libvirt``/``import libvirtaio`` load xvirt's) in
each of its three loop modes — ``native`` (virEventRegisterDefaultImpl + virEventRunDefaultImpl),
``poll`` (its own poll() loop through virEventRegisterImpl), ``asyncio`` (libvirtaio) — registers
every callback it knows, sees the lifecycle and reboot events of operations done with the CLI, in
its own words, and ends through its close callback when the host stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from event_listener import listening_cost, wait_subscribed
from xvirt.cli.main import cli

EVENT_TEST = Path(sys.prefix) / "share" / "xvirt-realclients" / "libvirt-python-9.0.0" / "examples" / "event-test.py"


def _xvirt(uri: str, *args: str) -> None:
    r = CliRunner().invoke(cli, ["-c", uri, *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("loop", ["native", "poll", "asyncio"])
@pytest.mark.simhost(domains=3)
def test_event_test_py_sees_cli_operations_then_the_close(simhost, loop):
    if not EVENT_TEST.is_file():
        pytest.fail(f"{EVENT_TEST} missing: run scripts/ensure-deps test (it fetches libvirt-python's sdist)")
    simhost.control.call("settings", set={"dying_delay": 3.0})
    cost = listening_cost(simhost)
    before = simhost.control.counters()["xenstore"]
    proc = subprocess.Popen([sys.executable, "-m", "xvirt.libvirt", str(EVENT_TEST), "--loop", loop,
                             "--timeout", "120", simhost.uri],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))   # its prints go to a pipe
    try:
        assert proc.stdout.readline() == f"Using uri '{simhost.uri}' and event loop '{loop}'\n"
        wait_subscribed(simhost, before, cost)
        dom = simhost.control.truth()["running"][1]
        name, domid = dom["name"], dom["domid"]
        lines = []

        def expect(*events):
            got = [proc.stdout.readline() for _ in range(len(events))]
            lines.extend(got)
            assert got == [e + "\n" for e in events], "".join(lines)

        # two lifecycle callbacks (domainEventRegister, then domainEventRegisterAny with opaque 2)
        for op, words in (("suspend", "Suspended Paused"), ("resume", "Resumed Unpaused")):
            _xvirt(simhost.uri, op, name)
            expect(f"myDomainEventCallback1 EVENT: Domain {name}({domid}) {words}",
                   f"myDomainEventCallback2 EVENT: Domain {name}({domid}) {words}")
        _xvirt(simhost.uri, "destroy", name)
        expect(f"myDomainEventCallback1 EVENT: Domain {name}(-1) Stopped Destroyed",
               f"myDomainEventCallback2 EVENT: Domain {name}(-1) Stopped Destroyed")
        _xvirt(simhost.uri, "start", name)
        new = next(d["domid"] for d in simhost.control.truth()["running"] if d["name"] == name)
        expect(f"myDomainEventCallback1 EVENT: Domain {name}({new}) Started Booted",
               f"myDomainEventCallback2 EVENT: Domain {name}({new}) Started Booted")
        simhost.control.guest("reboot", name)     # the guest reboots itself: a new id
        expect(f"myDomainEventCallback1 EVENT: Domain {name}({new}) Shutdown Finished",
               f"myDomainEventCallback2 EVENT: Domain {name}({new}) Shutdown Finished",
               f"myDomainEventCallback1 EVENT: Domain {name}(-1) Stopped Shutdown",
               f"myDomainEventCallback2 EVENT: Domain {name}(-1) Stopped Shutdown")
        got = [proc.stdout.readline() for _ in range(3)]   # the new instance exists once told
        newer = next(d["domid"] for d in simhost.control.truth()["running"] if d["name"] == name)
        assert got == [f"myDomainEventCallback1 EVENT: Domain {name}({newer}) Started Booted\n",
                       f"myDomainEventCallback2 EVENT: Domain {name}({newer}) Started Booted\n",
                       f"myDomainEventRebootCallback: Domain {name}({newer})\n"], "".join(lines + got)
        simhost.stop()                            # the close callback ends its main loop
        out, err = proc.communicate(timeout=60)
        assert out == f"myConnectionCloseCallback: {simhost.uri}: End-of-file\nClosing {simhost.uri}\n", err
        assert proc.returncode == 0 and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
