"""Debian's xenstore-utils (libxenstore 4.17) against the simulated xenstored.

libxenstore connects to the path in ``XENSTORED_PATH`` (tools/libs/store/xs.c; in 4.17 the
read-only socket is no longer a separate client mode, so the read-only socket is reached by
pointing ``XENSTORED_PATH`` at it). xenstore-write and xenstore-rm wrap their work in a
transaction; xenstore-ls/xenstore-list fall back to DIRECTORY_PART when DIRECTORY answers
E2BIG. These tests must run: a missing binary is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from xvirt.sim.counters import Counters
from xvirt.sim.xenstore_tree import XenstoreTree
from xvirt.sim.xenstored import XenstoredServer

TOOLS = ("xenstore-read", "xenstore-write", "xenstore-rm", "xenstore-ls", "xenstore-list",
         "xenstore-exists", "xenstore-watch")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's xenstore-utils "
                    f"(apt-get install xenstore-utils) to run the real-client tests")
    return path


class Sim:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="xvxs-")
        self.rw = os.path.join(self.dir, "xenstored.sock")
        self.ro = os.path.join(self.dir, "xenstored_ro.sock")
        self.tree = XenstoreTree()
        self.counters = Counters()
        self.server = XenstoredServer(self.tree, self.rw, self.ro, counters=self.counters).start()

    def run(self, name: str, *args: str, ro: bool = False, timeout: float = 20):
        env = dict(os.environ, XENSTORED_PATH=self.ro if ro else self.rw)
        return subprocess.run([tool(name), *args], env=env, capture_output=True, text=True,
                              timeout=timeout)

    def close(self) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sim():
    for name in TOOLS:
        tool(name)
    s = Sim()
    s.tree.write("/local/domain/0/name", b"Domain-0")
    s.tree.write("/local/domain/1/name", b"web")
    s.tree.write("/local/domain/1/memory/target", b"524288")
    s.tree.write("/local/domain/1/vm", b"/vm/0f0e0d0c-0b0a-0908-0706-050403020100")
    yield s
    s.close()


def test_write_then_read_back(sim: Sim) -> None:
    r = sim.run("xenstore-write", "/local/domain/1/control/shutdown", "poweroff")
    assert r.returncode == 0, r.stderr
    assert sim.tree.read("/local/domain/1/control/shutdown") == b"poweroff"
    r = sim.run("xenstore-read", "/local/domain/1/control/shutdown", "/local/domain/1/name")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "poweroff\nweb\n"
    snap = sim.counters.snapshot()["xenstore"]
    assert snap["WRITE"] == 1 and snap["READ"] == 2
    assert snap["TRANSACTION_START"] == snap["TRANSACTION_END"] >= 1


def test_read_of_a_missing_node_fails(sim: Sim) -> None:
    r = sim.run("xenstore-read", "/local/domain/9/name")
    assert r.returncode != 0 and "/local/domain/9/name" in r.stderr
    assert sim.run("xenstore-exists", "/local/domain/1/name").returncode == 0
    assert sim.run("xenstore-exists", "/local/domain/9").returncode != 0


def test_xenstore_ls_lists_local_domain(sim: Sim) -> None:
    r = sim.run("xenstore-ls", "/local/domain")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == [
        '0 = ""',
        ' name = "Domain-0"',
        '1 = ""',
        ' name = "web"',
        ' memory = ""',
        '  target = "524288"',
        ' vm = "/vm/0f0e0d0c-0b0a-0908-0706-050403020100"',
    ]
    r = sim.run("xenstore-ls", "-p", "/local/domain/1")
    assert r.returncode == 0, r.stderr
    assert "(n0)" in r.stdout


def test_xenstore_list_of_a_directory_larger_than_one_message(sim: Sim) -> None:
    with sim.tree.batch():
        for i in range(2, 1502):
            sim.tree.write(f"/local/domain/{i}/name", f"guest{i}")
    r = sim.run("xenstore-list", "/local/domain")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(i) for i in range(1502)]
    assert sim.counters.snapshot()["xenstore"].get("DIRECTORY_PART", 0) >= 2


def test_rm(sim: Sim) -> None:
    r = sim.run("xenstore-rm", "/local/domain/1")
    assert r.returncode == 0, r.stderr
    assert not sim.tree.exists("/local/domain/1")
    assert sim.tree.directory("/local/domain") == ["0"]
    r = sim.run("xenstore-list", "/local/domain")
    assert r.stdout.split() == ["0"]


def test_read_only_socket_refuses_a_write(sim: Sim) -> None:
    r = sim.run("xenstore-write", "/local/domain/1/name", "hacked", ro=True)
    assert r.returncode != 0
    assert sim.tree.read("/local/domain/1/name") == b"web"
    r = sim.run("xenstore-rm", "/local/domain/1", ro=True)
    assert r.returncode != 0 and sim.tree.exists("/local/domain/1")
    r = sim.run("xenstore-read", "/local/domain/1/name", ro=True)  # reads are fine
    assert r.returncode == 0 and r.stdout == "web\n"


def test_xenstore_watch_sees_the_immediate_event(sim: Sim) -> None:
    r = sim.run("xenstore-watch", "-n", "1", "/local/domain", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/local/domain"]
