"""Shard identity and document routing (Murmur3 x86 32-bit)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.cluster.routing import ShardId, murmur3_32, shard_for

# Published MurmurHash3_x86_32 vectors (SMHasher's reference implementation), every tail length.
VECTORS = [
    (b"", 0, 0x00000000),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\xff\xff\xff\xff", 0, 0x76293B50),
    (b"\x21\x43\x65\x87", 0, 0xF55B516B),
    (b"\x21\x43\x65\x87", 0x5082EDEE, 0x2362F9DE),
    (b"\x21\x43\x65", 0, 0x7E4A8634),
    (b"\x21\x43", 0, 0xA0F7B07A),
    (b"\x21", 0, 0x72661CF4),
    (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
    (b"\x00\x00\x00", 0, 0x85F0B427),
    (b"\x00\x00", 0, 0x30F4C306),
    (b"\x00", 0, 0x514E28B7),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"abc", 0, 0xB3DD93FA),
    (b"test", 0, 0xBA6BD213),
    (b"hello", 0, 0x248BFA47),
    (b"Hello, world!", 0, 0xC0363E43),
    (b"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
]


@pytest.mark.parametrize(("data", "seed", "expected"), VECTORS)
def test_murmur3_known_vectors(data: bytes, seed: int, expected: int) -> None:
    assert murmur3_32(data, seed) == expected


@given(st.binary(max_size=64), st.integers(0, 2**32 - 1))
def test_murmur3_is_32_bit_and_deterministic(data: bytes, seed: int) -> None:
    h = murmur3_32(data, seed)
    assert 0 <= h <= 0xFFFFFFFF
    assert murmur3_32(data, seed) == h


def test_single_shard_is_always_zero() -> None:
    assert {shard_for(f"id-{i}", 1) for i in range(100)} == {0}


def test_shard_for_is_the_hash_modulo() -> None:
    assert shard_for("hello", 5) == 0x248BFA47 % 5 == 1
    assert shard_for("hello", 7) == 0x248BFA47 % 7
    assert shard_for("é", 3) == murmur3_32("é".encode()) % 3


@given(st.text(), st.integers(1, 64))
def test_shard_for_in_range_and_stable(routing: str, shards: int) -> None:
    shard = shard_for(routing, shards)
    assert 0 <= shard < shards
    assert shard_for(routing, shards) == shard


def test_shard_for_spreads_documents() -> None:
    counts = Counter(shard_for(str(i), 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 800


def test_shard_id() -> None:
    sid = ShardId("uuid-1", 2, "logs")
    assert str(sid) == "[logs][2]"
    assert sid == ShardId("uuid-1", 2, "logs")
    assert len({sid, ShardId("uuid-1", 2, "logs")}) == 1
    assert sorted([ShardId("b", 0), ShardId("a", 1), ShardId("a", 0)]) == [
        ShardId("a", 0),
        ShardId("a", 1),
        ShardId("b", 0),
    ]
