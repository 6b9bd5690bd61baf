"""Rescoring: the query rescorer of ``"rescore"``, parsed and its scores combined.  [no I/O]

``{"window_size": 50, "query": {"rescore_query": {...}, "query_weight": 0.7,
"rescore_query_weight": 1.2, "score_mode": "total"}}`` (or an array of such, applied in turn)
re-scores each shard's top ``window_size`` hits: a hit the rescore query matches gets its
original score times ``query_weight`` combined (``score_mode``) with the rescore query's score
times ``rescore_query_weight``; one it does not match keeps ``query_weight`` times its score. The
window is then re-ordered and placed before the shard's other hits, which keep their scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError, XContentParseError
from isthmus.search import dsl

DEFAULT_WINDOW = 10
SCORE_MODES = ("total", "multiply", "avg", "max", "min")
_QUERY_KEYS = ("rescore_query", "query_weight", "rescore_query_weight", "score_mode")


@dataclass(frozen=True)
class QueryRescorer:
    query: dsl.Query
    window_size: int = DEFAULT_WINDOW
    query_weight: float = 1.0
    rescore_query_weight: float = 1.0
    score_mode: str = "total"

    def combine(self, original: float, rescored: float | None) -> float:
        """The new score of a hit in the window (``rescored``: None when the rescore query does
        not match it)."""
        primary = original * self.query_weight
        if rescored is None:
            return primary
        secondary = rescored * self.rescore_query_weight
        if self.score_mode == "multiply":
            return primary * secondary
        if self.score_mode == "avg":
            return (primary + secondary) / 2
        if self.score_mode == "max":
            return max(primary, secondary)
        if self.score_mode == "min":
            return min(primary, secondary)
        return primary + secondary


def parse_rescore(raw: Any) -> tuple[QueryRescorer, ...]:
    items = raw if isinstance(raw, list) else [raw]
    return tuple(_rescorer(item) for item in items)


def _rescorer(raw: Any) -> QueryRescorer:
    if not isinstance(raw, Mapping):
        raise ParsingError(f"unexpected token [{xcontent.token(raw)}] after [rescore]")
    window = DEFAULT_WINDOW
    spec: Mapping[str, Any] | None = None
    for key, value in raw.items():
        if isinstance(value, Mapping):
            if key != "query":
                raise XContentParseError(f"unknown rescorer [{key}]")
            spec = value
        elif key == "window_size":
            window = xcontent.as_int("rescore", "window_size", value)
        else:
            raise ParsingError(f"rescore doesn't support [{key}]")
    if spec is None:
        raise ParsingError("missing rescore type")
    for key in spec:
        if key not in _QUERY_KEYS:
            raise xcontent.at(
                xcontent.unknown_field("query", key, _QUERY_KEYS), "rescore", "query", key
            )
    if "rescore_query" not in spec:
        raise IllegalArgumentError("rescore_query cannot be null")
    mode = xcontent.as_str("query", "score_mode", spec.get("score_mode", "total")).lower()
    if mode not in SCORE_MODES:
        raise IllegalArgumentError(f"illegal score_mode [{mode}]")
    return QueryRescorer(
        query=dsl.parse_query(spec["rescore_query"]),
        window_size=window,
        query_weight=xcontent.as_float("query", "query_weight", spec.get("query_weight", 1.0)),
        rescore_query_weight=xcontent.as_float(
            "query", "rescore_query_weight", spec.get("rescore_query_weight", 1.0)
        ),
        score_mode=mode,
    )


def check_window(rescorers: tuple[QueryRescorer, ...], max_window: int) -> None:
    """``index.max_rescore_window`` (ES's default 10000), as the shard checks it."""
    for r in rescorers:
        if r.window_size > max_window:
            raise IllegalArgumentError(
                f"Rescore window [{r.window_size}] is too large. It must be less than "
                f"[{max_window}]. This prevents allocating massive heaps for storing the results "
                "to be rescored. This limit can be set by changing the [index.max_rescore_window] "
                "index level setting."
            )


__all__ = ["QueryRescorer", "check_window", "parse_rescore"]
