"""The payloads of cross-cluster search on the transport, typed.  [no I/O]

What a coordinating cluster and a remote one exchange for a search across clusters:

* ``indices:data/read/search`` (``ccs_minimize_roundtrips``, the default): :class:`RemoteSearchRequest`
  out, :class:`RemoteSearchResponse` back (the remote's top hits already rendered, its total,
  shard counts and mergeable aggregations);
* ``indices:admin/search/search_shards``: :class:`SearchShardsRequest` out,
  :class:`SearchShardsResponse` back (each shard with its index's mapping and alias filters);
* ``indices:data/read/search[phase/query]``: :class:`QueryPhaseRequest` out, one shard's result
  back (:mod:`isthmus.actions.shard_wire`).

Each value knows its payload form (``to_payload``, the msgpack map sent) and reads one back
(``from_payload``), validating every field: a malformed request is refused with the
``illegal_argument_exception`` ES would send, and a malformed answer names the cluster that sent
it, so neither reaches the search or the merge as a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from isthmus.errors import IllegalArgumentError
from isthmus.rawjson import RawJson
from isthmus.search.aggs_core import AggResult


@dataclass(frozen=True)
class RemoteSearchRequest:
    """One cluster's part of a search: its index names, the body and the URL parameters, and
    the alias the coordinator knows the cluster by (``cluster_alias``; absent from older
    coordinators): the search runs with it, so ``_index`` is ``<alias>:<index>`` in queries,
    sorts and aggregations there, as in ES (hits still travel with the plain name)."""

    indices: tuple[str, ...]
    body: Mapping[str, Any] | None
    params: Mapping[str, str]
    cluster_alias: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "indices": list(self.indices),
            "body": self.body,
            "params": self.params,
        }
        if self.cluster_alias is not None:
            payload["cluster_alias"] = self.cluster_alias
        return payload

    @classmethod
    def from_payload(cls, value: Any) -> RemoteSearchRequest:
        if not isinstance(value, dict):
            raise IllegalArgumentError("search request payload must be a map")
        indices = _names(value.get("indices"), "search request needs a list of [indices]")
        body = value.get("body")
        if body is not None and not isinstance(body, dict):
            raise IllegalArgumentError("search request [body] must be a map")
        return cls(
            indices,
            body,
            _params(value.get("params"), "search request"),
            _alias(value.get("cluster_alias"), "search request"),
        )


@dataclass(frozen=True)
class RemoteSearchResponse:
    """What a remote answers for its part: hits as its response shows them (``_source`` as the
    stored bytes on the wire), its total and shards, and aggregations in their mergeable form
    with the mapping their ``typed_keys`` names depend on."""

    hits: list[dict[str, Any]]
    total: int
    max_score: float | None
    took: int | None
    timed_out: bool
    shards: dict[str, Any] | None
    aggs: dict[str, AggResult] | None = None
    mapping: dict[str, Any] | None = None  # sent with aggregations only
    terminated_early: bool | None = None  # with terminate_after
    suggest: dict[str, Any] | None = None  # the cluster's suggest section (plain names)
    # The reduce phases the remote ran (ES's num_reduce_phases; absent in the payload: one).
    num_reduce_phases: int = 1

    def to_payload(self) -> dict[str, Any]:
        """The payload; encoding aggregations costs as much as the tree is large (20,000 filters,
        65,536 buckets), so a sender with aggregations calls this off the event loop."""
        from isthmus.search.aggs_wire import encode_results

        hits = []
        for hit in self.hits:
            source = hit.get("_source")
            if type(source) is RawJson:
                hit = {**hit, "_source": source.raw}  # travels as bytes, as stored
            hits.append(hit)
        payload = {
            "hits": hits,
            "total": self.total,
            "max_score": self.max_score,
            "took": self.took,
            "timed_out": self.timed_out,
            "_shards": self.shards,
            "aggs": None if self.aggs is None else encode_results(self.aggs),
            "mapping": self.mapping,
        }
        if self.terminated_early is not None:  # only a search with terminate_after has it
            payload["terminated_early"] = self.terminated_early
        if self.suggest is not None:
            payload["suggest"] = self.suggest
        if self.num_reduce_phases != 1:
            payload["num_reduce_phases"] = self.num_reduce_phases
        return payload

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> RemoteSearchResponse:
        """The answer of remote cluster ``cluster``; hits keep their index names as the remote
        spelt them, and a ``_source`` must parse before it may enter our response."""
        malformed = IllegalArgumentError(f"malformed search answer from remote cluster [{cluster}]")
        if not isinstance(value, dict) or not isinstance(value.get("hits"), list):
            raise malformed
        hits: list[dict[str, Any]] = []
        for hit in value["hits"]:
            if not isinstance(hit, dict) or "_index" not in hit:
                raise malformed
            source = hit.get("_source")
            if type(source) is bytes:  # a document as stored there
                try:
                    hit["_source"] = RawJson.checked(source)
                except ValueError:
                    raise malformed from None
            hits.append(hit)
        total = value.get("total", 0)
        max_score = value.get("max_score")
        took = value.get("took")
        shards = value.get("_shards")
        phases = value.get("num_reduce_phases", 1)
        if (
            not _is_int(phases)
            or phases < 1
            or not _is_int(total)
            or not (max_score is None or _is_number(max_score))
            or not (took is None or _is_int(took))
            or not (shards is None or isinstance(shards, dict))
            or not isinstance((shards or {}).get("failures", []), list)
        ):
            raise malformed
        aggs = None
        if value.get("aggs") is not None:
            from isthmus.search.aggs_wire import decode_results

            aggs = decode_results(value["aggs"])
        mapping = value.get("mapping")
        return cls(
            hits=hits,
            total=total,
            max_score=max_score,
            took=took,
            timed_out=bool(value.get("timed_out")),
            shards=shards,
            aggs=aggs,
            mapping=mapping if isinstance(mapping, dict) else None,
            terminated_early=value.get("terminated_early") is True
            if value.get("terminated_early") is not None
            else None,
            suggest=value["suggest"] if isinstance(value.get("suggest"), dict) else None,
            num_reduce_phases=phases,
        )


@dataclass(frozen=True)
class SearchShardsRequest:
    """Which shards would search these indices (``ccs_minimize_roundtrips=false``)."""

    indices: tuple[str, ...]
    params: Mapping[str, str]

    def to_payload(self) -> dict[str, Any]:
        return {"indices": list(self.indices), "params": self.params}

    @classmethod
    def from_payload(cls, value: Any) -> SearchShardsRequest:
        message = "search shards request needs a list of [indices]"
        if not isinstance(value, dict):
            raise IllegalArgumentError(message)
        indices = _names(value.get("indices"), message)
        return cls(indices, _params(value.get("params"), "search shards request"))


@dataclass(frozen=True)
class ShardTarget:
    """One shard a remote would search, with what the coordinator needs to query it."""

    index: str
    shard: int
    mapping: dict[str, Any]  # the index's mapping (as the caller may see it)
    filters: list[dict[str, Any]] | None  # alias filters, applied by the remote when queried

    def to_payload(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "shard": self.shard,
            "mapping": self.mapping,
            "filters": self.filters,
        }


@dataclass(frozen=True)
class SearchShardsResponse:
    shards: tuple[ShardTarget, ...]

    def to_payload(self) -> dict[str, Any]:
        return {"shards": [shard.to_payload() for shard in self.shards]}

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> SearchShardsResponse:
        malformed = IllegalArgumentError(f"malformed search shards answer from [{cluster}]")
        shards = value.get("shards") if isinstance(value, dict) else None
        if not isinstance(shards, list):
            raise malformed
        out = []
        for entry in shards:
            if not isinstance(entry, dict):
                raise malformed
            index, shard = entry.get("index"), entry.get("shard")
            mapping, filters = entry.get("mapping") or {}, entry.get("filters")
            if (
                not isinstance(index, str)
                or not _is_int(shard)
                or not isinstance(mapping, dict)
                or not (filters is None or _is_list_of_maps(filters))
            ):
                raise malformed
            out.append(ShardTarget(index, shard, mapping, filters))
        return cls(tuple(out))


@dataclass(frozen=True)
class QueryPhaseRequest:
    """Query one shard of a remote for the coordinator (``ccs_minimize_roundtrips=false``)."""

    index: str
    shard: int
    body: Mapping[str, Any] | None
    params: Mapping[str, str]
    now_ms: int  # the coordinator's "now", so date math agrees across clusters
    collect_all: bool  # every match (scroll, aggregations), not only the top hits
    filters: list[dict[str, Any]] | None
    # The alias the coordinator knows the remote by (see RemoteSearchRequest; older ones omit it).
    cluster_alias: str | None = None
    # The search has more shards than pre_filter_shard_size: skip the shard if the query cannot
    # match there (ES's can-match phase, asked with the query).
    pre_filter: bool = False

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "index": self.index,
            "shard": self.shard,
            "body": self.body,
            "params": self.params,
            "now_ms": self.now_ms,
            "collect_all": self.collect_all,
            "filters": self.filters,
        }
        if self.cluster_alias is not None:
            payload["cluster_alias"] = self.cluster_alias
        if self.pre_filter:
            payload["pre_filter"] = True
        return payload

    @classmethod
    def from_payload(cls, value: Any) -> QueryPhaseRequest:
        if not isinstance(value, dict) or not isinstance(value.get("index"), str):
            raise IllegalArgumentError("query phase request needs an [index]")
        shard, now_ms = value.get("shard", 0), value.get("now_ms", 0)
        body, filters = value.get("body"), value.get("filters")
        if not _is_int(shard) or not _is_int(now_ms):
            raise IllegalArgumentError("query phase request [shard] and [now_ms] must be integers")
        if body is not None and not isinstance(body, dict):
            raise IllegalArgumentError("query phase request [body] must be a map")
        if filters is not None and not _is_list_of_maps(filters):
            raise IllegalArgumentError("query phase request [filters] must be a list of maps")
        return cls(
            index=value["index"],
            shard=shard,
            body=body,
            params=_params(value.get("params"), "query phase request"),
            now_ms=now_ms,
            collect_all=bool(value.get("collect_all")),
            filters=filters,
            cluster_alias=_alias(value.get("cluster_alias"), "query phase request"),
            pre_filter=value.get("pre_filter") is True,
        )


def _names(value: Any, message: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise IllegalArgumentError(message)
    return tuple(value)


def _params(value: Any, what: str) -> dict[str, str]:
    """URL parameters as the coordinator forwarded them (absent: none)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IllegalArgumentError(f"{what} [params] must be a map")
    return {str(k): str(v) for k, v in value.items()}


def _alias(value: Any, what: str) -> str | None:
    """The coordinator's alias for this cluster (absent: an older coordinator, no alias)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or ":" in value:
        raise IllegalArgumentError(f"{what} [cluster_alias] must be a cluster alias")
    return value


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list_of_maps(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


__all__ = [
    "QueryPhaseRequest",
    "RemoteSearchRequest",
    "RemoteSearchResponse",
    "SearchShardsRequest",
    "SearchShardsResponse",
    "ShardTarget",
]
