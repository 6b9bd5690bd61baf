"""Splitting an index expression between the local cluster and remote clusters.  [no I/O]

``logs,my:logs,*:metrics-*,-other:*`` names local indices (no ``:``), indices of remote cluster
aliases (``alias:index``, the alias part may use wildcards) and cluster exclusions
(``-alias:*``). This module owns ES's ``groupClusterIndices`` rules and error texts; it knows the
configured aliases only as a list of names, and nothing about connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import is_remote_expression
from isthmus.errors import IllegalArgumentError, NoSuchRemoteClusterError

LOCAL_CLUSTER = ""  # the key of local indices; shown as "(local)" in responses
LOCAL_DISPLAY = "(local)"


@dataclass(frozen=True)
class ClusterIndices:
    """Which expressions go to which cluster, in the order first named."""

    local: tuple[str, ...] | None  # None: the request named no local index
    remote: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_cross_cluster(self) -> bool:
        return bool(self.remote)

    def clusters(self) -> list[str]:
        """Cluster keys: ``""`` for local first (if named), then aliases in order."""
        return ([LOCAL_CLUSTER] if self.local is not None else []) + list(self.remote)


def _display(cluster: str) -> str:
    return LOCAL_DISPLAY if cluster == LOCAL_CLUSTER else cluster


def group_indices(
    expressions: Sequence[str], aliases: Sequence[str], *, local_if_empty: bool = True
) -> ClusterIndices:
    """Group ``expressions`` by cluster; raises ES's errors for unknown aliases and exclusions.

    With no expression at all the request is a local ``_all`` search (``local_if_empty``).
    """
    order: dict[str, list[str]] = {}
    exclusions: list[tuple[str, str]] = []  # (alias pattern, original expression)
    for expression in expressions:
        if not is_remote_expression(expression):
            order.setdefault(LOCAL_CLUSTER, []).append(expression)
            continue
        colon = expression.find(":")
        cluster_part, index_part = expression[:colon], expression[colon + 1 :]
        if cluster_part in ("", "-"):
            raise IllegalArgumentError(
                f"index name [{expression}] is invalid because the remote part is empty"
            )
        if cluster_part.startswith("-"):
            if index_part != "*":
                raise IllegalArgumentError(
                    "To exclude a cluster you must specify the '*' wildcard for the index "
                    f"expression, but found: [{index_part}]"
                )
            exclusions.append((cluster_part[1:], expression))
            continue
        for alias in _match(cluster_part, aliases):
            order.setdefault(alias, []).append(index_part)
    for pattern, _ in exclusions:
        excluded = _match(pattern, aliases)
        missing = [c for c in excluded if c not in order]
        if missing:
            included = [_display(c) for c in sorted(order, key=lambda c: c != LOCAL_CLUSTER)]
            many = len(missing) > 1
            raise IllegalArgumentError(
                f"Attempt to exclude cluster{'s' if many else ''} [{', '.join(missing)}] failed "
                f"as {'they are' if many else 'it is'} not included in the list of clusters to "
                f"be included: [{', '.join(included)}]. Input: [{','.join(expressions)}]"
            )
        for cluster in excluded:
            del order[cluster]
    if exclusions and not order:
        raise IllegalArgumentError(
            "The '-' exclusions in the index expression list excludes all indexes. Nothing to "
            f"search. Input: [{','.join(expressions)}]"
        )
    local = order.pop(LOCAL_CLUSTER, None)
    if local is None and not order and local_if_empty:
        return ClusterIndices(local=())
    return ClusterIndices(
        local=None if local is None else tuple(local),
        remote={alias: tuple(names) for alias, names in order.items()},
    )


def _match(pattern: str, aliases: Sequence[str]) -> list[str]:
    if "*" not in pattern:
        if pattern not in aliases:
            raise NoSuchRemoteClusterError(pattern)
        return [pattern]
    return [alias for alias in aliases if simple_match(alias, pattern)]
