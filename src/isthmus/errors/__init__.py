"""The one exception tree of Isthmus.

Every error a client can see is an :class:`IsthmusError`. Each class carries the Elasticsearch
``type`` string and the HTTP status, so turning an error into a REST body is a lookup
(:meth:`IsthmusError.to_body`). Foreign exceptions are translated once, at the edge that meets
them; nothing here matches message text to decide anything.

Every class that can reach a REST response or cross the transport lives in this package, one
module per group of meaning: ``base`` (:class:`IsthmusError`), ``requests`` (request shape),
``indices`` (indices, documents, templates), ``cluster`` (cluster, node, tasks, resources),
``security`` (with the keystore), ``transport`` (connections and remote clusters), ``search``
and ``shards`` (storage, shard history, replication). Every name is re-exported here: import
them as ``from isthmus.errors import X``; a new class goes in its group's module and in the
lists below (a unit test checks both).

An error that comes back from another node is rebuilt by :mod:`isthmus.wire.error_types`, a
static table of these classes: a new class that can cross the wire gets an entry there (a unit
test checks it). Errors that stay inside one module (a parser's control flow, a CLI's usage
message) stay with that module. This package imports nothing else of Isthmus, so every
layer may import it.
"""

from isthmus.errors.base import IsthmusError
from isthmus.errors.cluster import (
    CONFIGURATION_EXIT,
    CircuitBreakingError,
    InvalidValue,
    NodeStartupError,
    NotImplementedYet,
    ResourceNotFoundError,
    SettingsError,
    TaskCancelledError,
    TimeoutError_,
)
from isthmus.errors.indices import (
    AliasesNotFoundError,
    ClusterBlockError,
    DataStreamAlreadyExistsError,
    DocumentMissingError,
    DocumentParsingError,
    IndexClosedError,
    IndexNotFoundError,
    IndexTemplateMissingError,
    InvalidAliasNameError,
    InvalidIndexNameError,
    InvalidIndexTemplateError,
    MapperParsingError,
    ResourceAlreadyExistsError,
    RoutingMissingError,
    StrictDynamicMappingError,
    VersionConflictError,
)
from isthmus.errors.requests import (
    ActionRequestValidationError,
    ContentTooLargeError,
    DateMathParseError,
    ElasticsearchParseError,
    IllegalArgumentError,
    IllegalStateError,
    JsonParseError,
    MethodNotAllowedError,
    NumberFormatError,
    ParsingError,
    QueryParseError,
    UnsupportedMediaTypeError,
    XContentParseError,
)
from isthmus.errors.search import (
    QueryShardError,
    SearchContextError,
    SearchContextMissingError,
    SearchPhaseExecutionError,
    TooComplexToDeterminizeError,
    TooManyBucketsError,
    TooManyPitContextsError,
    TooManyScrollContextsError,
)
from isthmus.errors.security import (
    AUTH_CHALLENGE,
    AuthenticationError,
    KeystoreCorruptedError,
    KeystoreError,
    KeystoreFormatError,
    KeystoreNotFoundError,
    KeystorePasswordError,
    KeystoreSecurityError,
    SecurityError,
)
from isthmus.errors.shards import (
    MissingHistoryOperationsError,
    RetentionLeaseAlreadyExistsError,
    RetentionLeaseInvalidRetainingSeqNoError,
    RetentionLeaseNotFoundError,
    ShardNotFoundError,
    StatusError,
    StorageFullError,
    StorageIOError,
    TaskAlreadyExistsError,
)
from isthmus.errors.transport import (
    ActionNotFoundTransportError,
    AlreadyClosedError,
    ConnectQueueFullError,
    ConnectTransportError,
    HandshakeError,
    NodeDisconnectedError,
    NodeNotConnectedError,
    NoSeedNodeLeftError,
    NoSuchRemoteClusterError,
    OsConnectError,
    ReceiveTimeoutTransportError,
    RemoteClusterClientRoleError,
)

__all__ = [
    "AUTH_CHALLENGE",
    "CONFIGURATION_EXIT",
    "ActionNotFoundTransportError",
    "ActionRequestValidationError",
    "AliasesNotFoundError",
    "AlreadyClosedError",
    "AuthenticationError",
    "CircuitBreakingError",
    "ClusterBlockError",
    "ConnectQueueFullError",
    "ConnectTransportError",
    "ContentTooLargeError",
    "DataStreamAlreadyExistsError",
    "DateMathParseError",
    "DocumentMissingError",
    "DocumentParsingError",
    "ElasticsearchParseError",
    "HandshakeError",
    "IllegalArgumentError",
    "IllegalStateError",
    "IndexClosedError",
    "IndexNotFoundError",
    "IndexTemplateMissingError",
    "InvalidAliasNameError",
    "InvalidIndexNameError",
    "InvalidIndexTemplateError",
    "InvalidValue",
    "IsthmusError",
    "JsonParseError",
    "KeystoreCorruptedError",
    "KeystoreError",
    "KeystoreFormatError",
    "KeystoreNotFoundError",
    "KeystorePasswordError",
    "KeystoreSecurityError",
    "MapperParsingError",
    "MethodNotAllowedError",
    "MissingHistoryOperationsError",
    "NoSeedNodeLeftError",
    "NoSuchRemoteClusterError",
    "NodeDisconnectedError",
    "NodeNotConnectedError",
    "NodeStartupError",
    "NotImplementedYet",
    "NumberFormatError",
    "OsConnectError",
    "ParsingError",
    "QueryParseError",
    "QueryShardError",
    "ReceiveTimeoutTransportError",
    "RemoteClusterClientRoleError",
    "ResourceAlreadyExistsError",
    "ResourceNotFoundError",
    "RetentionLeaseAlreadyExistsError",
    "RetentionLeaseInvalidRetainingSeqNoError",
    "RetentionLeaseNotFoundError",
    "RoutingMissingError",
    "SearchContextError",
    "SearchContextMissingError",
    "SearchPhaseExecutionError",
    "SecurityError",
    "SettingsError",
    "ShardNotFoundError",
    "StatusError",
    "StorageFullError",
    "StorageIOError",
    "StrictDynamicMappingError",
    "TaskAlreadyExistsError",
    "TaskCancelledError",
    "TimeoutError_",
    "TooComplexToDeterminizeError",
    "TooManyBucketsError",
    "TooManyPitContextsError",
    "TooManyScrollContextsError",
    "UnsupportedMediaTypeError",
    "VersionConflictError",
    "XContentParseError",
]
