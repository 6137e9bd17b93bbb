"""The libxl toolstack against the simulated host's xl personality: zero xl calls for reads of running
domains, exact xl calls for lifecycle operations (client and host agreeing), defined domains kept
by xvirt in its config directory, xl's failures as libvirt errors."""

from __future__ import annotations

import os
import stat
import uuid as uuidlib

import pytest

import xvirt
from xvirt.constants import DomainState as S, ListFlags
from xvirt.errors import (DomainExistsError, ErrorDomain, InvalidArgError, NoDomainError,
                          OperationDeniedError, OperationInvalidError, XMLError)

pytestmark = pytest.mark.simhost(domains=4, toolstack="xl")


def xml(name: str, uuid: str | None = None, memory_kib: int = 262144, vcpus: int = 2) -> str:
    uuid = uuid or str(uuidlib.uuid4())
    return f"""<domain type='xen'><name>{name}</name><uuid>{uuid}</uuid>
<memory unit='KiB'>{memory_kib}</memory><vcpu>{vcpus}</vcpu>
<os><type>linux</type><kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd.img</initrd><cmdline>console=hvc0</cmdline></os>
<on_crash>preserve</on_crash>
<devices><disk type='block' device='disk'><source dev='/dev/vg0/{name}'/><target dev='xvda' bus='xen'/></disk>
<interface type='bridge'><mac address='00:16:3e:00:aa:01'/><source bridge='xenbr0'/></interface></devices></domain>"""


def delta(conn, simhost, fn):
    """Run ``fn``; the xl calls it made as the client counted them (and the host agrees)."""
    before, host_before = conn.request_counts()["xl"], simhost.control.counters()["xl"]
    result = fn()
    after, host_after = conn.request_counts()["xl"], simhost.control.counters()["xl"]
    mine = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    host = {k: v - host_before.get(k, 0) for k, v in host_after.items() if v != host_before.get(k, 0)}
    assert mine == host
    return result, mine


def test_connection_finds_the_libxl_toolstack(simhost):
    with xvirt.open(simhost.uri) as conn:
        assert conn.toolstack == "libxl"
        assert conn.request_counts()["toolstack"] == "libxl"


def test_reads_of_running_domains_make_no_toolstack_call(simhost):
    simhost.control.reset_counters()
    truth = simhost.control.truth()["running"]
    with xvirt.open(simhost.uri) as conn:
        doms = conn.list_all_domains(ListFlags.ACTIVE)
        rows = [(d.id, d.name, d.info(), d.state(), d.max_memory(), d.is_active()) for d in doms]
        stats = conn.get_all_domain_stats(flags=ListFlags.ACTIVE)
        for t in truth:
            assert conn.lookup_by_id(t["domid"]).uuid == t["uuid"]
            assert conn.lookup_by_name(t["name"]).uuid == t["uuid"]
            assert conn.lookup_by_uuid(t["uuid"]).name == t["name"]
        counts = conn.request_counts()
    assert [(r[0], r[1]) for r in rows] == [(t["domid"], t["name"]) for t in truth]
    assert [s.name for s in stats] == [t["name"] for t in truth]
    assert counts["xl_total"] == 0 and counts["xend_total"] == 0 and counts["xl"] == {}
    host = simhost.control.counters()
    assert host["xl_total"] == 0 and host["xend_total"] == 0


def test_lifecycle_operations_make_exactly_one_xl_call_each(simhost):
    with xvirt.open(simhost.uri) as conn:
        _, calls = delta(conn, simhost, lambda: conn.define_xml(xml("life", "0badc0de-0000-4000-8000-00000000000a")))
        assert calls == {}
        dom = conn.lookup_by_name("life")
        assert dom.id == -1 and dom.state()[0] == S.SHUTOFF and dom.is_persistent()
        assert delta(conn, simhost, dom.create)[1] == {"create": 1}
        first = dom.id
        assert first > 0 and dom.state()[0] in (S.RUNNING, S.BLOCKED)
        assert delta(conn, simhost, dom.suspend)[1] == {"pause": 1}
        assert dom.state()[0] == S.PAUSED
        assert delta(conn, simhost, dom.resume)[1] == {"unpause": 1}
        assert dom.state()[0] in (S.RUNNING, S.BLOCKED)
        assert delta(conn, simhost, lambda: dom.set_memory(131072))[1] == {"mem-set": 1}
        assert dom.info().mem_kib == 131072
        assert delta(conn, simhost, lambda: dom.set_max_memory(196608))[1] == {"mem-max": 1}
        assert dom.max_memory() == 196608
        assert delta(conn, simhost, lambda: dom.set_vcpus(1))[1] == {"vcpu-set": 1}
        assert dom.info().vcpus == 1
        assert delta(conn, simhost, lambda: dom.rename("life-2"))[1] == {"rename": 1}
        assert dom.name == "life-2" and dom.id == first
        assert conn.lookup_by_name("life-2") == dom
        assert delta(conn, simhost, lambda: dom.save("life.img"))[1] == {"save": 1}
        assert dom.id == -1 and dom.state()[0] == S.SHUTOFF
        assert delta(conn, simhost, lambda: conn.restore("life.img"))[1] == {"restore": 1}
        restored = dom.id
        assert restored not in (-1, first) and dom.name == "life-2"
        assert delta(conn, simhost, dom.reboot)[1] == {"reboot": 1}
        simhost.control.settle()
        assert dom.id not in (-1, restored)
        assert delta(conn, simhost, dom.shutdown)[1] == {"shutdown": 1}
        simhost.control.settle()
        assert dom.id == -1 and dom.is_persistent() and "life-2" in conn.list_defined_domains()
        assert delta(conn, simhost, dom.create)[1] == {"create": 1}
        assert delta(conn, simhost, dom.destroy)[1] == {"destroy": 1}
        assert dom.id == -1
        assert delta(conn, simhost, dom.undefine)[1] == {}
        with pytest.raises(NoDomainError):
            conn.lookup_by_name("life-2")


