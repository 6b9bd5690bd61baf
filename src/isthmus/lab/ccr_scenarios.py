"""Cross-cluster replication failures as lab scenarios: what a user meets while following a
remote index, and what Elasticsearch shows for it, in both security models.

Each :class:`CcrScenario` is a :class:`~isthmus.lab.scenarios.Scenario` (the pair it runs on,
what was broken, where it shows, the fix) with a :class:`Replication`: which leader index is
followed, as which local user, what is then done to it (:class:`CcrFault`), and the symptom
(:class:`CcrSymptom`): the answer of ``PUT /<follower>/_ccr/follow`` or of a client's write to
the follower (status, ``type``, ``reason``), or what ``GET /<follower>/_ccr/stats`` reports
(``read_exceptions`` of a failure that is retried, ``fatal_exception`` of one that stops the
follower). :mod:`isthmus.lab.ccr_lab` summons them on a running pair; the integration tests and
``isthmus lab up`` share it, so what a learner sees is what CI checked.

Two pairs, one per security model (:class:`Model`), both with the lab's relay in front of the
remote in proxy mode, so that the leader can be made unreachable while both clusters run:

* the API-key model (``ccr-<name>``): the working API-key setup with a key that also has
  ``replication`` access to ``orders*``;
* the certificate model (``ccr-cert-<name>``): no key; the alias points at the remote's
  transport port (through the relay) and the remote authorizes the follow user against its own
  role of the same name, which ES's docs want with the ``read_ccr`` cluster privilege and
  ``monitor`` and ``read`` on the leader (:data:`LEADER_ROLE`).

A failure exists in both models unless :data:`NO_FORM` says why not; a certificate-model
scenario names the API-key one it mirrors (``mirrors``). The key's failures have counterparts
in the remote's role: the leader outside the key's replication access is the leader outside the
role's index names, the key without replication access is the role without ``read_ccr``.
Every scenario follows a leader index of its own (``orders-<short name>``), as a local user of
its own, so one pair per model can take them all in turn.

Doctor verdicts: ``isthmus doctor`` diagnoses the remote connection, not replication. For every
scenario but the unreachable leader, the connection works and the doctor reports green (no
verdict); while the leader is unreachable the doctor sees the black-holed path.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.lab.relay_config import RelayMode
from isthmus.lab.scenario_model import DoctorVerdict, Expected, Scenario
from isthmus.lab.topology import INDEX, LabSpec
from isthmus.wire.names import INDICES_STATS_ACTION, SHARD_CHANGES_ACTION

LEADERS = "orders"  # the key's replication access: orders*
PASSWORD = "replicator-password"  # every scenario's follow user
# ES's privileges of a user that follows (docs: create follower API): manage_ccr on the
# follower's cluster, write, monitor and manage_follow_index on the follower.
CLUSTER_PRIVILEGES = ("manage_ccr", "monitor")
INDEX_PRIVILEGES = ("manage_follow_index", "write", "monitor", "read")
REPLICATION_PRIVILEGES = ("cross_cluster_replication", "cross_cluster_replication_internal")
_LOCAL = ("local-node",)
# Certificate model: the remote's role of the same name as the follow user's (ES's docs: the
# read_ccr cluster privilege, monitor and read on the leader indices).
LEADER_ROLE: dict[str, Any] = {
    "cluster": ["read_ccr"],
    "indices": [{"names": [f"{LEADERS}*"], "privileges": ["monitor", "read"]}],
}


class Model(enum.StrEnum):
    """The remote cluster security model a scenario's pair uses."""

    API_KEY = "api_key"  # a cross-cluster API key in local's keystore, the remote cluster server
    CERTIFICATE = "certificate"  # TLS trust only; the remote's roles of the same names


class CcrFault(enum.StrEnum):
    """What is done once the follower (or the attempt to make it) exists."""

    FOLLOW = "follow"  # nothing: the symptom is the answer to the follow request
    WRITE = "write"  # a client writes to the follower
    BLACKHOLE = "blackhole"  # the path to the leader drops everything (the relay)
    DELETE_LEADER = "delete_leader"
    CLOSE_LEADER = "close_leader"
    TRIM_HISTORY = "trim_history"  # paused past the lease; the leader trims; resumed


class Shows(enum.StrEnum):
    """Where the symptom shows."""

    ANSWER = "answer"  # the HTTP answer to the follow request or the write
    READ_EXCEPTIONS = "read_exceptions"  # GET /<f>/_ccr/stats: retried, no fatal_exception
    FATAL = "fatal_exception"  # GET /<f>/_ccr/stats: the follower stopped


