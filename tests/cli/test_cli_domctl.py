"""Golden-output tests of vcpupin, schedinfo, managedsave, managedsave-remove, dump and autostart
against virsh 9's texts, checked against the library and the simulated host."""

from __future__ import annotations

import json
import os

import pytest

import xvirt
from xvirt.cli.commands_domctl import cpulist, parse_cpulist
from xvirt.cli.session import CommandError

PV = """<domain type='xen'><name>{name}</name><memory>131072</memory><vcpu>2</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def test_cpulist_forms():
    assert cpulist((True, True, True, False, True)) == "0-2,4"
    assert cpulist((False, True, False, True)) == "1,3"
    assert parse_cpulist("0-3,^2", 8) == [0, 1, 3]
    assert parse_cpulist("r", 3) == [0, 1, 2]
    for bad in ("x", "9", "", "1-"):
        with pytest.raises(CommandError):
            parse_cpulist(bad, 8)


def test_vcpupin_shows_and_pins(simhost, xv):
    with xvirt.open(simhost.uri) as conn:
        ncpus = conn.node_info().cpus
        dom = conn.create_xml(PV.format(name="pin-me"))
    r = xv("vcpupin", "pin-me")
    assert r.exit_code == 0
    assert r.stdout == (f" VCPU   CPU Affinity\n{'-' * 22}\n 0      0-{ncpus - 1}\n 1      0-{ncpus - 1}\n\n")
    assert xv("vcpupin", "pin-me", "1", "1,3").exit_code == 0
    assert xv("vcpupin", "pin-me", "1").stdout == f" VCPU   CPU Affinity\n{'-' * 22}\n 1      1,3\n\n"
    assert json.loads(xv("vcpupin", "pin-me", "--json").stdout) == {"0": f"0-{ncpus - 1}", "1": "1,3"}
    r = xv("vcpupin", "pin-me", "0", f"{ncpus}")
    assert r.exit_code == 1 and "doesn't exist" in r.stderr
    with xvirt.open(simhost.uri) as conn:
        assert conn.lookup_by_name("pin-me").vcpu_pin_info()[1] == tuple(i in (1, 3) for i in range(ncpus))
    assert dom.uuid


def test_schedinfo_shows_and_sets(simhost, xv):
    with xvirt.open(simhost.uri) as conn:
        conn.create_xml(PV.format(name="sched-me"))
    assert xv("schedinfo", "sched-me").stdout == "Scheduler      : credit\nweight         : 256\ncap            : 0\n\n"
    r = xv("schedinfo", "sched-me", "--weight", "512", "--set", "cap=25")
    assert r.exit_code == 0 and r.stdout == "Scheduler      : credit\nweight         : 512\ncap            : 25\n\n"
    r = xv("schedinfo", "sched-me", "--weight", "0")
    assert r.exit_code == 1 and r.stderr.startswith("error: Unable to change scheduler parameters")
    assert json.loads(xv("schedinfo", "sched-me", "--json").stdout) == {"scheduler": "credit", "weight": 512, "cap": 25}


def test_managedsave_then_start_and_remove(simhost, xv):
    with xvirt.open(simhost.uri) as conn:
        dom = conn.define_xml(PV.format(name="ms-cli"))
        dom.create()
    r = xv("managedsave", "ms-cli")
    assert r.exit_code == 0 and r.stdout == "\nDomain 'ms-cli' state saved by libvirt\n\n"
    assert os.path.isfile(os.path.join(simhost.paths.save, f"{dom.uuid}.managedsave"))
    assert xv("start", "ms-cli").exit_code == 0
    with xvirt.open(simhost.uri) as conn:
        d = conn.lookup_by_name("ms-cli")
        assert d.is_active() and not d.has_managed_save_image()
    assert xv("managedsave", "ms-cli").exit_code == 0
    assert xv("managedsave-remove", "ms-cli").stdout == "Removed managedsave image for domain 'ms-cli'\n\n"
    assert xv("managedsave-remove", "ms-cli").stdout == \
        "Domain 'ms-cli' has no manage save image; removal skipped\n\n"


def test_dump_and_autostart(simhost, xv):
    with xvirt.open(simhost.uri) as conn:
        conn.define_xml(PV.format(name="dump-cli")).create()
    r = xv("dump", "dump-cli", "dump-cli.core")
    assert r.exit_code == 0 and r.stdout == "\nDomain 'dump-cli' dumped to dump-cli.core\n\n"
    assert os.path.isfile(os.path.join(simhost.paths.save, "dump-cli.core"))
    assert xv("dump", "dump-cli", "x", "--live", "--crash").exit_code == 1
    assert xv("autostart", "dump-cli").stdout == "Domain 'dump-cli' marked as autostarted\n\n"
    with xvirt.open(simhost.uri) as conn:
        assert conn.lookup_by_name("dump-cli").autostart() is True
    assert xv("autostart", "dump-cli", "--disable").exit_code == 0


def test_attach_and_detach_device(simhost, xv, tmp_path):
    with xvirt.open(simhost.uri) as conn:
        conn.define_xml(PV.format(name="dev-cli")).create()
    disk = tmp_path / "disk.xml"
    disk.write_text("<disk type='block' device='disk'><source dev='/dev/vg0/more'/><target dev='xvdc'/></disk>")
    r = xv("attach-device", "dev-cli", str(disk))
    assert r.exit_code == 0 and r.stdout == "Device attached successfully\n\n"
    assert "xvdc rd_req" in xv("domblkstat", "dev-cli", "xvdc").stdout
    r = xv("attach-device", "dev-cli", str(disk))
    assert r.exit_code == 1 and r.stderr.startswith(f"error: Failed to attach device from {disk}")
    assert xv("detach-device", "dev-cli", str(disk), "--live").stdout == "Device detached successfully\n\n"
    assert xv("domblkstat", "dev-cli", "xvdc").exit_code == 1
    assert xv("attach-device", "dev-cli", str(tmp_path / "missing.xml")).exit_code == 1


def test_migrate_command(simhost, xv):
    from xvirt.testing import sim_host
    with xvirt.open(simhost.uri) as conn:
        uuid = conn.create_xml(PV.format(name="cli-mover")).uuid
    with sim_host(1, name="cli-mig-target") as target:
        r = xv("migrate", "cli-mover", target.uri, "--live")
        assert r.exit_code == 0 and r.stdout == "\n"
        assert uuid in {d["uuid"] for d in target.control.truth()["running"]}
        r = xv("migrate", "web-01", simhost.uri)
        assert r.exit_code == 1 and r.stderr.startswith("error: Failed to migrate domain 'web-01'")
