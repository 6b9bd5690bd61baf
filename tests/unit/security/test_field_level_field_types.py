"""Field-level security over the newer field types: an alias is as hidden as its target, and
the queries inside nested and knn queries are restricted like top-level ones."""

from __future__ import annotations

from isthmus.index.mapping import Mapping
from isthmus.search import dsl
from isthmus.search.knn import Knn
from isthmus.search.nested import Nested
from isthmus.security.field_level import FieldPermissions, IndexRestriction, restrict_query
from isthmus.security.roles import FieldSecurity

MAPPING = Mapping(
    {
        "properties": {
            "secret": {"type": "keyword"},
            "open": {"type": "keyword"},
            "a": {"type": "alias", "path": "secret"},
            "v": {"type": "dense_vector", "dims": 2},
            "c": {"type": "nested", "properties": {"secret": {"type": "keyword"}}},
        }
    }
)
FLS = FieldPermissions.of([FieldSecurity(("*",), ("secret", "c.secret"))])


def test_an_alias_of_a_hidden_field_is_hidden() -> None:
    assert FLS is not None
    hidden = restrict_query(dsl.Term(field="a", value="x"), FLS, MAPPING)
    assert isinstance(hidden, dsl.MatchNone)
    shown = restrict_query(dsl.Term(field="open", value="x"), FLS, MAPPING)
    assert shown == dsl.Term(field="open", value="x")
    restriction = IndexRestriction(fields=FLS)
    assert not restriction.shows_mapped_field("a", MAPPING)
    assert restriction.shows_mapped_field("open", MAPPING)


def test_queries_inside_nested_and_knn_are_restricted() -> None:
    assert FLS is not None
    nested = restrict_query(
        Nested(path="c", query=dsl.Term(field="c.secret", value="x")), FLS, MAPPING
    )
    assert isinstance(nested, Nested) and isinstance(nested.query, dsl.MatchNone)
    knn = restrict_query(
        Knn(field="v", vector=(1.0, 0.0), filters=(dsl.Term(field="a", value="x"),)),
        FLS,
        MAPPING,
    )
    assert isinstance(knn, Knn) and isinstance(knn.filters[0], dsl.MatchNone)
