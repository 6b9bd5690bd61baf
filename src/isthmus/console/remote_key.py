"""The wizard's credential step for the API-key model: create the key on the remote, store it here.

What a user would otherwise do in three places (``POST /_security/cross_cluster/api_key`` on the
remote, ``isthmus keystore add cluster.remote.<alias>.credentials`` on every node, then the
reload), done from the page for *this* node:

1. The node calls the remote cluster's REST API at the URL the user typed, with the user name and
   password the user typed (basic authentication: ES refuses to create a cross-cluster key through
   an API key), asking for the access the user chose (``search`` and/or ``replication`` index
   patterns) and the optional ``expiration``. An ``https`` URL is verified, with the CA
   certificates the user pasted (PEM) or else the node's
   ``xpack.security.remote_cluster_client.ssl.certificate_authorities`` (else the system's
   trust): never unverified. The remote's error is answered in the remote's own words (its
   ``type`` and ``reason``, its status).
2. The encoded key goes straight into this node's keystore as
   ``cluster.remote.<alias>.credentials``, under the keystore writers' lock and by an atomic
   replace (:mod:`isthmus.security.keystore`); a password-protected keystore needs its password
   from the user. A missing keystore is created (with the password given, if any), as
   ``isthmus keystore add -f`` creates one.
3. What the key is (id, name, expiration: no secret) is recorded beside the keystore in
   ``isthmus.remote_keys.json`` (:mod:`isthmus.console.key_records`), so the remote clusters view
   can say when the key expires while the keystore still holds that key.

The page then reloads this node's secure settings (ES's ``POST _nodes/<id>/reload_secure_settings``),
probes again and saves the cluster settings on the user's confirmation.

Secrets: the remote's password, the keystore's password and the created key are used here only:
never stored (but the key, in the keystore), never logged, never in an answer (the route scrubs
every one of them from what it answers, on top of never putting them in). The key itself is not
shown even once: the keystore is where it goes. Other nodes' keystores are not written (ES has
no API for it): the answer lists them with the command that copies the entry to each.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from isthmus.console.key_records import record_key
from isthmus.console.wizard import ALIAS_PATTERN
from isthmus.errors import IllegalArgumentError, KeystoreError
from isthmus.settings.secret import Secret

REMOTE_TIMEOUT = 10.0  # seconds for the remote's answer (key creation is one small write)
MAX_PATTERNS = 64
MAX_ANSWER_BYTES = 1 << 20
CREATE_PATH = "/_security/cross_cluster/api_key"


def credential_setting(alias: str) -> str:
    return f"cluster.remote.{alias}.credentials"


@dataclass(frozen=True)
class KeyRequest:
    """What the page sends to create and store the key (secrets wrapped, never printable)."""

    alias: str
    remote_url: str  # scheme://host:port[/path], no credentials in it
    username: str
    password: Secret
    ca_pem: str | None
    search: tuple[str, ...]
    replication: tuple[str, ...]
    name: str
    expiration: str | None
    keystore_password: Secret | None

    @classmethod
    def parse(cls, body: Any) -> KeyRequest:
        if not isinstance(body, Mapping):
            raise IllegalArgumentError("request body is required")
        alias = str(body.get("alias") or "")
        if not ALIAS_PATTERN.fullmatch(alias):
            raise IllegalArgumentError(
                f"invalid remote cluster alias [{alias}]: use letters, digits, '_' and '-'"
            )
        url = _remote_url(body.get("remote_url"))
        username = str(body.get("username") or "")
        password = str(body.get("password") or "")
        if not username or not password:
            raise IllegalArgumentError(
                "the remote cluster's user name and password are required (a cross-cluster "
                "API key cannot be created through an API key)"
            )
        search = _patterns(body.get("search"), "search")
        replication = _patterns(body.get("replication"), "replication")
        if not search and not replication:
            raise IllegalArgumentError(
                "the key needs access: give index patterns for search, replication or both"
            )
        ca = body.get("certificate_authorities")
        if ca is not None and not isinstance(ca, str):
            raise IllegalArgumentError("[certificate_authorities] must be PEM text")
        keystore_password = body.get("keystore_password")
        return cls(
            alias,
            url,
            username,
            Secret(password),
            _pem(ca.strip()) if isinstance(ca, str) and ca.strip() else None,
            search,
            replication,
            str(body.get("name") or f"{alias}-console"),
            str(body.get("expiration") or "") or None,
            Secret(str(keystore_password)) if keystore_password else None,
        )

    def secrets(self) -> list[str]:
        """What must never appear in an answer: the passwords, in every form a request has."""
        token = base64.b64encode(f"{self.username}:{self.password.reveal()}".encode()).decode()
        out = [self.password.reveal(), token]
        if self.keystore_password is not None:
            out.append(self.keystore_password.reveal())
        return out

    def body(self) -> dict[str, Any]:
        """``POST /_security/cross_cluster/api_key``'s body."""
        access: dict[str, Any] = {}
        if self.search:
            access["search"] = [{"names": list(self.search)}]
        if self.replication:
            access["replication"] = [{"names": list(self.replication)}]
        out: dict[str, Any] = {"name": self.name, "access": access}
        if self.expiration:
            out["expiration"] = self.expiration
        return out


