"""xenstored's in-memory tree: nodes, watches, specials, transactions, batches and limits."""

from __future__ import annotations

import threading

import pytest

from xvirt.protocol.xenstore import XsError, XsNoEntError
from xvirt.sim.xenstore_tree import XenstoreTree


@pytest.fixture
def tree() -> XenstoreTree:
    return XenstoreTree()


def recorder():
    events: list[tuple[str, str]] = []
    return events, lambda path, token: events.append((path, token))


def errno_of(fn, *args, **kwargs) -> str:
    with pytest.raises(XsError) as ei:
        fn(*args, **kwargs)
    return ei.value.errno


# ---------------------------------------------------------------- nodes

def test_write_creates_parents_with_empty_values(tree: XenstoreTree) -> None:
    tree.write("/local/domain/7/name", b"guest")
    assert tree.read("/local/domain/7/name") == b"guest"
    assert tree.read("/local/domain/7") == b""
    assert tree.read("/local") == b""
    assert tree.directory("/local/domain") == ["7"]
    assert tree.exists("/local/domain/7") and not tree.exists("/local/domain/8")


def test_str_values_are_encoded_and_values_may_hold_nuls(tree: XenstoreTree) -> None:
    tree.write("/a", "häll")
    tree.write("/b", b"x\0y")
    assert tree.read("/a") == "häll".encode() and tree.read("/b") == b"x\0y"


def test_directory_keeps_creation_order(tree: XenstoreTree) -> None:
    for name in ("10", "2", "1"):
        tree.write(f"/local/domain/{name}/name", name)
    assert tree.directory("/local/domain") == ["10", "2", "1"]
    assert tree.directory("/local/domain/1/name") == []


def test_missing_and_invalid_paths(tree: XenstoreTree) -> None:
    with pytest.raises(XsNoEntError):
        tree.read("/nope")
    assert errno_of(tree.directory, "/nope") == "ENOENT"
    for bad in ("relative", "/a/", "/a//b", "/a b", "/a.b", "", "/" + "x" * 3072):
        assert errno_of(tree.read, bad) == "EINVAL", bad
        assert errno_of(tree.write, bad, b"v") == "EINVAL", bad
    tree.write("/" + "x" * 3071, b"ok")  # 3072 characters: XENSTORE_ABS_PATH_MAX


def test_value_size_limit(tree: XenstoreTree) -> None:
    tree.write("/big", b"v" * 4096)
    assert errno_of(tree.write, "/big", b"v" * 4097) == "E2BIG"
    assert tree.read("/big") == b"v" * 4096


def test_mkdir_creates_once(tree: XenstoreTree) -> None:
    events, cb = recorder()
    tree.write("/d", b"keep")
    tree.watch("/d", "t", cb)
    tree.mkdir("/d")  # exists: nothing happens
    tree.mkdir("/d/e/f")
    assert tree.read("/d") == b"keep" and tree.read("/d/e/f") == b""
    assert events == [("/d", "t"), ("/d/e/f", "t")]


def test_rm_removes_the_subtree(tree: XenstoreTree) -> None:
    tree.write("/local/domain/1/name", b"a")
    tree.write("/local/domain/1/memory/target", b"1024")
    tree.write("/local/domain/2/name", b"b")
    before = len(tree)
    tree.rm("/local/domain/1")
    assert len(tree) == before - 4
    assert tree.directory("/local/domain") == ["2"]
    assert not tree.exists("/local/domain/1/memory/target")
    assert errno_of(tree.rm, "/local/domain/1") == "ENOENT"
    assert errno_of(tree.rm, "/") == "EINVAL"


def test_permissions_are_simple_and_inherited(tree: XenstoreTree) -> None:
    tree.write("/a", b"")
    assert tree.get_perms("/a") == ["n0"]
    tree.set_perms("/a", ["n5", "r0"])
    tree.write("/a/b/c", b"")
    assert tree.get_perms("/a") == ["n5", "r0"]
    assert tree.get_perms("/a/b/c") == ["n5", "r0"]
    assert errno_of(tree.set_perms, "/a", ["x5"]) == "EINVAL"
    assert errno_of(tree.set_perms, "/a", []) == "EINVAL"
    assert errno_of(tree.set_perms, "/missing", ["n0"]) == "ENOENT"


