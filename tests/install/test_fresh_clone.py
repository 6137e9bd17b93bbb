"""A fresh clone set up as a new user would: the README's commands with Debian's own python3 first
on PATH and nothing activated; a plain `pip install .`; CI failing when no test runs.

These run for real (git clone, venv, pip with the machine's local package cache/index, the
simulated host) and check that the system interpreter's site-packages did not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"


def _env(run_dir: str, **extra) -> dict:
    """A bare environment: Debian's python3 first on PATH, no virtualenv, no PYTHONPATH; only pip's
    own network/index settings and HOME (pip's cache) are kept from ours."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "XDG_RUNTIME_DIR": run_dir}
    env.update({k: v for k, v in os.environ.items()
                if k.startswith("PIP_") or k.lower() in ("http_proxy", "https_proxy", "no_proxy")})
    env.update(extra)
    return env


def _system_site_packages() -> dict[str, int]:
    """Every entry of /usr/bin/python3's site-packages directories, with its mtime."""
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import json, site, sysconfig; p = sysconfig.get_paths(); "
                        "print(json.dumps(sorted({*site.getsitepackages(), site.getusersitepackages(), "
                        "p['purelib'], p['platlib']})))"], capture_output=True, text=True, check=True)
    state = {}
    for d in json.loads(r.stdout):
        state[d] = os.stat(d).st_mtime_ns if os.path.isdir(d) else -1
        if os.path.isdir(d):
            for e in os.scandir(d):
                state[e.path] = e.stat(follow_symlinks=False).st_mtime_ns
    return state


@pytest.fixture(scope="module")
def clone():
    assert os.path.exists(SYSTEM_PYTHON), "these tests check the stock Debian interpreter /usr/bin/python3"
    assert (REPO / ".git").exists(), f"{REPO} is not a git checkout: the fresh-clone test clones it"
    top = tempfile.mkdtemp(prefix="xvf")  # short: unix socket paths of the simulated host
    path = os.path.join(top, "clone")
    subprocess.run(["git", "clone", "-q", str(REPO), path], check=True, timeout=120)
    yield Path(path)
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def run_dir():
    d = tempfile.mkdtemp(prefix="xvr")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_make_demo_in_a_fresh_clone_with_the_system_python(clone, run_dir):
    before = _system_site_packages()
    env = _env(run_dir)
    try:
        r = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        assert "ensure-deps: creating the project virtualenv .venv with Python 3" in r.stderr
        assert f"({SYSTEM_PYTHON})" in r.stderr
        assert "started simulated host 'default'" in r.stderr
        assert "$ xvirt list --all" in r.stdout and "# summary (XenD requests: client / simulator)" in r.stdout
        assert "web-01" in r.stdout
        # .venv runs this clone's code, and was made from the system interpreter
        where = subprocess.run([str(clone / ".venv/bin/python"), "-c", "import sys, xvirt; "
                                "print(xvirt.__file__); print(sys.base_prefix)"],
                               capture_output=True, text=True, env=env, check=True).stdout.split()
        assert where[0] == str(clone / "src/xvirt/__init__.py") and where[1] == "/usr"
        again = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "installing" not in again.stderr and "creating" not in again.stderr   # set up once
        assert "started simulated host" not in again.stderr                         # already running
    finally:
        subprocess.run([str(clone / ".venv/bin/xvirt"), "sim", "stop"], env=env, capture_output=True, timeout=60)
    assert _system_site_packages() == before


def test_plain_pip_install_gives_a_working_xvirt_list(clone, run_dir, tmp_path):
    before = _system_site_packages()
    env = _env(run_dir)
    venv = tmp_path / "v"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], env=env, check=True, timeout=300)
    r = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(clone)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    try:
        r = subprocess.run([str(venv / "bin/xvirt"), "list"], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "started simulated host 'default'" in r.stderr
        lines = [line for line in r.stdout.splitlines() if line.strip()]
        assert lines[0].split() == ["Id", "Name", "State"] and len(lines) == 2 + 21   # header, rule, 21 domains
        assert "web-01" in r.stdout
    finally:
        subprocess.run([str(venv / "bin/xvirt"), "sim", "stop"], env=env, capture_output=True, timeout=60)
    assert _system_site_packages() == before


def test_ci_fails_when_no_test_runs(clone, run_dir):
    """.ci/run runs the README's `make test`; pytest's exit status 5 (nothing collected) fails it."""
    assert (clone / ".ci/run").read_text().rstrip().endswith("make test")
    readme = (clone / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make demo", "make test"]
    shutil.rmtree(clone / "tests")
    (clone / "tests").mkdir()
    r = subprocess.run([str(clone / ".ci/run")], cwd=clone, env=_env(run_dir), capture_output=True, text=True,
                       timeout=900)
    assert r.returncode != 0
    assert "no tests ran" in r.stdout + r.stderr
