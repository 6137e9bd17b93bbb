"""Domain lifecycle events against the simulated host: every type and detail, ordering, the burst, close."""

from __future__ import annotations

import asyncio
import uuid as _uuid

import pytest

import xvirt
from xvirt import events as ev

# dying records live long enough that the source reads them (their shutdown reason gives the detail)
FAST = {"dying_delay": 10.0, "guest_delay": 0.005, "save_delay": 0.001}


def _settings(host, **kw):
    host.control.call("settings", set={**FAST, **kw})


def take(stream, n: int) -> list[tuple]:
    """The next ``n`` events as (event, detail, name, domid) (reboot events as ("reboot", name, domid))."""
    out = []
    for _ in range(n):
        e = next(stream)
        out.append((e.event, e.detail, e.name, e.domid) if e.id == ev.ID_LIFECYCLE else ("reboot", e.name, e.domid))
    return out


def barrier(conn, stream, marker) -> list:
    """Pause and resume ``marker`` through this process; return every event before the marker's two.

    The source has one producer thread, so whatever it emitted before the marker's SUSPENDED is
    exactly what it saw before: no sleeping, no guessing how long to wait."""
    marker.suspend()
    marker.resume()
    before = []
    for e in stream:
        if e.uuid == marker.uuid and e.event == ev.SUSPENDED:
            nxt = next(stream)
            assert (nxt.uuid, nxt.event) == (marker.uuid, ev.RESUMED)
            return before
        before.append(e)
    raise AssertionError("the stream ended before the marker arrived")


def _xml_for(conn, template, name: str) -> tuple[str, str]:
    new_uuid = str(_uuid.uuid4())
    xml = template.xml_desc()
    return xml.replace(f"<name>{template.name}</name>", f"<name>{name}</name>").replace(template.uuid, new_uuid), new_uuid


@pytest.mark.simhost(domains=6)
def test_every_event_type_and_detail_in_order(simhost):
    _settings(simhost)
    with xvirt.open(simhost.uri) as conn, xvirt.open(simhost.uri) as other:
        stream = conn.events(timeout=30)
        running = [d for d in simhost.control.truth()["running"] if d["domid"] and "p" not in d["state"]]
        dom = other.lookup_by_name(running[0]["name"])
        marker = other.lookup_by_name(running[1]["name"])
        name, first = dom.name, dom.id

        dom.suspend()
        dom.resume()
        assert take(stream, 2) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, name, first),
                                   (ev.RESUMED, ev.RESUMED_UNPAUSED, name, first)]
        dom.save("ev-save")
        assert take(stream, 1) == [(ev.STOPPED, ev.STOPPED_SAVED, name, -1)]
        other.restore("ev-save")
        restored = dom.id
        assert take(stream, 1) == [(ev.STARTED, ev.STARTED_RESTORED, name, restored)]
        simhost.control.guest("reboot", name)          # another program: Xen pushes it
        got = take(stream, 4)
        rebooted = dom.id
        assert got == [(ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, name, restored), (ev.STOPPED, ev.STOPPED_SHUTDOWN, name, -1),
                       (ev.STARTED, ev.STARTED_BOOTED, name, rebooted), ("reboot", name, rebooted)]
        simhost.control.guest("crash", name)
        got = take(stream, 3)
        after_crash = dom.id
        assert got == [(ev.CRASHED, ev.CRASHED_PANICKED, name, rebooted), (ev.STOPPED, ev.STOPPED_CRASHED, name, -1),
                       (ev.STARTED, ev.STARTED_BOOTED, name, after_crash)]
        dom.rename("ev-renamed")
        assert take(stream, 2) == [(ev.UNDEFINED, ev.UNDEFINED_RENAMED, name, after_crash),
                                   (ev.DEFINED, ev.DEFINED_RENAMED, "ev-renamed", after_crash)]
        dom.destroy()
        assert take(stream, 1) == [(ev.STOPPED, ev.STOPPED_DESTROYED, "ev-renamed", -1)]
        dom.create()
        assert take(stream, 1) == [(ev.STARTED, ev.STARTED_BOOTED, "ev-renamed", dom.id)]
        last = dom.id
        dom.shutdown()                                   # asynchronous: the guest reacts later
        assert take(stream, 2) == [(ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, "ev-renamed", last),
                                   (ev.STOPPED, ev.STOPPED_SHUTDOWN, "ev-renamed", -1)]
        # inactive domains live only in XenD: this process's own define/undefine/rename
        xml, new_uuid = _xml_for(other, dom, "ev-fresh")
        fresh = other.define_xml(xml)
        other.define_xml(xml)
        fresh.rename("ev-fresh2")
        fresh.undefine()
        assert take(stream, 5) == [(ev.DEFINED, ev.DEFINED_ADDED, "ev-fresh", -1),
                                   (ev.DEFINED, ev.DEFINED_UPDATED, "ev-fresh", -1),
                                   (ev.UNDEFINED, ev.UNDEFINED_RENAMED, "ev-fresh", -1),
                                   (ev.DEFINED, ev.DEFINED_RENAMED, "ev-fresh2", -1),
                                   (ev.UNDEFINED, ev.UNDEFINED_REMOVED, "ev-fresh2", -1)]
        assert barrier(conn, stream, marker) == []      # nothing invented on the way
        assert conn._event_source.counts["stopped"] == 5


