"""Parsing and validation of the ip, constant_keyword, scaled_float, unsigned_long, date_nanos,
alias, wildcard and flattened field types (no node: the mapping and value rules alone)."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.errors import DocumentParsingError, IllegalArgumentError, MapperParsingError
from isthmus.index.completion import (
    CompletionEntry,
    CompletionParseError,
    best_match,
    parse_entry,
)
from isthmus.index.geo import (
    GeoParseError,
    GeoPoint,
    arc_distance,
    checked_point,
    parse_distance,
    quantize,
)
from isthmus.index.ip import IpParseError, cidr_bounds, from_sortable, parse_ip
from isthmus.index.mapping import Mapping, source_values
from isthmus.index.schema import IndexSchema


def props(**fields: Any) -> dict[str, Any]:
    return {"properties": fields}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("192.168.0.1", "192.168.0.1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("2001:0db8:0000::0001", "2001:db8::1"),
        ("[::1]", "::1"),
    ],
)
def test_ip_canonical_text_and_round_trip(text: str, canonical: str) -> None:
    ip = parse_ip(text)
    assert ip == canonical
    assert from_sortable(ip.sortable) == canonical


def test_ip_orders_by_bytes_and_refuses_junk() -> None:
    assert parse_ip("10.0.0.2") < parse_ip("10.0.0.10") < parse_ip("::1:0:0:0")
    assert sorted([parse_ip("10.0.0.10"), parse_ip("10.0.0.2")]) == ["10.0.0.2", "10.0.0.10"]
    with pytest.raises(IpParseError, match=r"^'1.2.3' is not an IP string literal\.$"):
        parse_ip("1.2.3")
    assert cidr_bounds("10.1.0.0/16") == ("10.1.0.0", "10.1.255.255")
    assert cidr_bounds("2001:db8::/32") == ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
    assert cidr_bounds("10.0.0.1") is None
    with pytest.raises(IpParseError, match=r"Illegal prefix length \[33\]"):
        cidr_bounds("10.0.0.0/33")


def test_values_of_each_type() -> None:
    m = Mapping(
        props(
            ip={"type": "ip"},
            price={"type": "scaled_float", "scaling_factor": 10},
            big={"type": "unsigned_long"},
            t={"type": "date_nanos"},
            w={"type": "wildcard"},
        )
    )
    values = m.parse_document(
        {
            "ip": "::ffff:1.2.3.4",
            "price": 2.25,
            "big": 2**64 - 1,
            "t": "1970-01-01T00:00:00.000000123Z",
            "w": "x",
        }
    ).values
    assert values["ip"] == ["1.2.3.4"]
    assert values["price"] == [2.3]  # round half up, as Java's Math.round
    assert values["big"] == [2**64 - 1]
    assert values["t"] == [123]
    assert values["w"] == ["x"]
    wildcard = m.field("w")
    assert wildcard is not None and wildcard.es_type == "wildcard"
    with pytest.raises(DocumentParsingError) as info:
        m.parse_document({"big": 2**64}, "1")
    assert info.value.caused_by is not None
    assert info.value.caused_by.reason == f"Value [{2**64}] is out of range for an unsigned long"


def test_constant_keyword_is_set_once_and_held_by_every_document() -> None:
    m = Mapping(props(env={"type": "constant_keyword"}))
    parsed = m.parse_document({"env": "prod"}, "1")
    assert parsed.mapping_update is not None
    updated = parsed.mapping_update
    assert updated.to_json()["properties"]["env"] == {"type": "constant_keyword", "value": "prod"}
    assert updated.parse_document({}, "2").values == {"env": ["prod"]}
    spec = updated.field("env")
    assert spec is not None and source_values({}, spec) == ["prod"]
    with pytest.raises(DocumentParsingError) as info:
        updated.parse_document({"env": "dev"}, "3")
    assert info.value.caused_by is not None
    assert "only accepts values that are equal to the value defined in the mappings [prod]" in (
        info.value.caused_by.reason
    )
    with pytest.raises(IllegalArgumentError, match=r"Cannot update parameter \[value\]"):
        updated.merge(props(env={"type": "constant_keyword", "value": "dev"}))


def test_alias_resolves_and_is_validated() -> None:
    m = Mapping(props(n={"type": "long"}, a={"type": "alias", "path": "n"}))
    spec = m.field("a")
    assert spec is not None and spec.path == "n"
    assert "a" not in m.fields  # no field of its own in the index
    with pytest.raises(DocumentParsingError, match=r"Cannot write to a field alias \[a\]\."):
        m.parse_document({"a": 1})
    with pytest.raises(MapperParsingError, match=r"an alias cannot refer to itself\."):
        Mapping(props(a={"type": "alias", "path": "a"}))


def test_flattened_values_and_keys() -> None:
    m = Mapping(props(labels={"type": "flattened"}))
    values = m.parse_document({"labels": {"a": "x", "b": {"c": ["y", "z"]}}}).values
    assert values["labels"] == ["x", ("a", "x"), "y", ("b.c", "y"), "z", ("b.c", "z")]
    key = m.field("labels.b.c")
    assert key is not None and key.flattened_key == "b.c"
    root = m.field("labels")
    assert root is not None
    assert source_values({"labels": {"a": "x", "b": {"c": "y"}}}, root) == ["x", "y"]
    schema = IndexSchema.for_mapping(m)
    keyed = schema.field("labels.b.c")
    assert keyed is not None and keyed.name.endswith("k.b.c")


# --- geo_point and completion -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"lat": 41.12, "lon": -71.34},
        "41.12,-71.34",
        [-71.34, 41.12],
        "POINT (-71.34 41.12)",
        "drm3btev3e86",
    ],
)
def test_geo_point_forms(value: Any) -> None:
    point = checked_point(value, "loc")
    assert point.lat == pytest.approx(41.12, abs=1e-6)
    assert point.lon == pytest.approx(-71.34, abs=1e-6)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"lat": 91, "lon": 0}, "illegal latitude value [91.0] for loc"),
        ({"lat": 0, "lon": 181}, "illegal longitude value [181.0] for loc"),
        ({"lon": 1}, "field [lat] missing"),
        ("not a point!", "unsupported symbol [o] in geohash [not a point!]"),
    ],
)
def test_geo_point_errors(value: Any, reason: str) -> None:
    with pytest.raises(GeoParseError) as info:
        checked_point(value, "loc")
    assert str(info.value) == reason


def test_geo_distances_and_units() -> None:
    paris, london = GeoPoint(48.8566, 2.3522), GeoPoint(51.5074, -0.1278)
    assert arc_distance(paris, london) == pytest.approx(343_500, rel=0.005)
    assert parse_distance("12km") == 12_000
    assert parse_distance(5, "mi") == pytest.approx(8046.72)
    assert parse_distance("1.5nmi") == pytest.approx(2778)
    # Stored as Lucene stores it: 32-bit steps, floored.
    assert quantize(41.12, -71.34) == (41.1199999647215, -71.34000004269183)


def test_completion_entries_and_matching() -> None:
    assert parse_entry("Nirvana") == CompletionEntry(("Nirvana",), 1)
    entry = parse_entry({"input": ["Nevermind", "Nirvana"], "weight": 34})
    assert entry == CompletionEntry(("Nevermind", "Nirvana"), 34)
    assert best_match([entry, CompletionEntry(("Nine",), 50)], "NI") == ("Nine", 50)
    assert best_match([entry], "nev") == ("Nevermind", 34)
    assert best_match([entry], "x") is None
    for bad, reason in (
        (
            {"input": "a", "weight": -1},
            "weight must be in the interval [0..2147483647], but was [-1]",
        ),
        (
            {"input": "a", "boost": 1},
            "unknown field name [boost], must be one of [input, weight, contexts]",
        ),
    ):
        with pytest.raises(CompletionParseError) as info:
            parse_entry(bad)
        assert str(info.value) == reason


def test_scaling_factor_belongs_to_scaled_float_only() -> None:
    with pytest.raises(MapperParsingError) as info:
        Mapping(props(n={"type": "long", "scaling_factor": 10}))
    assert info.value.reason == (
        "Failed to parse mapping: unknown parameter [scaling_factor] on mapper [n] of type [long]"
    )


def test_put_mapping_adds_an_alias_to_an_existing_field() -> None:
    m = Mapping(props(n={"type": "long"}))
    merged = m.merge(props(a={"type": "alias", "path": "n"}))
    target = merged.field("a")
    assert target is not None and target.path == "n"
    with pytest.raises(MapperParsingError, match="an alias must refer to an existing field"):
        m.merge(props(b={"type": "alias", "path": "nope"}))
    with pytest.raises(
        IllegalArgumentError, match=r"cannot be changed from type \[long\] to \[alias\]"
    ):
        m.merge(props(n={"type": "alias", "path": "n"}))
