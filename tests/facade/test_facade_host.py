"""The host calls of libvirt-python on the simulated Xen host (issue 13 item 2), as programs use them."""

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

import xvirt.libvirt as libvirt

PV_XML = """<domain type='xen'><name>{name}</name><memory>131072</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def used_kib(host):
    return sum(d["memory_kib"] for d in host.control.truth()["running"])


def test_memory_calls_agree_with_the_host(conn, simhost):
    total_mib = conn.getInfo()[1]
    free = conn.getFreeMemory()
    assert isinstance(free, int) and free == (total_mib * 1024 - used_kib(simhost)) * 1024   # bytes
    assert conn.getCellsFreeMemory(0, 1) == [free]
    assert conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS) == {
        "total": total_mib * 1024, "free": free // 1024}
    dom = conn.createLinux(PV_XML.format(name="linux-old-name"), 0)
    assert dom.isActive() == 1 and dom.info()[2] == 131072
    assert conn.getFreeMemory() == free - 131072 * 1024


def test_cpu_calls(conn, simhost):
    ncpus = simhost.control.truth()["host_cpus"]
    assert conn.getCPUMap() == (ncpus, (True,) * ncpus, ncpus)
    total = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    assert set(total) == {libvirt.VIR_NODE_CPU_STATS_KERNEL, libvirt.VIR_NODE_CPU_STATS_USER,
                          libvirt.VIR_NODE_CPU_STATS_IDLE, libvirt.VIR_NODE_CPU_STATS_IOWAIT}
    assert all(isinstance(v, int) and v >= 0 for v in total.values())
    assert set(conn.getCPUStats(ncpus - 1)) == set(total)
    assert conn.getMaxVcpus(None) == conn.getMaxVcpus("xen") == 32


def test_capabilities_and_connection_facts(conn):
    root = ET.fromstring(conn.getCapabilities())
    assert {(g.findtext("os_type"), g.find("arch").get("name")) for g in root.findall("guest")} == {
        ("xen", "x86_64"), ("xen", "i686"), ("hvm", "i686"), ("hvm", "x86_64")}
    assert conn.isSecure() == 1 and conn.isEncrypted() == 0


def test_bad_arguments_are_libvirt_errors_and_change_nothing(conn):
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    free = conn.getFreeMemory()
    for call in (lambda: conn.getCellsFreeMemory(5, 1), lambda: conn.getMemoryStats(3),
                 lambda: conn.getCPUStats(10_000), lambda: conn.getCPUStats(-1, 1), lambda: conn.getCPUMap(4),
                 lambda: conn.getMaxVcpus("kvm"), lambda: conn.createLinux(PV_XML.format(name="x"), 1)):
        with pytest.raises(libvirt.libvirtError) as ei:
            call()
        assert ei.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    assert conn.getFreeMemory() == free


def test_sysinfo_without_smbios_is_config_unsupported(conn, monkeypatch, tmp_path):
    from xvirt.driver import xen as xen_driver
    monkeypatch.setattr(xen_driver, "DMI_DIR", str(tmp_path))
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    with pytest.raises(libvirt.libvirtError) as ei:
        conn.getSysinfo(0)
    assert ei.value.get_error_code() == libvirt.VIR_ERR_CONFIG_UNSUPPORTED
    (tmp_path / "bios_vendor").write_text("Xen\n")
    assert ET.fromstring(conn.getSysinfo()).find("bios/entry").text == "Xen"


def test_unmodified_memory_check_program(tmp_path, simhost):
    """A Nagios-style host memory check written for libvirt-python, run unmodified."""
    prog = tmp_path / "check_host_mem.py"
    prog.write_text(textwrap.dedent("""\
        import sys
        import libvirt

        conn = libvirt.openReadOnly(sys.argv[1])
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
        used_pct = 100.0 * (stats["total"] - stats["free"]) / stats["total"]
        cells = conn.getCellsFreeMemory(0, conn.getInfo()[4])
        cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0)
        print("OK" if used_pct < 95 else "CRITICAL", round(used_pct, 1), len(cells), sorted(cpu))
        sys.exit(0 if used_pct < 95 else 2)
    """))
    r = subprocess.run([sys.executable, "-m", "xvirt.libvirt", str(prog), simhost.uri], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split(maxsplit=3)
    assert words[0] == "OK" and words[2] == "1" and words[3].strip() == "['idle', 'iowait', 'kernel', 'user']"