def test_create_xml_runs_a_transient_domain(simhost):
    with xvirt.open(simhost.uri) as conn:
        dom, calls = delta(conn, simhost, lambda: conn.create_xml(xml("tran")))
        assert calls == {"create": 1}
        assert dom.id > 0 and dom.name == "tran" and not dom.is_persistent()
        assert "tran" not in conn.list_defined_domains()
        transient = conn.list_all_domains(ListFlags.TRANSIENT)
        assert dom in transient
        with pytest.raises(OperationInvalidError):
            dom.undefine()
        with pytest.raises(OperationInvalidError):
            dom.set_autostart(True)
        dom.destroy()
        with pytest.raises(NoDomainError):
            conn.lookup_by_name("tran")


def test_defined_domains_live_in_the_config_directory(simhost):
    confdir = os.path.join(simhost.root, "libxl")
    uuid = "0badc0de-0000-4000-8000-00000000000b"
    with xvirt.open(simhost.uri) as conn:
        dom = conn.define_xml(xml("kept", uuid))
        assert stat.S_IMODE(os.stat(confdir).st_mode) == 0o700
        path = os.path.join(confdir, f"{uuid}.xml")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert "<name>kept</name>" in open(path).read()
        assert not dom.autostart()
        dom.set_autostart(True)
        assert dom.autostart() and os.path.exists(os.path.join(confdir, f"{uuid}.autostart"))
        # inactive changes edit the definition, without xl
        _, calls = delta(conn, simhost, lambda: (dom.set_memory(131072), dom.set_vcpus(1), dom.rename("kept2")))
        assert calls == {}
        info = dom.info()
        assert (info.mem_kib, info.vcpus, info.max_mem_kib, dom.name) == (131072, 1, 262144, "kept2")
        with pytest.raises(InvalidArgError):
            dom.set_memory(10 ** 9)
    # another connection (another process would do the same) sees the same definitions
    with xvirt.open(simhost.uri) as conn:
        dom = conn.lookup_by_name("kept2")
        assert dom.uuid == uuid and dom.autostart()
        assert "kept2" in conn.list_defined_domains()
        assert conn.lookup_by_uuid(uuid) == dom
        dom.undefine()
        assert not os.path.exists(path) and not os.path.exists(os.path.join(confdir, f"{uuid}.autostart"))


def test_define_refuses_names_in_use_and_bad_xml_defines_nothing(simhost):
    running = simhost.control.truth()["running"][1]["name"]
    confdir = os.path.join(simhost.root, "libxl")
    with xvirt.open(simhost.uri) as conn:
        before = sorted(os.listdir(confdir)) if os.path.isdir(confdir) else []
        with pytest.raises(DomainExistsError):
            conn.define_xml(xml(running))
        conn.define_xml(xml("once"))
        with pytest.raises(DomainExistsError):
            conn.define_xml(xml("once"))  # same name, other uuid
        with pytest.raises(XMLError):
            conn.define_xml("<domain type='xen'><name>x</name><memory>lots</memory></domain>")
        conn.lookup_by_name("once").undefine()
        assert (sorted(os.listdir(confdir)) if os.path.isdir(confdir) else []) in (before, before + ["running"])


