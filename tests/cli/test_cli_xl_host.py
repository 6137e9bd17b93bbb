"""The CLI on a simulated host with the xl toolstack: `xvirt sim start --toolstack xl`, then virsh's
commands through xvirt's libxl driver (reads from the hypervisor and xenstore, lifecycle through xl)."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from cli_helpers import Run, running, state_word, virsh_table
from xvirt.sim import daemon
from xvirt.sim.control import SimControl

XML = """<domain type='xen'><name>cli-guest</name><uuid>0badc0de-0000-4000-8000-0000000000c1</uuid>
<memory unit='KiB'>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel><cmdline>console=hvc0</cmdline></os></domain>"""


class Host:
    def __init__(self, root: str, name: str) -> None:
        self.root, self.name = root, name
        self.control = SimControl(daemon.SimPaths(root).control)


@pytest.fixture(scope="module")
def xlhost():
    root = tempfile.mkdtemp(prefix="xvx")
    name = "xlcli"
    r = Run(None)("sim", "start", "--name", name, "--toolstack", "xl", "--domains", "3",
                  env={"XDG_RUNTIME_DIR": root})
    try:
        assert r.exit_code == 0, r.output
        assert "toolstack: xl (libxl), no XenD" in r.stdout
        host = Host(f"{root}/xvirt/sim/{name}", name)
        yield host
        host.control.close()
    finally:
        daemon.stop(name, root=f"{root}/xvirt/sim/{name}")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def xv(xlhost):
    return Run(f"xen+sim:///{xlhost.name}?dir={xlhost.root}")


def test_list_on_an_xl_host_makes_no_xl_call(xlhost, xv):
    xlhost.control.reset_counters()
    r = xv("list")
    assert r.exit_code == 0 and r.stderr == ""
    rows = [[str(d["domid"]), d["name"], state_word(d["state"])] for d in running(xlhost)]
    assert r.stdout == virsh_table(["Id", "Name", "State"], rows) + "\n"
    counters = xlhost.control.counters()
    assert counters["xl_total"] == 0 and counters["xend_total"] == 0


def test_define_start_list_all_destroy_undefine(xlhost, xv, tmp_path):
    path = tmp_path / "guest.xml"
    path.write_text(XML)
    r = xv("define", str(path))
    assert r.exit_code == 0 and "Domain 'cli-guest' defined" in r.stdout
    r = xv("list", "--all")
    assert "cli-guest" in r.stdout and "shut off" in r.stdout
    xlhost.control.reset_counters()
    r = xv("start", "cli-guest")
    assert r.exit_code == 0, r.output
    assert xlhost.control.counters()["xl"] == {"create": 1}
    guest = next(d for d in running(xlhost) if d["name"] == "cli-guest")
    r = xv("domid", "cli-guest")
    assert r.stdout.strip() == str(guest["domid"])
    r = xv("autostart", "cli-guest")
    assert r.exit_code == 0 and r.stdout == "Domain 'cli-guest' marked as autostarted\n\n"
    assert "Autostart:      enable" in xv("dominfo", "cli-guest").stdout
    r = xv("autostart", "--disable", "cli-guest")
    assert r.stdout == "Domain 'cli-guest' unmarked as autostarted\n\n"
    assert "Autostart:      disable" in xv("dominfo", "cli-guest").stdout
    xlhost.control.reset_counters()
    r = xv("destroy", "cli-guest")
    assert r.exit_code == 0 and xlhost.control.counters()["xl"] == {"destroy": 1}
    r = xv("undefine", "cli-guest")
    assert r.exit_code == 0
    assert "cli-guest" not in xv("list", "--all").stdout


def test_errors_from_xl_reach_the_user(xlhost, xv):
    r = xv("destroy", "nosuch")
    assert r.exit_code == 1 and "nosuch" in r.stderr
    r = xv("destroy", "Domain-0")
    assert r.exit_code == 1 and "Not destroying domain 0" in r.stderr
