"""Hypothesis strategies for hostile REST request bodies (used by the fuzz suite).

Each strategy builds bodies that are *nearly* right: the real keys of an Elasticsearch API with,
at any place, a value of the wrong kind, out of range, absurdly large or deeply nested. A body
built only of random JSON would be refused at the first key and exercise nothing; a body of only
valid values would find nothing. The mix is what reaches the parsers' corners.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Fields of the fuzz index (see the suite's fixture) plus names that are not mapped.
FIELDS = ("title", "tag", "count", "price", "when", "flag", "missing_field", "*", "", "title.x")

_EDGE_INTS = (0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, 8 * 10**15)
_EDGE_FLOATS = (0.5, -0.0, 1e308, -1e308, 1e-308, 8e15, -8e15, 3.4e38)
_EDGE_STRINGS = (
    "",
    "abc",
    "-1",
    "1e400",
    "NaN",
    "now-1d/d",
    "2020-01-01",
    "99999-99-99",
    "AUTO",
    "1d",
    "-1s",
    "*",
    "(a+)+b",
    "a" * 300,
    "{key}",
    "\u0000",
    "\ud7ff\ue000",
)

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(_EDGE_INTS),
    st.integers(-1000, 1000),
    st.sampled_from(_EDGE_FLOATS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_EDGE_STRINGS),
    st.text(max_size=12),
)

# Any JSON value, shallow or not.
hostile: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(("a", "field", "query", "value", "", "1")), inner, max_size=3
        ),
    ),
    max_leaves=8,
)


def nested(depth: int, inner: Any, wrap: str) -> Any:
    """``inner`` wrapped ``depth`` times in ``{wrap: ...}`` (deep bodies built without recursion
    in the test itself)."""
    value = inner
    for _ in range(depth):
        value = {wrap: value}
    return value


def either(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, now and then anything (one bad value per body is what finds
    bugs; a body bad everywhere is refused at its first key)."""
    return st.one_of(good, good, good, good, hostile)


def _options(
    spec: dict[str, st.SearchStrategy[Any]], max_keys: int = 3
) -> st.SearchStrategy[dict[str, Any]]:
    """An object with up to ``max_keys`` of ``spec``'s keys (each value plausible or hostile),
    sometimes with a key nobody knows."""
    unknown = "unknown_key"

    def build(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {k: hostile if k == unknown else either(spec[k]) for k in keys}
        )

    # An unknown key is refused at once wherever it is: keep it rare.
    names = [*sorted(spec) * 8, unknown]
    chosen = st.lists(st.sampled_from(names), max_size=max_keys, unique=True)
    return chosen.flatmap(build)


fields = st.sampled_from(FIELDS)
ints = st.one_of(st.integers(-5, 50), st.sampled_from(_EDGE_INTS))
numbers = st.one_of(ints, st.sampled_from(_EDGE_FLOATS))
texts = st.one_of(st.sampled_from(_EDGE_STRINGS), st.text(max_size=8))
bools = st.one_of(st.booleans(), st.sampled_from(("true", "false", "yes")))


