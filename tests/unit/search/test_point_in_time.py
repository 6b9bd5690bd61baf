"""The PIT id, the rules of a search with a PIT and the payloads of remote parts (no sockets)."""

from __future__ import annotations

import pytest

from isthmus.errors import ActionRequestValidationError, IllegalArgumentError, IsthmusError
from isthmus.search.pit_wire import OpenReadersRequest, ReaderQueryRequest
from isthmus.search.point_in_time import (
    LocalShardRef,
    PitId,
    RemotePart,
    check_open,
    check_search,
    check_shard_doc_sort,
    parse_pit,
    shard_doc_value,
    with_tiebreaker,
)


def test_id_round_trip_and_its_indices() -> None:
    pit = PitId(
        (LocalShardRef("s1", 7, "b", 0, 0), LocalShardRef("s1", 8, "a", 1, 1)),
        (RemotePart("r", "inner", ("logs",), 3, 2),),
    )
    text = pit.encode()
    assert "=" not in text and "+" not in text and "/" not in text  # URL-safe, unpadded
    assert PitId.decode(text) == pit
    assert pit.local_indices == ["a", "b"]
    assert pit.shard_contexts == 5


@pytest.mark.parametrize("text", ["", "not-a-pit", "e30", "W10"])
def test_a_foreign_id_is_a_400(text: str) -> None:
    with pytest.raises(IllegalArgumentError, match=r"invalid point in time id"):
        PitId.decode(text)


def test_search_checks_in_es_order() -> None:
    with pytest.raises(ActionRequestValidationError) as err:
        check_search(True, {"expand_wildcards": "open", "routing": "1", "preference": "_local"})
    assert err.value.reason == (
        "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any "
        "index with point in time.;2: [indicesOptions] cannot be used with point in time;"
        "3: [routing] cannot be used with point in time;"
        "4: [preference] cannot be used with point in time;"
    )
    with pytest.raises(ActionRequestValidationError, match="not allowed in a scroll context"):
        check_search(False, {"scroll": "1m"})
    check_search(False, {"ccs_minimize_roundtrips": "false"})
    with pytest.raises(ActionRequestValidationError) as err:
        check_open(False, None)
    assert err.value.reason == (
        "Validation Failed: 1: [index] is not specified;2: [keep_alive] is not specified;"
    )


def test_pit_section_parse_errors() -> None:
    assert parse_pit({"id": "x", "keep_alive": "1m"}).keep_alive == "1m"
    with pytest.raises(IsthmusError, match=r"Unknown key for a VALUE_STRING in \[pit\]"):
        parse_pit("abc")
    with pytest.raises(IsthmusError, match=r"\[pit\] unknown field \[foo\]"):
        parse_pit({"id": "x", "foo": 1})


@pytest.mark.parametrize(
    ("body", "sort"),
    [
        ({}, None),
        ({"sort": []}, []),
        ({"sort": "n"}, ["n", "_shard_doc"]),
        ({"sort": [{"n": "desc"}]}, [{"n": "desc"}, "_shard_doc"]),
        ({"sort": ["n", {"_shard_doc": "desc"}]}, ["n", {"_shard_doc": "desc"}]),
        # search_after with one value per given key: the page goes on without a tiebreaker
        ({"sort": ["n"], "search_after": [1]}, ["n"]),
        ({"sort": ["n"], "search_after": [1, 5]}, ["n", "_shard_doc"]),
    ],
)
def test_implicit_tiebreaker(body: dict[str, object], sort: object) -> None:
    assert with_tiebreaker(body).get("sort") == sort


def test_shard_doc_value_orders_by_shard_then_doc() -> None:
    assert shard_doc_value(0, 5) < shard_doc_value(1, 0) < shard_doc_value(1, 1)
    assert shard_doc_value(2, 3) == (2 << 32) | 3


def test_payloads_are_validated() -> None:
    request = OpenReadersRequest(("logs",), {"routing": "a"}, "1m", {"match_all": {}}, "r")
    assert OpenReadersRequest.from_payload(request.to_payload()) == request
    with pytest.raises(IllegalArgumentError, match=r"needs a list of \[indices\]"):
        OpenReadersRequest.from_payload({"indices": [], "keep_alive": "1m"})
    query = ReaderQueryRequest("id", {"size": 3}, {}, 4, None, "r")
    assert ReaderQueryRequest.from_payload(query.to_payload()) == query
    with pytest.raises(IllegalArgumentError, match=r"first_position"):
        ReaderQueryRequest.from_payload({**query.to_payload(), "first_position": -1})


def test_shard_doc_needs_a_pit() -> None:
    check_shard_doc_sort({"sort": ["n", {"m": "desc"}]}, {"sort": "n:asc"})
    check_shard_doc_sort({"sort": [5]}, {})  # the search's parser reports that one
    for body, params in (({"sort": "_shard_doc"}, {}), ({}, {"sort": "n,_shard_doc:desc"})):
        with pytest.raises(ActionRequestValidationError, match=r"cannot be used without"):
            check_shard_doc_sort(body, params)


def test_an_id_names_the_node_of_each_context_in_a_cluster_of_several_nodes() -> None:
    import base64

    import orjson

    from isthmus.search.point_in_time import LocalShardRef, PitId

    refs = (
        LocalShardRef("s1", 3, "books", 0, 0, "node-a"),
        LocalShardRef("s2", 7, "books", 1, 1, "node-b"),
    )
    assert PitId.decode(PitId(refs).encode()).local == refs
    # One node's ids name no node (and read as before).
    single = PitId((LocalShardRef("s1", 3, "books", 0, 0),))
    text = single.encode()
    raw = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    assert raw["l"] == [["s1", 3, "books", 0, 0]]
    assert PitId.decode(single.encode()).local[0].node == ""
