"""The one exception tree of Isthmus.

Every error a client can see is an :class:`IsthmusError`. Each class carries the Elasticsearch
``type`` string and the HTTP status, so turning an error into a REST body is a lookup
(:meth:`IsthmusError.to_body`). Foreign exceptions are translated once, at the edge that meets
them; nothing here matches message text to decide anything.

Every class that can reach a REST response or cross the transport lives here, grouped by
meaning (request shape, indices and documents, cluster and node, security and the keystore,
transport and connections, remote clusters, tasks, resources, search, storage). An error that
comes back from another node is rebuilt by :mod:`isthmus.wire.error_types`, a static table of
these classes: a new class that can cross the wire gets an entry there (a unit test checks it).
Errors that stay inside one module (a parser's control flow, a CLI's usage message) stay with
that module. This module imports nothing of Isthmus, so every layer may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class IsthmusError(Exception):
    """Base class: an error with an Elasticsearch type, a reason and an HTTP status."""

    es_type: ClassVar[str] = "exception"
    status: ClassVar[int] = 500
    # False for what ES raises as plain Java exceptions (IllegalArgumentException, Jackson's
    # parse errors): ES never reports those as a root cause beneath one of its own.
    is_es: ClassVar[bool] = True
    # The Java class ES would name in a log line; derived from ``es_type`` unless set.
    java_class: ClassVar[str | None] = None
    # "[node][address][action]" when this error came back from another node over the transport
    # (ES wraps it in a RemoteTransportException there; REST bodies show the cause unwrapped).
    remote_origin: str | None = None

    def __init__(
        self,
        reason: str,
        *,
        caused_by: IsthmusError | None = None,
        extra: Mapping[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.caused_by = caused_by
        self.extra: dict[str, Any] = dict(extra or {})
        self._status = status
        # Response headers this error calls for; a list value is sent as repeated headers.
        self.headers: dict[str, str | list[str]] = {}

    @property
    def http_status(self) -> int:
        return self._status if self._status is not None else self.status

    def to_cause(self) -> dict[str, Any]:
        """The error as one element of ES's ``root_cause``/``caused_by`` chain."""
        body: dict[str, Any] = {"type": self.es_type, "reason": self.reason}
        body.update(self.extra)
        if self.caused_by is not None:
            body["caused_by"] = self.caused_by.to_cause()
        return body

    def root_cause(self) -> IsthmusError:
        err: IsthmusError = self
        while err.caused_by is not None and err.caused_by.is_es:
            err = err.caused_by
        return err

    def to_body(self) -> dict[str, Any]:
        """The full REST error body: ``{"error": {...}, "status": N}``."""
        root = self.root_cause()
        root_body = {"type": root.es_type, "reason": root.reason, **root.extra}
        error = {"root_cause": [root_body], **self.to_cause()}
        return {"error": error, "status": self.http_status}

    def java_name(self) -> str:
        if self.java_class is not None:
            return self.java_class
        camel = "".join(part.capitalize() for part in self.es_type.split("_"))
        package = "org.elasticsearch" if self.is_es else "java.lang"
        if camel == "Exception":
            camel = "ElasticsearchException"
        return f"{package}.{camel}"

    def log_lines(self) -> str:
        """The error as ES prints it under a log line: the class, its reason, then each cause."""
        lines: list[str] = []
        err: IsthmusError | None = self
        prefix = ""
        if self.remote_origin is not None:
            lines.append(
                f"org.elasticsearch.transport.RemoteTransportException: {self.remote_origin}"
            )
            prefix = "Caused by: "
        while err is not None:
            lines.append(f"{prefix}{err.java_name()}: {err.reason}")
            prefix = "Caused by: "
            err = err.caused_by
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.es_type!r}, status={self.http_status}, reason={self.reason!r})"


# --- request shape ------------------------------------------------------------------------------


class IllegalArgumentError(IsthmusError):
    es_type = "illegal_argument_exception"
    status = 400
    is_es = False


class ParsingError(IsthmusError):
    es_type = "parsing_exception"
    status = 400
    java_class = "org.elasticsearch.common.ParsingException"

    def __init__(self, reason: str, *, line: int | None = None, col: int | None = None) -> None:
        extra = {"line": line, "col": col} if line is not None else None
        super().__init__(reason, extra=extra)


class DateMathParseError(ParsingError):
    """Elasticsearch's ``parse_exception``: a date or date-math expression that cannot be read.

    It is a :class:`ParsingError` (so callers may catch either) but reports the ``type`` ES sends
    for these failures, which is ``parse_exception`` rather than ``parsing_exception``.
    """

    es_type = "parse_exception"


