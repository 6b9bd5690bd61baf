"""Shard identity and document routing (Murmur3 x86 32-bit)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.cluster.routing import (
    ROUTING_SHARDS,
    ShardId,
    check_routing_shards,
    default_routing_shards,
    index_shard,
    murmur3_32,
    routing_hash,
    shard_for,
)
from isthmus.errors import IllegalArgumentError

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


# ES's Murmur3HashFunctionTests: the hash of a string's UTF-16 code units.
ES_HASHES = [
    ("hell", 0x5A0CB7C3),
    ("hello", 0xD7C31989),
    ("hello w", 0x22AB2984),
    ("hello wo", 0xDF0CA123),
    ("hello wor", 0xE7744D61),
    ("The quick brown fox jumps over the lazy dog", 0xE07DB09C),
    ("The quick brown fox jumps over the lazy cog", 0x4E63D2AD),
]
# ES's OperationRoutingTests.testBWC: 8 shards, 8 routing shards (id or routing value).
ES_SHARDS_OF_8 = {
    "sEERfFzPSI": 1,
    "cNRiIrjzYd": 7,
    "BgfLBXUyWT": 5,
    "cnepjZhQnb": 3,
    "OKCmuYkeCK": 6,
    "OutXGRQUja": 5,
    "yCdyocKWou": 1,
    "KXuNWWNgVj": 2,
    "DGJOYrpESx": 4,
    "upLDybdTGs": 5,
    "hswhrppvDH": 0,
    "nbZWPWJsIM": 0,
    "AITyyoyLLs": 4,
}


@pytest.mark.parametrize(("routing", "expected"), ES_HASHES)
def test_routing_hash_is_es_murmur3_of_utf16(routing: str, expected: int) -> None:
    assert routing_hash(routing) & 0xFFFFFFFF == expected
    assert -(2**31) <= routing_hash(routing) < 2**31  # a Java int


@pytest.mark.parametrize(("routing", "shard"), sorted(ES_SHARDS_OF_8.items()))
def test_shard_for_matches_es(routing: str, shard: int) -> None:
    assert shard_for(routing, 8, 8) == shard


def test_default_routing_shards_are_es_calculate_num_routing_shards() -> None:
    assert [default_routing_shards(n) for n in (1, 2, 3, 5, 8, 30, 513, 1024)] == [
        1024,
        1024,
        768,
        640,
        1024,
        960,
        1026,
        2048,
    ]
    # The routing factor keeps a document's shard when shards split (shard = slot // factor).
    assert index_shard("x", {"index.number_of_shards": "5"}) == shard_for("x", 5, 640)


def test_explicit_routing_shards_must_be_a_multiple() -> None:
    check_routing_shards({"index.number_of_shards": "3", ROUTING_SHARDS: "12"})
    with pytest.raises(IllegalArgumentError) as info:
        check_routing_shards({"index.number_of_shards": "3", ROUTING_SHARDS: "10"})
    assert info.value.reason == "the number of source shards [3] must be a factor of [10]"
    with pytest.raises(IllegalArgumentError) as info:
        check_routing_shards({"index.number_of_shards": "3", ROUTING_SHARDS: "2"})
    assert info.value.reason == (
        "index.number_of_routing_shards [2] must be >= index.number_of_shards [3]"
    )


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
