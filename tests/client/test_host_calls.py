"""Host-level calls on the simulated host (issue 13 item 2): capabilities, memory, CPUs, sysinfo.

Free memory and CPU times come from the hypervisor channel (physinfo free pages, per-CPU idle
time) with no daemon request; capabilities come from XenD's node record once per boot; a
XenD-only connection asks XenD's node record for free memory.
"""

import time
import xml.etree.ElementTree as ET

import pytest

import xvirt
from xvirt.constants import StatsFlags
from xvirt.driver import xen as xen_driver
from xvirt.errors import ErrorCode, LibvirtError

PV_XML = """<domain type='xen'><name>{name}</name><memory>{kib}</memory><vcpu>1</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>"""


def used_kib(simhost) -> int:
    t = simhost.control.truth()
    assert t["dying"] == []
    return sum(d["memory_kib"] for d in t["running"])


@pytest.mark.simhost(domains=5)
def test_capabilities_describe_the_xen_host_once_per_boot(simhost):
    with xvirt.open(simhost.uri) as conn:
        xml = conn.capabilities()
        first = conn.request_counts()["xend"]
        assert conn.capabilities() == xml
        assert conn.request_counts()["xend"] == first == {"GET /xend/node/": 1}
    root = ET.fromstring(xml)
    assert root.findtext("host/cpu/arch") == "x86_64"
    assert [f.tag for f in root.find("host/cpu/features")] == ["vmx"]      # the sim's hw_caps has VMX
    assert root.findtext("host/migration_features/uri_transports/uri_transport") == "xenmigr"
    guests = [(g.findtext("os_type"), g.find("arch").get("name"), g.findtext("arch/machine"),
               sorted(f.tag for f in g.findall("features/*"))) for g in root.findall("guest")]
    # the sim's xen_caps: "xen-3.0-x86_64 xen-3.0-x86_32p hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"
    assert guests == [("xen", "x86_64", "xenpv", []), ("xen", "i686", "xenpv", ["pae"]),
                      ("hvm", "i686", "xenfv", ["acpi", "apic", "nonpae", "pae"]),
                      ("hvm", "x86_64", "xenfv", ["acpi", "apic"])]
    assert all(g.find("arch/domain").get("type") == "xen" for g in root.findall("guest"))
    assert [g.findtext("arch/loader") for g in root.findall("guest")] == \
        [None, None, "/usr/lib/xen/boot/hvmloader", "/usr/lib/xen/boot/hvmloader"]


@pytest.mark.simhost(domains=5)
def test_free_memory_follows_the_domains_with_no_xend_request(simhost):
    with xvirt.open(simhost.uri) as conn:
        total = conn.node_info().memory_kib
        assert conn.free_memory() == (total - used_kib(simhost)) * 1024
        conn.create_xml(PV_XML.format(name="mem-eater", kib=256 * 1024))
        assert conn.free_memory() == (total - used_kib(simhost)) * 1024
        assert conn.cells_free_memory() == [conn.free_memory()]
        assert conn.cells_free_memory(0, 8) == [conn.free_memory()]
        stats = conn.memory_stats()
        assert stats == {"total": total, "free": total - used_kib(simhost)} == conn.memory_stats(0)
        before = conn.request_counts()
        conn.free_memory(), conn.cells_free_memory(), conn.memory_stats()
        after = conn.request_counts()
    assert after["xend"] == before["xend"]          # the create above read the node record once
    assert after["hypervisor"] > before["hypervisor"]


@pytest.mark.simhost(domains=3)
def test_free_memory_on_a_xend_only_connection_asks_the_node_record(simhost):
    with xvirt.open(f"xen+unix://{simhost.paths.xend}") as conn:
        free = conn.free_memory()
        assert conn.request_counts()["xend"] == {"GET /xend/node/": 1}
        assert conn.cells_free_memory() == [free]
    with xvirt.open(simhost.uri) as conn:
        assert free == conn.free_memory()
    with xvirt.open(f"xen+unix://{simhost.paths.xend}") as conn:
        with pytest.raises(LibvirtError) as ei:        # idle time needs the hypervisor channel
            conn.cpu_stats()
        assert ei.value.code == ErrorCode.NO_SUPPORT


