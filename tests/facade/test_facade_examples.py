"""The example programs in examples/ (plain ``import libvirt``) run unmodified against the simulated host.

Each runs in a subprocess through ``python -m xvirt.libvirt``; one also runs through the
PYTHONPATH shim. Their output is compared with the simulator's truth.
"""

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from xvirt import _libvirt_run

from facade_helpers import by_name, inactive, running, truth_state

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STATE_WORDS = {1: "running", 2: "idle", 3: "paused", 4: "in shutdown", 5: "shut off", 6: "crashed"}

pytestmark = pytest.mark.simhost(domains=6, inactive=2)


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LIBVIRT_DEFAULT_URI", "XVIRT_DEFAULT_URI")}
    env.update(extra)
    return env


def run_example(name: str, *args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xvirt.libvirt", str(EXAMPLES / name), *args],
                          capture_output=True, text=True, env=env or clean_env(), timeout=timeout)


def test_examples_import_only_libvirt():
    for name in ("list_domains.py", "save_restore.py", "watch_states.py", "host_info.py"):
        path = EXAMPLES / name
        text = path.read_text()
        assert "\nimport libvirt\n" in text and "xvirt" not in text, path.name


def check_listing(out: str, simhost) -> None:
    lines = out.splitlines()
    t = simhost.control.truth()
    assert lines[0].startswith(f"host {t['hostname']} (Xen ")
    assert lines[0].endswith(f"{len(t['running'])} running, {len(t['inactive'])} inactive")
    rows = [line.split() for line in lines[2:]]
    expected = []
    for d in running(simhost):
        expected.append([str(d["domid"]), d["name"], *STATE_WORDS[truth_state(d["state"])].split(),
                         str(d["maxmem_kib"]), str(d["memory_kib"]), str(d["vcpus"]), d["uuid"]])
    for d in inactive(simhost):
        expected.append(["-", d["name"], "shut", "off", str(d["maxmem_kib"]), str(d["memory_kib"]),
                         str(d["vcpus"]), d["uuid"]])
    assert [r[:-2] + r[-1:] for r in rows] == expected       # every column but the CPU seconds
    assert all(float(r[-2]) >= 0 for r in rows)


def test_list_domains(simhost):
    r = run_example("list_domains.py", simhost.uri)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    check_listing(r.stdout, simhost)


def test_list_domains_after_churn_via_default_uri_and_shim(simhost):
    guests = running(simhost)
    simhost.control.op("pause", guests[1]["name"])
    simhost.control.op("destroy", guests[2]["name"])
    simhost.control.settle()
    r = run_example("list_domains.py", env=clean_env(LIBVIRT_DEFAULT_URI=simhost.uri))
    assert r.returncode == 0, r.stderr
    check_listing(r.stdout, simhost)
    assert " paused " in r.stdout
    # the same program through the PYTHONPATH shim, started as a plain `python program.py`
    shim = subprocess.run([sys.executable, str(EXAMPLES / "list_domains.py"), simhost.uri], capture_output=True,
                          text=True, timeout=60,
                          env=clean_env(PYTHONPATH=_libvirt_run.shim_path() + os.pathsep
                                        + os.environ.get("PYTHONPATH", "")))
    assert shim.returncode == 0, shim.stderr
    check_listing(shim.stdout, simhost)


def test_list_domains_bad_uri_fails_cleanly(simhost):
    r = run_example("list_domains.py", "nonsense://")
    assert r.returncode == 1
    assert "failed to open connection" in r.stderr and "Traceback" not in r.stderr


