"""The set-up scripts never stop a process they did not start, and keep services from starting."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _project_files() -> list[Path]:
    files = [REPO / "Makefile", *sorted((REPO / "scripts").iterdir()), *sorted((REPO / ".ci").iterdir())]
    files += sorted((REPO / "bench").glob("*.py")) + sorted((REPO / "src").rglob("*.py"))
    return [f for f in files if f.is_file()]


def test_nothing_in_the_project_runs_pkill_or_killall():
    hits = [(str(f.relative_to(REPO)), n) for f in _project_files()
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
            if re.search(r"\b(pkill|killall)\b", line)]
    assert hits == []


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


@pytest.fixture
def decoy(tmp_path):
    """A process named `prometheus` that the project did not start (a user's own Prometheus)."""
    exe = tmp_path / "prometheus"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "600"])
    deadline = time.monotonic() + 30
    while _comm(proc.pid) != "prometheus":               # until the exec has happened
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    assert subprocess.run(["pgrep", "-x", "prometheus"], capture_output=True, text=True).stdout.split().count(
        str(proc.pid)) == 1                               # what `pkill -x prometheus` would have hit
    yield proc
    proc.kill()
    proc.wait()


def test_a_users_prometheus_survives_the_test_setup(decoy):
    r = subprocess.run([str(REPO / "scripts/ensure-deps"), "test"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert decoy.poll() is None, "the set-up stopped a process it did not start"
    assert shutil.which("promtool") and shutil.which("xenstore-read")   # and it did set things up


# -- scripts/apt-install with a stub apt-get ------------------------------------------------------
STUB_APT = """#!/bin/sh
echo "apt-get $*" >> "$STUB_LOG"
if [ "$1" = install ]; then
  # what a maintainer script does before starting its service (invoke-rc.d / deb-systemd-invoke)
  if [ -x "$XVIRT_POLICY_RC_D" ]; then "$XVIRT_POLICY_RC_D" prometheus start; echo "policy $?" >> "$STUB_LOG"
  else echo "no policy" >> "$STUB_LOG"; fi
  exit "${STUB_RC:-0}"
fi
"""


@pytest.fixture
def stub(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("apt-get", STUB_APT), ("sudo", '#!/bin/sh\nexec "$@"\n')):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    policy = tmp_path / "policy-rc.d"

    def run(*packages: str, rc: int = 0):
        env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", STUB_LOG=str(log), STUB_RC=str(rc),
                   XVIRT_POLICY_RC_D=str(policy))
        r = subprocess.run([str(REPO / "scripts/apt-install"), *packages], env=env, capture_output=True,
                           text=True, timeout=60)
        return r, (log.read_text().splitlines() if log.exists() else [])
    run.policy = policy
    return run


def test_apt_install_forbids_service_starts_during_the_install_only(stub):
    r, log = stub("prometheus")
    assert r.returncode == 0, r.stderr
    assert log == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends prometheus", "policy 101"]
    assert not stub.policy.exists()                      # removed afterwards


def test_apt_install_restores_an_existing_policy_and_cleans_up_on_failure(stub):
    own = "#!/bin/sh\n# the administrator's own policy\nexit 0\n"
    stub.policy.write_text(own)
    stub.policy.chmod(0o750)
    r, log = stub("prometheus", rc=100)
    assert r.returncode != 0                             # the failed install is reported
    assert log[-1] == "policy 101"                       # ours was in force during the install
    assert stub.policy.read_text() == own                # theirs is back, unchanged
    assert stat.S_IMODE(stub.policy.stat().st_mode) == 0o750
    assert [p.name for p in stub.policy.parent.iterdir() if "policy" in p.name] == ["policy-rc.d"]


# -- ensure-deps before it installs anything ------------------------------------------------------
def _copy_of_scripts(tmp_path: Path) -> Path:
    """A checkout-shaped directory with the set-up scripts and no .venv (nothing else is needed
    for what these tests reach)."""
    top = tmp_path / "co"
    (top / "scripts").mkdir(parents=True)
    for name in ("ensure-deps", "apt-install"):
        shutil.copy2(REPO / "scripts" / name, top / "scripts" / name)
    shutil.copy2(REPO / "pyproject.toml", top / "pyproject.toml")
    return top


NO_ENSUREPIP = """#!/bin/sh
# Debian's python3 without the python3-venv package: `import ensurepip` fails, `-m venv` too
case "$*" in *ensurepip*) exit 1 ;; *"-m venv"*) echo "no ensurepip" >&2; exit 1 ;; esac
exec /usr/bin/python3 "$@"
"""


def test_a_missing_venv_module_is_installed_with_apt_as_root(tmp_path, stub):
    top = _copy_of_scripts(tmp_path)
    py = tmp_path / "python3"
    py.write_text(NO_ENSUREPIP)
    py.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:/usr/bin:/bin", STUB_LOG=str(tmp_path / "log"),
               XVIRT_POLICY_RC_D=str(stub.policy), XVIRT_PYTHON=str(py))
    r = subprocess.run([str(top / "scripts/ensure-deps")], env=env, capture_output=True, text=True, timeout=60)
    log = (tmp_path / "log").read_text().splitlines()
    assert log[1].startswith("apt-get install -y -qq --no-install-recommends python3.")
    assert log[1].endswith("-venv") and log[2] == "policy 101"
    assert r.returncode != 0 and "no ensurepip" in r.stderr     # the stub did not really install it
    assert not (top / ".venv" / "bin" / "xvirt").exists()


def test_without_root_the_missing_venv_module_is_named_with_the_command_to_run():
    work = Path(tempfile.mkdtemp(prefix="xvn"))
    try:
        os.chmod(work, 0o755)                            # made just now: readable by the unprivileged user
        top = _copy_of_scripts(work)
        py = work / "python3"
        py.write_text(NO_ENSUREPIP)
        py.chmod(0o755)
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        r = subprocess.run([*as_user, str(top / "scripts/ensure-deps")],
                           env={"PATH": "/usr/bin:/bin", "XVIRT_PYTHON": str(py), "HOME": str(work)},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert "run: sudo apt-get install python3." in r.stderr and "-venv" in r.stderr
        assert not (top / ".venv").exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_make_bench_says_what_it_installs_before_installing(tmp_path):
    top = _copy_of_scripts(tmp_path)
    r = subprocess.run([str(top / "scripts/ensure-deps"), "bench"], env=dict(os.environ, XVIRT_PYTHON="/bin/false"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1                     # stopped at the interpreter check, before any install
    first = " ".join(r.stderr.split("\n\n")[0].split())
    assert first.startswith("ensure-deps: make bench installs what is missing")
    for what in ("libvirt-daemon", "libvirt-clients", "python3-libvirt", "matplotlib"):
        assert what in first, what
    assert not (top / ".venv").exists()
