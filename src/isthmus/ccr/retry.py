"""Which follow-task failures are retried, and after how long.  [no I/O]

ES's ``ShardFollowNodeTask``: a failure the network or a passing state explains (the remote
cannot be reached, a shard or index is not available for a moment, a node is overloaded, the
user's privileges are being changed) is retried after a jittered exponential back-off; anything
else (the leader index is gone, the leader's history uuid changed, the operations the follower
needs were trimmed) is fatal: the task stops and shows it as ``fatal_exception`` until
``resume_follow``.

The delay of retry ``n`` is ``k * 50 ms`` with ``k`` drawn uniformly from ``0 .. 2^(n-1)``
(``n`` capped at 24), then capped. ES's code caps it by ``read_poll_timeout``; its documentation
describes ``max_retry_delay`` as that cap, and Isthmus follows the documentation (a follower whose
leader came back resumes within ``max_retry_delay``, 500 ms by default, not within a minute).
Decisions are by exception type, never by message text.
"""

from __future__ import annotations

import random

from isthmus import errors as e

DELAY_MILLIS = 50
MAX_RETRY_EXPONENT = 24

_RETRYABLE: tuple[type[e.IsthmusError], ...] = (
    e.ConnectTransportError,  # connect, disconnect, node not connected
    e.OsConnectError,
    e.NoSeedNodeLeftError,
    e.ReceiveTimeoutTransportError,
    e.NoSuchRemoteClusterError,  # the alias is being reconfigured
    e.AlreadyClosedError,
    e.ConnectQueueFullError,  # es_rejected_execution_exception
    e.CircuitBreakingError,
    e.IndexClosedError,
    e.ClusterBlockError,
    e.SecurityError,  # ES retries while privileges are being fixed
    e.TaskCancelledError,  # the leader node is shutting down
    e.StorageIOError,  # the follower's disk: retried until it has room again
    e.ShardNotFoundError,
)
# ES type strings of retryable errors that come back from a leader as types Isthmus has no
# class for (ES's ShardNotFoundException, IllegalIndexShardStateException, ...).
_RETRYABLE_TYPES = frozenset(
    {
        "illegal_index_shard_state_exception",
        "no_shard_available_action_exception",
        "unavailable_shards_exception",
        "node_closed_exception",
        "es_rejected_execution_exception",
        "connect_transport_exception",
        "node_not_connected_exception",
        "node_disconnected_exception",
        "receive_timeout_transport_exception",
    }
)


def should_retry(exc: BaseException) -> bool:
    """ES's ``shouldRetry``: connection trouble and transient shard/index states."""
    if isinstance(exc, _RETRYABLE):
        return True
    if isinstance(exc, e.IsthmusError):
        return exc.es_type in _RETRYABLE_TYPES
    return isinstance(exc, ConnectionError | TimeoutError)


def retry_delay_ms(retry: int, max_delay_ms: int, rng: random.Random) -> int:
    """The jittered back-off before retry number ``retry`` (1 for the first)."""
    exponent = min(max(retry, 1), MAX_RETRY_EXPONENT)
    k = rng.randint(0, 2 ** (exponent - 1))
    return min(k * DELAY_MILLIS, max_delay_ms)
