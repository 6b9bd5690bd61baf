"""Errors of cluster coordination (the etcd store behind multi-node clusters): the store
refused a request, no store member answered, this node is no longer the elected master, or a
publication's outcome is unknown.

The types are ES's where ES has the same meaning: a fenced publication that definitely did not
happen is ES's ``not_master_exception``; one whose outcome is unknown (the request may have
reached the store) is ``failed_to_commit_cluster_state_exception``; no reachable store means no
master can be found (``master_not_discovered_exception``, 503). No httpx or etcd internals leak
through: a reason names the endpoint and what happened to it.
"""

from __future__ import annotations

from isthmus.errors.base import IsthmusError


class CoordinationError(IsthmusError):
    """The coordination store answered with an error (``code`` is its gRPC status code; 0 when
    the failure is not one of the store's answers)."""

    def __init__(self, reason: str, *, code: int = 0) -> None:
        super().__init__(reason)
        self.code = code


class CoordinationUnavailableError(CoordinationError):
    """No endpoint of the coordination store answered in time. ``maybe_applied`` is true when a
    request that changes the store was sent and the answer was lost: it may have been applied."""

    es_type = "master_not_discovered_exception"
    status = 503

    def __init__(self, reason: str, *, maybe_applied: bool = False) -> None:
        super().__init__(reason)
        self.maybe_applied = maybe_applied


class WatchCompactedError(CoordinationError):
    """A watch asked for history the store has compacted away: the watcher must re-read the
    whole range at a current revision and watch on from there."""

    def __init__(self, reason: str, *, compact_revision: int) -> None:
        super().__init__(reason)
        self.compact_revision = compact_revision


class NotMasterError(CoordinationError):
    """This node is not (or no longer) the elected master: the update definitely did not take
    effect (ES's NotMasterException)."""

    es_type = "not_master_exception"
    java_class = "org.elasticsearch.cluster.NotMasterException"


class FailedToCommitClusterStateError(CoordinationError):
    """A publication whose outcome is unknown: the request may or may not have been committed
    (ES's FailedToCommitClusterStateException, used only for that ambiguity)."""

    es_type = "failed_to_commit_cluster_state_exception"
    java_class = "org.elasticsearch.cluster.coordination.FailedToCommitClusterStateException"