def test_directory_bytes_generation_follows_children(tree: XenstoreTree) -> None:
    tree.write("/d/a", b"")
    gen1, data1 = tree.directory_bytes("/d")
    assert data1 == b"a\0"
    assert tree.directory_bytes("/d") == (gen1, data1)
    tree.write("/d/b", b"")
    gen2, data2 = tree.directory_bytes("/d")
    assert gen2 > gen1 and data2 == b"a\0b\0"


def test_node_limit(tree: XenstoreTree) -> None:
    small = XenstoreTree(max_nodes=10)
    n = len(small)
    for i in range(10 - n):
        small.write(f"/n{i}", b"")
    assert errno_of(small.write, "/one/more", b"") == "ENOSPC"
    assert not small.exists("/one")  # nothing half-created


# ---------------------------------------------------------------- watches

def test_watch_fires_immediately_with_the_watched_path(tree: XenstoreTree) -> None:
    events, cb = recorder()
    tree.watch("/not/there/yet", "tok", cb)
    assert events == [("/not/there/yet", "tok")]


def test_watch_fires_for_node_and_descendants_only(tree: XenstoreTree) -> None:
    events, cb = recorder()
    tree.watch("/local/domain/1", "w", cb)
    events.clear()
    tree.write("/local/domain/1", b"x")
    tree.write("/local/domain/1/name", b"a")
    tree.write("/local/domain/1/memory/target", b"1")
    tree.write("/local/domain/10/name", b"sibling with a common prefix")
    tree.write("/local/domain", b"parent")
    assert events == [("/local/domain/1", "w"), ("/local/domain/1/name", "w"),
                      ("/local/domain/1/memory/target", "w")]


def test_event_is_delivered_before_the_change_returns(tree: XenstoreTree) -> None:
    seen_during_write = []
    events, cb = recorder()
    tree.watch("/", "all", cb)
    events.clear()
    t = threading.Thread(target=tree.write, args=("/x", b"1"))
    t.start()
    t.join()
    seen_during_write.extend(events)
    assert seen_during_write == [("/x", "all")]


def test_callback_runs_under_the_tree_lock(tree: XenstoreTree) -> None:
    """While a callback runs, no other thread can read: events are ordered with changes."""
    blocked = threading.Event()
    release = threading.Event()
    result = []

    calls = []

    def slow_cb(path: str, token: str) -> None:
        calls.append(path)
        if len(calls) > 1:  # not the immediate first firing
            blocked.set()
            release.wait(5)

    tree.watch("/slow", "t", slow_cb)
    writer = threading.Thread(target=tree.write, args=("/slow", b"v"))
    writer.start()
    assert blocked.wait(5)
    reader = threading.Thread(target=lambda: result.append(tree.exists("/slow")))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and not result  # the reader waits for the callback
    release.set()
    writer.join(5)
    reader.join(5)
    assert result == [True]


def test_rm_fires_ancestors_with_removed_path_and_inner_watches_with_theirs(tree) -> None:
    events, cb = recorder()
    tree.write("/local/domain/3/device/vif/0/mac", b"00:16:3e")
    tree.watch("/local/domain", "outer", cb)
    tree.watch("/local/domain/3/device/vif", "inner", cb)
    tree.watch("/local/domain/4", "other", cb)
    events.clear()
    tree.rm("/local/domain/3")
    assert sorted(events) == [("/local/domain/3", "outer"),
                              ("/local/domain/3/device/vif", "inner")]