@dataclass(frozen=True)
class CcrSymptom:
    shows: Shows
    # The error's ES ``type`` (any of these: the retried failures of one outage come in a few
    # kinds, a connection cut then a connect timeout) and a substring of its ``reason``.
    types: tuple[str, ...]
    reason: str = ""
    status: int | None = None  # HTTP status, for an answer
    # Retried failures only: once the fault is undone (the path healed, the leader opened) the
    # follower catches up by itself and its read_exceptions clear.
    recovers: bool = False


@dataclass(frozen=True)
class Replication:
    fault: CcrFault
    symptom: CcrSymptom
    cluster_privileges: tuple[str, ...] = CLUSTER_PRIVILEGES
    index_privileges: tuple[str, ...] = INDEX_PRIVILEGES
    # The leader index's name, when not ``orders-<short name>`` (one outside the key's access).
    leader: str | None = None
    follow_alias: bool = False  # follow an alias of the leader instead of the index
    # Certificate model: the remote's role of the same name as the follow user's, which the
    # remote authorizes the user's requests against (None: the API-key model, no remote role).
    leader_role: dict[str, Any] | None = None
    leader_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CcrScenario(Scenario):
    replication: Replication | None = None
    # Certificate model: the API-key model's scenario this one is the form of (None: its own).
    mirrors: str | None = None

    @property
    def model(self) -> Model:
        return Model.CERTIFICATE if self.spec.credential is None else Model.API_KEY

    @property
    def short(self) -> str:
        return self.name.removeprefix("ccr-")

    @property
    def user(self) -> str:
        """The local user that follows (and its role's name; on the remote too)."""
        return f"{self.short}-user"

    @property
    def leader(self) -> str:
        assert self.replication is not None
        return self.replication.leader or f"{LEADERS}-{self.short}"

    @property
    def follower(self) -> str:
        return f"{LEADERS}-{self.short}-copy"

    @property
    def followed(self) -> str:
        """The name given as ``leader_index``."""
        assert self.replication is not None
        return f"{self.leader}-alias" if self.replication.follow_alias else self.leader


def base_spec(mode: str = "proxy") -> LabSpec:
    """The working pair: the API-key model, a key with search and replication access, the
    relay in front of the remote in proxy mode, a 2 s connect timeout (a black hole shows
    within seconds)."""
    relay = RelayMode.PASS if mode == "proxy" else None
    return LabSpec(
        mode=mode,
        relay=relay,
        connect_timeout="2s",
        key_access={
            "search": [{"names": [INDEX, f"{INDEX}-*"]}],
            "replication": [{"names": [f"{LEADERS}*"]}],
        },
    )


def certificate_spec(mode: str = "proxy") -> LabSpec:
    """The certificate model: no key; local's transport TLS and the remote's trust each other,
    and the alias points at the remote's transport port (in proxy mode through the relay, which
    :func:`isthmus.lab.ccr_lab.route` points there); a 2 s connect timeout."""
    return LabSpec(
        mode=mode,
        credential=None,
        target="transport",
        transport_trusts_remote_transport_ca=True,
        relay=RelayMode.PASS if mode == "proxy" else None,
        connect_timeout="2s",
    )


def spec_of(model: Model, mode: str = "proxy") -> LabSpec:
    """The working pair of ``model``: what a shared pair of that model is built from."""
    return base_spec(mode) if model is Model.API_KEY else certificate_spec(mode)


@dataclass(frozen=True)
class NoForm:
    """A failure that has no form in ``model``, and why (said here rather than left out)."""

    name: str  # the scenario, in the model where it exists
    model: Model
    reason: str


NO_FORM = (
    NoForm(
        "ccr-leader-role-without-read",
        Model.API_KEY,
        "no role on the remote takes part: the remote authorizes against the key's "
        "replication access, whose failures are ccr-leader-outside-key and "
        "ccr-key-without-replication",
    ),
)


def _stats(shows: Shows, *types: str, reason: str = "", recovers: bool = False) -> CcrSymptom:
    return CcrSymptom(shows, types, reason, recovers=recovers)


def _answer(status: int, es_type: str, reason: str) -> CcrSymptom:
    return CcrSymptom(Shows.ANSWER, (es_type,), reason, status)


