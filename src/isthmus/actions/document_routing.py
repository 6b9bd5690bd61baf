"""Where a document goes: the index a write or read names (auto-creating a write's, checking
blocks, aliases and followers), the shard its routing picks, and the latest mapping its
source is parsed against (publishing a dynamic mapping update first).
"""

from __future__ import annotations

from typing import Any

from isthmus.actions.document_items import IdGenerator, located
from isthmus.actions.indices import IndicesActions
from isthmus.actions.shard_replication import ShardWrites
from isthmus.cluster.blocks import Level
from isthmus.cluster.blocks import check as check_blocks
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.resolve import write_index
from isthmus.cluster.routing import ShardId, index_shard
from isthmus.cluster.service import ClusterService
from isthmus.cluster.shard_copies import LocalCopies, ShardCopies
from isthmus.errors import (
    DocumentParsingError,
    IllegalArgumentError,
    IndexNotFoundError,
    StatusError,
)
from isthmus.index.service import IndicesService, Shard
from isthmus.settings.ccr import FOLLOWING_INDEX


def require_alias_error(name: str) -> IndexNotFoundError:
    """ES's answer to a write with ``require_alias=true`` whose target is not an alias."""
    err = IndexNotFoundError(name)
    err.reason = (
        f"no such index [{name}] and [require_alias] request flag is [true] and [{name}] is "
        "not an alias"
    )
    err.args = (err.reason,)
    return err


class DocumentRouting:
    """The cluster, the shards and the index admin every document action works through."""

    def __init__(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        indices_actions: IndicesActions,
        copies: ShardCopies | None = None,
    ) -> None:
        """``copies``: where each shard's copies are (a cluster of one: every primary here)."""
        self.cluster = cluster
        self.indices = indices
        self.admin = indices_actions
        self.ids = IdGenerator()
        self.copies: ShardCopies = copies or LocalCopies(lambda: "")
        # A cluster of several nodes: the primary-backup write path (set by
        # :meth:`use_shard_writes` with the node's transport; None in a cluster of one).
        self.shard_writes: ShardWrites | None = None

    @property
    def distributed(self) -> bool:
        return self.shard_writes is not None and self.copies.distributed

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

    def _shard_id(self, meta: IndexMetadata, routing: str) -> ShardId:
        return ShardId(meta.uuid, index_shard(routing, meta.settings), meta.name)

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

    async def _parse(
        self, meta: IndexMetadata, source: dict[str, Any], doc_id: str, raw: bytes | None = None
    ) -> dict[str, list[Any]]:
        """Parse against the latest mapping, publishing a dynamic update first when needed."""
        current = self.cluster.state.indices.get(meta.name, meta)
        try:
            parsed = current.mapping.parse_document(source, doc_id)
        except DocumentParsingError as exc:
            raise located(exc, raw) from None
        if parsed.mapping_update is not None:
            update = parsed.mapping_update.to_json()
            await self.admin.update_mappings({meta.name: update})
            current = self.cluster.state.indices[meta.name]
            parsed = current.mapping.parse_document(source, doc_id)
        return parsed.values