def test_special_paths_fire_only_through_fire_special(tree: XenstoreTree) -> None:
    events, cb = recorder()
    tree.watch("@introduceDomain", "intro", cb)
    tree.watch("@releaseDomain", "rel", cb)
    tree.watch("/", "root", cb)
    events.clear()
    tree.write("/local/domain/5/name", b"n")
    tree.fire_special("@introduceDomain")
    tree.fire_special("@releaseDomain")
    assert events == [("/local/domain/5/name", "root"), ("@introduceDomain", "intro"),
                      ("@releaseDomain", "rel")]
    assert errno_of(tree.fire_special, "/local") == "EINVAL"


def test_unwatch_duplicates_and_owners(tree: XenstoreTree) -> None:
    events, cb = recorder()
    tree.watch("/a", "t", cb, owner="A")
    assert errno_of(tree.watch, "/a", "t", cb, owner="A") == "EEXIST"
    tree.watch("/a", "t", cb, owner="B")  # another connection may use the same pair
    tree.unwatch("/a", "t", owner="A")
    assert errno_of(tree.unwatch, "/a", "t", owner="A") == "ENOENT"
    events.clear()
    tree.write("/a", b"1")
    assert events == [("/a", "t")]  # only B's watch is left
    tree.release_owner("B")
    tree.write("/a", b"2")
    assert events == [("/a", "t")]


def test_watch_limit_per_owner(tree: XenstoreTree) -> None:
    small = XenstoreTree(max_watches=3)
    _, cb = recorder()
    for i in range(3):
        small.watch(f"/w{i}", "t", cb, owner="A")
    assert errno_of(small.watch, "/w9", "t", cb, owner="A") == "E2BIG"
    small.watch("/w9", "t", cb, owner="B")
    small.unwatch_all("A")
    small.watch("/w9", "t", cb, owner="A")


def test_on_added_runs_before_the_first_event(tree: XenstoreTree) -> None:
    order = []
    tree.watch("/p", "t", lambda p, t: order.append("event"), on_added=lambda: order.append("ack"))
    assert order == ["ack", "event"]


def test_a_failing_callback_does_not_break_the_tree(tree: XenstoreTree) -> None:
    events, cb = recorder()

    def bad(path, token):
        raise RuntimeError("boom")

    tree.watch("/x", "bad", bad)
    tree.watch("/x", "good", cb)
    tree.write("/x", b"1")
    assert tree.read("/x") == b"1" and ("/x", "good") in events


# ---------------------------------------------------------------- batch

def test_batch_is_atomic_for_readers_and_delivers_events_after(tree: XenstoreTree) -> None:
    events, cb = recorder()
    tree.watch("/local/domain", "w", cb)
    events.clear()
    observed = []
    inside = threading.Event()

    def reader():
        inside.wait(5)
        observed.append((tree.exists("/local/domain/9/name"), tree.exists("/local/domain/9/vm")))

    t = threading.Thread(target=reader)
    t.start()
    with tree.batch():
        tree.write("/local/domain/9/name", b"n")
        inside.set()
        t.join(0.1)
        assert events == []  # held back until the batch ends
        tree.write("/local/domain/9/vm", b"/vm/u")
    t.join(5)
    assert observed == [(True, True)]
    assert events == [("/local/domain/9/name", "w"), ("/local/domain/9/vm", "w")]


# ---------------------------------------------------------------- transactions

def test_transaction_has_a_private_view_until_commit(tree: XenstoreTree) -> None:
    tree.write("/local/domain/1/name", b"old")
    events, cb = recorder()
    tree.watch("/local", "w", cb)
    events.clear()
    tx = tree.transaction_start()
    tree.write("/local/domain/1/name", b"new", tx=tx)
    tree.write("/local/domain/2/name", b"two", tx=tx)
    assert tree.read("/local/domain/1/name", tx=tx) == b"new"
    assert tree.read("/local/domain/1/name") == b"old"
    assert tree.directory("/local/domain", tx=tx) == ["1", "2"]
    assert tree.directory("/local/domain") == ["1"]
    assert events == []  # nothing fires before the commit
    tree.transaction_end(tx, commit=True)
    assert tree.read("/local/domain/1/name") == b"new"
    assert tree.read("/local/domain/2/name") == b"two"
    assert events == [("/local/domain/1/name", "w"), ("/local/domain/2/name", "w")]
    assert errno_of(tree.read, "/local", tx=tx) == "ENOENT"  # transaction is gone


