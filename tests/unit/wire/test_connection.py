"""The connection state machine: events <-> bytes, bookkeeping, errors as values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.errors import (
    AuthenticationError,
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    NotImplementedYet,
    SearchPhaseExecutionError,
    SecurityError,
)
from isthmus.wire import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    ErrorResponse,
    Event,
    Ping,
    ProtocolError,
    RemoteError,
    RemoteProtocolError,
    Request,
    Response,
    State,
    WireError,
)
from isthmus.wire.messages import MAX_CAUSE_DEPTH

CREDENTIALS = {"_cross_cluster_access_credentials": "ApiKey abc"}
GOLDEN_REQUEST = bytes.fromhex(
    "4553 00000060 0000000000000001 00 000f42a3 0000004b 0001"
    " 0021 5f63726f73735f636c75737465725f6163636573735f63726564656e7469616c73"
    " 000a 4170694b657920616263"
    " 0018 696e64696365733a646174612f726561642f736561726368"
    " 81a17101"
)
GOLDEN_RESPONSE = bytes.fromhex(
    "4553 00000018 0000000000000001 01 000f42a3 00000002 0000 81a26f6bc3"
)
GOLDEN_ERROR = bytes.fromhex(
    "4553 00000049 0000000000000001 03 000f42a3 00000002 0000"
    " 83 a4 74797065 ba 696c6c6567616c5f617267756d656e745f657863657074696f6e"
    " a6 726561736f6e a3 626164 a6 737461747573 cd0190"
)
GOLDEN_PING = bytes.fromhex("4553ffffffff")

FEEDS = ["whole", "bytewise", "trailing"]


def events(conn: Connection, data: bytes, mode: str = "whole") -> list[Event]:
    """Feed ``data`` the given way and drain every complete event."""
    out: list[Event] = []

    def drain() -> None:
        while (event := conn.next_event()) is not NEED_DATA:
            assert not isinstance(event, type(NEED_DATA))
            out.append(event)
            if isinstance(event, ConnectionClosed):
                return

    if mode == "bytewise":
        for byte in data:
            conn.receive_data(bytes([byte]))
            drain()
    else:
        chunk = data + (GOLDEN_PING[:3] if mode == "trailing" else b"")
        if chunk:  # b"" would mean end of stream
            conn.receive_data(chunk)
        drain()
        if mode == "trailing":
            assert conn.info().buffered_bytes == 3
    return out


def pair() -> tuple[Connection, Connection]:
    return Connection(), Connection()


@pytest.mark.parametrize("mode", FEEDS)
def test_golden_request_and_response(mode: str) -> None:
    client, server = pair()
    request = client.new_request("indices:data/read/search", {"q": 1}, CREDENTIALS)
    assert client.send(request) == GOLDEN_REQUEST
    assert events(server, GOLDEN_REQUEST, mode) == [request]
    assert server.send(Response(1, {"ok": True})) == GOLDEN_RESPONSE
    assert events(client, GOLDEN_RESPONSE, mode) == [Response(1, {"ok": True})]
    assert client.pending_requests() == {}


@pytest.mark.parametrize("mode", FEEDS)
def test_golden_error_response(mode: str) -> None:
    client, server = pair()
    events(server, client.send(client.new_request("indices:data/read/search", {"q": 1})))
    error = WireError("illegal_argument_exception", "bad", 400)
    assert server.send(ErrorResponse(1, error)) == GOLDEN_ERROR
    assert events(client, GOLDEN_ERROR, mode) == [ErrorResponse(1, error)]


@pytest.mark.parametrize("mode", FEEDS)
def test_golden_ping(mode: str) -> None:
    client, server = pair()
    assert client.send(Ping()) == GOLDEN_PING
    assert events(server, GOLDEN_PING * 2, mode) == [Ping(), Ping()]
    assert server.info().pings_received == 2


def test_request_ids_are_allocated_and_tracked() -> None:
    client, server = pair()
    first, second = client.new_request("a:b"), client.new_request("a:c")
    assert (first.request_id, second.request_id) == (1, 2)
    data = client.send(first) + client.send(second)
    assert client.pending_requests() == {1: "a:b", 2: "a:c"}
    assert events(server, data) == [first, second]
    # answered out of order
    reply = server.send(Response(2, "two")) + server.send(Response(1, "one"))
    assert events(client, reply) == [Response(2, "two"), Response(1, "one")]
    assert client.info().outbound_pending == 0
    assert server.info().requests_received == 2
    assert repr(client) == "<Connection open version=1000099 out=0 in=0 buffered=0>"


def test_handshake_frames_carry_the_handshake_flag() -> None:
    client, server = pair()
    data = client.send(client.new_request("internal:transport/handshake", {}))
    assert data[14] == 0x08
    events(server, data)
    assert server.send(Response(1, {}))[14] == 0x09


# --- local misuse -------------------------------------------------------------------------------


def test_local_misuse_is_protocol_error_and_connection_stays_usable() -> None:
    client, _ = pair()
    with pytest.raises(ProtocolError, match="no pending request with id \\[5\\]"):
        client.send(Response(5, None))
    with pytest.raises(ProtocolError, match="payload cannot be encoded"):
        client.send(client.new_request("a:b", object()))
    request = client.new_request("a:b")
    client.send(request)
    with pytest.raises(ProtocolError, match="already pending"):
        client.send(request)
    with pytest.raises(ProtocolError, match="limit"):
        client.send(client.new_request("a:b", headers={"h": "x" * 70_000}))
    assert client.state is State.OPEN
    assert client.pending_requests() == {request.request_id: "a:b"}


def test_send_after_close_is_protocol_error() -> None:
    client, _ = pair()
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()
    assert client.next_event() == ConnectionClosed()
    with pytest.raises(ProtocolError):
        client.send(Ping())
    with pytest.raises(ProtocolError):
        client.receive_data(b"x")


# --- the peer breaking the protocol -------------------------------------------------------------


def test_clean_close_reports_unanswered_requests() -> None:
    client, _ = pair()
    client.send(client.new_request("a:b"))
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed(pending=(1,))
    assert client.state is State.CLOSED


def test_close_inside_a_frame_is_remote_error() -> None:
    client, _ = pair()
    client.receive_data(GOLDEN_RESPONSE[:10])
    assert client.next_event() is NEED_DATA
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed inside a frame"):
        client.next_event()


def test_response_to_unknown_request_breaks_the_connection_for_good() -> None:
    client, _ = pair()
    client.receive_data(GOLDEN_RESPONSE)
    with pytest.raises(RemoteProtocolError, match="unknown request id \\[1\\]") as first:
        client.next_event()
    assert client.state is State.BROKEN
    with pytest.raises(RemoteProtocolError) as again:
        client.next_event()
    assert again.value is first.value
    with pytest.raises(ProtocolError):
        client.send(Ping())


def test_duplicate_request_id_is_remote_error() -> None:
    _, server = pair()
    server.receive_data(GOLDEN_REQUEST * 2)
    assert isinstance(server.next_event(), Request)
    with pytest.raises(RemoteProtocolError, match="duplicate request id"):
        server.next_event()


def test_old_frame_version_is_remote_error() -> None:
    old = Connection(version=5, min_compatible_version=5)
    data = old.send(old.new_request("a:b"))
    with pytest.raises(RemoteProtocolError, match="older than the minimum"):
        events(Connection(), data)
    # a handshake may come from any version: that is how incompatibility gets reported
    hs = Connection(version=5, min_compatible_version=5)
    assert len(events(Connection(), hs.send(hs.new_request("internal:transport/handshake")))) == 1


@pytest.mark.parametrize(
    "payload",
    [b"\xc1", b"", b"\x81\xa1"],
    ids=["reserved-byte", "empty", "truncated"],
)
def test_bad_payload_is_remote_error(payload: bytes) -> None:
    good = GOLDEN_REQUEST
    data = bytearray(good[:-4] + payload)
    data[2:6] = (len(data) - 6).to_bytes(4, "big")
    with pytest.raises(RemoteProtocolError):
        events(Connection(), bytes(data))


@pytest.mark.parametrize(
    "body",
    [
        [1],
        {"type": 1, "reason": "x"},
        {"type": "t", "reason": "x", "status": 99},
        {"type": "t", "reason": "x", "status": True},
        {"type": "t", "reason": "x", "extra": []},
        {"type": "t", "reason": "x", "stack": 3},
        {"type": "t", "reason": "x", "surprise": 1},
        {"type": "t", "reason": "x", "caused_by": "no"},
    ],
)
def test_malformed_error_payload_is_remote_error(body: Any) -> None:
    with pytest.raises(RemoteProtocolError):
        WireError.from_payload(body)


def test_cause_chain_depth_is_limited() -> None:
    body: dict[str, Any] = {"type": "t", "reason": "x"}
    for _ in range(MAX_CAUSE_DEPTH + 1):
        body = {"type": "t", "reason": "x", "caused_by": body}
    with pytest.raises(RemoteProtocolError, match="deeper"):
        WireError.from_payload(body)


# --- errors crossing the wire ---------------------------------------------------------------------


def across(err: IsthmusError, *, include_stack: bool = False) -> IsthmusError:
    """Send ``err`` as an error response and rebuild it on the other side."""
    client, server = pair()
    events(server, client.send(client.new_request("a:b")))
    data = server.send(ErrorResponse(1, WireError.from_exception(err, include_stack=include_stack)))
    (event,) = events(client, data)
    assert isinstance(event, ErrorResponse)
    return event.error.to_exception()


@pytest.mark.parametrize(
    "err",
    [
        IndexNotFoundError("logs"),
        IllegalArgumentError("bad", status=418),
        NotImplementedYet("not yet"),
        AuthenticationError("unable to authenticate"),
        SecurityError("action [x] is unauthorized"),
        SearchPhaseExecutionError("all shards failed", caused_by=IndexNotFoundError("a")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_known_errors_keep_class_and_rest_body(err: IsthmusError) -> None:
    back = across(err)
    assert type(back) is type(err)
    assert back.to_body() == err.to_body()
    assert back.http_status == err.http_status


def test_unknown_es_type_round_trips_its_type_string() -> None:
    wire = WireError(
        "index_shard_closed_exception",
        "CurrentState[CLOSED] operation only allowed when not closed",
        503,
        caused_by=WireError("connect_transport_exception", "[n][127.0.0.1:9300] connect", 500),
        extra={"shard": "0"},
    )
    err = wire.to_exception()
    assert isinstance(err, RemoteError)
    assert err.es_type == "index_shard_closed_exception"
    assert err.to_body() == {
        "error": {
            "root_cause": [
                {"type": "connect_transport_exception", "reason": "[n][127.0.0.1:9300] connect"}
            ],
            "type": "index_shard_closed_exception",
            "reason": "CurrentState[CLOSED] operation only allowed when not closed",
            "shard": "0",
            "caused_by": {
                "type": "connect_transport_exception",
                "reason": "[n][127.0.0.1:9300] connect",
            },
        },
        "status": 503,
    }
    assert type(WireError("connect_transport_exception", "x").to_exception()) is type(err.caused_by)
    assert WireError.from_exception(err) == wire


def test_stack_is_optional_and_never_reaches_the_body() -> None:
    try:
        raise IllegalArgumentError("boom")
    except IllegalArgumentError as exc:
        wire = WireError.from_exception(exc, include_stack=True)
    assert wire.stack is not None and "IllegalArgumentError" in wire.stack
    assert WireError.from_payload(wire.to_payload()) == wire
    assert "stack" not in str(wire.to_exception().to_body())
    assert WireError.from_exception(IllegalArgumentError("x")).stack is None


# --- properties -------------------------------------------------------------------------------

texts = st.text(max_size=16)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | texts | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
headers = st.dictionaries(texts, texts, max_size=4)
wire_errors = st.recursive(
    st.builds(
        WireError,
        texts.filter(bool),
        texts,
        st.integers(100, 599),
        st.none(),
        st.dictionaries(texts, values, max_size=2),
        st.none() | texts,
    ),
    lambda inner: st.builds(WireError, texts.filter(bool), texts, st.integers(100, 599), inner),
    max_leaves=4,
)


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=20), values, headers), min_size=1, max_size=4),
    st.lists(st.one_of(values.map(lambda v: ("ok", v)), wire_errors.map(lambda e: ("err", e)))),
    st.sampled_from(FEEDS),
)
def test_event_round_trip(
    requests: list[tuple[str, Any, dict[str, str]]],
    answers: list[tuple[str, Any]],
    mode: str,
) -> None:
    client, server = pair()
    sent = [client.new_request(a, p, h) for a, p, h in requests]
    assert events(server, b"".join(client.send(r) for r in sent), mode) == sent
    replies: list[Response | ErrorResponse] = []
    for request, (kind, value) in zip(sent, answers, strict=False):
        if kind == "ok":
            replies.append(Response(request.request_id, value))
        else:
            replies.append(ErrorResponse(request.request_id, value))
    assert events(client, b"".join(server.send(r) for r in replies), mode) == replies
    assert len(client.pending_requests()) == len(sent) - len(replies)


@settings(max_examples=300)
@given(st.binary(max_size=120), st.sampled_from(["whole", "bytewise"]))
def test_garbage_raises_only_remote_protocol_error(data: bytes, mode: str) -> None:
    conn = Connection()
    conn.send(conn.new_request("a:b"))  # so a garbage response may find a pending id
    try:
        events(conn, b"ES" + data, mode)
        conn.receive_data(b"")
        events(conn, b"")
    except RemoteProtocolError as exc:
        assert exc.close_reason


def test_an_answer_to_a_compressed_handshake_is_refused_not_sent_compressed() -> None:
    # A peer may mark a handshake request as compressed (the decoder lets the request through);
    # our answer must not be a compressed handshake frame, which no decoder accepts.
    from isthmus.wire.frames import COMPRESSED_BIT, encode_message

    server = Connection()
    hello = encode_message(
        1, COMPRESSED_BIT, 8_000_099, {}, "internal:transport/handshake", b"\x80", "deflate"
    )
    server.receive_data(hello)
    event = server.next_event()
    assert isinstance(event, Request) and event.compression == "deflate"
    with pytest.raises(ProtocolError, match="handshake frames are never compressed"):
        server.send(Response(event.request_id, {}))


# --- the frame being received: announced size, and discarding it ---------------------------------


@pytest.mark.parametrize("step", [1, 5, 23, 4096])
def test_partial_frame_is_known_from_its_header_until_complete(step: int) -> None:
    client, server = Connection(), Connection()
    data = client.send(client.new_request("test:big", b"z" * 10_000))
    seen = set()
    for end in range(step, len(data), step):
        server.receive_data(data[end - step : end])
        partial = server.partial_frame()
        if end < 23:
            assert partial is None  # the header (prefix and fixed part) is not in yet
        else:
            assert partial is not None
            seen.add(partial)
    assert seen == {(len(data), 1, 0)}
    server.receive_data(data[len(data) - (len(data) - 1) % step - 1 :])
    assert isinstance(server.next_event(), Request)
    assert server.partial_frame() is None


def test_discarded_request_is_skipped_and_still_owed_an_answer() -> None:
    client, server = Connection(), Connection()
    big = client.send(client.new_request("test:big", b"z" * 10_000))
    after = client.send(client.new_request("test:small", "ok"))
    server.receive_data(big[:100])
    partial = server.discard_frame()
    assert partial.request_id == 1 and partial.is_request
    assert server.partial_frame() is None
    for i in range(100, len(big), 333):  # the rest arrives in pieces and is dropped
        server.receive_data(big[i : i + 333])
    server.receive_data(after)
    event = server.next_event()
    assert isinstance(event, Request) and event.action == "test:small"
    assert server.info().buffered_bytes == 0 and server.info().discarded_frames == 1
    refusal = server.send(ErrorResponse(1, WireError("circuit_breaking_exception", "no", 429)))
    client.receive_data(refusal)
    answer = client.next_event()
    assert isinstance(answer, ErrorResponse) and answer.error.status == 429


def test_discard_without_a_partial_frame_is_our_mistake() -> None:
    with pytest.raises(ProtocolError):
        Connection().discard_frame()
