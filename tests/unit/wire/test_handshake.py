"""The transport handshake: golden bytes, payload round trips, negotiation and its errors."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import HandshakeError
from isthmus.wire import NEED_DATA, Connection, Request, Response
from isthmus.wire.frames import RemoteProtocolError
from isthmus.wire.handshake import (
    CURRENT_VERSION,
    HandshakeRequest,
    HandshakeResponse,
    NodeIdentity,
    accept_request,
    check_response,
    negotiate_version,
)
from isthmus.wire.names import HANDSHAKE_ACTION

NODE = NodeIdentity(
    id="n1", name="node-1", publish_address="127.0.0.1:9300", version="9.0.0", roles=("data",)
)
REMOTE = NodeIdentity(
    id="r1",
    name="remote-1",
    publish_address="10.0.0.2:9300",
    version="9.1.0",
    roles=("master", "data"),
    attributes={"zone": "b"},
)
HELLO = HandshakeRequest(CURRENT_VERSION, CURRENT_VERSION, "c", "u", NODE)
GOLDEN_HANDSHAKE = bytes.fromhex(
    "4553 000000d6 0000000000000001 08 000f42a3 00000020"
    " 0000 001c 696e7465726e616c3a7472616e73706f72742f68616e647368616b65"  # no headers, action
    " 85 a7 76657273696f6e ce000f42a3"  # {"version": 1000099,
    " b6 6d696e5f636f6d70617469626c655f76657273696f6e ce000f42a3"  # "min_compatible_version":
    " ac 636c75737465725f6e616d65 a1 63"  # "cluster_name": "c",
    " ac 636c75737465725f75756964 a1 75"  # "cluster_uuid": "u",
    " a4 6e6f6465 86 a2 6964 a2 6e31 a4 6e616d65 a6 6e6f64652d31"  # "node": {"id", "name",
    " af 7075626c6973685f61646472657373 ae 3132372e302e302e313a39333030"  # "publish_address",
    " a7 76657273696f6e a5 392e302e30 a5 726f6c6573 91 a4 64617461"  # "version", "roles",
    " aa 61747472696275746573 80"  # "attributes": {}}}
)


def test_golden_handshake_request() -> None:
    client = Connection()
    data = client.send(client.new_request(HANDSHAKE_ACTION, HELLO.to_payload()))
    assert data == GOLDEN_HANDSHAKE
    for feed in ([data], [bytes([b]) for b in data], [data + b"ES\xff"]):
        server = Connection()
        for chunk in feed:
            server.receive_data(chunk)
        event = server.next_event()
        while event is NEED_DATA:
            event = server.next_event()
        assert isinstance(event, Request)
        assert HandshakeRequest.from_payload(event.payload) == HELLO


def test_full_exchange_negotiates_the_lower_version() -> None:
    client, server = Connection(version=1_010_099), Connection()
    hello = HandshakeRequest(1_010_099, 1_000_099, "qc", "qc-uuid", NODE)
    server.receive_data(client.send(client.new_request(HANDSHAKE_ACTION, hello.to_payload())))
    request = server.next_event()
    assert isinstance(request, Request)
    answer = HandshakeResponse(CURRENT_VERSION, CURRENT_VERSION, "fc", "fc-uuid", REMOTE)
    assert accept_request(answer, HandshakeRequest.from_payload(request.payload)) == CURRENT_VERSION
    client.receive_data(server.send(Response(request.request_id, answer.to_payload())))
    response = client.next_event()
    assert isinstance(response, Response)
    version = check_response(hello, HandshakeResponse.from_payload(response.payload))
    assert version == CURRENT_VERSION
    client.use_version(version)
    assert client.info().version == CURRENT_VERSION


@pytest.mark.parametrize(
    ("local", "remote", "expected"),
    [
        ((10, 5), (10, 5), 10),
        ((12, 5), (10, 8), 10),
        ((10, 8), (12, 5), 10),
        ((10, 10), (12, 10), 10),
    ],
)
def test_negotiation(local: tuple[int, int], remote: tuple[int, int], expected: int) -> None:
    got = negotiate_version(*local, *remote, remote_node="n", local_release="a", remote_release="b")
    assert got == expected


@pytest.mark.parametrize(("local", "remote"), [((10, 8), (7, 5)), ((7, 5), (10, 8))])
def test_incompatible_versions(local: tuple[int, int], remote: tuple[int, int]) -> None:
    with pytest.raises(HandshakeError) as info:
        negotiate_version(*local, *remote, remote_node="n", local_release="a", remote_release="b")
    assert info.value.reason == (
        "handshake with [n] failed: remote node version [b] is incompatible with local node version [a]"
    )
    assert info.value.es_type == "illegal_state_exception"


def test_check_response_incompatible_uses_node_description_and_releases() -> None:
    old = HandshakeResponse(5, 5, "fc", "u", REMOTE)
    with pytest.raises(HandshakeError, match="incompatible") as info:
        check_response(HELLO, old)
    assert info.value.reason == (
        "handshake with [{remote-1}{r1}{10.0.0.2:9300}] failed: remote node version [9.1.0] "
        "is incompatible with local node version [9.0.0]"
    )


def test_cluster_name_mismatch() -> None:
    answer = HandshakeResponse(CURRENT_VERSION, CURRENT_VERSION, "other", "u", REMOTE)
    assert check_response(HELLO, answer) == CURRENT_VERSION  # first time: any name
    with pytest.raises(HandshakeError) as info:
        check_response(HELLO, answer, expected_cluster_name="fc")
    assert info.value.reason == (
        "handshake with [{remote-1}{r1}{10.0.0.2:9300}] failed: remote cluster name [other] "
        "does not match expected remote cluster name [fc]"
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: "nope",
        lambda p: {**p, "version": "1"},
        lambda p: {**p, "version": True},
        lambda p: {**p, "cluster_name": None},
        lambda p: {k: v for k, v in p.items() if k != "cluster_uuid"},
        lambda p: {**p, "node": []},
        lambda p: {**p, "node": {**p["node"], "roles": "data"}},
        lambda p: {**p, "node": {**p["node"], "roles": [1]}},
        lambda p: {**p, "node": {**p["node"], "attributes": {"a": 1}}},
        lambda p: {**p, "node": {**p["node"], "id": 7}},
    ],
)
def test_malformed_payloads_are_remote_errors(mutate: Any) -> None:
    with pytest.raises(RemoteProtocolError):
        HandshakeResponse.from_payload(mutate(HELLO.to_payload()))


names = st.text(max_size=12)
nodes = st.builds(
    NodeIdentity,
    id=names,
    name=names,
    publish_address=names,
    version=names,
    roles=st.lists(names, max_size=4).map(tuple),
    attributes=st.dictionaries(names, names, max_size=3),
)
versions = st.integers(0, 2**31 - 1)


@given(versions, versions, names, names, nodes)
def test_payload_round_trip(v: int, vmin: int, cluster: str, uuid: str, node: NodeIdentity) -> None:
    for cls in (HandshakeRequest, HandshakeResponse):
        msg = cls(v, vmin, cluster, uuid, node)
        client, server = Connection(), Connection()
        server.receive_data(client.send(client.new_request(HANDSHAKE_ACTION, msg.to_payload())))
        event = server.next_event()
        assert isinstance(event, Request)
        assert cls.from_payload(event.payload) == msg


@given(versions, versions, versions, versions)
def test_negotiation_is_symmetric(a: int, amin: int, b: int, bmin: int) -> None:
    def attempt(x: int, xmin: int, y: int, ymin: int) -> int | None:
        try:
            kw = {"remote_node": "n", "local_release": "l", "remote_release": "r"}
            return negotiate_version(x, xmin, y, ymin, **kw)
        except HandshakeError:
            return None

    result = attempt(a, amin, b, bmin)
    assert result == attempt(b, bmin, a, amin)
    if result is not None:
        assert result == min(a, b)


def test_wire_package_imports_no_io() -> None:
    """STYLE convention 1 for ``isthmus.wire`` (kept here: this package's own guard)."""
    forbidden = {"asyncio", "socket", "ssl", "subprocess", "selectors", "sqlite3", "uvicorn"}
    package = Path(__file__).resolve().parents[3] / "src" / "isthmus" / "wire"
    offenders: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module.split(".")[0])
        if found & forbidden:
            offenders[path.name] = found & forbidden
    assert not offenders
    assert len(list(package.glob("*.py"))) == 8  # a new module must pass this guard too
