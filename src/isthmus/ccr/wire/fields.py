"""How every cross-cluster replication payload's fields are read: a missing or mistyped field is
refused with ES's ``illegal_argument_exception``, naming the payload and the field.  [no I/O]
"""

from __future__ import annotations

from typing import Any, Final, TypeGuard

from isthmus.errors import IllegalArgumentError

_LONG_MAX: Final = 2**63 - 1


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


def _field(value: dict[str, Any], key: str, what: str) -> Any:
    if key not in value:
        raise IllegalArgumentError(f"{what} is missing [{key}]")
    return value[key]


def _int(value: dict[str, Any], key: str, what: str, *, low: int | None = None) -> int:
    number = _field(value, key, what)
    if not _is_int(number) or not -(2**63) <= number <= _LONG_MAX:
        raise IllegalArgumentError(f"{what} field [{key}] must be an integer")
    if low is not None and number < low:
        raise IllegalArgumentError(f"{what} field [{key}] must be at least [{low}]")
    return number


def _str(value: dict[str, Any], key: str, what: str, *, optional: bool = False) -> Any:
    text = value.get(key) if optional else _field(value, key, what)
    if text is None and optional:
        return None
    if not isinstance(text, str):
        raise IllegalArgumentError(f"{what} field [{key}] must be a string")
    return text


def _map(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IllegalArgumentError(f"{what} payload must be a map")
    return value
