"""``_explain`` and ``_validate/query`` wherever the shards are (coordinating side, and the
node-level actions that answer them).

On one node both run on the node's shards (:mod:`isthmus.actions.search_explain`,
:mod:`isthmus.actions.search_validate`). In a cluster of several nodes a document's shard, or
every shard of an index, may have no copy here: ``_explain`` is then sent to a node holding a
started copy of the document's shard (``indices:data/read/explain[s]``, ES's single-shard
action; the next copy when one fails), and ``_validate/query`` builds an index's query on a node
holding one of its shards (``indices:admin/validate/query[s]``). The caller's document- and
field-level security travels with the request, as for a search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.actions.node_shards import COPY_FAILURES, copy_failure
from isthmus.actions.node_shards_plan import ordered_copies
from isthmus.actions.node_shards_wire import restriction_from_payload, restriction_to_payload
from isthmus.actions.search_explain import explain, single_index
from isthmus.actions.search_targets import SearchTargets
from isthmus.actions.search_validate import query_to_validate, validate_on_shards, validate_query
from isthmus.cluster.resolve import Resolved
from isthmus.cluster.routing import ShardId, index_shard
from isthmus.errors import (
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    NoShardAvailableActionError,
)
from isthmus.security.field_level import IndexRestriction, IndexRestrictions
from isthmus.transport.actions import ActionRegistry
from isthmus.wire import RemoteProtocolError
from isthmus.wire.names import NODE_EXPLAIN_ACTION, NODE_VALIDATE_ACTION


class SearchRouted(SearchTargets):
    """``_explain`` and ``_validate/query`` routed to a copy when this node has none."""

    async def explain_document(
        self,
        index: str,
        doc_id: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        restriction: IndexRestriction | None,
        now_ms: int,
    ) -> tuple[int, dict[str, Any]]:
        """The status and body of ``GET /<index>/_explain/<id>``."""
        meta = single_index(self.cluster, index)
        number = index_shard(params.get("routing") or doc_id, meta.settings)
        shard_id = ShardId(meta.uuid, number, meta.name)
        if not self.distributed or self.indices.shard(shard_id) is not None:
            return await explain(
                self.cluster, self.indices, index, doc_id, body, params, restriction, now_ms
            )
        assert self.copies is not None
        local = self.copies.local_node_id
        copies = ordered_copies(
            params.get("preference"), self.copies.readable(shard_id), local, number
        )
        payload = {
            "index": meta.name,
            "id": doc_id,
            "body": dict(body or {}),
            "params": dict(params),
            "now_ms": now_ms,
            "restriction": None if restriction is None else restriction_to_payload(restriction),
        }
        answer = await self._first_copy(
            [c.node_id for c in copies if c.node_id != local],
            NODE_EXPLAIN_ACTION,
            payload,
            NoShardAvailableActionError(meta.name, meta.uuid, number),
        )
        status, out = answer.get("status"), answer.get("body")
        if not isinstance(status, int) or not isinstance(out, dict):
            raise RemoteProtocolError("explain answer is malformed")
        return status, out

    async def validate(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None,
        now_ms: int,
    ) -> dict[str, Any]:
        """``_validate/query``; an index with no copy here is validated where it has one."""
        elsewhere = self._validate_elsewhere(body, params, now_ms) if self.distributed else None
        return await validate_query(
            self.cluster, self.indices, expression, body, params, restrictions, now_ms, elsewhere
        )

    def _validate_elsewhere(
        self, body: Mapping[str, Any] | None, params: Mapping[str, str], now_ms: int
    ) -> Any:
        async def elsewhere(
            target: Resolved, restriction: IndexRestriction | None
        ) -> list[dict[str, Any]]:
            assert self.copies is not None
            meta = target.index
            local = self.copies.local_node_id
            nodes: list[str] = []
            for number in range(meta.number_of_shards):
                for copy in self.copies.readable(ShardId(meta.uuid, number, meta.name)):
                    if copy.node_id != local and copy.node_id not in nodes:
                        nodes.append(copy.node_id)
            payload = {
                "index": meta.name,
                "filters": list(target.filters) if target.filters else None,
                "body": dict(body or {}),
                "params": dict(params),
                "now_ms": now_ms,
                "restriction": None if restriction is None else restriction_to_payload(restriction),
            }
            answer = await self._first_copy(
                nodes,
                NODE_VALIDATE_ACTION,
                payload,
                NoShardAvailableActionError(meta.name, meta.uuid, 0),
            )
            entries = answer.get("entries")
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise RemoteProtocolError("validate answer is malformed")
            return entries

        return elsewhere

    async def _first_copy(
        self, nodes: list[str], action: str, payload: dict[str, Any], none: IsthmusError
    ) -> dict[str, Any]:
        """The first of ``nodes`` to answer ``action`` (each tried in turn); the last failure
        when every one failed, ``none`` when there is none."""
        assert self.node_shards is not None
        channels = self.node_shards.channels
        error: IsthmusError = none
        for node_id in nodes:
            try:
                answer = await channels.request(
                    node_id, action, {**payload, "cluster_name": channels.cluster_name}
                )
            except COPY_FAILURES as exc:
                error = copy_failure(exc)
                continue
            if not isinstance(answer, dict):
                raise RemoteProtocolError(f"[{action}] answer is not a map")
            return answer
        raise error

    # --- what the other nodes ask here ------------------------------------------------------

    def register_routed(self, registry: ActionRegistry[Any], cluster_name: str) -> None:
        """Answer other nodes' routed ``_explain`` and ``_validate/query`` of ``cluster_name``."""

        def own(payload: Any, action: str) -> Mapping[str, Any]:
            if not isinstance(payload, Mapping) or payload.get("cluster_name") != cluster_name:
                raise IllegalArgumentError(
                    f"[{action}] is only answered to nodes of cluster [{cluster_name}]"
                )
            return payload

        async def on_explain(payload: Any, ctx: Any) -> Any:
            request = own(payload, NODE_EXPLAIN_ACTION)
            index, doc_id, now_ms = request.get("index"), request.get("id"), request.get("now_ms")
            if not isinstance(index, str) or not isinstance(doc_id, str):
                raise RemoteProtocolError("explain request needs [index] and [id]")
            status, body = await explain(
                self.cluster,
                self.indices,
                index,
                doc_id,
                _map(request.get("body")),
                _params(request.get("params")),
                _restriction(request.get("restriction")),
                now_ms if isinstance(now_ms, int) else int(self.clock() * 1000),
            )
            return {"status": status, "body": body}

        async def on_validate(payload: Any, ctx: Any) -> Any:
            request = own(payload, NODE_VALIDATE_ACTION)
            index, now_ms = request.get("index"), request.get("now_ms")
            meta = self.cluster.state.indices.get(index) if isinstance(index, str) else None
            if meta is None:
                raise IndexNotFoundError(str(index))
            params = _params(request.get("params"))
            filters = request.get("filters")
            target = Resolved(meta, tuple(filters) if isinstance(filters, list) else None)
            query = query_to_validate(_map(request.get("body")), params)
            all_shards = params.get("all_shards") == "true"
            held = list(self.indices.shards_of(meta))
            if not held:
                raise NoShardAvailableActionError(meta.name, meta.uuid, 0)
            entries = await self.indices.run_search(
                validate_on_shards,
                target,
                held if all_shards else held[:1],
                query,
                _restriction(request.get("restriction")),
                now_ms if isinstance(now_ms, int) else int(self.clock() * 1000),
                all_shards,
            )
            return {"entries": entries}

        registry.register(NODE_EXPLAIN_ACTION, on_explain)
        registry.register(NODE_VALIDATE_ACTION, on_validate)


def _map(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RemoteProtocolError("request [body] is not a map")
    return value


def _params(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RemoteProtocolError("request [params] is not a map of strings")
    return value


def _restriction(value: Any) -> IndexRestriction | None:
    return None if value is None else restriction_from_payload(value)


__all__ = ["SearchRouted"]
