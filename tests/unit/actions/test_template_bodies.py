"""Template request bodies: ES's parse errors, and what a parsed template holds."""

from __future__ import annotations

import pytest

from isthmus.actions.template_bodies import parse_component, parse_composable, parse_legacy
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IsthmusError,
    NotImplementedYet,
    SettingsError,
    XContentParseError,
)


def test_composable_body_parses_into_its_fields() -> None:
    t = parse_composable(
        "t",
        {
            "index_patterns": "logs-*",
            "composed_of": ["a", "b"],
            "priority": "7",
            "data_stream": {"hidden": True},
            "template": {"settings": {"number_of_shards": 2}, "aliases": {"all": None}},
            "_meta": {"k": "v"},
            "allow_auto_create": False,
        },
    )
    assert t.index_patterns == ("logs-*",) and t.composed_of == ("a", "b")
    assert t.priority == 7 and t.meta == {"k": "v"} and t.allow_auto_create is False
    assert t.data_stream == {"hidden": True, "allow_custom_routing": False}
    assert t.template is not None and t.template.settings == {"index.number_of_shards": "2"}
    assert t.template.aliases == {"all": {}}


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        ({}, IllegalArgumentError, "Required [index_patterns]"),
        ({"index_patterns": ["a"], "nope": 1}, XContentParseError, "[index_template] unknown field [nope]"),
        ({"index_patterns": ["a"], "priority": -1}, ActionRequestValidationError,
         "Validation Failed: 1: index template priority must be >= 0;"),
        ({"index_patterns": ["a"], "data_stream": {"x": 1}}, XContentParseError,
         "[index_template] failed to parse field [data_stream]"),
        ({"index_patterns": ["a"], "composed_of": {"a": 1}}, XContentParseError,
         "[index_template] composed_of doesn't support values of type: START_OBJECT"),
        ({"index_patterns": ["a"], "template": {"settings": {"index.no_such_key": 1}}}, SettingsError,
         "unknown setting [index.no_such_key] please check that any required plugins are installed, or "
         "check the breaking changes documentation for removed settings"),
    ],
)  # fmt: skip
def test_composable_body_errors(
    body: dict[str, object], error: type[IsthmusError], reason: str
) -> None:
    with pytest.raises(error) as err:
        parse_composable("t", body)
    assert err.value.reason == reason


def test_component_and_legacy_bodies() -> None:
    with pytest.raises(IllegalArgumentError) as err:
        parse_component("c", {"version": 1})
    assert err.value.reason == "Required [template]"
    with pytest.raises(ActionRequestValidationError) as missing:
        parse_legacy("l", {"order": 1}, None)
    assert missing.value.reason == "Validation Failed: 1: index patterns are missing;"
    legacy = parse_legacy("l", {"template": "old-*", "mappings": {"_doc": {}}}, "3")
    assert legacy.index_patterns == ("old-*",) and legacy.order == 3


def test_features_not_run_here_are_refused_plainly() -> None:
    with pytest.raises(NotImplementedYet) as err:
        parse_composable("t", {"index_patterns": ["a"], "template": {"lifecycle": {}}})
    assert err.value.reason == "[lifecycle] in index templates is not supported"
    with pytest.raises(NotImplementedYet):
        parse_composable("t", {"index_patterns": ["a"], "data_stream": {"failure_store": True}})
