"""Values of field mapping parameters that ES validates when a mapping is parsed.  [no I/O]

``mapping_body`` checks which parameters a type takes; this module checks what some of them may
hold, with the texts of ES's field mappers (each raised here is reported by ``Mapping`` as
"Failed to parse mapping: <text>"):

* ``ip`` ``null_value`` must be an address (IpFieldMapper: "Error parsing [null_value] on
  field [<f>]: '<v>' is not an IP string literal.");
* ``date``/``date_nanos`` ``format``: every ``||`` part is one of ES's format names or a Java
  date-time pattern (DateFieldMapper: "Error parsing [format] on field [<f>]: Invalid format:
  [<part>]: Unknown pattern letter: <c>");
* ``analyzer``/``search_analyzer``/``search_quote_analyzer`` of ``text`` and ``completion`` must
  name an analyzer that exists: Isthmus has no custom analyzers (``index.analysis`` is refused),
  so only ES's built-in ones do ("analyzer [<a>] has not been configured in mappings");
* ``flattened`` ``depth_limit`` is an integer (``intParam``: Java's ``NumberFormatException``
  text) that is not negative ("[depth_limit] must be positive, got [<n>]").

Field names in these texts are the field's own name (ES's ``leafName()``), not its path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from isthmus.errors import IllegalArgumentError, MapperParsingError, NumberFormatError
from isthmus.index.field_types import COMPLETION, DATE, DATE_NANOS, FLATTENED, IP, TEXT
from isthmus.index.ip import IpParseError, parse_ip

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_JAVA_INT = re.compile(r"[+-]?[0-9]+")

# ES's built-in analyzers (its prebuilt ones and the common analysis module's, language
# analyzers included): the only names a mapping may use while custom analyzers are refused.
BUILT_IN_ANALYZERS = frozenset(
    {
        "default", "standard", "simple", "whitespace", "stop", "keyword", "pattern",
        "fingerprint", "snowball", "classic", "standard_html_strip",
        "arabic", "armenian", "basque", "bengali", "brazilian", "bulgarian", "catalan",
        "chinese", "cjk", "czech", "danish", "dutch", "english", "estonian", "finnish",
        "french", "galician", "german", "greek", "hindi", "hungarian", "indonesian", "irish",
        "italian", "latvian", "lithuanian", "norwegian", "persian", "portuguese", "romanian",
        "russian", "serbian", "sorani", "spanish", "swedish", "turkish", "thai",
    }
)  # fmt: skip
_ANALYZER_PARAMS = ("analyzer", "search_analyzer", "search_quote_analyzer")

# ES's date format names (org.elasticsearch.common.time.FormatNames): a ``||`` part that is
# none of these is read as a Java DateTimeFormatter pattern.
_FORMAT_NAMES = frozenset(
    {
        "iso8601", "epoch_second", "epoch_millis", "date", "date_hour", "date_hour_minute",
        "date_hour_minute_second", "date_hour_minute_second_fraction",
        "date_hour_minute_second_millis", "date_optional_time", "date_time",
        "date_time_no_millis", "hour", "hour_minute", "hour_minute_second",
        "hour_minute_second_fraction", "hour_minute_second_millis", "ordinal_date",
        "ordinal_date_time", "ordinal_date_time_no_millis", "time", "time_no_millis", "t_time",
        "t_time_no_millis", "week_date", "week_date_time", "week_date_time_no_millis",
        "week_year", "weekyear", "weekyear_week", "weekyear_week_day", "year", "year_month",
        "year_month_day",
    }
    | {
        prefix + name
        for prefix in ("basic_", "strict_basic_")
        for name in (
            "date", "date_time", "date_time_no_millis", "ordinal_date", "ordinal_date_time",
            "ordinal_date_time_no_millis", "time", "time_no_millis", "t_time",
            "t_time_no_millis", "week_date", "week_date_time", "week_date_time_no_millis",
        )
    }
    | {
        "strict_" + name
        for name in (
            "date", "date_hour", "date_hour_minute", "date_hour_minute_second",
            "date_hour_minute_second_fraction", "date_hour_minute_second_millis",
            "date_optional_time", "date_optional_time_nanos", "date_time",
            "date_time_no_millis", "hour", "hour_minute", "hour_minute_second",
            "hour_minute_second_fraction", "hour_minute_second_millis", "ordinal_date",
            "ordinal_date_time", "ordinal_date_time_no_millis", "time", "time_no_millis",
            "t_time", "t_time_no_millis", "week_date", "week_date_time",
            "week_date_time_no_millis", "weekyear", "weekyear_week", "weekyear_week_day", "year",
            "year_month", "year_month_day",
        )
    }
)  # fmt: skip

# The letters java.time's DateTimeFormatterBuilder.appendPattern knows; '{', '}' and '#' are
# reserved; any other ASCII letter is unknown. Everything else is a literal.
_PATTERN_LETTERS = frozenset("GuyDMLdQqYwWEecFaBhKkHmsSAnNVvzOXxZpg")
_RESERVED = frozenset("{}#")


def _parameter_error(reason: str) -> MapperParsingError:
    """ES reports a parameter's refusal as its illegal_argument_exception (``Mapping`` turns
    it into "Failed to parse mapping: <reason>" caused by it)."""
    return MapperParsingError(reason, caused_by=IllegalArgumentError(reason))


def check_param_values(ftype: str, name: str, leaf: Mapping[str, Any]) -> None:
    """Refuse a parameter value of field ``name`` (of type ``ftype``) as ES does."""
    if ftype == IP and leaf.get("null_value") is not None:
        value = leaf["null_value"]
        try:
            parse_ip(value if isinstance(value, str) else _java_text(value))
        except IpParseError as exc:
            # Not a parameter validator in ES: the mapper's own MapperParsingException.
            raise MapperParsingError(
                f"Error parsing [null_value] on field [{name}]: {exc}",
                caused_by=IllegalArgumentError(str(exc)),
            ) from None
    elif ftype in (DATE, DATE_NANOS) and "format" in leaf:
        problem = date_format_problem(_java_text(leaf["format"]))
        if problem is not None:
            raise _parameter_error(f"Error parsing [format] on field [{name}]: {problem}")
    elif ftype in (TEXT, COMPLETION):
        for key in _ANALYZER_PARAMS:
            analyzer = leaf.get(key)
            if analyzer is not None and _java_text(analyzer) not in BUILT_IN_ANALYZERS:
                raise _parameter_error(
                    f"analyzer [{_java_text(analyzer)}] has not been configured in mappings"
                )
    elif ftype == FLATTENED and "depth_limit" in leaf:
        limit = _int_param(leaf["depth_limit"])
        if limit < 0:
            raise _parameter_error(f"[depth_limit] must be positive, got [{limit}]")


# FlattenedFieldMapper's default depth_limit.
DEFAULT_DEPTH_LIMIT = 20


def flattened_depth_limit(leaf: Mapping[str, Any]) -> int:
    """A flattened field's ``depth_limit`` as ES reads it. A value refused since the mapping
    was stored reads as the default (the mapping must still load)."""
    try:
        return _int_param(leaf["depth_limit"]) if "depth_limit" in leaf else DEFAULT_DEPTH_LIMIT
    except MapperParsingError:
        return DEFAULT_DEPTH_LIMIT


def date_format_problem(fmt: str) -> str | None:
    """Why ES's DateFormatter refuses ``fmt`` ("Invalid format: ..."), None when it builds."""
    if not fmt:
        return "No date pattern provided"
    for part in fmt.split("||"):
        if part in _FORMAT_NAMES:
            continue
        problem = _pattern_problem(part)
        if problem is not None:
            return f"Invalid format: [{part}]: {problem}"
    return None


