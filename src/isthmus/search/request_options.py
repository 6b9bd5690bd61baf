"""A search request's scalar options: numbers read as ES reads Java ints, ``track_total_hits``,
``timeout``, ``indices_boost``, ``pre_filter_shard_size``, ``terminate_after`` and boolean
flags, each validated with Elasticsearch's messages.  [no I/O]

Used by ``search.request``'s :func:`~isthmus.search.request.parse_search`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ParsingError(f"[{name}] failed to parse field [{name}]")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise IllegalArgumentError(
            f"Failed to parse int parameter [{name}] with value [{value}]"
        ) from None
    if not xcontent.INT_MIN <= number <= xcontent.INT_MAX:
        # ES reads these as Java ints.
        raise IllegalArgumentError(f"Numeric value ({value}) out of range of int")
    return number


def _track_total_hits(raw: Any) -> bool | int:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw in ("true", "false"):
        return raw == "true"
    value = _int("track_total_hits", raw)
    if value < -1:
        raise IllegalArgumentError(
            f"[track_total_hits] parameter must be positive or equals to -1, got {value}"
        )
    return value


def _timeout_ms(raw: Any) -> int | None:
    if raw is None:
        return None
    from isthmus.settings.values import parse_time

    try:
        return parse_time(raw).millis
    except ValueError:
        raise ParsingError(
            f"failed to parse setting [timeout] with value [{raw}] as a time value"
        ) from None


def parse_indices_boost(raw: list[Any]) -> tuple[tuple[str, float], ...]:
    """``[{"index": boost}, ...]``: one index, alias or pattern per object, ES's token errors."""
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ParsingError(
                f"Expected [START_OBJECT] in [indices_boost] but found [{xcontent.token(item)}]"
            )
        if not item:
            raise ParsingError("Expected [FIELD_NAME] in [indices_boost] but found [END_OBJECT]")
        name, boost = next(iter(item.items()))
        if isinstance(boost, bool) or not isinstance(boost, int | float):
            raise ParsingError(
                f"Expected [VALUE_NUMBER] in [indices_boost] but found [{xcontent.token(boost)}]"
            )
        if len(item) > 1:
            raise ParsingError("Expected [END_OBJECT] in [indices_boost] but found [FIELD_NAME]")
        out.append((name, float(boost)))
    return tuple(out)


def _pre_filter_shard_size(params: Mapping[str, str]) -> int | None:
    raw = params.get("pre_filter_shard_size")
    if raw is None:
        return None
    value = _int("pre_filter_shard_size", raw)
    if value < 1:
        raise IllegalArgumentError("preFilterShardSize must be >= 1")
    return value


def _terminate_after(body: Mapping[str, Any], params: Mapping[str, str]) -> int | None:
    """``terminate_after`` (URL parameter over body): the documents each shard collects at most;
    0 means no limit (ES's default), a negative count is refused."""
    raw = params.get("terminate_after", body.get("terminate_after"))
    if raw is None:
        return None
    value = _int("terminate_after", raw)
    if value < 0:
        raise IllegalArgumentError("terminateAfter must be > 0")
    return value or None


def _flag(body: Mapping[str, Any], params: Mapping[str, str], name: str) -> bool:
    """A boolean search option: the URL parameter, when given, overrides the body (ES's
    RestSearchAction applies URL parameters over the parsed body)."""
    raw = params.get(name)
    if raw is None:
        return xcontent.as_bool("search", name, body[name]) if name in body else False
    if name in body:
        xcontent.as_bool("search", name, body[name])  # the body is parsed (and refused) first
    if raw == "":
        # paramAsBoolean: an empty track_scores means "on"; the others read it as no value
        return name == "track_scores"
    if raw not in ("true", "false"):  # Booleans.parseBoolean
        raise IllegalArgumentError(
            f"Failed to parse value [{raw}] as only [true] or [false] are allowed."
        )
    return raw == "true"
