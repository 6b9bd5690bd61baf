"""What every rule reads about one alias, and how a rule states its result.  [no I/O]

:class:`AliasContext` joins the local and (optional) remote evidence for one alias: its
settings, ``_remote/info`` entry, the texts of the doctor's test search and ``_resolve/cluster``
call, and where the alias points compared with the remote's own addresses. :func:`failed`,
:func:`undecided` and :func:`passed` build :class:`StageResult` values with the cause's stage and
usual side taken from :mod:`isthmus.doctor.causes`, so a rule names a code and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from isthmus.doctor.causes import cause
from isthmus.doctor.commands import RELOAD, create_key, keystore_add
from isthmus.doctor.evidence import (
    ISTHMUS_HEALTH,
    REDACTED,
    SideEvidence,
    resolve_key,
    search_key,
)
from isthmus.doctor.model import (
    Confidence,
    Evidence,
    Finding,
    Fix,
    Outcome,
    Side,
    Stage,
    StageResult,
)
from isthmus.doctor.rules_texts import Text, error_texts, short


@dataclass(frozen=True)
class AliasContext:
    alias: str
    index: str  # the index (or pattern) the user searches on the remote
    local: SideEvidence
    remote: SideEvidence | None
    now: datetime
    texts: tuple[Text, ...] = field(default=())

    @classmethod
    def build(
        cls,
        alias: str,
        index: str,
        local: SideEvidence,
        remote: SideEvidence | None,
        now: datetime,
    ) -> AliasContext:
        texts: list[Text] = []
        search = local.call(search_key(alias, index))
        if search is not None and search.body is not None:
            texts += error_texts(search.body, f"local POST /{alias}:{index}/_search")
        resolve = local.body(resolve_key(alias, index))
        if isinstance(resolve, Mapping):
            entry = resolve.get(alias) or {}
            if isinstance(entry.get("error"), str):
                texts.append(
                    Text(f"local GET /_resolve/cluster/{alias}:{index}", entry["error"], None)
                )
        health = local.body(ISTHMUS_HEALTH)  # Isthmus only: the node's own last error
        if isinstance(health, Mapping):
            mine = (health.get("remotes") or {}).get(alias) or {}
            last = current_health_error(mine) if isinstance(mine, Mapping) else None
            if last is not None and isinstance(last.get("message"), str):
                texts.append(Text(f"local {ISTHMUS_HEALTH} last_error", last["message"], None))
        return cls(alias, index, local, remote, now, tuple(texts))

    # --- the alias on the local cluster ---------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        return self.local.remote_settings().get(self.alias, {})

    @property
    def info(self) -> Mapping[str, Any] | None:
        return self.local.remote_info(self.alias)

    @property
    def mode(self) -> str:
        info = self.info or {}
        return str(info.get("mode") or self.settings.get("mode") or "sniff")

    @property
    def addresses(self) -> tuple[str, ...]:
        """Where the alias points: the proxy address, or the seeds."""
        info = self.info or {}
        if self.mode == "proxy":
            value = info.get("proxy_address") or self.settings.get("proxy_address")
            return (str(value),) if value else ()
        seeds = info.get("seeds") or self.settings.get("seeds") or ()
        if isinstance(seeds, str):
            seeds = [s.strip() for s in seeds.strip("[]").split(",") if s.strip()]
        return tuple(str(s) for s in seeds)

    @property
    def has_credentials(self) -> bool:
        """The answering node uses the API-key model for this alias (ES shows the redacted
        marker in _remote/info exactly then)."""
        info = self.info or {}
        return info.get("cluster_credentials") == REDACTED

    @property
    def credential_setting(self) -> str:
        return f"cluster.remote.{self.alias}.credentials"

    @property
    def local_version(self) -> tuple[int, int, int] | None:
        return self.local.version

    def search_result(self) -> Any:
        result = self.local.call(search_key(self.alias, self.index))
        return result

    def resolve_entry(self) -> Mapping[str, Any] | None:
        body = self.local.body(resolve_key(self.alias, self.index))
        if isinstance(body, Mapping) and isinstance(body.get(self.alias), Mapping):
            out: Mapping[str, Any] = body[self.alias]
            return out
        return None

    # --- where the alias points, seen from the remote ----------------------------------------

    def address_kind(self) -> tuple[str, list[str]] | None:
        """With the remote's ``_nodes``: what the alias's addresses are on the remote
        ("remote_cluster", "transport", "http" or "unknown") and the nodes they belong to.
        None without remote evidence."""
        if self.remote is None or not self.remote.nodes:
            return None
        wanted = {_norm(a) for a in self.addresses}
        for kind, table in (
            ("remote_cluster", self.remote.remote_cluster_server_addresses()),
            ("transport", self.remote.transport_addresses()),
            ("http", self.remote.http_addresses()),
        ):
            nodes = [n for n, addrs in table.items() if wanted & {_norm(a) for a in addrs}]
            if nodes:
                return kind, nodes
        return "unknown", []

    def remote_server_addresses(self) -> list[str]:
        if self.remote is None:
            return []
        return [a[0] for a in self.remote.remote_cluster_server_addresses().values() if a]

    def local_node_names(self) -> list[str]:
        return sorted(str(n.get("name")) for n in self.local.nodes.values())


def health_time(value: Any) -> datetime | None:
    """A time of the health endpoint's answer (UTC when it names no zone)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# The stages a credential decides (the remote cluster handshake authenticates the key).
