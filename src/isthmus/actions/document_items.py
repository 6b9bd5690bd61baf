"""One document write or read as the API layer hands it over: the item, its checks (ids,
versioning, the source's JSON) and ES's response body for its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from isthmus import xcontent
from isthmus.cluster.metadata import IndexMetadata
from isthmus.errors import (
    ActionRequestValidationError,
    DocumentParsingError,
    IllegalArgumentError,
    IsthmusError,
    JsonParseError,
    MapperParsingError,
    RoutingMissingError,
)
from isthmus.index.engine import OpResult

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


def check_index_request(
    op_type: str,
    doc_id: str | None,
    version: int | None,
    version_type: str,
    if_seq_no: int | None,
    if_primary_term: int | None,
) -> None:
    """The first checks of ES's IndexRequest.validate, in its order (before the versioning and
    compare-and-set ones of :func:`check_versioning`): a create, which is what a generated id
    is, takes no external versioning, no version and no compare-and-set; without an id no
    version may be set."""
    problem = None
    if op_type == "create":
        if version_type != "internal":
            problem = "create operations only support internal versioning. use index instead"
        elif version is not None:
            problem = "create operations do not support explicit versions. use index instead"
        elif if_seq_no is not None or if_primary_term is not None:
            problem = "create operations do not support compare and set. use index instead"
    if problem is None and doc_id is None and (version_type != "internal" or version is not None):
        problem = "an id must be provided if version type or value are set"
    if problem is not None:
        raise ActionRequestValidationError(f"Validation Failed: 1: {problem};")


def version_type_of(version_type: str | None) -> str:
    """A ``version_type`` parameter as ES parses it (VersionType.fromString)."""
    vtype = (version_type or "internal").lower()
    if vtype not in ("internal", "external", "external_gte"):
        raise IllegalArgumentError(f"No version type match [{version_type}]")
    return vtype


def check_versioning(version: int | None, version_type: str | None) -> str:
    """Validate ``version``/``version_type`` as ES does; returns the version type."""
    vtype = version_type_of(version_type)
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
    # ES's ``_shards`` as the write's replication found them (a cluster of several nodes).
    shards: dict[str, Any] | None = None


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


def located(exc: DocumentParsingError, raw: bytes | None) -> DocumentParsingError:
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


def check_routing(meta: IndexMetadata, routing: str | None, doc_id: str | None) -> None:
    """ES refuses a write or get without routing on an index whose mapping requires one."""
    if routing is None and meta.mapping.routing_required:
        raise RoutingMissingError(meta.name, "null" if doc_id is None else doc_id)


def shards_section(total: int, replicated: Any) -> dict[str, Any]:
    """ES's ShardInfo of a replicated write: ``total`` copies (the primary and every replica
    the index names, assigned or not), those that applied it (``replicated.successful``), and
    the replicas that failed, listed under ``failures`` when there are any."""
    failures = list(replicated.failures)
    out: dict[str, Any] = {
        "total": total,
        "successful": replicated.successful,
        "failed": len(failures),
    }
    if failures:
        out["failures"] = failures
    return out


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
        "_shards": outcome.shards or {"total": 1 + replicas, "successful": 1, "failed": 0},
        "_seq_no": result.seq_no,
        "_primary_term": result.primary_term,
    }
    if result.result == "noop":
        body["_shards"] = {"total": 0, "successful": 0, "failed": 0}
    if outcome.get is not None:
        body["get"] = outcome.get
    status = 201 if result.result == "created" else 404 if result.result == "not_found" else 200
    return status, body
