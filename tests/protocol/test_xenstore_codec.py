"""xenstore wire codec, tested with bytes alone (no sockets)."""

from __future__ import annotations

import pickle
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xvirt.errors import ErrorCode, XenstoreError
from xvirt.protocol import xenstore as xs
from xvirt.protocol.xenstore import Decoder, Message, XsError, XsNoEntError, XsProtocolError, XsType


def decode_all(data: bytes) -> list[Message]:
    d = Decoder()
    d.feed(data)
    return list(d)


# ---------------------------------------------------------------- header and type numbers

def test_header_is_four_little_endian_uint32() -> None:
    raw = xs.encode(XsType.READ, b"/a\0", req_id=7, tx_id=0x01020304)
    assert raw == (b"\x02\x00\x00\x00" b"\x07\x00\x00\x00" b"\x04\x03\x02\x01"
                   b"\x03\x00\x00\x00" b"/a\0")
    assert xs.HEADER_SIZE == 16


@pytest.mark.parametrize("name,value", [
    ("CONTROL", 0), ("DIRECTORY", 1), ("READ", 2), ("GET_PERMS", 3), ("WATCH", 4),
    ("UNWATCH", 5), ("TRANSACTION_START", 6), ("TRANSACTION_END", 7), ("INTRODUCE", 8),
    ("RELEASE", 9), ("GET_DOMAIN_PATH", 10), ("WRITE", 11), ("MKDIR", 12), ("RM", 13),
    ("SET_PERMS", 14), ("WATCH_EVENT", 15), ("ERROR", 16), ("IS_DOMAIN_INTRODUCED", 17),
    ("RESUME", 18), ("SET_TARGET", 19), ("RESET_WATCHES", 21), ("DIRECTORY_PART", 22),
    ("INVALID", 0xFFFF),
])
def test_type_numbers_match_xs_wire_h(name: str, value: int) -> None:
    assert XsType[name] == value
    assert xs.type_name(value) == name


def test_debug_is_control_and_restrict_is_gone() -> None:
    assert XsType.DEBUG is XsType.CONTROL
    assert xs.type_name(0) == "CONTROL"
    assert xs.type_name(20) == "UNKNOWN"  # XS_RESTRICT was removed
    assert xs.type_name(23) == "UNKNOWN"


@pytest.mark.parametrize("t,args", [
    (XsType.READ, ("/local/domain/1/name",)),
    (XsType.DIRECTORY, ("/local/domain",)),
    (XsType.GET_PERMS, ("/a",)),
    (XsType.MKDIR, ("/a/b",)),
    (XsType.RM, ("/a",)),
    (XsType.WATCH, ("@releaseDomain", "releaseDomain")),
    (XsType.UNWATCH, ("/vm", "tok")),
    (XsType.TRANSACTION_START, ("",)),
    (XsType.TRANSACTION_END, ("T",)),
    (XsType.INTRODUCE, ("5", "1234", "7")),
    (XsType.RELEASE, ("5",)),
    (XsType.GET_DOMAIN_PATH, ("5",)),
    (XsType.SET_PERMS, ("/a", "n0", "r5")),
    (XsType.IS_DOMAIN_INTRODUCED, ("5",)),
    (XsType.RESUME, ("5",)),
    (XsType.SET_TARGET, ("5", "6")),
    (XsType.DIRECTORY_PART, ("/local/domain", "4090")),
])
def test_each_request_type_round_trips(t: XsType, args: tuple) -> None:
    raw = xs.request(t, *args, req_id=3, tx_id=4)
    (msg,) = decode_all(raw)
    assert (msg.type, msg.req_id, msg.tx_id, msg.type_name) == (t, 3, 4, t.name)
    assert msg.payload == b"".join(a.encode() + b"\0" for a in args)
    assert xs.parse_request(msg.type, msg.payload) == args


def test_write_is_path_nul_value_without_trailing_nul() -> None:
    raw = xs.write_request("/a/b", b"v\0x", req_id=1)
    (msg,) = decode_all(raw)
    assert msg.payload == b"/a/b\0v\0x"
    assert xs.parse_request(XsType.WRITE, msg.payload) == ("/a/b", b"v\0x")
    assert xs.parse_request(XsType.WRITE, b"/a\0") == ("/a", b"")


