"""The add/edit wizard's check: probe an address from this node before anything is saved.

The wizard sends what the user typed (alias, mode, model, addresses, server name, optionally a
cross-cluster key to try); this module reads it strictly (ES's own messages for a bad address),
probes every address at once with the doctor's probe (:func:`isthmus.doctor.probe.probe_remote`:
DNS, TCP, which protocol answers, TLS with the CA this node would use, the handshake, and the
credentials when there is one) using this node's own client TLS context for the model, and
answers, per address, the stage ladder and whether it may be saved. An address answering with
the wrong protocol (an HTTP port, the transport port for the API-key model) fails the protocol
stage: the wizard refuses it and says what answers there.

It also answers the exact ``PUT _cluster/settings`` body the wizard will send on confirm (the
page sends it itself, as the user: nothing here writes a setting), and, for the API-key model,
the keystore and reload steps. The key to try is used for this probe only: never stored, never
logged, never echoed (the probe redacts it from everything it says).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isthmus.console.words import STAGE_WORDS, cause_words
from isthmus.doctor.model import Outcome, Stage
from isthmus.errors import IllegalArgumentError, SettingsError
from isthmus.remote.security_model import SecurityModel
from isthmus.settings.remote_keys import parse_address
from isthmus.settings.secret import Secret

if TYPE_CHECKING:
    import ssl

    from isthmus.doctor.probe import ProbeReport
    from isthmus.security.node_tls import NodeTls

PROBE_TIMEOUT = 5.0
MAX_ADDRESSES = 16
# ES's alias rule for cluster.remote.<alias>: no ':' and no whitespace; we also refuse '.' (a
# settings key separator) and anything a URL would have to escape.
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,128}")


@dataclass(frozen=True)
class WizardRequest:
    alias: str
    mode: str  # "proxy" | "sniff"
    model: SecurityModel
    addresses: tuple[str, ...]
    server_name: str | None
    skip_unavailable: bool
    credential: Secret | None  # a key to try; None: the keystore's, if any

    @classmethod
    def parse(cls, body: Any) -> WizardRequest:
        if not isinstance(body, Mapping):
            raise IllegalArgumentError("request body is required")
        alias = str(body.get("alias") or "")
        if not ALIAS_PATTERN.fullmatch(alias):
            raise IllegalArgumentError(
                f"invalid remote cluster alias [{alias}]: use letters, digits, '_' and '-'"
            )
        mode = str(body.get("mode") or "proxy")
        if mode not in ("proxy", "sniff"):
            raise IllegalArgumentError(f"No enum constant ConnectionStrategy.{mode.upper()}")
        model_name = str(body.get("security_model") or "api_key")
        try:
            model = SecurityModel(model_name)
        except ValueError:
            raise IllegalArgumentError(f"unknown security model [{model_name}]") from None
        raw = body.get("addresses")
        addresses = tuple(str(a).strip() for a in (raw if isinstance(raw, list) else [raw]) if a)
        if not addresses:
            raise IllegalArgumentError("at least one address (host:port) is required")
        if mode == "proxy" and len(addresses) > 1:
            raise IllegalArgumentError("proxy mode takes exactly one proxy_address")
        if len(addresses) > MAX_ADDRESSES:
            raise IllegalArgumentError(f"at most {MAX_ADDRESSES} seeds can be checked at once")
        for address in addresses:
            try:
                parse_address(address)
            except SettingsError as exc:
                raise IllegalArgumentError(exc.reason) from None
        credential = body.get("credential")
        return cls(
            alias,
            mode,
            model,
            addresses,
            str(body.get("server_name") or "") or None,
            bool(body.get("skip_unavailable", True)),
            Secret(str(credential)) if credential else None,
        )

    def settings(self) -> dict[str, Any]:
        """The ``persistent`` settings the wizard writes on confirm (the other mode's keys set
        to null, as a switch of mode needs)."""
        prefix = f"cluster.remote.{self.alias}"
        out: dict[str, Any] = {f"{prefix}.mode": self.mode}
        if self.mode == "proxy":
            out[f"{prefix}.proxy_address"] = self.addresses[0]
            out[f"{prefix}.server_name"] = self.server_name
            out[f"{prefix}.seeds"] = None
        else:
            out[f"{prefix}.seeds"] = list(self.addresses)
            out[f"{prefix}.proxy_address"] = None
            out[f"{prefix}.server_name"] = None
        out[f"{prefix}.skip_unavailable"] = self.skip_unavailable
        return out


def _client_ssl(tls: NodeTls, model: SecurityModel) -> ssl.SSLContext | None:
    """The context this node's connections for ``model`` use (None: plaintext)."""
    if model is SecurityModel.API_KEY:
        return tls.remote_cluster_client
    return tls.transport_client