_INSUFFICIENT = (
    "insufficient privileges to follow index [{leader}], privilege for action [{action}] is missing"
)
# ES's has_privileges answer names each missing privilege: shard_changes, then the index stats
# (both, for a leader the remote grants nothing on).
_NOTHING_GRANTED = (
    _INSUFFICIENT.replace("{action}", SHARD_CHANGES_ACTION)
    + f", privilege for action [{INDICES_STATS_ACTION}] is missing"
)
_STATS = "GET /<follower>/_ccr/stats"


def ccr_scenarios(mode: str = "proxy", model: Model | None = None) -> list[CcrScenario]:
    """The CCR scenarios for remote ``mode`` (the unreachable leader in proxy mode only: the
    relay stands in front of the remote there), of ``model`` (None: both)."""
    api_key = _api_key_scenarios(mode)
    out = [*api_key, *_certificate_scenarios(mode, {s.name: s for s in api_key})]
    if mode != "proxy":
        out = [s for s in out if s.replication and s.replication.fault is not CcrFault.BLACKHOLE]
    return [s for s in out if model is None or s.model is model]


def _api_key_scenarios(mode: str) -> list[CcrScenario]:
    base = base_spec(mode)
    out = [
        CcrScenario(
            "ccr-leader-unreachable",
            "CCR: the leader's cluster is unreachable, then comes back",
            base,
            Expected(connected=False),
            "the path to the remote drops every packet (the relay black-holes it) while a "
            "follower follows; a document is indexed on the leader meanwhile",
            f"{_STATS}: read_exceptions (retries and failed_read_requests grow), no "
            "fatal_exception; leader_global_checkpoint stays the last one the follower saw",
            "nothing to do on the follower: it retries (jittered back-off up to max_retry_delay) "
            "and catches up by itself once the remote is reachable again (here: isthmus lab "
            "path pass); fix the network",
            verdict=DoctorVerdict.of("tcp_timeout", nodes=_LOCAL),
            replication=Replication(
                CcrFault.BLACKHOLE,
                _stats(
                    Shows.READ_EXCEPTIONS,
                    "connect_transport_exception",
                    "node_disconnected_exception",
                    "node_not_connected_exception",
                    "receive_timeout_transport_exception",
                    recovers=True,
                ),
            ),
        ),
        CcrScenario(
            "ccr-leader-deleted",
            "CCR: the leader index was deleted",
            base,
            Expected(connected=True),
            "the leader index was deleted on the remote while followed",
            f"{_STATS}: fatal_exception index_not_found_exception; the follower log's WARN "
            "shard follow task encounter non-retryable error",
            "the follower keeps the data it has: pause_follow, close, unfollow, open to use it "
            "as a normal index; or follow the new leader into a new follower",
            replication=Replication(
                CcrFault.DELETE_LEADER,
                _stats(Shows.FATAL, "index_not_found_exception", reason="no such index [{leader}]"),
            ),
        ),
        CcrScenario(
            "ccr-leader-closed",
            "CCR: the leader index was closed",
            base,
            Expected(connected=True),
            "the leader index was closed on the remote while followed",
            f"{_STATS}: read_exceptions (the follower retries), no fatal_exception",
            "open the leader index (POST /<leader>/_open on the remote): the follower catches "
            "up by itself",
            replication=Replication(
                CcrFault.CLOSE_LEADER,
                _stats(
                    Shows.READ_EXCEPTIONS,
                    "cluster_block_exception",
                    reason="index [{leader}] blocked by: [FORBIDDEN/4/index closed];",
                    recovers=True,
                ),
            ),
        ),
        CcrScenario(
            "ccr-follow-alias",
            "CCR: following an alias",
            base,
            Expected(connected=True),
            "leader_index names an alias of the leader, not the index",
            "the answer to PUT /<follower>/_ccr/follow (400)",
            "name the concrete leader index in leader_index (GET /_alias/<alias> on the remote "
            "shows it)",
            replication=Replication(
                CcrFault.FOLLOW,
                _answer(
                    400,
                    "illegal_argument_exception",
                    "cannot follow [{followed}], because it is a ALIAS",
                ),
                follow_alias=True,
            ),
        ),
        CcrScenario(
            "ccr-follower-written",
            "CCR: a client writes to the follower index",
            base,
            Expected(connected=True),
            "a client indexes a document into the follower index",
            "the answer to the write (403 status_exception)",
            "write to the leader index; to write to the follower, make it a normal index: "
            "pause_follow, close, unfollow, open",
            replication=Replication(
                CcrFault.WRITE,
                _answer(
                    403,
                    "status_exception",
                    "a following engine does not accept operations without an assigned "
                    "sequence number",
                ),
            ),
        ),
        CcrScenario(
            "ccr-no-manage-ccr",
            "CCR: the local user lacks the manage_ccr cluster privilege",
            base,
            Expected(connected=True),
            "the follow user's role has monitor but not manage_ccr",
            "the answer to PUT /<follower>/_ccr/follow (403)",
            "add manage_ccr to the cluster privileges of the user's role on the follower's cluster",
            replication=Replication(
                CcrFault.FOLLOW,
                _answer(
                    403,
                    "security_exception",
                    "action [cluster:admin/xpack/ccr/resume_follow] is unauthorized for user "
                    "[{user}] with effective roles [{user}], this action is granted by the "
                    "cluster privileges [manage,manage_ccr,all]",
                ),
                cluster_privileges=("monitor",),
            ),
        ),
        CcrScenario(
            "ccr-no-manage-follow-index",
            "CCR: the local user lacks manage_follow_index on the follower index",
            base,
            Expected(connected=True),
            "the follow user's role has write, monitor and read on the follower, not "
            "manage_follow_index",
            "the answer to PUT /<follower>/_ccr/follow (403)",
            "add manage_follow_index (with write and monitor) on the follower index to the "
            "user's role",
            replication=Replication(
                CcrFault.FOLLOW,
                _answer(
                    403,
                    "security_exception",
                    "action [indices:admin/xpack/ccr/put_follow] is unauthorized for user "
                    "[{user}] with effective roles [{user}] on indices [{follower}], this action "
                    "is granted by the index privileges [manage_follow_index,manage,all]",
                ),
                index_privileges=("write", "monitor", "read"),
            ),
        ),
        CcrScenario(
            "ccr-leader-outside-key",
            "CCR: the cross-cluster API key's replication access does not cover the leader",
            base,
            Expected(connected=True),
            "the key has replication access to orders* only, and the leader is private-orders",
            "the answer to PUT /<follower>/_ccr/follow (403)",
            "ask the remote's administrator for a key whose access.replication names the "
            "leader index (or update it: PUT /_security/cross_cluster/api_key/<id>)",
            replication=Replication(
                CcrFault.FOLLOW,
                _answer(403, "security_exception", _NOTHING_GRANTED),
                leader=f"private-{LEADERS}",
            ),
        ),
        CcrScenario(
            "ccr-key-without-replication",
            "CCR: the cross-cluster API key has no replication access",
            replace(base, key_access={"search": [{"names": [INDEX, f"{INDEX}-*"]}]}),
            Expected(connected=True),
            "the cross-cluster key was created with access.search only",
            "the answer to PUT /<follower>/_ccr/follow (403)",
            "create a key with access.replication naming the leader indices on the remote, put "
            "it in the keystore, reload secure settings",
            # In the API-key model the follower asks the leader's metadata as the system user
            # within the key's access (ES's RCS 2.0): without replication access the key's role
            # has no cross_cluster_replication cluster privilege.
            replication=Replication(
                CcrFault.FOLLOW,
                _answer(
                    403,
                    "security_exception",
                    "action [cluster:monitor/state] towards remote cluster is unauthorized for "
                    "user [_system] with assigned roles [] authenticated by API key id [{key_id}]",
                ),
            ),
        ),
        CcrScenario(
            "ccr-history-trimmed",
            "CCR: the leader trimmed history the follower still needed",
            base,
            Expected(connected=True),
            "the follower was paused longer than the leader's "
            "index.soft_deletes.retention_lease.period (1s here; 12h by default): its lease "
            "expired, the leader trimmed operations it had not read, then it was resumed",
            f"{_STATS}: fatal_exception resource_not_found_exception (Operations are no longer "
            "available for replicating)",
            "the follower cannot catch up: delete it and follow again (the new follower starts "
            "from a copy of the leader); keep pauses and outages shorter than the retention "
            "lease period, or raise it on the leader",
            replication=Replication(
                CcrFault.TRIM_HISTORY,
                _stats(
                    Shows.FATAL,
                    "resource_not_found_exception",
                    reason="Operations are no longer available for replicating.",
                ),
                leader_settings={"index.soft_deletes.retention_lease.period": "1s"},
            ),
        ),
    ]
    return out


