"""The identity registry alone: bindings, eviction, name validity under watch events, bounds."""

from xvirt.registry import Registry

A, B, C = ("aaaaaaaa-0000-0000-0000-00000000000a", "bbbbbbbb-0000-0000-0000-00000000000b",
           "cccccccc-0000-0000-0000-00000000000c")


def test_binding_one_id_to_another_uuid_drops_the_old_binding():
    r = Registry()
    r.bind(A, 5)
    r.bind(B, 5)  # id 5 now belongs to B (after a wrap)
    assert r.uuid_hint(5) == B and r.id_hint(A) is None and r.id_hint(B) == 5
    r.bind(B, 7)  # B restarted with a new id
    assert r.uuid_hint(5) is None and r.uuid_hint(7) == B


def test_full_snapshot_evicts_vanished_ids_and_their_names():
    r = Registry()
    r.bind(A, 1)
    r.bind(B, 2)
    r.store_name(1, A, "a")
    r.store_name(2, B, "b")
    r.full_snapshot([(2, B), (3, C)])
    assert r.id_hint(A) is None and r.uuid_hint(3) == C
    assert r.cached_name(1, A) is None and r.cached_name(2, B) == "b"
    assert r.name_lookup("a") is None and r.name_lookup("b") == (2, B)


def test_names_are_invalidated_by_the_events_that_can_change_them():
    r = Registry()
    r.store_name(4, A, "web")
    r.apply_event("/local/domain/4/memory/target")
    assert r.cached_name(4, A) == "web"          # unrelated node
    r.apply_event("/local/domain/4/name")
    assert r.cached_name(4, A) is None
    r.store_name(4, A, "web")
    r.apply_event("/local/domain/4")             # the whole directory went or came
    assert r.cached_name(4, A) is None
    r.store_name(4, A, "web")
    r.store_name(6, B, "db")
    r.apply_event("/local/domain")                # the watch's first firing: forget everything
    assert r.cached_name(4, A) is None and r.cached_name(6, B) is None
    r.store_name(4, A, "web")
    r.apply_event("@releaseDomain")
    assert r.cached_name(4, A) == "web"


def test_a_cached_name_is_only_used_for_the_uuid_it_was_read_for():
    r = Registry()
    r.store_name(4, A, "web")
    assert r.cached_name(4, B) is None


def test_names_are_unique_among_running_domains():
    r = Registry()
    r.store_name(4, A, "web")
    r.store_name(5, B, "web")  # A was renamed and B took the name: the stale entry goes
    assert r.name_lookup("web") == (5, B) and r.cached_name(4, A) is None


def test_bounded_memory_least_recently_used_first():
    r = Registry(max_entries=100)
    for i in range(250):
        r.bind(f"{i:08x}-0000-0000-0000-000000000000", i)
    assert len(r) == 100 and r.evictions == 150
    assert r.id_hint("00000000-0000-0000-0000-000000000000") is None
    assert r.id_hint(f"{249:08x}-0000-0000-0000-000000000000") == 249


def test_names_complete_tracks_coverage():
    r = Registry()
    r.store_name(1, A, "a")
    assert not r.mark_names_complete([1, 2])
    r.store_name(2, B, "b")
    assert r.mark_names_complete([1, 2])
    r.apply_event("/local/domain/2/name")
    assert not r.names_complete
