"""Routing: literal segments beat placeholders, ``_`` segments, 405 vs no handler, HEAD."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.http.router import (
    COMMON_PARAMS,
    NoHandler,
    Request,
    Route,
    Router,
    check_params,
    route,
)


async def handler(req: Request) -> Any:
    return {}


ROUTES = [
    route("GET", "/", handler, action="main"),
    route(["GET", "POST"], "/_search", handler, action="search"),
    route(["GET", "POST"], "/{index}/_search", handler, action="search"),
    route("GET", "/{index}", handler, action="get-index"),
    route("PUT", "/{index}", handler, action="create-index"),
    route("DELETE", "/{index}", handler, action="delete-index"),
    route("GET", "/{index}/_doc/{id}", handler, action="get"),
    route("HEAD", "/{index}/_doc/{id}", handler, action="exists"),
    route(["PUT", "POST"], "/{index}/_doc/{id}", handler, action="index"),
    route("GET", "/_cat/indices", handler, action="cat-indices"),
    route("GET", "/_cat/indices/{index}", handler, action="cat-indices"),
    route("GET", "/{index}/_stats", handler, action="stats"),
    route("GET", "/{index}/{metric}", handler, action="placeholder-metric"),
    route("GET", "/{index:_}/_refresh", handler, action="refresh"),
    route("GET", "/_nodes/{node}/stats", handler, action="node-stats"),
    route("GET", "/_nodes/_local/stats", handler, action="local-stats"),
]
ROUTER = Router(ROUTES)


def resolved(method: str, path: str) -> tuple[str, dict[str, str]]:
    r, params = ROUTER.resolve(method, path)
    return r.action, params


def test_route_segments() -> None:
    r = route("GET", "/{index}/_doc/{id}", handler, params=["routing"], action="get")
    assert r.segments == ("{index}", "_doc", "{id}")
    assert r.literal_count == 1
    assert r.methods == frozenset({"GET"})
    assert r.params == frozenset({"routing"})
    assert isinstance(r, Route)


def test_routes_take_a_body_by_method_unless_told() -> None:
    assert route("GET", "/x", handler).accepts_body is False
    assert route("DELETE", "/x", handler).accepts_body is False
    assert route(("GET", "POST"), "/x", handler).accepts_body is True
    assert route("PUT", "/x", handler).accepts_body is True
    assert route("GET", "/x", handler, body=True).accepts_body is True
    assert route("POST", "/x", handler, body=False).accepts_body is False


def test_root() -> None:
    assert resolved("GET", "/") == ("main", {})
    assert resolved("GET", "") == ("main", {})


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/_search", ("search", {})),
        ("POST", "/logs/_search", ("search", {"index": "logs"})),
        ("GET", "/logs", ("get-index", {"index": "logs"})),
        ("PUT", "/logs", ("create-index", {"index": "logs"})),
        ("GET", "/logs/_doc/1", ("get", {"index": "logs", "id": "1"})),
        ("GET", "/_cat/indices", ("cat-indices", {})),
        ("GET", "/_cat/indices/lo*", ("cat-indices", {"index": "lo*"})),
        ("GET", "//logs//_doc//1/", ("get", {"index": "logs", "id": "1"})),
        ("GET", "/a%2Cb/_search", ("search", {"index": "a,b"})),
        ("GET", "/logs/_doc/a%2Fb", ("get", {"index": "logs", "id": "a/b"})),
    ],
)
def test_resolve(method: str, path: str, expected: tuple[str, dict[str, str]]) -> None:
    assert resolved(method, path) == expected


def test_literal_beats_placeholder() -> None:
    assert resolved("GET", "/logs/_stats") == ("stats", {"index": "logs"})
    assert resolved("GET", "/logs/other") == (
        "placeholder-metric",
        {"index": "logs", "metric": "other"},
    )
    assert resolved("GET", "/_nodes/_local/stats") == ("local-stats", {})
    assert resolved("GET", "/_nodes/n1/stats") == ("node-stats", {"node": "n1"})


def test_literal_wins_regardless_of_registration_order() -> None:
    router = Router(
        [
            route("GET", "/{a}/{b}", handler, action="placeholders"),
            route("GET", "/{a}/stats", handler, action="literal"),
        ]
    )
    assert router.resolve("GET", "/x/stats")[0].action == "literal"
    assert router.resolve("GET", "/x/y")[0].action == "placeholders"


def test_placeholders_do_not_take_underscore_segments() -> None:
    with pytest.raises(NoHandler) as info:
        ROUTER.resolve("GET", "/_unknown_api")
    assert info.value.allowed == []
    with pytest.raises(NoHandler):
        ROUTER.resolve("GET", "/_foo/_search")


def test_when_nothing_else_matches_an_id_may_start_with_an_underscore() -> None:
    # ES's trie falls back to wildcards: later placeholders take '_' segments, the first never.
    assert resolved("GET", "/logs/_doc/_x2Q") == ("get", {"index": "logs", "id": "_x2Q"})
    assert resolved("GET", "/_nodes/_n1/stats") == ("node-stats", {"node": "_n1"})
    with pytest.raises(NoHandler):
        ROUTER.resolve("GET", "/_foo/_search")
    # A literal route of the same shape still wins, and 405 stays 405.
    assert resolved("GET", "/logs/_stats") == ("stats", {"index": "logs"})
    with pytest.raises(NoHandler) as info:
        ROUTER.resolve("DELETE", "/_search")
    assert info.value.allowed == ["GET", "POST"]


def test_all_is_a_valid_placeholder_value() -> None:
    assert resolved("GET", "/_all/_search") == ("search", {"index": "_all"})


def test_underscore_flag_lets_a_placeholder_take_underscores() -> None:
    assert resolved("GET", "/_internal/_refresh") == ("refresh", {"index": "_internal"})


def test_wrong_method_lists_allowed_methods() -> None:
    with pytest.raises(NoHandler) as info:
        ROUTER.resolve("PATCH", "/logs")
    err = info.value
    assert err.path == "/logs"
    assert err.method == "PATCH"
    assert err.allowed == ["GET", "PUT", "DELETE"]  # ES's method enum order
    with pytest.raises(NoHandler) as info:
        ROUTER.resolve("DELETE", "/_search")
    assert info.value.allowed == ["GET", "POST"]


def test_no_handler_has_nothing_allowed() -> None:
    with pytest.raises(NoHandler) as info:
        ROUTER.resolve("GET", "/a/b/c/d/e")
    assert info.value.allowed == []


def test_head_falls_back_to_get() -> None:
    assert resolved("HEAD", "/logs") == ("get-index", {"index": "logs"})
    assert resolved("HEAD", "/_cat/indices") == ("cat-indices", {})


def test_explicit_head_route_wins() -> None:
    assert resolved("HEAD", "/logs/_doc/1") == ("exists", {"index": "logs", "id": "1"})


def test_head_without_get_is_not_allowed() -> None:
    router = Router([route("POST", "/x", handler)])
    with pytest.raises(NoHandler) as info:
        router.resolve("HEAD", "/x")
    assert info.value.allowed == ["POST"]


def test_request_has_body() -> None:
    assert Request("GET", "/", {}, {}, b" {} ").has_body
    assert not Request("GET", "/", {}, {}, b"  \n").has_body
    assert not Request("GET", "/", {}, {}, b"").has_body


# --- URL parameters -----------------------------------------------------------------------------

SEARCH = route("GET", "/_search", handler, params=["size", "from", "q", "routing"])


def test_known_and_common_params_pass() -> None:
    check_params(SEARCH, {"size": "1", "q": "x"}, "/_search")
    check_params(SEARCH, {p: "" for p in COMMON_PARAMS}, "/_search")
    assert {"pretty", "filter_path", "format", "error_trace", "human"} <= COMMON_PARAMS


def test_unknown_param_with_suggestion() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        check_params(SEARCH, {"siz": "1"}, "/_search")
    assert info.value.reason == (
        "request [/_search] contains unrecognized parameter: [siz] -> did you mean [size]?"
    )
    assert info.value.http_status == 400


def test_unknown_param_without_suggestion() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        check_params(SEARCH, {"zzzz": "1"}, "/_search")
    assert info.value.reason == "request [/_search] contains unrecognized parameter: [zzzz]"


def test_several_unknown_params() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        check_params(SEARCH, {"size": "1", "routng": "a", "qqqqqq": "b"}, "/x/_search")
    assert info.value.reason == (
        "request [/x/_search] contains unrecognized parameters: "
        "[qqqqqq], [routng] -> did you mean [routing]?"
    )
