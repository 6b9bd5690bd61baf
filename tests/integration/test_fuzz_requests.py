"""Fuzzing the REST layer with hostile bodies: never a 5xx, never a stalled node.

One real node (security on, so the security APIs are reachable) receives generated search bodies,
mappings and index creations, bulk lines, cluster settings and user/role/API key bodies: the real
keys of each API with, anywhere, a value of the wrong kind, out of range or nested too deep (see
``tests/fuzz_strategies.py``). Every answer must be a 2xx or a 4xx, and a 4xx must have ES's error
shape (``error.type``, ``error.reason``, ``status``). Meanwhile a thread polls
``GET /_cluster/health``; no poll may take a second.

Hypothesis runs derandomized (a fixed sequence, the same on every run) with a bounded number of
examples per property, so the suite is repeatable and takes seconds.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from elasticsearch import ApiError, Elasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.testing.process import NodeProcess
from tests import fuzz_strategies as fs

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEALTH_LIMIT_S = 1.0
# Hypothesis warns when a failing example's strategy repr is large; ours are, by design.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@dataclass
class Target:
    node: NodeProcess
    es: Elasticsearch
    auth: str
    watch: HealthWatch

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A JSON body through the official client; (status, parsed body)."""
        payload = None if body is None else _dumps(body)
        headers = {"accept": "application/json"}
        if payload is not None:
            headers["content-type"] = "application/json"
        try:
            resp = self.es.perform_request(method, path, headers=headers, body=payload)
        except ApiError as exc:
            return exc.meta.status, exc.body
        return resp.meta.status, resp.body

    def raw(self, method: str, path: str, data: bytes, ctype: str) -> tuple[int, Any]:
        """Bytes the client would not send (malformed JSON, NDJSON), over plain HTTP."""
        url = urlsplit(self.node.url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
        try:
            conn.request(
                method, path, body=data, headers={"Content-Type": ctype, "Authorization": self.auth}
            )
            resp = conn.getresponse()
            text = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


@dataclass
class HealthWatch:
    """Polls ``GET /_cluster/health`` from its own thread and keeps the slowest answer."""

    url: str
    auth: str
    slowest: float = 0.0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        parts = urlsplit(self.url)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
                conn.request("GET", "/_cluster/health", headers={"Authorization": self.auth})
                status = conn.getresponse().status
                conn.close()
                if status != 200:
                    self.failures.append(f"health answered {status}")
            except OSError as exc:
                self.failures.append(f"health failed: {exc!r}")
            self.slowest = max(self.slowest, time.monotonic() - started)
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()


def _dumps(value: Any) -> bytes:
    # The deep-nesting cases go past the json module's default recursion allowance.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return json.dumps(value).encode()
    finally:
        sys.setrecursionlimit(limit)


def _elastic_password(node: NodeProcess) -> str:
    text = (node.home / "stderr.log").read_text()
    line = next(li for li in text.splitlines() if "password for the [elastic] user" in li)
    return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Target]:
    node = NodeProcess(
        tmp_path_factory.mktemp("fuzz"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    node.start()
    password = _elastic_password(node)
    record_secret(password)
    auth = "Basic " + base64.b64encode(f"elastic:{password}".encode()).decode()
    es = Elasticsearch(
        node.url,
        basic_auth=("elastic", password),
        request_timeout=30,
        max_retries=0,
        retry_on_status=(),
    )
    es.indices.create(
        index="fuzz-docs",
        mappings={
            "properties": {
                "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                "tag": {"type": "keyword"},
                "count": {"type": "long"},
                "price": {"type": "double"},
                "when": {"type": "date"},
                "flag": {"type": "boolean"},
            }
        },
    )
    for i in range(6):
        es.index(
            index="fuzz-docs",
            id=str(i),
            document={
                "title": f"quick brown fox {i}",
                "tag": ["a", "b", "c"][i % 3],
                "count": i * 7,
                "price": i / 3,
                "when": f"2024-0{i + 1}-15",
                "flag": i % 2 == 0,
            },
        )
    es.indices.refresh(index="fuzz-docs")
    watch = HealthWatch(node.url, auth)
    thread = threading.Thread(target=watch.run, name="health-watch", daemon=True)
    thread.start()
    yield Target(node, es, auth, watch)
    watch.stop()
    thread.join(5)
    es.close()
    node.stop()


def check(target: Target, status: int, body: Any, what: str, *, shaped: bool = True) -> None:
    """2xx, or a 4xx with ES's error shape (unless the request asked for another rendering);
    and the node kept answering health checks."""
    assert status < 500, f"{what} -> {status}: {str(body)[:600]}"
    if isinstance(body, dict) and "is_running" in body:
        shaped = False  # a failed async search answers its own shape with the failure's status
    if shaped and status >= 400 and status != 404:
        assert isinstance(body, dict), f"{what} -> {status} without a JSON body: {body!r:.300}"
        error = body.get("error")
        assert isinstance(error, dict), f"{what} -> {status}: {body!r:.300}"
        assert isinstance(error.get("type"), str) and isinstance(error.get("reason"), str), body
        assert body.get("status") == status, body
    assert not target.watch.failures, target.watch.failures
    assert target.watch.slowest < HEALTH_LIMIT_S, f"health took {target.watch.slowest:.2f}s"


def _short(value: Any) -> str:
    return _dumps(value)[:300].decode(errors="replace")


@FUZZ
@given(body=fs.search_bodies, params=fs.search_params)
def test_search_bodies(target: Target, body: dict[str, Any], params: dict[str, str]) -> None:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    path = "/fuzz-docs/_search" + (f"?{query}" if query else "")
    status, answer = target.send("POST", path, body)
    check(target, status, answer, f"search {path} {_short(body)}")


@FUZZ
@given(body=fs.create_index_bodies, n=st.integers(0, 10**9))
def test_index_creation_and_mappings(target: Target, body: dict[str, Any], n: int) -> None:
    name = f"fuzz-create-{n}"
    status, answer = target.send("PUT", f"/{name}", body)
    check(target, status, answer, f"create {_short(body)}")
    mapping = body.get("mappings")
    status, answer = target.send("PUT", "/fuzz-docs/_mapping", mapping if mapping else {})
    check(target, status, answer, f"put mapping {_short(mapping)}")
    if status < 300:
        target.send("DELETE", f"/{name}")


@FUZZ
@given(items=fs.bulk_items)
def test_bulk_lines(target: Target, items: list[list[Any]]) -> None:
    lines = [json.dumps(line) for item in items for line in item]
    data = ("\n".join(lines) + "\n").encode()
    status, answer = target.raw("POST", "/_bulk", data, "application/x-ndjson")
    check(target, status, answer, f"bulk {data[:300]!r}")
    if status == 200:
        for item in answer["items"]:
            ((_, result),) = item.items()
            assert result["status"] < 500, result


@FUZZ
@given(doc=fs.documents, update=fs.hostile)
def test_single_document_writes(target: Target, doc: Any, update: Any) -> None:
    status, answer = target.send("POST", "/fuzz-docs/_doc/fuzzed", doc)
    check(target, status, answer, f"index {_short(doc)}")
    status, answer = target.send("POST", "/fuzz-docs/_update/fuzzed", {"doc": update})
    check(target, status, answer, f"update {_short(update)}")
    status, answer = target.send("POST", "/fuzz-docs/_mget", {"docs": update})
    check(target, status, answer, f"mget {_short(update)}")


@FUZZ
@given(body=fs.cluster_settings_bodies)
def test_cluster_settings_bodies(target: Target, body: dict[str, Any]) -> None:
    status, answer = target.send("PUT", "/_cluster/settings", body)
    check(target, status, answer, f"cluster settings {_short(body)}")
    if status == 200:  # leave nothing behind for the next example
        reset = {
            scope: dict.fromkeys(answer.get(scope) or {}) for scope in ("persistent", "transient")
        }
        target.send("PUT", "/_cluster/settings", reset)


@FUZZ
@given(
    user=fs.user_bodies,
    role=fs.role_bodies,
    key=fs.api_key_bodies,
    name=st.sampled_from(("fuzz-user", "fuzz user", "", "a" * 600, "elastic")),
)
def test_security_bodies(
    target: Target, user: dict[str, Any], role: dict[str, Any], key: dict[str, Any], name: str
) -> None:
    status, answer = target.send("PUT", f"/_security/role/fuzz-role{len(name)}", role)
    check(target, status, answer, f"role {_short(role)}")
    if name != "elastic":  # the fuzz must not lock the suite's own user out
        status, answer = target.send("PUT", f"/_security/user/{name or '%20'}", user)
        check(target, status, answer, f"user {name!r} {_short(user)}")
    status, answer = target.send("POST", "/_security/api_key", key)
    check(target, status, answer, f"api key {_short(key)}")


@settings(FUZZ, max_examples=60)
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.sampled_from(
            (
                b"{",
                b'{"query":',
                b"[" * 2000 + b"]" * 2000,
                b'{"a":' * 1100 + b"1" + b"}" * 1100,
                b'{"size": 1e999}',
                b'{"size": -0}',
                b'{"query": {"match_all": {}}} trailing',
                b"\xff\xfe{}",
                b'{"\\ud800": 1}',
            )
        ),
    ),
    path=st.sampled_from(
        (
            "/fuzz-docs/_search",
            "/fuzz-docs/_doc/raw",
            "/_cluster/settings",
            "/fuzz-docs/_mapping",
            "/_security/user/raw-user",
            "/fuzz-docs/_update/0",
            "/_bulk",
        )
    ),
)
def test_malformed_bytes(target: Target, data: bytes, path: str) -> None:
    method = "PUT" if path in ("/_cluster/settings", "/fuzz-docs/_mapping") else "POST"
    status, answer = target.raw(method, path, data, "application/json")
    check(target, status, answer, f"{path} {data[:200]!r}")