def test_control_and_reset_watches_payloads() -> None:
    assert xs.parse_request(XsType.CONTROL, b"print\0hello\0") == ("print", b"hello\0")
    assert xs.parse_request(XsType.RESET_WATCHES, b"") == ()


# ---------------------------------------------------------------- replies and events

def test_ok_and_error_replies() -> None:
    assert xs.ok_reply(XsType.WRITE, 9, 2) == struct.pack("<IIII", 11, 9, 2, 3) + b"OK\0"
    raw = xs.error_reply("ENOENT", req_id=5)
    assert raw == struct.pack("<IIII", 16, 5, 0, 7) + b"ENOENT\0"
    (msg,) = decode_all(raw)
    assert msg.type == XsType.ERROR and xs.parse_error(msg.payload) == "ENOENT"
    assert xs.parse_error(b"") == "EINVAL"


def test_watch_event_bytes() -> None:
    raw = xs.watch_event("/local/domain/3", "tok")
    assert raw == struct.pack("<IIII", 15, 0, 0, 20) + b"/local/domain/3\0tok\0"
    (msg,) = decode_all(raw)
    assert xs.parse_watch_event(msg.payload) == ("/local/domain/3", "tok")
    with pytest.raises(XsProtocolError):
        xs.parse_watch_event(b"no-separator")


def test_directory_replies() -> None:
    assert xs.parse_directory(b"") == []
    assert xs.parse_directory(b"0\0001\00017\0") == ["0", "1", "17"]
    assert xs.parse_directory_part(b"42\0a\0b\0\0") == ("42", ["a", "b"], True)
    assert xs.parse_directory_part(b"42\0a\0b\0") == ("42", ["a", "b"], False)
    assert xs.parse_directory_part(b"7\0\0") == ("7", [], True)
    with pytest.raises(XsProtocolError):
        xs.parse_directory_part(b"no-generation")


# ---------------------------------------------------------------- decoder

def test_partial_reads_byte_by_byte() -> None:
    stream = (xs.request(XsType.READ, "/a", req_id=1) + xs.write_request("/b", b"x", req_id=2)
              + xs.encode(XsType.TRANSACTION_START, b"", req_id=3)
              + xs.watch_event("/c", "t"))
    ends = [19, 19 + 20, 19 + 20 + 16, len(stream)]  # where each message is complete
    d = Decoder()
    got = []
    for i in range(len(stream)):
        d.feed(stream[i:i + 1])
        got.extend(d)
        assert len(got) == sum(1 for e in ends if e <= i + 1)
        assert d.buffered == i + 1 - max([0] + [e for e in ends if e <= i + 1])
    assert [(m.type, m.req_id, m.payload) for m in got] == [
        (2, 1, b"/a\0"), (11, 2, b"/b\0x"), (6, 3, b""), (15, 0, b"/c\0t\0")]
    assert d.buffered == 0 and d.next_message() is None


def test_incomplete_message_waits_and_shows_partial_header() -> None:
    raw = xs.request(XsType.READ, "/local", req_id=77)
    d = Decoder()
    d.feed(raw[:10])
    assert d.next_message() is None and d.partial_header() is None
    d.feed(raw[10:-1])
    assert d.next_message() is None
    assert d.partial_header() == (2, 77, 0, 7)
    d.feed(raw[-1:])
    assert d.next_message() == Message(2, 77, 0, b"/local\0")


def test_payload_of_exactly_4096_is_accepted() -> None:
    raw = xs.encode(XsType.WRITE, b"/a\0" + b"v" * 4093)
    (msg,) = decode_all(raw)
    assert len(msg.payload) == xs.XENSTORE_PAYLOAD_MAX


def test_oversized_length_breaks_the_decoder_with_e2big() -> None:
    d = Decoder()
    d.feed(struct.pack("<IIII", 2, 12, 3, 4097) + b"x" * 100)
    with pytest.raises(XsProtocolError) as ei:
        d.next_message()
    assert ei.value.errno == "E2BIG"
    assert ei.value.header == (2, 12, 3, 4097)
    assert "4097" in str(ei.value)
    with pytest.raises(XsProtocolError):  # framing is lost for good
        d.feed(b"more")
    with pytest.raises(XsProtocolError):
        d.next_message()


def test_encode_refuses_oversized_payload() -> None:
    with pytest.raises(XsProtocolError) as ei:
        xs.encode(XsType.WRITE, b"x" * 4097)
    assert ei.value.errno == "E2BIG"


