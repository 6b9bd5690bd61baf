"""An unknown field in a request body, refused as Elasticsearch's parsers refuse it: the parser's
name, the key, the "did you mean" over the fields that parser declares (ES's full list, also
where Isthmus implements fewer), and the exception type ES lets out (x-content's for an object
parser read directly; its wrapping parser's failure when the object sits inside another)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from isthmus.actions.data_streams import parse_conditions
from isthmus.actions.indices import normalize_index_settings
from isthmus.actions.template_bodies import parse_component, parse_composable
from isthmus.ccr.auto_follow import parse_put_pattern
from isthmus.ccr.params import parse_put_follow, parse_resume_body
from isthmus.cli.certutil import parse_instances
from isthmus.cluster.alias_actions import parse_alias_actions
from isthmus.errors import (
    IllegalArgumentError,
    IsthmusError,
    ParsingError,
    SettingsError,
    XContentParseError,
)
from isthmus.http.handlers.ccr_leader import forget_follower_body
from isthmus.search.aggs import parse_aggs
from isthmus.search.collapse import parse_collapse
from isthmus.search.completion import parse_suggest
from isthmus.search.fetch_fields import parse_field_list
from isthmus.search.knn import parse_knn
from isthmus.search.request import parse_search
from isthmus.search.rescore import parse_rescore
from isthmus.settings.loader import load_raw
from isthmus.xcontent import unknown_field


def test_unknown_field_is_the_parsers_error_with_its_suggestion() -> None:
    err = unknown_field("p", "sise", ("size", "shard_size", "field"))
    assert isinstance(err, XContentParseError)
    assert err.reason == "[p] unknown field [sise] did you mean [size]?"
    err = unknown_field("p", "zzz", ("size",), ParsingError)
    assert isinstance(err, ParsingError)
    assert err.reason == "[p] unknown field [zzz]"


CASES: list[tuple[str, Callable[[], Any], type[IsthmusError], str]] = [
    (
        "put_follow",
        lambda: parse_put_follow("f", {"remote_clustr": "r", "leader_index": "l"}, None),
        XContentParseError,
        "[indices:admin/xpack/ccr/put_follow] unknown field [remote_clustr] "
        "did you mean [remote_cluster]?",
    ),
    (
        "resume_follow",
        lambda: parse_resume_body({"max_retry_dely": "1s"}),
        XContentParseError,
        "[resume_follow] unknown field [max_retry_dely] did you mean [max_retry_delay]?",
    ),
    (
        "auto_follow",
        lambda: parse_put_pattern("p", {"remote_cluster": "r", "leader_index_pattern": ["a"]}),
        XContentParseError,
        "[put_auto_follow_pattern_request] unknown field [leader_index_pattern] did you mean "
        "any of [leader_index_patterns, follow_index_pattern, leader_index_exclusion_patterns]?",
    ),
    (
        "rollover conditions",
        lambda: parse_conditions({"max_ag": "1d"}),
        XContentParseError,
        "[conditions] unknown field [max_ag] did you mean any of [max_age, min_age]?",
    ),
    (
        "index_template",
        lambda: parse_composable("t", {"index_pattern": ["a"]}),
        XContentParseError,
        "[index_template] unknown field [index_pattern] did you mean [index_patterns]?",
    ),
    (
        "component_template",
        lambda: parse_component("c", {"template": {}, "versio": 1}),
        XContentParseError,
        "[component_template] unknown field [versio] did you mean [version]?",
    ),
    (
        "forget_follower",
        lambda: forget_follower_body({"follower_clustr": "x"}),
        XContentParseError,
        "[indices:admin/xpack/ccr/forget_follower] unknown field [follower_clustr] "
        "did you mean any of [follower_cluster, follower_index, follower_index_uuid]?",
    ),
    (
        "collapse",
        lambda: parse_collapse({"field": "f", "inner_hit": {}}),
        XContentParseError,
        "[collapse] unknown field [inner_hit] did you mean [inner_hits]?",
    ),
    (
        "aggregation",
        lambda: parse_aggs({"a": {"histogram": {"field": "f", "intervl": 5}}}),
        XContentParseError,
        "[histogram] unknown field [intervl] did you mean [interval]?",
    ),
    (
        "fetch_field_and_format",
        lambda: parse_field_list("fields", [{"field": "a", "formt": "x"}]),
        XContentParseError,
        "[fetch_field_and_format] unknown field [formt] did you mean [format]?",
    ),
    (
        "rescore query",
        lambda: parse_rescore({"query": {"rescore_query": {}, "query_weigh": 1}}),
        XContentParseError,
        "[query] unknown field [query_weigh] did you mean any of "
        "[query_weight, rescore_query_weight]?",
    ),
    (
        "knn",
        lambda: parse_knn({"field": "v", "query_vector": [1.0], "num_candidate": 5}, 10),
        XContentParseError,
        "[knn] unknown field [num_candidate] did you mean [num_candidates]?",
    ),
    (
        "completion",
        # ES's candidates include what Isthmus does not take (shard_size).
        lambda: parse_suggest({"s": {"prefix": "a", "completion": {"shard_sise": 3}}}),
        XContentParseError,
        "[completion] unknown field [shard_sise] did you mean [shard_size]?",
    ),
    (
        "certgen instances",
        lambda: parse_instances("instances:\n  - name: a\n    filenme: b\n"),
        IllegalArgumentError,
        "[instances] unknown field [filenme] did you mean [filename]?",
    ),
]


@pytest.mark.parametrize(
    ("parse", "error", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_parser_suggests_its_own_fields(
    parse: Callable[[], Any], error: type[IsthmusError], reason: str
) -> None:
    with pytest.raises(error) as info:
        parse()
    assert type(info.value) is error
    assert info.value.reason == reason


def test_an_inner_parser_failure_is_wrapped_by_the_enclosing_parser() -> None:
    # ES's collapse parser wraps what its inner_hits field refused.
    with pytest.raises(XContentParseError) as info:
        parse_collapse({"field": "f", "inner_hits": {"name": "n", "sise": 1}})
    assert info.value.reason == "[collapse] failed to parse field [inner_hits]"
    cause = info.value.caused_by
    assert cause is not None
    # ES's full inner_hits field list, where "size" is the close one.
    assert cause.reason == "[inner_hits] unknown field [sise] did you mean [size]?"
    # A template's own objects: the template parser wraps what they refused.
    with pytest.raises(XContentParseError) as stream:
        parse_composable("t", {"index_patterns": ["a"], "data_stream": {"hiden": True}})
    assert stream.value.reason == "[index_template] failed to parse field [data_stream]"
    assert stream.value.caused_by is not None
    assert stream.value.caused_by.reason == (
        "[data_stream_template] unknown field [hiden] did you mean [hidden]?"
    )
    with pytest.raises(XContentParseError) as section:
        parse_component("c", {"template": {"setings": {}}})
    assert section.value.reason == "[component_template] failed to parse field [template]"
    assert section.value.caused_by is not None
    assert section.value.caused_by.reason == (
        "[template] unknown field [setings] did you mean [settings]?"
    )
    # An unknown alias action kind: the alias_action parser, inside the aliases parser.
    with pytest.raises(XContentParseError) as kind:
        parse_alias_actions([{"ad": {"index": "i", "alias": "a"}}])
    assert kind.value.reason == "[aliases] failed to parse field [actions]"
    assert kind.value.caused_by is not None
    assert kind.value.caused_by.reason == "[alias_action] unknown field [ad] did you mean [add]?"
    # ES reads an ip range by hand: its own text, no suggestion, inside the aggregation's failure.
    with pytest.raises(XContentParseError) as ip:
        parse_aggs(
            {"a": {"ip_range": {"field": "f", "ranges": [{"mask": "10.0.0.0/8", "fro": 1}]}}}
        )
    assert ip.value.reason == "[ip_range] failed to parse field [ranges]"
    assert isinstance(ip.value.caused_by, ParsingError)
    assert ip.value.caused_by.reason == "Unexpected ip range parameter: [fro]"


def test_highlight_refuses_an_unknown_option_and_accepts_es_ones() -> None:
    body = {"query": {"match_all": {}}, "highlight": {"fields": {"t": {}}, "pre_tag": ["<b>"]}}
    with pytest.raises(XContentParseError) as info:
        parse_search(body, {})
    assert info.value.reason == (
        "[highlight] unknown field [pre_tag] did you mean any of [pre_tags, post_tags]?"
    )
    # Each field's options: the common ones and the per-field ones.
    body["highlight"] = {"fields": {"t": {"fragment_ofset": 1}}}
    with pytest.raises(XContentParseError) as field:
        parse_search(body, {})
    assert field.value.reason == (
        "[highlight_field] unknown field [fragment_ofset] did you mean any of "
        "[fragment_offset, fragment_size, fragmenter]?"
    )
    # An option ES declares but Isthmus does not apply is still accepted.
    body["highlight"] = {"fields": {"t": {"matched_fields": ["t"]}}, "boundary_scanner": "chars"}
    parse_search(body, {})


def test_an_unknown_setting_suggests_close_keys_by_the_settings_rule(tmp_path: Path) -> None:
    # ES's settings validation suggests keys more than 0.7 similar (not the parsers' 0.5).
    with pytest.raises(SettingsError) as index:
        normalize_index_settings({"number_of_shard": 1}, creating=True)
    assert index.value.reason == (
        "unknown setting [index.number_of_shard] did you mean [index.number_of_shards]?"
    )
    with pytest.raises(SettingsError) as node:
        load_raw(tmp_path, {"cluster.nme": "c"}, env={})
    assert node.value.reason == "unknown setting [cluster.nme] did you mean [cluster.name]?"
    # Nothing close enough: ES's hint about plugins and removed settings instead.
    with pytest.raises(SettingsError) as far:
        normalize_index_settings({"shards": 1}, creating=True)
    assert far.value.reason == (
        "unknown setting [index.shards] please check that any required plugins are installed, "
        "or check the breaking changes documentation for removed settings"
    )
