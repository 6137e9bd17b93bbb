"""Issue 12's second seam: the public API knows no channel; only the driver reaches transports.

Checked on the source (AST): ``connection.py``, ``domain.py``, the facade and the CLI import nothing
from ``xvirt.transport`` or ``xvirt.protocol`` and never touch the driver's channels
(``_driver.hv``/``.xs``/``.xend``/``.ts``/``.registry``); XenD records and xl output are parsed in
the driver only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "xvirt"
PUBLIC = ["connection.py", "domain.py", "libvirt.py", "_libvirt_objects.py", "_libvirt_run.py",
          *(f"cli/{p.name}" for p in sorted((SRC / "cli").glob("*.py")))]
CHANNELS = {"hv", "xs", "xend", "ts", "registry", "xl"}


def imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


@pytest.mark.parametrize("name", PUBLIC)
def test_public_layer_imports_no_transport_or_protocol(name):
    tree = ast.parse((SRC / name).read_text())
    bad = {m for m in imports(tree) if any(p in m.replace("..", ".") for p in
                                           (".transport", ".protocol", "xvirt.transport", "xvirt.protocol"))}
    assert bad == set()


@pytest.mark.parametrize("name", PUBLIC)
def test_public_layer_never_reaches_into_the_driver(name):
    tree = ast.parse((SRC / name).read_text())
    reaches = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in CHANNELS:
            inner = node.value
            if isinstance(inner, ast.Attribute) and inner.attr in ("_driver", "_drv"):
                reaches.append(f"line {node.lineno}: .{inner.attr}.{node.attr}")
    assert reaches == []


def test_only_the_driver_and_the_simulator_use_transports():
    users = set()
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.split("/")[0] in ("driver", "transport", "sim", "protocol"):
            continue
        if any("transport" in m for m in imports(ast.parse(path.read_text()))):
            users.add(rel)
    assert users == set()