# API-key scenarios whose failure shows in the certificate model as it does there.
_SAME = (
    "ccr-leader-unreachable",
    "ccr-leader-deleted",
    "ccr-leader-closed",
    "ccr-follow-alias",
    "ccr-follower-written",
    "ccr-no-manage-ccr",
    "ccr-no-manage-follow-index",
    "ccr-history-trimmed",
)


def _certificate_scenarios(mode: str, api_key: dict[str, CcrScenario]) -> list[CcrScenario]:
    """The certificate model's forms: the same failures on the certificate pair, and the
    counterparts of the key's failures in the remote's role."""
    out = [_on_certificate_pair(api_key[name], mode) for name in _SAME if name in api_key]
    outside = api_key["ccr-leader-outside-key"]
    out.append(
        _on_certificate_pair(
            outside,
            mode,
            name="ccr-cert-leader-outside-role",
            title="CCR, certificate model: the remote's role of the same name does not name "
            "the leader",
            broken="the remote's role of the same name has read and monitor on orders* only, "
            "and the leader is private-orders",
            fix="on the remote, add the leader index to the role of the same name (read and "
            "monitor)",
        )
    )
    keyless = api_key["ccr-key-without-replication"]
    out.append(
        _on_certificate_pair(
            keyless,
            mode,
            name="ccr-cert-role-without-read-ccr",
            title="CCR, certificate model: the remote's role of the same name lacks read_ccr",
            broken="the remote's role of the same name has read and monitor on the leader but "
            "not the read_ccr cluster privilege",
            fix="on the remote, give the role of the same name the read_ccr cluster privilege",
            # The follower reads the leader's metadata as the user (ES's put-follow), which the
            # remote authorizes against its role of the same name. (The privileges listed after
            # it are ES's read_ccr, transport_client, cross_cluster_replication, manage_ccr,
            # monitor, manage and all, in an order that depends on ES's version.)
            symptom=_answer(
                403,
                "security_exception",
                "action [cluster:monitor/state] is unauthorized for user [{user}] with "
                "effective roles [{user}], this action is granted by the cluster privileges [",
            ),
            leader_role={
                "indices": [{"names": [f"{LEADERS}*"], "privileges": ["monitor", "read"]}]
            },
        )
    )
    return [*out, _leader_role_without_read(mode)]


