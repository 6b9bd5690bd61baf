"""Mapping parameter values refused as ES's field mappers refuse them (index.mapping_params),
seen through ``Mapping`` as a create-index or put-mapping body is."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.errors import MapperParsingError
from isthmus.index.mapping import Mapping
from isthmus.index.mapping_params import date_format_problem


def _refusal(field: dict[str, Any]) -> MapperParsingError:
    with pytest.raises(MapperParsingError) as info:
        Mapping({"properties": {"f": field}})
    return info.value


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("strict_date_optional_time||epoch_millis", None),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", None),
        ("[yyyy][MM]", None),
        ("dd/MMM/uuuu:HH:mm:ss Z", None),
        ("test_format", "Invalid format: [test_format]: Unknown pattern letter: t"),
        ("yyyy||strict_foo", "Invalid format: [strict_foo]: Unknown pattern letter: t"),
        ("yyyy#", "Invalid format: [yyyy#]: Pattern includes reserved character: '#'"),
        (
            "yyyy'T",
            "Invalid format: [yyyy'T]: Pattern ends with an incomplete string literal: yyyy'T",
        ),
        ("yyyy]", "Invalid format: [yyyy]]: Pattern invalid as it contains ] without previous ["),
        ("", "No date pattern provided"),
    ],
)
def test_date_format_problem(fmt: str, problem: str | None) -> None:
    assert date_format_problem(fmt) == problem


def test_refusals_name_the_field_and_keep_es_cause_chain() -> None:
    err = _refusal({"type": "date", "format": "foo"})
    assert err.reason == (
        "Failed to parse mapping: Error parsing [format] on field [f]: Invalid format: [foo]: "
        "Unknown pattern letter: f"
    )
    assert err.caused_by is not None and err.caused_by.es_type == "illegal_argument_exception"

    err = _refusal({"type": "ip", "null_value": 12})
    assert err.reason == (
        "Failed to parse mapping: Error parsing [null_value] on field [f]: '12' is not an IP "
        "string literal."
    )
    # The mapper's own exception, then the address parser's.
    assert err.caused_by is not None and err.caused_by.es_type == "mapper_parsing_exception"
    assert err.caused_by.caused_by is not None
    assert err.caused_by.caused_by.reason == "'12' is not an IP string literal."


@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        (-3, "[depth_limit] must be positive, got [-3]"),
        ("1.5", 'For input string: "1.5"'),
        (True, 'For input string: "true"'),
        ("99999999999", 'For input string: "99999999999"'),
    ],
)
def test_flattened_depth_limit(limit: Any, reason: str) -> None:
    assert _refusal({"type": "flattened", "depth_limit": limit}).reason == (
        f"Failed to parse mapping: {reason}"
    )


def test_flattened_depth_limit_accepted_forms() -> None:
    # intParam: a JSON number is truncated to an int; a numeric string is parsed.
    for limit in (0, 3, 2.7, "4", "+5"):
        Mapping({"properties": {"f": {"type": "flattened", "depth_limit": limit}}})


@pytest.mark.parametrize("key", ["analyzer", "search_analyzer"])
def test_unknown_analyzers(key: str) -> None:
    assert _refusal({"type": "text", key: "my_custom"}).reason == (
        "Failed to parse mapping: analyzer [my_custom] has not been configured in mappings"
    )
    Mapping({"properties": {"f": {"type": "text", key: "french"}}})


def test_a_stored_mapping_is_not_checked_again() -> None:
    # An index created before a value was checked still opens, and still takes mapping updates.
    body = {"properties": {"f": {"type": "text", "analyzer": "my_custom"}}}
    stored = Mapping(body, stored=True)
    merged = stored.merge({"properties": {"g": {"type": "keyword"}}})
    assert set(merged.fields) == {"f", "g"}
    with pytest.raises(MapperParsingError):
        stored.merge({"properties": {"h": {"type": "ip", "null_value": "nope"}}})
