"""Point in time (PIT): the id, and the rules of a search that uses one.  [no I/O]

A PIT id names the reader contexts a ``POST /<expr>/_pit`` opened: on this cluster one per
searched shard (the node's session, the context's number, the shard it holds), and for each
other cluster the id of its own part (that cluster opened its contexts and answers for them). It
is opaque to callers: URL-safe base64 of a small JSON document, as ES's id is URL-safe base64 of
its binary form. Each shard of a PIT, local or remote, has a position (its "shard request index"),
which ``_shard_doc`` values start with, so they order and page the same across clusters.

A search with ``pit`` names no index (the PIT's indices are searched), no routing, preference or
indices options, and is never a scroll: ES refuses each with its own validation message. A PIT
search sorted by anything gets ES's implicit ``_shard_doc`` tiebreaker, so ``search_after`` pages
never skip or repeat documents that sort the same.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus import xcontent
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    ParsingError,
    XContentParseError,
)

# The URL parameters a search with a PIT may not set (ES's RestSearchAction.preparePointInTime).
INDICES_OPTIONS_PARAMS = ("ignore_unavailable", "allow_no_indices", "expand_wildcards")
_ID_VERSION = 1


@dataclass(frozen=True)
class LocalShardRef:
    """One reader context of this cluster: the node session that opened it, its number, the
    shard it holds, and the shard's position in the PIT (for ``_shard_doc``). ``node``: in a
    cluster of several nodes, the node holding the context (ES's id names it too); "" for the
    node that opened the PIT (a cluster of one)."""

    session: str
    context_id: int
    index: str
    shard: int
    position: int
    node: str = ""


@dataclass(frozen=True)
class RemotePart:
    """Another cluster's part of a PIT: its own id, its index names (as it knows them), how many
    shard contexts it holds and where their positions start."""

    alias: str
    id: str
    indices: tuple[str, ...]
    shards: int
    first_position: int


@dataclass(frozen=True)
class PitId:
    local: tuple[LocalShardRef, ...]
    remote: tuple[RemotePart, ...] = ()

    def encode(self) -> str:
        doc = {
            "v": _ID_VERSION,
            "l": [
                [
                    r.session,
                    r.context_id,
                    r.index,
                    r.shard,
                    r.position,
                    *([r.node] if r.node else []),
                ]
                for r in self.local
            ],
            "r": [
                [p.alias, p.id, list(p.indices), p.shards, p.first_position] for p in self.remote
            ],
        }
        return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> PitId:
        """The id, or ES's 400 for one that is not a PIT id."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            doc = orjson.loads(raw)
            if not isinstance(doc, dict) or doc.get("v") != _ID_VERSION:
                raise ValueError("version")
            local = tuple(
                LocalShardRef(str(s), int(c), str(i), int(n), int(p), *(str(x) for x in node))
                for s, c, i, n, p, *node in doc["l"]
            )
            remote = tuple(
                RemotePart(str(a), str(i), tuple(str(x) for x in names), int(n), int(f))
                for a, i, names, n, f in doc["r"]
            )
        except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
            raise IllegalArgumentError(f"invalid point in time id [{text}]") from None
        return cls(local, remote)

    @property
    def local_indices(self) -> list[str]:
        """This cluster's indices in the PIT, sorted (as ES's ``getActualIndices``)."""
        return sorted({r.index for r in self.local})

    @property
    def shard_contexts(self) -> int:
        return len(self.local) + sum(p.shards for p in self.remote)


@dataclass(frozen=True)
class PitReference:
    """A search body's ``pit``: the id and, optionally, a new keep-alive."""

    id: str
    keep_alive: str | None = None


def parse_pit(value: Any) -> PitReference:
    """The body's ``pit`` object, with ES's parse errors."""
    if not isinstance(value, Mapping):
        raise ParsingError(f"Unknown key for a {xcontent.token(value)} in [pit].")
    pit_id: str | None = None
    keep_alive: str | None = None
    for key, item in value.items():
        if key == "id":
            pit_id = xcontent.as_str("pit", "id", item)
        elif key == "keep_alive":
            keep_alive = xcontent.as_str("pit", "keep_alive", item)
        else:
            raise XContentParseError(f"[pit] unknown field [{key}]")
    if not pit_id:
        raise IllegalArgumentError("[pit] Required [id]")
    return PitReference(pit_id, keep_alive)


def check_search(named_index: bool, params: Mapping[str, str]) -> None:
    """ES's checks of a search that uses a PIT, in its order, as one validation error."""
    problems = []
    if named_index:
        problems.append(
            "[indices] cannot be used with point in time. Do not specify any index with point "
            "in time."
        )
    if any(p in params for p in INDICES_OPTIONS_PARAMS):
        problems.append("[indicesOptions] cannot be used with point in time")
    if "routing" in params:
        problems.append("[routing] cannot be used with point in time")
    if "preference" in params:
        problems.append("[preference] cannot be used with point in time")
    if params.get("ccs_minimize_roundtrips") == "true":
        problems.append("[ccs_minimize_roundtrips] cannot be used with point in time")
    if not problems and "scroll" in params:
        # SearchRequest.validate, which runs after the REST checks.
        problems.append("using [point in time] is not allowed in a scroll context")
    if problems:
        raise validation_error(problems)


def check_open(named_index: bool, keep_alive: str | None) -> None:
    """``OpenPointInTimeRequest.validate``: an index expression and a keep-alive are needed."""
    problems = []
    if not named_index:
        problems.append("[index] is not specified")
    if keep_alive is None:
        problems.append("[keep_alive] is not specified")
    if problems:
        raise validation_error(problems)


def validation_error(problems: list[str]) -> ActionRequestValidationError:
    numbered = "".join(f"{n}: {p};" for n, p in enumerate(problems, 1))
    return ActionRequestValidationError(f"Validation Failed: {numbered}")


def with_tiebreaker(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with ES's implicit ``_shard_doc`` tiebreaker: added after a non-empty sort that
    does not end with it, unless ``search_after`` has exactly one value per given sort key (a
    page asked without the tiebreaker goes on without it)."""
    out = dict(body)
    sort = out.get("sort")
    if sort is None or sort == []:
        return out
    sorts = sort if isinstance(sort, list) else [sort]
    after = out.get("search_after")
    if isinstance(after, list) and len(after) != len(sorts) + 1:
        return out
    last = sorts[-1]
    name = last if isinstance(last, str) else None
    if isinstance(last, dict):
        name = next(iter(last), None)
    if name == "_shard_doc":
        return out
    out["sort"] = [*sorts, "_shard_doc"]
    return out


def check_shard_doc_sort(body: Mapping[str, Any] | None, params: Mapping[str, str]) -> None:
    """ES's ``SearchRequest.validate``: ``_shard_doc`` orders documents within a reader, which
    only a PIT keeps; a search without one may not sort by it."""
    sort = (body or {}).get("sort")
    sorts = sort if isinstance(sort, list) else [] if sort is None else [sort]
    names = [
        s if isinstance(s, str) else next(iter(s), None)
        for s in sorts
        if s and isinstance(s, str | dict)
    ]
    names += [part.split(":")[0] for part in params.get("sort", "").split(",") if part]
    if "_shard_doc" in names:
        raise validation_error(["[_shard_doc] sort field cannot be used without [point in time]"])


def shard_doc_value(position: int, doc: int) -> int:
    """ES's ``_shard_doc``: the shard's position in the PIT in the high 32 bits, the document's
    number in its shard's reader in the low ones."""
    return (position << 32) | doc


__all__ = [
    "INDICES_OPTIONS_PARAMS",
    "LocalShardRef",
    "PitId",
    "PitReference",
    "RemotePart",
    "check_open",
    "check_search",
    "check_shard_doc_sort",
    "parse_pit",
    "shard_doc_value",
    "validation_error",
    "with_tiebreaker",
]
