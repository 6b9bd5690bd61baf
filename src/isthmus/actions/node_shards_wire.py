"""What a coordinating node sends another node of its cluster to read that node's shards, and
the answers.  [no I/O]

One request per node carries every shard of the read that node is asked for (ES's batched
``indices:data/read/search[query][n]``): the search as the client sent it (body and URL
parameters, which the node parses again), what the coordinator decided for all shards (the
time of the request, the page, the global term statistics of ``dfs_query_then_fetch`` and the
global nearest neighbours of a top-level ``knn``), and per shard its alias filters, index boost
and the caller's document- and field-level security. The answer holds one entry per shard, in
order: its result, or its error (the coordinator then asks the shard's next copy).

Decoding validates every field, so a malformed message is a protocol error, never a crash deeper
in the search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isthmus.errors import IsthmusError
from isthmus.search.dfs import TermStats
from isthmus.security.field_level import FieldPermissions, IndexRestriction, role_queries
from isthmus.security.roles import FieldSecurity
from isthmus.wire import RemoteProtocolError
from isthmus.wire.messages import WireError

# The global nearest of each top-level knn clause: (index, _id, score), best first.
KnnChosen = list[tuple[tuple[str, str, float], ...]]


@dataclass(frozen=True)
class NodeShard:
    """One shard a node is asked to read."""

    index: str
    shard: int
    filters: list[dict[str, Any]] | None = None
    boost: float = 1.0
    restriction: IndexRestriction | None = None

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "shard": self.shard}
        if self.filters:
            out["filters"] = self.filters
        if self.boost != 1.0:
            out["boost"] = self.boost
        if self.restriction is not None:
            out["restriction"] = restriction_to_payload(self.restriction)
        return out

    @classmethod
    def from_payload(cls, value: Any) -> NodeShard:
        if not isinstance(value, dict):
            raise RemoteProtocolError("node shard is not a map")
        index, shard = value.get("index"), value.get("shard")
        if not isinstance(index, str) or not isinstance(shard, int) or isinstance(shard, bool):
            raise RemoteProtocolError("node shard needs a string [index] and an integer [shard]")
        filters = value.get("filters")
        if filters is not None and not (
            isinstance(filters, list) and all(isinstance(f, dict) for f in filters)
        ):
            raise RemoteProtocolError("node shard [filters] is not a list of maps")
        boost = value.get("boost", 1.0)
        if not isinstance(boost, int | float) or isinstance(boost, bool):
            raise RemoteProtocolError("node shard [boost] is not a number")
        raw = value.get("restriction")
        restriction = None if raw is None else restriction_from_payload(raw)
        return cls(index, shard, filters, float(boost), restriction)


@dataclass(frozen=True)
class NodeShardsRequest:
    """A read of several shards of one node (query phase, or DFS phase with ``dfs``)."""

    cluster_name: str
    body: Mapping[str, Any]
    params: Mapping[str, str]
    shards: tuple[NodeShard, ...]
    now_ms: int
    from_: int = 0
    size: int = 10
    search_after: list[Any] | None = None
    collect_all: bool = False
    pre_filter: bool = False
    cluster_alias: str | None = None
    term_stats: TermStats | None = None
    knn: KnnChosen | None = None
    gather_stats: bool = True  # DFS phase: whether the shards gather term statistics

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cluster_name": self.cluster_name,
            "body": dict(self.body),
            "params": dict(self.params),
            "shards": [s.to_payload() for s in self.shards],
            "now_ms": self.now_ms,
            "from": self.from_,
            "size": self.size,
            "collect_all": self.collect_all,
            "pre_filter": self.pre_filter,
            "gather_stats": self.gather_stats,
        }
        if self.search_after is not None:
            out["search_after"] = self.search_after
        if self.cluster_alias is not None:
            out["cluster_alias"] = self.cluster_alias
        if self.term_stats is not None:
            out["term_stats"] = stats_to_payload(self.term_stats)
        if self.knn is not None:
            out["knn"] = [[list(pick) for pick in clause] for clause in self.knn]
        return out

    @classmethod
    def from_payload(cls, value: Any) -> NodeShardsRequest:
        if not isinstance(value, dict):
            raise RemoteProtocolError("node shards request is not a map")
        cluster_name, body, params = (
            value.get("cluster_name"),
            value.get("body"),
            value.get("params"),
        )
        if not isinstance(cluster_name, str) or not isinstance(body, dict):
            raise RemoteProtocolError("node shards request needs [cluster_name] and [body]")
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise RemoteProtocolError("node shards request [params] is not a map of strings")
        shards = value.get("shards")
        if not isinstance(shards, list):
            raise RemoteProtocolError("node shards request [shards] is not a list")
        ints = {k: value.get(k) for k in ("now_ms", "from", "size")}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints.values()):
            raise RemoteProtocolError(
                "node shards request [now_ms], [from], [size] must be integers"
            )
        flags = {k: value.get(k, False) for k in ("collect_all", "pre_filter")}
        flags["gather_stats"] = value.get("gather_stats", True)
        if not all(isinstance(v, bool) for v in flags.values()):
            raise RemoteProtocolError("node shards request flags must be booleans")
        after = value.get("search_after")
        if after is not None and not isinstance(after, list):
            raise RemoteProtocolError("node shards request [search_after] is not a list")
        alias = value.get("cluster_alias")
        if alias is not None and not isinstance(alias, str):
            raise RemoteProtocolError("node shards request [cluster_alias] is not a string")
        raw_stats = value.get("term_stats")
        raw_knn = value.get("knn")
        return cls(
            cluster_name=cluster_name,
            body=body,
            params=params,
            shards=tuple(NodeShard.from_payload(s) for s in shards),
            now_ms=ints["now_ms"],  # type: ignore[arg-type]
            from_=ints["from"],  # type: ignore[arg-type]
            size=ints["size"],  # type: ignore[arg-type]
            search_after=after,
            collect_all=flags["collect_all"],
            pre_filter=flags["pre_filter"],
            cluster_alias=alias,
            term_stats=None if raw_stats is None else stats_from_payload(raw_stats),
            knn=None if raw_knn is None else knn_from_payload(raw_knn),
            gather_stats=flags["gather_stats"],
        )


def stats_to_payload(stats: TermStats) -> dict[str, Any]:
    return {
        "max_doc": stats.max_doc,
        "tokens": dict(stats.tokens),
        "doc_freq": [[path, term, n] for (path, term), n in stats.doc_freq.items()],
    }


def stats_from_payload(value: Any) -> TermStats:
    if not isinstance(value, dict):
        raise RemoteProtocolError("term statistics are not a map")
    max_doc, tokens, freq = value.get("max_doc"), value.get("tokens"), value.get("doc_freq")
    if not isinstance(max_doc, int) or not isinstance(tokens, dict) or not isinstance(freq, list):
        raise RemoteProtocolError("term statistics are malformed")
    if not all(isinstance(k, str) and isinstance(v, int) for k, v in tokens.items()):
        raise RemoteProtocolError("term statistics [tokens] are malformed")
    doc_freq: dict[tuple[str, str], int] = {}
    for entry in freq:
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and isinstance(entry[1], str)
            and isinstance(entry[2], int)
        ):
            raise RemoteProtocolError("term statistics [doc_freq] are malformed")
        doc_freq[(entry[0], entry[1])] = entry[2]
    return TermStats(max_doc, dict(tokens), doc_freq)


def knn_from_payload(value: Any) -> KnnChosen:
    if not isinstance(value, list):
        raise RemoteProtocolError("[knn] is not a list")
    out: KnnChosen = []
    for clause in value:
        if not isinstance(clause, list):
            raise RemoteProtocolError("[knn] clause is not a list")
        picks = []
        for pick in clause:
            if not (
                isinstance(pick, list)
                and len(pick) == 3
                and isinstance(pick[0], str)
                and isinstance(pick[1], str)
                and isinstance(pick[2], int | float)
            ):
                raise RemoteProtocolError("[knn] pick is malformed")
            picks.append((pick[0], pick[1], float(pick[2])))
        out.append(tuple(picks))
    return out


def nearest_to_payload(nearest: Sequence[Sequence[tuple[float, str, str]]]) -> list[Any]:
    return [[list(n) for n in clause] for clause in nearest]


def nearest_from_payload(value: Any) -> list[list[tuple[float, str, str]]]:
    if not isinstance(value, list):
        raise RemoteProtocolError("[nearest] is not a list")
    out = []
    for clause in value:
        if not isinstance(clause, list):
            raise RemoteProtocolError("[nearest] clause is not a list")
        found = []
        for n in clause:
            if not (
                isinstance(n, list)
                and len(n) == 3
                and isinstance(n[0], int | float)
                and isinstance(n[1], str)
                and isinstance(n[2], str)
            ):
                raise RemoteProtocolError("[nearest] entry is malformed")
            found.append((float(n[0]), n[1], n[2]))
        out.append(found)
    return out


def restriction_to_payload(restriction: IndexRestriction) -> dict[str, Any]:
    """DLS as the role queries' JSON text, FLS as the ``field_security`` entries per level."""
    out: dict[str, Any] = {"queries": [list(level) for level in role_queries(restriction)]}
    if restriction.fields is not None:
        out["fields"] = [[spec.to_json() for spec in level] for level in restriction.fields.levels]
    return out