_CREDENTIAL_STAGES = frozenset({"handshake", "authentication", "authorization"})


def current_health_error(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The last error, unless a success came after it (then it is history), or a keystore
    reload did and the error was about the credential (the key it refused is gone)."""
    last = entry.get("last_error")
    if not isinstance(last, Mapping) or not isinstance(last.get("stage"), str):
        return None
    when, success = health_time(last.get("time")), health_time(entry.get("last_success"))
    if success is not None and (when is None or when <= success):
        return None
    credentials = entry.get("credentials")
    reloaded = (
        health_time(credentials.get("reloaded_at")) if isinstance(credentials, Mapping) else None
    )
    if (
        reloaded is not None
        and last["stage"] in _CREDENTIAL_STAGES
        and (when is None or when <= reloaded)
    ):
        return None
    return last


def _norm(address: str) -> str:
    """``host:port`` for comparison (``[::1]:9443`` and ``localhost`` are left as they are)."""
    address = address.strip()
    if "/" in address:  # ES publishes "name/1.2.3.4:9300" at times
        address = address.split("/", 1)[1]
    return address.lower()


# --- building results ------------------------------------------------------------------------


def finding(
    code: str,
    message: str,
    *,
    side: Side | None = None,
    nodes: Sequence[str] = (),
    fix: Fix | None = None,
    evidence: Sequence[Evidence] = (),
    confidence: Confidence = Confidence.CERTAIN,
    candidates: Sequence[str] = (),
    would_decide: Sequence[str] = (),
    ruled_out: Sequence[str] = (),
) -> Finding:
    known = cause(code)
    return Finding(
        stage=known.stage,
        cause=code,
        side=side if side is not None else known.side,
        message=message,
        nodes=tuple(nodes),
        fix=fix,
        evidence=tuple(evidence),
        confidence=confidence,
        candidates=tuple(candidates),
        would_decide=tuple(would_decide),
        ruled_out=tuple(ruled_out),
    )


def said(hit: tuple[Text, re.Match[str]], code: str, message: str, **more: Any) -> Finding:
    """The finding ``code`` stated by one error text of the local cluster (``find``'s hit),
    which is its evidence."""
    return finding(code, message, evidence=(text_evidence(hit[0]),), **more)


def failed(f: Finding) -> StageResult:
    return StageResult(f.stage, Outcome.FAILED, (f,), f.evidence)


def undecided(stage: Stage, f: Finding) -> StageResult:
    """A stage the evidence points at without naming the cause: ``f`` lists the candidates."""
    return StageResult(stage, Outcome.UNDECIDED, (f,), f.evidence)


def passed(stage: Stage, *evidence: Evidence) -> StageResult:
    return StageResult(stage, Outcome.PASSED, (), tuple(evidence))


def text_evidence(t: Text) -> Evidence:
    prefix = f"[{t.type}] " if t.type else ""
    return Evidence(t.source, short(prefix + t.text))


def new_key_steps(ctx: AliasContext) -> tuple[str, ...]:
    """A new cross-cluster key created on the remote, then stored and reloaded: the keystore
    step is given the value the first step returns."""
    return (create_key(ctx.alias, ctx.index), *reload_steps(ctx))


def reload_steps(ctx: AliasContext) -> tuple[str, ...]:
    # -f: the same step adds a missing entry and replaces a wrong one (without it the keystore
    # asks before overwriting, and a pasted key is not a "y").
    return (
        keystore_add(
            ctx.credential_setting,
            force=True,
            note="on every local node; paste the cross-cluster key's `encoded` value",
        ),
        RELOAD,
        'GET /_remote/info   # expect "cluster_credentials": "::es_redacted::"',
    )