def test_abort_discards(tree: XenstoreTree) -> None:
    tx = tree.transaction_start()
    tree.write("/t/x", b"1", tx=tx)
    tree.transaction_end(tx, commit=False)
    assert not tree.exists("/t")


def test_conflicting_change_makes_commit_fail_with_eagain(tree: XenstoreTree) -> None:
    tree.write("/local/domain/1/memory/target", b"100")
    tx = tree.transaction_start()
    target = int(tree.read("/local/domain/1/memory/target", tx=tx))
    tree.write("/local/domain/1/memory/target", b"500")  # someone else
    tree.write("/local/domain/1/memory/target", str(target + 1), tx=tx)
    assert errno_of(tree.transaction_end, tx) == "EAGAIN"
    assert tree.read("/local/domain/1/memory/target") == b"500"


def test_unrelated_change_does_not_conflict(tree: XenstoreTree) -> None:
    tree.write("/a/x", b"1")
    tree.write("/b/y", b"1")
    tx = tree.transaction_start()
    tree.read("/a/x", tx=tx)
    tree.write("/a/x", b"2", tx=tx)
    tree.write("/b/y", b"other")
    tree.transaction_end(tx)
    assert tree.read("/a/x") == b"2"


def test_creating_a_node_someone_else_created_conflicts(tree: XenstoreTree) -> None:
    tx = tree.transaction_start()
    assert not tree.exists("/new", tx=tx)
    tree.write("/new", b"outside")
    tree.write("/new", b"inside", tx=tx)
    assert errno_of(tree.transaction_end, tx) == "EAGAIN"


def test_rm_inside_a_transaction(tree: XenstoreTree) -> None:
    tree.write("/local/domain/4/name", b"n")
    tree.write("/local/domain/4/cpu/0/availability", b"online")
    events, cb = recorder()
    tree.watch("/local/domain/4/cpu", "cpu", cb)
    events.clear()
    tx = tree.transaction_start()
    tree.rm("/local/domain/4", tx=tx)
    assert not tree.exists("/local/domain/4/cpu/0", tx=tx)
    assert tree.exists("/local/domain/4/cpu/0")
    tree.write("/local/domain/4/name", b"reborn", tx=tx)
    assert tree.directory("/local/domain/4", tx=tx) == ["name"]
    tree.transaction_end(tx)
    assert tree.directory("/local/domain/4") == ["name"]
    assert tree.read("/local/domain/4/name") == b"reborn"
    assert not tree.exists("/local/domain/4/cpu")
    assert events == [("/local/domain/4/cpu", "cpu")]


def test_transaction_limits_and_ids(tree: XenstoreTree) -> None:
    small = XenstoreTree(max_transactions=2)
    a = small.transaction_start(owner="A")
    b = small.transaction_start(owner="A")
    assert a != b and 0 not in (a, b)
    assert errno_of(small.transaction_start, owner="A") == "ENOSPC"
    small.transaction_start(owner="B")
    assert errno_of(small.transaction_end, a, owner="B") == "ENOENT"
    small.transaction_end(a, owner="A")
    small.transaction_start(owner="A")
    assert errno_of(small.read, "/", tx=999) == "ENOENT"
    small.release_owner("A")
    assert errno_of(small.transaction_end, b) == "ENOENT"


# ---------------------------------------------------------------- threads

def test_concurrent_writers_and_readers(tree: XenstoreTree) -> None:
    errors = []

    def worker(n: int) -> None:
        try:
            for i in range(200):
                tree.write(f"/local/domain/{n}/k{i}", str(i))
                assert tree.read(f"/local/domain/{n}/k{i}") == str(i).encode()
                if i % 10 == 9:
                    tree.rm(f"/local/domain/{n}/k{i - 5}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n in range(6):
        assert len(tree.directory(f"/local/domain/{n}")) == 200 - 20