def _leaf_query() -> st.SearchStrategy[dict[str, Any]]:
    def single(name: str, opts: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
        body = st.one_of(texts, numbers, _options(opts))
        return st.builds(lambda f, b: {name: {f: b}}, fields, either(body))

    return st.one_of(
        st.just({"match_all": {}}),
        st.builds(lambda b: {"match_none": b}, hostile),
        single("term", {"value": scalars, "case_insensitive": bools, "boost": numbers}),
        st.builds(lambda f, v: {"terms": {f: v}}, fields, either(st.lists(scalars, max_size=4))),
        single(
            "match",
            {
                "query": texts,
                "operator": st.sampled_from(("and", "or", "xor")),
                "fuzziness": st.one_of(texts, ints),
                "prefix_length": ints,
                "minimum_should_match": st.one_of(texts, ints),
                "lenient": bools,
                "zero_terms_query": texts,
            },
        ),
        single("match_phrase", {"query": texts, "slop": ints, "max_expansions": ints}),
        single("match_phrase_prefix", {"query": texts, "slop": ints, "max_expansions": ints}),
        single(
            "range",
            {
                "gt": numbers,
                "gte": st.one_of(numbers, texts),
                "lt": numbers,
                "lte": st.one_of(numbers, texts),
                "format": texts,
                "time_zone": texts,
                "relation": texts,
            },
        ),
        st.builds(lambda f: {"exists": {"field": f}}, either(fields)),
        st.builds(lambda v: {"ids": {"values": v}}, either(st.lists(texts, max_size=3))),
        single("prefix", {"value": texts, "case_insensitive": bools}),
        single("wildcard", {"value": texts, "case_insensitive": bools}),
        single("regexp", {"value": texts, "flags": texts, "max_determinized_states": ints}),
        single(
            "fuzzy", {"value": texts, "fuzziness": st.one_of(texts, ints), "prefix_length": ints}
        ),
        st.builds(
            lambda b: {"multi_match": b},
            _options(
                {
                    "query": texts,
                    "fields": st.lists(st.one_of(fields, texts), max_size=3),
                    "type": texts,
                    "slop": ints,
                    "tie_breaker": numbers,
                }
            ),
        ),
        st.builds(
            lambda b: {"query_string": b}, _options({"query": texts, "default_field": fields})
        ),
        st.builds(
            lambda b: {"simple_query_string": b}, _options({"query": texts, "fields": hostile})
        ),
    )


def _compound(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    clauses = st.one_of(inner, st.lists(inner, max_size=3))
    return st.one_of(
        st.builds(
            lambda b: {"bool": b},
            _options(
                {
                    "must": clauses,
                    "should": clauses,
                    "filter": clauses,
                    "must_not": clauses,
                    "minimum_should_match": st.one_of(texts, ints),
                    "boost": numbers,
                }
            ),
        ),
        st.builds(lambda f, b: {"constant_score": {"filter": f, "boost": b}}, inner, numbers),
        st.builds(lambda q, t: {"dis_max": {"queries": q, "tie_breaker": t}}, clauses, numbers),
    )


queries: st.SearchStrategy[Any] = st.recursive(_leaf_query(), _compound, max_leaves=6)


def _agg_body() -> st.SearchStrategy[dict[str, Any]]:
    source = {"field": fields, "missing": scalars, "format": texts}
    kinds: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "terms": {
            **source,
            "size": ints,
            "shard_size": ints,
            "min_doc_count": ints,
            "order": hostile,
            "include": st.one_of(texts, st.lists(texts, max_size=2)),
            "exclude": st.one_of(texts, st.lists(texts, max_size=2)),
        },
        "histogram": {
            **source,
            "interval": numbers,
            "offset": numbers,
            "min_doc_count": ints,
            "extended_bounds": _options({"min": numbers, "max": numbers}),
            "hard_bounds": _options({"min": numbers, "max": numbers}),
        },
        "date_histogram": {
            **source,
            "calendar_interval": st.sampled_from(("1d", "month", "1M", "2d", "x")),
            "fixed_interval": st.sampled_from(("1d", "1ms", "1000000d", "0s", "-1d", "x")),
            "offset": texts,
            "time_zone": texts,
            "min_doc_count": ints,
            "extended_bounds": _options({"min": numbers, "max": numbers}),
        },
        "range": {
            **source,
            "ranges": st.lists(_options({"from": numbers, "to": numbers}), max_size=3),
        },
        "date_range": {
            **source,
            "ranges": st.lists(_options({"from": texts, "to": texts}), max_size=3),
        },
        "avg": source,
        "sum": source,
        "min": source,
        "max": source,
        "stats": source,
        "extended_stats": {**source, "sigma": numbers},
        "value_count": source,
        "cardinality": {**source, "precision_threshold": ints},
        "percentiles": {**source, "percents": st.lists(numbers, max_size=3)},
        "top_hits": {"size": ints, "from": ints, "sort": hostile, "_source": hostile},
        "missing": source,
        "global": {},
        "filters": {
            "filters": st.one_of(
                st.dictionaries(texts, queries, max_size=2), st.lists(queries, max_size=2)
            )
        },
    }
    return st.one_of(
        *(st.builds(lambda b, k=k: {k: b}, _options(spec)) for k, spec in kinds.items()),
        st.builds(lambda q: {"filter": q}, either(queries)),
        st.builds(lambda b: {"no_such_agg": b}, hostile),
    )


aggs: st.SearchStrategy[Any] = st.recursive(
    st.dictionaries(texts, _agg_body(), min_size=1, max_size=2),
    lambda inner: st.dictionaries(
        texts, st.builds(lambda a, s: {**a, "aggs": s}, _agg_body(), inner), min_size=1, max_size=2
    ),
    max_leaves=4,
)

sorts = st.one_of(
    fields,
    st.lists(
        st.one_of(
            fields,
            st.builds(
                lambda f, o: {f: o},
                fields,
                either(
                    st.one_of(
                        st.sampled_from(("asc", "desc", "up")),
                        _options({"order": texts, "missing": scalars, "unmapped_type": texts}),
                    )
                ),
            ),
        ),
        max_size=3,
    ),
)

search_bodies: st.SearchStrategy[dict[str, Any]] = _options(
    {
        "query": queries,
        "post_filter": queries,
        "aggs": aggs,
        "from": ints,
        "size": ints,
        "sort": sorts,
        "search_after": st.lists(scalars, max_size=2),
        "_source": st.one_of(
            bools,
            texts,
            st.lists(texts, max_size=2),
            _options({"includes": hostile, "excludes": hostile}),
        ),
        "highlight": _options(
            {
                "fields": st.one_of(
                    st.dictionaries(
                        fields,
                        _options({"fragment_size": ints, "number_of_fragments": ints}),
                        max_size=2,
                    ),
                    st.lists(
                        st.dictionaries(fields, st.just({}), min_size=1, max_size=1), max_size=2
                    ),
                ),
                "pre_tags": st.lists(texts, max_size=2),
                "post_tags": st.lists(texts, max_size=2),
                "fragment_size": ints,
                "number_of_fragments": ints,
            }
        ),
        "min_score": numbers,
        "track_total_hits": st.one_of(bools, ints),
        "timeout": texts,
        "terminate_after": ints,
        "version": bools,
        "explain": bools,
        "fields": st.lists(
            st.one_of(fields, _options({"field": fields, "format": texts})), max_size=2
        ),
        "docvalue_fields": hostile,
        "stored_fields": hostile,
    }
)

# URL parameters a search takes, with awkward values.
search_params = st.fixed_dictionaries(
    {},
    optional={
        "size": st.sampled_from(("10", "-1", "abc", "99999999999999999999")),
        "from": st.sampled_from(("0", "-5", "1e3")),
        "timeout": st.sampled_from(("1s", "abc", "-1", "99999999999999999d")),
        "sort": st.sampled_from(("title:asc", "count:up", ",")),
        "q": texts,
        "track_total_hits": st.sampled_from(("true", "-2", "x")),
    },
)

_PROPERTY = st.deferred(
    lambda: _options(
        {
            "type": st.one_of(
                st.sampled_from(
                    (
                        "text",
                        "keyword",
                        "long",
                        "integer",
                        "double",
                        "date",
                        "boolean",
                        "object",
                        "nested",
                        "ip",
                        "nope",
                    )
                ),
                hostile,
            ),
            "properties": st.dictionaries(texts, _PROPERTY, max_size=2),
            "fields": st.dictionaries(
                texts, _options({"type": st.sampled_from(("keyword", "text", "x"))}), max_size=2
            ),
            "format": texts,
            "ignore_above": ints,
            "index": bools,
            "null_value": scalars,
            "analyzer": texts,
            "dynamic": st.one_of(bools, texts),
        }
    )
)

mappings: st.SearchStrategy[Any] = either(
    _options(
        {
            "properties": st.dictionaries(
                st.one_of(texts, st.just("a.b.c")), _PROPERTY, max_size=3
            ),
            "dynamic": st.one_of(bools, st.sampled_from(("strict", "runtime", "x"))),
            "_source": _options({"enabled": bools, "includes": hostile}),
            "date_detection": bools,
            "dynamic_templates": hostile,
        }
    )
)

index_settings: st.SearchStrategy[Any] = either(
    _options(
        {
            "number_of_shards": st.one_of(ints, texts),
            "number_of_replicas": st.one_of(ints, texts),
            "refresh_interval": texts,
            "max_result_window": st.one_of(ints, texts),
            "index": hostile,
        }
    )
)

create_index_bodies: st.SearchStrategy[Any] = _options(
    {"mappings": mappings, "settings": index_settings, "aliases": hostile}
)

cluster_settings_bodies: st.SearchStrategy[Any] = _options(
    {
        "persistent": either(
            st.dictionaries(
                st.sampled_from(
                    (
                        "search.max_buckets",
                        "cluster.remote.r1.seeds",
                        "cluster.remote.r1.skip_unavailable",
                        "action.auto_create_index",
                        "indices.recovery.max_bytes_per_sec",
                        "logger.org.elasticsearch",
                        "no.such.setting",
                        "search",
                    )
                ),
                st.one_of(scalars, st.lists(scalars, max_size=2), st.just({})),
                max_size=2,
            )
        ),
        "transient": hostile,
    }
)

_DOC_META = {
    "_index": st.sampled_from(("fuzz-docs", "fuzz-docs", "UPPER", "", "_bad", "a" * 300)),
    "_id": st.one_of(texts, ints),
    "routing": scalars,
    "if_seq_no": ints,
    "if_primary_term": ints,
    "retry_on_conflict": ints,
    "version": ints,
    "version_type": st.sampled_from(("internal", "external", "external_gte", "force")),
    "require_alias": bools,
    "op_type": st.sampled_from(("create", "index", "x")),
}

documents: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "title": either(texts),
            "tag": either(texts),
            "count": either(numbers),
            "price": either(numbers),
            "when": either(texts),
            "flag": either(bools),
            "obj": hostile,
        },
    ),
    hostile,
)


