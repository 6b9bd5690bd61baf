"""Field-level security on mappings that leave the cluster: a remote answering a cross-cluster
``search_shards`` or an aggregation must not name fields the caller cannot see."""

from __future__ import annotations

from isthmus.actions.ccs_handlers import _filtered, _visible_mapping
from isthmus.actions.search import PartialSearch
from isthmus.index.mapping import Mapping
from isthmus.security.field_level import (
    UNRESTRICTED,
    FieldPermissions,
    IndexRestriction,
    IndexRestrictions,
)
from isthmus.security.roles import FieldSecurity

LOGS = {
    "properties": {
        "message": {"type": "text"},
        "secret": {"type": "keyword"},
        "user": {"properties": {"name": {"type": "keyword"}, "email": {"type": "keyword"}}},
    }
}
METRICS = {"properties": {"cpu": {"type": "double"}, "secret": {"type": "keyword"}}}


def hiding(*except_: str) -> IndexRestriction:
    return IndexRestriction(fields=FieldPermissions.of([FieldSecurity(("*",), except_)]))


def partial() -> PartialSearch:
    mappings = {"logs": Mapping(LOGS), "metrics": Mapping(METRICS)}
    return PartialSearch(
        hits=[],
        total=0,
        max_score=None,
        total_shards=2,
        failures=[],
        mappings=mappings,
        combined_mapping=Mapping(LOGS).merge(METRICS),
        index_names="logs,metrics",
    )


def test_filtered_drops_hidden_fields_and_keeps_the_rest() -> None:
    body = _filtered(Mapping(LOGS).to_json(), hiding("secret", "user.email"))
    props = body["properties"]
    assert set(props) == {"message", "user"}
    assert set(props["user"]["properties"]) == {"name"}


def test_filtered_without_fls_is_the_mapping_itself() -> None:
    body = Mapping(LOGS).to_json()
    assert _filtered(body, UNRESTRICTED) is body


def test_visible_mapping_applies_each_index_own_restriction() -> None:
    restrictions = IndexRestrictions({"logs": hiding("secret"), "metrics": UNRESTRICTED})
    props = _visible_mapping(partial(), restrictions)["properties"]
    # [secret] is hidden in logs but visible in metrics: the merged mapping still has it, once
    assert set(props) == {"message", "user", "cpu", "secret"}
    restrictions = IndexRestrictions({"logs": hiding("secret"), "metrics": hiding("secret")})
    props = _visible_mapping(partial(), restrictions)["properties"]
    assert "secret" not in props
    assert set(props) == {"message", "user", "cpu"}


def test_visible_mapping_of_an_index_without_grant_names_no_field() -> None:
    # an index missing from the restrictions shows nothing (IndexRestrictions.of gives NOTHING)
    restrictions = IndexRestrictions({"logs": UNRESTRICTED})
    props = _visible_mapping(partial(), restrictions)["properties"]
    assert "cpu" not in props
    assert {"message", "secret", "user"} <= set(props)


def test_visible_mapping_without_restrictions_is_the_combined_mapping() -> None:
    p = partial()
    assert _visible_mapping(p, None) == p.combined_mapping.to_json()
