"""``xvirt domxml-from-native xen-xl|xen-xm FILE`` and ``domxml-to-native`` (virsh's interface)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import Run
from xvirt.domxml import native_to_xml, xml_to_native

NO_HOST = {"XVIRT_DEFAULT_URI": "xen+sim:///xvirt-no-such-host?autostart=0"}
CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


@pytest.mark.parametrize("fmt,folder,case", [("xen-xl", "xl-config", "test-fullvirt-ovmf"),
                                             ("xen-xm", "xm-config", "test-paravirt-new-pvfb")])
def test_both_directions_print_libvirts_text(fmt: str, folder: str, case: str) -> None:
    run = Run(None)
    cfg, xml = CORPUS / folder / f"{case}.cfg", CORPUS / folder / f"{case}.xml"
    r = run("domxml-from-native", fmt, str(cfg), env=NO_HOST)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == xml.read_text() + "\n"        # virsh's blank line after the output
    assert r.stdout.rstrip("\n") + "\n" == native_to_xml(cfg.read_text(), fmt)
    r = run("domxml-to-native", fmt, str(xml), env=NO_HOST)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == cfg.read_text() + "\n"
    assert r.stdout.rstrip("\n") + "\n" == xml_to_native(xml.read_text(), fmt)


def test_errors_name_position_and_exit_1(tmp_path) -> None:
    run = Run(None)
    bad = tmp_path / "bad.cfg"
    bad.write_text('name = "g"\nmemory = 512\nvif = [ "mac=00:16:3e:00:00:01"\n')
    r = run("domxml-from-native", "xen-xl", str(bad), env=NO_HOST)
    assert r.exit_code == 1 and r.stdout.strip() == ""
    assert r.stderr.startswith("error: configuration file syntax error: line 3, column 7: "
                               "unterminated list")
    bad.write_text('name = "g"\ndisk = [ "vdev=xvda,format=vmdk,target=/x" ]\n')
    r = run("domxml-from-native", "xen-xl", str(bad), env=NO_HOST)
    assert r.exit_code == 1 and "config value disk (line 2, column 1)" in r.stderr
    assert "unknown value for format" in r.stderr
    xml = tmp_path / "g.xml"
    xml.write_text("<domain type='xen'><name>g</name>")
    r = run("domxml-to-native", "xen-xm", str(xml), env=NO_HOST)
    assert r.exit_code == 1 and r.stderr.startswith("error: ")
    r = run("domxml-to-native", "xen-xl", str(tmp_path / "missing.xml"), env=NO_HOST)
    assert r.exit_code == 1 and "Failed to open file" in r.stderr


@pytest.mark.parametrize("command,fmt", [("domxml-from-native", "xen-xl"), ("domxml-to-native", "xen-xm")])
def test_a_file_that_is_not_utf8_is_one_error_line_not_a_traceback(tmp_path, command, fmt) -> None:
    bad = tmp_path / "latin1.cfg"
    bad.write_bytes(b'name = "caf\xe9"\n')
    r = Run(None)(command, fmt, str(bad), env=NO_HOST)
    assert (r.exit_code, r.stdout) == (1, "\n")
    assert r.stderr == f"error: Failed to read file '{bad}': not UTF-8 text\n"
