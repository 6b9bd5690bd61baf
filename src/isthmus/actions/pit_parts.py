"""What every point-in-time operation works through, and the parts it reaches on other clusters.

A PIT is local reader contexts (:mod:`isthmus.actions.pit_contexts`) plus one part per other
cluster, which that cluster opened (``indices:data/read/open_reader_context``), searches
(``indices:data/read/search[phase/query/id]``) and frees
(``indices:data/read/search[free_context]``) when asked with the caller's identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.pit_contexts import MAX_OPEN_PIT_SETTING, PitStore
from isthmus.actions.search import SearchActions
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.search.ccs_merge import ClusterPart
from isthmus.search.ccs_wire import RemoteSearchResponse
from isthmus.search.pit_wire import (
    FreeReadersRequest,
    FreeReadersResponse,
    OpenReadersRequest,
    OpenReadersResponse,
    ReaderQueryRequest,
)
from isthmus.search.point_in_time import LocalShardRef
from isthmus.settings.values import parse_time
from isthmus.wire.names import FREE_CONTEXT_ACTION, OPEN_READER_CONTEXT_ACTION, READER_QUERY_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization


class PitParts:
    """The search and cross-cluster actions, the authorization and the context store every
    PIT operation uses; the settings it reads; each part opened, searched or freed."""

    def __init__(
        self,
        search: SearchActions,
        cross: CrossClusterActions,
        *,
        authz: IndexAuthorization | None = None,
        store: PitStore | None = None,
    ) -> None:
        self.search = search
        self.cross = cross
        self.authz = authz
        self.store = store or PitStore(search.clock)

    # --- settings -------------------------------------------------------------------------------

    @staticmethod
    def _keep_alive_ms(raw: str) -> int:
        """``keep_alive`` in milliseconds (``search.max_keep_alive`` is checked per shard, where
        ES's shards check it)."""
        return parse_time(raw, "keep_alive").millis

    def _skips(self, alias: str) -> bool:
        """The alias's ``skip_unavailable``: a failing cluster is left out instead of failing."""
        remote = self.cross.remote
        try:
            return remote is not None and remote.get(alias).skip_unavailable
        except IsthmusError:
            return False

    def _max_open(self) -> int:
        return int(self.search.cluster.state.typed_setting(MAX_OPEN_PIT_SETTING))

    async def _open_remote(
        self,
        alias: str,
        names: tuple[str, ...],
        params: dict[str, str],
        keep: str,
        index_filter: Mapping[str, Any] | None,
        subject: Subject | None,
    ) -> OpenReadersResponse:
        remote = self.cross.remote
        assert remote is not None
        channel = await remote.channel_for_request(alias)
        request = OpenReadersRequest(names, params, keep, index_filter, alias)
        answer = await channel.request(
            OPEN_READER_CONTEXT_ACTION,
            request.to_payload(),
            remote.headers(alias, subject, OPEN_READER_CONTEXT_ACTION),
            timeout=None,
        )
        return OpenReadersResponse.from_payload(answer, cluster=alias)

    async def _remote_part(
        self, part: ClusterPart, query: ReaderQueryRequest, subject: Subject | None
    ) -> None:
        remote = self.cross.remote
        try:
            if remote is None:
                raise IllegalArgumentError(f"no such remote cluster: [{part.key}]")
            channel = await remote.channel_for_request(part.key)
            answer = await channel.request(
                READER_QUERY_ACTION,
                query.to_payload(),
                remote.headers(part.key, subject, READER_QUERY_ACTION),
                timeout=None,
            )
            part.accept(RemoteSearchResponse.from_payload(answer, cluster=part.key))
        except IsthmusError as exc:
            part.fail(exc)

    def _free_local(
        self, refs: tuple[LocalShardRef, ...] | list[LocalShardRef], subject: Subject | None
    ) -> int:
        return sum(self.store.free(r.session, r.context_id, subject) for r in refs)

    async def _free_remote(self, alias: str, part_id: str, subject: Subject | None) -> int:
        """How many of the part's contexts the remote freed (0 when it cannot be reached, as
        ES counts a context it could not free)."""
        remote = self.cross.remote
        if remote is None:
            return 0
        try:
            channel = await remote.channel_for_request(alias)
            answer = await channel.request(
                FREE_CONTEXT_ACTION,
                FreeReadersRequest(part_id).to_payload(),
                remote.headers(alias, subject, FREE_CONTEXT_ACTION),
                timeout=None,
            )
            return FreeReadersResponse.from_payload(answer, cluster=alias).freed
        except IsthmusError:
            return 0
