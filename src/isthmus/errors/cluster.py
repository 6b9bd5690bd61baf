"""Errors of the cluster and the node: settings, startup (with ES's configuration exit code),
missing resources, timeouts, cancelled tasks and circuit breakers.
"""

from __future__ import annotations

from isthmus.errors.base import IsthmusError
from isthmus.errors.requests import IllegalArgumentError


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