def test_save_restore(simhost):
    guest = running(simhost)[3]
    r = run_example("save_restore.py", simhost.uri, guest["name"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith(f"domain {guest['name']} id {guest['domid']} uuid {guest['uuid']} state [")
    assert re.fullmatch(rf"saved to {guest['name']}\.save: id -1 active 0 state \[5, \d+\]", out[1])
    now = by_name(simhost, guest["name"])
    assert now["uuid"] == guest["uuid"] and now["domid"] != guest["domid"]
    assert out[2].startswith(f"restored: id {now['domid']} (was {guest['domid']}) name {guest['name']} state [")
    assert out[3] == "same domain by id: True"
    assert out[4] == f"old handle now reports id {now['domid']}"
    # the relative file name was resolved by the host: it lives in the simulator's save directory
    assert (Path(simhost.paths.save) / f"{guest['name']}.save").is_file()


def test_save_restore_with_default_uri_and_file_option(simhost):
    guest = running(simhost)[1]
    r = run_example("save_restore.py", guest["name"], "--file", "other.img",
                    env=clean_env(LIBVIRT_DEFAULT_URI=simhost.uri))
    assert r.returncode == 0, r.stderr
    assert "saved to other.img: id -1" in r.stdout
    assert (Path(simhost.paths.save) / "other.img").is_file()
    assert by_name(simhost, guest["name"])["domid"] != guest["domid"]


def test_save_restore_unknown_domain(simhost):
    r = run_example("save_restore.py", simhost.uri, "no-such-guest")
    assert r.returncode == 1
    assert "no such domain: no-such-guest" in r.stderr


class Lines:
    """A subprocess's stdout, line by line, with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.q: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def until(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"output ended before {pattern!r}: {self.seen}")
            self.seen.append(line)
            if re.search(pattern, line):
                return line


def test_watch_states_reports_changes_keyed_by_uuid(simhost):
    guests = running(simhost)
    paused, saved = guests[1], guests[2]
    proc = subprocess.Popen([sys.executable, "-m", "xvirt.libvirt", str(EXAMPLES / "watch_states.py"), simhost.uri,
                             "--iterations", "60", "--interval", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        lines = Lines(proc)
        lines.until(r"^-- poll 1: ")
        first = lines.seen[:-1]
        total = len(simhost.control.truth()["running"]) + len(simhost.control.truth()["inactive"])
        assert len(first) == total and all(" appeared: " in line for line in first)
        assert f"{paused['uuid']} appeared: {paused['name']} id={paused['domid']} " in "\n".join(first)

        simhost.control.op("pause", paused["name"])
        line = lines.until(rf"^{paused['uuid']} changed: ")
        assert line.endswith(f"id={paused['domid']} paused")

        simhost.control.op("save", saved["name"], file="watch.save")
        simhost.control.restore("watch.save")
        simhost.control.settle()
        new_id = by_name(simhost, saved["name"])["domid"]
        lines.until(rf"^{saved['uuid']} changed: .* -> {saved['name']} id={new_id} ")

        simhost.control.op("rename", paused["name"], name="renamed-guest")
        lines.until(rf"^{paused['uuid']} changed: {paused['name']} .* -> renamed-guest id={paused['domid']} paused")
        lines.until(r"^-- poll 60: ", timeout=30)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # no line ever keyed a change by anything but a known UUID
    uuids = {d["uuid"] for d in guests} | {d["uuid"] for d in inactive(simhost)}
    for line in lines.seen:
        if not line.startswith("--"):
            assert line.split()[0] in uuids, line


def test_host_info_reports_the_hosts_facts(simhost):
    r = run_example("host_info.py", simhost.uri, "--interval", "0.2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    t = simhost.control.truth()
    assert lines[0].startswith(f"host {t['hostname']}: {t['host_cpus']} x x86_64 @ ")
    assert lines[1] == "guest types: hvm/i686 hvm/x86_64 xen/i686 xen/x86_64"
    assert lines[2] == "max vcpus per guest: 32"
    total_kib = int(re.search(r"(\d+) MiB", lines[0]).group(1)) * 1024
    free_kib = total_kib - sum(d["memory_kib"] for d in t["running"])
    assert lines[3] == f"memory: {free_kib} KiB free of {total_kib} KiB"
    assert lines[4] == f"free per cell (KiB): {free_kib}"
    assert lines[5] == f"free (bytes): {free_kib * 1024}"
    assert re.fullmatch(r"cpu busy: \d+\.\d%", lines[6])
    assert lines[7].startswith("system: ")
    assert lines[8] == "networks: not managed by this driver"
