"""Evidence from live clusters: ES public REST APIs over httpx, and configuration directories.

Owns every call the doctor makes (read-only, plus one cross-cluster test search of size 0 per
alias, the request a user would make) and the pruning of each answer to what the rules read,
so a bundle carries no settings, documents or secrets beyond that. Credentials: basic, API key,
a CA file, or a pinned SHA-256 fingerprint (of the server certificate or any certificate of its
chain, as the official clients' ``ssl_assert_fingerprint``). A config directory gives its yml
settings and its keystore's entry *names*; values are never read into the evidence.
It knows nothing about causes: that is the rules' business.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import yaml

from isthmus.doctor import evidence as ev
from isthmus.doctor.evidence import ApiResult, ConfigEvidence, SideEvidence, flatten
from isthmus.doctor.rules_versions import supports_resolve_timeout
from isthmus.errors import IsthmusError
from isthmus.settings.secret import Secret

if TYPE_CHECKING:
    from isthmus.security.keystore_format import KeystoreContents

# A key is secret when its last dotted part is one of these, or ends with "_" + one of the
# suffixes. ``additional_unsuccessful_credentials`` (a reason text) and ``cluster_credentials``
# (already ES's marker) are not values to hide.
_SECRET_KEYS = frozenset(
    {"password", "passphrase", "secret", "api_key", "encoded", "token", "credentials"}
)
_SECRET_SUFFIXES = ("password", "passphrase", "secret", "token")
# Parts of a key name that mark a secret anywhere in it (secret_key, client_secret,
# bind_password, access_key, private_key, secure_url, ...).
_SECRET_WORDS = ("password", "passphrase", "secret", "access_key", "private_key")


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster's REST API."""

    url: str
    username: str | None = None
    password: Secret | None = None
    api_key: Secret | None = None  # the encoded form (base64 of id:secret)
    ca: Path | None = None
    fingerprint: str | None = None  # SHA-256, hex, colons allowed
    timeout: float = 15.0
    # The web console runs the doctor inside a node: its calls go to the node's own REST app
    # in process (an ASGI transport) with the caller's Authorization header, as sent.
    authorization: Secret | None = None
    transport: httpx.AsyncBaseTransport | None = None

    @property
    def public_url(self) -> str:
        """The URL without user information (what evidence and output show)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    def secrets(self) -> list[str]:
        held = (self.password, self.api_key, self.authorization)
        out = [s.reveal() for s in held if s is not None]
        user = urlsplit(self.url).password
        if user:
            out.append(user)
        return [s for s in out if s]


class PinMismatch(Exception):
    pass


def _ssl_context(access: ClusterAccess) -> ssl.SSLContext | bool:
    if access.fingerprint and access.ca is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # trust is the pinned fingerprint, checked per response
        return ctx
    if access.ca is not None:
        return ssl.create_default_context(cafile=str(access.ca))
    return True


def _chain_fingerprints(ssl_object: Any) -> set[str]:
    """SHA-256 of the server certificate and of every certificate the server sent with it (the
    chain is read through Isthmus's one quarantined use of CPython's private ssl internals)."""
    from isthmus.transport.ssl_private import unverified_chain_der

    out: set[str] = set()
    leaf = ssl_object.getpeercert(binary_form=True)
    if leaf:
        out.add(hashlib.sha256(leaf).hexdigest())
    try:
        chain = unverified_chain_der(ssl_object)
    except (AttributeError, ValueError, ssl.SSLError):
        chain = ()
    out.update(hashlib.sha256(der).hexdigest() for der in chain)
    return out


class RestClient:
    """One cluster's REST API: every answer as an :class:`ApiResult`, never an exception."""

    def __init__(self, access: ClusterAccess) -> None:
        self.access = access
        parts = urlsplit(access.url)
        auth: httpx.Auth | None = None
        headers: dict[str, str] = {"Accept": "application/json"}
        if access.authorization is not None:
            headers["Authorization"] = access.authorization.reveal()
        elif access.api_key is not None:
            headers["Authorization"] = f"ApiKey {access.api_key.reveal()}"
        elif access.username is not None:
            password = access.password.reveal() if access.password is not None else ""
            auth = httpx.BasicAuth(access.username, password)
        elif parts.username:
            auth = httpx.BasicAuth(parts.username, parts.password or "")
        self._pin = (access.fingerprint or "").replace(":", "").lower() or None
        self._client = httpx.AsyncClient(
            base_url=access.public_url,
            auth=auth,
            headers=headers,
            verify=_ssl_context(access),
            timeout=access.timeout,
            transport=access.transport,
        )

    async def call(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> ApiResult:
        try:
            response = await self._client.request(
                method, path, json=body, timeout=timeout or self.access.timeout
            )
        except httpx.HTTPError as exc:
            return ApiResult(None, None, f"{type(exc).__name__}: {exc}")
        if self._pin is not None and self.access.public_url.startswith("https"):
            stream = response.extensions.get("network_stream")
            ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
            if ssl_object is None or self._pin not in _chain_fingerprints(ssl_object):
                return ApiResult(
                    None, None, "the server's certificate does not match the pinned fingerprint"
                )
        try:
            data = response.json()
        except ValueError:
            data = {"raw": response.text[:2000]}
        return ApiResult(response.status_code, data)

    async def aclose(self) -> None:
        await self._client.aclose()


# --- pruning: keep what the rules read ---------------------------------------------------------

_NODE_FIELDS = (
    "name",
    "roles",
    "version",
    "transport_address",
    "host",
    "ip",
    "remote_cluster_server",
)
_NODE_SETTINGS = (
    "cluster.remote",
    "remote_cluster_server",
    "remote_cluster",
    "xpack.security.remote_cluster_client.ssl",
    "xpack.security.remote_cluster_server.ssl",
    "xpack.security.transport.ssl",
)
_KEY_FIELDS = (
    "id",
    "name",
    "type",
    "creation",
    "expiration",
    "invalidated",
    "username",
    "realm",
    "access",
)


def prune_nodes(body: Any) -> Any:
    if not isinstance(body, Mapping) or not isinstance(body.get("nodes"), Mapping):
        return body
    nodes: dict[str, Any] = {}
    for node_id, node in body["nodes"].items():
        if not isinstance(node, Mapping):
            continue
        kept: dict[str, Any] = {k: node[k] for k in _NODE_FIELDS if k in node}
        for section in ("transport", "http"):
            if isinstance(node.get(section), Mapping):
                kept[section] = {
                    k: node[section][k]
                    for k in ("bound_address", "publish_address")
                    if k in node[section]
                }
        settings = flatten(node.get("settings") or {})
        kept["settings"] = {
            k: v for k, v in settings.items() if any(k.startswith(p) for p in _NODE_SETTINGS)
        }
        nodes[str(node_id)] = kept
    return {"cluster_name": body.get("cluster_name"), "nodes": nodes}


def prune_keys(body: Any) -> Any:
    if not isinstance(body, Mapping):
        return body
    keys = [
        {k: key[k] for k in _KEY_FIELDS if k in key}
        for key in body.get("api_keys", [])
        if isinstance(key, Mapping)
    ]
    return {"api_keys": keys}


def prune_roles(body: Any) -> Any:
    if not isinstance(body, Mapping):
        return body
    return {
        name: {
            k: v
            for k, v in role.items()
            if k in ("cluster", "indices", "remote_indices", "remote_cluster")
        }
        for name, role in body.items()
        if isinstance(role, Mapping)
    }


def secret_key(key: str) -> bool:
    """Whether a setting or field named ``key`` holds a secret. Generous on purpose: a value
    wrongly hidden costs a little evidence, a secret shown costs the user's credentials."""
    last = key.rsplit(".", 1)[-1].lower()
    return (
        last in _SECRET_KEYS
        or any(last.endswith("_" + s) for s in _SECRET_SUFFIXES)
        or any(word in last for word in _SECRET_WORDS)
        or last.startswith("secure_")
    )


def redact(value: Any) -> Any:
    """Secret-looking keys (passwords, keys, tokens, secure settings) replaced by ES's redaction
    marker, whatever the value's type (a number or a list is as secret as a string)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if secret_key(str(k)) and v is not None and not isinstance(v, Mapping):
                out[k] = ev.REDACTED
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _pruned(result: ApiResult, prune: Any) -> ApiResult:
    if not result.ok:
        return ApiResult(result.status, redact(result.body), result.error)
    return ApiResult(result.status, redact(prune(result.body)), result.error)


# --- the two sides -------------------------------------------------------------------------------


async def collect_local(
    access: ClusterAccess,
    aliases: Sequence[str],
    index: str,
    configs: Sequence[Path] = (),
    *,
    alias_calls: bool = True,
) -> SideEvidence:
    """The local cluster's evidence; ``alias_calls=False`` leaves out the per-alias requests
    (see :func:`collect_alias_calls`, which the CLI runs beside the probes)."""
    client = RestClient(access)
    calls: dict[str, ApiResult] = {}
    try:
        calls[ev.ROOT] = await client.call("GET", "/")
        calls[ev.REMOTE_INFO] = await client.call("GET", "/_remote/info")
        settings = await client.call(
            "GET",
            "/_cluster/settings?include_defaults=true&filter_path="
            "persistent.cluster.remote,transient.cluster.remote,defaults.cluster.remote",
        )
        calls[ev.CLUSTER_SETTINGS] = _pruned(settings, lambda b: b)
        calls[ev.NODES] = _pruned(await client.call("GET", "/_nodes"), prune_nodes)
        calls.update(await _each_node_remote_info(access, calls[ev.NODES]))
        calls[ev.AUTHENTICATE] = _pruned(
            await client.call("GET", "/_security/_authenticate"),
            lambda b: {k: b.get(k) for k in ("username", "roles", "authentication_type")},
        )
        calls[ev.PRIVILEGES] = _pruned(
            await client.call("GET", "/_security/user/_privileges"), lambda b: b
        )
        roles = (
            (calls[ev.AUTHENTICATE].body or {}).get("roles") if calls[ev.AUTHENTICATE].ok else None
        )
        if roles:
            path = "/_security/role/" + quote(",".join(roles), safe=",")
            calls[ev.ROLES] = _pruned(await client.call("GET", path), prune_roles)
        calls[ev.SSL_CERTIFICATES] = await client.call("GET", "/_ssl/certificates")
        # Isthmus only (Elasticsearch answers 400/404 and nothing is lost): what the answering
        # node saw of each alias over time. It holds no secret by design; redacted all the same.
        calls[ev.ISTHMUS_HEALTH] = _pruned(
            await client.call("GET", "/_isthmus/remote/health"), lambda b: b
        )
        if alias_calls:
            known = list(aliases) or _aliases(calls)
            version = SideEvidence(access.public_url, calls).version
            calls.update(await _alias_calls(client, known, index, version))
    finally:
        await client.aclose()
    return SideEvidence(access.public_url, calls, tuple(read_config(p) for p in configs))


async def _each_node_remote_info(access: ClusterAccess, nodes: ApiResult) -> dict[str, ApiResult]:
    """``_remote/info`` of every node of a cluster of several, at each node's HTTP publish
    address with the same credentials: each node has its own keystore and connections, and the
    node the doctor asks speaks for itself only. Not from inside a node (the console's
    in-process calls reach that node only)."""
    body = nodes.body if nodes.ok else None
    listed = body.get("nodes") if isinstance(body, Mapping) else None
    if access.transport is not None or not isinstance(listed, Mapping) or len(listed) < 2:
        return {}
    scheme = urlsplit(access.url).scheme or "http"

    async def one(node: Mapping[str, Any]) -> tuple[str, ApiResult]:
        key = ev.node_remote_info_key(str(node.get("name")))
        address = (node.get("http") or {}).get("publish_address")
        if not address:
            return key, ApiResult(None, None, "the node publishes no HTTP address")
        host = str(address).rsplit("/", 1)[-1]  # ES writes "name/ip:port" when it has a name
        parts = urlsplit(access.url)
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        client = RestClient(replace(access, url=f"{scheme}://{userinfo}{host}"))
        try:
            return key, _pruned(await client.call("GET", "/_remote/info"), lambda b: b)
        finally:
            await client.aclose()

    found = await asyncio.gather(*(one(n) for n in listed.values() if isinstance(n, Mapping)))
    return dict(found)


async def collect_alias_calls(
    access: ClusterAccess, aliases: Sequence[str], index: str, version: tuple[int, int, int] | None
) -> dict[str, ApiResult]:
    client = RestClient(access)
    try:
        return await _alias_calls(client, aliases, index, version)
    finally:
        await client.aclose()


async def _alias_calls(
    client: RestClient, aliases: Sequence[str], index: str, version: tuple[int, int, int] | None
) -> dict[str, ApiResult]:
    """Per alias, at once: ``_resolve/cluster`` (with ES's own ``timeout`` where it exists) and
    the size-0 test search. Each waits at most the access timeout: a remote that holds the
    connection open makes the local node wait for its connect timeout (30 s in ES), and the
    doctor does not; the probe tells what happens there."""
    seconds = client.access.timeout
    params = f"?timeout={max(1, int(seconds))}s" if supports_resolve_timeout(version) else ""

    async def one(alias: str) -> dict[str, ApiResult]:
        target = quote(f"{alias}:{index}", safe=":*,")
        resolve, search = await asyncio.gather(
            client.call("GET", f"/_resolve/cluster/{target}{params}", timeout=seconds + 1),
            client.call(
                "POST", f"/{target}/_search?size=0", {"query": {"match_all": {}}}, timeout=seconds
            ),
        )
        return {
            ev.resolve_key(alias, index): resolve,
            ev.search_key(alias, index): _pruned(
                search,
                lambda b: {
                    k: b[k] for k in ("_shards", "hits", "_clusters", "timed_out") if k in b
                },
            ),
        }

    out: dict[str, ApiResult] = {}
    for part in await asyncio.gather(*(one(a) for a in aliases)):
        out.update(part)
    return out


def _aliases(calls: Mapping[str, ApiResult]) -> list[str]:
    return list(SideEvidence("", dict(calls)).aliases)


async def collect_remote(
    access: ClusterAccess, index: str, configs: Sequence[Path] = (), key_ids: Sequence[str] = ()
) -> SideEvidence:
    """The remote cluster's evidence; ``key_ids``: the cross-cluster keys the local keystores
    hold (see :func:`credential_key_ids`), each read by id (its expiration, its state)."""
    client = RestClient(access)
    calls: dict[str, ApiResult] = {}
    try:
        calls[ev.ROOT] = await client.call("GET", "/")
        calls[ev.NODES] = _pruned(await client.call("GET", "/_nodes"), prune_nodes)
        calls[ev.API_KEYS] = _pruned(await client.call("GET", "/_security/api_key"), prune_keys)
        for key_id in dict.fromkeys(key_ids):
            path = "/_security/api_key?id=" + quote(key_id, safe="")
            calls[ev.api_key_key(key_id)] = _pruned(await client.call("GET", path), prune_keys)
        calls[ev.ROLES] = _pruned(await client.call("GET", "/_security/role"), prune_roles)
        calls[ev.SSL_CERTIFICATES] = await client.call("GET", "/_ssl/certificates")
        calls[ev.resolve_index_key(index)] = await client.call(
            "GET", "/_resolve/index/" + quote(index, safe="*,")
        )
    finally:
        await client.aclose()
    return SideEvidence(access.public_url, calls, tuple(read_config(p) for p in configs))


# The id part of a cross-cluster API key credential (base64 of "<id>:<secret>"): ES's key ids
# are 20 URL-safe base64 characters; anything else is not taken for an id.
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CREDENTIAL = re.compile(r"cluster\.remote\.(?P<alias>[^.]+)\.credentials")


def key_ids_of(contents: KeystoreContents) -> dict[str, str]:
    """alias -> the API key id of its credential; the secret is decoded here and dropped."""
    out: dict[str, str] = {}
    for name in contents.entries:
        match = _CREDENTIAL.fullmatch(name)
        if match is None:
            continue
        try:
            value = contents.get(name)
            decoded = base64.b64decode(value.reveal(), validate=True) if value else b""
            key_id = decoded.decode("utf-8").split(":", 1)[0] if b":" in decoded else ""
        except (IsthmusError, ValueError):
            continue
        if _KEY_ID.fullmatch(key_id):
            out[match["alias"]] = key_id
    return out


def credential_key_ids(configs: Sequence[Path]) -> tuple[str, ...]:
    """The key ids of every alias credential in these config directories' keystores."""
    ids = (i for p in configs for i in read_config(p).credential_key_ids.values())
    return tuple(dict.fromkeys(ids))


def read_config(directory: Path) -> ConfigEvidence:
    """yml settings (secrets redacted), keystore entry names and the key ids of the alias
    credentials of one node's config dir."""
    settings: dict[str, Any] = {}
    for name in ("isthmus.yml", "elasticsearch.yml"):
        path = directory / name
        if path.is_file():
            try:
                tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (yaml.YAMLError, OSError) as exc:
                settings[f"_error.{name}"] = str(exc)
                continue
            settings.update(flatten(tree))
    names: tuple[str, ...] | None = None
    note: str | None = None
    key_ids: dict[str, str] = {}
    if (directory / "isthmus.keystore").is_file():
        from isthmus.security.keystore import load_keystore

        try:
            contents = load_keystore(directory, None)
        except IsthmusError as exc:
            note = f"keystore not readable without its password: {exc.reason}"
        else:
            names, key_ids = tuple(contents.entries), key_ids_of(contents)
    elif (directory / "elasticsearch.keystore").is_file():
        note = (
            "an Elasticsearch keystore: list its names with `bin/elasticsearch-keystore list` "
            "(the doctor does not read its format)"
        )
    else:
        note = "no keystore in this directory"
    return ConfigEvidence(str(directory), redact(settings), names, note, key_ids)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
