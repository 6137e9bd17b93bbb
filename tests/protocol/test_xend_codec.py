"""XenD HTTP codec, bytes only: request bytes, reply parsing and interpretation, server-side parsing and rendering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xvirt.errors import (ErrorCode, GetFailedError, HttpError, InvalidArgError, NoDomainError,
                          PostFailedError, SexprError, XendError)
from xvirt.protocol.http import (HttpRequest, HttpRequestError, RequestParser, ResponseParser,
                                 render_response)
from xvirt.protocol.xend import (Reply, build_get, build_post, domain_path, endpoint_key,
                                 interpret_response, render_reply, reply_for_error, sxp_reply,
                                 to_xend_request, uri_encode, xend_err_reply)

HEAD = (b"Host: localhost:8000\r\nAccept-Encoding: identity\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n")


# ------------------------------------------------------------------ client request bytes

def test_get_bytes_exactly_as_libvirt():
    assert build_get("/xend/node/") == b"GET /xend/node/ HTTP/1.1\r\n" + HEAD + b"\r\n"


def test_get_with_query():
    assert build_get("/xend/domain", {"detail": 1}) == (
        b"GET /xend/domain?detail=1 HTTP/1.1\r\n" + HEAD + b"\r\n")
    assert build_get("/xend/domain/fc5", [("op", "vcpuinfo")]).startswith(
        b"GET /xend/domain/fc5?op=vcpuinfo HTTP/1.1\r\n")


def test_post_bytes_with_content_length_and_ordered_body():
    data = build_post("/xend/domain/fc5", "shutdown", {"reason": "poweroff"})
    body = b"op=shutdown&reason=poweroff"
    assert data == (b"POST /xend/domain/fc5 HTTP/1.1\r\n" + HEAD
                    + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def test_post_url_encodes_every_key_and_value():
    data = build_post("/xend/domain/", "create", [("config", "(vm (args 'a+b&c=d%e f'))")])
    body = data.split(b"\r\n\r\n", 1)[1]
    assert body == (b"op=create&config=%28vm%20%28args%20%27a%2bb%26c%3dd%25e%20f%27%29%29")
    assert b" " not in body and b"+" not in body
    assert int(data.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)


def test_uri_encode_keeps_only_ascii_alnum():
    assert uri_encode("Abc019") == "Abc019"
    assert uri_encode("a-b_c.d~") == "a%2db%5fc%2ed%7e"
    assert uri_encode("é") == "%c3%a9"


@pytest.mark.parametrize("bad", ["/xend/domain/a b", "/xend/domain/x\r\nX: y", "xend/node/",
                                 "/xend/domain/é"])
def test_request_path_must_be_safe(bad):
    with pytest.raises(InvalidArgError):
        build_get(bad)
    with pytest.raises(InvalidArgError):
        build_post(bad, "pause")


def test_domain_path_quotes_one_segment_and_server_unquotes_it():
    path = domain_path("we/ird name")
    assert path == "/xend/domain/we%2Fird%20name"
    req = _server_parse(build_get(path))
    assert req.segments == ["xend", "domain", "we/ird name"]


def _server_parse(data: bytes):
    p = RequestParser()
    p.feed(data)
    ev = p.next_event()
    assert isinstance(ev, HttpRequest), ev
    return to_xend_request(ev)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z_]{1,8}", fullmatch=True).filter(lambda k: k != "op"),
                          st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)),
                max_size=5, unique_by=lambda kv: kv[0]),
       st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
def test_post_form_round_trips_through_the_server_parser(pairs, op):
    req = _server_parse(build_post("/xend/domain/x", op, pairs))
    assert req.args == {"op": [op], **{k: [v] for k, v in pairs}}
    assert req.key() == endpoint_key("POST", "/xend/domain/x", {"op": [op]})


# ------------------------------------------------------------------ response parsing

RESP = (b"HTTP/1.1 200 OK\r\nContent-type: application/sxp\r\nPragma: no-cache\r\n"
        b"Content-length: 12\r\n\r\n(fc5 rhel4)\n")


def test_response_parser_whole():
    p = ResponseParser()
    assert p.feed(RESP)
    r = p.response
    assert (r.status, r.reason, r.body) == (200, "OK", b"(fc5 rhel4)\n")
    assert r.header("CONTENT-LENGTH") == "12" and r.content_type == "application/sxp"


def test_response_parser_byte_by_byte_and_ignores_trailing_bytes():
    p = ResponseParser()
    for i in range(len(RESP) - 1):
        assert not p.feed(RESP[i:i + 1])
    assert p.feed(RESP[-1:] + b"junk after the body")
    assert p.response.body == b"(fc5 rhel4)\n"


def test_response_parser_headers_any_case():
    p = ResponseParser()
    assert p.feed(b"HTTP/1.1 202 Accepted\r\nCONTENT-LENGTH: 0\r\nlocation: x\r\n\r\n")
    assert p.response.header("Location") == "x" and p.response.body == b""


def test_response_body_until_eof_without_length():
    p = ResponseParser()
    assert not p.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ")
    assert not p.feed(b"world")
    assert p.feed_eof().body == b"hello world"


def test_response_head_has_no_body():
    p = ResponseParser(head=True)
    assert p.feed(b"HTTP/1.1 200 OK\r\nContent-length: 99\r\n\r\n")
    assert p.response.body == b""


@pytest.mark.parametrize("data,message", [
    (b"", "without a reply"),
    (b"HTTP/1.1 200 OK\r\nContent-length: 5", "truncated HTTP response header"),
    (b"HTTP/1.1 200 OK\r\nContent-length: 5\r\n\r\nab", "truncated HTTP response body"),
])
def test_response_truncated_at_eof(data, message):
    p = ResponseParser()
    p.feed(data)
    with pytest.raises(HttpError, match=message):
        p.feed_eof()


@pytest.mark.parametrize("data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n",
                                  b"HTTP/1.1 200 OK\r\nContent-length: -1\r\n\r\n",
                                  b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"])
def test_response_garbage_is_http_error(data):
    with pytest.raises(HttpError):
        ResponseParser().feed(data)


def test_response_header_size_is_bounded():
    p = ResponseParser(max_header_bytes=1000)
    with pytest.raises(HttpError, match="exceeds"):
        p.feed(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 2000)


# ------------------------------------------------------------------ interpretation

def resp(status, body=b"", ctype="application/sxp", reason="R"):
    hdrs = [("Content-type", ctype)] if ctype else []
    data = render_response(status, reason, hdrs + [("Content-length", str(len(body)))], body)
    p = ResponseParser()
    assert p.feed(data)
    return p.response


def test_success_values():
    assert interpret_response("GET", "/xend/domain", resp(200, b"(a b)")) == ["a", "b"]
    assert interpret_response("GET", "/xend/domain", resp(200, b"()")) == []
    assert interpret_response("POST", "/xend/domain/x", resp(200, b"")) is None
    assert interpret_response("POST", "/xend/domain/x", resp(200, b"0")) == "0"
    assert interpret_response("POST", "/xend/domain/", resp(201, b"(domain (name n))")) == [
        "domain", ["name", "n"]]
    assert interpret_response("POST", "/xend/domain/x", resp(202, b"")) is None
    assert interpret_response("GET", "/xend/node/dmesg",
                              resp(200, b"(XEN) hi\n", "text/plain")) == "(XEN) hi\n"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_404_under_domain_is_no_domain(method):
    with pytest.raises(NoDomainError) as ei:
        interpret_response(method, "/xend/domain/nope?detail=1",
                           resp(404, b"No domain named 'nope'.", "text/plain"))
    assert ei.value.code == ErrorCode.NO_DOMAIN == 42
    assert ei.value.message == "Domain not found: No domain named 'nope'."
    assert ei.value.ref == "nope"


def test_404_elsewhere_is_get_failed():
    with pytest.raises(GetFailedError, match="404"):
        interpret_response("GET", "/xend/bogus", resp(404, b"Not found: bogus", "text/plain"))


@pytest.mark.parametrize("status", [500, 200, 201, 202])
def test_xend_err_fails_whatever_the_status(status):
    body = b"(xend.err \"VM name 'fc5' already in use by domain 3\")"
    with pytest.raises(PostFailedError) as ei:
        interpret_response("POST", "/xend/domain/", resp(status, body))
    assert ei.value.message == "VM name 'fc5' already in use by domain 3"
    assert ei.value.status == status and ei.value.code == ErrorCode.POST_FAILED
    with pytest.raises(GetFailedError):
        interpret_response("GET", "/xend/domain/x", resp(status, b"(xend.err 'boom')"))


def test_202_with_failed_is_a_failure_but_200_is_not():
    with pytest.raises(PostFailedError, match="migration failed"):
        interpret_response("POST", "/xend/domain/x", resp(202, b"migration failed", "text/plain"))
    assert interpret_response("POST", "/xend/domain/x",
                              resp(200, b"failed", "text/plain")) == "failed"


@pytest.mark.parametrize("status", [406, 413, 501, 500, 400])
def test_other_codes_fail_with_the_code(status):
    with pytest.raises(GetFailedError, match=str(status)):
        interpret_response("GET", "/xend/domain", resp(status, b"", None))
    with pytest.raises(PostFailedError, match=str(status)) as ei:
        interpret_response("POST", "/xend/domain/x", resp(status, b"why", "text/plain"))
    assert isinstance(ei.value, XendError) and ei.value.status == status
    assert "why" in ei.value.message


def test_odd_2xx_is_http_error():
    with pytest.raises(HttpError, match="204"):
        interpret_response("GET", "/xend/domain", resp(204, b"", None))


@pytest.mark.parametrize("body", [b"(domain (domid 3) (na", b"(a))", b"'unterminated", b"\x00\x01"])
def test_malformed_sxp_body_is_sexpr_error(body):
    with pytest.raises(SexprError):
        interpret_response("GET", "/xend/domain/x", resp(200, body))


# ------------------------------------------------------------------ server request parser

def events(*chunks, eof=False, **kw):
    p = RequestParser(**kw)
    out = []
    for c in chunks:
        p.feed(c)
        while (ev := p.next_event()) is not None:
            out.append(ev)
    if eof:
        p.feed_eof()
        while (ev := p.next_event()) is not None:
            out.append(ev)
    return p, out


def test_request_parser_partial_feeds_then_pipelined_requests():
    data = build_post("/xend/domain/a", "pause") + build_get("/xend/domain", {"detail": 1})
    p, evs = events(*[data[i:i + 1] for i in range(len(data))])
    assert [e.method for e in evs] == ["POST", "GET"]
    assert evs[0].body == b"op=pause" and evs[1].target == "/xend/domain?detail=1"
    assert p.idle


def test_request_parser_clean_eof_is_no_event():
    p, evs = events(build_get("/"), eof=True)
    assert len(evs) == 1 and p.eof and p.idle


def test_oversized_body_is_413_without_reading_it():
    head = b"POST /xend/domain/ HTTP/1.1\r\nContent-Length: 10001\r\n\r\n"
    _, evs = events(head)
    assert len(evs) == 1 and isinstance(evs[0], HttpRequestError)
    assert evs[0].status == 413 and evs[0].method == "POST"
    out = render_reply(reply_for_error(evs[0]))
    assert out.startswith(b"HTTP/1.1 413 Request entity too large\r\n")


def test_body_of_exactly_10000_bytes_is_accepted():
    body = b"op=create&config=" + b"x" * (10000 - 17)
    _, evs = events(b"POST / HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + body)
    assert isinstance(evs[0], HttpRequest) and len(evs[0].body) == 10000


@pytest.mark.parametrize("data,status", [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),   # a TLS hello
    (b"hello\r\n\r\n", 400),
    (b"\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET / FTP/1.0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 501 + b"\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 40000 + b"\r\n\r\n", 400),
])
def test_garbage_requests_get_an_error_status(data, status):
    _, evs = events(data)
    assert len(evs) == 1 and isinstance(evs[0], HttpRequestError)
    assert evs[0].status == status


@pytest.mark.parametrize("data", [b"GET /xend/", b"GET / HTTP/1.1\r\nHost: x",
                                  b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nop="])
def test_truncated_request_then_eof_is_400(data):
    _, evs = events(data, eof=True)
    assert len(evs) == 1 and evs[0].status == 400


def test_parser_stays_failed_after_an_error():
    p, evs = events(b"junk\r\n\r\n" + build_get("/"))
    assert len(evs) == 1 and p.next_event() is None


def test_http09_style_two_field_request_line():
    _, evs = events(b"GET /xend/node/\r\n\r\n")
    assert evs[0].version == "HTTP/0.9" and evs[0].path == "/xend/node/"


def test_bad_method_is_501_with_accept():
    _, evs = events(b"DELETE /xend/domain/fc5 HTTP/1.1\r\n\r\n")
    reply = to_xend_request(evs[0])
    assert isinstance(reply, Reply) and reply.status == 501
    out = render_reply(reply)
    assert out.startswith(b"HTTP/1.1 501 Not implemented\r\n")
    assert b"\r\nAccept: GET,HEAD,POST\r\n" in out
    assert out.endswith(b"\r\n\r\nRequest method not supported (DELETE)")


def test_args_like_cgi_parse_qs_and_post_args_replace_query_args():
    body = b"op=unpause&name=&cpumap=%5B0%2C1%5D&x=a+b"
    data = (b"POST /xend/domain/a?op=pause&q=&k=v HTTP/1.1\r\nContent-Type: "
            b"application/x-www-form-urlencoded; charset=x\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body)
    req = _server_parse(data)
    assert req.args == {"op": ["unpause"], "k": ["v"], "name": [""], "cpumap": ["[0,1]"],
                        "x": ["a b"]}  # query blank dropped, body blank kept, '+' is a space
    assert req.key() == "POST /xend/domain/<x> op=unpause"


def test_post_body_ignored_without_form_content_type():
    req = _server_parse(b"POST /xend/domain/a HTTP/1.1\r\nContent-Length: 8\r\n\r\nop=pause")
    assert req.args == {}


def test_keep_alive_only_when_asked():
    assert not _server_parse(build_get("/")).keep_alive
    assert _server_parse(b"GET / HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n").keep_alive


# ------------------------------------------------------------------ rendering

def test_render_sxp_reply_in_xend_header_style():
    out = render_reply(sxp_reply(["fc5", "rhel4"]))
    head, body = out.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 200 OK", b"Content-type: application/sxp", b"Pragma: no-cache",
        b"Cache-control: no-cache", b"Expires: -1", b"Content-length: 11"]
    assert body == b"(fc5 rhel4)"


def test_render_keep_alive_head_and_extra_headers():
    r = Reply(202, None, b"", None, [("location", "http://localhost:8080/xend/domain/a/..")])
    out = render_reply(r, keep_alive=True)
    assert b"\r\nLocation: http://localhost:8080/xend/domain/a/..\r\n" in out
    assert b"\r\nConnection: keep-alive\r\n" in out and b"Content-length: 0" in out
    head_only = render_reply(sxp_reply(["a"]), head=True)
    assert head_only.endswith(b"\r\n\r\n") and b"Content-length" not in head_only


def test_xend_err_reply_quoting():
    out = render_reply(xend_err_reply("VM name 'x' in use", 500, "Request failed: create"))
    assert out.startswith(b"HTTP/1.1 500 Request failed: create\r\n")
    assert out.endswith(b"\r\n\r\n(xend.err \"VM name 'x' in use\")")
    assert render_reply(xend_err_reply("Invalid reason: sleep")).endswith(
        b"(xend.err 'Invalid reason: sleep')")


def test_reason_and_headers_cannot_inject_lines():
    out = render_response(501, "Operation not implemented: x\r\nSet-Cookie: a", [("X", "1\r\n2")])
    assert out.count(b"\r\n") == 3


# ------------------------------------------------------------------ counter keys

@pytest.mark.parametrize("method,target,args,key", [
    ("GET", "/xend/node/", None, "GET /xend/node/"),
    ("GET", "/xend/domain", None, "GET /xend/domain"),
    ("GET", "/xend/domain?detail=1", None, "GET /xend/domain?detail=1"),
    ("GET", "/xend/domain/?detail=1&state=all", None, "GET /xend/domain/?detail=1"),
    ("GET", "/xend/domain?state=halted", None, "GET /xend/domain?state=halted"),
    ("GET", "/xend/domain/fc5?detail=1", None, "GET /xend/domain/<x>"),
    ("GET", "/xend/domain/7?op=vcpuinfo", None, "GET /xend/domain/<x>?op=vcpuinfo"),
    ("POST", "/xend/domain/fc5", {"op": ["pause"]}, "POST /xend/domain/<x> op=pause"),
    ("POST", "/xend/domain/", {"op": ["create"], "config": ["(vm)"]}, "POST /xend/domain/ op=create"),
    ("POST", "/xend/domain/", None, "POST /xend/domain/"),
    ("POST", "/xend/domain/x?op=destroy", None, "POST /xend/domain/<x> op=destroy"),
    ("POST", "/xend/domain/x", {"op": ["a", "b"]}, "POST /xend/domain/<x>"),
])
def test_endpoint_keys(method, target, args, key):
    assert endpoint_key(method, target, args) == key
