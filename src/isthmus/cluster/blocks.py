"""Cluster and index blocks: which operation a block refuses, and ES's error for it.  [no I/O]

A block is derived from settings, never stored on its own: ``cluster.blocks.*`` (dynamic cluster
settings) and ``index.blocks.*`` (index settings; the disk monitor sets
``index.blocks.read_only_allow_delete``). Each block has ES's id, description, HTTP status and
the levels it refuses:

* ``WRITE``: indexing, deleting and updating documents (every item of ``_bulk``).
* ``METADATA_WRITE``: mappings, index settings, aliases, open/close. A settings request that
  changes exactly one block setting is let through, so an index can always be unblocked.
* Deleting an index is refused only by blocks that do not "allow release resources": the
  flood-stage block (``read_only_allow_delete``) lets the index be deleted to free disk.

Callers ask :func:`check` (or :func:`check_delete`) with the latest metadata; the answer is the
ready-to-raise :class:`ClusterBlockError` or ``None``. Every write path asks here, so the rules
live in this one room.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.errors import ClusterBlockError


class Level(Enum):
    READ = "read"
    WRITE = "write"
    METADATA_READ = "metadata_read"
    METADATA_WRITE = "metadata_write"


@dataclass(frozen=True, slots=True)
class Block:
    id: int
    description: str
    status: int
    levels: frozenset[Level]
    allow_release_resources: bool = False

    def render(self) -> str:
        """ES's ``[STATUS/id/description]`` form of a block."""
        return f"[{_STATUS_NAMES[self.status]}/{self.id}/{self.description}]"


_STATUS_NAMES = {403: "FORBIDDEN", 429: "TOO_MANY_REQUESTS"}
_WRITES = frozenset({Level.WRITE, Level.METADATA_WRITE})

# ES's IndexMetadata / Metadata block constants (ids, texts and statuses are ES's).
INDEX_READ_ONLY = Block(5, "index read-only (api)", 403, _WRITES)
INDEX_WRITE = Block(8, "index write (api)", 403, frozenset({Level.WRITE}))
INDEX_READ_ONLY_ALLOW_DELETE = Block(
    12,
    "disk usage exceeded flood-stage watermark, index has read-only-allow-delete block",
    429,
    _WRITES,
    allow_release_resources=True,
)
CLUSTER_READ_ONLY = Block(6, "cluster read-only (api)", 403, _WRITES)
CLUSTER_READ_ONLY_ALLOW_DELETE = Block(
    13, "cluster read-only / allow delete (api)", 403, _WRITES, allow_release_resources=True
)

READ_ONLY_ALLOW_DELETE = "index.blocks.read_only_allow_delete"
# Setting → block, in ES's order of ids (the order blocks are listed in a message).
INDEX_BLOCK_SETTINGS: tuple[tuple[str, Block], ...] = (
    ("index.blocks.read_only", INDEX_READ_ONLY),
    ("index.blocks.write", INDEX_WRITE),
    (READ_ONLY_ALLOW_DELETE, INDEX_READ_ONLY_ALLOW_DELETE),
)
CLUSTER_BLOCK_SETTINGS: tuple[tuple[str, Block], ...] = (
    ("cluster.blocks.read_only", CLUSTER_READ_ONLY),
    ("cluster.blocks.read_only_allow_delete", CLUSTER_READ_ONLY_ALLOW_DELETE),
)
# A settings update of exactly one of these is never refused by an index block.
UNBLOCKING_SETTINGS = frozenset(
    {
        "index.blocks.read_only",
        READ_ONLY_ALLOW_DELETE,
        "index.blocks.write",
        "index.blocks.metadata",
    }
)


def _on(value: object) -> bool:
    return value is True or str(value).lower() == "true"


def index_blocks(meta: IndexMetadata) -> list[Block]:
    return [block for key, block in INDEX_BLOCK_SETTINGS if _on(meta.settings.get(key))]


def global_blocks(state: ClusterMetadata) -> list[Block]:
    return [block for key, block in CLUSTER_BLOCK_SETTINGS if _on(state.setting(key))]


def _error(global_hits: list[Block], index_hits: Mapping[str, list[Block]]) -> ClusterBlockError:
    """ES's ClusterBlockException: its message lists every block; its status is the highest."""
    if global_hits:
        reason = "blocked by: " + "".join(f"{b.render()};" for b in global_hits)
        status = max(b.status for b in global_hits)
    else:
        reason = "".join(
            f"index [{name}] blocked by: " + "".join(f"{b.render()};" for b in blocks)
            for name, blocks in index_hits.items()
        )
        status = max(b.status for blocks in index_hits.values() for b in blocks)
    return ClusterBlockError(reason, status=status)


def check(
    state: ClusterMetadata, level: Level, indices: Iterable[IndexMetadata]
) -> ClusterBlockError | None:
    """The error for an operation of ``level`` on ``indices``, or None when nothing blocks it.

    Cluster-wide blocks are reported alone, as ES checks them first."""
    global_hits = [b for b in global_blocks(state) if level in b.levels]
    if global_hits:
        return _error(global_hits, {})
    hits: dict[str, list[Block]] = {}
    for meta in indices:
        blocks = [b for b in index_blocks(meta) if level in b.levels]
        if blocks:
            hits[meta.name] = blocks
    return _error([], hits) if hits else None


def check_delete(
    state: ClusterMetadata, indices: Iterable[IndexMetadata]
) -> ClusterBlockError | None:
    """Deleting indices: refused only by metadata-write blocks that keep resources."""
    global_hits = [
        b
        for b in global_blocks(state)
        if Level.METADATA_WRITE in b.levels and not b.allow_release_resources
    ]
    if global_hits:
        return _error(global_hits, {})
    hits: dict[str, list[Block]] = {}
    for meta in indices:
        blocks = [
            b
            for b in index_blocks(meta)
            if Level.METADATA_WRITE in b.levels and not b.allow_release_resources
        ]
        if blocks:
            hits[meta.name] = blocks
    return _error([], hits) if hits else None


def check_settings_update(
    state: ClusterMetadata, updates: Mapping[str, object], indices: Iterable[IndexMetadata]
) -> ClusterBlockError | None:
    """Index settings updates: a request changing exactly one block setting is let through
    (otherwise an index could never be unblocked); any other needs ``METADATA_WRITE``."""
    global_hits = [b for b in global_blocks(state) if Level.METADATA_WRITE in b.levels]
    if global_hits:
        return _error(global_hits, {})
    if len(updates) == 1 and next(iter(updates)) in UNBLOCKING_SETTINGS:
        return None
    return check(state, Level.METADATA_WRITE, indices)


def set_read_only_allow_delete(
    state: ClusterMetadata, names: Iterable[str], blocked: bool
) -> ClusterMetadata:
    """The metadata with ``index.blocks.read_only_allow_delete`` set (or removed) on ``names``;
    ``state`` itself when nothing changes."""
    indices = dict(state.indices)
    changed = False
    for name in names:
        meta = indices.get(name)
        if meta is None or _on(meta.settings.get(READ_ONLY_ALLOW_DELETE)) == blocked:
            continue
        settings = dict(meta.settings)
        if blocked:
            settings[READ_ONLY_ALLOW_DELETE] = "true"
        else:
            settings.pop(READ_ONLY_ALLOW_DELETE, None)
        indices[name] = replace(
            meta,
            settings=settings,
            version=meta.version + 1,
            settings_version=meta.settings_version + 1,
        )
        changed = True
    return replace(state, indices=indices) if changed else state