def _bulk_item() -> st.SearchStrategy[list[Any]]:
    action = st.sampled_from(("index", "create", "update", "delete", "upsert"))

    def lines(name: str, meta: Any, doc: Any, update: Any) -> list[Any]:
        first = {name: meta}
        if name == "delete":
            return [first]
        return [first, update if name == "update" else doc]

    return st.builds(
        lines,
        action,
        either(_options(_DOC_META)),
        documents,
        _options(
            {"doc": documents, "upsert": documents, "doc_as_upsert": bools, "detect_noop": bools}
        ),
    )


bulk_items = st.lists(_bulk_item(), min_size=1, max_size=4)

user_bodies: st.SearchStrategy[Any] = _options(
    {
        "password": st.one_of(texts, st.sampled_from(("long-enough-pw", "x" * 100, "é" * 40))),
        "password_hash": st.one_of(
            texts,
            st.just("$2b$10$" + "a" * 53),
            st.just("$2a$04$abcdefghijklmnopqrstuuJlvKN3/G1BZQx2lqMRQ7r5zvY/3fQ6C"),
        ),
        "roles": st.lists(texts, max_size=2),
        "full_name": texts,
        "email": texts,
        "metadata": hostile,
        "enabled": bools,
    }
)

_PRIVILEGES = st.sampled_from(("read", "all", "write", "manage", "monitor", "nope", ""))

