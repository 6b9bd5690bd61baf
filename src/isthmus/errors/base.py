"""The base of the tree: an error with an Elasticsearch ``type``, a reason and an HTTP
status, rendered as ES's REST body, cause chain and log lines.
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