def _bool_chain(depth: int) -> dict[str, Any]:
    query: dict[str, Any] = {"match_all": {}}
    for _ in range(depth):
        query = {"bool": {"must": [query]}}
    return {"query": query}


def _terms_chain(depth: int) -> dict[str, Any]:
    agg: dict[str, Any] = {"terms": {"field": "tag"}}
    for _ in range(depth):
        agg = {"terms": {"field": "tag"}, "aggs": {"x": agg}}
    return {"size": 0, "aggs": {"x": agg}}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/fuzz-docs/_search", _bool_chain(400)),
        ("POST", "/fuzz-docs/_search", _bool_chain(31)),
        ("POST", "/fuzz-docs/_search", _terms_chain(200)),
        ("POST", "/fuzz-docs/_doc/deep", fs.nested(900, 1, "a")),
        ("PUT", "/_cluster/settings", {"persistent": fs.nested(990, 1, "a")}),
        ("PUT", "/fuzz-docs/_settings", fs.nested(990, 1, "a")),
        ("PUT", "/_security/role/deep", {"metadata": fs.nested(260, 1, "a")}),
        (
            "PUT",
            "/_security/user/deep",
            {"password": "long-enough", "metadata": fs.nested(260, 1, "a")},
        ),
        ("POST", "/_security/api_key", {"name": "deep", "metadata": fs.nested(260, 1, "a")}),
        (
            "POST",
            "/fuzz-docs/_search",
            {"aggs": {"x": {"terms": {"field": "tag"}, "meta": fs.nested(260, 1, "a")}}},
        ),
        (
            "POST",
            "/_aliases",
            {
                "actions": [
                    {
                        "add": {
                            "index": "fuzz-docs",
                            "alias": "deep",
                            "filter": fs.nested(260, 1, "a"),
                        }
                    }
                ]
            },
        ),
        ("PUT", "/fuzz-deep", {"mappings": {"properties": fs.nested(300, {}, "properties")}}),
    ],
    ids=[
        "bool-400",
        "bool-31",
        "terms-200",
        "document-900",
        "cluster-settings-990",
        "index-settings-990",
        "role-metadata-260",
        "user-metadata-260",
        "api-key-metadata-260",
        "aggregation-meta-260",
        "alias-filter-260",
        "mapping-300",
    ],
)
def test_deep_nesting(target: Target, method: str, path: str, body: Any) -> None:
    # Each is past a depth limit (ES's, or the one every stored or echoed body keeps to): a 400,
    # never a RecursionError nor a body the node stores and cannot encode.
    status, answer = target.send(method, path, body)
    assert 400 <= status < 500, (status, str(answer)[:300])
    check(target, status, answer, path)


