"""What a follower asks of its leader cluster, over the remote cluster connection.

One :class:`LeaderClient` per follower index: the remote alias, the user the follow runs as
(their identity, or the cross-cluster credentials and their ``remote_indices`` in the API-key
model, is added to every request by the alias's security model), and the typed requests of
:mod:`isthmus.ccr.wire`. A follow task asks with ``policy="fail"``: when the remote is not
connected the request fails at once (a retryable error; the connection is re-established in
the background) instead of holding the task in a connect wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from isthmus.ccr.follow_privileges import IndexPrivilegesRequest, IndexPrivilegesResponse
from isthmus.ccr.wire import (
    FileChunkRequest,
    FileChunkResponse,
    LeaderIndexMetadataRequest,
    LeaderIndexMetadataResponse,
    LeaderIndexSummary,
    LeaderIndicesRequest,
    LeaderIndicesResponse,
    RestoreSessionRequest,
    RestoreSessionResponse,
    RetentionLeaseRequest,
    ShardChangesRequest,
    ShardChangesResponse,
)
from isthmus.remote.security_model import SecurityModel
from isthmus.wire.names import (
    ADD_RETENTION_LEASE_ACTION,
    CLUSTER_STATE_ACTION,
    HAS_PRIVILEGES_ACTION,
    INTERNAL_RESTORE_FILE_CHUNK_ACTION,
    INTERNAL_RESTORE_SESSION_CLEAR_ACTION,
    INTERNAL_RESTORE_SESSION_PUT_ACTION,
    REMOVE_RETENTION_LEASE_ACTION,
    RENEW_RETENTION_LEASE_ACTION,
    RESTORE_FILE_CHUNK_ACTION,
    RESTORE_SESSION_CLEAR_ACTION,
    RESTORE_SESSION_PUT_ACTION,
    SHARD_CHANGES_ACTION,
)

if TYPE_CHECKING:
    from isthmus.remote.service import DisconnectedPolicy, RemoteClusterService
    from isthmus.security.authz import Subject

# A shard_changes request may wait read_poll_timeout at the leader: the transport's own timer
# allows that plus this margin.
_POLL_MARGIN_S = 30.0
_REQUEST_TIMEOUT_S = 30.0


class LeaderApi(Protocol):
    """What a follow task asks of a leader (tests give it a leader shard in memory)."""

    async def index_metadata(self, index: str) -> LeaderIndexMetadataResponse: ...
    async def shard_changes(self, request: ShardChangesRequest) -> ShardChangesResponse: ...
    async def add_lease(self, request: RetentionLeaseRequest) -> None: ...
    async def renew_lease(self, request: RetentionLeaseRequest) -> None: ...


@dataclass
class LeaderClient:
    remote: RemoteClusterService
    alias: str
    subject: Subject | None
    policy: DisconnectedPolicy = "fail"

    async def _request(self, action: str, payload: Any, timeout: float) -> Any:
        channel = await self.remote.channel_for_request(self.alias, self.policy)
        headers = self.remote.headers(self.alias, self.subject, action)
        return await channel.request(action, payload, headers, timeout=timeout)

    async def index_metadata(self, index: str) -> LeaderIndexMetadataResponse:
        answer = await self._request(
            CLUSTER_STATE_ACTION, LeaderIndexMetadataRequest(index).to_payload(), _REQUEST_TIMEOUT_S
        )
        return LeaderIndexMetadataResponse.from_payload(answer)

    async def list_indices(self, patterns: tuple[str, ...]) -> tuple[LeaderIndexSummary, ...]:
        """The leader's concrete indices matching ``patterns`` (auto-follow's view)."""
        answer = await self._request(
            CLUSTER_STATE_ACTION, LeaderIndicesRequest(patterns).to_payload(), _REQUEST_TIMEOUT_S
        )
        return LeaderIndicesResponse.from_payload(answer).indices

    async def has_privileges(self, request: IndexPrivilegesRequest) -> IndexPrivilegesResponse:
        answer = await self._request(
            HAS_PRIVILEGES_ACTION, request.to_payload(), _REQUEST_TIMEOUT_S
        )
        return IndexPrivilegesResponse.from_payload(answer)

    async def shard_changes(self, request: ShardChangesRequest) -> ShardChangesResponse:
        timeout = request.poll_timeout_ms / 1000 + _POLL_MARGIN_S
        answer = await self._request(SHARD_CHANGES_ACTION, request.to_payload(), timeout)
        return ShardChangesResponse.from_payload(answer)

    # Retention leases: ES manages them "under the system context so that if security is
    # enabled the renewal is authorized" (a follow task outlives the user's request).

    async def add_lease(self, request: RetentionLeaseRequest) -> None:
        await self._system(ADD_RETENTION_LEASE_ACTION, request.to_payload())

    async def renew_lease(self, request: RetentionLeaseRequest) -> None:
        await self._system(RENEW_RETENTION_LEASE_ACTION, request.to_payload())

    async def remove_lease(self, request: RetentionLeaseRequest) -> None:
        await self._system(REMOVE_RETENTION_LEASE_ACTION, request.to_payload())

    # Restore sessions (a new follower's copy of the leader's store): ES runs them as the
    # system. In the API-key model they go by their indices:internal/... names, within the key's
    # replication access; in the certificate model by ES's internal:admin/ccr/restore/... names,
    # which the system identity may run (ES's interceptor renames them for the API-key model).

    def _restore_action(self, api_key_name: str, internal_name: str) -> str:
        api_key = self.remote.get(self.alias).model is SecurityModel.API_KEY
        return api_key_name if api_key else internal_name

    async def _system(self, action: str, payload: Any) -> Any:
        channel = await self.remote.channel_for_request(self.alias, self.policy)
        headers = self.remote.headers(self.alias, None, action)
        return await channel.request(action, payload, headers, timeout=_REQUEST_TIMEOUT_S)

    async def put_restore_session(self, request: RestoreSessionRequest) -> RestoreSessionResponse:
        action = self._restore_action(
            RESTORE_SESSION_PUT_ACTION, INTERNAL_RESTORE_SESSION_PUT_ACTION
        )
        answer = await self._system(action, request.to_payload())
        return RestoreSessionResponse.from_payload(answer)

    async def file_chunk(self, request: FileChunkRequest) -> FileChunkResponse:
        action = self._restore_action(RESTORE_FILE_CHUNK_ACTION, INTERNAL_RESTORE_FILE_CHUNK_ACTION)
        answer = await self._system(action, request.to_payload())
        return FileChunkResponse.from_payload(answer)

    async def clear_restore_session(self, request: RestoreSessionRequest) -> None:
        action = self._restore_action(
            RESTORE_SESSION_CLEAR_ACTION, INTERNAL_RESTORE_SESSION_CLEAR_ACTION
        )
        await self._system(action, request.to_payload())
