"""The typed payloads of _resolve/index, _resolve/cluster and _field_caps across clusters: round
trips through msgpack, the exact maps sent, and ES-style refusals of malformed input."""

from __future__ import annotations

from typing import Any

import ormsgpack
import pytest

from isthmus.actions.cross_cluster_wire import (
    FieldCapsRequest,
    FieldCapsResponse,
    ResolveClusterRequest,
    ResolveClusterResponse,
    ResolveIndexRequest,
    ResolveIndexResponse,
)
from isthmus.actions.field_caps import merge_caps
from isthmus.errors import IllegalArgumentError


def over_the_wire(payload: Any) -> Any:
    return ormsgpack.unpackb(ormsgpack.packb(payload))


def test_requests_round_trip_as_the_maps_sent_before() -> None:
    resolve_index = ResolveIndexRequest(("logs*", "-logs-old"), {"expand_wildcards": "all"})
    assert resolve_index.to_payload() == {
        "indices": ["logs*", "-logs-old"],
        "params": {"expand_wildcards": "all"},
    }
    assert ResolveIndexRequest.from_payload(over_the_wire(resolve_index.to_payload())) == (
        resolve_index
    )
    resolve_cluster = ResolveClusterRequest(("logs",))
    assert resolve_cluster.to_payload() == {"indices": ["logs"]}
    assert ResolveClusterRequest.from_payload(over_the_wire(resolve_cluster.to_payload())) == (
        resolve_cluster
    )
    field_caps = FieldCapsRequest(("logs",), ("n", "tag*"), {"ignore_unavailable": "true"})
    payload = field_caps.to_payload()
    assert list(payload) == ["indices", "fields", "params"]
    assert FieldCapsRequest.from_payload(over_the_wire(payload)) == field_caps


def test_answers_round_trip() -> None:
    resolved = ResolveIndexResponse(
        indices=[{"name": "logs", "attributes": ["open"]}],
        aliases=[{"name": "all-logs", "indices": ["logs"]}],
        data_streams=[],
    )
    payload = resolved.to_payload()
    assert list(payload) == ["indices", "aliases", "data_streams"]
    assert ResolveIndexResponse.from_payload(over_the_wire(payload), cluster="r") == resolved
    cluster = ResolveClusterResponse(True, {"number": "9.0.0"})
    assert cluster.to_payload() == {"matching_indices": True, "version": {"number": "9.0.0"}}
    assert ResolveClusterResponse.from_payload(cluster.to_payload(), cluster="r") == cluster
    caps = FieldCapsResponse({"logs": {"n": ["long", True, True, False]}})
    back = FieldCapsResponse.from_payload(over_the_wire(caps.to_payload()), cluster="r")
    assert merge_caps(back.indices) == merge_caps(caps.indices)


@pytest.mark.parametrize(
    ("parse", "payload", "message"),
    [
        (
            ResolveIndexRequest.from_payload,
            [],
            r"resolve index request needs a list of \[indices\]",
        ),
        (ResolveIndexRequest.from_payload, {"indices": [1]}, "needs a list of"),
        (
            ResolveIndexRequest.from_payload,
            {"indices": [], "params": ["x"]},
            r"resolve index request \[params\] must be a map",
        ),
        (ResolveClusterRequest.from_payload, {}, r"resolve cluster request needs a list"),
        (FieldCapsRequest.from_payload, {"indices": "logs"}, r"needs a list of \[indices\]"),
        (
            FieldCapsRequest.from_payload,
            {"indices": [], "fields": "n"},
            r"field caps request \[fields\] must be a list",
        ),
    ],
)
def test_malformed_requests_are_illegal_arguments(parse: Any, payload: Any, message: str) -> None:
    with pytest.raises(IllegalArgumentError, match=message):
        parse(payload)


@pytest.mark.parametrize(
    ("parse", "payload", "what"),
    [
        (ResolveIndexResponse.from_payload, None, "resolve index"),
        (ResolveIndexResponse.from_payload, {"indices": [{"no": "name"}]}, "resolve index"),
        (ResolveIndexResponse.from_payload, {"aliases": {}}, "resolve index"),
        (ResolveClusterResponse.from_payload, "yes", "resolve cluster"),
        (ResolveClusterResponse.from_payload, {"version": "9"}, "resolve cluster"),
        (FieldCapsResponse.from_payload, [], "field caps"),
        (FieldCapsResponse.from_payload, {"logs": {"n": ["long", True]}}, "field caps"),
        (FieldCapsResponse.from_payload, {"logs": ["n"]}, "field caps"),
    ],
)
def test_malformed_answers_name_the_cluster(parse: Any, payload: Any, what: str) -> None:
    with pytest.raises(IllegalArgumentError, match=rf"malformed {what} answer from \[my\]"):
        parse(payload, cluster="my")
