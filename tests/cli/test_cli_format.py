"""virsh 9 text formats, unit-tested without a host (expected texts from reference/libvirt-api.md §3.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_helpers import virsh_table
from xvirt.cli import format as fmt
from xvirt.connection import NodeInfo

# reference §3.1, measured with `cat -A` on virsh 9.0.0
REFERENCE_LIST = """\
 Id   Name                           State
--------------------------------------------------
 1    web                            running
 2    a-much-longer-domain-name-01   paused
 3    blk                            idle
 4    sd                             in shutdown
 5    crash                          crashed
 6    pm                             pmsuspended
 7    nos                            no state
 -    db                             shut off
 -    zeta                           shut off
"""

REFERENCE_ONE = """\
 Id   Name   State
----------------------
 1    test   running
"""


def test_list_table_matches_reference_example():
    rows = [{"id": 1, "name": "web", "state": 1}, {"id": 2, "name": "a-much-longer-domain-name-01", "state": 3},
            {"id": 3, "name": "blk", "state": 2}, {"id": 4, "name": "sd", "state": 4},
            {"id": 5, "name": "crash", "state": 6}, {"id": 6, "name": "pm", "state": 7},
            {"id": 7, "name": "nos", "state": 0}, {"id": None, "name": "zeta", "state": 5},
            {"id": -1, "name": "db", "state": 5}]
    assert fmt.list_table(fmt.sort_list_rows(rows)) == REFERENCE_LIST


def test_list_table_single_domain_is_22_dashes_wide():
    text = fmt.list_table([{"id": 1, "name": "test", "state": 1}])
    assert text == REFERENCE_ONE
    assert len(text.splitlines()[1]) == 22


def test_empty_list_still_prints_header_and_rule():
    assert fmt.list_table([]) == " Id   Name   State\n" + "-" * 20 + "\n"


def test_sorter_puts_active_by_id_then_inactive_by_name_case_insensitively():
    rows = [{"id": None, "name": "beta"}, {"id": 10, "name": "z"}, {"id": None, "name": "Alpha"},
            {"id": 2, "name": "y"}, {"id": -1, "name": "gamma"}]
    assert [r["name"] for r in fmt.sort_list_rows(rows)] == ["y", "z", "Alpha", "beta", "gamma"]


def test_list_plain_fields_and_id_only_skips_inactive():
    rows = [{"id": 3, "name": "a", "uuid": "u-a"}, {"id": None, "name": "b", "uuid": "u-b"}]
    assert fmt.list_plain(rows, uuid=False, domid=False, name=True) == "a\nb\n"
    assert fmt.list_plain(rows, uuid=True, domid=False, name=False) == "u-a\nu-b\n"
    assert fmt.list_plain(rows, uuid=True, domid=False, name=True) == "u-a a\nu-b b\n"
    assert fmt.list_plain(rows, uuid=False, domid=True, name=False) == "3\n"
    assert fmt.list_plain(rows, uuid=False, domid=True, name=True) == "3 a\n- b\n"


def test_list_with_uuid_column():
    text = fmt.list_table([{"id": 1, "name": "a", "state": 1, "uuid": "U"}], with_uuid=True)
    assert text.splitlines()[0] == " Id   Name   State     UUID"
    assert text.splitlines()[2] == " 1    a      running   U"


@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 70000)),
                          st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=40),
                          st.integers(0, 7)), max_size=12))
def test_table_agrees_with_independent_rules(rows):
    dicts = [{"id": i, "name": n, "state": s} for i, n, s in rows]
    expected = virsh_table(["Id", "Name", "State"],
                           [["-" if i is None else str(i), n, fmt.STATE_NAMES[s]] for i, n, s in rows])
    assert fmt.list_table(dicts) == expected


ACTIVE_INFO = {"id": 7, "name": "web-01", "uuid": "a62553a6-123b-4826-a4af-29c28e0af9b7", "os_type": "linux",
               "state": 2, "vcpus": 2, "cpu_time_ns": 1_234_567_890, "max_memory_kib": 524288,
               "used_memory_kib": 262144, "persistent": True, "autostart": None, "managed_save": False}


def test_dominfo_active_lines_and_padding():
    assert fmt.dominfo(ACTIVE_INFO) == (
        "Id:             7\n"
        "Name:           web-01\n"
        "UUID:           a62553a6-123b-4826-a4af-29c28e0af9b7\n"
        "OS Type:        linux\n"
        "State:          idle\n"
        "CPU(s):         2\n"
        "CPU time:       1.2s\n"
        "Max memory:     524288 KiB\n"
        "Used memory:    262144 KiB\n"
        "Persistent:     yes\n"
        "Managed save:   no\n")


def test_dominfo_inactive_has_dash_id_and_no_cpu_time():
    info = dict(ACTIVE_INFO, id=None, state=5, cpu_time_ns=0, persistent=None, autostart=False, os_type=None)
    text = fmt.dominfo(info)
    assert text.startswith("Id:             -\n")
    assert "CPU time:" not in text and "OS Type:" not in text
    assert "State:          shut off\n" in text
    assert "Persistent:     unknown\n" in text
    assert "Autostart:      disable\n" in text


def test_dominfo_no_limit():
    assert "Max memory:     no limit\n" in fmt.dominfo(dict(ACTIVE_INFO, max_memory_kib=None))


def test_nodeinfo_labels_padded_to_21_columns():
    node = NodeInfo("x86_64", 16777216, 8, 2400, 1, 1, 4, 2)
    assert fmt.nodeinfo(node) == (
        "CPU model:           x86_64\n"
        "CPU(s):              8\n"
        "CPU frequency:       2400 MHz\n"
        "CPU socket(s):       1\n"
        "Core(s) per socket:  4\n"
        "Thread(s) per core:  2\n"
        "NUMA cell(s):        1\n"
        "Memory size:         16777216 KiB\n")


def test_domstats_blank_line_between_records_not_after_last():
    text = fmt.domstats([("a", {"state.state": 1, "state.reason": 1}), ("b", {"cpu.time": 5})])
    assert text == "Domain: 'a'\n  state.state=1\n  state.reason=1\n\nDomain: 'b'\n  cpu.time=5\n"


def test_typed_values():
    assert fmt.typed_value(True) == "yes" and fmt.typed_value(0.5) == "0.500000" and fmt.typed_value(3) == "3"


@pytest.mark.parametrize("state,reason,word", [
    (1, 1, "booted"), (1, 3, "restored"), (1, 5, "unpaused"), (3, 1, "user"), (3, 3, "saving"),
    (5, 2, "destroyed"), (5, 5, "saved"), (5, 0, "unknown"), (6, 1, "panicked"), (2, 0, "unknown"),
    (1, 99, "unknown"), (42, 0, "unknown")])
def test_reason_words(state, reason, word):
    assert fmt.reason_name(state, reason) == word


def test_state_words():
    assert [fmt.state_name(i) for i in range(8)] == ["no state", "running", "idle", "paused", "in shutdown",
                                                     "shut off", "crashed", "pmsuspended"]
    assert fmt.state_name(99) == "no state"


@pytest.mark.parametrize("text,kib", [("1024", 1024), ("512M", 524288), ("512MiB", 524288), ("1G", 1048576),
                                      ("1GiB", 1048576), ("1000KB", 977), ("4096b", 4), ("1", 1),
                                      ("2k", 2), ("1T", 1024 ** 3), ("3 MiB", 3072)])
def test_scaled_sizes(text, kib):
    assert fmt.parse_scaled_kib(text) == kib


@pytest.mark.parametrize("text", ["", "-5", "12X", "1.5G", "M"])
def test_bad_sizes_use_virsh_wording(text):
    with pytest.raises(ValueError, match="for <size> option is malformed or out of range"):
        fmt.parse_scaled_kib(text)


def test_version_text():
    assert fmt.version_string(3000004) == "3.0.4"
    text = fmt.version_text(1002, 3000004)
    assert text == ("Compiled against library: xvirt 0.1.2\nUsing library: xvirt 0.1.2\n"
                    "Using API: Xen 0.1.2\nRunning hypervisor: Xen 3.0.4\n")
    assert "Running hypervisor" not in fmt.version_text(1002, None)
