"""The console's routes: the page, its assets and its JSON endpoints, behind the node's guard.

Each route names an action, so the guard authenticates and authorizes it like any REST API:
reading the console and its remote rows is ``monitor`` (as ``_remote/info`` and the remote
health API), diagnosing runs the doctor as the caller (every call it makes is authorized again
as that caller; the effective privileges likewise, or as a user the caller may run as), and
probing an address from the node (the wizard) opens connections to a host
the caller names, so it takes ``manage``; creating a key on a remote and writing it into this
node's keystore (the wizard's credential step) changes the node's secrets, which ES has no API
for: it takes ``manage_security`` (or ``all``), its action being a security action, which
``manage`` excludes. The action names are REST-only names: they live here
with their routes (``isthmus.wire.names`` holds only names that cross a transport connection).

Static files are package data read once at first request; every answer carries a
Content-Security-Policy that allows the node itself and nothing else, so the page makes no
external request even if a remote's error text carried a URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import orjson

from isthmus.console.redaction import scrubbed
from isthmus.errors import IllegalArgumentError, NoSuchRemoteClusterError
from isthmus.http.handlers.health import HealthApiDeps
from isthmus.http.router import Request, Response, Route, route

if TYPE_CHECKING:
    from isthmus.http.assembly import RestComponents
    from isthmus.security.node_tls import NodeTls
    from isthmus.security.secure_settings import SecureSettingsHolder
    from isthmus.settings.secret import Secret

log = logging.getLogger("isthmus.console")

CONSOLE_ACTION = "cluster:monitor/isthmus/console"
DIAGNOSE_ACTION = "cluster:monitor/isthmus/console/diagnose"
PROBE_ACTION = "cluster:admin/isthmus/console/probe"
REMOTE_KEY_ACTION = "cluster:admin/xpack/security/isthmus/console/remote_key"
PREFIX = "/_isthmus/console"

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def asset(name: str) -> bytes:
    return files("isthmus.console").joinpath("static", name).read_bytes()


@dataclass(frozen=True)
class ConsoleDeps:
    """What the console reads: the health family's record (the remote service and its live
    health), the node's TLS (the wizard's probes use its client contexts), its keystore (a
    stored credential to try; every value scrubbed from answers) and the node's REST app
    itself (the doctor's calls, in process)."""

    health: HealthApiDeps
    tls: NodeTls
    secure_settings: SecureSettingsHolder
    app: Callable[[], Any]

    def keystore_values(self) -> list[str]:
        return [s.reveal() for s in self.secure_settings.secrets().values()]

    def credential(self, alias: str) -> Secret | None:
        return self.secure_settings.get(f"cluster.remote.{alias}.credentials")


_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


def _self_url(req: Request) -> str:
    """The URL the caller used for this node (what the doctor's evidence names); the calls
    themselves never leave the process. A Host header that is no host:port is not used."""
    host = req.headers.get("host") or ""
    return f"http://{host if _HOST.fullmatch(host) else 'localhost'}"


def _since(raw: str | None) -> datetime:
    """``since`` as an ISO time (what the page sends: the last verdict's time), else the
    default window before now."""
    from isthmus.console.diagnose import DEFAULT_WINDOW

    if not raw:
        return datetime.now(UTC) - DEFAULT_WINDOW
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise IllegalArgumentError(
            f"failed to parse [since] with value [{raw}]: an ISO 8601 date-time is expected"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _json(body: Any) -> Response:
    return Response(200, body, headers=dict(SECURITY_HEADERS))


def console_routes(components: RestComponents, app: Callable[[], Any]) -> list[Route]:
    """The console's routes for a node (``app``: the node's REST app, once built)."""
    health = HealthApiDeps(
        components.node,
        components.cluster_actions,
        components.disk,
        components.remote,
        components.probe_settings,
    )
    return routes(ConsoleDeps(health, components.tls, components.secure_settings, app))


def routes(s: ConsoleDeps) -> list[Route]:
    from isthmus.console.remotes import remotes_view

    async def page(req: Request) -> Response:
        return await static(req, "index.html")

    async def static(req: Request, name: str | None = None) -> Response:
        name = name or req.path_params["file"]
        if name not in ASSETS:
            raise IllegalArgumentError(f"no console asset [{name}]")
        return Response(200, asset(name), content_type=ASSETS[name], headers=dict(SECURITY_HEADERS))

    async def remotes(req: Request) -> Response:
        from isthmus.console.key_records import credential_expiry, read_records
        from isthmus.console.privileges import key_id_of

        records = read_records(s.health.node.settings.config_dir)

        def key_expiry(alias: str) -> dict[str, Any]:
            return credential_expiry(records.get(alias), key_id_of(s.credential(alias)))

        return _json(remotes_view(s.health, key_expiry if records else None))

    async def diagnose(req: Request) -> Response:
        from isthmus.console.diagnose import run_doctor, verdict_view
        from isthmus.console.redaction import credential_forms

        alias = req.path_params["alias"]
        remote = s.health.remote
        if remote.enabled and alias not in remote.aliases():
            raise NoSuchRemoteClusterError(alias)
        index = req.params.get("index") or "*"
        authorization = req.headers.get("authorization")
        settings = s.health.node.settings
        report = await run_doctor(
            s.app(),
            _self_url(req),
            authorization,
            alias,
            index=index,
            config_dir=settings.config_dir,
            logs_dir=settings.path_logs,
            since=_since(req.params.get("since")),
        )
        secrets = credential_forms(authorization) + s.keystore_values()
        return _json(verdict_view(report, alias, secrets))

    async def privileges(req: Request) -> Response:
        from isthmus.console.privileges import effective_privileges, key_id_of
        from isthmus.console.redaction import credential_forms
        from isthmus.remote.security_model import SecurityModel

        alias = req.path_params["alias"]
        connection = s.health.remote.get(alias)  # 404 for an unknown alias, as _remote/info
        stored = s.credential(alias)
        authorization = req.headers.get("authorization")
        answer = await effective_privileges(
            s.app(),
            _self_url(req),
            authorization,
            alias,
            req.params.get("index") or "*",
            username=req.params.get("username") or None,
            api_key_model=connection.model is SecurityModel.API_KEY,
            key_id=key_id_of(stored),
        )
        secrets = credential_forms(authorization) + s.keystore_values()
        return _json(scrubbed(answer, secrets))

    async def probe(req: Request) -> Response:
        from isthmus.console.wizard import WizardRequest, probe_addresses

        try:
            body = orjson.loads(req.body) if req.has_body else None
        except orjson.JSONDecodeError as exc:
            raise IllegalArgumentError(f"request body is not JSON: {exc}") from None
        wanted = WizardRequest.parse(body)
        stored = s.credential(wanted.alias)
        settings = s.health.node.settings
        answer = await probe_addresses(wanted, s.tls, stored, settings.cluster_name)

        secrets = s.keystore_values() + ([wanted.credential.reveal()] if wanted.credential else [])
        return _json(scrubbed(answer, secrets))

    async def remote_key(req: Request) -> Response:
        from isthmus.console.redaction import credential_forms
        from isthmus.console.remote_key import KeyRequest, create_and_store, outcome_view

        try:
            body = orjson.loads(req.body) if req.has_body else None
        except orjson.JSONDecodeError as exc:
            raise IllegalArgumentError(f"request body is not JSON: {exc}") from None
        wanted = KeyRequest.parse(body)
        client = s.tls.remote_cluster_client_config
        node_cas = client.certificate_authorities if client is not None else ()
        node = s.health.node
        outcome = await create_and_store(wanted, node_cas, node.settings.config_dir)
        others = [(n.id, n.name) for n in node.view.nodes if n.id != node.node_id]
        answer = outcome_view(wanted, outcome, (node.node_id, node.local.name), others)
        key = outcome.remote.key if outcome.remote is not None else None
        created = [str(key.get(k) or "") for k in ("encoded", "api_key")] if key else []
        if key is not None:
            # Who changed this node's secrets, and with what (no secret): the audit line.
            user = getattr(req.subject, "username", None) or "(security off)"
            log.info(
                "console: user [%s] created cross-cluster API key [%s] (id [%s]) on [%s] for "
                "remote cluster [%s]; %s",
                user,
                key.get("name"),
                key.get("id"),
                wanted.remote_url,
                wanted.alias,
                "stored in this node's keystore"
                if outcome.stored is not None
                else f"NOT stored: {outcome.keystore_error}",
            )
        secrets = (
            credential_forms(req.headers.get("authorization"))
            + s.keystore_values()
            + wanted.secrets()
            + created
        )
        return _json(scrubbed(answer, secrets))

    return [
        # With or without the last "/"; ``poll``: seconds between readings (read by the page).
        route("GET", PREFIX, page, params=("poll",), action=CONSOLE_ACTION),
        route("GET", f"{PREFIX}/static/{{file}}", static, action=CONSOLE_ACTION),
        route("GET", f"{PREFIX}/api/remotes", remotes, action=CONSOLE_ACTION),
        route(
            ["GET", "POST"],
            f"{PREFIX}/api/diagnose/{{alias}}",
            diagnose,
            params=("index", "since"),
            action=DIAGNOSE_ACTION,
            body=False,
        ),
        route(
            "GET",
            f"{PREFIX}/api/privileges/{{alias}}",
            privileges,
            params=("index", "username"),
            action=DIAGNOSE_ACTION,
        ),
        route("POST", f"{PREFIX}/api/probe", probe, action=PROBE_ACTION),
        route("POST", f"{PREFIX}/api/remote_key", remote_key, action=REMOTE_KEY_ACTION),
    ]
