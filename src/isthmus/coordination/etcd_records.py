"""What etcd's v3 JSON gateway sends and expects, as typed values.  [no I/O]

The gateway speaks the gRPC messages of etcd's v3 API as JSON (proto3 mapping): keys and values
are base64, 64-bit integers are strings, and fields at their default value (0, false, empty,
the ``PUT`` event type) are left out. This module turns those bodies into frozen records and
back, and nothing else: the client (:mod:`isthmus.coordination.etcd_client`) moves them.

Only the parts of the v3 API common to etcd 3.4, 3.5 and 3.6 are used.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from isthmus.errors import CoordinationError

Json = dict[str, Any]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's rule: the
    prefix with its last byte below 0xff incremented; all keys when there is none)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


def _int(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    return int(value) if value is not None else 0


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> KeyValue:
        return cls(
            key=unb64(body.get("key")),
            value=unb64(body.get("value")),
            create_revision=_int(body, "create_revision"),
            mod_revision=_int(body, "mod_revision"),
            version=_int(body, "version"),
            lease=_int(body, "lease"),
        )


@dataclass(frozen=True, slots=True)
class RangeResult:
    revision: int  # the store's revision when it answered
    kvs: tuple[KeyValue, ...]
    count: int
    more: bool = False

    @classmethod
    def from_json(cls, body: Mapping[str, Any], revision: int | None = None) -> RangeResult:
        kvs = tuple(KeyValue.from_json(kv) for kv in body.get("kvs", ()))
        return cls(
            revision=_header_revision(body) if revision is None else revision,
            kvs=kvs,
            count=_int(body, "count"),
            more=bool(body.get("more", False)),
        )

    def first(self) -> KeyValue | None:
        return self.kvs[0] if self.kvs else None


@dataclass(frozen=True, slots=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    revision: int
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()


def _header_revision(body: Mapping[str, Any]) -> int:
    header = body.get("header") or {}
    return _int(header, "revision")


# --- transactions -----------------------------------------------------------------------------

CompareTarget = Literal["CREATE", "MOD", "VERSION", "VALUE", "LEASE"]
CompareResult = Literal["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]
_TARGET_FIELD: Mapping[str, str] = {
    "CREATE": "create_revision",
    "MOD": "mod_revision",
    "VERSION": "version",
    "VALUE": "value",
    "LEASE": "lease",
}


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction: ``target`` of ``key`` compared with ``operand``.

    A key that does not exist has create_revision, mod_revision and version 0, so
    ``Compare.create_revision(key, 0)`` means "absent" and is the basis of every fence here.
    """

    key: bytes
    target: CompareTarget
    operand: int | bytes
    result: CompareResult = "EQUAL"

    @classmethod
    def create_revision(cls, key: bytes, revision: int) -> Compare:
        return cls(key, "CREATE", revision)

    @classmethod
    def mod_revision(cls, key: bytes, revision: int) -> Compare:
        return cls(key, "MOD", revision)

    @classmethod
    def version(cls, key: bytes, version: int) -> Compare:
        return cls(key, "VERSION", version)

    @classmethod
    def value(cls, key: bytes, value: bytes) -> Compare:
        return cls(key, "VALUE", value)

    def to_json(self) -> Json:
        operand = b64(self.operand) if isinstance(self.operand, bytes) else str(self.operand)
        return {
            "key": b64(self.key),
            "target": self.target,
            "result": self.result,
            _TARGET_FIELD[self.target]: operand,
        }


@dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0

    def to_json(self) -> Json:
        body: Json = {"key": b64(self.key), "value": b64(self.value)}
        if self.lease:
            body["lease"] = str(self.lease)
        return {"request_put": body}


@dataclass(frozen=True, slots=True)
class Delete:
    key: bytes
    prefix: bool = False

    def to_json(self) -> Json:
        body: Json = {"key": b64(self.key)}
        if self.prefix:
            body["range_end"] = b64(prefix_end(self.key))
        return {"request_delete_range": body}


@dataclass(frozen=True, slots=True)
class Get:
    key: bytes
    prefix: bool = False

    def to_json(self) -> Json:
        body: Json = {"key": b64(self.key)}
        if self.prefix:
            body["range_end"] = b64(prefix_end(self.key))
        return {"request_range": body}


Op = Put | Delete | Get
OpResult = RangeResult | PutResult | DeleteResult