role_bodies: st.SearchStrategy[Any] = _options(
    {
        "cluster": st.lists(_PRIVILEGES, max_size=2),
        "indices": st.lists(
            _options(
                {
                    "names": st.one_of(texts, st.lists(texts, max_size=2)),
                    "privileges": st.lists(_PRIVILEGES, max_size=2),
                    "query": st.one_of(queries, texts),
                    "field_security": _options({"grant": hostile, "except": hostile}),
                    "allow_restricted_indices": bools,
                }
            ),
            max_size=2,
        ),
        "remote_indices": hostile,
        "run_as": st.lists(texts, max_size=2),
        "metadata": hostile,
        "applications": hostile,
    }
)

api_key_bodies: st.SearchStrategy[Any] = _options(
    {
        "name": texts,
        "expiration": st.sampled_from(("1d", "abc", "-1s", "99999999999d", "")),
        "role_descriptors": either(st.dictionaries(texts, role_bodies, max_size=2)),
        "metadata": hostile,
    }
)


# --- URL parameters -------------------------------------------------------------------------------

PARAM_VALUES = (
    "",
    "true",
    "false",
    "maybe",
    "0",
    "-1",
    "-5",
    "1",
    "abc",
    "1e400",
    "99999999999999999999",
    "2147483648",
    "1s",
    "-5m",
    "99999999999d",
    "{key}",
    "*",
    "_all",
    "_none",
    "green",
    "purple",
    "open,closed",
    "a,,b",
    "\u00e9",
)
PARAM_NAMES = (
    "timeout",
    "master_timeout",
    "size",
    "from",
    "scroll",
    "keep_alive",
    "wait_for_completion_timeout",
    "wait_for_status",
    "wait_for_nodes",
    "wait_for_active_shards",
    "wait_for_events",
    "level",
    "expand_wildcards",
    "ignore_unavailable",
    "allow_no_indices",
    "refresh",
    "routing",
    "version",
    "version_type",
    "if_seq_no",
    "if_primary_term",
    "_source",
    "_source_includes",
    "_source_excludes",
    "stored_fields",
    "preference",
    "realtime",
    "search_type",
    "track_total_hits",
    "track_scores",
    "request_cache",
    "flat_settings",
    "include_defaults",
    "local",
    "bytes",
    "time",
    "h",
    "s",
    "v",
    "help",
    "format",
    "filter_path",
    "human",
    "error_trace",
    "q",
    "df",
    "default_operator",
    "lenient",
    "terminate_after",
    "typed_keys",
    "rest_total_hits_as_int",
    "ccs_minimize_roundtrips",
    "allow_partial_search_results",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "sort",
    "actions",
    "detailed",
    "nodes",
    "group_by",
    "require_alias",
    "op_type",
    "retry_on_conflict",
    "wait_for_completion",
    "name",
    "owner",
    "with_limited_by",
    "active_only",
    "id",
    "username",
    "realm_name",
    "skip_unavailable",
)

