"""Index mappings: explicit fields, merge rules, dynamic mapping and value coercion."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import (
    IllegalArgumentError,
    IsthmusError,
    MapperParsingError,
    StrictDynamicMappingError,
)
from isthmus.index.dates import DEFAULT_DATE_FORMAT
from isthmus.index.mapping import FieldSpec, Mapping, coerce, source_values

DYN_TEXT = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
DAY = 1704153600000  # 2024-01-02T00:00:00Z


def parse(
    mapping: Mapping | dict[str, Any], source: dict[str, Any], doc_id: str | None = "1"
) -> Any:
    m = mapping if isinstance(mapping, Mapping) else Mapping(mapping)
    return m.parse_document(source, doc_id)


def props(**fields: Any) -> dict[str, Any]:
    return {"properties": fields}


# --- explicit mappings --------------------------------------------------------------------------


def test_empty_mapping() -> None:
    m = Mapping()
    assert m.fields == {}
    assert m.dynamic is True
    assert m.to_json() == {}
    assert m == Mapping({})
    assert repr(m) == "<Mapping fields=0 dynamic=True>"


def test_leaf_fields_and_multi_fields() -> None:
    m = Mapping(
        props(
            title={"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 10}}},
            count={"type": "integer"},
            when={"type": "date", "format": "yyyy/MM/dd"},
            hidden={"type": "keyword", "index": False},
        )
    )
    assert sorted(m.fields) == ["count", "hidden", "title", "title.raw", "when"]
    assert m.field("title") == FieldSpec("title", "text", "title")
    assert m.field("title.raw") == FieldSpec("title.raw", "keyword", "title", ignore_above=10)
    assert m.field("when") == FieldSpec("when", "date", "when", format="yyyy/MM/dd")
    assert m.field("count") is not None and m.field("count").is_integer  # type: ignore[union-attr]
    assert m.field("hidden").indexed is False  # type: ignore[union-attr]
    assert m.field("title").indexed is True  # type: ignore[union-attr]
    assert [s.path for s in m.specs_for_source("title")] == ["title", "title.raw"]
    assert m.specs_for_source("nope") == []
    assert repr(m) == "<Mapping fields=5 dynamic=True>"


def test_field_spec_properties() -> None:
    assert FieldSpec("a", "long", "a").is_numeric
    assert FieldSpec("a", "double", "a").is_numeric
    assert not FieldSpec("a", "double", "a").is_integer
    assert not FieldSpec("a", "text", "a").aggregatable
    assert FieldSpec("a", "keyword", "a").aggregatable
    assert FieldSpec("a", "date", "a").format == DEFAULT_DATE_FORMAT


def test_objects_and_dotted_names() -> None:
    m = Mapping(
        props(
            user={"properties": {"name": {"type": "keyword"}, "age": {"type": "long"}}},
            **{"geo.city.name": {"type": "keyword"}},
        )
    )
    assert sorted(m.fields) == ["geo.city.name", "user.age", "user.name"]
    assert m.object_paths() == frozenset({"user", "geo", "geo.city"})
    assert m.to_json() == props(
        user={"properties": {"name": {"type": "keyword"}, "age": {"type": "long"}}},
        geo={"properties": {"city": {"properties": {"name": {"type": "keyword"}}}}},
    )


def test_dotted_names_merge_with_objects() -> None:
    m = Mapping(props(**{"a.b": {"type": "long"}, "a.c": {"type": "keyword"}}))
    assert m.to_json() == props(a={"properties": {"b": {"type": "long"}, "c": {"type": "keyword"}}})


def test_typeless_doc_wrapper_and_root_options() -> None:
    m = Mapping({"_doc": props(n={"type": "long"})})
    assert m.to_json() == props(n={"type": "long"})
    m = Mapping({"dynamic": "strict", "_source": {"enabled": True}, **props(n={"type": "long"})})
    assert m.dynamic == "strict"
    assert m.to_json()["_source"] == {"enabled": True}


def test_nested_and_object_options_kept() -> None:
    m = Mapping(
        props(o={"type": "nested", "dynamic": False, "properties": {"x": {"type": "long"}}})
    )
    assert m.to_json() == props(
        o={"properties": {"x": {"type": "long"}}, "type": "nested", "dynamic": False}
    )


def test_resolve_patterns() -> None:
    m = Mapping(
        props(a={"type": "text", "fields": {"kw": {"type": "keyword"}}}, b={"type": "long"})
    )
    assert [s.path for s in m.resolve("a")] == ["a"]
    assert m.resolve("zz") == []
    assert sorted(s.path for s in m.resolve("a*")) == ["a", "a.kw"]
    assert sorted(s.path for s in m.resolve("*")) == ["a", "a.kw", "b"]


UNKNOWN_FOO_BAR = (
    "The mapper type [foo] declared on field [bar] does not exist. It might have been created "
    "within a future version or requires a plugin to be installed. Check the documentation."
)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (props(bar={"type": "foo"}), UNKNOWN_FOO_BAR),
        (props(o={"properties": {"bar": {"type": "foo"}}}), UNKNOWN_FOO_BAR),
        (props(t={"type": "text", "fields": {"bar": {"type": "foo"}}}), UNKNOWN_FOO_BAR),
        (
            props(bar={"type": "keyword", "analyzer": "standard"}),
            "unknown parameter [analyzer] on mapper [bar] of type [keyword]",
        ),
        (
            props(n={"type": "long", "ignore_above": 3}),
            "unknown parameter [ignore_above] on mapper [n] of type [long]",
        ),
        ({"foo": 1}, "Root mapping definition has unsupported parameters:  [foo : 1]"),
        ({"dynamic": "maybe"}, "Could not convert [dynamic] to boolean or 'strict': [maybe]"),
        (
            props(bar="text"),
            "Expected map for property [fields] on field [bar] but got a class java.lang.String",
        ),
    ],
)
def test_invalid_mappings(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(MapperParsingError) as info:
        Mapping(body)
    # ES reports any fault of a mappings body as "Failed to parse mapping", caused by the fault.
    assert info.value.reason == f"Failed to parse mapping: {reason}"
    assert info.value.caused_by is not None and info.value.caused_by.reason == reason
    assert info.value.to_body()["error"]["root_cause"][0]["reason"] == reason
    assert info.value.to_body()["error"]["type"] == "mapper_parsing_exception"
    assert info.value.http_status == 400


@pytest.mark.parametrize("name", ["", " ", " a", "a."])
def test_invalid_field_names(name: str) -> None:
    with pytest.raises(MapperParsingError, match="field name cannot be an empty string"):
        Mapping(props(**{name: {"type": "long"}}))


@pytest.mark.parametrize(("given_", "stored"), [("false", False), ("true", True), (False, False)])
def test_dynamic_as_string_or_bool(given_: Any, stored: Any) -> None:
    assert Mapping({"dynamic": given_}).dynamic is stored


# --- merge --------------------------------------------------------------------------------------


def test_merge_is_additive() -> None:
    m = Mapping(props(a={"type": "keyword"}, o={"properties": {"x": {"type": "long"}}}))
    merged = m.merge(props(b={"type": "long"}, o={"properties": {"y": {"type": "date"}}}))
    assert sorted(merged.fields) == ["a", "b", "o.x", "o.y"]
    assert sorted(m.fields) == ["a", "o.x"]  # the original is unchanged
    assert merged.to_json() == props(
        a={"type": "keyword"},
        o={"properties": {"x": {"type": "long"}, "y": {"type": "date"}}},
        b={"type": "long"},
    )


def test_merge_same_type_updates_params() -> None:
    m = Mapping(props(k={"type": "keyword"}))
    merged = m.merge(props(k={"type": "keyword", "ignore_above": 5}))
    assert merged.field("k") == FieldSpec("k", "keyword", "k", ignore_above=5)


def test_merge_adds_multi_field() -> None:
    m = Mapping(props(t={"type": "text"}))
    merged = m.merge(props(t={"type": "text", "fields": {"kw": {"type": "keyword"}}}))
    assert merged.field("t.kw") == FieldSpec("t.kw", "keyword", "t")


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (props(a={"type": "text"}), "mapper [a] cannot be changed from type [keyword] to [text]"),
        (
            props(t={"type": "text", "fields": {"kw": {"type": "long"}}}),
            "mapper [t.kw] cannot be changed from type [keyword] to [long]",
        ),
    ],
)
def test_merge_type_change_rejected(update: dict[str, Any], reason: str) -> None:
    m = Mapping(
        props(a={"type": "keyword"}, t={"type": "text", "fields": {"kw": {"type": "keyword"}}})
    )
    with pytest.raises(IllegalArgumentError) as info:
        m.merge(update)
    assert info.value.reason == reason


def test_merge_validates_update() -> None:
    with pytest.raises(
        MapperParsingError, match=r"The mapper type \[foo\] declared on field \[x\] does not exist"
    ):
        Mapping().merge(props(x={"type": "foo"}))


# --- dynamic mapping ----------------------------------------------------------------------------


def test_dynamic_types() -> None:
    doc = parse(
        {},
        {
            "s": "hello",
            "d": "2024-01-02",
            "n": 5,
            "f": 1.5,
            "b": True,
            "o": {"x": "y"},
            "digits": "123",
        },
    )
    assert doc.values == {
        "s": ["hello"],
        "s.keyword": ["hello"],
        "d": [DAY],
        "n": [5],
        "f": [1.5],
        "b": [True],
        "o.x": ["y"],
        "o.x.keyword": ["y"],
        "digits": ["123"],
        "digits.keyword": ["123"],
    }
    assert doc.mapping_update is not None
    assert doc.mapping_update.to_json() == props(
        s=DYN_TEXT,
        d={"type": "date"},
        n={"type": "long"},
        f={"type": "float"},
        b={"type": "boolean"},
        o={"properties": {"x": DYN_TEXT}},
        digits=DYN_TEXT,
    )


def test_dynamic_arrays_take_the_first_non_null_type() -> None:
    doc = parse({}, {"a": [1, 2], "n": [None, "x"], "objs": [{"k": 1}, {"k": 2}]})
    assert doc.values == {"a": [1, 2], "n": ["x"], "n.keyword": ["x"], "objs.k": [1, 2]}
    assert doc.mapping_update.to_json() == props(
        a={"type": "long"}, n=DYN_TEXT, objs={"properties": {"k": {"type": "long"}}}
    )


def test_nulls_and_empties_add_nothing() -> None:
    doc = parse({}, {"a": None, "b": [], "c": {}, "d": [None]})
    assert doc.values == {}
    assert doc.mapping_update is None


def test_known_fields_make_no_update() -> None:
    doc = parse(props(n={"type": "long"}), {"n": 3})
    assert doc.values == {"n": [3]}
    assert doc.mapping_update is None


def test_dynamic_update_keeps_existing_fields() -> None:
    doc = parse(props(n={"type": "long"}), {"n": 3, "s": "x"})
    assert doc.mapping_update.to_json() == props(n={"type": "long"}, s=DYN_TEXT)


def test_dotted_source_keys_become_objects() -> None:
    doc = parse({}, {"a.b": "x"})
    assert doc.mapping_update.to_json() == props(a={"properties": {"b": DYN_TEXT}})
    assert doc.values["a.b"] == ["x"]


def test_dotted_mapping_accepts_both_source_shapes() -> None:
    m = Mapping(props(**{"a.b": {"type": "keyword"}}))
    assert parse(m, {"a.b": "x"}).values == {"a.b": ["x"]}
    assert parse(m, {"a": {"b": "x"}}).values == {"a.b": ["x"]}


def test_date_detection_off() -> None:
    doc = parse({"date_detection": False}, {"d": "2024-01-02"})
    assert doc.mapping_update.to_json() == {"date_detection": False, **props(d=DYN_TEXT)}


def test_dynamic_slash_date_is_indexed() -> None:
    doc = parse({}, {"d": "2024/01/02"})
    assert doc.values == {"d": [DAY]}


@pytest.mark.parametrize("dynamic", [False, "false"])
def test_dynamic_false_ignores_new_fields(dynamic: Any) -> None:
    m = Mapping({"dynamic": dynamic, **props(n={"type": "long"})})
    doc = parse(m, {"n": 1, "x": "new", "o": {"y": 2}})
    assert doc.values == {"n": [1]}
    assert doc.mapping_update is None


def test_strict_rejects_new_fields() -> None:
    with pytest.raises(StrictDynamicMappingError) as info:
        parse({"dynamic": "strict"}, {"x": 1})
    assert info.value.reason == (
        "[1:2] mapping set to strict, dynamic introduction of [x] within [_doc] is not allowed"
    )
    assert info.value.to_body()["error"]["type"] == "strict_dynamic_mapping_exception"
    assert info.value.http_status == 400


def test_strict_names_the_parent_object() -> None:
    m = Mapping({"dynamic": "strict", **props(o={"properties": {"a": {"type": "long"}}})})
    with pytest.raises(StrictDynamicMappingError) as info:
        parse(m, {"o": {"a": 1, "b": 2}})
    assert "dynamic introduction of [b] within [o] is not allowed" in info.value.reason


def test_strict_allows_known_fields_and_nulls() -> None:
    m = Mapping({"dynamic": "strict", **props(n={"type": "long"})})
    assert parse(m, {"n": 1, "x": None}).values == {"n": [1]}


# --- coercion and errors ------------------------------------------------------------------------

FIELDS = Mapping(
    props(
        i={"type": "integer"},
        l={"type": "long"},
        s={"type": "short"},
        by={"type": "byte"},
        d={"type": "double"},
        f={"type": "float"},
        b={"type": "boolean"},
        k={"type": "keyword"},
        t={"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 3}}},
        dt={"type": "date"},
        day={"type": "date", "format": "yyyy-MM-dd"},
    )
)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("i", 12, [12]),
        ("i", "12", [12]),
        ("i", 12.9, [12]),
        ("i", "12.9", [12]),
        ("i", "1e3", [1000]),
        ("l", [1, "2", None], [1, 2]),
        ("l", 2**63 - 1, [2**63 - 1]),
        ("s", -32768, [-32768]),
        ("by", 127, [127]),
        ("d", "2.5", [2.5]),
        ("d", 3, [3.0]),
        ("f", 1.25, [1.25]),
        ("b", True, [True]),
        ("b", "false", [False]),
        ("b", "", [False]),
        ("k", 5, ["5"]),
        ("k", True, ["true"]),
        ("k", "x y", ["x y"]),
        ("t", 1.5, ["1.5"]),
        ("dt", "2024-01-02", [DAY]),
        ("dt", DAY, [DAY]),
        ("day", "2024-01-02", [DAY]),
    ],
)
def test_coercion(field: str, value: Any, expected: list[Any]) -> None:
    assert parse(FIELDS, {field: value}).values[field] == expected


@pytest.mark.parametrize(
    ("field", "ftype", "value"),
    [
        ("i", "integer", "abc"),
        ("i", "integer", "1.5.5"),
        ("l", "long", "9223372036854775808"),
        ("d", "double", "NaN"),
        ("d", "double", "x"),
        ("b", "boolean", "yes"),
        ("b", "boolean", "True"),
        ("dt", "date", "nope"),
        ("day", "date", "2024-01-02T00:00"),
    ],
)
def test_coercion_errors(field: str, ftype: str, value: Any) -> None:
    with pytest.raises(IsthmusError) as info:
        parse(FIELDS, {field: value}, doc_id="7")
    assert info.value.reason == (
        f"failed to parse field [{field}] of type [{ftype}] in document with id '7'. "
        f"Preview of field's value: '{value}'"
    )
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [("i", 2**31), ("l", 2**63), ("s", 40000), ("by", -129), ("l", True), ("d", False), ("b", 1)],
)
def test_non_string_values_fail(field: str, value: Any) -> None:
    with pytest.raises(IsthmusError) as info:
        parse(FIELDS, {field: value}, doc_id="7")
    assert info.value.reason.startswith(f"failed to parse field [{field}] of type [")
    assert "in document with id '7'. Preview of field's value: " in info.value.reason


@pytest.mark.parametrize(
    ("field", "value", "shown"), [("i", 2**31, "2147483648"), ("l", True, "true")]
)
def test_non_string_preview_is_quoted(field: str, value: Any, shown: str) -> None:
    with pytest.raises(IsthmusError) as info:
        parse(FIELDS, {field: value}, doc_id="7")
    assert info.value.reason.endswith(f"Preview of field's value: '{shown}'")


def test_field_value_failure_type() -> None:
    # since ES 8.8 a value a field cannot parse is a document_parsing_exception
    with pytest.raises(IsthmusError) as info:
        parse(FIELDS, {"i": "abc"})
    assert info.value.es_type == "document_parsing_exception"
    assert isinstance(info.value, MapperParsingError)
    cause = info.value.to_body()["error"]["caused_by"]
    assert cause == {"type": "illegal_argument_exception", "reason": 'For input string: "abc"'}


def test_coercion_error_without_id() -> None:
    with pytest.raises(IsthmusError) as info:
        parse(FIELDS, {"i": "x"}, doc_id=None)
    assert info.value.reason == (
        "failed to parse field [i] of type [integer] in document. Preview of field's value: 'x'"
    )


def test_object_for_keyword_field() -> None:
    with pytest.raises(IsthmusError) as info:
        parse(FIELDS, {"k": {"a": 1}})
    assert info.value.reason.startswith("failed to parse field [k] of type [keyword]")


def test_concrete_value_for_object_field() -> None:
    m = Mapping(props(o={"properties": {"a": {"type": "long"}}}))
    with pytest.raises(MapperParsingError) as info:
        parse(m, {"o": "str"})
    assert info.value.reason == (
        "object mapping for [o] tried to parse field [o] as object, but found a concrete value"
    )


def test_ignore_above_skips_long_keywords() -> None:
    doc = parse(FIELDS, {"t": ["abc", "abcd"]})
    assert doc.values == {"t": ["abc", "abcd"], "t.keyword": ["abc"]}


def test_coerce_directly() -> None:
    spec = FieldSpec("k", "keyword", "k", ignore_above=2)
    assert coerce(spec, "ab") == "ab"
    assert coerce(spec, "abc") is None
    with pytest.raises(IsthmusError):
        coerce(spec, ["a"])
    with pytest.raises(IsthmusError):
        coerce(FieldSpec("t", "text", "t"), {"a": 1})


@given(st.integers(-(2**31), 2**31 - 1))
def test_integer_round_trip(n: int) -> None:
    spec = FieldSpec("i", "integer", "i")
    assert coerce(spec, n) == n
    assert coerce(spec, str(n)) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_double_round_trip(x: float) -> None:
    spec = FieldSpec("d", "double", "d")
    assert coerce(spec, x) == x
    assert coerce(spec, repr(x)) == x


# --- source_values ------------------------------------------------------------------------------


def test_source_values() -> None:
    m = Mapping(
        props(
            n={"type": "long"},
            user={"properties": {"tags": {"type": "keyword"}}},
            t={"type": "text", "fields": {"kw": {"type": "keyword", "ignore_above": 3}}},
        )
    )
    src = {
        "n": ["1", 2, None, "bad"],
        "user": [{"tags": ["a", "b"]}, {"tags": "c"}, {"other": 1}],
        "t": ["abc", "abcd"],
    }
    assert source_values(src, m.fields["n"]) == [1, 2]
    assert source_values(src, m.fields["user.tags"]) == ["a", "b", "c"]
    assert source_values(src, m.fields["t.kw"]) == ["abc"]
    assert source_values(src, m.fields["t"]) == ["abc", "abcd"]
    assert source_values({}, m.fields["n"]) == []
    assert source_values({"user": "flat"}, m.fields["user.tags"]) == []


def test_source_values_dotted_keys() -> None:
    spec = FieldSpec("a.b.c", "long", "a.b.c")
    assert source_values({"a.b.c": 1}, spec) == [1]
    assert source_values({"a": {"b.c": 2}}, spec) == [2]
    assert source_values({"a.b": {"c": 3}}, spec) == [3]
    assert sorted(source_values({"a": {"b": {"c": 4}}, "a.b.c": 5}, spec)) == [4, 5]


# --- parameters that are accepted -------------------------------------------------------------


def test_ignore_malformed_is_honoured() -> None:
    m = Mapping(props(n={"type": "long", "ignore_malformed": True}))
    assert parse(m, {"n": "abc"}).values.get("n", []) == []


def test_null_value_is_honoured() -> None:
    m = Mapping(props(k={"type": "keyword", "null_value": "NULL"}))
    assert parse(m, {"k": None}).values == {"k": ["NULL"]}
