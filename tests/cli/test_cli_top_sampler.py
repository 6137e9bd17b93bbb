"""``xvirt top`` without a host: the sampler's %CPU and history rules, sorting, text, CSV, keys, loop."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from xvirt.cli import commands_top
from xvirt.cli.top import (HostFacts, Sampler, csv_header, csv_row, format_time, frame_json, render_text,
                           run_loop, sort_rows)
from xvirt.errors import NoConnectError

VIRT_TOP_CSV_HEADER = (
    "Hostname,Time,Arch,Physical CPUs,Count,Running,Blocked,Paused,Shutdown,Shutoff,Crashed,Active,Inactive,"
    "%CPU,Total hardware memory (KB),Total memory (KB),Total guest memory (KB),Total CPU time (ns),"
    "Domain ID,Domain name,CPU (ns),%CPU,Mem (bytes),%Mem,Block RDRQ,Block WRRQ,Net RXBY,Net TXBY\n")


class FakeConn:
    """Serves scripted bulk samples: a list of {uuid: (id, name, state, cpu_ns, mem_kib)} per call."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def get_all_domain_stats(self, stats=0, flags=0):
        self.calls.append((stats, flags))
        doms = self.script.pop(0)
        if isinstance(doms, Exception):
            raise doms
        return [SimpleNamespace(domain=SimpleNamespace(uuid=u), id=i, name=n,
                                stats={"state.state": s, "state.reason": 0, "cpu.time": c, "balloon.current": m,
                                       "balloon.maximum": m, "vcpu.current": 2, "vcpu.maximum": 2})
                for u, (i, n, s, c, m) in doms.items()]


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _sampler(script, cpus=4, memory=1024 * 1024):
    clock = Clock()
    return Sampler(FakeConn(script), HostFacts(cpus, memory, "x86_64", 2400), clock=clock, wall=lambda: 0.0), clock


def test_first_sample_is_warm_up_then_cpu_is_delta_over_elapsed_times_host_cpus():
    s, clock = _sampler([{"u1": (1, "a", 1, 0, 1024)}, {"u1": (1, "a", 1, 2_000_000_000, 1024)}])
    first = s.sample()
    assert first.warmup and first.rows[0].cpu_pct is None and first.summary.cpu_pct is None
    clock.t += 2.0
    second = s.sample()
    assert not second.warmup
    # 2 s of cpu in 2 s on a 4-cpu host = 25 %
    assert second.rows[0].cpu_pct == pytest.approx(25.0)
    assert second.rows[0].cpu_delta_ns == 2_000_000_000
    assert second.rows[0].mem_pct == pytest.approx(100.0 * 1024 / (1024 * 1024))
    assert s.conn.calls == [(0, 1), (0, 1)]  # one bulk call per sample, active domains only


def test_history_is_keyed_by_uuid_so_a_new_id_keeps_it():
    s, clock = _sampler([{"u1": (5, "a", 1, 1_000_000_000, 1)}, {"u1": (9, "a", 1, 1_400_000_000, 1)}])
    s.sample()
    clock.t += 1.0
    row = s.sample().rows[0]
    assert row.id == 9 and row.cpu_pct == pytest.approx(10.0)


def test_cpu_time_going_backwards_is_a_new_instance():
    s, clock = _sampler([{"u1": (5, "a", 1, 9_000_000_000, 1)}, {"u1": (7, "a", 1, 400_000_000, 1)}])
    s.sample()
    clock.t += 1.0
    row = s.sample().rows[0]
    assert row.cpu_delta_ns == 400_000_000 and row.cpu_pct == pytest.approx(10.0)


def test_a_vanished_domain_blanks_nobody_and_keeps_its_history_for_a_while():
    s, clock = _sampler([
        {"u1": (1, "a", 1, 0, 1), "u2": (2, "b", 1, 0, 1)},
        {"u1": (1, "a", 1, 1_000_000_000, 1)},                                   # b is away (saving)
        {"u1": (1, "a", 1, 2_000_000_000, 1), "u2": (3, "b", 1, 800_000_000, 1)},  # b is back, new id
    ])
    s.sample()
    clock.t += 1.0
    mid = s.sample()
    assert [r.name for r in mid.rows] == ["a"] and mid.rows[0].cpu_pct == pytest.approx(25.0)
    clock.t += 1.0
    last = {r.name: r for r in s.sample().rows}
    assert last["a"].cpu_pct == pytest.approx(25.0)
    assert last["b"].id == 3 and last["b"].cpu_pct == pytest.approx(10.0)  # 0.8 s over 2 s on 4 cpus


