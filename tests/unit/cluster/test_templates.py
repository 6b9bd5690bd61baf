"""Index templates and data streams as values: which template a new index takes, the merge
order, ES's overlap and in-use errors, and the rules a data stream write meets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from isthmus.cluster.data_streams import (
    DataStream,
    backing_index_name,
    check_timestamp,
    check_write,
    parent_of,
    timestamp_mapping,
    validate_stream_name,
    with_streams,
)
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.resolve import IndicesOptions, resolve, write_index
from isthmus.cluster.template_rules import (
    check_composable_overlap,
    components_in_use,
    validate_template,
)
from isthmus.cluster.templates import (
    COMPONENT_KEY,
    COMPOSABLE_KEY,
    LEGACY_KEY,
    ComponentTemplate,
    ComposableTemplate,
    LegacyTemplate,
    Template,
    find_composable,
    merge_mappings,
    resolve_templates,
    with_entries,
)
from isthmus.errors import DocumentParsingError, IllegalArgumentError, InvalidIndexTemplateError
from isthmus.index.mapping import Mapping


def customs(
    composable: Sequence[ComposableTemplate] = (),
    component: Sequence[ComponentTemplate] = (),
    legacy: Sequence[LegacyTemplate] = (),
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out = with_entries(out, COMPOSABLE_KEY, {t.name: t for t in composable})
    out = with_entries(out, COMPONENT_KEY, {t.name: t for t in component})
    return with_entries(out, LEGACY_KEY, {t.name: t for t in legacy})


def props(**fields: str) -> dict[str, Any]:
    return {"properties": {k: {"type": v} for k, v in fields.items()}}


def test_highest_priority_matching_template_wins_and_hidden_skips_global() -> None:
    low = ComposableTemplate("low", ("logs-*",), priority=1)
    high = ComposableTemplate("high", ("logs-app-*",), priority=9)
    glob = ComposableTemplate("glob", ("*",), priority=50)
    c = customs([low, high, glob])
    assert find_composable(c, "logs-app-1") == glob
    assert find_composable(c, "logs-app-1", hidden=True) == high
    assert find_composable(c, "logs-x", hidden=True) == low
    assert find_composable(customs([low]), "metrics") is None


def test_merge_order_components_then_template_and_fields_replace() -> None:
    ct1 = ComponentTemplate(
        "ct1",
        Template(
            {"index.number_of_shards": "2", "index.refresh_interval": "5s"},
            {
                "properties": {
                    "a": {"type": "keyword"},
                    "o": {"properties": {"x": {"type": "long"}}},
                }
            },
            {"alias1": {}},
        ),
    )
    ct2 = ComponentTemplate(
        "ct2", Template({"index.number_of_shards": "3"}, props(a="text"), {"alias2": {}})
    )
    own = Template(
        {"index.refresh_interval": "1s"},
        {"properties": {"o": {"properties": {"y": {"type": "keyword"}}}}},
    )
    t = ComposableTemplate("t", ("x-*",), own, composed_of=("ct1", "ct2", "missing"))
    got = resolve_templates(customs([t], [ct2, ct1]), "x-1")
    # components in composed_of order, then the template's own; a missing one is skipped
    assert got.settings == {"index.number_of_shards": "3", "index.refresh_interval": "1s"}
    assert got.mappings == {
        "properties": {
            "a": {"type": "text"},
            "o": {"properties": {"x": {"type": "long"}, "y": {"type": "keyword"}}},
        }
    }
    assert set(got.aliases) == {"alias1", "alias2"}
    assert got.composable == t


def test_legacy_templates_apply_only_without_a_composable_match_lowest_order_first() -> None:
    first = LegacyTemplate("first", ("old-*",), 0, None, Template({"index.number_of_shards": "5"}))
    second = LegacyTemplate(
        "second", ("old-a*",), 3, None, Template({"index.number_of_shards": "7"})
    )
    got = resolve_templates(customs(legacy=[second, first]), "old-abc")
    assert got.settings == {"index.number_of_shards": "7"} and got.legacy == ("first", "second")
    v2 = ComposableTemplate("v2", ("old-*",), Template({"index.number_of_shards": "2"}))
    got = resolve_templates(customs([v2], legacy=[first, second]), "old-abc")
    assert got.settings == {"index.number_of_shards": "2"} and got.legacy == ()


def test_same_priority_overlap_is_refused_with_es_text() -> None:
    foo = ComposableTemplate("foo", ("egg*", "baz"), priority=1)
    new = ComposableTemplate("foo2", ("abc", "baz*"), priority=1)
    with pytest.raises(IllegalArgumentError) as err:
        check_composable_overlap({"foo": foo}, new)
    assert err.value.reason == (
        "index template [foo2] has index patterns [abc, baz*] matching patterns from existing "
        "templates [foo] with patterns (foo => [egg*, baz]) that have the same priority [1], "
        "multiple index templates may not match during index creation, please use a different "
        "priority"
    )
    check_composable_overlap({"foo": foo}, ComposableTemplate("foo2", ("abc", "baz*"), priority=2))
    check_composable_overlap({"foo": foo}, ComposableTemplate("foo", ("baz*",), priority=1))


def test_component_in_use_is_refused_with_es_text() -> None:
    t = ComposableTemplate("template", ("x",), composed_of=("ct",))
    with pytest.raises(IllegalArgumentError) as err:
        components_in_use({"template": t}, ["ct", "other"])
    assert err.value.reason == (
        "component templates [ct] cannot be removed as they are still in use by index "
        "templates [template]"
    )
    components_in_use({"template": t}, ["other"])


def test_merge_mappings_accepts_the_typed_form() -> None:
    assert merge_mappings(props(a="long"), {"_doc": props(b="keyword")}) == {
        "properties": {"a": {"type": "long"}, "b": {"type": "keyword"}}
    }


# --- data streams -----------------------------------------------------------------------------


def stream_state() -> ClusterMetadata:
    b1, b2 = ".ds-logs-a-2024.01.01-000001", ".ds-logs-a-2024.01.02-000002"
    indices = {
        n: IndexMetadata(n, f"{n}-uuid", {"index.hidden": "true"}, Mapping({})) for n in (b1, b2)
    }
    indices["plain"] = IndexMetadata("plain", "p-uuid", {}, Mapping({}))
    state = ClusterMetadata("c", indices)
    return with_streams(state, {"logs-a": DataStream("logs-a", (b1, b2), generation=2)})


def test_backing_index_name_is_es_shape() -> None:
    assert backing_index_name("logs-a", 3, 1704067200000) == ".ds-logs-a-2024.01.01-000003"


def test_stream_name_resolves_to_backing_indices_and_writes_to_the_last() -> None:
    state = stream_state()
    names = [r.index.name for r in resolve(state, "logs-a", IndicesOptions())]
    assert names == [".ds-logs-a-2024.01.01-000001", ".ds-logs-a-2024.01.02-000002"]
    assert [r.index.name for r in resolve(state, "logs-*", IndicesOptions())] == names
    assert [r.index.name for r in resolve(state, "*", IndicesOptions())] == ["plain", *names]
    # Concrete-only APIs (delete index, alias actions) do not see the stream's name.
    assert resolve(state, "logs-*", IndicesOptions(ignore_aliases=True)) == []
    target = write_index(state, "logs-a")
    assert target is not None and target.name == ".ds-logs-a-2024.01.02-000002"
    assert parent_of(state, ".ds-logs-a-2024.01.01-000001") is not None


def test_append_only_rules_with_es_texts() -> None:
    state = stream_state()
    check_write(state, "logs-a", "create")
    for action in ("index", "update", "delete"):
        with pytest.raises(IllegalArgumentError) as err:
            check_write(state, "logs-a", action)
        assert err.value.reason == (
            "only write ops with an op_type of create are allowed in data streams"
        )
    with pytest.raises(IllegalArgumentError) as err:
        check_write(state, ".ds-logs-a-2024.01.01-000001", "index")
    assert err.value.reason.endswith("target corresponding data stream [logs-a] instead")
    check_write(state, ".ds-logs-a-2024.01.01-000001", "index", if_seq_no=3)
    check_write(state, "plain", "index")


def test_timestamp_is_required_and_mapped_as_a_date() -> None:
    check_timestamp({"@timestamp": "2024-01-01"})
    with pytest.raises(DocumentParsingError) as err:
        check_timestamp({"message": "x"}, b'{"message": "x"}')
    assert err.value.reason == (
        "[1:16] failed to parse: data stream timestamp field [@timestamp] is missing"
    )
    assert timestamp_mapping(None) == {"properties": {"@timestamp": {"type": "date"}}}
    with pytest.raises(IllegalArgumentError) as bad:
        timestamp_mapping(props(**{"@timestamp": "keyword"}))
    assert bad.value.reason == (
        "data stream timestamp field [@timestamp] is of type [keyword], but [date,date_nanos] "
        "is expected"
    )


def test_stream_names_follow_es_rules() -> None:
    validate_stream_name("logs-app")
    for bad, why in (
        ("Logs", "data_stream [Logs] must be lowercase"),
        (".ds-x", "data_stream [.ds-x] must not start with '.ds-'"),
        ("a#b", "data_stream [a#b] must not contain '#'"),
    ):
        with pytest.raises(IllegalArgumentError) as err:
            validate_stream_name(bad)
        assert err.value.reason == why


def test_template_names_and_patterns_are_validated_with_es_texts() -> None:
    with pytest.raises(InvalidIndexTemplateError) as err:
        validate_template("Bad", ("a b", "_x", "c:d"), {}, {})
    assert err.value.reason == (
        "index_template [Bad] invalid, cause [Validation Failed: 1: name must be lower cased;"
        "2: index_patterns [a b] must not contain a space;3: index_pattern [a b] must not "
        'contain the following characters [ , ", *, \\, <, |, ,, >, /, ?];4: index_pattern '
        "[_x] must not start with '_';5: index_pattern [c:d] must not contain a ':';]"
    )
    with pytest.raises(InvalidIndexTemplateError) as err:
        validate_template("g", ("*",), {"index.hidden": "true"}, {})
    assert "global templates may not specify the setting index.hidden" in err.value.reason
    with pytest.raises(IllegalArgumentError) as bad:
        validate_template("t", ("logs",), {}, {"logs": {}})
    assert bad.value.reason == "alias [logs] cannot be the same as any pattern in [logs]"
    validate_template("ok", ("logs-*",), {}, {"all-logs": {}})


def test_legacy_aliases_may_name_the_index() -> None:
    legacy = LegacyTemplate("l", ("ix-*",), template=Template(aliases={"{index}-alias": {}}))
    assert resolve_templates(customs(legacy=[legacy]), "ix-1").aliases == {"ix-1-alias": {}}


def test_dynamic_templates_merge_by_name() -> None:
    first = {"dynamic_templates": [{"strings": {"match_mapping_type": "string"}}, {"a": {}}]}
    second = {"dynamic_templates": [{"strings": {"match": "x"}}, {"b": {}}]}
    assert merge_mappings(first, second) == {
        "dynamic_templates": [{"strings": {"match": "x"}}, {"a": {}}, {"b": {}}]
    }
