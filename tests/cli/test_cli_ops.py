"""The commands that change domains: virsh 9's messages, the effect on the simulated host, failures."""

from __future__ import annotations

import pytest

from cli_helpers import Run, inactive, running

GUEST_XML = """<domain type='xen'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type>linux</type>
    <kernel>/boot/vmlinuz-2.6.18-xen</kernel>
  </os>
  <devices>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/{name}'/>
      <target dev='xvda'/>
    </disk>
  </devices>
</domain>
"""

pytestmark = pytest.mark.simhost(domains=4)


def _dom(host, name: str) -> dict | None:
    return next((d for d in running(host) if d["name"] == name), None)


def test_suspend_resume_by_id_name_uuid(simhost, xv):
    d = _dom(simhost, "web-01")
    r = xv("suspend", str(d["domid"]))
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"Domain '{d['domid']}' suspended\n\n", "")
    assert "p" in _dom(simhost, "web-01")["state"]
    assert xv("domstate", "--reason", "web-01").stdout == "paused (user)\n\n"
    r = xv("resume", d["uuid"])
    assert r.stdout == f"Domain '{d['uuid']}' resumed\n\n"
    assert "p" not in _dom(simhost, "web-01")["state"]


def test_destroy_then_start(simhost, xv):
    assert xv("destroy", "db-01").stdout == "Domain 'db-01' destroyed\n\n"
    assert _dom(simhost, "db-01") is None
    assert xv("domstate", "--reason", "db-01").stdout.startswith("shut off")
    r = xv("start", "db-01")
    assert (r.exit_code, r.stdout) == (0, "Domain 'db-01' started\n\n")
    assert _dom(simhost, "db-01") is not None


def test_start_active_domain_fails(simhost, xv):
    r = xv("start", "web-01")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "\n", "error: Domain is already active\n")


def test_start_does_not_take_ids(simhost, xv):
    d = _dom(simhost, "web-01")
    r = xv("start", str(d["domid"]))
    assert r.exit_code == 1 and r.stderr == f"error: failed to get domain '{d['domid']}'\n"


def test_save_and_restore_gives_a_new_id(simhost, xv):
    before = _dom(simhost, "cache-01")
    r = xv("save", "cache-01", "cache.img")
    assert (r.exit_code, r.stdout) == (0, "\nDomain 'cache-01' saved to cache.img\n\n")
    assert _dom(simhost, "cache-01") is None
    r = xv("restore", "cache.img")
    assert (r.exit_code, r.stdout) == (0, "Domain restored from cache.img\n\n")
    after = _dom(simhost, "cache-01")
    assert after["uuid"] == before["uuid"] and after["domid"] != before["domid"]
    assert xv("domid", "cache-01").stdout == f"{after['domid']}\n\n"


def test_restore_missing_file_fails_with_two_lines(simhost, xv):
    r = xv("restore", "nosuch.img")
    assert r.exit_code == 1 and r.stdout == "\n"
    lines = r.stderr.splitlines()
    assert lines[0] == "error: Failed to restore domain from nosuch.img"
    assert lines[1].startswith("error: ") and "nosuch.img" in lines[1]


def test_shutdown_and_reboot_messages(simhost, xv):
    old = _dom(simhost, "web-01")["domid"]
    assert xv("reboot", "web-01").stdout == "Domain 'web-01' is being rebooted\n\n"
    assert xv("shutdown", "db-01").stdout == "Domain 'db-01' is being shutdown\n\n"
    simhost.control.settle()
    assert _dom(simhost, "db-01") is None
    rebooted = _dom(simhost, "web-01")
    assert rebooted is not None and rebooted["domid"] != old


def test_setmem_setmaxmem_setvcpus(simhost, xv):
    r = xv("setmem", "web-01", "128M")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "\n", "")
    assert _dom(simhost, "web-01")["memory_kib"] == 131072
    assert xv("setmaxmem", "web-01", "512MiB").exit_code == 0
    assert _dom(simhost, "web-01")["maxmem_kib"] == 524288
    r = xv("setvcpus", "web-01", "64")
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1
    r = xv("setmem", "web-01", "lots")
    assert r.exit_code == 1
    assert r.stderr == "error: Numeric value 'lots' for <size> option is malformed or out of range\n"


def test_domrename(simhost, xv):
    r = xv("domrename", "web-01", "frontend")
    assert (r.exit_code, r.stdout) == (0, "Domain successfully renamed\n\n")
    assert _dom(simhost, "frontend") is not None and _dom(simhost, "web-01") is None


def test_define_start_undefine(simhost, xv, tmp_path):
    path = tmp_path / "new.xml"
    path.write_text(GUEST_XML.format(name="newguest", uuid="4dea22b3-1d52-d8f3-2516-782e98ab3fa0"))
    r = xv("define", str(path))
    assert (r.exit_code, r.stdout) == (0, f"Domain 'newguest' defined from {path}\n\n")
    assert "newguest" in {d["name"] for d in inactive(simhost)}
    assert xv("dominfo", "newguest").stdout.startswith("Id:             -\nName:           newguest\n")
    r = xv("undefine", "newguest")
    assert (r.exit_code, r.stdout) == (0, "Domain 'newguest' has been undefined\n\n")
    assert "newguest" not in {d["name"] for d in inactive(simhost)}


def test_create_transient(simhost, xv, tmp_path):
    path = tmp_path / "t.xml"
    path.write_text(GUEST_XML.format(name="transient1", uuid="5dea22b3-1d52-d8f3-2516-782e98ab3fa1"))
    r = xv("create", str(path))
    assert (r.exit_code, r.stdout) == (0, f"Domain 'transient1' created from {path}\n\n")
    assert _dom(simhost, "transient1") is not None


def test_define_missing_file_and_bad_xml(simhost, xv, tmp_path):
    r = xv("define", str(tmp_path / "none.xml"))
    assert r.exit_code == 1
    assert r.stderr == f"error: Failed to open file '{tmp_path / 'none.xml'}': No such file or directory\n"
    bad = tmp_path / "bad.xml"
    bad.write_text("<domain><name>x")
    r = xv("define", str(bad))
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == f"error: Failed to define domain from {bad}"
    assert len(r.stderr.splitlines()) == 2


def test_readonly_connection_refuses_operations(simhost):
    r = Run(None)("-c", simhost.uri, "-r", "destroy", "web-01")
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert lines[0] == "error: Failed to destroy domain 'web-01'"
    assert "read only" in lines[1]
    assert _dom(simhost, "web-01") is not None


def test_setmaxmem_out_of_range_leaves_the_domain_working(simhost, xv):
    """issue 12: a refused setmaxmem used to half-apply, after which suspend/resume failed too."""
    before = _dom(simhost, "web-01")
    r = xv("setmaxmem", "web-01", "9999999999999999999999")
    assert r.exit_code == 1 and "Invalid memory size" in r.stderr and "Traceback" not in r.stderr
    assert _dom(simhost, "web-01")["maxmem_kib"] == before["maxmem_kib"]
    assert xv("suspend", "web-01").exit_code == 0
    assert xv("resume", "web-01").exit_code == 0
    assert xv("setmem", "web-01", "64M").exit_code == 0
    assert _dom(simhost, "web-01")["memory_kib"] == 65536
