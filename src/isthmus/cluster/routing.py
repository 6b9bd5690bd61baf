"""Shard identity and document routing.  [no I/O]

Every read and write names a shard by :class:`ShardId`; :func:`shard_for` picks the shard of a
document from its routing value (the ``_id`` unless ``routing`` is given). The hash is Murmur3
(x86, 32-bit) over the UTF-8 bytes — ES hashes UTF-16 code units, so a document may land on a
different shard number than in ES; nothing outside the cluster can observe that.
"""

from __future__ import annotations

from dataclasses import dataclass


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


def shard_for(routing: str, number_of_shards: int) -> int:
    if number_of_shards == 1:
        return 0
    return murmur3_32(routing.encode()) % number_of_shards
