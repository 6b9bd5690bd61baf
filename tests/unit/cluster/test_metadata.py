"""Cluster metadata values: name rules with ES's messages, and JSON round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.cluster.metadata import (
    AliasMetadata,
    ClusterMetadata,
    IndexMetadata,
    new_uuid,
    validate_alias_name,
    validate_index_name,
)
from isthmus.errors import InvalidAliasNameError, InvalidIndexNameError
from isthmus.index.mapping import Mapping

FORBIDDEN_MSG = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'

# --- index names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["logs", "logs-2024.01.02", ".hidden", "a" * 255, "é" * 127, "idx_1", "x+y", "a..b"]
)
def test_valid_index_names(name: str) -> None:
    validate_index_name(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "must not be empty"),
        ("a b", FORBIDDEN_MSG),
        ('a"b', FORBIDDEN_MSG),
        ("a*", FORBIDDEN_MSG),
        ("a\\b", FORBIDDEN_MSG),
        ("a<b", FORBIDDEN_MSG),
        ("a|b", FORBIDDEN_MSG),
        ("a,b", FORBIDDEN_MSG),
        ("a>b", FORBIDDEN_MSG),
        ("a/b", FORBIDDEN_MSG),
        ("a?", FORBIDDEN_MSG),
        ("a#b", "must not contain '#'"),
        ("a:b", "must not contain ':'"),
        ("_a", "must not start with '_', '-', or '+'"),
        ("-a", "must not start with '_', '-', or '+'"),
        ("+a", "must not start with '_', '-', or '+'"),
        ("Logs", "must be lowercase"),
        (".", "must not be '.' or '..'"),
        ("..", "must not be '.' or '..'"),
        ("a" * 256, "index name is too long, (256 > 255)"),
        ("é" * 128, "index name is too long, (256 > 255)"),
    ],
)
def test_invalid_index_names(name: str, why: str) -> None:
    with pytest.raises(InvalidIndexNameError) as info:
        validate_index_name(name)
    err = info.value
    assert err.reason == f"Invalid index name [{name}], {why}"
    assert err.extra == {"index_uuid": "_na_", "index": name}
    assert err.to_body()["error"]["type"] == "invalid_index_name_exception"
    assert err.http_status == 400


def test_too_long_is_reported_before_lowercase() -> None:
    with pytest.raises(InvalidIndexNameError) as info:
        validate_index_name("A" * 256)
    assert info.value.reason.endswith("index name is too long, (256 > 255)")


# --- alias names --------------------------------------------------------------------------------


def test_valid_alias_name() -> None:
    validate_alias_name("current")
    validate_alias_name(".alias", "idx")


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ("_a", "must not start with '_', '-', or '+'"),
        ("a*", FORBIDDEN_MSG),
        ("", "must not be empty"),
        ("a#", "must not contain '#'"),
    ],
)
def test_invalid_alias_names(alias: str, why: str) -> None:
    with pytest.raises(InvalidAliasNameError) as info:
        validate_alias_name(alias)
    assert info.value.reason == f"Invalid alias name [{alias}]: {why}"
    assert info.value.to_body()["error"]["type"] == "invalid_alias_name_exception"


def test_alias_names_may_have_upper_case() -> None:
    validate_alias_name("MyAlias")


def test_new_uuid_shape() -> None:
    ids = {new_uuid() for _ in range(50)}
    assert len(ids) == 50
    for one in ids:
        assert len(one) == 22
        assert set(one) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# --- aliases ------------------------------------------------------------------------------------


def test_alias_to_json_omits_unset() -> None:
    assert AliasMetadata("a").to_json() == {}
    full = AliasMetadata(
        "a",
        filter={"term": {"user": "kimchy"}},
        index_routing="1",
        search_routing="1,2",
        is_write_index=False,
        is_hidden=True,
    )
    assert full.to_json() == {
        "filter": {"term": {"user": "kimchy"}},
        "index_routing": "1",
        "search_routing": "1,2",
        "is_write_index": False,
        "is_hidden": True,
    }


def test_alias_routing_sets_both() -> None:
    alias = AliasMetadata.from_json("a", {"routing": "r"})
    assert alias.index_routing == "r"
    assert alias.search_routing == "r"
    alias = AliasMetadata.from_json("a", {"routing": "r", "search_routing": "s"})
    assert (alias.index_routing, alias.search_routing) == ("r", "s")


_json_scalar = st.one_of(st.text(max_size=5), st.integers(), st.booleans())
_filters = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["term", "match"]),
        st.dictionaries(st.text(min_size=1, max_size=4), _json_scalar, max_size=2),
        min_size=1,
        max_size=1,
    ),
)
_aliases = st.builds(
    AliasMetadata,
    name=st.text(alphabet="abc", min_size=1, max_size=5),
    filter=_filters,
    index_routing=st.none() | st.text(max_size=3),
    search_routing=st.none() | st.text(max_size=3),
    is_write_index=st.none() | st.booleans(),
    is_hidden=st.none() | st.booleans(),
)


@given(_aliases)
def test_alias_json_round_trip(alias: AliasMetadata) -> None:
    assert AliasMetadata.from_json(alias.name, alias.to_json()) == alias


# --- indices and the cluster --------------------------------------------------------------------

MAPPING_BODY: dict[str, Any] = {
    "properties": {
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        "n": {"type": "long"},
    }
}


def index(name: str = "logs", **kw: Any) -> IndexMetadata:
    defaults: dict[str, Any] = {
        "uuid": "u-" + name,
        "settings": {"index.number_of_shards": "3", "index.number_of_replicas": "0"},
        "mapping": Mapping(MAPPING_BODY),
    }
    defaults.update(kw)
    return IndexMetadata(name=name, **defaults)


def test_index_properties() -> None:
    meta = index(settings={"index.number_of_shards": "3", "index.hidden": "true"})
    assert meta.number_of_shards == 3
    assert meta.number_of_replicas == 1
    assert meta.hidden is True
    assert meta.is_open is True
    assert index(state="close").is_open is False
    assert index(settings={}).number_of_shards == 1
    assert meta.setting("index.codec", "default") == "default"


def test_with_mapping_bumps_versions() -> None:
    meta = index()
    newer = meta.with_mapping(Mapping({"properties": {"x": {"type": "keyword"}}}))
    assert newer.version == meta.version + 1
    assert newer.mapping_version == meta.mapping_version + 1
    assert newer.settings_version == meta.settings_version
    assert newer.mapping.field("x") is not None
    assert meta.mapping.field("x") is None


def test_index_json_round_trip() -> None:
    meta = index(
        aliases={"cur": AliasMetadata("cur", is_write_index=True)},
        state="close",
        creation_date=1_700_000_000_000,
        version=7,
        mapping_version=3,
        settings_version=2,
        aliases_version=4,
    )
    body = meta.to_json()
    assert body["name"] == "logs"
    assert body["mappings"] == MAPPING_BODY
    assert body["aliases"] == {"cur": {"is_write_index": True}}
    again = IndexMetadata.from_json(body)
    assert again == meta
    assert again.mapping.fields.keys() == meta.mapping.fields.keys()


def test_index_from_json_defaults() -> None:
    meta = IndexMetadata.from_json({"name": "a", "uuid": "u", "settings": {}})
    assert meta.state == "open"
    assert meta.aliases == {}
    assert meta.mapping == Mapping({})
    assert (meta.version, meta.mapping_version, meta.creation_date) == (1, 1, 0)


@given(
    st.dictionaries(
        st.text(alphabet="abcdef", min_size=1, max_size=6),
        st.tuples(
            st.sampled_from(["open", "close"]),
            st.dictionaries(st.sampled_from(["x", "y"]), _aliases, max_size=2),
            st.integers(0, 2**40),
        ),
        max_size=4,
    ),
    st.dictionaries(st.sampled_from(["search.max_buckets", "logger.x"]), st.text(max_size=4)),
    st.integers(0, 10**6),
)
def test_cluster_json_round_trip(
    specs: dict[str, tuple[str, dict[str, AliasMetadata], int]],
    persistent: dict[str, str],
    version: int,
) -> None:
    indices = {
        name: index(
            name,
            state=state,
            aliases={
                k: AliasMetadata(k, a.filter, is_write_index=a.is_write_index)
                for k, a in al.items()
            },
            creation_date=created,
        )
        for name, (state, al, created) in specs.items()
    }
    meta = ClusterMetadata("cu", indices=indices, persistent=persistent, version=version)
    assert ClusterMetadata.from_json(meta.to_json()) == meta


def test_transient_settings_are_not_serialised() -> None:
    meta = ClusterMetadata("cu", persistent={"a": "1"}, transient={"b": "2"})
    again = ClusterMetadata.from_json(meta.to_json())
    assert again.persistent == {"a": "1"}
    assert again.transient == {}


def test_cluster_lookups() -> None:
    a = index("a", aliases={"all": AliasMetadata("all"), "one": AliasMetadata("one")})
    b = index("b", aliases={"all": AliasMetadata("all")})
    meta = ClusterMetadata("cu", indices={"a": a, "b": b})
    assert meta.index("a") is a
    assert meta.index("zz") is None
    assert meta.by_uuid("u-b") is b
    assert meta.by_uuid("nope") is None
    assert meta.aliases() == {"all": [a, b], "one": [a]}


def test_setting_transient_over_persistent() -> None:
    meta = ClusterMetadata("cu", persistent={"k": "p", "only": "p"}, transient={"k": "t"})
    assert meta.setting("k") == "t"
    assert meta.setting("only") == "p"
    assert meta.setting("missing") is None
