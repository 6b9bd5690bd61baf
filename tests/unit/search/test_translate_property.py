"""Property: the tantivy translation of a query matches the same documents as the in-memory
evaluation (``search.evaluate``) of that query, on generated documents and queries.

The two sides share only the parsed query tree and the mapping: one runs through
``search.translate`` and a real shard engine (SQLite + tantivy on disk), the other walks source
values in Python.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.actions.search_shard import build_query, hit_count
from isthmus.index.engine import IndexOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.search import dsl
from isthmus.search.evaluate import EvalDoc, matches

NOW_MS = 1_717_171_717_000  # 2024-05-31T16:08:37Z
WORDS = ["alpha", "beta", "gamma", "delta", "error", "warn"]
TAGS = ["a", "b", "c", "Prod", "prod-1"]
MAPPING = Mapping(
    {
        "properties": {
            "title": {"type": "text"},
            "tag": {"type": "keyword"},
            "n": {"type": "long"},
            "price": {"type": "double"},
            "ts": {"type": "date"},
            "flag": {"type": "boolean"},
        }
    }
)
_ids = itertools.count()

docs_strategy = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
            "tag": st.one_of(st.sampled_from(TAGS), st.lists(st.sampled_from(TAGS), max_size=3)),
            "n": st.integers(-5, 20),
            # -0.0 is left out: Lucene (and tantivy) order it below 0.0, Python does not.
            "price": st.floats(-10, 10, allow_nan=False).map(lambda f: round(f, 2) + 0.0),
            "ts": st.integers(NOW_MS - 10 * 86_400_000, NOW_MS + 86_400_000),
            "flag": st.booleans(),
        },
    ),
    min_size=1,
    max_size=25,
)

leaf_queries = st.one_of(
    st.builds(lambda t: {"term": {"tag": t}}, st.sampled_from(TAGS)),
    st.builds(lambda ts: {"terms": {"tag": ts}}, st.lists(st.sampled_from(TAGS), max_size=3)),
    st.builds(
        lambda ws, op: {"match": {"title": {"query": " ".join(ws), "operator": op}}},
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
        st.sampled_from(["or", "and"]),
    ),
    st.builds(
        lambda ws: {"match_phrase": {"title": " ".join(ws)}},
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=2),
    ),
    st.builds(
        lambda lo, hi, gt: {"range": {"n": {("gt" if gt else "gte"): lo, "lte": hi}}},
        st.integers(-5, 20),
        st.integers(-5, 20),
        st.booleans(),
    ),
    st.builds(
        lambda lo: {"range": {"price": {"lt": lo}}}, st.floats(-10, 10).map(lambda f: round(f, 1))
    ),
    st.builds(
        lambda days, unit: {"range": {"ts": {"gte": f"now-{days}d/{unit}"}}},
        st.integers(0, 10),
        st.sampled_from(["d", "h"]),
    ),
    st.builds(
        lambda f: {"exists": {"field": f}}, st.sampled_from(["title", "tag", "n", "ts", "flag"])
    ),
    st.builds(lambda p: {"prefix": {"tag": p}}, st.sampled_from(["p", "P", "a", "prod"])),
    st.builds(lambda w: {"wildcard": {"tag": w}}, st.sampled_from(["p*", "?", "prod-?", "*o*"])),
    st.builds(lambda b: {"term": {"flag": b}}, st.booleans()),
    st.builds(
        lambda day, h: {"term": {"ts": f"2024-05-{day:02d}" + (f"T{h:02d}:00:00Z" if h else "")}},
        st.integers(21, 31),
        st.one_of(st.none(), st.integers(0, 23)),
    ),
    st.builds(lambda d: {"range": {"ts": {"lt": f"now-{d}h"}}}, st.integers(0, 300)),
    st.just({"match_all": {}}),
)


def _bool(children: list[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    body: dict[str, list[dict[str, Any]]] = {}
    for child, kind in zip(children, kinds, strict=False):
        body.setdefault(kind, []).append(child)
    return {"bool": body}


queries = st.recursive(
    leaf_queries,
    lambda inner: st.builds(
        _bool,
        st.lists(inner, min_size=1, max_size=3),
        st.lists(st.sampled_from(["must", "should", "must_not", "filter"]), min_size=3, max_size=3),
    ),
    max_leaves=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(docs=docs_strategy, bodies=st.lists(queries, min_size=1, max_size=6))
def test_translation_matches_in_memory_evaluation(
    docs: list[dict[str, Any]], bodies: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = ShardEngine(Path(tmp) / "shard", MAPPING)
        ops = []
        for i, source in enumerate(docs):
            values = MAPPING.parse_document(source, str(i)).values
            ops.append(IndexOp(str(i), orjson.dumps(source), values))
        engine.write(ops, MAPPING)
        engine.refresh()
        schema, searcher = engine.view()
        for body in bodies:
            query = dsl.parse_query(body)
            tq = build_query(query, schema, MAPPING, NOW_MS, None)
            result = searcher.search(tq, len(docs) + 1, count=True)
            got = {searcher.doc(addr).get_first("_id") for _score, addr in result.hits}
            expected = {
                str(i)
                for i, source in enumerate(docs)
                if matches(query, EvalDoc(str(i), source), MAPPING, now_ms=NOW_MS)
            }
            assert got == expected, body
            assert hit_count(result) == len(expected)
        engine.close()