@pytest.mark.simhost(domains=4)
def test_created_domain_gives_started_only_and_paused_start_of_another_program(simhost):
    """xend creates paused and the creator unpauses: that is one STARTED, no SUSPENDED/RESUMED."""
    _settings(simhost)
    with xvirt.open(simhost.uri) as conn:
        stream = conn.events(timeout=30)
        template = conn.list_all_domains()[1]
        xml, new_uuid = _xml_for(conn, template, "ev-created")
        created = conn.create_xml(xml)
        assert take(stream, 1) == [(ev.STARTED, ev.STARTED_BOOTED, "ev-created", created.id)]
        created.suspend()
        assert take(stream, 1) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, "ev-created", created.id)]
        created.destroy()
        assert take(stream, 1) == [(ev.STOPPED, ev.STOPPED_DESTROYED, "ev-created", -1)]
        marker = conn.lookup_by_id(1)
        assert barrier(conn, stream, marker) == []


PAUSED, SHUTDOWN, SHIFT = 1 << 3, 1 << 2, 16   # getdomaininfo flag bits (xen/include/public/domctl.h)


def _expected_from_log(entries: list[dict], initial: dict[str, dict]) -> dict[str, list[tuple]]:
    """The events the issue's mapping promises for what the host's own log says happened.

    Written from the log's states (id, name, table flags per change), independently of the
    tracker: a new id is a start (RESTORED after a save, with a reboot event after a guest
    reboot), a paused bit that comes or goes is a pause or unpause (not under ``migrating-*``,
    not the first unpause of a domain that appeared paused), a shutdown bit with its reason is
    SHUTDOWN or CRASHED, and losing the id is a stop with the reason it had.
    """
    out: dict[str, list[tuple]] = {u: [] for u in initial}
    state = {u: dict(v, fresh=False, last_stop=None) for u, v in initial.items()}
    for e in entries:
        u = e["uuid"]
        if u not in state:
            continue
        st, seq, d = state[u], out[u], e["domid"]
        if st["domid"] is not None and d != st["domid"]:
            fl = st["flags"]
            code = (fl >> SHIFT) & 0xFF if fl & SHUTDOWN else None
            if code is not None:
                detail = {2: ev.STOPPED_SAVED, 3: ev.STOPPED_CRASHED}.get(code, ev.STOPPED_SHUTDOWN)
            elif st["name"].startswith("migrating-"):
                detail = ev.STOPPED_SAVED
            else:
                detail = ev.STOPPED_DESTROYED
            seq.append((ev.STOPPED, detail, -1))
            st.update(domid=None, last_stop="reboot" if code == 1 else detail)
        if d is None:
            continue
        fl = e["flags"]
        if st["domid"] is None:
            seq.append((ev.STARTED, ev.STARTED_RESTORED if st["last_stop"] == ev.STOPPED_SAVED
                        else ev.STARTED_BOOTED, d))
            if st["last_stop"] == "reboot":
                seq.append(("reboot", d))
            st.update(domid=d, name=e["name"], flags=0, fresh=bool(fl & PAUSED), last_stop=None)
            old = 0
        else:
            old = st["flags"]
            if e["name"] != st["name"] and not (e["name"].startswith("migrating-") or st["name"].startswith("migrating-")):
                seq += [(ev.UNDEFINED, ev.UNDEFINED_RENAMED, d), (ev.DEFINED, ev.DEFINED_RENAMED, d)]
            st["name"] = e["name"]
        if fl & SHUTDOWN and not old & SHUTDOWN:
            code = (fl >> SHIFT) & 0xFF
            if code in (0, 1):
                seq.append((ev.SHUTDOWN, ev.SHUTDOWN_FINISHED, d))
            elif code == 3:
                seq.append((ev.CRASHED, ev.CRASHED_PANICKED, d))
        elif not fl & SHUTDOWN and old and fl & PAUSED and not old & PAUSED:
            if not st["fresh"] and not st["name"].startswith("migrating-"):
                seq.append((ev.SUSPENDED, ev.SUSPENDED_PAUSED, d))
        elif not fl & SHUTDOWN and old & PAUSED and not fl & PAUSED:
            if st["fresh"] or st["name"].startswith("migrating-"):
                st["fresh"] = False
            else:
                seq.append((ev.RESUMED, ev.RESUMED_UNPAUSED, d))
        st["flags"] = fl
    return out


