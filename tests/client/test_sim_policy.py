"""Which simulated hosts start on demand, with which settings, and in which directories."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

import pytest

import xvirt
from xvirt.errors import InvalidArgError, NoConnectError, OperationInvalidError
from xvirt.sim import launcher
from xvirt.sim.paths import SimPaths, state_dir


@pytest.fixture
def runtime(monkeypatch):
    """A private XDG_RUNTIME_DIR (short: unix socket paths), so `default` is this test's own."""
    run = tempfile.mkdtemp(prefix="xvp")
    os.chmod(run, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", run)
    monkeypatch.delenv("XVIRT_DEFAULT_URI", raising=False)
    yield run
    for name in ("default", "typo", "lab"):
        launcher.stop(name)
    shutil.rmtree(run, ignore_errors=True)


def test_only_the_default_host_starts_on_demand_and_says_so(runtime, capsys):
    with xvirt.open("xen+sim:///default") as conn:
        ids = conn.list_domain_ids()
    err = capsys.readouterr().err
    assert err.startswith("started simulated host 'default' (21 running, 3 inactive domains, XenD latency 40.0 ms)")
    assert state_dir("default").startswith(runtime) and state_dir("default") in err
    assert ids[0] == 0 and len(ids) == 21
    with xvirt.open("xen+sim:///default") as conn:      # running now: nothing started, nothing said
        assert conn.list_domain_ids() == ids
    assert capsys.readouterr().err == ""


def test_another_name_that_is_not_running_is_an_error_and_starts_nothing(runtime, capsys):
    with pytest.raises(NoConnectError) as e:
        xvirt.open("xen+sim:///typo")
    assert e.value.code == 5
    assert "simulated host 'typo' is not running; start it with `xvirt sim start typo`" in str(e.value)
    assert not os.path.exists(state_dir("typo")) and not launcher.is_running("typo")
    assert capsys.readouterr().err == ""


def test_autostart_0_keeps_even_the_default_host_down(runtime):
    with pytest.raises(NoConnectError, match="xvirt sim start default"):
        xvirt.open("xen+sim:///default?autostart=0")
    assert not launcher.is_running("default") and not os.path.exists(state_dir("default"))


def test_default_with_a_dir_does_not_start_on_demand(runtime):
    d = os.path.join(runtime, "elsewhere")
    with pytest.raises(NoConnectError, match=f"xvirt sim start default --dir {d}"):
        xvirt.open(f"xen+sim:///default?dir={d}")
    assert not os.path.exists(d)


def test_a_host_restarts_only_with_the_settings_it_was_created_with(runtime, capsys):
    st = launcher.start("default", domains=3, latency_ms=0)
    assert st["domains"] == 4
    assert launcher.stop("default") is True
    with xvirt.open("xen+sim:///default") as conn:      # on demand: the recorded settings, not 20 / 40 ms
        assert len(conn.list_domain_ids()) == 4
    assert "(4 running, 1 inactive domains, XenD latency 0.0 ms)" in capsys.readouterr().err
    assert launcher.stop("default") is True
    with pytest.raises(OperationInvalidError) as e:     # asked for other settings: refused, nothing started
        launcher.start("default", domains=50)
    assert "was created with domains=3" in str(e.value)
    assert not launcher.is_running("default")
    assert launcher.start("default", domains=3)["domains"] == 4   # the same ones are fine


def test_cli_commands_on_a_host_that_is_not_running(runtime):
    from click.testing import CliRunner
    from xvirt.cli.main import cli
    runner = CliRunner()
    for args in (["list"], ["top", "-b", "-n", "1"], ["dominfo", "web-01"]):
        r = runner.invoke(cli, ["-c", "xen+sim:///typo", *args])
        assert r.exit_code == 1, (args, r.output)
        assert "start it with `xvirt sim start typo`" in r.output, args
    assert not os.path.exists(state_dir("typo"))
    r = runner.invoke(cli, ["sim", "start", "lab", "--domains", "1", "--xend-latency-ms", "0"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["-c", "xen+sim:///lab", "list", "--name"])
    assert r.exit_code == 0 and r.output.split() == ["Domain-0", "web-01"]
    r = runner.invoke(cli, ["sim", "start", "--name", "lab", "--domains", "2"])   # running: returned as is
    assert r.exit_code == 0 and "domains: 2 running" in r.output


# -- ?dir= / --dir ------------------------------------------------------------------------------
def _tree(path: str) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, path)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def test_a_world_writable_directory_is_refused_and_left_as_it_was(runtime):
    d = os.path.join(runtime, "shared")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    for attempt in (lambda: launcher.start("lab", root=d, domains=1, latency_ms=0),):
        with pytest.raises(InvalidArgError) as e:
            attempt()
        assert "URI parameter 'dir'" in str(e.value) and "writable by other users (mode 1777)" in str(e.value)
    with pytest.raises(NoConnectError):                 # a connection starts nothing there either
        xvirt.open(f"xen+sim:///lab?dir={d}")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o1777 and os.listdir(d) == []


def test_a_non_empty_directory_is_refused_and_left_as_it_was(runtime):
    d = os.path.join(runtime, "mine")
    os.mkdir(d, 0o700)
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("keep me")
    before = _tree(d)
    with pytest.raises(InvalidArgError, match="not empty and was not created by xvirt"):
        launcher.start("lab", root=d, domains=1, latency_ms=0)
    assert _tree(d) == before and stat.S_IMODE(os.stat(d).st_mode) == 0o700


def test_a_symlink_is_refused(runtime):
    target = os.path.join(runtime, "real")
    os.mkdir(target, 0o700)
    link = os.path.join(runtime, "link")
    os.symlink(target, link)
    with pytest.raises(InvalidArgError, match="not a directory"):
        launcher.start("lab", root=link, domains=1, latency_ms=0)
    assert os.listdir(target) == []


def test_an_empty_own_directory_is_used_without_changing_its_mode(runtime):
    d = os.path.join(runtime, "empty")
    os.mkdir(d)
    os.chmod(d, 0o750)
    st = launcher.start("lab", root=d, domains=1, latency_ms=0)
    try:
        assert st["running"] and st["state_dir"] == d
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o750           # never chmod-ed
        for sock in ("xend.sock", "xenstored.sock", "control.sock"):
            assert stat.S_IMODE(os.stat(os.path.join(d, sock)).st_mode) == 0o600
        with xvirt.open(f"xen+sim:///lab?dir={d}") as conn:
            assert len(conn.list_domain_ids()) == 2
    finally:
        launcher.stop("lab", root=d)
    # now it is the simulator's own: a second start uses it although it is not empty
    assert launcher.start("lab", root=d)["running"]
    launcher.stop("lab", root=d)


def test_a_new_directory_is_created_private(runtime):
    d = os.path.join(runtime, "new", "host")
    old = os.umask(0)
    try:
        launcher.start("lab", root=d, domains=1, latency_ms=0)
    finally:
        os.umask(old)
        launcher.stop("lab", root=d)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert os.path.exists(SimPaths(d).marker) and os.path.exists(SimPaths(d).settings)


def test_the_exporter_does_not_start_a_named_host_and_restarts_default_only_as_created(runtime, capsys):
    from xvirt.cli.exporter import Exporter
    ex = Exporter("xen+sim:///typo", timeout=30, max_age=0)
    sample, why = ex.get_sample()
    assert sample is None and "xvirt sim start typo" in why
    assert not os.path.exists(state_dir("typo"))
    ex.close()
    launcher.start("default", domains=2, latency_ms=0)
    ex = Exporter("xen+sim:///default", timeout=30, max_age=0)
    try:
        sample, why = ex.get_sample()
        assert why is None and len(sample.domains) == 3
        launcher.stop("default")                         # the user stops the host under the exporter
        sample, why = ex.get_sample()                    # this scrape fails: the channels are gone
        assert sample is None
        sample, why = ex.get_sample()                    # the next one starts default again, as created
        assert why is None and len(sample.domains) == 3
    finally:
        ex.close()
    assert "started simulated host 'default' (3 running, 1 inactive domains, XenD latency 0.0 ms)" \
        in capsys.readouterr().err


def test_a_state_directory_from_before_the_marker_is_still_the_simulators(runtime):
    d = os.path.join(runtime, "old")
    launcher.start("lab", root=d, domains=1, latency_ms=0)
    launcher.stop("lab", root=d)
    os.unlink(SimPaths(d).marker)                        # as an older simulator left it
    assert launcher.start("lab", root=d)["running"]
    assert os.path.exists(SimPaths(d).marker)
    launcher.stop("lab", root=d)
