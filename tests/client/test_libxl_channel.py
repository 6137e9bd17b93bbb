"""The libxl toolstack's own parts without a simulated host: toolstack detection, the xl runner's
deadline and bounds against misbehaving `xl` commands, the one xl error map, and the config
directory's crash safety (kill -9 mid-write)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from xvirt.driver import xen as xendrv
from xvirt.driver.configdir import ConfigDir
from xvirt.driver.libxl_toolstack import LibxlToolstack
from xvirt.driver.records import map_xl_error
from xvirt.driver.toolstack import NoToolstack
from xvirt.errors import (DomainExistsError, ErrorDomain, InvalidArgError, NoConnectError, NoDomainError,
                          NoSupportError,
                          OperationFailedError, OperationInvalidError, OperationTimeoutError)
from xvirt.transport.xl import XlRunner
from xvirt.uri import Target, parse_uri

UUID = "3d1f85c3-2bb5-431f-95cf-fe7e71fc8577"


def script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


# -- detection ----------------------------------------------------------------------------------
def test_xen_uri_finds_xend_then_xl_then_nothing(tmp_path, monkeypatch):
    target = parse_uri("xen:///")
    assert target.toolstack is None  # found out at connect time
    sock = tmp_path / "xend-socket"
    sock.write_text("")
    found = xendrv.detect_toolstack(Target("xen:///", str(sock), toolstack=None))
    assert found.toolstack == "xend"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    xl = script(bindir, "xl", "exit 0\n")
    monkeypatch.setenv("PATH", str(bindir))
    found = xendrv.detect_toolstack(Target("xen:///", str(tmp_path / "absent"), toolstack=None))
    assert (found.toolstack, found.xl_command, found.config_dir) == ("libxl", (xl,), "/var/lib/xvirt/libxl")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(xendrv, "XL_PATHS", ())
    monkeypatch.setattr(xendrv.glob, "glob", lambda pattern: [])
    found = xendrv.detect_toolstack(Target("xen:///", str(tmp_path / "absent"), toolstack=None))
    assert found.toolstack == "none"


def test_no_toolstack_reads_nothing_and_refuses_operations_clearly():
    ts = NoToolstack()
    assert ts.defined_names() == [] and ts.facts_by_uuid(UUID) is None
    for op in (lambda: ts.shutdown(UUID), lambda: ts.define_xml("<domain/>"), lambda: ts.restore("/x")):
        with pytest.raises(NoSupportError) as e:
            op()
        assert "neither XenD nor xl" in e.value.message


# -- the runner -----------------------------------------------------------------------------------
def test_runner_counts_each_subcommand(tmp_path):
    runner = XlRunner([script(tmp_path, "xl", 'echo "$@"\n')])
    assert runner.run("list", "-v").stdout == "list -v\n"
    runner.run("list")
    runner.run("pause", "3")
    assert runner.counts() == {"list": 2, "pause": 1}


def test_runner_deadline_kills_a_hanging_xl(tmp_path):
    runner = XlRunner([script(tmp_path, "xl", f"echo $$ > {tmp_path}/pid; exec sleep 600\n")], timeout=0.5)
    with pytest.raises(OperationTimeoutError) as e:
        runner.run("list")
    assert "did not finish within 0.5s" in e.value.message
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left behind
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_runner_reads_a_bounded_amount(tmp_path):
    runner = XlRunner([script(tmp_path, "xl", "head -c 40000000 /dev/zero | tr '\\0' x\n")])
    out = runner.run("list").stdout
    assert len(out) == 16 << 20


def test_missing_xl_is_a_clear_error(tmp_path):
    with pytest.raises(NoSupportError) as e:
        XlRunner([str(tmp_path / "no-xl")]).run("list")
    assert "cannot run" in e.value.message


def test_garbage_output_is_an_error_not_a_traceback(tmp_path):
    ts = LibxlToolstack(Target("xen:///", "/nonexistent", toolstack="libxl",
                               xl_command=(script(tmp_path, "xl", "echo garbage\n"),),
                               config_dir=str(tmp_path / "conf")))
    with pytest.raises(OperationFailedError) as e:
        ts.running_facts()
    assert "cannot read xl's output" in e.value.message


# -- the error map --------------------------------------------------------------------------------
@pytest.mark.parametrize("rc,stderr,cls", [
    (1, "nosuch is an invalid domain identifier (rc=-6)\n", NoDomainError),
    (1, "libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain 99:Non-existant domain\n"
        "destroy failed (rc=-21)\n", NoDomainError),
    (1, 'libxl: error: libxl_domain.c: Domain 3:domain with name "a" already exists.\n'
        "Can't rename domain 'b'.\n", DomainExistsError),
    (1, "Not destroying domain 0; use -f to force.\n", OperationInvalidError),
    (1, "Can't open restore file: No such file or directory\n", InvalidArgError),
    (2, "'xl save' requires at least 2 arguments.\n", InvalidArgError),
    (1, "libxl: error: libxl.c:102:libxl_ctx_alloc: cannot open libxc handle: No such file or directory\n"
        "cannot init xl context\n", NoConnectError),
    (1, "libxl: error: something odd (rc=-3)\n", OperationFailedError),
    (1, "", OperationFailedError),
])
def test_xl_errors_map_to_libvirt_errors(rc, stderr, cls):
    err = map_xl_error(rc, stderr, "virDomainX")
    assert type(err) is cls and err.domain == ErrorDomain.LIBXL
    assert err.message.startswith("virDomainX: ")
    assert "Parsing config" not in err.message


def test_real_xl_error_capture_maps_to_no_domain():
    from pathlib import Path
    real = (Path(__file__).resolve().parents[1] / "data" / "realxen" / "xl-errors.txt").read_text()
    assert type(map_xl_error(1, real.split("+ echo rc=1")[1], "virDomainDestroy")) is NoDomainError


# -- the config directory -------------------------------------------------------------------------
def test_config_dir_files_and_modes(tmp_path):
    store = ConfigDir(str(tmp_path / "var" / "libxl"))
    assert store.uuids() == [] and store.load(UUID) is None
    store.save(UUID, "<domain/>")
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(store.path, f"{UUID}.xml")).st_mode) == 0o600
    assert store.uuids() == [UUID] and store.load(UUID) == "<domain/>"
    store.set_autostart(UUID, True)
    assert store.autostart(UUID)
    (tmp_path / "var" / "libxl" / f"{UUID}.xml.tmp.1.2").write_text("torn")
    (tmp_path / "var" / "libxl" / "notes.txt").write_text("not a config")
    assert store.uuids() == [UUID]  # the leftover is ignored and removed
    assert not (tmp_path / "var" / "libxl" / f"{UUID}.xml.tmp.1.2").exists()
    store.delete(UUID)
    assert store.uuids() == [] and not store.autostart(UUID)
    with pytest.raises(ValueError):
        store.save("../../etc/passwd", "x")


WRITER = """
import sys
from xvirt.driver.configdir import ConfigDir
store = ConfigDir(sys.argv[1])
uuids = ["%08d-0000-4000-8000-000000000000" % i for i in range(8)]
n = 0
print("ready", flush=True)
while True:
    n += 1
    for u in uuids:
        store.save(u, "<domain><name>%s</name><gen>%d</gen>%s</domain>" % (u, n, "x" * (n % 5000)))
