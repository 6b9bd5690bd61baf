"""The payloads of a point in time across clusters, typed.  [no I/O]

What a coordinating cluster asks of another for a PIT that names its indices (ES's action names,
each carried for the whole of that cluster's part rather than shard by shard):

* ``indices:data/read/open_reader_context``: :class:`OpenReadersRequest` out (the cluster's index
  names, indices options, routing, keep-alive, index filter), :class:`OpenReadersResponse` back
  (the id of the contexts it opened, its shard counts);
* ``indices:data/read/search[phase/query/id]``: :class:`ReaderQueryRequest` out (that id, the
  search body, the keep-alive, where its shards' positions start), a
  :class:`~isthmus.search.ccs_wire.RemoteSearchResponse` back;
* ``indices:data/read/search[free_context]``: :class:`FreeReadersRequest` out,
  :class:`FreeReadersResponse` back (how many of its contexts it freed, of how many).

Every field is validated when read back: a malformed payload is ES's ``illegal_argument_exception``
naming what is wrong, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import IllegalArgumentError


def _map(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IllegalArgumentError(f"{what} payload must be a map")
    return value


def _str(value: Any, what: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise IllegalArgumentError(f"{what} needs a string [{field}]")
    return value


def _int(value: Any, what: str, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise IllegalArgumentError(f"{what} needs a non-negative integer [{field}]")
    return value


def _params(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IllegalArgumentError(f"{what} [params] must be a map")
    return {str(k): str(v) for k, v in value.items()}


def _optional_str(value: Any, what: str, field: str) -> str | None:
    return None if value is None else _str(value, what, field)


@dataclass(frozen=True)
class OpenReadersRequest:
    indices: tuple[str, ...]
    params: Mapping[str, str]  # indices options, routing, preference
    keep_alive: str
    index_filter: Mapping[str, Any] | None = None
    cluster_alias: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "indices": list(self.indices),
            "params": dict(self.params),
            "keep_alive": self.keep_alive,
            "index_filter": self.index_filter,
            "cluster_alias": self.cluster_alias,
        }

    @classmethod
    def from_payload(cls, value: Any) -> OpenReadersRequest:
        what = "open reader context request"
        doc = _map(value, what)
        names = doc.get("indices")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise IllegalArgumentError(f"{what} needs a list of [indices]")
        index_filter = doc.get("index_filter")
        if index_filter is not None and not isinstance(index_filter, dict):
            raise IllegalArgumentError(f"{what} [index_filter] must be a map")
        return cls(
            tuple(names),
            _params(doc.get("params"), what),
            _str(doc.get("keep_alive"), what, "keep_alive"),
            index_filter,
            _optional_str(doc.get("cluster_alias"), what, "cluster_alias"),
        )


@dataclass(frozen=True)
class OpenReadersResponse:
    """The id of the contexts a cluster opened (its own PIT id, local shards only) and its
    shard counts."""

    id: str
    total: int
    successful: int
    skipped: int
    failed: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "total": self.total,
            "successful": self.successful,
            "skipped": self.skipped,
            "failed": self.failed,
        }

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> OpenReadersResponse:
        what = f"open reader context answer from remote cluster [{cluster}]"
        doc = _map(value, what)
        return cls(
            _str(doc.get("id"), what, "id"),
            _int(doc.get("total"), what, "total"),
            _int(doc.get("successful"), what, "successful"),
            _int(doc.get("skipped"), what, "skipped"),
            _int(doc.get("failed"), what, "failed"),
        )


@dataclass(frozen=True)
class ReaderQueryRequest:
    """A search of one cluster's PIT part: its id, the body (from 0, ``from + size`` deep, the
    ``pit`` section removed), the keep-alive to renew with, where its shards' positions start
    and the alias the coordinator knows it by."""

    id: str
    body: Mapping[str, Any]
    params: Mapping[str, str]
    first_position: int
    keep_alive: str | None = None
    cluster_alias: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "body": dict(self.body),
            "params": dict(self.params),
            "first_position": self.first_position,
            "keep_alive": self.keep_alive,
            "cluster_alias": self.cluster_alias,
        }

    @classmethod
    def from_payload(cls, value: Any) -> ReaderQueryRequest:
        what = "reader query request"
        doc = _map(value, what)
        body = doc.get("body")
        if not isinstance(body, dict):
            raise IllegalArgumentError(f"{what} [body] must be a map")
        return cls(
            _str(doc.get("id"), what, "id"),
            body,
            _params(doc.get("params"), what),
            _int(doc.get("first_position"), what, "first_position"),
            _optional_str(doc.get("keep_alive"), what, "keep_alive"),
            _optional_str(doc.get("cluster_alias"), what, "cluster_alias"),
        )


@dataclass(frozen=True)
class FreeReadersRequest:
    id: str

    def to_payload(self) -> dict[str, Any]:
        return {"id": self.id}

    @classmethod
    def from_payload(cls, value: Any) -> FreeReadersRequest:
        what = "free context request"
        return cls(_str(_map(value, what).get("id"), what, "id"))


@dataclass(frozen=True)
class FreeReadersResponse:
    freed: int

    def to_payload(self) -> dict[str, Any]:
        return {"freed": self.freed}

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> FreeReadersResponse:
        what = f"free context answer from remote cluster [{cluster}]"
        return cls(_int(_map(value, what).get("freed"), what, "freed"))


__all__ = [
    "FreeReadersRequest",
    "FreeReadersResponse",
    "OpenReadersRequest",
    "OpenReadersResponse",
    "ReaderQueryRequest",
]