# --- the cases the adversarial review of issue 14 found (each was a 500) --------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error_type", "reason"),
    [
        (
            "POST",
            "/fuzz-docs/_search",
            {"min_score": []},
            400,
            "parsing_exception",
            "Unknown key for a START_ARRAY in [min_score].",
        ),
        (
            "POST",
            "/fuzz-docs/_search",
            {"query": {"match_phrase": {"title": {"query": "quick fox", "slop": -1}}}},
            400,
            "illegal_argument_exception",
            "No negative slop allowed.",
        ),
        (
            "POST",
            "/fuzz-docs/_search",
            {"query": {"range": {"count": [1, 2]}}},
            400,
            "parsing_exception",
            "[range] query malformed, no start_object after query name",
        ),
        (
            "POST",
            "/fuzz-docs/_search",
            {"query": {"range": {"count": {"gte": [1]}}}},
            400,
            "x_content_parse_exception",
            "[range] gte doesn't support values of type: START_ARRAY",
        ),
        (
            "POST",
            "/fuzz-docs/_search",
            {"query": {"match": {"title": "fox"}}, "highlight": {"fields": ["title"]}},
            400,
            "parsing_exception",
            "If highlighter fields is an array it must contain objects containing a single field",
        ),
        (
            "PUT",
            "/fuzz-mappings-list",
            {"mappings": []},
            400,
            "parse_exception",
            "key [mappings] must be an object",
        ),
        (
            "POST",
            "/fuzz-docs/_mget",
            {"docs": [1, 2]},
            400,
            "parsing_exception",
            "docs array element should include an object but found [1]",
        ),
        (
            "POST",
            "/fuzz-docs/_update/0",
            {"doc": "str"},
            400,
            "x_content_parse_exception",
            "[UpdateRequest] doc doesn't support values of type: VALUE_STRING",
        ),
        (
            "PUT",
            "/_cluster/settings",
            {"transient": 1e308},
            400,
            "x_content_parse_exception",
            "[cluster_update_settings_request] transient doesn't support values of type: "
            "VALUE_NUMBER",
        ),
        (
            "PUT",
            "/_cluster/settings",
            {"persistent": {"logger.org.elasticsearch": "LOUD"}},
            400,
            "illegal_argument_exception",
            "Unknown level constant [LOUD].",
        ),
        (
            "GET",
            "/_cluster/health?timeout=abc",
            None,
            400,
            "illegal_argument_exception",
            "failed to parse setting [timeout] with value [abc] as a time value: unit is missing "
            "or unrecognized",
        ),
        (
            "POST",
            "/_security/api_key",
            {"name": "k", "metadata": [1]},
            400,
            "x_content_parse_exception",
            "[api_key_request] metadata doesn't support values of type: START_ARRAY",
        ),
        (
            "PUT",
            "/_security/user/hashed",
            {"password_hash": "not-a-hash", "roles": []},
            400,
            "illegal_argument_exception",
            "The provided password hash is not a hash or it could not be resolved to a supported "
            "hash algorithm. The supported password hash algorithms are [bcrypt, bcrypt4, bcrypt5, "
            "bcrypt6, bcrypt7, bcrypt8, bcrypt9, bcrypt10, bcrypt11, bcrypt12, bcrypt13, bcrypt14]",
        ),
    ],
    ids=[
        "min_score-array",
        "negative-slop",
        "range-array",
        "range-bound-array",
        "highlight-fields-strings",
        "mappings-array",
        "mget-docs-numbers",
        "update-doc-string",
        "cluster-settings-number",
        "logger-level",
        "timeout-param",
        "api-key-metadata-array",
        "password-hash",
    ],
)
def test_review_cases_are_400s(
    target: Target,
    method: str,
    path: str,
    body: Any,
    status: int,
    error_type: str,
    reason: str,
) -> None:
    got, answer = target.send(method, path, body)
    assert got == status, answer
    assert answer["error"]["type"] == error_type, answer
    assert answer["error"]["reason"] == reason, answer