class XContentParseError(IsthmusError):
    es_type = "x_content_parse_exception"
    status = 400


class JsonParseError(IsthmusError):
    es_type = "json_parse_exception"
    status = 400
    is_es = False


class IllegalStateError(IsthmusError):
    """Java's ``IllegalStateException``: something is in a state that cannot serve the request
    (a peer that answers the wrong way, a node list with no usable node)."""

    es_type = "illegal_state_exception"
    status = 500
    is_es = False


class ElasticsearchParseError(IsthmusError):
    """ES's ``ElasticsearchParseException``: a request body of the wrong shape."""

    es_type = "parse_exception"
    status = 400
    java_class = "org.elasticsearch.ElasticsearchParseException"


class QueryParseError(IsthmusError):
    """ES's ``parse_exception``: query text that is not valid Lucene syntax."""

    es_type = "parse_exception"
    status = 400
    is_es = False  # Lucene's ParseException: never a root cause beneath ES's own exception


class NumberFormatError(IsthmusError):
    """Java's ``NumberFormatException``: only ever the ``caused_by`` of an ES parse error."""

    es_type = "number_format_exception"
    status = 400
    is_es = False


class ActionRequestValidationError(IsthmusError):
    es_type = "action_request_validation_exception"
    status = 400


class ContentTooLargeError(IsthmusError):
    es_type = "content_too_long_exception"
    status = 413


class UnsupportedMediaTypeError(IsthmusError):
    es_type = "media_type_header_exception"
    status = 406


class MethodNotAllowedError(IsthmusError):
    """ES answers an existing path with a wrong method with a bare error string; see http.app."""

    es_type = "method_not_allowed"
    status = 405


# --- indices and documents ----------------------------------------------------------------------


class IndexNotFoundError(IsthmusError):
    es_type = "index_not_found_exception"
    status = 404

    def __init__(self, index: str) -> None:
        super().__init__(
            f"no such index [{index}]",
            extra={
                "resource.type": "index_or_alias",
                "resource.id": index,
                "index_uuid": "_na_",
                "index": index,
            },
        )


class ResourceAlreadyExistsError(IsthmusError):
    es_type = "resource_already_exists_exception"
    status = 400

    def __init__(self, index: str, uuid: str) -> None:
        super().__init__(
            f"index [{index}/{uuid}] already exists",
            extra={"index_uuid": uuid, "index": index},
        )


class InvalidIndexNameError(IsthmusError):
    es_type = "invalid_index_name_exception"
    status = 400

    def __init__(self, index: str, why: str) -> None:
        super().__init__(
            f"Invalid index name [{index}], {why}",
            extra={"index_uuid": "_na_", "index": index},
        )


class InvalidAliasNameError(IsthmusError):
    es_type = "invalid_alias_name_exception"
    status = 400


class AliasesNotFoundError(IsthmusError):
    es_type = "aliases_not_found_exception"
    status = 404


class IndexClosedError(IsthmusError):
    es_type = "index_closed_exception"
    status = 400

    def __init__(self, index: str, uuid: str) -> None:
        super().__init__("closed", extra={"index_uuid": uuid, "index": index})


class MapperParsingError(IsthmusError):
    es_type = "mapper_parsing_exception"
    status = 400


class DocumentParsingError(MapperParsingError):
    """A document that does not fit its mapping (ES 8.8+ reports these as their own type)."""

    es_type = "document_parsing_exception"
    status = 400
    field: str | None = None  # the field that failed, so the caller can say where it stands


class StrictDynamicMappingError(IsthmusError):
    es_type = "strict_dynamic_mapping_exception"
    status = 400


class VersionConflictError(IsthmusError):
    es_type = "version_conflict_engine_exception"
    status = 409


class DocumentMissingError(IsthmusError):
    es_type = "document_missing_exception"
    status = 404


class ClusterBlockError(IsthmusError):
    es_type = "cluster_block_exception"
    status = 403


# --- cluster and node ---------------------------------------------------------------------------


class SettingsError(IllegalArgumentError):
    """A setting that is unknown, malformed or not allowed where it was given."""


class InvalidValue(SettingsError, ValueError):
    """A value that does not parse. ``str()`` keeps ES's ``{key}`` placeholder (the settings
    registry replaces it with the setting's name); ``reason`` — what a REST client sees — is
    complete either way."""

    def __init__(self, template: str, key: str | None = None) -> None:
        if key is not None:
            reason = template.replace("{key}", key)
        else:
            reason = template.replace("setting [{key}] with ", "").replace(" [{key}]", "")
        super().__init__(reason)
        self.args = (template if key is None else reason,)