@pytest.mark.simhost(domains=201)
def test_burst_of_1000_operations_on_200_domains_gives_exactly_the_host_log(simhost):
    _settings(simhost)
    with xvirt.open(simhost.uri) as conn, xvirt.open(simhost.uri) as other:
        truth = simhost.control.truth()
        live = [d for d in truth["running"] if d["domid"]]
        for d in live:
            if "p" in d["state"]:
                other.lookup_by_uuid(d["uuid"]).resume()  # start from running guests
        marker_uuid = live[-1]["uuid"]
        doms = [other.lookup_by_uuid(d["uuid"]) for d in live[:200]]
        assert len(doms) == 200
        start = simhost.control.events(since=1 << 62)["last"]
        stream = conn.events(timeout=60)
        initial = {d.uuid: {"domid": d.id, "name": d.name, "flags": 1 << 5} for d in doms}  # running

        def guest(kind):
            return lambda d, i: simhost.control.guest(kind, d.uuid)   # another program

        def save(d, i):
            d.save(f"burst-{i}")

        def restore(d, i):
            other.restore(f"burst-{i}")
        plans = [
            [lambda d, i: d.suspend(), lambda d, i: d.resume(), save, restore, lambda d, i: d.destroy()],
            [guest("reboot"), lambda d, i: d.suspend(), lambda d, i: d.resume(), guest("crash"), lambda d, i: d.destroy()],
            [lambda d, i: d.destroy(), lambda d, i: d.create(), lambda d, i: d.suspend(), lambda d, i: d.resume(),
             lambda d, i: d.shutdown()],
            [save, restore, guest("reboot"), lambda d, i: d.suspend(), lambda d, i: d.destroy()],
        ]
        ops = 0
        for step in range(5):
            for i, d in enumerate(doms):
                plans[i % 4][step](d, i)
                ops += 1
        assert ops == 1000
        simhost.control.settle()
        got = barrier(conn, stream, other.lookup_by_uuid(marker_uuid))
        uuids = {d.uuid for d in doms}
        expected = _expected_from_log(simhost.control.all_events(since=start), initial)
        received: dict[str, list] = {u: [] for u in uuids}
        for e in got:
            assert e.uuid in uuids
            received[e.uuid].append((e.event, e.detail, e.domid) if e.id == ev.ID_LIFECYCLE else ("reboot", e.domid))
        assert sum(map(len, expected.values())) > 1000
        assert received == expected
        assert [e.seq for e in got] == sorted(e.seq for e in got)