def test_garbage_header_is_rejected_cleanly() -> None:
    d = Decoder()
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # len field = "HTTP"... far over 4096
    with pytest.raises(XsProtocolError) as ei:
        d.next_message()
    assert isinstance(ei.value, XenstoreError) and ei.value.errno == "E2BIG"


def test_unknown_type_decodes_but_parse_request_refuses() -> None:
    (msg,) = decode_all(struct.pack("<IIII", 99, 1, 0, 2) + b"a\0")
    assert msg.type == 99 and msg.type_name == "UNKNOWN"
    for t in (99, 20, XsType.WATCH_EVENT, XsType.ERROR, XsType.INVALID):
        with pytest.raises(XsProtocolError) as ei:
            xs.parse_request(t, b"a\0")
        assert ei.value.errno == "EINVAL"


@pytest.mark.parametrize("t,payload", [
    (XsType.READ, b"/a"),                 # no NUL at all
    (XsType.READ, b"/a\0/b\0"),           # one argument too many
    (XsType.READ, b""),                   # no argument
    (XsType.WATCH, b"/a\0"),              # token missing
    (XsType.WATCH, b"/a\0tok"),           # token not terminated
    (XsType.WRITE, b"/a"),                # no NUL between path and value
    (XsType.DIRECTORY_PART, b"/a\0"),     # offset missing
    (XsType.SET_PERMS, b"/a\0"),          # no permission
    (XsType.INTRODUCE, b"1\0002\0"),      # port missing
    (XsType.CONTROL, b""),                # no command
])
def test_payload_without_the_nuls_it_needs_is_einval(t: XsType, payload: bytes) -> None:
    with pytest.raises(XsProtocolError) as ei:
        xs.parse_request(t, payload)
    assert ei.value.errno == "EINVAL"
    assert t.name in str(ei.value) or "NUL" in str(ei.value)


# ---------------------------------------------------------------- errors

def test_xserror_for_enoent_is_the_missing_node_error() -> None:
    e = XsError("ENOENT", "/x")
    assert type(e) is XsNoEntError and e.errno == "ENOENT" and e.path == "/x"
    assert isinstance(e, XenstoreError) and e.code == ErrorCode.NO_XENSTORE
    assert "ENOENT" in str(e) and "/x" in str(e)
    assert type(XsError("EACCES")) is XsError
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is XsNoEntError and again.path == "/x"


# ---------------------------------------------------------------- property

messages = st.builds(
    Message,
    type=st.integers(0, 0xFFFFFFFF),
    req_id=st.integers(0, 0xFFFFFFFF),
    tx_id=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=xs.XENSTORE_PAYLOAD_MAX),
)


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(messages, max_size=8), cuts=st.lists(st.integers(0, 20000), max_size=10))
def test_encode_decode_round_trip_under_any_chunking(msgs: list[Message], cuts: list[int]) -> None:
    stream = b"".join(xs.encode_message(m) for m in msgs)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    d = Decoder()
    got = []
    for a, b in zip(points, points[1:]):
        d.feed(stream[a:b])
        got.extend(d)
    assert got == msgs
    assert d.buffered == 0


@given(args=st.lists(st.text(alphabet=st.characters(blacklist_characters="\0",
                                                    blacklist_categories=("Cs",)),
                             max_size=30), min_size=2, max_size=2))
def test_string_arguments_round_trip(args: list[str]) -> None:
    raw = xs.request(XsType.WATCH, *args)
    (msg,) = decode_all(raw)
    assert xs.parse_request(msg.type, msg.payload) == tuple(args)


def test_arbitrary_bytes_in_arguments_round_trip_as_surrogate_escapes() -> None:
    raw = xs.request(XsType.WATCH, "/a", b"\xff\xfe")
    (msg,) = decode_all(raw)
    path, token = xs.parse_request(msg.type, msg.payload)
    assert xs.request(XsType.WATCH, path, token) == raw


@pytest.mark.parametrize("bad", ["a\0b", b"a\0b", "\ud800"])
def test_unencodable_or_nul_holding_strings_are_refused(bad) -> None:
    with pytest.raises(XsProtocolError) as ei:
        xs.request(XsType.READ, bad)
    assert ei.value.errno == "EINVAL"
    with pytest.raises(XsProtocolError):
        xs.write_request(bad, b"v")