# ES's exit code for a configuration error (a bad setting, TLS file or keystore, a failed
# bootstrap check); anything else that stops a start exits 1.
CONFIGURATION_EXIT = 78


class NodeStartupError(Exception):
    """The node cannot start; the message is one line for the operator (stderr and the log),
    never sent to a client. ``exit_code`` is the process's: 78 for configuration errors."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def configuration(cls, message: str) -> NodeStartupError:
        return cls(message, exit_code=CONFIGURATION_EXIT)


class ResourceNotFoundError(IsthmusError):
    es_type = "resource_not_found_exception"
    status = 404


class TimeoutError_(IsthmusError):
    es_type = "timeout_exception"
    status = 408


class NotImplementedYet(IsthmusError):
    """An Elasticsearch feature Isthmus does not implement; said plainly, never faked."""

    es_type = "illegal_argument_exception"
    status = 400


# --- security -----------------------------------------------------------------------------------


class SecurityError(IsthmusError):
    """ES's ``security_exception``: 403 for authorization, 401 (with a challenge) for authn."""

    es_type = "security_exception"
    status = 403
    java_class = "org.elasticsearch.ElasticsearchSecurityException"


# ES sends one WWW-Authenticate header per scheme it accepts.
AUTH_CHALLENGE = ['Basic realm="security", charset="UTF-8"', "ApiKey"]


class AuthenticationError(SecurityError):
    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason, extra={"header": {"WWW-Authenticate": list(AUTH_CHALLENGE)}})
        self.headers = {"WWW-Authenticate": AUTH_CHALLENGE}


# --- keystore (ES raises these as plain Java exceptions) -----------------------------------------


class KeystoreError(IsthmusError):
    """The keystore cannot be used."""

    es_type = "illegal_state_exception"
    status = 500
    is_es = False


class KeystoreNotFoundError(KeystoreError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"Isthmus keystore not found at [{path}]. Use 'create' command to create one."
        )
        self.path = path


class KeystoreFormatError(KeystoreError):
    """A keystore written by a newer or older Isthmus."""


class KeystoreSecurityError(KeystoreError):
    es_type = "security_exception"


class KeystorePasswordError(KeystoreSecurityError):
    def __init__(self) -> None:
        super().__init__("Provided keystore password was incorrect")


class KeystoreCorruptedError(KeystoreSecurityError):
    def __init__(self) -> None:
        super().__init__("Keystore has been corrupted or tampered with")


# --- transport and connections ------------------------------------------------------------------
# ES models the connection failures as ConnectTransportException subclasses (plus the receive
# timeout); remote-cluster code decides retries by these types, never by message text.


class ConnectTransportError(IsthmusError):
    """A connection could not be opened or handshaken: ``[node][host:port] reason``."""

    es_type = "connect_transport_exception"
    status = 500
    java_class = "org.elasticsearch.transport.ConnectTransportException"


class NodeDisconnectedError(ConnectTransportError):
    """An open channel ended (closed locally or broken) while a request awaited its answer."""

    es_type = "node_disconnected_exception"
    java_class = "org.elasticsearch.transport.NodeDisconnectedException"


class NodeNotConnectedError(ConnectTransportError):
    """A request was attempted on a channel that is no longer open."""

    es_type = "node_not_connected_exception"
    java_class = "org.elasticsearch.transport.NodeNotConnectedException"


class OsConnectError(IsthmusError):
    """The operating system's reason a connect failed (Java's ``ConnectException``), kept as the
    cause of a :class:`ConnectTransportError`."""

    es_type = "connect_exception"
    is_es = False
    java_class = "java.net.ConnectException"


class HandshakeError(IllegalStateError):
    """The peer answered the handshake but cannot be used (ES raises IllegalStateException)."""


class ReceiveTimeoutTransportError(IsthmusError):
    """A request got no answer within its timeout; the channel itself stays open."""

    es_type = "receive_timeout_transport_exception"
    status = 500
    java_class = "org.elasticsearch.transport.ReceiveTimeoutTransportException"


class ActionNotFoundTransportError(IsthmusError):
    """The receiving node has no handler registered for the requested action."""

    es_type = "action_not_found_transport_exception"
    status = 500

    def __init__(self, action: str) -> None:
        super().__init__(f"No handler for action [{action}]")
        self.action = action


