"""Per-domain statistics through the libvirt facade (issue 13 item 2): dom0's device counters, memory, vCPUs.

The simulated host publishes each running domain's vbd and vif counters beside its domain table
(as blkback and netback publish them in dom0's sysfs); they grow while the guest runs and stand
still while it is paused. Every call here is answered without a toolstack request.
"""

import time

import pytest

import xvirt.libvirt as libvirt


def a_guest(conn):
    return next(d for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                if d.ID() > 0 and d.state()[0] in (1, 2))


def daemon_requests(conn):
    c = conn._o.request_counts()
    return c["xend_total"], c["xenstore_total"], c["xl_total"], c["stats"]


def assert_only_stats_reads(conn, before, reads):
    x, s, xl, st = daemon_requests(conn)
    assert (x, s, xl) == before[:3], "statistics must not ask XenD, xenstore or xl"
    assert st - before[3] == reads


@pytest.mark.parametrize("toolstack", ["xend", "xl"])
def test_block_and_interface_counters_grow_while_running_and_stop_while_paused(toolstack):
    from xvirt.testing import sim_host
    with sim_host(4, name=f"domstats-{toolstack}", toolstack=toolstack) as host:
        conn = libvirt.open(host.uri)
        try:
            dom = a_guest(conn)
            vif = f"vif{dom.ID()}.0"
            b0, n0 = dom.blockStats("xvda"), dom.interfaceStats(vif)
            assert len(b0) == 5 and len(n0) == 8
            time.sleep(1.1)
            b1, n1 = dom.blockStats("xvda"), dom.interfaceStats(vif)
            assert b1[0] > b0[0] and b1[1] > b0[1] and b1[2] > b0[2] and b1[3] > b0[3]
            assert b1[1] % 512 == 0 and b1[4] == 0          # bytes are whole sectors; no errors
            assert n1[0] > n0[0] and n1[4] > n0[4] and n1[1] >= n0[1]
            dom.suspend()
            p0 = dom.blockStats("xvda"), dom.interfaceStats(vif)
            time.sleep(1.1)
            assert (dom.blockStats("xvda"), dom.interfaceStats(vif)) == p0
            dom.resume()
            time.sleep(1.1)
            assert dom.blockStats("xvda")[0] > p0[0][0]
        finally:
            conn.close()


def test_paths_a_program_may_give(conn):
    dom = a_guest(conn)
    xml = dom.XMLDesc()
    assert "xvda" in xml
    by_target = dom.blockStats("xvda")
    flags = dom.blockStatsFlags("xvda")
    assert set(flags) == {"rd_operations", "rd_bytes", "wr_operations", "wr_bytes", "errs"}
    assert flags["rd_operations"] >= by_target[0]
    assert dom.blockStats("")[0] >= by_target[0]          # all disks summed (one disk here)
    mac = xml.split("<mac address='")[1].split("'")[0]
    assert dom.interfaceStats(mac.upper())[0] >= 0        # an interface by MAC
    for bad, call in (("xvdz", dom.blockStats), ("vif999.9", dom.interfaceStats)):
        with pytest.raises(libvirt.libvirtError) as e:
            call(bad)
        assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG and bad in str(e.value)


def test_stats_of_an_inactive_domain_are_operation_invalid(conn):
    dom = conn.lookupByName(conn.listDefinedDomains()[0])
    for call in (lambda: dom.blockStats("xvda"), lambda: dom.interfaceStats("vif1.0"), dom.memoryStats, dom.vcpus):
        with pytest.raises(libvirt.libvirtError) as e:
            call()
        assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM) >= dom.vcpusFlags(0) >= 1


def test_memory_and_vcpus_agree_with_the_host(conn, simhost):
    dom = a_guest(conn)
    truth = next(t for t in simhost.control.truth()["running"] if t["uuid"] == dom.UUIDString())
    assert dom.memoryStats() == {"actual": truth["memory_kib"], "available": truth["maxmem_kib"],
                                 "rss": truth["memory_kib"]}
    info, maps = dom.vcpus()
    ncpus = simhost.control.truth()["host_cpus"]
    assert [v[0] for v in info] == list(range(truth["vcpus"])) and len(maps) == truth["vcpus"]
    assert all(len(m) == ncpus and all(m) for m in maps)   # unpinned: every CPU
    assert all(v[1] in (libvirt.VIR_VCPU_RUNNING, libvirt.VIR_VCPU_BLOCKED) and 0 <= v[3] < ncpus for v in info)
    assert dom.vcpusFlags(0) == truth["vcpus"] and dom.vcpusFlags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == truth["max_vcpus"]
    total = dom.getCPUStats(True)[0]["cpu_time"]
    per = dom.getCPUStats(False)
    assert len(per) == ncpus and 0 < sum(p["cpu_time"] for p in per) <= dom.getCPUStats(True)[0]["cpu_time"]
    assert total > 0
    with pytest.raises(libvirt.libvirtError) as e:
        dom.vcpusFlags(1 << 8)
    assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG


def test_per_domain_stats_make_no_toolstack_request(conn):
    dom = a_guest(conn)
    dom.name()
    before = daemon_requests(conn)
    dom.blockStats("xvda")
    dom.interfaceStats(f"vif{dom.ID()}.0")
    dom.blockStatsFlags("xvda")
    assert_only_stats_reads(conn, before, 3)
    before = daemon_requests(conn)
    dom.memoryStats()
    dom.vcpusFlags(0)
    dom.getCPUStats(True)
    assert_only_stats_reads(conn, before, 0)
    before = daemon_requests(conn)
    dom.vcpus()                                          # the affinity is in the stats file
    assert_only_stats_reads(conn, before, 1)


def test_all_domain_stats_groups_with_libvirt_key_names(conn, simhost):
    running = [t for t in simhost.control.truth()["running"]]
    conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    before = daemon_requests(conn)
    groups = (libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON | libvirt.VIR_DOMAIN_STATS_BLOCK
              | libvirt.VIR_DOMAIN_STATS_INTERFACE)
    stats = conn.getAllDomainStats(groups, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    x, s, xl, st = daemon_requests(conn)
    assert x == before[0] and xl == before[2] and st - before[3] == len(running)
    assert len(stats) == len(running)
    by_uuid = {t["uuid"]: t for t in running}
    for dom, d in stats:
        t = by_uuid[dom.UUIDString()]
        assert d["balloon.current"] == t["memory_kib"] and d["balloon.maximum"] == t["maxmem_kib"]
        assert d["vcpu.current"] == t["vcpus"] and d["vcpu.maximum"] == t["max_vcpus"]
        assert all(f"vcpu.{i}.time" in d and f"vcpu.{i}.state" in d for i in range(t["vcpus"]))
        if t["domid"] == 0:
            assert d["block.count"] == 0 and d["net.count"] == 0
            continue
        assert d["block.count"] == 1 and d["block.0.name"] == "xvda" and d["block.0.path"].startswith("/dev/vg0/")
        assert {"block.0.rd.reqs", "block.0.rd.bytes", "block.0.wr.reqs", "block.0.wr.bytes"} <= set(d)
        assert d["net.count"] == 1 and d["net.0.name"] == f"vif{t['domid']}.0"
        assert {f"net.0.{k}" for k in ("rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts",
                                        "tx.errs", "tx.drop")} <= set(d)