url_params = st.dictionaries(
    st.sampled_from(PARAM_NAMES),
    st.one_of(st.sampled_from(PARAM_VALUES), st.text(max_size=6)),
    max_size=3,
)

# (method, path, body strategy or None): what the URL-parameter property calls.
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("GET", "/"),
    ("GET", "/_cluster/health"),
    ("GET", "/_cluster/health/fuzz-docs"),
    ("GET", "/_cluster/state"),
    ("GET", "/_cluster/state/metadata"),
    ("GET", "/_cluster/settings"),
    ("GET", "/_nodes"),
    ("GET", "/_nodes/stats"),
    ("GET", "/_nodes/_local/stats"),
    ("GET", "/_tasks"),
    ("GET", "/_remote/info"),
    ("GET", "/_resolve/cluster/fuzz-*"),
    ("GET", "/_cat/indices"),
    ("GET", "/_cat/health"),
    ("GET", "/_cat/nodes"),
    ("GET", "/_cat/aliases"),
    ("GET", "/_cat/shards"),
    ("GET", "/_stats"),
    ("GET", "/fuzz-docs/_stats"),
    ("GET", "/fuzz-docs"),
    ("GET", "/fuzz-docs/_mapping"),
    ("GET", "/fuzz-docs/_settings"),
    ("GET", "/_alias"),
    ("GET", "/fuzz-docs/_search"),
    ("GET", "/fuzz-docs/_count"),
    ("GET", "/fuzz-docs/_doc/0"),
    ("GET", "/fuzz-docs/_source/0"),
    ("HEAD", "/fuzz-docs/_doc/0"),
    ("GET", "/_security/_authenticate"),
    ("GET", "/_security/user"),
    ("GET", "/_security/role"),
    ("GET", "/_security/api_key"),
    ("GET", "/_security/user/_privileges"),
    ("GET", "/_ssl/certificates"),
    ("POST", "/fuzz-docs/_refresh"),
    ("POST", "/fuzz-docs/_search"),
    ("POST", "/_async_search"),
)


# --- bodies of the other APIs ---------------------------------------------------------------------

# Keys these APIs read, so that a generated body gets past "unknown key" often enough.
BODY_VOCABULARY = (
    "query",
    "scroll",
    "scroll_id",
    "keep_alive",
    "ids",
    "name",
    "names",
    "owner",
    "username",
    "realm_name",
    "password",
    "cluster",
    "index",
    "privileges",
    "application",
    "access",
    "search",
    "replication",
    "expiration",
    "metadata",
    "role_descriptors",
    "fields",
    "index_filter",
    "runtime_mappings",
    "actions",
    "settings",
    "properties",
    "size",
    "from",
    "sort",
    "search_after",
    "secure_settings_password",
)

generic_bodies: st.SearchStrategy[Any] = st.dictionaries(
    st.sampled_from(BODY_VOCABULARY), either(hostile), max_size=3
)

BODY_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("POST", "/fuzz-docs/_count"),
    ("POST", "/_search/scroll"),
    ("DELETE", "/_search/scroll"),
    ("POST", "/fuzz-docs/_async_search"),
    ("POST", "/fuzz-docs/_field_caps"),
    ("POST", "/_security/user/_has_privileges"),
    ("DELETE", "/_security/api_key"),
    ("POST", "/_security/_query/api_key"),
    ("PUT", "/_security/api_key/no-such-key"),
    ("POST", "/_security/cross_cluster/api_key"),
    ("POST", "/_security/user/fuzz-user/_password"),
    ("POST", "/_aliases"),
    ("PUT", "/fuzz-docs/_settings"),
    ("PUT", "/fuzz-docs/_mapping"),
    ("POST", "/_tasks/_cancel"),
    ("POST", "/_nodes/reload_secure_settings"),
    ("POST", "/fuzz-docs/_mget"),
    ("POST", "/fuzz-docs/_update/0"),
)

msearch_headers: st.SearchStrategy[dict[str, Any]] = _options(
    {
        "index": st.one_of(st.just("fuzz-docs"), texts, st.lists(texts, max_size=2)),
        "search_type": texts,
        "preference": texts,
        "routing": scalars,
        "request_cache": bools,
        "ignore_unavailable": bools,
        "expand_wildcards": st.one_of(texts, st.lists(texts, max_size=2)),
        "allow_partial_search_results": bools,
    }
)
msearch_pairs = st.lists(
    st.tuples(msearch_headers, st.one_of(search_bodies, hostile)), min_size=1, max_size=3
)