# --- remote clusters ----------------------------------------------------------------------------


class NoSeedNodeLeftError(IsthmusError):
    """Every seed (sniff) or every proxy attempt (proxy) of a remote cluster failed."""

    es_type = "no_seed_node_left_exception"
    status = 500
    java_class = "org.elasticsearch.transport.NoSeedNodeLeftException"

    @property
    def http_status(self) -> int:
        # The status of what made the last attempt fail: a refused key stays a 401.
        if self.caused_by is not None:
            return self.caused_by.http_status
        return super().http_status


class NoSuchRemoteClusterError(IsthmusError):
    """A request named a remote cluster alias that is not configured."""

    es_type = "no_such_remote_cluster_exception"
    status = 404
    java_class = "org.elasticsearch.transport.NoSuchRemoteClusterException"

    def __init__(self, alias: str) -> None:
        super().__init__(f"no such remote cluster: [{alias}]")
        self.alias = alias


class RemoteClusterClientRoleError(IllegalArgumentError):
    """A cross-cluster request reached a node without the ``remote_cluster_client`` role."""

    def __init__(self) -> None:
        super().__init__("this node does not have the remote_cluster_client role")


class ConnectQueueFullError(IsthmusError):
    """Too many callers wait for one remote cluster's connect round (ES's bounded queue)."""

    es_type = "es_rejected_execution_exception"
    status = 429
    java_class = "org.elasticsearch.common.util.concurrent.EsRejectedExecutionException"


class AlreadyClosedError(IsthmusError):
    """The remote cluster connection was closed while the caller waited for it."""

    es_type = "already_closed_exception"
    java_class = "org.apache.lucene.store.AlreadyClosedException"


# --- tasks --------------------------------------------------------------------------------------


class TaskCancelledError(IsthmusError):
    """The work a request started was cancelled (its caller gave up)."""

    es_type = "task_cancelled_exception"
    status = 400
    java_class = "org.elasticsearch.tasks.TaskCancelledException"


# --- resources ----------------------------------------------------------------------------------


class CircuitBreakingError(IsthmusError):
    """A circuit breaker refused the bytes a request would hold (ES's 429, ``TRANSIENT``)."""

    es_type = "circuit_breaking_exception"
    status = 429
    java_class = "org.elasticsearch.common.breaker.CircuitBreakingException"

    def __init__(self, reason: str, *, bytes_wanted: int, bytes_limit: int) -> None:
        super().__init__(
            reason,
            extra={
                "bytes_wanted": bytes_wanted,
                "bytes_limit": bytes_limit,
                "durability": "TRANSIENT",
            },
        )


# --- search (queries, scrolls, and the limits on pattern and aggregation work) --------------------


class SearchPhaseExecutionError(IsthmusError):
    es_type = "search_phase_execution_exception"
    status = 400

    def root_cause(self) -> IsthmusError:
        # ES reports the shard failures' causes, whatever their kind.
        return self.caused_by.root_cause() if self.caused_by is not None else self


class QueryShardError(IsthmusError):
    es_type = "query_shard_exception"
    status = 400


class SearchContextMissingError(IsthmusError):
    es_type = "search_context_missing_exception"
    status = 404


class TooManyScrollContextsError(IsthmusError):
    es_type = "too_many_scroll_contexts_exception"
    status = 429


class TooManyPitContextsError(IsthmusError):
    """Past ``search.max_open_pit_context`` open point-in-time contexts (a rejected execution)."""

    es_type = "es_rejected_execution_exception"
    status = 429
    java_class = "org.elasticsearch.common.util.concurrent.EsRejectedExecutionException"


class TooComplexToDeterminizeError(IsthmusError):
    """A regexp or wildcard whose automaton would take more than ``max_determinized_states`` work
    to determinize (Lucene's exception; ES reports it beneath ``failed to create query``)."""

    es_type = "too_complex_to_determinize_exception"
    status = 400
    is_es = False
    java_class = "org.apache.lucene.util.automaton.TooComplexToDeterminizeException"


class SearchContextError(IsthmusError):
    """ES's ``SearchException``: a shard cannot set up the search as asked (``collapse`` with a
    scroll or a rescore); ES answers 500 for it."""

    es_type = "search_exception"
    status = 500
    java_class = "org.elasticsearch.search.SearchException"


