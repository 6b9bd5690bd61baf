"""What every search route shares: the family's dependency record, a search's URL parameters,
the subject's document- and field-level security for the indices a request names (computed
once per request and handed to the action), terms lookups read as the caller, and bodies sent
with REST API compatibility 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.cluster.resolve import split_expression
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS
from isthmus.http.handlers.documents import GET_ACTION
from isthmus.http.router import Request
from isthmus.search.terms_lookup import TermsLookup, apply_lookups, extract_values, find_lookups
from isthmus.security.field_level import IndexRestrictions, index_restrictions
from isthmus.wire.names import SEARCH_ACTION

if TYPE_CHECKING:
    from isthmus.actions.async_search import AsyncSearchActions
    from isthmus.actions.ccs_search import CrossClusterSearch
    from isthmus.actions.documents import DocumentActions
    from isthmus.actions.field_caps import FieldCapsActions
    from isthmus.actions.pit import PointInTimeActions
    from isthmus.actions.search import SearchActions
    from isthmus.cluster.service import ClusterService
    from isthmus.security.index_authorization import IndexAuthorization


SEARCH_PARAMS = (
    "q",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "from",
    "size",
    "sort",
    "_source",
    "_source_includes",
    "_source_excludes",
    "track_total_hits",
    "scroll",
    "search_type",
    "rest_total_hits_as_int",
    "typed_keys",
    "allow_partial_search_results",
    "request_cache",
    "preference",
    "routing",
    "timeout",
    "ccs_minimize_roundtrips",
    "batched_reduce_size",
    "pre_filter_shard_size",
    "max_concurrent_shard_requests",
    "explain",
    "version",
    "seq_no_primary_term",
    "stored_fields",
    "docvalue_fields",
    "terminate_after",
    "track_scores",
    "stats",
    "suggest_field",
    "suggest_mode",
    "suggest_size",
    "suggest_text",
    "include_named_queries_score",
    "force_synthetic_source",
    *COMMON_INDICES_PARAMS,
)

LOOKUP_ACTION = GET_ACTION  # what reading a terms lookup document needs


@dataclass(frozen=True)
class SearchApiDeps:
    """What the search handlers use. ``authz`` is None exactly when security is off: then no request is narrowed or filtered."""

    cluster: ClusterService
    search: SearchActions  # scrolls
    ccs: CrossClusterSearch  # ``_search``, ``_count``, ``_msearch``, local or cross-cluster
    async_search: AsyncSearchActions
    field_caps: FieldCapsActions
    authz: IndexAuthorization | None
    documents: DocumentActions | None = None  # terms lookups read documents through it
    pit: PointInTimeActions | None = None  # ``_pit``, and searches with ``pit``


def restrictions(s: SearchApiDeps, req: Request) -> IndexRestrictions | None:
    if s.authz is None:
        return None
    return index_restrictions(
        s.authz.authorizer,
        req.subject,
        SEARCH_ACTION,
        split_expression(req.path_params.get("index")),
        s.cluster.state,
    )


async def with_lookups(s: SearchApiDeps, req: Request, body: Any) -> Any:
    """``body`` with its terms lookups replaced by the values the caller may read."""
    if not isinstance(body, dict):
        return body
    body = compatible_body(req, body)
    wanted = find_lookups(body)
    if not wanted:
        return body
    found = {lookup: await lookup_values(s, req, lookup) for lookup in wanted}
    return apply_lookups(body, found)


async def lookup_values(s: SearchApiDeps, req: Request, lookup: TermsLookup) -> list[Any]:
    # ES reads the lookup document as the caller: `read` on its index, DLS/FLS applied.
    restrict = None
    if s.authz is not None and req.subject is not None:
        access = s.authz.authorizer.index_access(req.subject, LOOKUP_ACTION, lookup.index)
        if not access.granted:
            raise s.authz.authorizer.denied(req.subject, LOOKUP_ACTION, [lookup.index])
        restrict = index_restrictions(
            s.authz.authorizer, req.subject, LOOKUP_ACTION, [lookup.index], s.cluster.state
        )
    assert s.documents is not None
    params = {"routing": lookup.routing} if lookup.routing else {}
    doc = await s.documents.get(lookup.index, lookup.id, params, restrict)
    if not doc.get("found"):
        return []
    return extract_values(doc.get("_source") or {}, lookup.path)


def compatible_body(req: Request, body: dict[str, Any]) -> dict[str, Any]:
    """A body sent with REST API compatibility 7 (``compatible-with=7``) in ES 8's terms: the
    object form of ``indices_boost`` becomes the array form (ES 8 reads no other)."""
    boost = body.get("indices_boost")
    if not isinstance(boost, dict):
        return body
    asked = req.headers.get("accept", "") + req.headers.get("content-type", "")
    if "compatible-with=7" not in asked.replace(" ", ""):
        return body
    return {**body, "indices_boost": [{name: value} for name, value in boost.items()]}
