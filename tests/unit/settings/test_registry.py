"""The settings registry: lookup by scope, affix keys, coercion messages, flatten and nest."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import IllegalArgumentError, SettingsError
from isthmus.settings import catalog
from isthmus.settings import registry as r
from isthmus.settings import values as v

UNKNOWN_TAIL = (
    "please check that any required plugins are installed, or check the breaking changes "
    "documentation for removed settings"
)

# --- find ---------------------------------------------------------------------------------------


def test_find_exact_key_in_scope() -> None:
    setting = catalog.find("cluster.name", [r.Scope.NODE])
    assert setting is not None
    assert setting.key == "cluster.name"
    assert setting.default == "isthmus"
    assert setting.scope is r.Scope.NODE


def test_find_respects_scope() -> None:
    assert catalog.find("index.number_of_shards", [r.Scope.NODE, r.Scope.CLUSTER]) is None
    assert catalog.find("cluster.name", [r.Scope.INDEX]) is None
    found = catalog.find("search.max_buckets", [r.Scope.NODE, r.Scope.CLUSTER])
    assert found is not None
    assert found.dynamic is True


def test_find_unknown_key() -> None:
    assert catalog.find("no.such.setting", list(r.Scope)) is None


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("node.attr.rack", "node.attr.*"),
        ("node.attr.zone.sub", "node.attr.*"),
        ("logger.org.elasticsearch.transport", "logger.*"),
        ("logger._root", "logger.*"),
    ],
)
def test_find_affix_settings(key: str, pattern: str) -> None:
    setting = catalog.find(key, [r.Scope.NODE, r.Scope.CLUSTER])
    assert setting is not None
    assert setting.key == pattern
    assert setting.is_affix


@pytest.mark.parametrize("key", ["node.attr", "logger"])
def test_affix_needs_a_suffix(key: str) -> None:
    assert catalog.find(key, [r.Scope.NODE, r.Scope.CLUSTER]) is None


def test_matches_exact_vs_affix() -> None:
    exact = r.Setting("a.b", v.parse_str, None, r.Scope.NODE)
    assert exact.matches("a.b")
    assert not exact.matches("a.bc")
    assert not exact.matches("a.b.c")
    affix = r.Setting("a.*.c", v.parse_str, None, r.Scope.NODE)
    assert affix.matches("a.x.c")
    assert not affix.matches("a.c")


def test_all_settings_by_scope() -> None:
    index_keys = {s.key for s in catalog.all_settings(r.Scope.INDEX)}
    assert {"index.number_of_shards", "index.number_of_replicas", "index.hidden"} <= index_keys
    assert "cluster.name" not in index_keys
    assert all(s.scope is r.Scope.CLUSTER for s in catalog.all_settings(r.Scope.CLUSTER))


# --- coerce -------------------------------------------------------------------------------------


def test_coerce_puts_the_key_into_the_message() -> None:
    setting = catalog.find("thread_pool.search.size", [r.Scope.NODE])
    assert setting is not None
    assert setting.coerce("thread_pool.search.size", "4") == 4
    with pytest.raises(SettingsError) as info:
        setting.coerce("thread_pool.search.size", "four")
    assert info.value.reason == "Failed to parse value [four] for setting [thread_pool.search.size]"
    assert isinstance(info.value, IllegalArgumentError)
    assert info.value.http_status == 400


def test_coerce_time_message() -> None:
    setting = catalog.find("index.refresh_interval", [r.Scope.INDEX])
    assert setting is not None
    assert setting.coerce("index.refresh_interval", "5s") == v.TimeValue(5000, "5s")
    with pytest.raises(SettingsError) as info:
        setting.coerce("index.refresh_interval", "5")
    assert info.value.reason == (
        "failed to parse setting [index.refresh_interval] with value [5] as a time value: "
        "unit is missing or unrecognized"
    )


def test_number_of_shards_lower_bound() -> None:
    setting = catalog.find("index.number_of_shards", [r.Scope.INDEX])
    assert setting is not None
    assert setting.coerce("index.number_of_shards", "1024") == 1024
    with pytest.raises(SettingsError) as info:
        setting.coerce("index.number_of_shards", "0")
    assert info.value.reason == (
        "Failed to parse value [0] for setting [index.number_of_shards] must be >= 1"
    )


def test_number_of_shards_upper_bound_message() -> None:
    setting = catalog.find("index.number_of_shards", [r.Scope.INDEX])
    assert setting is not None
    with pytest.raises(SettingsError) as info:
        setting.coerce("index.number_of_shards", "2000")
    assert info.value.reason == (
        "Failed to parse value [2000] for setting [index.number_of_shards] must be <= 1024"
    )


def test_number_of_replicas_may_be_zero() -> None:
    setting = catalog.find("index.number_of_replicas", [r.Scope.INDEX])
    assert setting is not None
    assert setting.coerce("index.number_of_replicas", 0) == 0
    with pytest.raises(SettingsError, match=r"must be >= 0"):
        setting.coerce("index.number_of_replicas", -1)


def test_unknown_role_rejected() -> None:
    setting = catalog.find("node.roles", [r.Scope.NODE])
    assert setting is not None
    assert setting.coerce("node.roles", "[master, data]") == ("master", "data")
    with pytest.raises(SettingsError) as info:
        setting.coerce("node.roles", ["master", "chef"])
    assert info.value.reason == "unknown role [chef]"


def test_translog_durability() -> None:
    setting = catalog.find("index.translog.durability", [r.Scope.INDEX])
    assert setting is not None
    assert setting.coerce("index.translog.durability", "ASYNC") == "async"
    with pytest.raises(SettingsError) as info:
        setting.coerce("index.translog.durability", "never")
    assert info.value.reason == (
        "No enum constant org.elasticsearch.index.translog.Translog.Durability.NEVER"
    )


def test_default_text_renders_like_es() -> None:
    def text(key: str, scope: r.Scope) -> Any:
        setting = catalog.find(key, [scope])
        assert setting is not None
        return setting.default_text()

    assert text("xpack.security.enabled", r.Scope.NODE) == "true"
    assert text("bootstrap.memory_lock", r.Scope.NODE) == "false"
    assert text("node.roles", r.Scope.NODE) == ["master", "data", "ingest", "remote_cluster_client"]
    assert text("node.name", r.Scope.NODE) is None
    assert text("search.default_keep_alive", r.Scope.CLUSTER) == "5m"
    assert text("index.number_of_shards", r.Scope.INDEX) == "1"


# --- unknown ------------------------------------------------------------------------------------


def test_unknown_message_is_es_text() -> None:
    err = r.unknown("foo.bar")
    assert isinstance(err, SettingsError)
    assert err.reason == f"unknown setting [foo.bar] {UNKNOWN_TAIL}"
    assert err.to_body()["error"]["type"] == "illegal_argument_exception"
    assert err.to_body()["status"] == 400


# --- flatten and nest ---------------------------------------------------------------------------


def test_flatten() -> None:
    tree = {
        "cluster": {"name": "c1", "remote": {"a": {"seeds": ["h1:9300", "h2:9300"]}}},
        "node.name": "n1",
        "empty": {},
    }
    assert r.flatten(tree) == {
        "cluster.name": "c1",
        "cluster.remote.a.seeds": ["h1:9300", "h2:9300"],
        "node.name": "n1",
        "empty": None,
    }


def test_flatten_with_prefix() -> None:
    assert r.flatten({"a": {"b": 1}}, "x.") == {"x.a.b": 1}


def test_nest() -> None:
    flat = {"index.number_of_shards": "1", "index.blocks.write": "true", "other": 3}
    assert r.nest(flat) == {
        "index": {"number_of_shards": "1", "blocks": {"write": "true"}},
        "other": 3,
    }


def test_nest_keeps_conflicting_leaf_flat() -> None:
    assert r.nest({"a": "x", "a.b": "y"}) == {"a": "x", "a.b": "y"}


_segment = st.text(alphabet="abcxyz_", min_size=1, max_size=4)
_leaf = st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.integers()))
_tree = st.recursive(
    _leaf,
    lambda children: st.dictionaries(_segment, children, min_size=1, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(_segment, _tree, min_size=1, max_size=4))
def test_nest_inverts_flatten(tree: dict[str, Any]) -> None:
    assert r.nest(r.flatten(tree)) == tree
