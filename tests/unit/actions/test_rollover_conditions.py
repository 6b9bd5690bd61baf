"""Rollover conditions: ES's parse errors, when a rollover happens, and generated names."""

from __future__ import annotations

import pytest

from isthmus.actions.data_streams import IndexFacts, evaluate, next_index_name, parse_conditions
from isthmus.errors import IllegalArgumentError, XContentParseError

FACTS = IndexFacts(
    docs=10, age_millis=3_600_000, primary_size=2048, largest_shard_size=1024, largest_shard_docs=6
)


def test_any_max_and_every_min_condition_decide() -> None:
    met, roll = evaluate(parse_conditions({"max_docs": 10, "max_age": "2h"}), FACTS)
    assert met == {"[max_docs: 10]": True, "[max_age: 2h]": False} and roll
    met, roll = evaluate(parse_conditions({"max_docs": 10, "min_age": "2h"}), FACTS)
    assert met == {"[max_docs: 10]": True, "[min_age: 2h]": False} and not roll
    met, roll = evaluate(parse_conditions({"max_primary_shard_size": "1kb"}), FACTS)
    assert met == {"[max_primary_shard_size: 1kb]": True} and roll
    met, roll = evaluate(parse_conditions({"max_primary_shard_docs": 7}), FACTS)
    assert met == {"[max_primary_shard_docs: 7]": False} and not roll
    assert evaluate([], FACTS) == ({}, True)  # no condition: always


def test_bad_conditions_are_es_parse_errors() -> None:
    with pytest.raises(XContentParseError) as err:
        parse_conditions({"max_bananas": 1})
    assert err.value.reason == "[conditions] unknown field [max_bananas]"
    with pytest.raises(XContentParseError) as err:
        parse_conditions({"max_docs": "ten"})
    assert err.value.reason == "[conditions] failed to parse field [max_docs]"
    with pytest.raises(XContentParseError) as err:
        parse_conditions(5)
    assert err.value.reason == "[rollover] conditions doesn't support values of type: VALUE_NUMBER"
    with pytest.raises(IllegalArgumentError) as bad:
        parse_conditions({"max_age": "soon"})
    assert bad.value.reason == (
        "failed to parse setting [max_age] with value [soon] as a time value: unit is missing "
        "or unrecognized"
    )


def test_generated_rollover_names() -> None:
    assert next_index_name("logs-000001") == "logs-000002"
    assert next_index_name("logs-2024-9") == "logs-2024-000010"
    with pytest.raises(IllegalArgumentError) as err:
        next_index_name("logs")
    assert err.value.reason == "index name [logs] does not match pattern '^.*-\\d+$'"