@pytest.mark.simhost(domains=3)
def test_cell_and_cpu_arguments_are_checked(simhost):
    with xvirt.open(simhost.uri) as conn:
        ncpus = conn.node_info().cpus
        for call in (lambda: conn.cells_free_memory(1, 1), lambda: conn.cells_free_memory(0, 0),
                     lambda: conn.cells_free_memory(-1, 1), lambda: conn.memory_stats(1),
                     lambda: conn.cpu_stats(ncpus), lambda: conn.cpu_stats(-2), lambda: conn.max_vcpus("kvm")):
            with pytest.raises(LibvirtError) as ei:
                call()
            assert ei.value.code == ErrorCode.INVALID_ARG


@pytest.mark.simhost(domains=3)
def test_cpu_stats_split_uptime_into_idle_and_guest_time(simhost):
    with xvirt.open(simhost.uri) as conn:
        ncpus = conn.node_info().cpus
        a = conn.cpu_stats()
        time.sleep(0.05)
        b = conn.cpu_stats()
        one = conn.cpu_stats(0)
        counts = conn.request_counts()
    assert set(a) == {"kernel", "user", "idle", "iowait"} and a["kernel"] == a["iowait"] == 0
    assert b["idle"] >= a["idle"] and b["user"] >= a["user"]
    assert b["idle"] + b["user"] > a["idle"] + a["user"]
    # one CPU's share: its uptime is the host's divided by the CPU count
    assert one["idle"] + one["user"] <= (b["idle"] + b["user"]) // ncpus + 10**9
    assert counts["xend_total"] == 0


@pytest.mark.simhost(domains=3)
def test_busy_guests_take_cpu_time_from_idle(simhost):
    """The idle time is what the domains leave: idle + guest time equals CPUs x uptime, and the
    guest part grows with the domains' cpu time (summed from the hypervisor's records)."""
    with xvirt.open(simhost.uri) as conn:
        a = conn.cpu_stats()
        cpu_a = sum(d["cpu_ns"] for d in simhost.control.truth()["running"])
        time.sleep(0.05)
        cpu_b = sum(d["cpu_ns"] for d in simhost.control.truth()["running"])
        b = conn.cpu_stats()
    assert b["user"] - a["user"] >= (cpu_b - cpu_a) * 0.9


@pytest.mark.simhost(domains=2)
def test_cpu_map_and_max_vcpus(simhost):
    with xvirt.open(simhost.uri) as conn:
        assert conn.cpu_map() == [True] * simhost.control.truth()["host_cpus"]
        assert conn.max_vcpus() == conn.max_vcpus("Xen") == conn.max_vcpus("xen") == 32


@pytest.mark.simhost(domains=2)
def test_sysinfo_reads_the_hosts_dmi(simhost, tmp_path, monkeypatch):
    (tmp_path / "sys_vendor").write_text("Xen Simulated\n")
    (tmp_path / "product_name").write_text("HVM <domU>\n")
    (tmp_path / "bios_vendor").write_text("Xen\n")
    (tmp_path / "bios_version").write_text("4.17\n")
    monkeypatch.setattr(xen_driver, "DMI_DIR", str(tmp_path))
    with xvirt.open(simhost.uri) as conn:
        root = ET.fromstring(conn.sysinfo())
        assert root.get("type") == "smbios"
        assert {e.get("name"): e.text for e in root.findall("bios/entry")} == {"vendor": "Xen", "version": "4.17"}
        assert {e.get("name"): e.text for e in root.findall("system/entry")} == \
            {"manufacturer": "Xen Simulated", "product": "HVM <domU>"}
        monkeypatch.setattr(xen_driver, "DMI_DIR", str(tmp_path / "missing"))
        with pytest.raises(LibvirtError) as ei:
            conn.sysinfo()
        assert ei.value.code == ErrorCode.CONFIG_UNSUPPORTED
        assert conn.request_counts()["xend_total"] == 0


@pytest.mark.simhost(domains=20)
def test_listing_and_monitoring_still_ask_xend_nothing_after_host_calls(simhost):
    with xvirt.open(simhost.uri) as conn:
        conn.free_memory(), conn.cpu_stats(), conn.memory_stats()
        before = conn.request_counts()["xend_total"]
        for domid in conn.list_domain_ids():
            conn.lookup_by_id(domid).info()
        conn.get_all_domain_stats(flags=StatsFlags.ACTIVE)
        assert conn.request_counts()["xend_total"] == before == 0
