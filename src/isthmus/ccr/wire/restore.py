"""The payloads of a follower's bootstrap from a copy of its leader shard's store: the restore
session (put and clear) and the file chunks read from it.  [no I/O]

The package docstring (:mod:`isthmus.ccr.wire`) lists every action and its payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from isthmus.ccr.wire.fields import _int, _is_int, _map, _str
from isthmus.errors import IllegalArgumentError


@dataclass(frozen=True, slots=True)
class RestoreShard:
    """The leader shard a restore session copies (ES's ``ShardId``: name, uuid, number)."""

    index: str
    index_uuid: str
    shard: int

    def to_payload(self) -> dict[str, Any]:
        return {"index": self.index, "index_uuid": self.index_uuid, "shard": self.shard}

    @classmethod
    def from_payload(cls, body: dict[str, Any], what: str) -> RestoreShard:
        return cls(
            _str(body, "index", what),
            _str(body, "index_uuid", what),
            _int(body, "shard", what, low=0),
        )

    def __str__(self) -> str:
        return f"[{self.index}][{self.shard}]"


@dataclass(frozen=True, slots=True)
class RestoreSessionRequest:
    """Open (``session/put``) or close (``session/clear``) a restore session; the follower
    names the session (ES's follower picks the uuid)."""

    session_uuid: str
    shard: RestoreShard

    def to_payload(self) -> dict[str, Any]:
        return {"session_uuid": self.session_uuid, **self.shard.to_payload()}

    @classmethod
    def from_payload(cls, value: Any) -> RestoreSessionRequest:
        what = "restore session request"
        body = _map(value, what)
        session = _str(body, "session_uuid", what)
        if not session:
            raise IllegalArgumentError(f"{what} needs a [session_uuid]")
        return cls(session, RestoreShard.from_payload(body, what))


@dataclass(frozen=True, slots=True)
class StoreFile:
    name: str
    length: int
    checksum: str  # CRC32 of the whole file, hex (the follower checks what it received)

    def to_payload(self) -> list[Any]:
        return [self.name, self.length, self.checksum]


@dataclass(frozen=True, slots=True)
class RestoreSessionResponse:
    """An opened session: the node serving it, the store files to fetch, and the mapping
    version the copy was taken at (ES's ``PutCcrRestoreSessionResponse``)."""

    node_id: str
    files: tuple[StoreFile, ...]
    mapping_version: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "files": [f.to_payload() for f in self.files],
            "mapping_version": self.mapping_version,
        }

    @classmethod
    def from_payload(cls, value: Any) -> RestoreSessionResponse:
        what = "restore session response"
        body = _map(value, what)
        files = body.get("files")
        if not isinstance(files, list):
            raise IllegalArgumentError(f"{what} field [files] must be a list")
        out = []
        for entry in files:
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not isinstance(entry[0], str)
                or not _is_int(entry[1])
                or not isinstance(entry[2], str)
            ):
                raise IllegalArgumentError(f"{what} has a malformed file entry")
            out.append(StoreFile(entry[0], entry[1], entry[2]))
        return cls(_str(body, "node", what), tuple(out), _int(body, "mapping_version", what, low=0))


@dataclass(frozen=True, slots=True)
class FileChunkRequest:
    """The next ``size`` bytes of one file of a session (ES reads each file sequentially)."""

    session_uuid: str
    file_name: str
    size: int
    shard: RestoreShard

    def to_payload(self) -> dict[str, Any]:
        return {
            "session_uuid": self.session_uuid,
            "file_name": self.file_name,
            "size": self.size,
            **self.shard.to_payload(),
        }

    @classmethod
    def from_payload(cls, value: Any) -> FileChunkRequest:
        what = "file chunk request"
        body = _map(value, what)
        return cls(
            _str(body, "session_uuid", what),
            _str(body, "file_name", what),
            _int(body, "size", what, low=1),
            RestoreShard.from_payload(body, what),
        )


@dataclass(frozen=True, slots=True)
class FileChunkResponse:
    """``chunk`` read at ``offset`` of the file (ES's ``GetCcrRestoreFileChunkResponse``)."""

    offset: int
    chunk: bytes

    def to_payload(self) -> dict[str, Any]:
        return {"offset": self.offset, "chunk": self.chunk}

    @classmethod
    def from_payload(cls, value: Any) -> FileChunkResponse:
        body = _map(value, "file chunk response")
        chunk = body.get("chunk")
        if type(chunk) is not bytes:
            raise IllegalArgumentError("file chunk response field [chunk] must be bytes")
        return cls(_int(body, "offset", "file chunk response", low=0), chunk)
