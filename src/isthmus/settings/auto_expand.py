"""``index.auto_expand_replicas``: ``false`` or ``<min>-<max|all>``, as ES's AutoExpandReplicas.

The value is checked with ES's texts (a value without a dash, a bound that is not a number, a
minimum above the maximum). Enabled, it sets ``number_of_replicas`` from the count of data
nodes: ``nodes - 1`` clamped to ``[min, max]``, applied only when that lands inside the range
the nodes allow (``max`` is at most ``nodes - 1``). On Isthmus's one node that is 0 replicas
whenever ``min`` is 0; a ``min`` above 0 leaves ``number_of_replicas`` as it is, as in ES.
"""

from __future__ import annotations

KEY = "index.auto_expand_replicas"
ALL = 2**31 - 1  # ES's Integer.MAX_VALUE for "all"


def parse_auto_expand(raw: object) -> str:
    """Validate and return the setting's text (a ValueError with ES's reason when bad)."""
    value = str(raw).lower() if isinstance(raw, bool) else str(raw)
    bounds(value)
    return value


def bounds(value: str) -> tuple[int, int] | None:
    """(min, max) when enabled, None for ``false``."""
    if value == "false":
        return None
    dash = value.find("-")
    failed = f"failed to parse [{KEY}] from value: [{value}] at index {dash}"
    if dash < 0:
        raise ValueError(failed)
    low_text, high_text = value[:dash], value[dash + 1 :]
    try:
        low = _java_int(low_text)
        high = ALL if high_text == "all" else _java_int(high_text)
    except ValueError:
        raise ValueError(failed) from None
    if low > high:
        raise ValueError(f"[{KEY}] minReplicas must be =< maxReplicas but wasn't {low} > {high}")
    return low, high


def _java_int(text: str) -> int:
    # Integer.parseInt: optional sign, ASCII digits, 32-bit.
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(text)
    number = int(text)
    if not -(2**31) <= number < 2**31:
        raise ValueError(text)
    return number


def desired_replicas(value: str, data_nodes: int = 1) -> int | None:
    """The replica count ES's auto-expansion sets, or None when it leaves the count alone."""
    found = bounds(value)
    if found is None:
        return None
    low, high = found
    high = min(high, data_nodes - 1)
    replicas = data_nodes - 1
    if replicas < low:
        replicas = low
    elif replicas > high:
        replicas = high
    return replicas if low <= replicas <= high else None


__all__ = ["KEY", "bounds", "desired_replicas", "parse_auto_expand"]
