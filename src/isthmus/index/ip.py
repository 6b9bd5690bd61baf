"""The ``ip`` field type: parsing, canonical text, index order and CIDR ranges.  [no I/O]

ES stores every address as 16 bytes (IPv4 as its IPv4-mapped IPv6 form) and orders them by those
bytes; it shows them in their canonical text (``192.168.0.1``, ``2001:db8::1``). Here a value is
an :class:`Ip`: a ``str`` holding that text (so it renders, hashes and compares equal as ES's
keys do) that orders by the bytes. The search index holds the bytes as 32 hex digits in a raw
text field, whose order is the byte order: exact terms, CIDR blocks and ranges are term and
range queries on that text.
"""

from __future__ import annotations

import ipaddress
from typing import Any

_V4_MAPPED = 0xFFFF << 32


class IpParseError(ValueError):
    """A value that is not an IP address (ES: ``'x' is not an IP string literal.``)."""


class Ip(str):
    """An address in its canonical text, ordered by its 16 bytes."""

    __slots__ = ("number",)
    number: int

    def __new__(cls, text: str, number: int) -> Ip:
        obj = super().__new__(cls, text)
        obj.number = number
        return obj

    def __lt__(self, other: object) -> bool:
        return self.number < _number(other)

    def __le__(self, other: object) -> bool:
        return self.number <= _number(other)

    def __gt__(self, other: object) -> bool:
        return self.number > _number(other)

    def __ge__(self, other: object) -> bool:
        return self.number >= _number(other)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)

    def __hash__(self) -> int:
        return str.__hash__(self)

    @property
    def sortable(self) -> str:
        """The index form: the 16 bytes as 32 hex digits."""
        return f"{self.number:032x}"


def _number(other: object) -> int:
    if isinstance(other, Ip):
        return other.number
    return parse_ip(other).number


def _from_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Ip:
    if isinstance(addr, ipaddress.IPv4Address):
        return Ip(str(addr), _V4_MAPPED | int(addr))
    mapped = addr.ipv4_mapped
    if mapped is not None:  # ES shows an IPv4-mapped address as the IPv4 address
        return Ip(str(mapped), int(addr))
    return Ip(addr.compressed, int(addr))


def parse_ip(value: Any) -> Ip:
    """``value`` as an address; :class:`IpParseError` with ES's message otherwise."""
    if isinstance(value, Ip):
        return value
    if not isinstance(value, str):
        raise IpParseError(f"'{value}' is not an IP string literal.")
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return _from_address(ipaddress.ip_address(text))
    except ValueError:
        raise IpParseError(f"'{value}' is not an IP string literal.") from None


def from_sortable(text: str) -> Ip:
    """An address back from its index form."""
    return _from_address(ipaddress.IPv6Address(int(text, 16)))


def cidr_bounds(value: str) -> tuple[Ip, Ip] | None:
    """The first and last address of ``value`` when it is a CIDR block (``10.0.0.0/8``)."""
    if "/" not in value:
        return None
    addr_text, _, bits_text = value.partition("/")
    addr = parse_ip(addr_text)
    try:
        bits = int(bits_text)
    except ValueError:
        raise IpParseError(f"'{value}' is not an IP string literal.") from None
    width = 32 if ":" not in addr_text else 128
    if not 0 <= bits <= width:
        raise IpParseError(
            f"Illegal prefix length [{bits}] in [{value}]. Must be 0-32 for IPv4 ranges, 0-128 "
            "for IPv6 ranges"
        )
    host_bits = width - bits
    low = addr.number >> host_bits << host_bits
    high = low | ((1 << host_bits) - 1)
    return from_sortable(f"{low:032x}"), from_sortable(f"{high:032x}")


def ip_range(low: Any, high: Any) -> tuple[str | None, str | None]:
    """Index-form bounds of a range query (None: unbounded)."""
    lo = None if low is None else parse_ip(low).sortable
    hi = None if high is None else parse_ip(high).sortable
    return lo, hi
