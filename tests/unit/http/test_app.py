"""The ASGI application, driven in-process: headers, rendering, limits and error bodies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import yaml

from isthmus.errors import IndexNotFoundError
from isthmus.http.app import RestApp
from isthmus.http.router import Request, Response, Router, route

LIMIT = 100


async def hello(req: Request) -> Any:
    return {"name": "node", "tagline": "You Know, for Search", "nested": {"a": 1, "b": [1, 2]}}


async def echo(req: Request) -> Any:
    return {
        "method": req.method,
        "path_params": req.path_params,
        "params": req.params,
        "body": req.body.decode(),
        "content_type": req.headers.get("content-type"),
    }


async def missing(req: Request) -> Any:
    raise IndexNotFoundError(req.path_params["index"])


async def crash(req: Request) -> Any:
    raise RuntimeError("boom")


async def text(req: Request) -> Any:
    return Response(200, "green open logs\n", headers={"X-Extra": "1"})


async def created(req: Request) -> Any:
    return Response(201, {"result": "created"})


async def odd_types(req: Request) -> Any:
    return {"set": {1}, "tuple": (1, 2), 3: "int key"}


ROUTER = Router(
    [
        route(("GET", "HEAD"), "/", hello),
        route(("GET", "POST", "PUT"), "/{index}/_echo", echo, params=["size"]),
        route("GET", "/{index}/_missing", missing),
        route("GET", "/_crash", crash),
        route("GET", "/_cat/text", text),
        route("PUT", "/{index}/_doc/{id}", created),
        route("GET", "/_odd", odd_types),
        route(("DELETE", "GET"), "/{index}/_both", echo),
    ]
)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    chunks: Sequence[bytes] | None = None,
    app: RestApp | None = None,
) -> Reply:
    app = app or RestApp(ROUTER, max_content_length=LIMIT)
    parts = list(chunks) if chunks is not None else [body]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    raw = list(sent[0]["headers"])
    return Reply(
        status=sent[0]["status"],
        headers={k.decode(): v.decode() for k, v in raw},
        raw_headers=raw,
        body=sent[1]["body"],
    )


JSON = [("content-type", "application/json")]

# --- success path -------------------------------------------------------------------------------


async def test_json_response_and_product_header() -> None:
    reply = await call("GET", "/")
    assert reply.status == 200
    assert reply.headers["x-elastic-product"] == "Elasticsearch"
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["content-length"] == str(len(reply.body))
    assert reply.json()["tagline"] == "You Know, for Search"
    assert b"\n" not in reply.body


async def test_request_reaches_the_handler() -> None:
    reply = await call("POST", "/logs/_echo", query="size=3", headers=JSON, body=b'{"query": {}}')
    assert reply.json() == {
        "method": "POST",
        "path_params": {"index": "logs"},
        "params": {"size": "3"},
        "body": '{"query": {}}',
        "content_type": "application/json",
    }


async def test_body_in_chunks_is_joined() -> None:
    reply = await call("POST", "/logs/_echo", headers=JSON, chunks=[b'{"a"', b": 1", b"}"])
    assert reply.json()["body"] == '{"a": 1}'


async def test_handler_response_status_and_headers() -> None:
    reply = await call("PUT", "/logs/_doc/1", headers=JSON, body=b"{}")
    assert reply.status == 201
    assert reply.json() == {"result": "created"}
    reply = await call("GET", "/_cat/text")
    assert reply.status == 200
    assert reply.body == b"green open logs\n"
    assert reply.headers["content-type"] == "text/plain; charset=UTF-8"
    assert reply.headers["x-extra"] == "1"
    assert reply.headers["x-elastic-product"] == "Elasticsearch"


async def test_sets_tuples_and_int_keys_serialise() -> None:
    body = (await call("GET", "/_odd")).json()
    assert body == {"set": [1], "tuple": [1, 2], "3": "int key"}


async def test_head_has_no_body_but_the_length() -> None:
    get = await call("GET", "/")
    head = await call("HEAD", "/")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(get.body))
    assert head.headers["x-elastic-product"] == "Elasticsearch"


async def test_lifespan_and_other_scopes_are_ignored() -> None:
    app = RestApp(ROUTER, LIMIT)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("not called")

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    await app({"type": "websocket"}, receive, send)
    assert sent == []
    assert app.in_flight == 0


# --- media types --------------------------------------------------------------------------------


async def test_vendor_type_only_when_accept_asks() -> None:
    vnd = "application/vnd.elasticsearch+json; compatible-with=8"
    reply = await call("GET", "/", headers=[("accept", vnd)])
    # the requested compatibility version is echoed, as ES does
    assert reply.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=8"
    reply = await call("GET", "/", headers=[("accept", vnd.replace("8", "9"))])
    assert reply.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=9"
    reply = await call("GET", "/", headers=[("accept", "application/json")])
    assert reply.headers["content-type"] == "application/json"
    reply = await call("GET", "/", headers=[("accept", "application/vnd.elasticsearch+json")])
    assert reply.headers["content-type"] == "application/json"


async def test_vendor_content_type_accepted() -> None:
    vnd = "application/vnd.elasticsearch+json;compatible-with=8"
    reply = await call("POST", "/i/_echo", headers=[("content-type", vnd)], body=b"{}")
    assert reply.status == 200


async def test_vendor_content_type_with_unknown_version() -> None:
    vnd = "application/vnd.elasticsearch+json;compatible-with=5"
    reply = await call("POST", "/i/_echo", headers=[("content-type", vnd)], body=b"{}")
    assert reply.status == 400
    assert reply.json()["error"]["type"] == "illegal_argument_exception"
    assert "Content-Type=5" in reply.json()["error"]["reason"]


@pytest.mark.parametrize(
    "ctype", ["text/plain", "text/plain; charset=UTF-8", "application/x-www-form-urlencoded"]
)
async def test_text_plain_body_is_406(ctype: str) -> None:
    reply = await call("POST", "/i/_echo", headers=[("content-type", ctype)], body=b"{}")
    assert reply.status == 406
    assert reply.headers["x-elastic-product"] == "Elasticsearch"
    body = reply.json()
    assert body["status"] == 406
    assert f"Content-Type header [{ctype}] is not supported" in orjson.dumps(body).decode()


async def test_unknown_content_type_is_406() -> None:
    reply = await call(
        "POST", "/i/_echo", headers=[("content-type", "application/xml")], body=b"<a/>"
    )
    assert reply.status == 406


async def test_content_type_is_not_checked_without_a_body() -> None:
    reply = await call("GET", "/i/_echo", headers=[("content-type", "text/plain")])
    assert reply.status == 200


async def test_text_plain_error_body_is_es_simple_form() -> None:
    reply = await call("POST", "/i/_echo", headers=[("content-type", "text/plain")], body=b"{}")
    assert reply.json() == {
        "error": "Content-Type header [text/plain] is not supported",
        "status": 406,
    }


# --- rendering options --------------------------------------------------------------------------


async def test_pretty() -> None:
    reply = await call("GET", "/", query="pretty")
    # Jackson's pretty printer, as ES prints it
    assert reply.body == (
        b'{\n  "name" : "node",\n  "tagline" : "You Know, for Search",\n  "nested" : {\n'
        b'    "a" : 1,\n    "b" : [\n      1,\n      2\n    ]\n  }\n}\n'
    )
    assert orjson.loads(reply.body)["name"] == "node"
    assert (await call("GET", "/", query="pretty=true")).body.endswith(b"}\n")
    compact = await call("GET", "/", query="pretty=false")
    assert b"\n" not in compact.body


async def test_filter_path() -> None:
    reply = await call("GET", "/", query="filter_path=name,nested.b")
    assert reply.json() == {"name": "node", "nested": {"b": [1, 2]}}
    reply = await call("GET", "/", query="filter_path=-nested,-tagline")
    assert reply.json() == {"name": "node"}


async def test_filter_path_applies_to_error_bodies() -> None:
    reply = await call("GET", "/logs/_missing", query="filter_path=status")
    assert reply.status == 404
    assert reply.json() == {"status": 404}


async def test_format_yaml() -> None:
    reply = await call("GET", "/", query="format=yaml&filter_path=name,nested")
    assert reply.headers["content-type"] == "application/yaml"
    assert reply.body.startswith(b"---\n")
    assert yaml.safe_load(reply.body) == {"name": "node", "nested": {"a": 1, "b": [1, 2]}}


# --- limits -------------------------------------------------------------------------------------


async def test_content_length_over_limit_is_413() -> None:
    reply = await call(
        "POST",
        "/i/_echo",
        headers=[*JSON, ("content-length", str(LIMIT + 1))],
        body=b"x" * (LIMIT + 1),
    )
    # ES (Netty's aggregator): 413 with no body, the connection closed, the body never read.
    assert reply.status == 413
    assert reply.headers["x-elastic-product"] == "Elasticsearch"
    assert reply.headers["connection"] == "close"
    assert reply.headers["content-length"] == "0"
    assert reply.body == b""


async def test_streamed_body_over_limit_is_413() -> None:
    chunks = [b"x" * 60, b"x" * 60, b"x" * 60]
    reply = await call("POST", "/i/_echo", headers=JSON, chunks=chunks)
    assert reply.status == 413


async def test_body_at_the_limit_is_fine() -> None:
    body = b'{"a":"' + b"x" * (LIMIT - 8) + b'"}'
    assert len(body) == LIMIT
    reply = await call(
        "POST", "/i/_echo", headers=[*JSON, ("content-length", str(LIMIT))], body=body
    )
    assert reply.status == 200


async def test_bad_content_length_is_ignored() -> None:
    reply = await call("POST", "/i/_echo", headers=[*JSON, ("content-length", "abc")], body=b"{}")
    assert reply.status == 200


# --- errors -------------------------------------------------------------------------------------


async def test_isthmus_error_body() -> None:
    reply = await call("GET", "/logs/_missing")
    assert reply.status == 404
    assert reply.headers["x-elastic-product"] == "Elasticsearch"
    cause = {
        "type": "index_not_found_exception",
        "reason": "no such index [logs]",
        "resource.type": "index_or_alias",
        "resource.id": "logs",
        "index_uuid": "_na_",
        "index": "logs",
    }
    assert reply.json() == {"error": {"root_cause": [cause], **cause}, "status": 404}


async def test_error_trace() -> None:
    reply = await call("GET", "/logs/_missing", query="error_trace=true")
    trace = reply.json()["error"]["stack_trace"]
    assert "IndexNotFoundError" in trace
    assert "stack_trace" not in (await call("GET", "/logs/_missing")).json()["error"]


async def test_unexpected_exception_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="org.elasticsearch.rest.RestController"):
        reply = await call("GET", "/_crash")
    assert reply.status == 500
    assert reply.headers["x-elastic-product"] == "Elasticsearch"
    cause = {"type": "exception", "reason": "RuntimeError: boom"}
    assert reply.json() == {"error": {"root_cause": [cause], **cause}, "status": 500}
    records = [r for r in caplog.records if r.name == "org.elasticsearch.rest.RestController"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "status: 500" in records[0].getMessage()


async def test_app_survives_a_crash() -> None:
    app = RestApp(ROUTER, LIMIT)
    assert (await call("GET", "/_crash", app=app)).status == 500
    assert (await call("GET", "/", app=app)).status == 200
    assert app.in_flight == 0


async def test_no_handler() -> None:
    reply = await call("GET", "/_nope")
    assert reply.status == 400
    assert reply.headers["x-elastic-product"] == "Elasticsearch"
    assert reply.json()["error"] == "no handler found for uri [/_nope] and method [GET]"


async def test_wrong_method_is_405() -> None:
    reply = await call("DELETE", "/logs/_echo")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET,POST,PUT"
    assert reply.json() == {
        "error": "Incorrect HTTP method for uri [/logs/_echo] and method [DELETE], "
        "allowed: [GET, POST, PUT]",
        "status": 405,
    }


async def test_unknown_parameter() -> None:
    reply = await call("GET", "/logs/_echo", query="sise=1")
    assert reply.status == 400
    err = reply.json()["error"]
    assert err["type"] == "illegal_argument_exception"
    assert err["reason"] == (
        "request [/logs/_echo] contains unrecognized parameter: [sise] -> did you mean [size]?"
    )


async def test_body_on_a_body_less_endpoint() -> None:
    reply = await call("GET", "/_odd", headers=JSON, body=b'{"a": 1}')
    assert reply.status == 400
    err = reply.json()["error"]
    assert err["type"] == "illegal_argument_exception"
    assert err["reason"] == "request [GET /_odd] does not support having a body"
    assert (await call("GET", "/_odd", headers=JSON, body=b"  ")).status == 200


async def test_routing_uses_the_raw_path() -> None:
    app = RestApp(ROUTER, LIMIT)
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/a/b/_echo",  # what the server decoded
        "raw_path": b"/a%2Fb/_echo",
        "query_string": b"",
        "headers": [],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"])["path_params"] == {"index": "a/b"}


async def test_common_parameters_are_allowed_everywhere() -> None:
    reply = await call("GET", "/logs/_echo", query="pretty&human=true&error_trace=false")
    assert reply.status == 200


# --- ES's simple error responses (RestController) ----------------------------------------------


async def test_405_lists_methods_in_es_order() -> None:
    reply = await call("PATCH", "/i/_both")
    assert reply.json()["error"] == (
        "Incorrect HTTP method for uri [/i/_both] and method [PATCH], allowed: [GET, DELETE]"
    )


async def test_405_has_allow_header() -> None:
    reply = await call("PATCH", "/i/_both")
    assert reply.headers["allow"] == "GET,DELETE"


async def test_no_handler_body_is_es_simple_form() -> None:
    reply = await call("GET", "/_nope")
    assert reply.json() == {"error": "no handler found for uri [/_nope] and method [GET]"}


async def test_error_uri_includes_query_string() -> None:
    reply = await call("GET", "/_nope", query="v=1")
    assert reply.json()["error"] == "no handler found for uri [/_nope?v=1] and method [GET]"