def _remote_url(raw: Any) -> str:
    text = str(raw or "").strip().rstrip("/")
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        # The URL is not echoed: it carries a password.
        raise IllegalArgumentError(
            "the remote cluster's URL must not carry credentials: give them as user and password"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IllegalArgumentError(
            f"invalid remote cluster URL [{text}]: expected http(s)://host:port"
        )
    try:
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        raise IllegalArgumentError(f"invalid remote cluster URL [{text}]: bad port") from None
    if parts.query or parts.fragment:
        raise IllegalArgumentError(f"invalid remote cluster URL [{text}]: no query or fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # The remote administrator's password and the new key would cross the network in clear.
        raise IllegalArgumentError(
            f"invalid remote cluster URL [{text}]: use https (the password and the key would "
            "travel in clear text over http; http is accepted for a loopback address only)"
        )
    return text


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _patterns(raw: Any, what: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise IllegalArgumentError(f"[{what}] must be a list of index patterns")
    out = tuple(p for p in (str(i).strip() for i in items) if p)
    if len(out) > MAX_PATTERNS:
        raise IllegalArgumentError(f"[{what}] takes at most {MAX_PATTERNS} index patterns")
    return out


def trust_context(ca_pem: str | None, node_cas: Sequence[Path]) -> ssl.SSLContext:
    """A verifying client context (hostname checked): the pasted CAs, else the node's remote
    cluster client CAs, else the system's trust."""
    if ca_pem:
        return ssl.create_default_context(cadata=ca_pem)
    if node_cas:
        context = ssl.create_default_context(cafile=str(node_cas[0]))
        for path in node_cas[1:]:
            context.load_verify_locations(cafile=str(path))
        return context
    return ssl.create_default_context()


def _pem(text: str) -> str:
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise IllegalArgumentError(
            "[certificate_authorities] must hold PEM certificates (-----BEGIN CERTIFICATE-----)"
        )
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise IllegalArgumentError(f"[certificate_authorities] cannot be read: {exc}") from None
    return text


@dataclass(frozen=True)
class RemoteAnswer:
    """The remote's answer: ``key`` on success, else its status and ``error`` (ES's words)."""

    status: int | None
    key: dict[str, Any] | None
    error: dict[str, Any] | None


async def create_key(request: KeyRequest, node_cas: Sequence[Path]) -> RemoteAnswer:
    """Ask the remote for the key; a refusal or an unreachable remote is an answer, not a
    raise (the page shows it as the step's result)."""
    verify: ssl.SSLContext | bool = False
    if request.remote_url.startswith("https://"):
        verify = trust_context(request.ca_pem, node_cas)
    auth = base64.b64encode(f"{request.username}:{request.password.reveal()}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    try:
        async with (
            httpx.AsyncClient(
                verify=verify, timeout=REMOTE_TIMEOUT, trust_env=False, follow_redirects=False
            ) as client,
            client.stream(
                "POST", request.remote_url + CREATE_PATH, json=request.body(), headers=headers
            ) as response,
        ):
            data = await _read_capped(response)
    except httpx.HTTPError as exc:
        # The exception's text is the OS's or TLS's reason, never the headers.
        reason = f"cannot reach [{request.remote_url}]: {str(exc) or type(exc).__name__}"
        return RemoteAnswer(None, None, {"type": "connect_exception", "reason": reason})
    try:
        body = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        body = None
    status = response.status_code
    if status == 200 and isinstance(body, dict) and body.get("encoded"):
        return RemoteAnswer(200, body, None)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = {k: error[k] for k in ("type", "reason", "root_cause") if k in error}
    elif isinstance(error, str):
        error = {"type": "error", "reason": error}
    else:
        reason = f"the remote answered HTTP {status}, not Elasticsearch's JSON"
        error = {"type": "unexpected_response", "reason": reason}
    return RemoteAnswer(status, None, error)


async def _read_capped(response: httpx.Response) -> bytes | None:
    """The answer's body, or None past :data:`MAX_ANSWER_BYTES` (a key's answer is a few
    hundred bytes: anything that large is not Elasticsearch answering)."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > MAX_ANSWER_BYTES:
            return None
    return bytes(data)


def check_keystore(config_dir: Path, password: Secret | None) -> None:
    """Before a key is created: this node's keystore, if it exists, opens with ``password``
    (so a wrong or missing password leaves no orphan key on the remote). Blocking."""
    from isthmus.security.keystore import keystore_exists, load_keystore, read_keystore_header

    if not keystore_exists(config_dir):
        return
    if read_keystore_header(config_dir).has_password and password is None:
        raise KeystoreError(
            "this node's keystore is password-protected: give its password to write it"
        )
    load_keystore(config_dir, password)


def store_key(
    config_dir: Path, alias: str, key: Mapping[str, Any], password: Secret | None
) -> dict[str, Any]:
    """Put the key in this node's keystore (created if missing) and record its facts; blocking
    (the keystore's key derivation): run it in a thread. Raises :class:`KeystoreError`."""
    from isthmus.security.keystore import (
        keystore_exists,
        keystore_path,
        locked,
        save_keystore,
        update_keystore,
    )
    from isthmus.security.keystore_format import new_keystore

    name = credential_setting(alias)
    value = str(key["encoded"])
    # Whether to create is decided under the writers' lock: two requests (or the keystore
    # command) creating it at once must not overwrite each other's entries.
    with locked(config_dir):
        created = not keystore_exists(config_dir)
        if created:
            save_keystore(config_dir, new_keystore().with_string(name, value), password)
    if not created:
        update_keystore(config_dir, password, lambda c: c.with_string(name, value))
    record_key(config_dir, alias, key)
    return {"setting": name, "keystore": str(keystore_path(config_dir)), "created": created}


@dataclass(frozen=True)
class Outcome:
    """Steps 1 and 2: the remote's answer, what was stored, and why the keystore refused."""

    remote: RemoteAnswer | None  # None: not asked (the keystore refused first)
    stored: dict[str, Any] | None
    keystore_error: str | None


async def create_and_store(
    request: KeyRequest, node_cas: Sequence[Path], config_dir: Path
) -> Outcome:
    """Check the keystore opens, create the key on the remote, store it."""
    password = request.keystore_password
    try:
        await asyncio.to_thread(check_keystore, config_dir, password)
    except KeystoreError as exc:
        return Outcome(None, None, exc.reason)
    answer = await create_key(request, node_cas)
    if answer.key is None:
        return Outcome(answer, None, None)
    try:
        stored = await asyncio.to_thread(store_key, config_dir, request.alias, answer.key, password)
    except (KeystoreError, OSError) as exc:
        # Changed between the check and the write (another writer, a full disk): the key is
        # on the remote and nowhere else; the answer names it so it can be invalidated.
        reason = exc.reason if isinstance(exc, KeystoreError) else exc.strerror
        return Outcome(answer, None, str(reason or type(exc).__name__))
    return Outcome(answer, stored, None)


def key_facts(key: Mapping[str, Any]) -> dict[str, Any]:
    """The created key's public facts (never ``api_key`` nor ``encoded``)."""
    from isthmus.console.key_records import credential_expiry

    millis = key.get("expiration")
    record = {"id": key.get("id"), "name": key.get("name"), "expiration": millis}
    expiry = credential_expiry(record, str(key.get("id")))["expiry"]
    return {"id": key.get("id"), "name": key.get("name"), "expiration": expiry}


def outcome_view(
    request: KeyRequest,
    outcome: Outcome,
    node: tuple[str, str],
    others: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The page's answer: each step's result in words, and what comes next (this node's
    reload; for each other node, the command that copies the entry into its keystore)."""
    setting = credential_setting(request.alias)
    steps: list[dict[str, Any]] = []
    remote = outcome.remote
    if remote is None:
        steps.append(
            {
                "step": "keystore",
                "ok": False,
                "message": f"this node's keystore cannot be written: {outcome.keystore_error}; "
                "no key was created on the remote",
            }
        )
    elif remote.key is None:
        error = remote.error or {}
        said = f"[{error.get('type')}] {error.get('reason')}"
        where = "the remote refused" if remote.status else "the remote cannot be reached"
        steps.append(
            {
                "step": "create_key",
                "ok": False,
                "status": remote.status,
                "error": error,
                "message": f"{where}: {said}",
            }
        )
    else:
        facts = key_facts(remote.key)
        until = f", expires {facts['expiration']}" if facts["expiration"] else ", no expiry"
        steps.append(
            {
                "step": "create_key",
                "ok": True,
                "key": facts,
                "message": f"created cross-cluster API key [{facts['name']}] "
                f"(id [{facts['id']}]{until}) on the remote",
            }
        )
        if outcome.stored is not None:
            created = " (a new keystore)" if outcome.stored["created"] else ""
            steps.append(
                {
                    "step": "store",
                    "ok": True,
                    "setting": setting,
                    "node": {"id": node[0], "name": node[1]},
                    "message": f"stored as [{setting}] in the keystore of node [{node[1]}]"
                    f"{created}; the key was not shown anywhere",
                }
            )
        else:
            invalidate = 'DELETE /_security/api_key {"ids": ["' + str(facts["id"]) + '"]}'
            steps.append(
                {
                    "step": "store",
                    "ok": False,
                    "message": f"the key could not be stored: {outcome.keystore_error}; it "
                    f"exists on the remote only: invalidate it there with {invalidate}",
                }
            )
    ok = outcome.stored is not None
    return {
        "alias": request.alias,
        "ok": ok,
        "steps": steps,
        "node": {"id": node[0], "name": node[1]},
        # Only this node's keystore was written: reload this node only.
        "reload_path": f"/_nodes/{node[0]}/reload_secure_settings" if ok else None,
        "other_nodes": [
            {
                "id": node_id,
                "name": name,
                "command": f"isthmus keystore show {setting} | "
                f"ssh <host of {name}> isthmus keystore add -f -x {setting}",
            }
            for node_id, name in others
        ]
        if ok
        else [],
    }