def test_unknown_fields_are_refused_with_es_suggestion(target: Target) -> None:
    # ES's object parsers: "[<parser>] unknown field [<key>]" and its "did you mean", as an
    # x_content_parse_exception (the body's own parser, or the one wrapping the inner parser).
    cases = [
        (
            "PUT",
            "/_cluster/settings",
            {"persistant": {}},
            "[cluster_update_settings_request] unknown field [persistant] "
            "did you mean [persistent]?",
        ),
        (
            "POST",
            "/_security/api_key",
            {"name": "k", "expiraton": "1d"},
            "[api_key_request] unknown field [expiraton] did you mean [expiration]?",
        ),
        (
            "POST",
            "/fuzz-docs/_search",
            {"size": 0, "aggs": {"a": {"terms": {"feld": "title"}}}},
            # the key's location in the client's compact JSON, as ES's ObjectParser shows it
            "[1:38] [terms] unknown field [feld] did you mean [field]?",
        ),
        (
            # The body is parsed before the target is looked at, as ES's REST layer does.
            "POST",
            "/fuzz-docs/_rollover",
            {"condition": {}},
            "[rollover] unknown field [condition] did you mean [conditions]?",
        ),
    ]
    for method, path, body, reason in cases:
        status, answer = target.send(method, path, body)
        assert status == 400, answer
        assert answer["error"]["type"] == "x_content_parse_exception", answer
        assert answer["error"]["reason"] == reason, answer
    # A range inside the range aggregation: the aggregation's failure, the entry's as the cause.
    status, answer = target.send(
        "POST",
        "/fuzz-docs/_search",
        {"size": 0, "aggs": {"a": {"range": {"field": "count", "ranges": [{"fro": 1}]}}}},
    )
    assert status == 400, answer
    assert answer["error"]["reason"] == "[range] failed to parse field [ranges]", answer
    assert answer["error"]["root_cause"][0] == {
        "type": "x_content_parse_exception",
        "reason": "[range] unknown field [fro] did you mean [from]?",
    }