def test_history_is_forgotten_after_forget_after():
    s, clock = _sampler([{"u1": (1, "a", 1, 0, 1)}, {}, {"u1": (4, "a", 1, 0, 1)}])
    s.forget_after = 5.0
    s.sample()
    clock.t += 10.0
    s.sample()
    assert "u1" not in s.history
    clock.t += 1.0
    assert s.sample().rows[0].cpu_pct is None


def test_inactive_domains_are_counted_only_with_include_inactive():
    script = [{"u1": (1, "a", 1, 0, 1), "u2": (-1, "off", 5, 0, 1)}]
    s, _ = _sampler(list(script))
    frame = s.sample()  # the fake returns it even when asked for active ones: never shown as a row
    assert (frame.summary.inactive, [r.name for r in frame.rows]) == (None, ["a"])
    s2 = Sampler(FakeConn(list(script)), HostFacts(4, 1), include_inactive=True)
    frame = s2.sample()
    assert (frame.summary.inactive, frame.summary.domains, [r.name for r in frame.rows]) == (1, 2, ["a"])
    assert s2.conn.calls == [(0, 0)]


def _rows():
    s, clock = _sampler([{"u1": (3, "b", 1, 5, 300), "u2": (1, "C", 2, 50, 100), "u3": (2, "a", 3, 9, 200)},
                         {"u1": (3, "b", 1, 105, 300), "u2": (1, "C", 2, 60, 100), "u3": (2, "a", 3, 9, 200)}])
    s.sample()
    clock.t += 1
    return s.sample()


@pytest.mark.parametrize("key,names", [("cpu", ["b", "C", "a"]), ("mem", ["b", "a", "C"]), ("time", ["b", "C", "a"]),
                                       ("id", ["C", "a", "b"]), ("name", ["a", "b", "C"])])
def test_sort_keys(key, names):
    assert [r.name for r in sort_rows(_rows().rows, key)] == names


def test_summary_counts_states():
    s = _rows().summary
    assert (s.domains, s.active, s.running, s.blocked, s.paused) == (3, 3, 1, 1, 1)
    assert s.total_cpu_ns == 110 and s.guest_memory_kib == 600


@pytest.mark.parametrize("ns,text", [(0, "0:00.00"), (1_234_000_000, "0:01.23"), (61_500_000_000, "1:01.50"),
                                     (3_600 * 10**9 * 2 + 5 * 10**9, "120:05.00"),
                                     (3_600 * 10**9 * 13 + 61 * 10**9, "13h01:01")])
def test_format_time(ns, text):
    assert format_time(ns) == text


def test_render_text_marks_warm_up_and_has_the_columns():
    s, clock = _sampler([{"u1": (1, "web", 1, 0, 2048)}, {"u1": (1, "web", 1, 10**9, 2048)}])
    first = render_text(s.sample())
    lines = first.splitlines()
    assert lines[1] == "1 domains, 1 active, 1 running, 0 blocked, 0 paused, - inactive"
    assert "warm-up" in lines[3]
    header = next(line for line in lines if line.endswith("NAME"))
    assert header.split() == ["ID", "S", "RDRQ", "WRRQ", "RXBY", "TXBY", "%CPU", "%MEM", "TIME", "MEM(MB)",
                              "VCPUS", "NAME"]
    assert lines[-1].split()[:7] == ["1", "R", "-", "-", "-", "-", "-"]
    clock.t += 1
    second = render_text(s.sample()).splitlines()
    assert not any("warm-up" in line for line in second)
    assert second[-1].split()[:7] == ["1", "R", "-", "-", "-", "-", "25.0"]   # no block/net groups
    assert second[2].startswith("CPU: 25.0%  Mem: 1024 MB (2 MB by guests)")


def test_csv_header_is_virt_tops():
    assert csv_header() == VIRT_TOP_CSV_HEADER


def test_csv_rows_leave_warm_up_values_empty_and_repeat_a_group_per_domain():
    s, clock = _sampler([{"u2": (2, "b", 2, 0, 10), "u1": (1, "a", 1, 0, 20)},
                         {"u2": (2, "b", 2, 4 * 10**8, 10), "u1": (1, "a", 1, 0, 20)}])
    first = csv_row(s.sample(), "host1").rstrip("\n").split(",")
    assert first[0] == "host1" and first[2:5] == ["x86_64", "4", "2"]
    assert first[13] == "" and first[17] == ""           # %CPU and Total CPU time: warm-up
    assert first[18:28] == ["1", "a", "", "", str(20 * 1024), "0", "", "", "", ""]
    assert len(first) == 18 + 2 * 10
    clock.t += 1
    second = csv_row(s.sample(), "host1").rstrip("\n").split(",")
    assert second[13] == "10.0" and second[17] == str(4 * 10**8)
    assert second[28:32] == ["2", "b", str(4 * 10**8), "10.0"]


