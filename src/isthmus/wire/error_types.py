"""Which Isthmus class an error that crossed the wire becomes: a static table.  [no I/O]

A peer sends an error as its Elasticsearch ``type`` string, whether ES raises it as one of its
own exceptions (``is_es``), its status, reason and causes (see
:class:`~isthmus.wire.messages.WireError`). The receiving side rebuilds the class this table
names for that type, so ``except NoSeedNodeLeftError`` and the REST body behave the same for a
local and a remote failure. The table is written out, never discovered: the class a type becomes
does not depend on which modules happen to be imported. A type that is not here becomes a
:class:`~isthmus.wire.messages.RemoteError` that keeps the type string, so the REST body is the
same either way.

Rules:

- One class per (type, ``is_es``). When ES uses one type for several of our classes, the table
  names the one to rebuild (``illegal_argument_exception`` → :class:`IllegalArgumentError`, not
  :class:`SettingsError`); the others are in :data:`EXCLUDED` with the reason.
- Where the type and ``is_es`` leave a choice, the HTTP status makes it (:data:`BY_STATUS`: a
  ``security_exception`` with 401 is an authentication failure).
- A type listed only for the other ``is_es`` still rebuilds that class: the type decides.

A new class in :mod:`isthmus.errors` goes into :data:`CLASSES` or :data:`EXCLUDED`; a unit test
checks that every class is in one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from isthmus import errors as e

# Every class an error from another node may be rebuilt as, grouped as in isthmus.errors.
CLASSES: tuple[type[e.IsthmusError], ...] = (
    e.IsthmusError,  # "exception": ES's generic ElasticsearchException
    # request shape
    e.IllegalArgumentError,
    e.ParsingError,
    e.XContentParseError,
    e.JsonParseError,
    e.IllegalStateError,
    e.ElasticsearchParseError,
    e.QueryParseError,
    e.NumberFormatError,
    e.ActionRequestValidationError,
    e.ContentTooLargeError,
    e.UnsupportedMediaTypeError,
    e.MethodNotAllowedError,
    # search
    e.SearchPhaseExecutionError,
    e.QueryShardError,
    e.SearchContextMissingError,
    e.TooManyScrollContextsError,
    e.TooComplexToDeterminizeError,
    e.TooManyBucketsError,
    e.SearchContextError,
    # indices and documents
    e.IndexNotFoundError,
    e.ResourceAlreadyExistsError,
    e.InvalidIndexNameError,
    e.InvalidAliasNameError,
    e.AliasesNotFoundError,
    e.InvalidIndexTemplateError,
    e.IndexTemplateMissingError,
    e.IndexClosedError,
    e.MapperParsingError,
    e.DocumentParsingError,
    e.StrictDynamicMappingError,
    e.VersionConflictError,
    e.DocumentMissingError,
    e.RoutingMissingError,
    e.ClusterBlockError,
    # cluster and node
    e.ResourceNotFoundError,
    e.TimeoutError_,
    e.NotImplementedYet,  # ES's illegal_argument_exception, but raised as ES's own (is_es)
    # security
    e.SecurityError,
    e.KeystoreSecurityError,  # security_exception raised as a plain Java exception
    # transport and connections
    e.ConnectTransportError,
    e.NodeDisconnectedError,
    e.NodeNotConnectedError,
    e.OsConnectError,
    e.ReceiveTimeoutTransportError,
    e.ActionNotFoundTransportError,
    # remote clusters
    e.NoSeedNodeLeftError,
    e.NoSuchRemoteClusterError,
    e.ConnectQueueFullError,
    e.AlreadyClosedError,
    # tasks
    e.TaskCancelledError,
    # resources and storage
    e.CircuitBreakingError,
    e.StorageIOError,
    # shard history and retention leases
    e.ShardNotFoundError,
    e.NoShardAvailableActionError,
    e.UnavailableShardsError,
    e.NoLongerPrimaryShardError,
    e.MissingHistoryOperationsError,
    e.RetentionLeaseAlreadyExistsError,
    e.RetentionLeaseNotFoundError,
    e.RetentionLeaseInvalidRetainingSeqNoError,
    # cross-cluster replication (follower side)
    e.StatusError,
    # cluster coordination (multi-node clusters)
    e.CoordinationUnavailableError,
    e.NotMasterError,
    e.FailedToCommitClusterStateError,
)

BY_TYPE: Mapping[tuple[str, bool], type[e.IsthmusError]] = MappingProxyType(
    {(cls.es_type, cls.is_es): cls for cls in CLASSES}
)

# (type, is_es, status) → class, where the status tells classes of one type apart.
BY_STATUS: Mapping[tuple[str, bool, int], type[e.IsthmusError]] = MappingProxyType(
    {("security_exception", True, 401): e.AuthenticationError}
)

# Classes a remote error is never rebuilt as, and why: each shares its type with a class above.
EXCLUDED: Mapping[type[e.IsthmusError], str] = MappingProxyType(
    {
        e.SettingsError: "an illegal_argument_exception; comes back as IllegalArgumentError",
        e.TooManyPitContextsError: (
            "an es_rejected_execution_exception; comes back as ConnectQueueFullError"
        ),
        e.InvalidValue: "an illegal_argument_exception; comes back as IllegalArgumentError",
        e.RemoteClusterClientRoleError: (
            "an illegal_argument_exception; comes back as IllegalArgumentError"
        ),
        e.DateMathParseError: "a parse_exception; comes back as ElasticsearchParseError",
        e.HandshakeError: "an illegal_state_exception; comes back as IllegalStateError",
        e.KeystoreError: "an illegal_state_exception; comes back as IllegalStateError",
        e.KeystoreNotFoundError: "an illegal_state_exception; comes back as IllegalStateError",
        e.KeystoreFormatError: "an illegal_state_exception; comes back as IllegalStateError",
        e.KeystorePasswordError: "a plain security_exception; comes back as KeystoreSecurityError",
        e.KeystoreCorruptedError: "a plain security_exception; comes back as KeystoreSecurityError",
        e.StorageFullError: "an i_o_exception; comes back as StorageIOError",
        e.TaskAlreadyExistsError: (
            "a resource_already_exists_exception; comes back as ResourceAlreadyExistsError"
        ),
        e.DataStreamAlreadyExistsError: (
            "a resource_already_exists_exception; comes back as ResourceAlreadyExistsError"
        ),
        e.CoordinationError: "an exception; comes back as IsthmusError",
        e.WatchCompactedError: "an exception; comes back as IsthmusError",
    }
)


def class_for(es_type: str, status: int, is_es: bool) -> type[e.IsthmusError] | None:
    """The class an error of ``es_type`` is rebuilt as, or None for a type Isthmus lacks."""
    return (
        BY_STATUS.get((es_type, is_es, status))
        or BY_TYPE.get((es_type, is_es))
        or BY_TYPE.get((es_type, not is_es))
    )
