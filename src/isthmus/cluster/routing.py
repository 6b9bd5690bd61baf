"""Shard identity and document routing.  [no I/O]

Every read and write names a shard by :class:`ShardId`; :func:`shard_for` picks the shard of a
document from its routing value (the ``_id`` unless ``routing`` is given) exactly as ES's
IndexRouting does, so a document lands on the shard number ES would pick:

* the hash is Murmur3 (x86, 32-bit, seed 0) over the routing's UTF-16 code units, each written
  low byte first (ES's Murmur3HashFunction), read as a signed 32-bit int;
* the shard is ``floorMod(hash, routing_num_shards) / (routing_num_shards / number_of_shards)``;
* ``index.number_of_routing_shards`` defaults (indices created by ES 7+) to the largest
  ``number_of_shards * 2^n`` not above 1024, with at least one split
  (:func:`default_routing_shards`); an explicit value must be a multiple of the shard count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from isthmus.errors import IllegalArgumentError

ROUTING_SHARDS = "index.number_of_routing_shards"


@dataclass(frozen=True, order=True)
class ShardId:
    index_uuid: str
    shard: int
    index_name: str = ""

    def __str__(self) -> str:
        return f"[{self.index_name}][{self.shard}]"


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """Murmur3 x86 32-bit hash (public-domain algorithm by Austin Appleby)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[n:]
    k = 0
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def routing_hash(routing: str) -> int:
    """ES's Murmur3HashFunction.hash: UTF-16 code units, little-endian, as a signed int."""
    unsigned = murmur3_32(routing.encode("utf-16-le", "surrogatepass"))
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned


def default_routing_shards(number_of_shards: int) -> int:
    """ES's MetadataCreateIndexService.calculateNumRoutingShards (indices created on 7.0+)."""
    log2_shards = (number_of_shards - 1).bit_length()  # ceil(log2(number_of_shards))
    splits = max(1, 10 - log2_shards)
    return number_of_shards << splits


def routing_factor(number_of_shards: int, routing_shards: int) -> int:
    """ES's IndexMetadata.getRoutingFactor, with its errors for a count that cannot split."""
    if number_of_shards < routing_shards:
        factor = routing_shards // number_of_shards
        if factor * number_of_shards != routing_shards or factor <= 1:
            raise IllegalArgumentError(
                f"the number of source shards [{number_of_shards}] must be a factor of "
                f"[{routing_shards}]"
            )
        return factor
    if number_of_shards > routing_shards:
        raise IllegalArgumentError(
            f"{ROUTING_SHARDS} [{routing_shards}] must be >= index.number_of_shards "
            f"[{number_of_shards}]"
        )
    return 1


def routing_shards_of(settings: Mapping[str, str]) -> int:
    """The routing shard count of an index from its settings (explicit or ES's default)."""
    shards = int(settings.get("index.number_of_shards", "1"))
    explicit = settings.get(ROUTING_SHARDS)
    return int(explicit) if explicit is not None else default_routing_shards(shards)


def check_routing_shards(settings: Mapping[str, str]) -> None:
    """Validate an explicit ``index.number_of_routing_shards`` against the shard count."""
    explicit = settings.get(ROUTING_SHARDS)
    if explicit is None:
        return
    try:
        value = int(explicit)
    except ValueError:
        raise IllegalArgumentError(
            f"Failed to parse value [{explicit}] for setting [{ROUTING_SHARDS}]"
        ) from None
    if value < 1:
        raise IllegalArgumentError(
            f"Failed to parse value [{explicit}] for setting [{ROUTING_SHARDS}] must be >= 1"
        )
    routing_factor(int(settings.get("index.number_of_shards", "1")), value)


def shard_for(routing: str, number_of_shards: int, routing_shards: int | None = None) -> int:
    """The shard number ES picks for ``routing`` (``routing_shards`` None: ES's default)."""
    if number_of_shards == 1:
        return 0
    total = default_routing_shards(number_of_shards) if routing_shards is None else routing_shards
    return (routing_hash(routing) % total) // (total // number_of_shards)


def index_shard(routing: str, settings: Mapping[str, str]) -> int:
    """:func:`shard_for` with the shard counts read from an index's settings."""
    shards = int(settings.get("index.number_of_shards", "1"))
    return shard_for(routing, shards, routing_shards_of(settings) if shards > 1 else None)
