"""Parsing of kNN search (the top-level option and the query) and ES's knn scores."""

from __future__ import annotations

import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.index.vectors import passes, raw_similarity, score
from isthmus.search import dsl
from isthmus.search.knn import Knn, parse_knn
from isthmus.search.request import parse_search


def test_defaults_follow_es() -> None:
    knn = parse_knn({"field": "v", "query_vector": [1, 2]}, default_k=10)
    assert (knn.k, knn.num_candidates) == (10, 15)  # k = size, num_candidates = 1.5 k
    as_query = parse_knn({"field": "v", "query_vector": [1], "num_candidates": 7}, 10, query=True)
    assert as_query.k == 7


def test_top_level_knn_joins_the_query() -> None:
    alone = parse_search({"knn": {"field": "v", "query_vector": [1.0]}, "size": 3}, {})
    assert isinstance(alone.query, Knn) and alone.query.k == 3
    both = parse_search(
        {"query": {"match_all": {}}, "knn": [{"field": "v", "query_vector": [1.0]}] * 2}, {}
    )
    assert isinstance(both.query, dsl.Bool) and len(both.query.should) == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"k": -1}, "[k] must be greater than 0"),
        ({"k": 20, "num_candidates": 10}, "[num_candidates] cannot be less than [k]"),
        ({"num_candidates": 20000}, "[num_candidates] cannot exceed [10000]"),
        ({"query_vector": "x"}, "either [query_vector] or [query_vector_builder] must be provided"),
    ],
)
def test_validation(body: dict[str, object], reason: str) -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_knn({"field": "v", "query_vector": [1.0], **body}, 10)
    assert info.value.reason == reason


def test_scores() -> None:
    assert score("l2_norm", raw_similarity("l2_norm", [0, 0], [3, 4])) == pytest.approx(1 / 26)
    assert score("cosine", raw_similarity("cosine", [1, 0], [0, 1])) == pytest.approx(0.5)
    assert score("dot_product", raw_similarity("dot_product", [1, 0], [1, 0])) == 1.0
    assert score("max_inner_product", -1.0) == 0.5
    assert passes("l2_norm", 1.0, 1.5) and not passes("cosine", 0.2, 0.5)
