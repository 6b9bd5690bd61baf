"""Small shared pieces of request handling: JSON bodies and typed URL parameters."""

from __future__ import annotations

import re
from typing import Any

import orjson

from isthmus.errors import IllegalArgumentError, JsonParseError, ParsingError, XContentParseError
from isthmus.http.router import Request
from isthmus.settings.values import parse_flag
from isthmus.xcontent import check_depth

_POS = re.compile(r"line (\d+) column (\d+)")

COMMON_INDICES_PARAMS = (
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_throttled",
)
MASTER_PARAMS = ("master_timeout", "timeout")


def json_body(req: Request, *, required: bool = False) -> Any:
    """The request body as JSON (``None`` when empty), with ES's parse errors. As in ES, the
    ``source`` URL parameter stands in for a body (for clients that cannot send one)."""
    raw = req.body
    if not req.has_body:
        if "source" in req.params:
            raw = req.params["source"].encode()
        elif required:
            raise ParsingError("request body is required")
        else:
            return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        m = _POS.search(msg)
        where = f"[{m.group(1)}:{m.group(2)}] " if m else ""
        raise XContentParseError(f"{where}{msg}", caused_by=JsonParseError(msg)) from None
    if isinstance(value, dict | list):
        check_depth(value)
    return value


def json_object(req: Request, *, required: bool = False) -> dict[str, Any] | None:
    value = json_body(req, required=required)
    if value is not None and not isinstance(value, dict):
        raise ParsingError("request body must be a JSON object")
    return value


def bool_param(req: Request, name: str, default: bool = False) -> bool:
    try:
        return parse_flag(req.params.get(name), default)
    except ValueError as exc:
        raise IllegalArgumentError(str(exc)) from None


def refresh_param(req: Request) -> str | None:
    value = req.params.get("refresh")
    if value is None:
        return None
    if value in ("", "true"):
        return "true"
    if value in ("false", "wait_for"):
        return value
    raise IllegalArgumentError(f"Unknown value for refresh: [{value}].")


def int_param(req: Request, name: str) -> int | None:
    value = req.params.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    # Java reads these as longs: a value past one is the same 400, never an overflow later.
    if number is None or not -(2**63) <= number < 2**63:
        raise IllegalArgumentError(f"Failed to parse int parameter [{name}] with value [{value}]")
    return number