def _on_certificate_pair(
    scenario: CcrScenario,
    mode: str,
    *,
    name: str | None = None,
    symptom: CcrSymptom | None = None,
    leader_role: dict[str, Any] = LEADER_ROLE,
    title: str | None = None,
    broken: str | None = None,
    fix: str | None = None,
) -> CcrScenario:
    """``scenario`` on the certificate pair, as a user whose remote role of the same name is
    ``leader_role``; ``name`` (default ``ccr-cert-<short>``), ``symptom`` and the texts when
    its form differs there."""
    rep = scenario.replication
    assert rep is not None
    return replace(
        scenario,
        name=name or f"ccr-cert-{scenario.short}",
        title=title or scenario.title.replace("CCR:", "CCR, certificate model:", 1),
        broken=broken or scenario.broken,
        fix=fix or scenario.fix,
        spec=certificate_spec(mode),
        replication=replace(rep, symptom=symptom or rep.symptom, leader_role=leader_role),
        mirrors=scenario.name,
    )


def _leader_role_without_read(mode: str) -> CcrScenario:
    return CcrScenario(
        "ccr-leader-role-without-read",
        "CCR, certificate model: the remote's role of the same name cannot read the leader",
        certificate_spec(mode),
        Expected(connected=True),
        "in the certificate model the remote authorizes the follow user against its own role "
        "of the same name, which has read_ccr and monitor on the leader but not read",
        "the answer to PUT /<follower>/_ccr/follow (403)",
        "on the remote, give the role of the same name read and monitor on the leader index "
        "(and the read_ccr cluster privilege)",
        replication=Replication(
            CcrFault.FOLLOW,
            _answer(
                403, "security_exception", _INSUFFICIENT.replace("{action}", SHARD_CHANGES_ACTION)
            ),
            leader_role={
                "cluster": ["read_ccr"],
                "indices": [{"names": [f"{LEADERS}*"], "privileges": ["monitor"]}],
            },
        ),
    )


__all__ = [
    "CLUSTER_PRIVILEGES",
    "INDEX_PRIVILEGES",
    "LEADERS",
    "LEADER_ROLE",
    "NO_FORM",
    "PASSWORD",
    "REPLICATION_PRIVILEGES",
    "CcrFault",
    "CcrScenario",
    "CcrSymptom",
    "Model",
    "NoForm",
    "Replication",
    "Shows",
    "base_spec",
    "ccr_scenarios",
    "certificate_spec",
    "spec_of",
]
