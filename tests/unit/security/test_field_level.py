"""Document- and field-level security as values: field visibility, ``_source`` filtering, query
restriction, and the per-index restrictions a request gets from its roles."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, IndexMetadata
from isthmus.errors import ParsingError
from isthmus.index.mapping import Mapping
from isthmus.search import dsl
from isthmus.search.evaluate import EvalDoc, matches
from isthmus.security import field_level
from isthmus.security.authz import Authorizer, IndexAccess, Subject
from isthmus.security.field_level import (
    NOTHING,
    UNRESTRICTED,
    FieldPermissions,
    IndexRestriction,
    IndexRestrictions,
    index_restrictions,
    restrict_query,
    restriction_of,
)
from isthmus.security.roles import FieldSecurity, parse_role

NOW_MS = 1_717_171_717_000
MAPPING = Mapping(
    {
        "properties": {
            "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "secret": {"type": "keyword"},
            "n": {"type": "long"},
            "customer": {
                "properties": {"handle": {"type": "keyword"}, "email": {"type": "keyword"}}
            },
        }
    }
)
DOC = {
    "title": "hello world",
    "secret": "s3",
    "n": 7,
    "customer": {"handle": "jim", "email": "jim@example.com"},
}


def perms(*levels: list[FieldSecurity] | None) -> FieldPermissions:
    built = FieldPermissions.of(*levels)
    assert built is not None
    return built


def grant(*patterns: str, except_: tuple[str, ...] = ()) -> FieldSecurity:
    return FieldSecurity(tuple(patterns), except_)


# --- visibility ---------------------------------------------------------------------------------


def test_field_patterns_run_in_linear_time_on_hostile_field_names() -> None:
    """Field names come from documents (any writer chooses them): a many-star pattern against a
    long name must not backtrack (Python's ``re`` took minutes here)."""
    import time

    fls = perms([grant("*a*a*a*a*a*a*a*b", "/(a+)+b/", except_=("*a*a*a*a*a*c",))])
    started = time.perf_counter()
    assert not fls.allows("a" * 5000)
    assert fls.allows("a" * 50 + "b")
    assert time.perf_counter() - started < 0.5


def test_grant_except_and_wildcards() -> None:
    fls = perms([grant("title*", "customer.*", except_=("customer.email",))])
    assert fls.allows("title") and fls.allows("title.keyword")
    assert fls.allows("customer.handle")
    assert not fls.allows("customer.email")
    assert not fls.allows("secret")
    assert not fls.allows("customer")  # "customer.*" names the leaves, not the object


def test_question_mark_escape_and_regex_patterns() -> None:
    fls = perms([grant("n?", r"a\*b", "/cust[a-z]+\\.h.*/")])
    assert fls.allows("n1") and not fls.allows("n") and not fls.allows("n12")
    assert fls.allows("a*b") and not fls.allows("axb")
    assert fls.allows("customer.handle") and not fls.allows("customer.email")


def test_metadata_fields_are_always_granted_unless_excepted() -> None:
    fls = perms([grant()])
    assert fls.allows("_id") and fls.allows("_index") and fls.allows("_routing")
    assert not fls.allows("title")
    assert not perms([grant("*", except_=("_routing",))]).allows("_routing")


def test_entries_of_one_level_are_ored() -> None:
    # Role A shows title only; role B everything but the secret: together all but the secret.
    fls = perms([grant("title"), grant("*", except_=("secret",))])
    assert fls.allows("title") and fls.allows("n") and not fls.allows("secret")
    # An entry's except does not take away what another entry grants.
    assert perms([grant("secret"), grant("*", except_=("secret",))]).allows("secret")


def test_levels_are_anded_for_api_keys() -> None:
    fls = perms([grant("title", "n")], [grant("*", except_=("n",))])
    assert fls.allows("title")
    assert not fls.allows("n")  # the key grants it, the owner does not
    assert not fls.allows("secret")  # the owner grants it, the key does not


def test_unrestricted_levels_drop_out() -> None:
    assert FieldPermissions.of(None, None) is None
    only = perms(None, [grant("title")])
    assert only.levels == ((grant("title"),),)


def test_repr_and_equality_ignore_the_caches() -> None:
    a, b = perms([grant("title")]), perms([grant("title")])
    a.allows("title")
    assert a == b
    assert "_seen" not in repr(a) and "title" in repr(a)


# --- _source ------------------------------------------------------------------------------------


def test_filter_source_keeps_visible_leaves_and_drops_emptied_objects() -> None:
    fls = perms([grant("title", "customer.handle")])
    assert fls.filter_source(DOC) == {"title": "hello world", "customer": {"handle": "jim"}}
    assert perms([grant("n")]).filter_source(DOC) == {"n": 7}
    assert perms([grant("customer")]).filter_source(DOC) == {}


def test_filter_source_arrays_dotted_keys_and_nesting() -> None:
    source: dict[str, Any] = {
        "tags": ["a", "b"],
        "people": [{"name": "x", "ssn": 1}, {"ssn": 2}, "loose"],
        "matrix": [[1, 2], []],
        "customer.handle": "dotted",
        "empty": [],
        "nothing": None,
    }
    fls = perms([grant("tags", "people.name", "matrix", "customer.handle", "empty", "nothing")])
    assert fls.filter_source(source) == {
        "tags": ["a", "b"],
        "people": [{"name": "x"}],  # "loose" belongs to "people", which is not granted
        "matrix": [[1, 2]],  # emptied arrays disappear, as in ES
        "customer.handle": "dotted",
        "nothing": None,
    }


def test_filter_source_with_except_only() -> None:
    fls = perms([grant("*", except_=("customer.email", "secret"))])
    assert fls.filter_source(DOC) == {
        "title": "hello world",
        "n": 7,
        "customer": {"handle": "jim"},
    }


# --- queries ------------------------------------------------------------------------------------


def visible(query: dict[str, Any], fls: FieldPermissions, doc: dict[str, Any] = DOC) -> bool:
    restricted = restrict_query(dsl.parse_query(query), fls, MAPPING)
    return matches(restricted, EvalDoc("1", doc), MAPPING, now_ms=NOW_MS)


@pytest.mark.parametrize(
    "query",
    [
        {"term": {"secret": "s3"}},
        {"terms": {"secret": ["s3", "x"]}},
        {"match": {"secret": "s3"}},
        {"prefix": {"secret": "s"}},
        {"wildcard": {"secret": "s*"}},
        {"regexp": {"secret": "s.*"}},
        {"fuzzy": {"secret": "s3x"}},
        {"range": {"n": {"gte": 1}}},
        {"exists": {"field": "secret"}},
        {"exists": {"field": "customer.email"}},
        {"match_phrase": {"title": "hello world"}},
        {"multi_match": {"query": "s3", "fields": ["secret", "title"]}},
        {"query_string": {"query": "secret:s3"}},
        {"query_string": {"query": "s3"}},
        {"bool": {"filter": [{"term": {"secret": "s3"}}]}},
        {"constant_score": {"filter": {"term": {"secret": "s3"}}}},
        {"dis_max": {"queries": [{"term": {"secret": "s3"}}]}},
    ],
)
def test_queries_on_hidden_fields_match_nothing(query: dict[str, Any]) -> None:
    everything = perms([grant("*")])
    hidden = perms([grant("*", except_=("secret", "n", "title", "customer.email"))])
    assert visible(query, everything)
    assert not visible(query, hidden)


def test_queries_on_visible_fields_are_unchanged() -> None:
    fls = perms([grant("title", "customer.*")])
    queries: list[dict[str, Any]] = [
        {"match": {"title": "hello"}},
        {"term": {"customer.handle": "jim"}},
        {"exists": {"field": "customer"}},
        {"ids": {"values": ["1"]}},
        {"term": {"_id": "1"}},
        {"match_all": {}},
    ]
    for query in queries:
        parsed = dsl.parse_query(query)
        assert restrict_query(parsed, fls, MAPPING) == parsed
        assert visible(query, fls)


def test_must_not_on_a_hidden_field_excludes_nothing() -> None:
    fls = perms([grant("title")])
    assert visible({"bool": {"must_not": [{"term": {"secret": "s3"}}]}}, fls)


def test_multi_match_patterns_expand_to_visible_fields_only() -> None:
    fls = perms([grant("*", except_=("secret",))])
    query = dsl.parse_query({"multi_match": {"query": "s3"}})  # fields default to "*"
    restricted = restrict_query(query, fls, MAPPING)
    assert isinstance(restricted, dsl.MultiMatch)
    # "*" reaches text and keyword fields only, and stays lenient as it was.
    assert [f for f, _ in restricted.fields] == [
        "title",
        "title.keyword",
        "customer.handle",
        "customer.email",
    ]
    assert restricted.lenient
    boosted = dsl.parse_query({"multi_match": {"query": "jim", "fields": ["cust*^2", "secret"]}})
    out = restrict_query(boosted, fls, MAPPING)
    assert isinstance(out, dsl.MultiMatch)
    assert out.fields == (("customer.handle", 2.0), ("customer.email", 2.0))
    assert visible({"multi_match": {"query": "jim", "fields": ["cust*"]}}, fls)


def test_exists_on_an_object_keeps_its_visible_leaves() -> None:
    fls = perms([grant("customer.email")])
    restricted = restrict_query(
        dsl.parse_query({"exists": {"field": "customer", "boost": 2}}), fls, MAPPING
    )
    assert restricted == dsl.ConstantScore(
        filter=dsl.Bool(should=(dsl.Exists(field="customer.email"),)), boost=2.0
    )
    assert not visible({"exists": {"field": "customer"}}, fls, {"customer": {"handle": "jim"}})


# --- restrictions -------------------------------------------------------------------------------


def test_restriction_of_access_levels() -> None:
    assert restriction_of(IndexAccess(True)) is UNRESTRICTED
    access = IndexAccess(
        True,
        queries=('{"term": {"secret": "s3"}}', '{"term": {"n": 1}}'),
        limited_queries=('{"match_all": {}}',),
        fields=(grant("title"),),
    )
    restriction = restriction_of(access)
    assert restriction.queries == (
        (dsl.Term(field="secret", value="s3"), dsl.Term(field="n", value=1)),
        (dsl.MatchAll(),),
    )
    assert restriction.fields == perms([grant("title")])
    with pytest.raises(ParsingError):
        restriction_of(IndexAccess(True, queries=("{not json",)))


def test_admits_ands_levels_and_ors_queries() -> None:
    one_of = IndexRestriction(((dsl.Term(field="secret", value="x"), dsl.Range(field="n", gte=5)),))
    assert one_of.admits("1", DOC, MAPPING, NOW_MS)
    both = IndexRestriction(
        ((dsl.Range(field="n", gte=5),), (dsl.Term(field="secret", value="x"),))
    )
    assert not both.admits("1", DOC, MAPPING, NOW_MS)
    assert UNRESTRICTED.admits("1", DOC, MAPPING, NOW_MS)


def test_role_queries_see_hidden_fields() -> None:
    # DLS on a field FLS hides still selects documents, as in ES.
    restriction = IndexRestriction(
        ((dsl.Term(field="secret", value="s3"),),), perms([grant("title")])
    )
    assert restriction.admits("1", DOC, MAPPING, NOW_MS)
    assert restriction.source(DOC) == {"title": "hello world"}


def test_unknown_index_shows_nothing() -> None:
    restrictions = IndexRestrictions({"a": UNRESTRICTED})
    assert restrictions.of("a") is UNRESTRICTED
    assert restrictions.of("b") is NOTHING
    assert not NOTHING.admits("1", DOC, MAPPING, NOW_MS)
    assert NOTHING.source(DOC) == {}


def _meta(name: str, aliases: tuple[str, ...] = ()) -> IndexMetadata:
    return IndexMetadata(
        name=name,
        uuid=name + "-uuid",
        settings={},
        mapping=MAPPING,
        aliases={a: AliasMetadata(a) for a in aliases},
    )


STATE = ClusterMetadata(
    "c",
    {m.name: m for m in (_meta("docs", ("view",)), _meta("other"), _meta("logs-1"))},
)
SEARCH = "indices:data/read/search"


def _subject(*indices: dict[str, Any], limited_by: list[dict[str, Any]] | None = None) -> Subject:
    role = parse_role("r", {"indices": list(indices)})
    owner = None if limited_by is None else (parse_role("o", {"indices": limited_by}),)
    return Subject("u", ("r",), (role,), owner, api_key_id=None if limited_by is None else "key")


def test_index_restrictions_per_concrete_index() -> None:
    subject = _subject(
        {"names": ["docs"], "privileges": ["read"], "query": {"term": {"secret": "s3"}}},
        {"names": ["other"], "privileges": ["read"]},
        {"names": ["logs-*"], "privileges": ["read"], "field_security": {"grant": ["title"]}},
    )
    out = index_restrictions(Authorizer(), subject, SEARCH, ["docs", "other", "logs-*"], STATE)
    assert out.of("docs").queries == ((dsl.Term(field="secret", value="s3"),),)
    assert out.of("other") is UNRESTRICTED
    assert out.of("logs-1").fields == perms([grant("title")])
    # Names the subject may not read, or that do not exist, add nothing.
    assert (
        index_restrictions(Authorizer(), subject, SEARCH, ["nope", "-docs"], STATE).by_index == {}
    )
    assert index_restrictions(Authorizer(), None, SEARCH, ["docs"], STATE).by_index == {}


def test_an_alias_passes_its_grant_to_its_indices_and_names_union() -> None:
    subject = _subject(
        {"names": ["view"], "privileges": ["read"], "query": {"term": {"n": 7}}},
        {"names": ["docs"], "privileges": ["read"], "query": {"term": {"secret": "s3"}}},
    )
    via_alias = index_restrictions(Authorizer(), subject, SEARCH, ["view"], STATE)
    assert via_alias.of("docs").queries == ((dsl.Term(field="n", value=7),),)
    both = index_restrictions(Authorizer(), subject, SEARCH, ["view", "docs"], STATE)
    assert both.of("docs").queries == (
        (dsl.Term(field="n", value=7), dsl.Term(field="secret", value="s3")),
    )
    open_alias = _subject(
        {"names": ["view"], "privileges": ["read"]},
        {"names": ["docs"], "privileges": ["read"], "field_security": {"grant": ["title"]}},
    )
    assert (
        index_restrictions(Authorizer(), open_alias, SEARCH, ["docs", "view"], STATE).of("docs")
        is UNRESTRICTED
    )


def test_api_key_restrictions_keep_both_levels() -> None:
    subject = _subject(
        {"names": ["docs"], "privileges": ["read"], "field_security": {"grant": ["title", "n"]}},
        limited_by=[
            {
                "names": ["*"],
                "privileges": ["read"],
                "query": {"range": {"n": {"gte": 5}}},
                "field_security": {"grant": ["*"], "except": ["n"]},
            }
        ],
    )
    out = index_restrictions(Authorizer(), subject, SEARCH, ["docs"], STATE).of("docs")
    assert out.queries == ((dsl.Range(field="n", gte=5),),)
    assert out.fields is not None
    assert out.fields.filter_source(DOC) == {"title": "hello world"}


def test_field_level_is_a_no_io_module() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(field_level.__file__).read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = {"asyncio", "socket", "ssl", "subprocess", "sqlite3", "uvicorn"}
    assert not {m for m in imported if m.split(".")[0] in forbidden}


def test_a_backing_index_named_directly_gets_its_data_stream_s_grant() -> None:
    """ES's data stream privileges: what a stream's name grants, its backing indices named
    directly get too (``GET .ds-logs-web-...-000001/_doc/2`` with ``read`` on ``logs-web``),
    with that grant's DLS/FLS; the wildcard and explicit guards let them through."""
    from isthmus.cluster.data_streams import DataStream, with_streams
    from isthmus.security.index_authorization import NOTHING as NO_INDEX
    from isthmus.security.index_authorization import IndexAuthorization

    backing = ".ds-logs-web-2026.12.07-000001"
    state = with_streams(
        ClusterMetadata("c", {backing: _meta(backing), "docs": _meta("docs")}),
        {"logs-web": DataStream("logs-web", (backing,))},
    )
    subject = _subject(
        {"names": ["logs-*"], "privileges": ["read"], "field_security": {"grant": ["title"]}}
    )
    out = index_restrictions(Authorizer(), subject, SEARCH, [backing], state)
    assert out.of(backing).fields == perms([grant("title")])
    guard = IndexAuthorization(lambda: state, Authorizer())
    assert guard.narrow(subject, SEARCH, backing) == backing
    assert guard.narrow(subject, SEARCH, ".ds-logs-*") == backing
    assert guard.item_allowed(subject, "indices:data/read/get", backing) is None
    # Nothing else is granted through a stream: another index stays refused.
    assert guard.item_allowed(subject, SEARCH, "docs") is not None
    assert guard.narrow(subject, SEARCH, "doc*") == NO_INDEX