def test_xl_failures_become_libvirt_errors(simhost):
    with xvirt.open(simhost.uri) as conn:
        names = [t["name"] for t in simhost.control.truth()["running"]]
        dom = conn.lookup_by_name(names[1])
        with pytest.raises(InvalidArgError) as e:
            dom.set_memory(1 << 40)  # beyond its maximum: libxl refuses
        assert e.value.domain == ErrorDomain.LIBXL and "mem-set failed" in e.value.message
        with pytest.raises(DomainExistsError):
            dom.rename(names[2])
        with pytest.raises(OperationInvalidError):
            conn.lookup_by_id(0).destroy()
        conn.define_xml(xml("idle"))
        idle = conn.lookup_by_name("idle")
        for op in (idle.suspend, idle.resume, idle.shutdown, idle.destroy, lambda: idle.save("x.img")):
            with pytest.raises(OperationInvalidError):
                op()
        with pytest.raises(OperationInvalidError):
            dom.create()  # already running
        idle.undefine()
        with pytest.raises(NoDomainError):
            idle.suspend()
        with pytest.raises(InvalidArgError):
            conn.restore("no-such.img")
        assert dom.id > 0  # nothing above changed it


def test_xml_desc_of_running_domains(simhost):
    with xvirt.open(simhost.uri) as conn:
        t = simhost.control.truth()["running"][1]
        desc = conn.lookup_by_uuid(t["uuid"]).xml_desc()  # seeded by xl, not by xvirt: from xl list -l
        assert f"id='{t['domid']}'" in desc and f"<name>{t['name']}</name>" in desc
        assert f"<uuid>{t['uuid']}</uuid>" in desc
        assert f"<currentMemory unit='KiB'>{t['memory_kib']}</currentMemory>" in desc
        dom = conn.create_xml(xml("desc"))
        dom.set_memory(131072)
        _, calls = delta(conn, simhost, dom.xml_desc)
        assert calls == {}  # started by xvirt: its own definition, live values from the hypervisor
        desc = dom.xml_desc()
        assert "<currentMemory unit='KiB'>131072</currentMemory>" in desc and "/dev/vg0/desc" in desc
        dom.destroy()


def test_a_refused_rename_changes_nothing(simhost):
    """Persist first, then xl; when xl refuses, the stored definition is put back."""
    confdir = os.path.join(simhost.root, "libxl")
    uuid = "0badc0de-0000-4000-8000-00000000000c"
    with xvirt.open(simhost.uri) as conn:
        dom = conn.define_xml(xml("stays", uuid))
        dom.create()
        before = open(os.path.join(confdir, f"{uuid}.xml")).read()
        with pytest.raises(InvalidArgError):
            dom.rename("bad name with spaces")  # xend's name rules, which the simulated libxl keeps
        assert dom.name == "stays" and open(os.path.join(confdir, f"{uuid}.xml")).read() == before
        assert conn.lookup_by_name("stays") == dom
        dom.destroy()
        dom.undefine()


def test_autostart_domains_start_with_the_host(simhost):
    """Defined domains survive a host restart in xvirt's config directory; autostart ones run again."""
    with xvirt.open(simhost.uri) as conn:
        auto = conn.define_xml(xml("auto-on"))
        auto.set_autostart(True)
        manual = conn.define_xml(xml("auto-off"))
        auto.create()
        assert conn.start_autostart_domains() == []  # already running
    simhost.restart()
    with xvirt.open(simhost.uri) as conn:
        assert conn.lookup_by_uuid(auto.uuid).id > 0
        assert conn.lookup_by_uuid(manual.uuid).id == -1
        assert conn.list_defined_domains() == ["auto-off"]
    with xvirt.open(simhost.uri, readonly=True) as conn:
        with pytest.raises(OperationDeniedError):
            conn.start_autostart_domains()


def test_without_a_hypervisor_channel_xl_list_answers(simhost):
    """A libxl host where no hypercall channel is open here: reads fall back to ``xl list -v``
    (one call per question), operations find the id the same way."""
    from xvirt.driver.xen import XenDriver
    from xvirt.uri import Target
    target = Target("xen:///", "/nonexistent/xend", toolstack="libxl", xl_command=tuple(simhost.xl_command),
                    config_dir=os.path.join(simhost.root, "libxl"))
    truth = simhost.control.truth()["running"]
    drv = XenDriver(target)
    try:
        assert drv.hv is None and drv.xs is None
        assert drv.list_ids() == [t["domid"] for t in truth]
        assert drv.request_counts()["xl"] == {"list": 1}
        web = truth[1]
        assert drv.lookup_name(web["name"]) == web["uuid"]
        assert drv.lookup_id(web["domid"]) == web["uuid"]
        f = drv.facts(web["uuid"], with_name=True)
        assert (f.id, f.name, f.mem_kib, f.vcpus) == (web["domid"], web["name"], web["memory_kib"], web["vcpus"])
        assert drv.request_counts()["xl"] == {"list": 4}
        drv.suspend(web["uuid"])
        assert drv.request_counts()["xl"] == {"list": 5, "pause": 1}
        assert drv.facts(web["uuid"]).state == S.PAUSED
        drv.resume(web["uuid"])
        assert sorted(f.name for f in drv.all_facts(active=True, inactive=True)) == sorted(t["name"] for t in truth)
        with pytest.raises(NoDomainError):
            drv.lookup_name("nosuch")
    finally:
        drv.close()
