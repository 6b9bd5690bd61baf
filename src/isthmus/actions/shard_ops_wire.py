"""Shard operations as transport payloads, and back.  [no I/O]

What crosses between the nodes of one cluster when a shard's copies are on several nodes:

- a write batch sent to the primary's node (``indices:data/write/bulk[s]``): each operation
  without its parsed values (the primary parses the source again against its current mapping);
- the operations a primary sends to its replicas (``indices:data/write/bulk[s][r]``) and a
  recovery reads from the primary's history: each with the ``_seq_no``, ``_primary_term`` and
  ``_version`` the primary gave it (a :class:`HistoryOp` row);
- the results of a write, an error as its wire form (ES's type, reason and status survive).

Decoding checks every field: a malformed payload is a protocol error, never a crash deeper in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from isthmus.errors import IsthmusError
from isthmus.index.operations import DeleteOp, HistoryOp, IndexOp, Op, OpResult
from isthmus.wire import RemoteProtocolError
from isthmus.wire.messages import WireError

_VERSION_TYPES = ("internal", "external", "external_gte")


def _int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RemoteProtocolError(f"shard operation [{what}] is not an integer")


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _str(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    raise RemoteProtocolError(f"shard operation [{what}] is not a string")


def _opt_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise RemoteProtocolError(f"shard operation [{what}] is not bytes")


def _map(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise RemoteProtocolError(f"[{what}] is not a map")


def _list(value: Any, what: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    raise RemoteProtocolError(f"[{what}] is not a list")


# --- a write batch for the primary ------------------------------------------------------------


def encode_op(op: Op) -> dict[str, Any]:
    """A client operation without its parsed values (the primary parses the source again)."""
    out: dict[str, Any] = {"id": op.id}
    if isinstance(op, IndexOp):
        out.update(op="index", source=op.source)
        if op.create:
            out["create"] = True
        if op.auto_id:
            out["auto_id"] = True
        if op.routing is not None:
            out["routing"] = op.routing
    else:
        out["op"] = "delete"
    if op.if_seq_no is not None:
        out["if_seq_no"] = op.if_seq_no
        out["if_primary_term"] = op.if_primary_term
    if op.version is not None:
        out["version"] = op.version
    if op.version_type != "internal":
        out["version_type"] = op.version_type
    return out


def decode_op(value: Any) -> Op:
    """An operation as :func:`encode_op` wrote it; an ``index`` one has no values yet (the
    receiver parses its source and replaces them)."""
    body = _map(value, "op")
    kind = body.get("op")
    version_type = body.get("version_type", "internal")
    if version_type not in _VERSION_TYPES:
        raise RemoteProtocolError(f"shard operation has an unknown version type [{version_type}]")
    common: dict[str, Any] = {
        "if_seq_no": _opt_int(body.get("if_seq_no"), "if_seq_no"),
        "if_primary_term": _opt_int(body.get("if_primary_term"), "if_primary_term"),
        "version": _opt_int(body.get("version"), "version"),
        "version_type": version_type,
    }
    doc_id = _str(body.get("id"), "id")
    if kind == "delete":
        return DeleteOp(doc_id, **common)
    if kind != "index":
        raise RemoteProtocolError(f"shard operation has an unknown type [{kind}]")
    return IndexOp(
        doc_id,
        _bytes(body.get("source"), "source"),
        {},
        create=body.get("create") is True,
        auto_id=body.get("auto_id") is True,
        routing=_opt_str(body.get("routing"), "routing"),
        **common,
    )


# --- results ----------------------------------------------------------------------------------


def encode_result(result: OpResult) -> list[Any]:
    error = None if result.error is None else WireError.from_exception(result.error).to_payload()
    return [
        result.id,
        result.result,
        result.seq_no,
        result.primary_term,
        result.version,
        error,
    ]


def decode_result(value: Any) -> OpResult:
    row = _list(value, "result")
    if len(row) != 6:
        raise RemoteProtocolError("shard operation result has the wrong length")
    doc_id, outcome, seq_no, term, version, error = row
    return OpResult(
        _str(doc_id, "id"),
        _opt_str(outcome, "result"),
        _int(seq_no, "seq_no"),
        _int(term, "primary_term"),
        _int(version, "version"),
        None if error is None else WireError.from_payload(error).to_exception(),
    )


def encode_error(error: IsthmusError) -> dict[str, Any]:
    return WireError.from_exception(error).to_payload()


def decode_error(value: Any) -> IsthmusError:
    return WireError.from_payload(value).to_exception()


# --- operations that keep their sequence numbers ----------------------------------------------


def replica_ops(ops: Sequence[Op], results: Sequence[OpResult]) -> list[HistoryOp]:
    """What a primary's batch stored, as the operations its replicas apply: each operation
    that got a ``_seq_no`` (a failed one got none and is not replicated)."""
    out: list[HistoryOp] = []
    for op, result in zip(ops, results, strict=True):
        if result.error is not None or result.seq_no < 0 or result.result is None:
            continue
        if isinstance(op, IndexOp):
            out.append(
                HistoryOp(
                    result.seq_no,
                    result.primary_term,
                    result.version,
                    "index",
                    result.id,
                    op.source,
                    0,
                    op.routing,
                )
            )
        else:
            out.append(
                HistoryOp(
                    result.seq_no, result.primary_term, result.version, "delete", op.id, None, 0
                )
            )
    return out


def encode_history(ops: Sequence[HistoryOp]) -> list[list[Any]]:
    return [[o.seq_no, o.primary_term, o.version, o.op, o.id, o.source, o.routing] for o in ops]


def decode_history(value: Any) -> list[HistoryOp]:
    out: list[HistoryOp] = []
    for item in _list(value, "ops"):
        row = _list(item, "op")
        if len(row) != 7:
            raise RemoteProtocolError("replicated operation has the wrong length")
        seq_no, term, version, kind, doc_id, source, routing = row
        if kind not in ("index", "delete", "noop"):
            raise RemoteProtocolError(f"replicated operation has an unknown type [{kind}]")
        out.append(
            HistoryOp(
                _int(seq_no, "seq_no"),
                _int(term, "primary_term"),
                _int(version, "version"),
                kind,
                _str(doc_id, "id"),
                None if source is None else _bytes(source, "source"),
                0,
                _opt_str(routing, "routing"),
            )
        )
    return out


def noops(seq_nos: Sequence[int], term: int) -> list[HistoryOp]:
    """No-ops for ``_seq_no`` a recovery found trimmed from the primary's history (an operation
    superseded or deleted long enough ago: the live documents are all kept), so the recovering
    copy's local checkpoint moves past them."""
    return [HistoryOp(seq_no, term, 1, "noop", "", None, 0) for seq_no in seq_nos]