def restriction_from_payload(value: Any) -> IndexRestriction:
    from isthmus.security.field_level import restriction_from_role_queries

    if not isinstance(value, dict):
        raise RemoteProtocolError("[restriction] is not a map")
    queries, fields = value.get("queries", []), value.get("fields")
    if not isinstance(queries, list) or not all(
        isinstance(level, list) and all(isinstance(q, str) for q in level) for level in queries
    ):
        raise RemoteProtocolError("[restriction] queries are malformed")
    permissions = None
    if fields is not None:
        if not isinstance(fields, list):
            raise RemoteProtocolError("[restriction] fields are malformed")
        levels = []
        for level in fields:
            if not isinstance(level, list):
                raise RemoteProtocolError("[restriction] fields are malformed")
            specs = []
            for spec in level:
                grant, except_ = spec.get("grant", []), spec.get("except", [])
                if not isinstance(grant, list) or not isinstance(except_, list):
                    raise RemoteProtocolError("[restriction] field security is malformed")
                specs.append(FieldSecurity(tuple(map(str, grant)), tuple(map(str, except_))))
            levels.append(tuple(specs))
        permissions = FieldPermissions(tuple(levels))
    try:
        return restriction_from_role_queries(tuple(tuple(level) for level in queries), permissions)
    except IsthmusError as exc:
        raise RemoteProtocolError(f"[restriction] role query: {exc.reason}") from None


