"""Document APIs: index/create, get/exists/_source, delete, update, mget, bulk.

Reads honour document- and field-level security: the handlers compute the subject's
restrictions for the indices a request names and hand them to the action.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from isthmus import xcontent
from isthmus.actions.document_items import (
    WriteItem,
    check_index_request,
    check_retry_on_conflict,
    check_versioning,
    parse_json_object,
    version_type_of,
    write_response,
)
from isthmus.cluster.allocation_service import parse_active_shards
from isthmus.cluster.data_streams import stream
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IsthmusError,
    MapperParsingError,
    SecurityError,
)
from isthmus.http.handlers.common import bool_param, int_param, json_object, refresh_param
from isthmus.http.router import Request, Response, Route, route
from isthmus.security.field_level import IndexRestrictions, index_restrictions, stream_access
from isthmus.settings.values import parse_time

if TYPE_CHECKING:
    from isthmus.actions.documents import DocumentActions
    from isthmus.cluster.service import ClusterService
    from isthmus.security.index_authorization import IndexAuthorization

WRITE_PARAMS = (
    "refresh",
    "routing",
    "timeout",
    "version",
    "version_type",
    "if_seq_no",
    "if_primary_term",
    "op_type",
    "pipeline",
    "wait_for_active_shards",
    "require_alias",
    "require_data_stream",
    "include_source_on_error",
)
GET_PARAMS = (
    "realtime",
    "refresh",
    "routing",
    "preference",
    "stored_fields",
    "_source",
    "_source_includes",
    "_source_excludes",
    "version",
    "version_type",
)
BULK_META = {
    "_index",
    "_id",
    "routing",
    "if_seq_no",
    "if_primary_term",
    "retry_on_conflict",
    "require_alias",
    "pipeline",
    "version",
    "version_type",
    "op_type",
    "dynamic_templates",
    "_source",
    "require_data_stream",
    "list_executed_pipelines",
}


GET_ACTION = "indices:data/read/get"
# As ES authorizes bulk items: an index item by its op_type (``create_doc`` grants creates only).
ITEM_ACTIONS = {
    "index": "indices:data/write/index:op_type/index",
    "create": "indices:data/write/index:op_type/create",
    "delete": "indices:data/write/delete",
    "update": "indices:data/write/update",
}


def _versioning(req: Request) -> tuple[int | None, str]:
    version = int_param(req, "version")
    return version, check_versioning(version, req.params.get("version_type"))


def _cond(req: Request) -> tuple[int | None, int | None]:
    seq, term = int_param(req, "if_seq_no"), int_param(req, "if_primary_term")
    if (seq is None) != (term is None):
        raise ActionRequestValidationError(
            "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"
            if term is None
            else "Validation Failed: 1: ifPrimaryTerm is set, but seqNo is unassigned;"
        )
    return seq, term


def parse_bulk(
    body: bytes,
    default_index: str | None,
    default_routing: str | None = None,
    default_require_alias: bool = False,
) -> list[WriteItem]:
    """ES's bulk NDJSON: action line, then a source line for all but ``delete``. The
    request's ``routing`` and ``require_alias`` apply to the items that do not set their own."""
    if not body.strip():
        raise ActionRequestValidationError("Validation Failed: 1: no requests added;")
    if not body.endswith(b"\n"):
        raise IllegalArgumentError("The bulk request must be terminated by a newline [\\n]")
    lines = body.split(b"\n")
    items: list[WriteItem] = []
    invalid: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        line_no = i
        try:
            action_obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise IllegalArgumentError(
                f"Malformed action/metadata line [{line_no}], expected START_OBJECT or "
                "END_OBJECT but found [VALUE_STRING]"
            ) from None
        if not isinstance(action_obj, dict) or len(action_obj) != 1:
            raise IllegalArgumentError(
                f"Malformed action/metadata line [{line_no}], expected START_OBJECT or "
                "END_OBJECT but found [VALUE_STRING]"
            )
        ((action, meta),) = action_obj.items()
        if action not in ("index", "create", "delete", "update"):
            raise IllegalArgumentError(
                f"Malformed action/metadata line [{line_no}], expected field [create], "
                f"[delete], [index] or [update] but found [{action}]"
            )
        if not isinstance(meta, dict):
            raise IllegalArgumentError(
                f"Malformed action/metadata line [{line_no}], expected START_OBJECT but found "
                "[VALUE_STRING]"
            )
        for key, value in meta.items():
            # ES reads metadata as simple values: an array anywhere, or an object other than
            # _source/dynamic_templates, is a malformed line (before the name is looked at).
            if isinstance(value, list) or (
                isinstance(value, dict) and key not in ("_source", "dynamic_templates")
            ):
                found = "START_ARRAY" if isinstance(value, list) else "START_OBJECT"
                raise IllegalArgumentError(
                    f"Malformed action/metadata line [{line_no}], expected a simple value for "
                    f"field [{key}] but found [{found}]"
                )
            if key not in BULK_META:
                raise IllegalArgumentError(
                    f"Action/metadata line [{line_no}] contains an unknown parameter [{key}]"
                )
        index = _meta_str(meta, "_index", default_index)
        if index is None:
            raise ActionRequestValidationError("Validation Failed: 1: index is missing;")
        doc_id = _meta_str(meta, "_id", None)
        if action == "index" and meta.get("op_type") == "create":
            action = "create"
        version = _meta_long(meta, "version")
        item = WriteItem(
            action,
            index,
            doc_id,
            routing=_meta_str(meta, "routing", default_routing),
            if_seq_no=_meta_long(meta, "if_seq_no"),
            if_primary_term=_meta_long(meta, "if_primary_term"),
            retry_on_conflict=check_retry_on_conflict(
                xcontent.as_int("bulk", "retry_on_conflict", meta.get("retry_on_conflict", 0))
            ),
            require_alias=xcontent.as_bool(
                "bulk", "require_alias", meta.get("require_alias", default_require_alias)
            ),
            version=version,
            version_type="internal"
            if "version" not in meta and "version_type" not in meta
            else check_versioning(version, _meta_str(meta, "version_type", None)),
        )
        if action != "delete":
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i >= len(lines):
                raise IllegalArgumentError("The bulk request must be terminated by a newline [\\n]")
            raw = lines[i]
            i += 1
            try:
                item.source = parse_json_object(raw)
                item.raw = raw.strip()
            except MapperParsingError as exc:
                item.source = exc  # reported on this item only
        if action in ("update", "delete") and not item.id:
            # ES validates every item before any runs: an id-less update or delete fails the
            # whole bulk, each listed (an empty id on an index item fails that item only).
            invalid.append("id is missing")
        items.append(item)
    if invalid:
        numbered = "".join(f"{n}: {reason};" for n, reason in enumerate(invalid, 1))
        raise ActionRequestValidationError(f"Validation Failed: {numbered}")
    return items


