"""What stops a new index from being added to the metadata.  [no I/O]

ES's ``MetadataCreateIndexService`` checks, against the latest metadata, in this order: a
metadata-write block of the cluster (no index block exists yet for an index that does not),
an index of that name (``resource_already_exists_exception``), an alias of that name
(``invalid_index_name_exception ... already exists as alias``), then, for each alias the new
index comes with, an index of the alias's name (``invalid_alias_name_exception``).

Every path that adds an index runs :func:`check_new_index` inside its metadata change (create
index, auto-create, ``PUT _ccr/follow``), so the rules live in this one room.
"""

from __future__ import annotations

from collections.abc import Iterable

from isthmus.cluster import blocks
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.errors import InvalidAliasNameError, InvalidIndexNameError, ResourceAlreadyExistsError


def check_new_index(state: ClusterMetadata, name: str, aliases: Iterable[str] = ()) -> None:
    """Raise ES's error when index ``name`` (with ``aliases``) cannot be added to ``state``."""
    blocked = blocks.check(state, blocks.Level.METADATA_WRITE, [])
    if blocked is not None:
        raise blocked
    existing = state.indices.get(name)
    if existing is not None:
        raise ResourceAlreadyExistsError(name, existing.uuid)
    if name in state.aliases():
        raise InvalidIndexNameError(name, "already exists as alias")
    for alias in aliases:
        if alias in state.indices:
            raise InvalidAliasNameError(
                f"Invalid alias name [{alias}]: an index or data stream exists with the "
                "same name as the alias"
            )
