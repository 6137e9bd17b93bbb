"""The ways to run an unmodified ``import libvirt`` program: the runner and the PYTHONPATH shim."""

import os
import subprocess
import sys
import textwrap

import pytest

import xvirt.libvirt
from xvirt import _libvirt_run

PROBE = textwrap.dedent("""\
    import sys
    import libvirt
    print("module", libvirt.__name__)
    print("name", __name__)
    print("argv", sys.argv[1:])
    print("path0", sys.path[0])
    print("errors", libvirt.libvirtError.__module__, libvirt.VIR_ERR_NO_DOMAIN)
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
""")


def env_without_defaults(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LIBVIRT_DEFAULT_URI", "XVIRT_DEFAULT_URI")}
    env.update(extra)
    return env


def runner(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "xvirt.libvirt", *args], capture_output=True, text=True,
                          cwd=cwd, env=env or env_without_defaults(), timeout=60)


def parse(stdout: str) -> dict:
    return dict(line.split(" ", 1) for line in stdout.splitlines())


def test_runner_runs_a_program_as_main_with_its_own_argv(tmp_path):
    prog = tmp_path / "probe.py"
    prog.write_text(PROBE)
    r = runner(str(prog), "3", "--flag")
    assert r.returncode == 3, r.stderr             # the program's exit status is the runner's
    out = parse(r.stdout)
    assert out["module"] == "xvirt.libvirt"
    assert out["name"] == "__main__"
    assert out["argv"] == "['3', '--flag']"
    assert out["path0"] == str(tmp_path)           # as `python probe.py` would set it
    assert out["errors"] == "xvirt.errors 42"


def test_runner_module_mode(tmp_path):
    (tmp_path / "probe_mod.py").write_text(PROBE)
    r = runner("-m", "probe_mod", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert parse(r.stdout)["module"] == "xvirt.libvirt"
    assert parse(r.stdout)["name"] == "__main__"


def test_runner_usage_and_missing_program(tmp_path):
    r = runner()
    assert r.returncode == 2 and "usage:" in r.stderr
    r = runner("--help")
    assert r.returncode == 0 and "usage:" in r.stdout
    r = runner(str(tmp_path / "missing.py"))
    assert r.returncode == 2 and "can't open file" in r.stderr


def test_runner_propagates_uncaught_errors(tmp_path):
    prog = tmp_path / "fails.py"
    prog.write_text("import libvirt\nlibvirt.open('nonsense://').close()\n")
    r = runner(str(prog))
    assert r.returncode == 1
    assert "LibvirtError" in r.stderr or "NoConnectError" in r.stderr


def test_shim_path_makes_import_libvirt_load_the_facade(tmp_path):
    r = runner("--shim-path")
    assert r.returncode == 0 and r.stdout.strip() == _libvirt_run.shim_path()
    assert os.path.isfile(os.path.join(r.stdout.strip(), "libvirt.py"))
    prog = tmp_path / "probe.py"
    prog.write_text(PROBE)
    env = env_without_defaults(PYTHONPATH=_libvirt_run.shim_path() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(prog)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert parse(r.stdout)["module"] == "xvirt.libvirt"


def test_nothing_shadows_libvirt_by_default():
    """Without the runner or the shim, `import libvirt` is whatever the system has (never xvirt's)."""
    code = ("import importlib.util as u; s = u.find_spec('libvirt'); "
            "print('absent' if s is None else s.origin)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=env_without_defaults())
    assert r.returncode == 0
    assert "xvirt" not in r.stdout


def test_install_in_process(monkeypatch):
    monkeypatch.delitem(sys.modules, "libvirt", raising=False)
    _libvirt_run.install()
    import libvirt
    assert libvirt is xvirt.libvirt
    monkeypatch.delitem(sys.modules, "libvirt")


@pytest.mark.simhost(domains=2)
def test_runner_against_the_simulator(tmp_path, simhost):
    prog = tmp_path / "count.py"
    prog.write_text("import sys, libvirt\nc = libvirt.openReadOnly(sys.argv[1])\n"
                    "print(c.numOfDomains(), [c.lookupByID(i).name() for i in c.listDomainsID()])\n")
    r = runner(str(prog), simhost.uri)
    assert r.returncode == 0, r.stderr
    names = [d["name"] for d in sorted(simhost.control.truth()["running"], key=lambda d: d["domid"])]
    assert r.stdout.strip() == f"{len(names)} {names}"
