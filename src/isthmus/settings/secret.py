"""A secret value whose every printable form is ``::es_redacted::``.  [no I/O]"""

from __future__ import annotations

import hmac

REDACTED = "::es_redacted::"


class Secret:
    """Wraps a secret string; only :meth:`reveal` gives it back."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def equals(self, other: str) -> bool:
        """Constant-time comparison."""
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.equals(other._value)

    def __hash__(self) -> int:
        return hash(REDACTED)

    def __reduce__(self) -> str:
        raise TypeError("secrets are not picklable")