@pytest.mark.simhost(domains=3)
def test_stream_ends_with_eof_when_the_host_stops(simhost):
    conn = xvirt.open(simhost.uri)
    try:
        stream = conn.events(timeout=30)
        simhost.stop()
        assert list(stream) == []
        assert stream.close_reason == ev.CLOSE_REASON_EOF
    finally:
        conn.close()


@pytest.mark.simhost(domains=4)
def test_async_iterator_and_per_domain_filter(simhost):
    _settings(simhost)
    with xvirt.open(simhost.uri) as conn:
        doms = [d for d in conn.list_all_domains() if d.id > 0]
        target, noise = doms[0], doms[1]

        async def main():
            stream = conn.events(uuid=target.uuid, timeout=30)
            got = []
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, noise.suspend)
            await loop.run_in_executor(None, target.suspend)
            await loop.run_in_executor(None, target.resume)
            async for e in stream:
                got.append((e.event, e.domid))
                if len(got) == 2:
                    break
            stream.close()
            return got
        assert asyncio.run(main()) == [(ev.SUSPENDED, target.id), (ev.RESUMED, target.id)]


@pytest.mark.simhost(domains=4)
def test_events_keep_the_registry_bound_to_new_ids(simhost):
    """After a reboot the registry already knows the new id: one table read instead of a failed
    hint check plus a scan of the whole table (docs/events.md has the timings)."""
    _settings(simhost)
    reads = {}
    for with_events in (False, True):
        with xvirt.open(simhost.uri) as conn:
            stream = conn.events(timeout=30) if with_events else None
            dom = [d for d in conn.list_all_domains() if d.id > 0][0]
            old = dom.id
            simhost.control.guest("reboot", dom.uuid)
            if stream is not None:
                take(stream, 4)
                assert conn._driver.registry.id_hint(dom.uuid) not in (None, old)
            else:
                simhost.control.settle()
            before = conn.request_counts()["hypervisor"]
            assert dom.id not in (old, -1)
            reads[with_events] = conn.request_counts()["hypervisor"] - before
    assert reads == {False: 2, True: 1}


def test_virsh_line_format():
    e = ev.DomainEvent(ev.ID_LIFECYCLE, ev.STOPPED, ev.STOPPED_SAVED, "u", "web-01", -1, 1, 0.25)
    assert e.virsh_line() == "event 'lifecycle' for domain 'web-01': Stopped Saved"
    assert e.virsh_line(timestamp=True) == "1970-01-01 00:00:00.250+0000: event 'lifecycle' for domain 'web-01': Stopped Saved"
    r = ev.DomainEvent(ev.ID_REBOOT, -1, 0, "u", "web-01", 7)
    assert r.virsh_line() == "event 'reboot' for domain 'web-01'"


class _NoCounter:
    """A hypervisor reader without a change counter, as libxenctrl's (real dom0) is."""

    def __init__(self, path: str) -> None:
        from xvirt.transport.hypervisor import DomainTableReader
        self._r = DomainTableReader(path)

    def snapshot(self):
        return self._r.snapshot()

    def close(self) -> None:
        self._r.close()


@pytest.mark.simhost(domains=3)
def test_a_reader_without_change_counter_is_compared_by_records(simhost):
    import dataclasses
    _settings(simhost)
    with xvirt.open(simhost.uri) as conn:
        hv = _NoCounter(conn.target.domtable)
        from xvirt.transport.xenstore import XenstoreClient
        src = ev.EventSource(dataclasses.replace(conn.target, domtable=None),
                             open_channels=lambda t: (XenstoreClient(conn.target.xenstore, timeout=t), hv, False))
        try:
            stream = ev.EventStream(src, timeout=30)
            dom = [d for d in conn.list_all_domains() if d.id > 0][0]
            simhost.control.op("pause", dom.uuid)      # another program: only the records show it
            assert take(stream, 1) == [(ev.SUSPENDED, ev.SUSPENDED_PAUSED, dom.name, dom.id)]
            simhost.control.op("destroy", dom.uuid)
            assert take(stream, 1) == [(ev.STOPPED, ev.STOPPED_DESTROYED, dom.name, -1)]
        finally:
            src.close()
            hv.close()
