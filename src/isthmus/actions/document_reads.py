"""Document reads: get (realtime from the store or from the searcher), ``_mget``, with
document- and field-level security applied to what is returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from isthmus import xcontent
from isthmus.actions.document_items import (
    check_read_versioning,
    check_routing,
    read_version_conflict,
)
from isthmus.actions.document_routing import DocumentRouting
from isthmus.actions.node_shards_plan import check_only_nodes, ordered_copies
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_routing import STARTED
from isthmus.errors import (
    ActionRequestValidationError,
    ElasticsearchParseError,
    IsthmusError,
    ParsingError,
    VersionConflictError,
)
from isthmus.index.engine import StoredDoc
from isthmus.index.service import Shard
from isthmus.search.request import parse_source
from isthmus.search.source_filter import filter_source
from isthmus.security.field_level import IndexRestrictions


class DocumentReads(DocumentRouting):
    # --- reads --------------------------------------------------------------------------------

    async def get(
        self,
        index: str,
        doc_id: str,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None = None,
    ) -> dict[str, Any]:
        """One document; with ``restrictions`` a document DLS hides is not found and FLS
        filters its ``_source`` (before the request's own includes/excludes)."""
        expected, _vtype = check_read_versioning(params)
        meta = self._read_index(index)
        restriction = None if restrictions is None else restrictions.of(meta.name)
        check_routing(meta, params.get("routing"), doc_id)
        realtime = params.get("realtime", "true") != "false"
        if self.distributed:
            sid = self._shard_id(meta, params.get("routing") or doc_id)
            self._check_preference(sid, params.get("preference"))
            local = self.indices.shard(sid)
            if local is not None and (local.routing is None or local.routing.state != STARTED):
                local = None  # still recovering: its search index may lack documents
            if realtime or local is None:
                # Read-your-writes: the primary answers, here or on its node.
                assert self.shard_writes is not None
                doc = _doc_tuple(await self.shard_writes.get(sid, doc_id))
            else:  # what this node's copy has made searchable
                doc = await self.indices.run_search(_searcher_get, local, doc_id)
            shard_number = sid.shard
        else:
            shard = self._shard(meta, params.get("routing") or doc_id)
            shard_number = shard.shard_id.shard
            if realtime:
                doc = _doc_tuple(await shard.get(doc_id))
            else:
                doc = await self.indices.run_search(_searcher_get, shard, doc_id)
        if doc is None:
            return {"_index": meta.name, "_id": doc_id, "found": False}
        seq_no, term, version, source_bytes, routing = doc
        conflict = read_version_conflict(doc_id, version, expected)
        if conflict is not None:
            raise VersionConflictError(
                conflict,
                extra={
                    "index_uuid": meta.uuid,
                    "shard": str(shard_number),
                    "index": meta.name,
                },
            )
        source: Mapping[str, Any] | None = None
        if restriction is not None and restriction.queries:
            source = orjson.loads(source_bytes)
            now_ms = int(time.time() * 1000)  # anchors date math in role queries, as a search
            if not restriction.admits(doc_id, source, meta.mapping, now_ms):
                return {"_index": meta.name, "_id": doc_id, "found": False}
        out: dict[str, Any] = {
            "_index": meta.name,
            "_id": doc_id,
            "_version": version,
            "_seq_no": seq_no,
            "_primary_term": term,
        }
        if routing is not None:  # ES's GetResult: the metadata fields come before `found`
            out["_routing"] = routing
        out["found"] = True
        flt = parse_source(params.get("_source"))
        includes = [p for p in params.get("_source_includes", "").split(",") if p]
        excludes = [p for p in params.get("_source_excludes", "").split(",") if p]
        if flt.enabled:
            if source is None:
                source = orjson.loads(source_bytes)
            if restriction is not None:
                source = restriction.source(source)
            inc = includes or list(flt.includes)
            if inc or excludes:
                source = filter_source(source, inc, excludes)
            out["_source"] = source
        return out

    def _check_preference(self, sid: ShardId, preference: str | None) -> None:
        """ES's 400 for an ``_only_nodes`` preference no copy of the shard meets (as a search's;
        the read itself still goes to the primary, which holds every acknowledged write)."""
        if not preference:
            return
        assert self.shard_writes is not None
        nodes = self.shard_writes.peers.view.nodes
        ordered = ordered_copies(
            preference,
            self.copies.readable(sid),
            self.copies.local_node_id,
            sid.shard,
            lambda spec: {n.id for n in nodes.resolve(spec.split(","))},
        )
        check_only_nodes(preference, sid.index_name, sid.shard, ordered)

    async def mget(
        self,
        default_index: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        check: Callable[[str], None] | None = None,
        restrictions: IndexRestrictions | None = None,
    ) -> dict[str, Any]:
        """``_mget``: each item as :meth:`get` (``restrictions`` must cover the items' indices)."""
        body = dict(body or {})
        specs: list[dict[str, Any]] = []
        if "docs" in body:
            specs = [_mget_spec(d) for d in xcontent.as_list("mget", "docs", body["docs"])]
        elif "ids" in body:
            specs = [
                {"_id": xcontent.as_str("mget", "ids", i)}
                for i in xcontent.as_list("mget", "ids", body["ids"])
            ]
        else:
            raise ActionRequestValidationError("Validation Failed: 1: no documents to get;")
        if not specs:
            raise ActionRequestValidationError("Validation Failed: 1: no documents to get;")
        docs = []
        for spec in specs:
            index = spec.get("_index", default_index)
            doc_id = spec.get("_id")
            if index is None:
                raise ActionRequestValidationError(
                    "Validation Failed: 1: index is missing for doc 0;"
                )
            if doc_id is None:
                raise ActionRequestValidationError("Validation Failed: 1: id is missing for doc 0;")
            doc_params = dict(params)
            if "_source" in spec:
                flt = parse_source(spec["_source"])
                if not flt.enabled:
                    doc_params["_source"] = "false"
                else:
                    doc_params.pop("_source", None)
                    doc_params["_source_includes"] = ",".join(flt.includes)
                    doc_params["_source_excludes"] = ",".join(flt.excludes)
            if "routing" in spec:
                doc_params["routing"] = str(spec["routing"])
            for key in ("version", "version_type"):  # each item's own (ES's Item.version)
                if spec.get(key) is not None:
                    doc_params[key] = spec[key]
            try:
                if check is not None:
                    check(str(index))
                docs.append(await self.get(str(index), str(doc_id), doc_params, restrictions))
            except IsthmusError as exc:
                cause = exc.to_body()["error"]
                docs.append({"_index": index, "_id": str(doc_id), "error": cause})
        return {"docs": docs}


MGET_ITEM_FIELDS = frozenset(
    {"_index", "_id", "routing", "stored_fields", "version", "version_type", "_source"}
)


def _mget_spec(item: Any) -> dict[str, Any]:
    """One ``docs`` entry of ``_mget``: an object whose names are strings."""
    if not isinstance(item, Mapping):
        raise ParsingError(f"docs array element should include an object but found [{item}]")
    spec = dict(item)
    for key, value in spec.items():
        # ES's MultiGetRequest item parser: an unknown name with a plain value is refused
        # (an unknown array or object is skipped, as ES skips it).
        if key == "fields":
            raise ParsingError("Unsupported field [fields] used, expected [stored_fields] instead")
        if key not in MGET_ITEM_FIELDS and not isinstance(value, list | Mapping):
            raise ElasticsearchParseError(
                f"failed to parse multi get request. unknown field [{key}]"
            )
    for key in ("_index", "_id", "routing", "version_type"):
        if spec.get(key) is not None:
            spec[key] = xcontent.as_str("mget", key, spec[key])
    if spec.get("version") is not None:
        spec["version"] = str(xcontent.as_long("mget", "version", spec["version"]))
    return spec


def _doc_tuple(stored: StoredDoc | None) -> tuple[int, int, int, bytes, str | None] | None:
    if stored is None:
        return None
    return stored.seq_no, stored.primary_term, stored.version, stored.source, stored.routing


def _searcher_get(shard: Shard, doc_id: str) -> tuple[int, int, int, bytes, str | None] | None:
    import tantivy

    schema, searcher = shard.engine.view()
    result = searcher.search(tantivy.Query.term_query(schema.schema, "_id", doc_id), 1)
    if not result.hits:
        return None
    from isthmus.actions.search_shard import stored_fields

    _id, source, seq_no, version, term, routing = stored_fields(searcher.doc(result.hits[0][1]))
    return seq_no, term, version, source, routing