def test_bulk_retry_on_conflict_below_zero(target: Target) -> None:
    data = (
        b'{"update":{"_index":"fuzz-docs","_id":"0","retry_on_conflict":-1}}\n{"doc":{"count":1}}\n'
    )
    status, answer = target.raw("POST", "/_bulk", data, "application/x-ndjson")
    assert status == 400, answer
    assert answer["error"]["type"] == "action_request_validation_exception"
    assert answer["error"]["reason"] == (
        "Validation Failed: 1: retry_on_conflict must be greater than or equal to 0;"
    )


def test_aliases_action_that_is_not_an_object(target: Target) -> None:
    status, answer = target.send("POST", "/_aliases", {"actions": [{"add": "str"}]})
    check(target, status, answer, "_aliases add str")
    assert status == 400, answer


def test_highlight_fields_as_an_array_of_objects(target: Target) -> None:
    # ES's other accepted form of ``fields`` (ordered): it highlights like the object form.
    status, answer = target.send(
        "POST",
        "/fuzz-docs/_search",
        {"query": {"match": {"title": "fox"}}, "highlight": {"fields": [{"title": {}}]}},
    )
    assert status == 200, answer
    assert answer["hits"]["hits"][0]["highlight"]["title"][0].count("<em>fox</em>") == 1


def test_dates_far_from_now(target: Target) -> None:
    # ES dates are longs of milliseconds: ±8e15 is year ±255,000, outside Python's datetime.
    target.send("PUT", "/fuzz-far-dates", {"mappings": {"properties": {"w": {"type": "date"}}}})
    for i, millis in enumerate((8 * 10**15, -8 * 10**15)):
        status, answer = target.send("PUT", f"/fuzz-far-dates/_doc/{i}?refresh=true", {"w": millis})
        assert status == 201, answer
    hist = {"date_histogram": {"field": "w", "fixed_interval": "1000000d"}}
    status, answer = target.send(
        "POST", "/fuzz-far-dates/_search", {"size": 0, "aggs": {"h": hist}}
    )
    assert status == 200, answer
    keys = [b["key_as_string"] for b in answer["aggregations"]["h"]["buckets"]]
    assert keys[0].startswith("-") and keys[-1].startswith("+"), keys  # signed years, as java.time
    calendar = {"date_histogram": {"field": "w", "calendar_interval": "year"}}
    status, answer = target.send(
        "POST", "/fuzz-far-dates/_search", {"size": 0, "aggs": {"h": calendar}}
    )
    check(target, status, answer, "calendar rounding of far dates")
    status, answer = target.send("PUT", "/fuzz-far-dates/_doc/x", {"w": "1e400"})
    assert status == 400, answer
    assert answer["error"]["type"] == "document_parsing_exception", answer


