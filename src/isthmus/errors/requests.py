"""Errors of a request's shape: arguments, parsing, validation, media type, method."""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.errors.base import IsthmusError


@dataclass(frozen=True)
class BodyKey:
    """Where in the request body a parse error arose, for the HTTP layer (which holds the raw
    body) to report as ES reports its parser's token location: the key at ``path`` (its last
    names are enough, ``*`` stands for any name; ``rooted``: the whole path from the body's
    root), or with ``at_value`` the value that key holds (the token ES's hand-written parsers
    stand on when they fail)."""

    path: tuple[str, ...]
    rooted: bool = False
    at_value: bool = False


class IllegalArgumentError(IsthmusError):
    es_type = "illegal_argument_exception"
    status = 400
    is_es = False


class ParsingError(IsthmusError):
    es_type = "parsing_exception"
    status = 400
    java_class = "org.elasticsearch.common.ParsingException"
    body_key: BodyKey | None = None  # shown as the ``line`` and ``col`` fields

    def __init__(self, reason: str, *, line: int | None = None, col: int | None = None) -> None:
        extra = {"line": line, "col": col} if line is not None else None
        super().__init__(reason, extra=extra)


class DateMathParseError(ParsingError):
    """Elasticsearch's ``parse_exception``: a date or date-math expression that cannot be read.

    It is a :class:`ParsingError` (so callers may catch either) but reports the ``type`` ES sends
    for these failures, which is ``parse_exception`` rather than ``parsing_exception``.
    """

    es_type = "parse_exception"


class XContentParseError(IsthmusError):
    es_type = "x_content_parse_exception"
    status = 400
    body_key: BodyKey | None = None  # shown as the reason's ``[line:col] `` prefix


class JsonParseError(IsthmusError):
    es_type = "json_parse_exception"
    status = 400
    is_es = False


class IllegalStateError(IsthmusError):
    """Java's ``IllegalStateException``: something is in a state that cannot serve the request
    (a peer that answers the wrong way, a node list with no usable node)."""

    es_type = "illegal_state_exception"
    status = 500
    is_es = False


class ElasticsearchParseError(IsthmusError):
    """ES's ``ElasticsearchParseException``: a request body of the wrong shape."""

    es_type = "parse_exception"
    status = 400
    java_class = "org.elasticsearch.ElasticsearchParseException"


class QueryParseError(IsthmusError):
    """ES's ``parse_exception``: query text that is not valid Lucene syntax."""

    es_type = "parse_exception"
    status = 400
    is_es = False  # Lucene's ParseException: never a root cause beneath ES's own exception


class NumberFormatError(IsthmusError):
    """Java's ``NumberFormatException``: only ever the ``caused_by`` of an ES parse error."""

    es_type = "number_format_exception"
    status = 400
    is_es = False


class ActionRequestValidationError(IsthmusError):
    es_type = "action_request_validation_exception"
    status = 400


class ContentTooLargeError(IsthmusError):
    es_type = "content_too_long_exception"
    status = 413


class UnsupportedMediaTypeError(IsthmusError):
    es_type = "media_type_header_exception"
    status = 406


class MethodNotAllowedError(IsthmusError):
    """ES answers an existing path with a wrong method with a bare error string; see http.app."""

    es_type = "method_not_allowed"
    status = 405
