"""A shard's query-and-fetch result as a transport payload, and back.  [no I/O]

Cross-cluster search without minimized round trips asks a remote cluster's shards one by one;
their :class:`ShardResult` crosses the wire as plain msgpack values. Decoding validates every
field, so a malformed answer is a protocol error, never a crash deeper in the merge.
"""

from __future__ import annotations

from typing import Any

from isthmus.actions.search_shard import ShardHit, ShardResult
from isthmus.wire import RemoteProtocolError


def encode_shard_result(result: ShardResult) -> dict[str, Any]:
    return {
        "index": result.index,
        "shard": result.shard,
        "total": result.total,
        "max_score": result.max_score,
        "hits": [
            [
                h.doc_id,
                h.score,
                h.source,
                h.seq_no,
                h.version,
                h.primary_term,
                h.sort,
                h.order,
                h.explanation,
                h.named_scores,
                # An eleventh element only for a routed document (older peers read 8 to 10).
                *(() if h.routing is None else (h.routing,)),
            ]
            for h in result.hits
        ],
        "agg_sources": [[doc_id, score, src] for doc_id, score, src in result.agg_sources],
        "terminated_early": result.terminated_early,
        **({"skipped": True} if result.skipped else {}),  # older peers: never skipped
    }


def _number_or_none(value: Any, what: str) -> float | None:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise RemoteProtocolError(f"shard result [{what}] is not a number")


def _int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RemoteProtocolError(f"shard result [{what}] is not an integer")


def decode_shard_result(value: Any, *, index_prefix: str = "") -> ShardResult:
    """A :class:`ShardResult` whose hits' index names get ``index_prefix`` (``alias:``)."""
    if not isinstance(value, dict):
        raise RemoteProtocolError("shard result is not a map")
    index = value.get("index")
    if not isinstance(index, str):
        raise RemoteProtocolError("shard result [index] is not a string")
    shard = _int(value.get("shard"), "shard")
    name = index_prefix + index
    hits = []
    raw_hits = value.get("hits")
    if not isinstance(raw_hits, list):
        raise RemoteProtocolError("shard result [hits] is not a list")
    for raw in raw_hits:
        # A ninth element, the hit's explanation, comes with ``explain`` (older peers: none).
        if not isinstance(raw, list) or len(raw) not in (8, 9, 10, 11):
            raise RemoteProtocolError("shard result hit is malformed")
        doc_id, score, source, seq_no, version, term, sort, order = raw[:8]
        explanation = raw[8] if len(raw) > 8 else None
        if explanation is not None and not isinstance(explanation, dict):
            raise RemoteProtocolError("shard result hit [explanation] is not a map")
        scores = raw[9] if len(raw) > 9 else None  # named queries' scores, when asked
        if scores is not None and not (
            isinstance(scores, dict)
            and all(isinstance(k, str) and _is_number(v) for k, v in scores.items())
        ):
            raise RemoteProtocolError("shard result hit [named_scores] is malformed")
        routing = raw[10] if len(raw) > 10 else None
        if routing is not None and not isinstance(routing, str):
            raise RemoteProtocolError("shard result hit [routing] is not a string")
        if not isinstance(doc_id, str) or not isinstance(source, bytes):
            raise RemoteProtocolError("shard result hit is malformed")
        if sort is not None and not isinstance(sort, list):
            raise RemoteProtocolError("shard result hit [sort] is not a list")
        hits.append(
            ShardHit(
                name,
                shard,
                doc_id,
                _number_or_none(score, "score"),
                source,
                _int(seq_no, "seq_no"),
                _int(version, "version"),
                _int(term, "primary_term"),
                sort,
                _int(order, "order"),
                explanation=explanation,
                named_scores=scores,
                routing=routing,
            )
        )
    agg_sources: list[tuple[str, float | None, bytes]] = []
    raw_aggs = value.get("agg_sources")
    if not isinstance(raw_aggs, list):
        raise RemoteProtocolError("shard result [agg_sources] is not a list")
    for raw in raw_aggs:
        if (
            not isinstance(raw, list)
            or len(raw) != 3
            or not isinstance(raw[0], str)
            or not isinstance(raw[2], bytes)
        ):
            raise RemoteProtocolError("shard result aggregation source is malformed")
        agg_sources.append((raw[0], _number_or_none(raw[1], "score"), raw[2]))
    return ShardResult(
        name,
        shard,
        _int(value.get("total"), "total"),
        _number_or_none(value.get("max_score"), "max_score"),
        hits,
        agg_sources,
        _bool_or_none(value.get("terminated_early"), "terminated_early"),
        skipped=_bool_or_none(value.get("skipped"), "skipped") is True,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bool_or_none(value: Any, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RemoteProtocolError(f"shard result [{what}] is not a boolean")
