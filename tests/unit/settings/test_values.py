"""Setting value parsers: time values, byte sizes, booleans, integers, ports, strings, lists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.settings import values as v

# --- time values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("-1", -1),
        ("0", 0),
        ("0s", 0),
        ("250ms", 250),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("1000000nanos", 1),
        ("2000micros", 2),
        (" 30s ", 30_000),
        ("30 s", 30_000),
    ],
)
def test_parse_time_units(text: str, millis: int) -> None:
    assert v.parse_time(text).millis == millis


def test_parse_time_keeps_the_text_as_written() -> None:
    value = v.parse_time("30s")
    assert value == v.TimeValue(30_000, "30s")
    assert str(value) == "30s"
    assert value.seconds == 30.0


def test_parse_time_accepts_yaml_integers_for_the_special_values() -> None:
    assert v.parse_time(-1) == v.TimeValue(-1, "-1")
    assert v.parse_time(0) == v.TimeValue(0, "0")


@pytest.mark.parametrize("text", ["30", "s", "", "30sec", "1w", "abc", "-5s", "1y"])
def test_parse_time_rejects_missing_or_unknown_units(text: str) -> None:
    with pytest.raises(ValueError) as info:
        v.parse_time(text)
    assert str(info.value) == (
        f"failed to parse setting [{{key}}] with value [{text.strip()}] as a time value: "
        "unit is missing or unrecognized"
    )


def test_parse_time_is_case_insensitive_like_es() -> None:
    assert v.parse_time("30S").millis == 30_000


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_parse_time_round_trip(amount: int, unit: str) -> None:
    factor = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
    parsed = v.parse_time(f"{amount}{unit}")
    assert parsed.millis == amount * factor
    assert parsed.text == f"{amount}{unit}"


# --- byte sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("512b", 512),
        ("1kb", 1024),
        ("100mb", 100 * 1024**2),
        ("100MB", 100 * 1024**2),
        ("2gb", 2 * 1024**3),
        ("1tb", 1024**4),
        ("1pb", 1024**5),
        ("1.5kb", 1536),
        (" 10 mb ", 10 * 1024**2),
    ],
)
def test_parse_bytes(text: str, size: int) -> None:
    assert v.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["abc", "10xb", "-1kb", "mb", ""])
def test_parse_bytes_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError) as info:
        v.parse_bytes(text)
    assert str(info.value).startswith(
        f"failed to parse setting [{{key}}] with value [{text}] as a size in bytes"
    )


def test_parse_bytes_accepts_single_letter_units_like_es() -> None:
    assert v.parse_bytes("10k") == 10 * 1024
    assert v.parse_bytes("1g") == 1024**3


# --- booleans, integers, ports ------------------------------------------------------------------


def test_parse_bool_is_strict() -> None:
    assert v.parse_bool(True) is True
    assert v.parse_bool(False) is False
    assert v.parse_bool("true") is True
    assert v.parse_bool("false") is False


@pytest.mark.parametrize("raw", ["True", "yes", "1", "on", "", 1])
def test_parse_bool_rejects_everything_else(raw: object) -> None:
    with pytest.raises(ValueError) as info:
        v.parse_bool(raw)
    assert str(info.value) == (
        f"Failed to parse value [{raw}] as only [true] or [false] are allowed."
    )


def test_parse_int() -> None:
    assert v.parse_int("42") == 42
    assert v.parse_int(7) == 7
    assert v.parse_int("-3") == -3


@pytest.mark.parametrize("raw", ["x", "1.5", "", True])
def test_parse_int_rejects(raw: object) -> None:
    with pytest.raises(ValueError) as info:
        v.parse_int(raw)
    assert str(info.value) == f"Failed to parse value [{raw}] for setting [{{key}}]"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("9200", (9200, 9200)), (9200, (9200, 9200)), ("9200-9300", (9200, 9300)), ("0", (0, 0))],
)
def test_parse_port_range(raw: object, expected: tuple[int, int]) -> None:
    assert v.parse_port_range(raw) == expected


@pytest.mark.parametrize("raw", ["9300-9200", "70000", "abc", "9200-", "-1", "9200,9300"])
def test_parse_port_range_rejects(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        v.parse_port_range(raw)
    assert str(info.value) == f"Failed to parse value [{raw}] for setting [{{key}}]"


@given(st.integers(0, 65535), st.integers(0, 65535))
def test_parse_port_range_round_trip(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    assert v.parse_port_range(f"{lo}-{hi}") == (lo, hi)


# --- strings and lists --------------------------------------------------------------------------


def test_parse_str_renders_yaml_scalars_as_es_does() -> None:
    assert v.parse_str("abc") == "abc"
    assert v.parse_str(True) == "true"
    assert v.parse_str(False) == "false"
    assert v.parse_str(12) == "12"


@pytest.mark.parametrize("raw", [["a"], {"a": 1}])
def test_parse_str_rejects_structures(raw: object) -> None:
    with pytest.raises(ValueError, match=r"^Failed to parse value \[.*\] for setting \[\{key\}\]$"):
        v.parse_str(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["master", "data"], ("master", "data")),
        (("a",), ("a",)),
        ("master,data", ("master", "data")),
        ("[master, data]", ("master", "data")),
        (" a , ,b ", ("a", "b")),
        ("", ()),
        ("[]", ()),
        ([1, 2], ("1", "2")),
    ],
)
def test_parse_str_list(raw: object, expected: tuple[str, ...]) -> None:
    assert v.parse_str_list(raw) == expected