def _candidate_cas(tls: NodeTls) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(p for c in tls.configs for p in c.certificate_authorities))


async def probe_addresses(
    request: WizardRequest,
    tls: NodeTls,
    stored: Secret | None,
    cluster_name: str,
    *,
    timeout: float = PROBE_TIMEOUT,
) -> dict[str, Any]:
    """Probe every address of ``request`` at once; ``stored``: the keystore's credential for
    the alias (tried when the user gave none)."""
    from isthmus.doctor.probe import ProbeTarget, probe_remote

    api_key = request.model is SecurityModel.API_KEY
    credential = (request.credential or stored) if api_key else None
    targets = []
    for address in request.addresses:
        parsed = parse_address(address)
        targets.append(
            ProbeTarget(
                alias=request.alias,
                host=parsed.host,
                port=parsed.port,
                server_name=request.server_name,
                model=request.model,
                client_ssl=_client_ssl(tls, request.model),
                candidate_cas=_candidate_cas(tls),
                credential=credential,
                local_cluster_name=cluster_name,
                timeout=timeout,
                mode=request.mode,
            )
        )
    reports = await asyncio.gather(*(probe_remote(t) for t in targets))
    checked = [_address_view(r, api_key=api_key, credential=credential) for r in reports]
    return {
        "alias": request.alias,
        "ok": all(c["ok"] for c in checked),
        "addresses": checked,
        "credential": "given" if request.credential else "keystore" if credential else "none",
        "settings": {"persistent": request.settings()},
        "keystore_steps": _keystore_steps(request.alias) if api_key else [],
    }


def _address_view(
    report: ProbeReport, *, api_key: bool, credential: Secret | None
) -> dict[str, Any]:
    stages = []
    for result in report.stages:
        entry = result.to_json()
        entry["words"] = STAGE_WORDS[result.stage]
        for finding in entry["findings"]:
            finding["cause_words"] = cause_words(finding["cause"])
        stages.append(entry)
    failed = report.failed
    # Without a key the API-key handshake cannot be tried: the probe stops after TLS and the
    # address may still be saved (the key is added to the keystore next).
    untested = api_key and credential is None
    ok = failed is None or (untested and failed.stage in (Stage.HANDSHAKE, Stage.AUTHENTICATION))
    if failed is not None and not ok:
        verdict = failed.findings[0].message if failed.findings else failed.outcome.value
    else:
        verdict = None
    reached = [r.stage.value for r in report.stages if r.outcome is Outcome.PASSED]
    return {
        "address": report.address,
        "ok": ok,
        "failed_stage": failed.stage.value if failed is not None and not ok else None,
        "failed_words": STAGE_WORDS[failed.stage] if failed is not None and not ok else None,
        "message": verdict,
        "passed": reached,
        "stages": stages,
        "remote": report.to_json()["remote"],
        "elapsed_seconds": round(report.elapsed, 3),
    }


def _keystore_steps(alias: str) -> list[str]:
    """How the API-key model's credential gets to this cluster (ES's commands, Isthmus's)."""
    name = f"cluster.remote.{alias}.credentials"
    return [
        "on the remote cluster: POST /_security/cross_cluster/api_key "
        '{"name": "' + alias + '-key", "access": {"search": [{"names": ["*"]}]}}',
        f"on every local node: isthmus keystore add {name}   # paste the key's encoded value",
        "on the local cluster: POST /_nodes/reload_secure_settings",
    ]
