"""Document actions: index, create, get, delete, update, mget and bulk.

The order of a write is fixed: resolve the write index (auto-creating it when allowed), parse
the source against the mapping (errors here write nothing), publish any dynamic mapping update
to the cluster metadata, route to the shard, write durably, then honour ``refresh``. The
response is built only from what the engine acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from isthmus import xcontent
from isthmus.actions.indices import IndicesActions
from isthmus.cluster.blocks import Level
from isthmus.cluster.blocks import check as check_blocks
from isthmus.cluster.data_streams import BACKING_PREFIX, check_timestamp, parent_of
from isthmus.cluster.data_streams import check_write as check_stream_write
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.resolve import write_index
from isthmus.cluster.routing import ShardId, index_shard
from isthmus.cluster.service import ClusterService
from isthmus.errors import (
    ActionRequestValidationError,
    DocumentMissingError,
    DocumentParsingError,
    ElasticsearchParseError,
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    JsonParseError,
    MapperParsingError,
    ParsingError,
    RoutingMissingError,
    StatusError,
    VersionConflictError,
)
from isthmus.index.engine import DeleteOp, IndexOp, Op, OpResult
from isthmus.index.service import IndicesService, Shard
from isthmus.search.request import parse_source
from isthmus.search.source_filter import filter_source
from isthmus.security.field_level import IndexRestrictions
from isthmus.settings.ccr import FOLLOWING_INDEX

MAX_ID_BYTES = 512


class IdGenerator:
    """20-character ids like ES's auto-generated ones: time, a counter and a per-node random
    part, so consecutive ids share prefixes (kind to the store's B-tree) and never repeat."""

    def __init__(self) -> None:
        import os

        self._node = os.urandom(6)
        self._counter = int.from_bytes(os.urandom(3), "big")

    def next(self) -> str:
        import base64
        import time

        self._counter = (self._counter + 1) & 0xFFFFFF
        raw = (
            int(time.time() * 1000).to_bytes(6, "big")
            + self._counter.to_bytes(3, "big")
            + self._node
        )
        return base64.urlsafe_b64encode(raw).decode()


@dataclass(slots=True)
class WriteItem:
    """One write as the API layer received it."""

    action: str  # index | create | delete | update
    index: str
    id: str | None
    source: Any = None  # dict for index/create; the update body for update
    raw: bytes | None = None  # the source exactly as the client sent it (stored as-is, as ES does)
    routing: str | None = None
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    retry_on_conflict: int = 0
    require_alias: bool = False
    version: int | None = None
    version_type: str = "internal"


def check_retry_on_conflict(value: int) -> int:
    if value < 0:
        raise ActionRequestValidationError(
            "Validation Failed: 1: retry_on_conflict must be greater than or equal to 0;"
        )
    return value


# The fields ES's UpdateRequest parser declares.
UPDATE_FIELDS = (
    "script",
    "scripted_upsert",
    "upsert",
    "doc",
    "doc_as_upsert",
    "detect_noop",
    "_source",
    "if_seq_no",
    "if_primary_term",
)


def check_update_body(body: Mapping[str, Any]) -> None:
    """The typed shape of an update body (ES's UpdateRequest parser: an unknown field is its
    x_content_parse_exception with a "did you mean"; ``doc`` and ``upsert`` are objects, the
    flags booleans), checked before the document is read."""
    for key in body:
        if key not in UPDATE_FIELDS:
            raise xcontent.unknown_field("UpdateRequest", key, UPDATE_FIELDS)
    for key in ("if_seq_no", "if_primary_term"):
        if key in body:
            xcontent.as_long("UpdateRequest", key, body[key])
    for key in ("doc", "upsert"):
        if key in body:
            xcontent.as_object("UpdateRequest", key, body[key])
    for key in ("doc_as_upsert", "detect_noop", "scripted_upsert"):
        if key in body:
            xcontent.as_bool("UpdateRequest", key, body[key])


def check_versioning(version: int | None, version_type: str | None) -> str:
    """Validate ``version``/``version_type`` as ES does; returns the version type."""
    vtype = (version_type or "internal").lower()
    if vtype not in ("internal", "external", "external_gte"):
        raise IllegalArgumentError(f"No version type match [{version_type}]")
    if version is not None and vtype == "internal":
        raise ActionRequestValidationError(
            "Validation Failed: 1: internal versioning can not be used for optimistic "
            "concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
        )
    if vtype != "internal" and version is None:
        raise ActionRequestValidationError(
            f"Validation Failed: 1: illegal version value [-3] for version type [{vtype.upper()}];"
        )
    return vtype


MATCH_ANY = -3  # ES's "no version given" sentinel, shown in its validation messages


def check_read_versioning(params: Mapping[str, str]) -> tuple[int | None, str]:
    """``version``/``version_type`` of a get, validated as ES's GetRequest does: internal
    versions must be positive, external ones non-negative (reads never reject ``internal``)."""
    raw = params.get("version")
    vtype = (params.get("version_type") or "internal").lower()
    if vtype == "external_gt":
        vtype = "external"
    if vtype == "force":  # a known type ES no longer serves
        raise ActionRequestValidationError(
            "Validation Failed: 1: version type [force] may no longer be used;"
        )
    if vtype not in ("internal", "external", "external_gte"):
        raise IllegalArgumentError(f"No version type match [{params.get('version_type')}]")
    if raw is None:
        return None, vtype
    try:
        version = int(raw)
    except ValueError:
        raise IllegalArgumentError(
            f"Failed to parse long parameter [version] with value [{raw}]"
        ) from None
    valid = version > 0 if vtype == "internal" else version >= 0
    if not valid and version != MATCH_ANY:
        raise ActionRequestValidationError(
            f"Validation Failed: 1: illegal version value [{version}] for version type "
            f"[{vtype.upper()}];"
        )
    return (None if version == MATCH_ANY else version), vtype


def read_version_conflict(doc_id: str, current: int, expected: int | None) -> str | None:
    """The conflict a get with ``version`` reports for an existing document: every version
    type requires the exact version on reads (a missing document is simply not found)."""
    if expected is None or current == expected:
        return None
    return (
        f"[{doc_id}]: version conflict, current version [{current}] is different than the one "
        f"provided [{expected}]"
    )


@dataclass(slots=True)
class ItemOutcome:
    action: str
    index: str
    id: str | None
    result: OpResult | None = None
    error: IsthmusError | None = None
    shard: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    get: dict[str, Any] | None = None


def parse_json_object(raw: bytes, what: str = "document") -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        where = f"[{exc.lineno}:{exc.colno}] " if exc.lineno else ""
        raise DocumentParsingError(
            f"{where}failed to parse: {exc.msg}", caused_by=JsonParseError(str(exc))
        ) from None
    if not isinstance(value, dict):
        raise MapperParsingError(
            "failed to parse", caused_by=MapperParsingError(f"{what} must be a JSON object")
        )
    xcontent.check_depth(value)
    return value


def _located(exc: DocumentParsingError, raw: bytes | None) -> DocumentParsingError:
    """Prefix ES's ``[line:col]`` of the failing field's value, found in the raw source."""
    if exc.field is None or raw is None or exc.reason.startswith("["):
        return exc
    leaf = exc.field.rsplit(".", 1)[-1]
    key = b'"' + leaf.encode() + b'"'
    pos = raw.find(key)
    if pos < 0:
        return exc
    colon = raw.find(b":", pos + len(key))
    start = colon + 1
    while start < len(raw) and raw[start : start + 1] in (b" ", b"\t", b"\n", b"\r"):
        start += 1
    line = raw.count(b"\n", 0, start) + 1
    col = start - (raw.rfind(b"\n", 0, start) + 1) + 1
    exc.reason = f"[{line}:{col}] {exc.reason}"
    exc.args = (exc.reason,)
    return exc


def require_alias_error(name: str) -> IndexNotFoundError:
    """ES's answer to a write with ``require_alias=true`` whose target is not an alias."""
    err = IndexNotFoundError(name)
    err.reason = (
        f"no such index [{name}] and [require_alias] request flag is [true] and [{name}] is "
        "not an alias"
    )
    err.args = (err.reason,)
    return err


def _body_long(body: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key)
    return default if value is None else xcontent.as_long("UpdateRequest", key, value)


def validate_id(doc_id: str) -> None:
    size = len(doc_id.encode())
    if size > MAX_ID_BYTES:
        raise ActionRequestValidationError(
            f"Validation Failed: 1: id [{doc_id}] is too long, must be no longer than 512 bytes "
            f"but was: {size};"
        )
    if doc_id == "":
        # ES's shard routing refuses it per item (an IllegalArgumentException, not a validation).
        raise IllegalArgumentError("if _id is specified it must not be empty")


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class DocumentActions:
    def __init__(
        self, cluster: ClusterService, indices: IndicesService, indices_actions: IndicesActions
    ) -> None:
        self.cluster = cluster
        self.indices = indices
        self.admin = indices_actions
        self.ids = IdGenerator()

    # --- routing ------------------------------------------------------------------------------

    async def _write_target(self, name: str, require_alias: bool = False) -> IndexMetadata:
        state = self.cluster.state
        if require_alias and name not in state.aliases():
            # ES refuses before resolving: a concrete index of that name is no alias either.
            raise require_alias_error(name)
        meta = write_index(state, name)
        if meta is None:
            auto = state.setting("action.auto_create_index")
            meta = await self.admin.ensure_exists(name, "true" if auto is None else str(auto))
        if not meta.is_open:
            from isthmus.errors import IndexClosedError

            raise IndexClosedError(meta.name, meta.uuid)
        # Every document write (index, create, delete, update, each bulk item) passes here.
        blocked = check_blocks(self.cluster.state, Level.WRITE, [meta])
        if blocked is not None:
            raise blocked
        if meta.settings.get(FOLLOWING_INDEX) == "true":
            # A follower index applies its leader's operations only (ES's following engine).
            raise StatusError(
                "a following engine does not accept operations without an assigned sequence number",
                status=403,
            )
        return meta

    def _shard(self, meta: IndexMetadata, routing: str) -> Shard:
        number = index_shard(routing, meta.settings)
        shard = self.indices.shard(ShardId(meta.uuid, number, meta.name))
        if shard is None:
            raise IllegalArgumentError(
                f"shard [{meta.name}][{number}] is not available on this node"
            )
        return shard

    def _read_index(self, name: str) -> IndexMetadata:
        state = self.cluster.state
        meta = state.indices.get(name)
        if meta is None:
            aliases = state.aliases().get(name)
            if not aliases:
                raise IndexNotFoundError(name)
            if len(aliases) > 1:
                raise IllegalArgumentError(
                    f"alias [{name}] has more than one index associated with it "
                    f"[{', '.join(sorted(a.name for a in aliases))}], can't execute a single index op"
                )
            meta = aliases[0]
        if not meta.is_open:
            from isthmus.errors import IndexClosedError

            raise IndexClosedError(meta.name, meta.uuid)
        return meta

    # --- the write pipeline -------------------------------------------------------------------

    async def execute(self, items: list[WriteItem], refresh: str | None) -> list[ItemOutcome]:
        """Run writes in order; one item's failure never affects another."""
        outcomes: list[ItemOutcome] = []
        batches: dict[ShardId, list[tuple[int, Op]]] = defaultdict(list)
        shard_meta: dict[ShardId, IndexMetadata] = {}

        async def flush() -> None:
            if not batches:
                return
            pending = list(batches.items())
            batches.clear()

            async def run(shard_id: ShardId, entries: list[tuple[int, Op]]) -> None:
                shard = self.indices.shard(shard_id)
                assert shard is not None
                meta = self.cluster.state.indices[shard_meta[shard_id].name]
                try:
                    results = await shard.write([op for _, op in entries], meta.mapping)
                except IsthmusError as exc:  # nothing of the batch was written (a full disk)
                    for pos, _op in entries:
                        outcomes[pos].error = exc
                    return
                for (pos, _op), result in zip(entries, results, strict=True):
                    outcomes[pos].result = result
                    if result.error is not None:
                        outcomes[pos].error = result.error

            await asyncio.gather(*(run(sid, entries) for sid, entries in pending))

        targets: dict[tuple[str, bool], IndexMetadata] = {}
        single: dict[str, Shard] = {}
        for item in items:
            outcome = ItemOutcome(item.action, item.index, item.id)
            outcomes.append(outcome)
            try:
                key = (item.index, item.require_alias)
                meta = targets.get(key) or await self._write_target(item.index, item.require_alias)
                targets[key] = meta
                # Data streams are append-only (create only); their backing indices likewise.
                check_stream_write(
                    self.cluster.state, item.index, item.action, if_seq_no=item.if_seq_no
                )
                outcome.index = meta.name
                if item.action == "update":
                    _check_routing(meta, item.routing, item.id)
                    await flush()
                    await self._update(item, meta, outcome)
                    continue
                op = await self._prepare(item, meta, outcome)
                _check_routing(meta, item.routing, outcome.id)
                if meta.number_of_shards == 1:  # no hashing, and one lookup per index
                    shard = single.get(meta.uuid) or single.setdefault(
                        meta.uuid, self._shard(meta, "")
                    )
                else:
                    shard = self._shard(meta, item.routing or outcome.id or "")
                outcome.shard = shard.shard_id.shard
                batches[shard.shard_id].append((len(outcomes) - 1, op))
                shard_meta[shard.shard_id] = meta
            except IsthmusError as exc:
                outcome.error = exc
        await flush()
        await self._refresh(outcomes, refresh)
        return outcomes

    async def _prepare(self, item: WriteItem, meta: IndexMetadata, outcome: ItemOutcome) -> Op:
        if item.action == "delete":
            if item.id is None:
                raise ActionRequestValidationError("Validation Failed: 1: id is missing;")
            validate_id(item.id)
            return DeleteOp(
                item.id, item.if_seq_no, item.if_primary_term, item.version, item.version_type
            )
        doc_id = item.id if item.id is not None else self.ids.next()
        validate_id(doc_id)
        outcome.id = doc_id
        source = item.source
        if not isinstance(source, dict):
            raise MapperParsingError(
                "failed to parse", caused_by=MapperParsingError("document must be a JSON object")
            )
        if meta.name.startswith(BACKING_PREFIX) and parent_of(self.cluster.state, meta.name):
            check_timestamp(source, item.raw)
        current = self.cluster.state.indices.get(meta.name, meta)
        try:
            parsed = current.mapping.parse_document(source, doc_id)
        except DocumentParsingError as exc:
            raise _located(exc, item.raw) from None
        values = (
            parsed.values
            if parsed.mapping_update is None
            else await self._parse(meta, source, doc_id, item.raw)
        )
        return IndexOp(
            doc_id,
            item.raw if item.raw is not None else orjson.dumps(source),
            values,
            create=item.action == "create",
            if_seq_no=item.if_seq_no,
            if_primary_term=item.if_primary_term,
            auto_id=item.id is None,
            version=item.version,
            version_type=item.version_type,
            routing=item.routing,
        )

    async def _parse(
        self, meta: IndexMetadata, source: dict[str, Any], doc_id: str, raw: bytes | None = None
    ) -> dict[str, list[Any]]:
        """Parse against the latest mapping, publishing a dynamic update first when needed."""
        current = self.cluster.state.indices.get(meta.name, meta)
        try:
            parsed = current.mapping.parse_document(source, doc_id)
        except DocumentParsingError as exc:
            raise _located(exc, raw) from None
        if parsed.mapping_update is not None:
            update = parsed.mapping_update.to_json()
            await self.admin.update_mappings({meta.name: update})
            current = self.cluster.state.indices[meta.name]
            parsed = current.mapping.parse_document(source, doc_id)
        return parsed.values

    async def _update(self, item: WriteItem, meta: IndexMetadata, outcome: ItemOutcome) -> None:
        if item.id is None:
            raise ActionRequestValidationError("Validation Failed: 1: id is missing;")
        body = item.source if isinstance(item.source, Mapping) else {}
        check_update_body(body)
        if "script" in body:
            raise IllegalArgumentError("scripted updates are not supported by Isthmus")
        if "doc" not in body and "upsert" not in body:
            raise ActionRequestValidationError("Validation Failed: 1: script or doc is missing;")
        if "if_seq_no" in body or "if_primary_term" in body:
            # The body's pair (ES's UpdateRequest parser reads it after the URL's) wins.
            item.if_seq_no = _body_long(body, "if_seq_no", item.if_seq_no)
            item.if_primary_term = _body_long(body, "if_primary_term", item.if_primary_term)
            if (item.if_seq_no is None) != (item.if_primary_term is None):
                raise ActionRequestValidationError(
                    "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"
                    if item.if_primary_term is None
                    else "Validation Failed: 1: ifPrimaryTerm is set, but seqNo is unassigned;"
                )
        shard = self._shard(meta, item.routing or item.id)
        outcome.shard = shard.shard_id.shard
        attempts = item.retry_on_conflict + 1
        for attempt in range(attempts):
            current = await shard.get(item.id)
            if current is None:
                if body.get("doc_as_upsert"):
                    new_source = dict(body["doc"])
                elif "upsert" in body:
                    new_source = dict(body["upsert"])
                else:
                    raise DocumentMissingError(
                        f"[{item.id}]: document missing",
                        extra={
                            "index_uuid": meta.uuid,
                            "shard": str(outcome.shard),
                            "index": meta.name,
                        },
                    )
                values = await self._parse(meta, new_source, item.id)  # checks it first
                op = IndexOp(
                    item.id, orjson.dumps(new_source), values, create=True, routing=item.routing
                )
            else:
                # ES compares if_seq_no/if_primary_term when it reads the document for the
                # update, so a stale pair conflicts even when the update would be a noop.
                if item.if_seq_no is not None and (
                    item.if_seq_no != current.seq_no or item.if_primary_term != current.primary_term
                ):
                    raise VersionConflictError(
                        f"[{item.id}]: version conflict, required seqNo [{item.if_seq_no}], "
                        f"primary term [{item.if_primary_term}]. current document has seqNo "
                        f"[{current.seq_no}] and primary term [{current.primary_term}]",
                        extra={
                            "index_uuid": meta.uuid,
                            "shard": str(outcome.shard),
                            "index": meta.name,
                        },
                    )
                old_source = orjson.loads(current.source)
                new_source = deep_merge(old_source, body.get("doc") or {})
                if body.get("detect_noop", True) and new_source == old_source:
                    shard.noop_updates += 1
                    outcome.result = OpResult(
                        item.id, "noop", current.seq_no, current.primary_term, current.version
                    )
                    outcome.get = self._update_get(
                        body, new_source, current.seq_no, current.primary_term, current.routing
                    )
                    return
                values = await self._parse(meta, new_source, item.id)  # checks it first
                op = IndexOp(
                    item.id,
                    orjson.dumps(new_source),
                    values,
                    if_seq_no=current.seq_no,
                    if_primary_term=current.primary_term,
                    routing=item.routing,  # ES's update writes with the request's routing
                )
            latest = self.cluster.state.indices[meta.name]
            (result,) = await shard.write([op], latest.mapping)
            if result.error is None:
                outcome.result = result
                outcome.get = self._update_get(
                    body, new_source, result.seq_no, result.primary_term, item.routing
                )
                return
            if not isinstance(result.error, VersionConflictError) or attempt == attempts - 1:
                raise result.error

    @staticmethod
    def _update_get(
        body: Mapping[str, Any],
        source: dict[str, Any],
        seq_no: int,
        term: int,
        routing: str | None,
    ) -> dict[str, Any] | None:
        if "_source" not in body:
            return None
        flt = parse_source(body["_source"])
        if not flt.enabled:
            return None
        shown = (
            filter_source(source, flt.includes, flt.excludes)
            if flt.includes or flt.excludes
            else source
        )
        out: dict[str, Any] = {"_seq_no": seq_no, "_primary_term": term}
        if routing is not None:  # ES's GetResult: the metadata fields come before `found`
            out["_routing"] = routing
        out["found"] = True
        out["_source"] = shown
        return out

    async def _refresh(self, outcomes: list[ItemOutcome], refresh: str | None) -> None:
        if refresh in (None, "false"):
            return
        touched: dict[ShardId, int] = {}
        for outcome in outcomes:
            if outcome.result is not None and outcome.result.result is not None:
                meta = self.cluster.state.indices.get(outcome.index)
                if meta is None:
                    continue
                sid = ShardId(meta.uuid, outcome.shard, meta.name)
                touched[sid] = max(touched.get(sid, -1), outcome.result.seq_no)
        for sid, seq_no in touched.items():
            shard = self.indices.shard(sid)
            if shard is None:
                continue
            if refresh == "wait_for":
                await shard.wait_for_refresh(seq_no)
            else:
                await shard.refresh()

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
        _check_routing(meta, params.get("routing"), doc_id)
        shard = self._shard(meta, params.get("routing") or doc_id)
        realtime = params.get("realtime", "true") != "false"
        if realtime:
            stored = await shard.get(doc_id)
            doc = (
                None
                if stored is None
                else (
                    stored.seq_no,
                    stored.primary_term,
                    stored.version,
                    stored.source,
                    stored.routing,
                )
            )
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
                    "shard": str(shard.shard_id.shard),
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


def _searcher_get(shard: Shard, doc_id: str) -> tuple[int, int, int, bytes, str | None] | None:
    import tantivy

    schema, searcher = shard.engine.view()
    result = searcher.search(tantivy.Query.term_query(schema.schema, "_id", doc_id), 1)
    if not result.hits:
        return None
    from isthmus.actions.search_shard import stored_fields

    _id, source, seq_no, version, term, routing = stored_fields(searcher.doc(result.hits[0][1]))
    return seq_no, term, version, source, routing


def write_response(
    outcome: ItemOutcome, meta: IndexMetadata | None, forced_refresh: bool = False
) -> tuple[int, dict[str, Any]]:
    """ES's body and status for one write (single-document APIs and bulk items)."""
    if outcome.error is not None:
        err = outcome.error
        if meta is not None and "index_uuid" in err.extra and not err.extra["index_uuid"]:
            err.extra.update(
                {"index_uuid": meta.uuid, "shard": str(outcome.shard), "index": meta.name}
            )
        return err.http_status, {
            "_index": outcome.index,
            "_id": outcome.id,
            "status": err.http_status,
            "error": err.to_cause(),
        }
    result = outcome.result
    assert result is not None
    replicas = meta.number_of_replicas if meta is not None else 1
    body: dict[str, Any] = {
        "_index": outcome.index,
        "_id": outcome.id,
        "_version": result.version,
        "result": result.result,
        **({"forced_refresh": True} if forced_refresh and result.result != "noop" else {}),
        "_shards": {"total": 1 + replicas, "successful": 1, "failed": 0},
        "_seq_no": result.seq_no,
        "_primary_term": result.primary_term,
    }
    if result.result == "noop":
        body["_shards"] = {"total": 0, "successful": 0, "failed": 0}
    if outcome.get is not None:
        body["get"] = outcome.get
    status = 201 if result.result == "created" else 404 if result.result == "not_found" else 200
    return status, body


def _check_routing(meta: IndexMetadata, routing: str | None, doc_id: str | None) -> None:
    """ES refuses a write or get without routing on an index whose mapping requires one."""
    if routing is None and meta.mapping.routing_required:
        raise RoutingMissingError(meta.name, "null" if doc_id is None else doc_id)