class TooManyBucketsError(IsthmusError):
    """An aggregation asked for more buckets than ``search.max_buckets`` (ES 8: 400)."""

    es_type = "too_many_buckets_exception"
    status = 400
    java_class = (
        "org.elasticsearch.search.aggregations.MultiBucketConsumerService$TooManyBucketsException"
    )

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Trying to create too many buckets. Must be less than or equal to: [{limit}] but "
            "this number of buckets was exceeded. This limit can be set by changing the "
            "[search.max_buckets] cluster level setting.",
            extra={"max_buckets": limit},
        )
        self.max_buckets = limit


# --- storage ------------------------------------------------------------------------------------


class StorageIOError(IsthmusError):
    """Writing to ``path.data`` failed: ES's ``java.io.IOException`` from Lucene or the translog
    (the write was not acknowledged)."""

    es_type = "i_o_exception"
    status = 500
    is_es = False
    java_class = "java.io.IOException"


class StorageFullError(StorageIOError):
    """The disk under ``path.data`` is full ("No space left on device"). The flood-stage block
    normally refuses writes with a 429 long before this is reached."""


# --- shard history and retention leases (cross-cluster replication's leader side) ---------------


class ShardNotFoundError(ResourceNotFoundError):
    es_type = "shard_not_found_exception"
    java_class = "org.elasticsearch.index.shard.ShardNotFoundException"

    def __init__(self, index: str, index_uuid: str, shard: int) -> None:
        super().__init__(
            "no such shard", extra={"index_uuid": index_uuid, "shard": str(shard), "index": index}
        )


class MissingHistoryOperationsError(IllegalStateError):
    """The shard's history no longer holds operations someone asked for (ES raises it as a
    plain ``IllegalStateException`` subclass)."""

    es_type = "missing_history_operations_exception"
    is_es = False
    java_class = "org.elasticsearch.index.engine.MissingHistoryOperationsException"


class RetentionLeaseAlreadyExistsError(IsthmusError):
    es_type = "retention_lease_already_exists_exception"
    status = 400
    java_class = "org.elasticsearch.index.seqno.RetentionLeaseAlreadyExistsException"


class RetentionLeaseNotFoundError(ResourceNotFoundError):
    es_type = "retention_lease_not_found_exception"
    java_class = "org.elasticsearch.index.seqno.RetentionLeaseNotFoundException"


class RetentionLeaseInvalidRetainingSeqNoError(IsthmusError):
    es_type = "retention_lease_invalid_retaining_seq_no_exception"
    status = 500
    java_class = "org.elasticsearch.index.seqno.RetentionLeaseInvalidRetainingSeqNoException"


# --- cross-cluster replication (follower side) --------------------------------------------------


class StatusError(IsthmusError):
    """ES's ``ElasticsearchStatusException``: a reason with the HTTP status ES chose for it
    (a follower index refusing a client write: 403)."""

    es_type = "status_exception"
    status = 500
    java_class = "org.elasticsearch.ElasticsearchStatusException"


class TaskAlreadyExistsError(ResourceAlreadyExistsError):
    """A persistent task that already exists (a follower's shard follow task on resume)."""

    def __init__(self, task_id: str) -> None:
        IsthmusError.__init__(self, f"task with id {{{task_id}}} already exist")


# --- index templates ----------------------------------------------------------------------------


class InvalidIndexTemplateError(IsthmusError):
    """ES's ``InvalidIndexTemplateException``: a template that cannot be put as written."""

    es_type = "invalid_index_template_exception"
    status = 400
    java_class = "org.elasticsearch.indices.InvalidIndexTemplateException"

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"index_template [{name}] invalid, cause [{why}]")


class IndexTemplateMissingError(IsthmusError):
    """ES's ``IndexTemplateMissingException``: deleting a template that does not exist."""

    es_type = "index_template_missing_exception"
    status = 404
    java_class = "org.elasticsearch.indices.IndexTemplateMissingException"

    def __init__(self, name: str) -> None:
        super().__init__(f"index_template [{name}] missing")


class DataStreamAlreadyExistsError(ResourceAlreadyExistsError):
    """Creating a data stream whose name one already has (ES names no uuid for it)."""

    def __init__(self, name: str) -> None:
        IsthmusError.__init__(self, f"data_stream [{name}] already exists")


class RoutingMissingError(IsthmusError):
    """ES's ``RoutingMissingException``: a write (or get) without routing on an index whose
    mapping has ``_routing: {"required": true}``."""

    es_type = "routing_missing_exception"
    status = 400

    def __init__(self, index: str, doc_id: str | None) -> None:
        super().__init__(
            f"routing is required for [{index}]/[{doc_id}]",
            extra={"index_uuid": "_na_", "index": index},
        )