def test_frame_json_keys():
    import json
    s, _ = _sampler([{"u1": (1, "a", 1, 0, 20)}])
    doc = json.loads(frame_json(s.sample()))
    assert list(doc) == ["sample", "time", "warmup", "host", "summary", "domains"]
    assert doc["warmup"] is True and doc["domains"][0]["cpu_percent"] is None


def test_run_loop_counts_iterations_sleeps_to_deadlines_and_survives_a_failed_sample():
    clock = Clock()
    slept, seen, errors = [], [], []

    def sleep(d):
        slept.append(round(d, 3))
        clock.t += d

    samples = iter([1, NoConnectError("down"), 3])

    def sample():
        clock.t += 0.25
        value = next(samples)
        if isinstance(value, Exception):
            raise value
        return value
    rc = run_loop(sample, seen.append, iterations=3, delay=1.0, sleep=sleep, clock=clock, on_error=errors.append)
    assert (rc, seen, [str(e) for e in errors]) == (0, [1, 3], ["down"])
    assert slept == [0.75, 0.75]


@pytest.mark.parametrize("key,action,sort", [("M", "redraw", "mem"), ("P", "redraw", "cpu"), ("T", "redraw", "time"),
                                             ("N", "redraw", "id"), ("F", "redraw", "name"), ("m", "redraw", "mem"),
                                             (" ", "sample", "name"), ("x", "redraw", "name")])
def test_keys_change_the_sort(key, action, sort):
    state = commands_top.ViewState(sort="name")
    assert commands_top.handle_key(state, key) == action
    assert state.sort == sort and not state.quit


@pytest.mark.parametrize("key", ["q", "Q", "\x03"])
def test_quit_keys(key):
    state = commands_top.ViewState()
    assert commands_top.handle_key(state, key) == "quit" and state.quit


def test_live_renderable_marks_the_sort_column_and_limits_rows():
    from rich.console import Console
    s, _ = _sampler([{f"u{i}": (i, f"d{i}", 1, 0, 10 * i) for i in range(1, 8)}])
    frame = s.sample()
    console = Console(width=100, record=True, color_system=None)
    console.print(commands_top.live_renderable(frame, commands_top.ViewState(sort="mem"), max_rows=3))
    text = console.export_text()
    assert "%MEM*" in text and "warm-up" in text
    body = [line for line in text.splitlines() if line.split() and line.split()[1:2] == ["R"]]
    assert [line.split()[-1] for line in body] == ["d7", "d6", "d5"]


class IoConn(FakeConn):
    """FakeConn whose samples also carry virt-top's block and net counters: (rd, wr, rx, tx) per call."""

    def __init__(self, script, io):
        super().__init__(script)
        self.io = list(io)

    def get_all_domain_stats(self, stats=0, flags=0):
        recs = super().get_all_domain_stats(stats, flags)
        rd, wr, rx, tx = self.io.pop(0)
        for r in recs:
            r.stats.update({"block.count": 2, "block.0.rd.reqs": rd, "block.0.wr.reqs": wr, "block.1.rd.reqs": 1,
                            "block.1.wr.reqs": 1, "net.count": 1, "net.0.rx.bytes": rx, "net.0.tx.bytes": tx})
        return recs


def test_block_and_net_columns_are_interval_deltas_and_csv_fills_them():
    clock = Clock()
    script = [{"u1": (1, "a", 1, 0, 1024)}, {"u1": (1, "a", 1, 10**9, 1024)}, {"u1": (1, "a", 1, 10, 1024)}]
    s = Sampler(IoConn(script, [(10, 5, 1000, 2000), (15, 9, 1600, 2100), (3, 1, 50, 60)]),
                HostFacts(4, 1024 * 1024, "x86_64", 2400), clock=clock, wall=lambda: 0.0)
    first = s.sample()
    assert (first.rows[0].rd_req, first.rows[0].rx_bytes) == (None, None)
    clock.t += 1
    second = s.sample()
    r = second.rows[0]
    assert (r.rd_req, r.wr_req, r.rx_bytes, r.tx_bytes) == (5, 4, 600, 100)
    assert render_text(second).splitlines()[-1].split()[:6] == ["1", "R", "5", "4", "600", "100"]
    assert csv_row(second, "h").rstrip("\n").split(",")[-4:] == ["5", "4", "600", "100"]
    clock.t += 1
    third = s.sample().rows[0]     # cpu time went back: a new instance, its totals are the delta
    assert (third.rd_req, third.wr_req, third.rx_bytes, third.tx_bytes) == (4, 2, 50, 60)