def txn_body(compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> Json:
    return {
        "compare": [c.to_json() for c in compare],
        "success": [op.to_json() for op in success],
        "failure": [op.to_json() for op in failure],
    }


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int  # the revision of the writes when it succeeded with writes; else the current
    responses: tuple[OpResult, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TxnResult:
        revision = _header_revision(body)
        responses: list[OpResult] = []
        for item in body.get("responses", ()):
            if "response_range" in item:
                responses.append(RangeResult.from_json(item["response_range"], revision))
            elif "response_put" in item:
                put = item["response_put"]
                prev = put.get("prev_kv")
                responses.append(PutResult(revision, KeyValue.from_json(prev) if prev else None))
            elif "response_delete_range" in item:
                dele = item["response_delete_range"]
                prevs = tuple(KeyValue.from_json(kv) for kv in dele.get("prev_kvs", ()))
                responses.append(DeleteResult(revision, _int(dele, "deleted"), prevs))
            else:
                raise CoordinationError(f"unexpected transaction response {sorted(item)}")
        return cls(bool(body.get("succeeded", False)), revision, tuple(responses))


# --- leases -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl: int  # seconds left; 0 or less: the lease does not exist any more


@dataclass(frozen=True, slots=True)
class LeaseTimeToLive:
    id: int
    ttl: int  # -1: the lease expired or never existed
    granted_ttl: int
    keys: tuple[bytes, ...] = ()


def lease_from_json(body: Mapping[str, Any]) -> Lease:
    # The keep-alive answer of a stream: {"result": {...}}; a grant's answer: the fields.
    inner = body.get("result", body)
    return Lease(id=_int(inner, "ID"), ttl=_int(inner, "TTL"))


def time_to_live_from_json(body: Mapping[str, Any]) -> LeaseTimeToLive:
    return LeaseTimeToLive(
        id=_int(body, "ID"),
        ttl=_int(body, "TTL"),
        granted_ttl=_int(body, "grantedTTL"),
        keys=tuple(unb64(k) for k in body.get("keys", ())),
    )


# --- watches ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue  # for a DELETE: the key and the deletion's mod_revision, no value
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """One message of a watch stream. The events of one transaction (one revision) are never
    split between responses, but one response may carry several revisions (a watch that
    replays history sends them in batches): :meth:`by_revision` gives the atomic changes."""

    revision: int  # the store's revision when it was sent (progress: everything before seen)
    events: tuple[WatchEvent, ...] = ()
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""

    @property
    def is_progress(self) -> bool:
        return not (self.events or self.created or self.canceled)

    def by_revision(self) -> list[tuple[int, tuple[WatchEvent, ...]]]:
        """The events grouped by the revision that made them, in order: one group is one
        transaction, applied all at once or not at all."""
        groups: list[tuple[int, tuple[WatchEvent, ...]]] = []
        for event in self.events:
            revision = event.kv.mod_revision
            if groups and groups[-1][0] == revision:
                groups[-1] = (revision, (*groups[-1][1], event))
            else:
                groups.append((revision, (event,)))
        return groups


def watch_create_body(
    key: bytes, *, prefix: bool, start_revision: int, prev_kv: bool, progress_notify: bool
) -> Json:
    body: Json = {"key": b64(key)}
    if prefix:
        body["range_end"] = b64(prefix_end(key))
    if start_revision:
        body["start_revision"] = str(start_revision)
    if prev_kv:
        body["prev_kv"] = True
    if progress_notify:
        body["progress_notify"] = True
    return {"create_request": body}


def watch_response_from_json(line: Mapping[str, Any]) -> WatchResponse:
    if "error" in line:  # the gateway reports a broken stream as one error object
        error = line["error"]
        message = error.get("message", "") if isinstance(error, Mapping) else str(error)
        code = _int(error, "grpc_code") if isinstance(error, Mapping) else 0
        raise CoordinationError(f"etcd ended the watch: {message}", code=code)
    result = line.get("result", {})
    events = tuple(
        WatchEvent(
            type="DELETE" if event.get("type") == "DELETE" else "PUT",
            kv=KeyValue.from_json(event.get("kv", {})),
            prev_kv=KeyValue.from_json(event["prev_kv"]) if event.get("prev_kv") else None,
        )
        for event in result.get("events", ())
    )
    return WatchResponse(
        revision=_header_revision(result),
        events=events,
        created=bool(result.get("created", False)),
        canceled=bool(result.get("canceled", False)),
        compact_revision=_int(result, "compact_revision"),
        cancel_reason=str(result.get("cancel_reason", "")),
    )