def _meta_str(meta: dict[str, Any], key: str, default: str | None) -> str | None:
    """A metadata string; ``null`` is as if absent, as in ES's bulk parser."""
    value = meta.get(key)
    return default if value is None else xcontent.as_str("bulk", key, value)


def _meta_long(meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    return None if value is None else xcontent.as_long("bulk", key, value)


T = TypeVar("T")
# Bulk bodies up to this size are handled on the event loop (a thread hop costs more than they do).
BULK_INLINE_BYTES = 256 * 1024


async def _maybe_off_loop(off: bool, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args) if off else fn(*args)


@dataclass(frozen=True)
class DocumentsApiDeps:
    """What the document handlers use. ``authz`` is None exactly when security is off: then no request is narrowed or filtered."""

    cluster: ClusterService
    documents: DocumentActions
    authz: IndexAuthorization | None


def write_timeout(req: Request) -> str | None:
    """A write's ``timeout`` (how long it waits for its shard's primary), checked as ES parses
    it (a malformed one is ES's 400)."""
    text = req.params.get("timeout")
    if text is not None:
        parse_time(text, "timeout")
    return text


def active_shards(req: Request) -> int | str | None:
    """A write's ``wait_for_active_shards`` (None: the index's own setting decides)."""
    raw = req.params.get("wait_for_active_shards")
    return None if raw is None or raw == "index-setting" else parse_active_shards(raw)


def routes(s: DocumentsApiDeps) -> list[Route]:
    docs = s.documents

    async def single_write(req: Request, item: WriteItem) -> Response:
        outcomes = await docs.execute(
            [item], refresh_param(req), write_timeout(req), active_shards(req)
        )
        outcome = outcomes[0]
        meta = s.cluster.state.indices.get(outcome.index)
        if outcome.error is not None:
            err = outcome.error
            if meta is not None and err.extra.get("index_uuid") == "":
                err.extra.update(
                    {"index_uuid": meta.uuid, "shard": str(outcome.shard), "index": meta.name}
                )
            raise err
        status, body = write_response(outcome, meta, refresh_param(req) == "true")
        return Response(status, body)

    async def index_doc(req: Request) -> Response:
        version = int_param(req, "version")
        vtype_name = version_type_of(req.params.get("version_type"))
        # ES's POST /{index}/_doc (the id generated) defaults to op_type create: it can write
        # to a data stream.
        op_type = req.params.get("op_type", "index" if "id" in req.path_params else "create")
        if op_type not in ("index", "create"):
            raise IllegalArgumentError(f"opType must be 'create' or 'index', found: [{op_type}]")
        action = (
            "create"
            if req.path.rstrip("/").split("/")[-2] == "_create" or op_type == "create"
            else "index"
        )
        check_index_request(
            action,
            req.path_params.get("id"),
            version,
            vtype_name,
            int_param(req, "if_seq_no"),
            int_param(req, "if_primary_term"),
        )
        seq, term = _cond(req)
        version, vtype = _versioning(req)
        source = parse_json_object(req.body) if req.has_body else None
        raw = req.body.strip() if source is not None else None
        if source is None:
            raise ActionRequestValidationError(
                "Validation Failed: 1: source is missing;2: content type is missing;"
            )
        item = WriteItem(
            action,
            req.path_params["index"],
            req.path_params.get("id"),
            source,
            routing=req.params.get("routing"),
            if_seq_no=seq,
            if_primary_term=term,
            require_alias=bool_param(req, "require_alias"),
            raw=raw,
            version=version,
            version_type=vtype,
        )
        return await single_write(req, item)

    def restrictions(req: Request, names: Iterable[str]) -> IndexRestrictions | None:
        if s.authz is None:
            return None
        return index_restrictions(
            s.authz.authorizer, req.subject, GET_ACTION, names, s.cluster.state
        )

    async def get_doc(req: Request) -> Response:
        index = req.path_params["index"]
        body = await docs.get(index, req.path_params["id"], req.params, restrictions(req, [index]))
        return Response(200 if body.get("found") else 404, body)

    async def get_source(req: Request) -> Response:
        index = req.path_params["index"]
        body = await docs.get(index, req.path_params["id"], req.params, restrictions(req, [index]))
        if not body.get("found"):
            from isthmus.errors import ResourceNotFoundError

            raise ResourceNotFoundError(f"Document not found [{body['_index']}]/[{body['_id']}]")
        return Response(200, body.get("_source", {}))

    async def delete_doc(req: Request) -> Response:
        seq, term = _cond(req)
        version, vtype = _versioning(req)
        item = WriteItem(
            "delete",
            req.path_params["index"],
            req.path_params["id"],
            routing=req.params.get("routing"),
            if_seq_no=seq,
            if_primary_term=term,
            version=version,
            version_type=vtype,
        )
        meta = s.cluster.state.indices.get(item.index)
        known = item.index in s.cluster.state.aliases() or stream(s.cluster.state, item.index)
        if meta is None and not known:
            from isthmus.errors import IndexNotFoundError

            raise IndexNotFoundError(item.index)
        return await single_write(req, item)

    async def update_doc(req: Request) -> Response:
        seq, term = _cond(req)
        body = json_object(req, required=True)
        item = WriteItem(
            "update",
            req.path_params["index"],
            req.path_params["id"],
            body,
            routing=req.params.get("routing"),
            if_seq_no=seq,
            if_primary_term=term,
            retry_on_conflict=check_retry_on_conflict(int_param(req, "retry_on_conflict") or 0),
            require_alias=bool_param(req, "require_alias"),
        )
        if "_source" in req.params and body is not None:
            body.setdefault("_source", req.params["_source"])
        if s.authz is not None and req.subject is not None:
            authorizer, state = s.authz.authorizer, s.cluster.state
            access = stream_access(
                authorizer, req.subject, "indices:data/read/get", item.index, state
            )
            if (
                access.queries is not None
                or access.fields is not None
                or (access.limited_queries is not None or access.limited_fields is not None)
            ):
                # ES: an update reads the document, which DLS/FLS could only show in part.
                raise SecurityError(
                    "Can't execute an update request if field or document level security is "
                    "enabled",
                    status=400,
                )
        return await single_write(req, item)

    async def mget(req: Request) -> dict[str, Any]:
        authz = s.authz

        def check(index: str) -> None:
            if authz is not None:
                refused = authz.item_allowed(req.subject, GET_ACTION, index)
                if refused is not None:
                    raise refused

        default_index = req.path_params.get("index")
        body = json_object(req, required=True)
        # The indices the items name (an item naming none uses the path's): only these show.
        names = {default_index} if default_index is not None else set()
        items = body.get("docs") if body is not None else None
        if isinstance(items, list):
            names.update(str(d["_index"]) for d in items if isinstance(d, dict) and "_index" in d)
        return await docs.mget(default_index, body, req.params, check, restrictions(req, names))

    def authorize_items(subject: Any, items: list[Any]) -> None:
        # One decision per (action, index): a million items naming one index cost one check.
        assert s.authz is not None
        decided: dict[tuple[str, str], IsthmusError | None] = {}
        for item in items:
            key = (ITEM_ACTIONS[item.action], item.index)
            if key not in decided:
                decided[key] = s.authz.item_allowed(subject, *key)
            refused = decided[key]
            if refused is not None:
                item.source = refused  # reported on this item only, as ES does

    def render_items(items: list[Any], outcomes: list[Any], refresh: str) -> dict[str, Any]:
        results = iter(outcomes)
        rendered = []
        errors = False
        causes: dict[int, dict[str, Any]] = {}  # one rendering per distinct refusal
        for item in items:
            if isinstance(item.source, IsthmusError):
                err = item.source
                cause = causes.get(id(err))
                if cause is None:
                    cause = causes[id(err)] = err.to_cause()
                rendered.append(
                    {
                        item.action: {
                            "_index": item.index,
                            "_id": item.id,
                            "status": err.http_status,
                            "error": cause,
                        }
                    }
                )
                errors = True
                continue
            outcome = next(results)
            meta = s.cluster.state.indices.get(outcome.index)
            status, body = write_response(outcome, meta, refresh == "true")
            if outcome.error is not None:
                errors = True
            else:
                body["status"] = status
            rendered.append({item.action: body})
        return {"errors": errors, "items": rendered}

    async def bulk(req: Request) -> dict[str, Any]:
        started = time.perf_counter()
        # A large body is parsed, authorized and rendered in a worker thread: the event loop
        # (pings, every other request) keeps its turns however many lines a request carries.
        big = len(req.body) > BULK_INLINE_BYTES
        index = req.path_params.get("index")
        items = await _maybe_off_loop(
            big,
            parse_bulk,
            req.body,
            index,
            req.params.get("routing"),
            bool_param(req, "require_alias"),
        )
        if s.authz is not None:
            await _maybe_off_loop(big, authorize_items, req.subject, items)
        ready = [it for it in items if not isinstance(it.source, IsthmusError)]
        refresh = refresh_param(req)
        outcomes = await docs.execute(ready, refresh, write_timeout(req), active_shards(req))
        out = await _maybe_off_loop(big, render_items, items, outcomes, refresh)
        return {
            "errors": out["errors"],
            "took": int((time.perf_counter() - started) * 1000),
            "items": out["items"],
        }

    bulk_params = (
        "refresh",
        "routing",
        "timeout",
        "pipeline",
        "wait_for_active_shards",
        "require_alias",
        "_source",
        "_source_includes",
        "_source_excludes",
        "require_data_stream",
        "list_executed_pipelines",
        "include_source_on_error",
    )
    update_params = (
        "refresh",
        "routing",
        "timeout",
        "retry_on_conflict",
        "if_seq_no",
        "if_primary_term",
        "_source",
        "_source_includes",
        "_source_excludes",
        "wait_for_active_shards",
        "require_alias",
        "lang",
        "include_source_on_error",
    )
    return [
        route(
            ("PUT", "POST"),
            "/{index}/_doc/{id}",
            index_doc,
            params=WRITE_PARAMS,
            action="indices:data/write/index",
        ),
        route(
            "POST",
            "/{index}/_doc",
            index_doc,
            params=WRITE_PARAMS,
            action="indices:data/write/index",
        ),
        route(
            ("PUT", "POST"),
            "/{index}/_create/{id}",
            index_doc,
            params=WRITE_PARAMS,
            action="indices:data/write/index",
        ),
        route(
            ("GET", "HEAD"),
            "/{index}/_doc/{id}",
            get_doc,
            params=GET_PARAMS,
            action="indices:data/read/get",
        ),
        route(
            ("GET", "HEAD"),
            "/{index}/_source/{id}",
            get_source,
            params=GET_PARAMS,
            action="indices:data/read/get",
        ),
        route(
            "DELETE",
            "/{index}/_doc/{id}",
            delete_doc,
            params=WRITE_PARAMS,
            action="indices:data/write/delete",
        ),
        route(
            "POST",
            "/{index}/_update/{id}",
            update_doc,
            params=update_params,
            action="indices:data/write/update",
        ),
        route(("GET", "POST"), "/_mget", mget, params=GET_PARAMS, action="indices:data/read/mget"),
        route(
            ("GET", "POST"),
            "/{index}/_mget",
            mget,
            params=GET_PARAMS,
            action="indices:data/read/mget",
        ),
        route(
            ("POST", "PUT"), "/_bulk", bulk, params=bulk_params, action="indices:data/write/bulk"
        ),
        route(
            ("POST", "PUT"),
            "/{index}/_bulk",
            bulk,
            params=bulk_params,
            action="indices:data/write/bulk",
        ),
    ]
