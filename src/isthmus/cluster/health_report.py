"""``GET /_health_report``: ES's health indicators that a node can honestly compute.  [no I/O]

Each indicator is a plain value (:class:`Indicator`) built from facts the caller gathered:
``master_is_stable`` (a single node is its own stable master), ``shards_availability`` (from the
index metadata and the shards this node opened), ``disk`` (from the disk threshold monitor) and
``remote_clusters`` (Isthmus's own, from live remote health; ES has no such indicator). The
indicators ES also has but Isthmus has nothing behind (ILM, SLM, repositories, shards capacity)
are left out rather than reported green. :func:`health_report` applies ES's rules: the cluster's
status is the worst indicator's (green < unknown < yellow < red); one indicator asked for by name
drops the top-level status; ``verbose=false`` drops details and diagnoses; ``size`` caps each
diagnosis's affected resources; an unknown indicator is ``resource_not_found_exception``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.shard_routing import INITIALIZING, STARTED, UNASSIGNED, IndexRouting
from isthmus.doctor.causes import BY_CODE
from isthmus.errors import IllegalArgumentError, ResourceNotFoundError

_RANK = {"green": 0, "unknown": 1, "yellow": 2, "red": 3}
_ES = "elasticsearch:health"
_ISTHMUS = "isthmus:health"
REMOTE_HELP_URL = (
    "https://www.elastic.co/guide/en/elasticsearch/reference/current/"
    "remote-clusters-troubleshooting.html"
)


@dataclass(frozen=True)
class Impact:
    id: str
    severity: int  # 1 is the most severe
    description: str
    impact_areas: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "description": self.description,
            "impact_areas": list(self.impact_areas),
        }


@dataclass(frozen=True)
class Diagnosis:
    id: str
    cause: str
    action: str
    help_url: str
    affected_resources: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def to_json(self, size: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "cause": self.cause,
            "action": self.action,
            "help_url": self.help_url,
            "affected_resources": {k: list(v)[:size] for k, v in self.affected_resources.items()},
        }


@dataclass(frozen=True)
class Indicator:
    name: str
    status: str
    symptom: str
    details: Mapping[str, Any] = field(default_factory=dict)
    impacts: tuple[Impact, ...] = ()
    diagnosis: tuple[Diagnosis, ...] = ()

    def to_json(self, *, verbose: bool, size: int) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "symptom": self.symptom}
        if verbose:
            body["details"] = dict(self.details)
        if self.impacts:
            body["impacts"] = [i.to_json() for i in self.impacts]
        if verbose and self.diagnosis:
            body["diagnosis"] = [d.to_json(size) for d in self.diagnosis]
        return body


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# --- master_is_stable ------------------------------------------------------------------------------


def master_is_stable(node_id: str, node_name: str) -> Indicator:
    """A single-node cluster: the node is the elected master and never changed."""
    master = {"node_id": node_id, "name": node_name}
    return Indicator(
        "master_is_stable",
        "green",
        "The cluster has a stable master node",
        {"current_master": master, "recent_masters": [master]},
    )


# --- shards_availability ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexShards:
    name: str
    shards: int
    replicas: int
    started_primaries: int  # primaries this node has open (several nodes: started anywhere)
    is_open: bool = True
    # A cluster of several nodes, from its routing table (None: a single node, where every
    # replica is unassigned).
    unassigned_replicas: int | None = None
    started_replicas: int = 0
    initializing_primaries: int = 0
    initializing_replicas: int = 0

    @property
    def missing_replicas(self) -> int:
        if self.unassigned_replicas is None:
            return self.shards * self.replicas
        return self.unassigned_replicas

    @property
    def missing_primaries(self) -> int:
        return self.shards - self.started_primaries - self.initializing_primaries


def routed_index_shards(meta: IndexMetadata, routing: IndexRouting) -> IndexShards:
    """An index's copies as a cluster of several nodes' routing table has them."""
    copies = [(c.primary, c.state) for t in routing.shards for c in t.copies]
    return IndexShards(
        meta.name,
        meta.number_of_shards,
        meta.number_of_replicas,
        sum(1 for primary, state in copies if primary and state == STARTED),
        meta.is_open,
        unassigned_replicas=sum(1 for p, state in copies if not p and state == UNASSIGNED),
        started_replicas=sum(1 for p, state in copies if not p and state == STARTED),
        initializing_primaries=sum(1 for p, state in copies if p and state == INITIALIZING),
        initializing_replicas=sum(1 for p, state in copies if not p and state == INITIALIZING),
    )


def shards_availability(indices: Sequence[IndexShards], tier: str = "data_content") -> Indicator:
    """One node holds every primary and replicas can never be assigned (no second node); a
    cluster of several nodes counts its routing table's copies. Initializing copies are not
    unavailable."""
    opened = [i for i in indices if i.is_open]
    started = sum(i.started_primaries for i in opened)
    unassigned_primaries = sum(i.missing_primaries for i in opened)
    unassigned_replicas = sum(i.missing_replicas for i in opened)
    details = {
        "unassigned_primaries": unassigned_primaries,
        "initializing_primaries": sum(i.initializing_primaries for i in opened),
        "creating_primaries": 0,
        "creating_replicas": 0,
        "restarting_primaries": 0,
        "restarting_replicas": 0,
        "started_primaries": started,
        "unassigned_replicas": unassigned_replicas,
        "initializing_replicas": sum(i.initializing_replicas for i in opened),
        "started_replicas": sum(i.started_replicas for i in opened),
    }
    if not unassigned_primaries and not unassigned_replicas:
        return Indicator(
            "shards_availability", "green", "This cluster has all shards available.", details
        )
    parts = []
    impacts: list[Impact] = []
    diagnoses: list[Diagnosis] = []
    missing_primary = sorted(i.name for i in opened if i.missing_primaries > 0)
    with_replicas = sorted(i.name for i in opened if i.missing_replicas > 0)
    if unassigned_primaries:
        parts.append(
            _plural(unassigned_primaries, "unavailable primary shard", "unavailable primary shards")
        )
        impacts.append(
            Impact(
                f"{_ES}:shards_availability:impact:primary_unassigned",
                1,
                f"Cannot add data to {_plural(len(missing_primary), 'index', 'indices')} "
                f"[{', '.join(missing_primary)}]. Searches might return incomplete results.",
                ("ingest", "search"),
            )
        )
        diagnoses.append(
            Diagnosis(
                f"{_ES}:shards_availability:diagnosis:explain_allocations",
                "Elasticsearch isn't allowed to allocate some shards from these indices to any "
                "of the nodes in the cluster.",
                "Diagnose the issue by calling the allocation explain API for an index "
                "[GET _cluster/allocation/explain]. Choose a node to which you expect a shard "
                "to be allocated, find this node in the node-by-node explanation, and address "
                "the reasons which prevent Elasticsearch from allocating the shard.",
                "https://ela.st/diagnose-shards",
                {"indices": missing_primary},
            )
        )
    if unassigned_replicas:
        parts.append(
            _plural(unassigned_replicas, "unavailable replica shard", "unavailable replica shards")
        )
        impacts.append(
            Impact(
                f"{_ES}:shards_availability:impact:replica_unassigned",
                2,
                "Searches might be slower than usual. Fewer redundant copies of the data exist "
                f"on {_plural(len(with_replicas), 'index', 'indices')} "
                f"[{', '.join(with_replicas)}].",
                ("search",),
            )
        )
        diagnoses.append(
            Diagnosis(
                f"{_ES}:shards_availability:diagnosis:increase_tier_capacity_for_allocations:"
                f"tier:{tier}",
                "Elasticsearch isn't allowed to allocate some shards from these indices to any "
                f"of the nodes in the desired data tier because there are not enough nodes in "
                f"the [{tier}] tier to allocate each shard copy on a different node.",
                "Increase the number of nodes in this tier or decrease the number of replica "
                "shards in the affected indices.",
                "https://ela.st/tier-capacity",
                {"indices": with_replicas},
            )
        )
    return Indicator(
        "shards_availability",
        "red" if unassigned_primaries else "yellow",
        f"This cluster has {', '.join(parts)}.",
        details,
        tuple(impacts),
        tuple(diagnoses),
    )


# --- disk ------------------------------------------------------------------------------------------


def disk(
    stage: int | None, blocked_indices: Sequence[str], node_id: str, node_name: str
) -> Indicator:
    """``stage``: the disk monitor's stage (0 none, 1 low, 2 high, 3 flood), None if unknown."""
    details = {
        "indices_with_readonly_block": len(blocked_indices),
        "nodes_with_enough_disk_space": 1 if stage is not None and stage < 2 else 0,
        "nodes_with_unknown_disk_status": 1 if stage is None else 0,
        "nodes_over_high_watermark": 1 if stage == 2 else 0,
        "nodes_over_flood_stage_watermark": 1 if stage == 3 else 0,
    }
    if stage is None:
        return Indicator("disk", "unknown", "No disk usage data has been collected yet.", details)
    if stage < 2 and not blocked_indices:
        return Indicator("disk", "green", "The cluster has enough available disk space.", details)
    node = {"node_id": node_id, "name": node_name}
    symptom = "1 node is out of disk or running low on disk space."
    impacts = [
        Impact(
            f"{_ES}:disk:impact:ingest_capability_unavailable"
            if stage == 3 or blocked_indices
            else f"{_ES}:disk:impact:ingest_at_risk",
            1 if stage == 3 or blocked_indices else 2,
            "Cannot insert or update documents in the affected indices "
            f"[{', '.join(blocked_indices)}]."
            if blocked_indices
            else "The cluster is at risk of not being able to insert or update documents.",
            ("ingest",),
        )
    ]
    if blocked_indices:
        count = _plural(len(blocked_indices), "index is", "indices are")
        symptom = f"{count} not allowed to be updated. {symptom}"
    return Indicator(
        "disk",
        "red" if stage == 3 or blocked_indices else "yellow",
        symptom,
        details,
        tuple(impacts),
        (
            Diagnosis(
                f"{_ES}:disk:diagnosis:add_disk_capacity_data_nodes",
                "Disk is almost full.",
                "Increase disk capacity on the data nodes or delete unneeded indices.",
                "https://ela.st/fix-data-disk",
                {"nodes": [node], "indices": list(blocked_indices)},
            ),
        ),
    )


