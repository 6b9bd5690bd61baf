"""The REST layer's cross-cutting behaviour, seen on the wire: product header and media types,
``pretty``/``filter_path``/``format=yaml``, and the errors ES gives for bad paths, methods,
parameters, content types and bodies (never a 500, and the node keeps serving).

Raw requests go through ``urllib`` so headers and bytes are exactly what the node sent.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message

import orjson
import pytest
import yaml
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import api_error, unique_index

JSON = {"content-type": "application/json"}
VND9 = "application/vnd.elasticsearch+json;compatible-with=9"


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("err-", request)


def raw(
    node: NodeProcess,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    """One HTTP request with no client in between: (status, headers, body bytes)."""
    req = urllib.request.Request(
        node.url + path, data=body, method=method, headers=dict(headers or {})
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


def assert_still_serving(node: NodeProcess) -> None:
    status, _, body = raw(node, "GET", "/")
    assert status == 200
    assert orjson.loads(body)["tagline"] == "You Know, for Search"


# --- headers and media types --------------------------------------------------------------------


def test_product_header_and_plain_json_by_default(node: NodeProcess) -> None:
    status, headers, body = raw(node, "GET", "/")
    assert status == 200
    assert headers["X-Elastic-Product"] == "Elasticsearch"
    assert headers["Content-Type"].startswith("application/json")
    assert orjson.loads(body)["name"] == "node-0"


def test_product_header_on_errors(node: NodeProcess, idx: str) -> None:
    status, headers, _ = raw(node, "GET", f"/{idx}/_doc/1")
    assert status == 404
    assert headers["X-Elastic-Product"] == "Elasticsearch"
    status, headers, _ = raw(node, "GET", "/_nope/x/y")
    assert status == 400
    assert headers["X-Elastic-Product"] == "Elasticsearch"


def test_vendor_media_type_only_when_accept_asks(node: NodeProcess) -> None:
    _, headers, body = raw(node, "GET", "/", headers={"Accept": VND9})
    assert headers["Content-Type"] == VND9
    assert orjson.loads(body)["tagline"] == "You Know, for Search"
    _, headers, _ = raw(node, "GET", "/", headers={"Accept": "application/json"})
    assert headers["Content-Type"].startswith("application/json")


def test_vendor_media_type_echoes_requested_compatible_version(node: NodeProcess) -> None:
    accept = "application/vnd.elasticsearch+json;compatible-with=8"
    _, headers, _ = raw(node, "GET", "/", headers={"Accept": accept})
    assert headers["Content-Type"] == accept


def test_official_client_gets_vendor_type(es: Elasticsearch) -> None:
    resp = es.info()
    assert resp.meta.headers["content-type"] == VND9
    assert resp.meta.headers["x-elastic-product"] == "Elasticsearch"


def test_unsupported_content_type_is_406(node: NodeProcess, idx: str) -> None:
    status, _, body = raw(
        node, "POST", f"/{idx}/_doc", body=b'{"a":1}', headers={"Content-Type": "text/plain"}
    )
    assert status == 406
    # ES answers this one with a "simple" error: a string, not an error object.
    assert orjson.loads(body) == {
        "error": "Content-Type header [text/plain] is not supported",
        "status": 406,
    }


# --- response rendering -------------------------------------------------------------------------


def test_pretty(node: NodeProcess) -> None:
    _, _, compact = raw(node, "GET", "/")
    _, _, pretty = raw(node, "GET", "/?pretty")
    assert b"\n" not in compact.strip()
    assert pretty.endswith(b"\n")
    assert pretty.startswith(b'{\n  "')
    assert orjson.loads(pretty) == orjson.loads(compact)
    _, _, not_pretty = raw(node, "GET", "/?pretty=false")
    assert b"\n" not in not_pretty.strip()


def test_pretty_uses_jackson_separator(node: NodeProcess) -> None:
    # ES pretty-prints with Jackson's default printer: `"key" : value`.
    _, _, pretty = raw(node, "GET", "/?pretty")
    assert b'  "tagline" : "You Know, for Search"\n' in pretty


def test_filter_path(es: Elasticsearch, node: NodeProcess, idx: str) -> None:
    es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": "1"}},
            {"a": 1},
            {"index": {"_index": idx, "_id": "2"}},
            {"a": 2},
        ],
        refresh=True,
    )
    _, _, body = raw(node, "GET", f"/{idx}/_search?filter_path=hits.hits._id&sort=a:asc")
    assert orjson.loads(body) == {"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}}
    _, _, body = raw(node, "GET", f"/{idx}/_search?filter_path=hits.total,_shards.failed")
    assert orjson.loads(body) == {
        "_shards": {"failed": 0},
        "hits": {"total": {"value": 2, "relation": "eq"}},
    }
    _, _, body = raw(node, "GET", f"/{idx}/_search?filter_path=-hits,-_shards,-took")
    assert orjson.loads(body) == {"timed_out": False}
    _, _, body = raw(node, "GET", "/?filter_path=version.number,nothing.here")
    assert list(orjson.loads(body)) == ["version"]


def test_filter_path_through_client(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1}, refresh=True)
    resp = es.search(index=idx, filter_path="hits.hits._source")
    assert resp.body == {"hits": {"hits": [{"_source": {"a": 1}}]}}


def test_format_yaml(node: NodeProcess) -> None:
    status, headers, body = raw(node, "GET", "/?format=yaml")
    assert status == 200
    assert headers["Content-Type"].startswith("application/yaml")
    assert body.startswith(b"---\n")
    _, _, as_json = raw(node, "GET", "/")
    assert yaml.safe_load(body) == orjson.loads(as_json)


# --- routing errors -----------------------------------------------------------------------------


def test_unknown_path_is_400_no_handler(node: NodeProcess) -> None:
    status, _, body = raw(node, "GET", "/_nope/x/y")
    assert status == 400
    # RestController.handleBadRequest writes only an "error" string (no "status").
    assert orjson.loads(body) == {"error": "no handler found for uri [/_nope/x/y] and method [GET]"}


def test_unknown_path_message_names_method_and_path(node: NodeProcess) -> None:
    status, _, body = raw(node, "DELETE", "/_nope/x/y")
    assert status == 400
    assert orjson.loads(body)["error"] == (
        "no handler found for uri [/_nope/x/y] and method [DELETE]"
    )


def test_wrong_method_is_405(node: NodeProcess) -> None:
    status, headers, body = raw(node, "PUT", "/_refresh")
    assert status == 405
    assert orjson.loads(body) == {
        "error": "Incorrect HTTP method for uri [/_refresh] and method [PUT], allowed: [GET, POST]",
        "status": 405,
    }
    assert headers["Allow"] == "GET,POST"


def test_wrong_method_lists_allowed_in_es_method_order(node: NodeProcess, idx: str) -> None:
    # ES prints the allowed set as an EnumSet of RestRequest.Method: GET, POST, PUT, DELETE, ...
    status, _, body = raw(node, "PATCH", f"/{idx}/_doc/1")
    assert status == 405
    assert orjson.loads(body)["error"] == (
        f"Incorrect HTTP method for uri [/{idx}/_doc/1] and method [PATCH], allowed: "
        "[GET, POST, PUT, DELETE, HEAD]"
    )


def test_unknown_parameter_suggests_close_match(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    with pytest.raises(ApiError) as info:
        es.perform_request("GET", f"/{idx}/_search", params={"sizee": "1"})
    assert info.value.meta.status == 400
    assert info.value.body["error"]["type"] == "illegal_argument_exception"
    assert info.value.body["error"]["reason"] == (
        f"request [/{idx}/_search] contains unrecognized parameter: [sizee] -> did you mean [size]?"
    )


def test_several_unknown_parameters(es: Elasticsearch) -> None:
    with pytest.raises(ApiError) as info:
        es.perform_request("GET", "/", params={"zzz": "1", "yyy": "2"})
    assert info.value.body["error"]["reason"] == (
        "request [/] contains unrecognized parameters: [yyy], [zzz]"
    )


# --- bad bodies ---------------------------------------------------------------------------------


def test_malformed_json_search_body_is_400(node: NodeProcess, idx: str) -> None:
    raw(node, "PUT", f"/{idx}")
    status, headers, body = raw(
        node, "POST", f"/{idx}/_search", body=b'{"query": {"match_all"', headers=JSON
    )
    assert status == 400
    assert headers["X-Elastic-Product"] == "Elasticsearch"
    err = orjson.loads(body)["error"]
    assert err["type"] in {"x_content_parse_exception", "parsing_exception", "json_parse_exception"}
    assert orjson.loads(body)["status"] == 400
    assert_still_serving(node)


@pytest.mark.parametrize(
    "payload", [b"{", b"not json", b'{"a": tru}', b'{"a":1}}', b"\xff\xfe", b'{"a": "\\x"}']
)
def test_malformed_json_document_is_400_not_500(
    node: NodeProcess, idx: str, payload: bytes
) -> None:
    status, _, body = raw(node, "PUT", f"/{idx}/_doc/1", body=payload, headers=JSON)
    assert status == 400, body
    assert orjson.loads(body)["status"] == 400
    assert_still_serving(node)


def test_malformed_json_document_error_type(node: NodeProcess, idx: str) -> None:
    status, _, body = raw(node, "PUT", f"/{idx}/_doc/1", body=b'{"a": tru}', headers=JSON)
    assert status == 400
    # Since 8.8 ES reports document parse failures as document_parsing_exception.
    assert orjson.loads(body)["error"]["type"] == "document_parsing_exception"


def test_malformed_json_cluster_settings_is_400(node: NodeProcess) -> None:
    status, _, body = raw(node, "PUT", "/_cluster/settings", body=b'{"persistent": {', headers=JSON)
    assert status == 400
    assert orjson.loads(body)["status"] == 400
    assert_still_serving(node)


def test_wrong_field_type_is_400_and_nothing_written(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, mappings={"properties": {"n": {"type": "long"}}})
    with pytest.raises(ApiError) as info:
        es.index(index=idx, id="1", document={"brand_new": "x", "n": "abc"}, refresh=True)
    assert info.value.meta.status == 400
    assert info.value.body["error"]["type"] in {
        "document_parsing_exception",
        "mapper_parsing_exception",
    }
    assert not es.exists(index=idx, id="1")
    assert es.count(index=idx)["count"] == 0
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props == {"n": {"type": "long"}}  # the failed doc's dynamic field was not added


def test_wrong_field_type_error_matches_es(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, mappings={"properties": {"n": {"type": "long"}}})
    with pytest.raises(ApiError) as info:
        es.index(index=idx, id="1", document={"n": "abc"})
    err = info.value.body["error"]
    assert err["type"] == "document_parsing_exception"
    assert re.fullmatch(
        r"\[1:\d+\] failed to parse field \[n\] of type \[long\] in document "
        r"with id '1'\. Preview of field's value: 'abc'",
        err["reason"],
    )
    assert err["caused_by"]["type"] == "illegal_argument_exception"


def test_oversize_body_is_413(fresh_node: NodeProcess) -> None:
    fresh_node.settings["http.max_content_length"] = "1kb"
    fresh_node.start()
    small = orjson.dumps({"a": "x" * 100})
    status, _, _ = raw(fresh_node, "PUT", "/big/_doc/1", body=small, headers=JSON)
    assert status == 201
    big = orjson.dumps({"a": "x" * 4096})
    status, _, _ = raw(fresh_node, "PUT", "/big/_doc/2", body=big, headers=JSON)
    assert status == 413
    assert_still_serving(fresh_node)
    status, _, body = raw(fresh_node, "GET", "/big/_doc/2")
    assert status == 404
    assert orjson.loads(body)["found"] is False


def test_error_trace_adds_stack_trace(node: NodeProcess, idx: str) -> None:
    _, _, body = raw(node, "GET", f"/{idx}/_search?error_trace=true")
    err = orjson.loads(body)["error"]
    assert err["type"] == "index_not_found_exception"
    assert isinstance(err["stack_trace"], str) and err["stack_trace"]
    _, _, body = raw(node, "GET", f"/{idx}/_search")
    assert "stack_trace" not in orjson.loads(body)["error"]


def test_head_request_has_no_body(node: NodeProcess, idx: str) -> None:
    raw(node, "PUT", f"/{idx}")
    status, _, body = raw(node, "HEAD", f"/{idx}")
    assert (status, body) == (200, b"")
    status, _, body = raw(node, "HEAD", f"/{idx}-missing")
    assert (status, body) == (404, b"")


def test_body_on_endpoint_without_body_is_rejected(node: NodeProcess) -> None:
    status, _, body = raw(node, "GET", "/_cluster/health", body=b'{"a": 1}', headers=JSON)
    assert status == 400
    err = orjson.loads(body)["error"]
    assert err["type"] == "illegal_argument_exception"
    assert err["reason"] == "request [GET /_cluster/health] does not support having a body"


def test_review_findings_are_400s_not_500s(es: Elasticsearch) -> None:
    """Found by the review of issue 14: each was a 500 (or an accepted nonsense value)."""
    status, body = api_error(
        lambda: es.index(
            index="errs-version",
            id="1",
            document={"a": 1},
            version=99999999999999999999,
            version_type="external",
        )
    )
    assert status == 400 and "[version]" in body["error"]["reason"]
    for key, value, reason in (
        (
            "search.max_open_scroll_context",
            -1,
            "Failed to parse value [-1] for setting [search.max_open_scroll_context] must be >= 0",
        ),
        (
            "search.max_keep_alive",
            "-1",
            "failed to parse value [-1] for setting [search.max_keep_alive], must be >= [0ms]",
        ),
    ):
        status, body = api_error(lambda k=key, v=value: es.cluster.put_settings(persistent={k: v}))
        assert (status, body["error"]["reason"]) == (400, reason)
    status, body = api_error(
        lambda: es.indices.create(index="errs-window", settings={"index.max_result_window": -1})
    )
    assert status == 400
    # A format that repeats a field reads it once; an unclosed literal is refused with the
    # mapping, as java.time refuses the pattern in ES.
    es.indices.create(
        index="errs-dates", mappings={"properties": {"d": {"type": "date", "format": "yyyyyyyy"}}}
    )
    assert es.index(index="errs-dates", id="1", document={"d": "20202020"})["result"] == "created"
    status, body = api_error(
        lambda: es.indices.put_mapping(
            index="errs-dates", properties={"q": {"type": "date", "format": "yyyy'T"}}
        )
    )
    assert (status, body["error"]["type"]) == (400, "mapper_parsing_exception")
