"""The library side never imports the simulator's process code (issue 12, first seam).

"Library" is everything in src/xvirt outside src/xvirt/sim; it may use only ``sim.paths``,
``sim.launcher`` and ``sim.control_client`` to reach a simulated host.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import xvirt

PKG = Path(xvirt.__file__).resolve().parent
ALLOWED = {"xvirt.sim", "xvirt.sim.paths", "xvirt.sim.launcher", "xvirt.sim.control_client"}
FORBIDDEN = ("xvirt.sim.daemon", "xvirt.sim.control")

PROBE = r"""
import json, pkgutil, importlib, sys
import xvirt
names = [m.name for m in pkgutil.walk_packages(xvirt.__path__, "xvirt.")
         if not m.name.startswith("xvirt.sim")]
for n in names:
    importlib.import_module(n)
uri = sys.argv[1]
if uri:
    with xvirt.open(uri) as conn:                 # connect, list, look up, read
        for d in conn.list_all_domains():
            d.info(); d.name
        conn.get_all_domain_stats()
    from click.testing import CliRunner
    from xvirt.cli.main import cli
    for args in (["list", "--all"], ["dominfo", "web-01"], ["top", "-b", "-n", "1", "-d", "0.1"],
                 ["sim", "status", "--dir", sys.argv[2], "test"], ["sim", "env"]):
        r = CliRunner().invoke(cli, ["-c", uri, *args])
        assert r.exit_code == 0, (args, r.output)
    try:
        xvirt.open("xen+sim:///xvirt-not-running")
    except xvirt.NoConnectError:
        pass
print(json.dumps({"imported": names, "sim": sorted(m for m in sys.modules if m.startswith("xvirt.sim"))}))
"""


def _run(uri: str, root: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(PKG.parent))
    r = subprocess.run([sys.executable, "-c", PROBE, uri, root], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_importing_every_library_module_loads_no_simulator_process_code():
    out = _run("", "")
    assert "xvirt.cli.main" in out["imported"] and "xvirt.connection" in out["imported"]
    assert "xvirt.libvirt" in out["imported"] and "xvirt.testing" in out["imported"]
    assert set(out["sim"]) <= ALLOWED, set(out["sim"]) - ALLOWED


def test_using_the_library_and_cli_on_a_simulated_host_loads_no_simulator_process_code(simhost):
    out = _run(simhost.uri, simhost.root)
    assert set(out["sim"]) <= ALLOWED, set(out["sim"]) - ALLOWED
    assert "xvirt.sim.launcher" in out["sim"]      # the probe really reached the host


def _imports(path: Path) -> set[str]:
    """Every module a file imports, resolved to absolute names (lazy imports in functions too)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def test_no_library_source_file_imports_the_simulator_daemon_or_control_server():
    offenders = []
    files = [p for p in PKG.rglob("*.py") if "sim" not in p.relative_to(PKG).parts[:1]]
    assert len(files) > 30
    for path in files:
        bad = {m for m in _imports(path) if m in FORBIDDEN or m.startswith(tuple(f + "." for f in FORBIDDEN))}
        if bad:
            offenders.append((str(path.relative_to(PKG)), sorted(bad)))
    assert offenders == []


def test_the_allowed_simulator_modules_import_no_server_code():
    for name in ("paths", "launcher", "control_client"):
        mods = {m for m in _imports(PKG / "sim" / f"{name}.py") if m.startswith("xvirt.sim.")}
        assert mods <= {f"xvirt.sim.{n}" for n in ("paths", "launcher", "control_client")} | {
            f"xvirt.sim.paths.{x}" for x in ("DEFAULT_NAME", "SimPaths", "check_state_dir", "prepare_state_dir",
                                             "state_dir")} | {"xvirt.sim.control_client.SimControl"}, (name, mods)


def test_production_messages_carry_no_simulator_wording():
    """Errors a real Xen user can see (everything raised outside sim/, testing.py, the sim CLI and
    uri.py's xen+sim branch) do not talk about the simulator, nor match XenD errors by its wording."""
    found = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith("sim/") or rel in ("testing.py", "cli/commands_misc.py", "uri.py"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Raise, ast.Tuple)):
                for c in ast.walk(node):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str) and "simulat" in c.value.lower():
                        found.append((rel, c.value))
    assert found == []