def answer_entry(outcome: Any, encode: Any) -> dict[str, Any]:
    """One shard's entry in a node's answer: ``{"result": ...}`` or ``{"error": ...}``."""
    if isinstance(outcome, IsthmusError):
        return {"error": WireError.from_exception(outcome).to_payload()}
    return {"result": encode(outcome)}


def answer_entries(value: Any, expected: int) -> list[Any]:
    """The answer's entries: each the raw result, or the rebuilt :class:`IsthmusError`."""
    if not isinstance(value, dict) or not isinstance(value.get("results"), list):
        raise RemoteProtocolError("node shards answer has no [results] list")
    entries = value["results"]
    if len(entries) != expected:
        raise RemoteProtocolError(
            f"node shards answer has [{len(entries)}] results for [{expected}] shards"
        )
    out: list[Any] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise RemoteProtocolError("node shards answer entry is not a map")
        if "error" in entry:
            out.append(WireError.from_payload(entry["error"]).to_exception())
        elif "result" in entry:
            out.append(entry["result"])
        else:
            raise RemoteProtocolError("node shards answer entry has neither result nor error")
    return out


__all__ = [
    "KnnChosen",
    "NodeShard",
    "NodeShardsRequest",
    "answer_entries",
    "answer_entry",
    "knn_from_payload",
    "nearest_from_payload",
    "nearest_to_payload",
    "restriction_from_payload",
    "restriction_to_payload",
    "stats_from_payload",
    "stats_to_payload",
]