def _pattern_problem(pattern: str) -> str | None:
    """java.time's refusal of a DateTimeFormatter pattern (the checks that need no counting
    of letters): unknown letters, reserved characters, an unclosed quote, a stray ``]``."""
    optional_depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                return f"Pattern ends with an incomplete string literal: {pattern}"
            i = end + 1
            continue
        if c == "[":
            optional_depth += 1
        elif c == "]":
            if optional_depth == 0:
                return "Pattern invalid as it contains ] without previous ["
            optional_depth -= 1
        elif c in _RESERVED:
            return f"Pattern includes reserved character: '{c}'"
        elif c.isascii() and c.isalpha() and c not in _PATTERN_LETTERS:
            return f"Unknown pattern letter: {c}"
        i += 1
    return None


def _int_param(value: Any) -> int:
    """ES's ``XContentMapValues.nodeIntegerValue``: a number is truncated to an int, anything
    else is read with ``Integer.parseInt`` (Java's NumberFormatException text)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    text = _java_text(value)
    if _JAVA_INT.fullmatch(text) and INT_MIN <= int(text) <= INT_MAX:
        return int(text)
    reason = f'For input string: "{text}"'
    raise MapperParsingError(reason, caused_by=NumberFormatError(reason))


def _java_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["BUILT_IN_ANALYZERS", "check_param_values", "date_format_problem"]
