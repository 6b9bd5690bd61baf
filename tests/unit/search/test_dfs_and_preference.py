"""The pure parts of DFS re-scoring, knn's global top k, nested score joins and ``preference``:
what the integration tests in test_search_scoring / test_nested_scoring exercise end to end."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import tantivy

from isthmus.errors import IllegalArgumentError, NumberFormatError
from isthmus.index.schema import IndexSchema
from isthmus.search.dfs import TermStats, f32, field_paths, idf, query_terms, unescape
from isthmus.search.dfs_rescore import global_explanation
from isthmus.search.knn import global_top
from isthmus.search.nested_scoring import join_scores
from isthmus.search.preference import selects_shard


def _index(texts: list[str]) -> tuple[IndexSchema, tantivy.Index]:
    schema = IndexSchema({"t": "text", "k": "keyword"})
    index = tantivy.Index(schema.schema)
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for i, text in enumerate(texts):
        writer.add_document(schema.document(str(i), b"{}", {"t": [text], "k": ["x"]}, 0, 0, 0))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return schema, index


def test_terms_and_fields_read_from_the_engine_query() -> None:
    schema = _index(["a"])[0]
    paths = field_paths(schema)
    assert sorted(path for path, _name in paths.values()) == ["k", "t"]
    t = schema.field("t")
    assert t is not None
    query = tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Should, tantivy.Query.term_query(schema.schema, t.name, 'say "hi"\\')),
            (tantivy.Occur.Should, tantivy.Query.term_query(schema.schema, t.name, "ü")),
        ]
    )
    assert {text for _n, text in query_terms(query)} == {'say "hi"\\', "ü"}
    assert unescape("a\\u{e9}\\n") == "a\u00e9\n"


def test_with_its_own_statistics_an_explanation_keeps_its_value() -> None:
    """Re-evaluating one shard's explanation with that shard's statistics changes nothing:
    the recomputation is the engine's arithmetic (sum, boost, disjunction max)."""
    schema, index = _index(["a b a", "b c", "a c c c", "c"])
    searcher = index.searcher()
    t = schema.field("t")
    assert t is not None

    def term(text: str) -> tantivy.Query:
        return tantivy.Query.term_query(schema.schema, t.name, text)

    query = tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Should, tantivy.Query.boost_query(term("a"), 2.5)),
            (
                tantivy.Occur.Should,
                tantivy.Query.disjunction_max_query([term("b"), term("c")], 0.3),
            ),
        ]
    )
    stats = TermStats(
        max_doc=4,
        tokens={"t": 3 + 2 + 4 + 1},
        doc_freq={("t", w): searcher.doc_freq(t.name, w) for w in "abc"},
    )
    paths = field_paths(schema)
    for score, addr in searcher.search(query, 10).hits:
        tree: dict[str, Any] = orjson.loads(query.explain(searcher, addr).to_json())
        assert global_explanation(tree, paths, stats)["value"] == pytest.approx(score, rel=1e-6)
    # Other statistics change the idf the explanation shows (the engine's f32 formula).
    bigger = TermStats(max_doc=40, tokens={"t": 100}, doc_freq={("t", "a"): 2})
    _score, addr = searcher.search(term("a"), 1).hits[0]
    shown = global_explanation(
        orjson.loads(term("a").explain(searcher, addr).to_json()), paths, bigger
    )
    idf_node = next(d for d in shown["details"] if d["description"].startswith("idf"))
    assert idf_node["value"] == idf(2, 40) == f32(idf(2, 40))
    assert {d["description"]: d["value"] for d in idf_node["details"]} == {
        "n, number of docs containing this term": 2,
        "N, total number of docs": 40,
    }


def test_knn_global_top_k() -> None:
    shards = [[(0.9, "i", "a"), (0.5, "i", "b")], [(0.9, "i", "c"), (0.7, "i", "d")]]
    # Best first; a tie goes to the earlier shard.
    assert global_top(shards, 3) == (("i", "a", 0.9), ("i", "c", 0.9), ("i", "d", 0.7))


def test_nested_score_modes() -> None:
    scores = [1.0, 4.0, 2.5]
    assert [join_scores(scores, m) for m in ("avg", "max", "min", "sum", "none")] == [
        2.5,
        4.0,
        1.0,
        7.5,
        0.0,
    ]


@pytest.mark.parametrize(
    ("preference", "kept"),
    [
        (None, [0, 1, 2]),
        ("", [0, 1, 2]),
        ("my-session", [0, 1, 2]),
        ("_local", [0, 1, 2]),
        ("_only_local", [0, 1, 2]),
        ("_shards:0,2", [0, 2]),
        ("_shards:1|_local", [1]),
        ("_shards:,1,", [1]),
        ("_shards:0,x", [0]),  # ES stops reading at the shard's own number
    ],
)
def test_preference_selects_shards(preference: str | None, kept: list[int]) -> None:
    if preference == "_shards:0,x":
        assert selects_shard(preference, 0)
        with pytest.raises(NumberFormatError):
            selects_shard(preference, 1)
        return
    assert [n for n in range(3) if selects_shard(preference, n)] == kept


def test_bad_preferences() -> None:
    with pytest.raises(IllegalArgumentError, match=r"no Preference for \[_nope\]"):
        selects_shard("_nope:1", 0)
    with pytest.raises(IllegalArgumentError, match=r"unknown preference \[SHARDS\]"):
        selects_shard("_shards:0|_shards:1", 0)
    with pytest.raises(NumberFormatError, match='For input string: " 1"'):
        selects_shard("_shards: 1", 1)