"""


def test_config_dir_survives_kill_9_mid_write(tmp_path):
    """A writer killed at an arbitrary instant leaves every config whole (old or new), never torn."""
    path = str(tmp_path / "libxl")
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.2 + 0.1 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        store = ConfigDir(path)
        uuids = store.uuids()
        assert len(uuids) >= 1
        for u in uuids:
            text = store.load(u)
            assert text.startswith(f"<domain><name>{u}</name><gen>") and text.endswith("</domain>")
        assert not [n for n in os.listdir(path) if ".tmp." in n]


class FakeDriver:
    """What the toolstack asks of the driver: the domain's id now."""

    def __init__(self, domid):
        self.domid = domid

    def running_id(self, uuid):
        return self.domid


def test_pause_failure_is_read_from_libxls_log_line(tmp_path):
    """xl pause exits 0 even when libxl failed (xl_vmcontrol.c ignores the return code)."""
    xl = script(tmp_path, "xl", 'echo "libxl: error: libxl_domain.c: Domain $2:Non-existant domain" >&2\nexit 0\n')
    ts = LibxlToolstack(Target("xen:///", "/nonexistent", toolstack="libxl", xl_command=(xl,),
                               config_dir=str(tmp_path / "conf")))
    ts.bind(FakeDriver(7))
    with pytest.raises(NoDomainError):
        ts.pause(UUID)
    ts.bind(FakeDriver(None))  # not running and not defined: no xl call at all
    with pytest.raises(NoDomainError):
        ts.unpause(UUID)
    assert ts.counts() == {"xl": {"pause": 1}}


def test_destroy_with_libxl_warnings_but_success_succeeds(tmp_path):
    xl = script(tmp_path, "xl", 'echo "libxl: error: libxl_device.c: some backend already gone" >&2\nexit 0\n')
    ts = LibxlToolstack(Target("xen:///", "/nonexistent", toolstack="libxl", xl_command=(xl,),
                               config_dir=str(tmp_path / "conf")))
    ts.bind(FakeDriver(7))
    ts.destroy(UUID)  # exit status 0 is success for every subcommand but pause/unpause
    assert ts.counts() == {"xl": {"destroy": 1}}
