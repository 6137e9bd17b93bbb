"""``xvirt top`` on a simulated host: XenD cost, CSV, history across save/restore, the live view in a pty."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time

import xvirt
from cli_helpers import Run
from test_cli_top_sampler import VIRT_TOP_CSV_HEADER


def test_top_batch_five_samples_of_twenty_domains_costs_no_xend_request(simhost):
    simhost.control.reset_counters()
    r = Run(simhost.uri)("top", "-b", "-n", "5", "-d", "0.2")
    counters = simhost.control.counters()
    assert r.exit_code == 0, r.stderr
    # the 5 bulk samples and the host facts (hypervisor physinfo) cost no XenD request
    assert counters["xend_total"] == 0, counters["xend"]
    frames = r.stdout.split("\nxvirt top ")
    assert len(frames) == 5
    for i, frame in enumerate(frames):
        rows = frame.split(" NAME\n", 1)[1].splitlines()
        assert len(rows) == 21
        assert ("warm-up" in frame) == (i == 0)
        assert all((row.split()[6] == "-") == (i == 0) for row in rows)      # %CPU
        guests = [row.split() for row in rows if row.split()[0] != "0"]
        assert all((g[2] == "-") == (i == 0) for g in guests)                  # RDRQ: a delta


def test_each_sample_costs_the_same_whatever_the_count(simhost):
    run = Run(simhost.uri)
    simhost.control.reset_counters()
    assert run("top", "-b", "-n", "1", "-d", "0.1").exit_code == 0
    one = simhost.control.counters()["xend_total"]
    simhost.control.reset_counters()
    assert run("top", "-b", "-n", "4", "-d", "0.1").exit_code == 0
    assert simhost.control.counters()["xend_total"] == one


def test_csv_file_has_virt_tops_header_and_one_wide_row_per_sample(simhost, tmp_path):
    path = tmp_path / "top.csv"
    r = Run(simhost.uri)("top", "-b", "-n", "2", "-d", "0.2", "--csv", str(path))
    assert r.exit_code == 0
    text = path.read_text()
    assert text.splitlines(keepends=True)[0] == VIRT_TOP_CSV_HEADER
    rows = list(csv.reader(text.splitlines()[1:]))
    assert len(rows) == 2
    running = simhost.control.truth()["running"]
    for row in rows:
        assert len(row) == 18 + 10 * len(running)
        assert row[0] == simhost.control.truth()["hostname"] and row[3] == "8"
        assert [int(row[18 + 10 * i]) for i in range(len(running))] == [d["domid"] for d in running]
    assert rows[0][13] == "" and float(rows[1][13]) >= 0


def test_script_mode_writes_only_csv(simhost, tmp_path):
    path = tmp_path / "s.csv"
    r = Run(simhost.uri)("top", "--script", "-n", "2", "-d", "0.1", "--csv", str(path))
    assert (r.exit_code, r.stdout) == (0, "")
    assert len(path.read_text().splitlines()) == 3
    r = Run(simhost.uri)("top", "-n", "1", "--csv", "-")
    assert r.stdout == VIRT_TOP_CSV_HEADER + r.stdout.split("\n", 1)[1]


def test_saved_and_restored_domain_keeps_its_history_under_the_new_id(simhost):
    """A real run: the domain is saved and restored by another tool between two samples."""
    proc = subprocess.Popen([sys.executable, "-m", "xvirt.cli.main", "-c", simhost.uri, "top", "--json",
                             "-n", "6", "-d", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        frames = [json.loads(proc.stdout.readline()) for _ in range(2)]
        old = next(d for d in frames[1]["domains"] if d["name"] == "db-01")
        simhost.control.op("save", "db-01", file="db.img")
        simhost.control.restore("db.img")
        frames += [json.loads(line) for line in proc.stdout]
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert len(frames) == 6
    assert frames[0]["warmup"] and not any(f["warmup"] for f in frames[1:])
    after = [next(d for d in f["domains"] if d["uuid"] == old["uuid"]) for f in frames[2:]
             if any(d["uuid"] == old["uuid"] for d in f["domains"])]
    assert after, "the restored domain is sampled again"
    first_back = after[0]
    assert first_back["id"] != old["id"]
    assert first_back["cpu_percent"] is not None and first_back["cpu_delta_ns"] is not None  # not a warm-up
    for f in frames[1:]:  # nobody else was ever blanked
        assert all(d["cpu_percent"] is not None for d in f["domains"] if d["uuid"] != old["uuid"])
        assert len([d for d in f["domains"] if d["uuid"] != old["uuid"]]) == 20


# -- the live view in a pseudo-terminal -----------------------------------------------------------
class Pty:
    """Run ``xvirt top`` on a pseudo-terminal and read its screen output."""

    def __init__(self, uri: str, *extra: str) -> None:
        self.master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm", COLUMNS="120", LINES="40")
        # a session of its own with the pty as controlling terminal, so ^C becomes SIGINT as in a shell
        self.proc = subprocess.Popen([sys.executable, "-m", "xvirt.cli.main", "-c", uri, "top", "-d", "0.3", *extra],
                                     stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.out = b""

    def read_until(self, needle: bytes, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.out and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:
                    break
        return needle in self.out

    def send(self, data: bytes) -> None:
        self.out = b""
        os.write(self.master, data)

    def wait(self, timeout: float = 60.0) -> int | None:
        """The exit status once the process has exited and its last output has been read (the
        pty reports EOF/EIO); None if that did not happen within ``timeout`` (one deadline for
        the whole wait: a busy machine only makes it take longer, never changes the outcome)."""
        deadline = time.monotonic() + timeout
        eof = False
        while time.monotonic() < deadline and not (eof and self.proc.poll() is not None):
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:   # EIO: every holder of the terminal's other side has gone
                    data = b""
                self.out += data
                eof = not data
        return self.proc.poll() if eof else None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_live_view_sorts_on_keys_and_quits_cleanly_on_q(simhost, tmp_path):
    csv_path = tmp_path / "live.csv"
    term = Pty(simhost.uri, "--csv", str(csv_path))
    try:
        assert term.read_until(b"NAME", timeout=60), term.out[-500:]
        assert term.read_until(b"%CPU*", timeout=60)  # default sort column marked
        term.send(b"M")
        assert term.read_until(b"%MEM*", timeout=60), term.out[-500:]
        term.send(b"q")
        assert term.wait() == 0, term.out[-1000:]
        assert b"\x1b[?1049l" in term.out          # left the alternate screen
    finally:
        term.close()
    lines = csv_path.read_text().splitlines(keepends=True)
    assert lines[0] == VIRT_TOP_CSV_HEADER and len(lines) >= 2  # the live view also logs CSV


def test_live_view_quits_cleanly_on_ctrl_c(simhost):
    term = Pty(simhost.uri)
    try:
        # the whole first screen, status line included: the view is in its key loop
        assert term.read_until(b"q quit", timeout=60), term.out[-500:]
        term.send(b"\x03")                          # the tty turns it into SIGINT
        code = term.wait()
        # the exit status is the condition: what the program writes after ^C may be lost on
        # the way through the pty (it is, about half the time, on this machine's kernel)
        assert code == 0, (code, term.out[-1000:])
        assert b"Traceback" not in term.out, term.out[-2000:]
    finally:
        term.close()


def test_live_view_refreshes_at_once_on_a_domain_event(simhost):
    """With a one-minute interval the view still shows a destroyed domain's event and the row goes
    at once: the event wakes the view instead of the interval."""
    simhost.control.call("settings", set={"dying_delay": 5.0})
    victim = simhost.control.truth()["running"][1]["name"]
    term = Pty(simhost.uri, "-d", "60")
    try:
        assert term.read_until(b"NAME") and term.read_until(victim.encode())
        simhost.control.op("destroy", victim)
        assert term.read_until(f"event: {victim} Stopped Destroyed (1 events)".encode(), 30), term.out[-800:]
        term.send(b"q")
        assert term.wait() == 0
    finally:
        term.close()