# --- remote_clusters -------------------------------------------------------------------------------


def _diagnosis_for(error: Mapping[str, Any], aliases: Sequence[str]) -> Diagnosis:
    cause_code = error.get("cause")
    stage = error.get("stage", "unknown")
    if cause_code is not None and cause_code in BY_CODE:
        cause = (
            f"Remote cluster connections fail at the [{stage}] stage: {BY_CODE[cause_code].title}."
        )
        ident = cause_code
    else:
        candidates = ", ".join(error.get("candidates", ())) or "undecided"
        cause = (
            f"Remote cluster connections fail at the [{stage}] stage; the node's evidence "
            f"cannot decide between [{candidates}]."
        )
        ident = f"{stage}_undecided"
    return Diagnosis(
        f"{_ISTHMUS}:remote_clusters:diagnosis:{ident}",
        cause,
        "Run `isthmus doctor` against this cluster (and the remote) for the failing node, the "
        f"side at fault and the fix; see docs/doctor.md, cause [{cause_code or stage}].",
        REMOTE_HELP_URL,
        {"remote_clusters": list(aliases)},
    )


def remote_clusters(
    remotes: Mapping[str, Mapping[str, Any]], *, client_role: bool = True
) -> Indicator:
    """From the live remote health of each alias (``GET /_isthmus/remote/health`` entries);
    ``client_role``: the node has the ``remote_cluster_client`` role (without it the node
    connects to no remote cluster, whatever the settings say)."""
    if not client_role:
        return Indicator(
            "remote_clusters",
            "green",
            "This node does not have the [remote_cluster_client] role: it connects to no remote "
            "cluster.",
            {"remote_clusters": {}},
        )
    details = {
        "remote_clusters": {
            alias: {
                "status": r["status"],
                "connected": r["connected"],
                "mode": r["mode"],
                "security_model": r["security_model"],
                "last_success": r["last_success"],
                "last_error": r["last_error"],
                "consecutive_failures": r["consecutive_failures"],
                # Connections lost on their own lately: what makes a working alias degraded.
                "flaps": r.get("flaps"),
            }
            for alias, r in remotes.items()
        }
    }
    if not remotes:
        return Indicator("remote_clusters", "green", "No remote clusters are configured.", details)
    by_status: dict[str, list[str]] = {}
    for alias, r in remotes.items():
        by_status.setdefault(r["status"], []).append(alias)
    status = max(by_status, key=_RANK.__getitem__)
    if status == "green":
        return Indicator(
            "remote_clusters",
            "green",
            f"All {_plural(len(remotes), 'remote cluster is', 'remote clusters are')} "
            "connected and healthy.",
            details,
        )
    red, yellow, unknown = (by_status.get(s, []) for s in ("red", "yellow", "unknown"))
    parts = []
    if red:
        parts.append(f"{len(red)} unavailable [{', '.join(red)}]")
    if yellow:
        parts.append(f"{len(yellow)} degraded [{', '.join(yellow)}]")
    if unknown:
        parts.append(f"{len(unknown)} not yet contacted [{', '.join(unknown)}]")
    symptom = (
        f"Of {_plural(len(remotes), 'remote cluster', 'remote clusters')}, {', '.join(parts)}."
    )
    impacts = []
    if red:
        impacts.append(
            Impact(
                f"{_ISTHMUS}:remote_clusters:impact:cross_cluster_unavailable",
                2,
                f"Cross-cluster searches and replication through [{', '.join(red)}] fail, or "
                "skip those clusters when skip_unavailable is true.",
                ("search",),
            )
        )
    if yellow:
        impacts.append(
            Impact(
                f"{_ISTHMUS}:remote_clusters:impact:cross_cluster_degraded",
                3,
                f"Cross-cluster requests through [{', '.join(yellow)}] may be slower or fail "
                "intermittently.",
                ("search",),
            )
        )
    grouped: dict[tuple[str, str], tuple[Mapping[str, Any], list[str]]] = {}
    for alias in (*red, *yellow):
        error = remotes[alias].get("last_error")
        if error:
            key = (str(error.get("stage")), str(error.get("cause")))
            grouped.setdefault(key, (error, []))[1].append(alias)
    return Indicator(
        "remote_clusters",
        status,
        symptom,
        details,
        tuple(impacts),
        tuple(_diagnosis_for(error, aliases) for error, aliases in grouped.values()),
    )


# --- the report ------------------------------------------------------------------------------------


def parse_size(raw: str | None) -> int:
    if raw is None:
        return 1000
    try:
        size = int(raw)
        if size > 2**31 - 1:  # a Java int, as ES parses it
            raise ValueError(raw)
    except ValueError:
        raise IllegalArgumentError(
            f"Failed to parse int parameter [size] with value [{raw}]"
        ) from None
    if size < 0:
        raise IllegalArgumentError("The size parameter must be a positive integer")
    return size


def health_report(
    cluster_name: str,
    indicators: Sequence[Indicator],
    *,
    feature: str | None = None,
    verbose: bool = True,
    size: int = 1000,
) -> dict[str, Any]:
    chosen = list(indicators)
    if feature is not None:
        chosen = [i for i in indicators if i.name == feature]
        if not chosen:
            raise ResourceNotFoundError(f"Did not find indicator {feature}")
    body: dict[str, Any] = {"cluster_name": cluster_name}
    if feature is None:
        body["status"] = max((i.status for i in chosen), key=_RANK.__getitem__, default="green")
    body["indicators"] = {i.name: i.to_json(verbose=verbose, size=size) for i in chosen}
    return body