def test_password_over_72_bytes(target: Target, record_secret: Callable[[str], None]) -> None:
    long_password = "p" * 72 + "-the-rest-counts"
    record_secret(long_password)
    status, answer = target.send(
        "PUT", "/_security/user/long-pw", {"password": long_password, "roles": []}
    )
    assert status == 200, answer

    def authenticate(password: str) -> int:
        token = base64.b64encode(f"long-pw:{password}".encode()).decode()
        url = urlsplit(target.node.url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        conn.request("GET", "/_security/_authenticate", headers={"Authorization": f"Basic {token}"})
        status = conn.getresponse().status
        conn.close()
        return status

    assert authenticate(long_password) == 200
    # bcrypt alone reads 72 bytes: a password sharing them must still be refused.
    assert authenticate("p" * 72 + "-something-else") == 401
    assert authenticate("p" * 72) == 401


def test_password_hash_that_is_a_bcrypt_hash(target: Target) -> None:
    import bcrypt

    password = "hash-supplied-pw"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    status, answer = target.send(
        "PUT", "/_security/user/hash-user", {"password_hash": hashed, "roles": []}
    )
    assert status == 200, answer
    token = base64.b64encode(f"hash-user:{password}".encode()).decode()
    url = urlsplit(target.node.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("GET", "/_security/_authenticate", headers={"Authorization": f"Basic {token}"})
    assert conn.getresponse().status == 200
    conn.close()


def test_documents_as_deep_as_responses_can_hold(target: Target) -> None:
    # Without a mapping for them (dynamic: false) deep objects used to be stored, then every GET
    # or search returning them failed to render: a plain-text 500.
    target.send("PUT", "/fuzz-deep-docs", {"mappings": {"dynamic": False}})
    status, answer = target.send(
        "PUT", "/fuzz-deep-docs/_doc/ok?refresh=true", fs.nested(99, 1, "a")
    )
    assert status == 201, answer
    for query in ("", "?pretty", "?filter_path=_source", "?format=yaml"):
        status, _ = target.raw("GET", f"/fuzz-deep-docs/_doc/ok{query}", b"", "application/json")
        assert status == 200, query
    status, answer = target.send("PUT", "/fuzz-deep-docs/_doc/no", fs.nested(150, 1, "a"))
    assert status == 400, answer
    assert answer["error"] == {
        "root_cause": [answer["error"]["root_cause"][0]],
        "type": "document_parsing_exception",
        "reason": "Document nesting depth (101) exceeds the maximum allowed (100)",
    }


@FUZZ
@given(endpoint=st.sampled_from(fs.ENDPOINTS), params=fs.url_params)
def test_url_parameters(target: Target, endpoint: tuple[str, str], params: dict[str, str]) -> None:
    method, path = endpoint
    query = urlencode(params)
    full = f"{path}?{query}" if query else path
    status, answer = target.raw(method, full, b"", "application/json")
    # HEAD has no body, filter_path may filter the error away, format may ask for text or YAML.
    shaped = (
        method != "HEAD" and "filter_path" not in params and params.get("format") in (None, "json")
    )
    check(target, status, answer, f"{method} {full}", shaped=shaped)


@FUZZ
@given(endpoint=st.sampled_from(fs.BODY_ENDPOINTS), body=fs.generic_bodies)
def test_other_api_bodies(target: Target, endpoint: tuple[str, str], body: dict[str, Any]) -> None:
    method, path = endpoint
    status, answer = target.send(method, path, body)
    check(target, status, answer, f"{method} {path} {_short(body)}")


@FUZZ
@given(
    pairs=fs.msearch_pairs,
    path=st.sampled_from(("/_msearch", "/fuzz-docs/_msearch?max_concurrent_searches=2")),
)
def test_msearch_lines(target: Target, pairs: list[tuple[Any, Any]], path: str) -> None:
    data = "".join(f"{json.dumps(h)}\n{json.dumps(b)}\n" for h, b in pairs).encode()
    status, answer = target.raw("POST", path, data, "application/x-ndjson")
    check(target, status, answer, f"msearch {data[:300]!r}")
    if status == 200:
        for one in answer["responses"]:
            assert one["status"] < 500, one


@pytest.mark.parametrize(
    ("query", "header", "reason"),
    [
        ("?max_concurrent_searches=abc", {}, "Failed to parse int parameter"),
        ("?max_concurrent_searches=-1", {}, "maxConcurrentSearchRequests must be positive"),
        ("", {"index": {"a": 1}}, "[msearch] index doesn't support values of type: START_OBJECT"),
        ("", {"routing": [1, {}]}, "[msearch] routing doesn't support values of type"),
    ],
)
def test_msearch_typed_header_and_parameters(
    target: Target, query: str, header: dict[str, Any], reason: str
) -> None:
    data = f"{json.dumps(header)}\n{{}}\n".encode()
    status, answer = target.raw("POST", f"/fuzz-docs/_msearch{query}", data, "application/x-ndjson")
    assert status == 400, answer
    assert answer["error"]["reason"].startswith(reason), answer
