"""Effective privileges: what a user may do on ``alias:index``, and which side blocks the rest.

ES's rule for the API-key model: a request is allowed when the user's local ``remote_indices``
grant it **and** the cross-cluster key's ``access`` (held by the remote) covers it; in the
certificate model the remote's role of the same name plays the key's part. The role side is read
here, from the user's own ``GET /_security/user/_privileges`` (the doctor's pattern rules,
:mod:`isthmus.doctor.rules_privileges`). The remote side cannot be read from this cluster, so it
is tried: the user's real requests (a size-0 search, a field-caps), which the remote answers
with the key and role applied. When the role grants and the remote refuses, the remote side
(the key's access, or the remote's role) is what blocks.

Every call goes to this node's REST app in process as the caller, or as ``username`` through ES's
run-as header (the caller needs the ``run_as`` privilege for that user: the guard checks it).
Nothing here changes anything; the fixes are printed, not applied.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from isthmus.doctor.rules_privileges import covers, pattern_matches
from isthmus.errors import SecurityError
from isthmus.settings.secret import Secret

RUN_AS = "es-security-runas-user"
TIMEOUT = 10.0
# What each remote_indices privilege lets a user do on the remote (the actions tried here, and
# the cross-cluster replication a follower needs, which is shown from the role side only).
ACTIONS = (
    ("search", "indices:data/read/search", frozenset({"read", "all"})),
    (
        "field_caps",
        "indices:data/read/field_caps",
        frozenset({"read", "view_index_metadata", "all"}),
    ),
    ("follow", "cross-cluster replication", frozenset({"cross_cluster_replication", "all"})),
)


def key_id_of(credential: Secret | None) -> str | None:
    """The id of a cross-cluster key (base64 of ``id:secret``): not a secret, the remote's name
    for the key."""
    if credential is None:
        return None
    try:
        decoded = base64.b64decode(credential.reveal(), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    key_id, sep, _ = decoded.partition(":")
    return key_id if sep and key_id else None


def role_entries(privileges: Mapping[str, Any], alias: str) -> list[dict[str, Any]]:
    """The user's remote_indices entries whose ``clusters`` match ``alias``."""
    out = []
    for entry in privileges.get("remote_indices", []) or []:
        if isinstance(entry, Mapping) and any(
            pattern_matches(str(c), alias) for c in entry.get("clusters", [])
        ):
            out.append({k: entry[k] for k in ("clusters", "names", "privileges") if k in entry})
    return out


def role_allows(entries: list[dict[str, Any]], index: str, wanted: frozenset[str]) -> bool:
    return any(
        wanted & {str(p) for p in e.get("privileges", [])} and covers(e.get("names", []), index)
        for e in entries
    )


async def effective_privileges(
    app: Any,
    base_url: str,
    authorization: str | None,
    alias: str,
    index: str,
    *,
    username: str | None,
    api_key_model: bool,
    key_id: str | None,
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    if username:
        headers[RUN_AS] = username
    target = quote(f"{alias}:{index}", safe=":*,")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers, timeout=TIMEOUT
    ) as client:
        who, privileges, search, caps = await asyncio.gather(
            client.get("/_security/_authenticate"),
            client.get("/_security/user/_privileges"),
            client.post(f"/{target}/_search?size=0", json={"query": {"match_all": {}}}),
            client.get(f"/{target}/_field_caps?fields=_id"),
        )
    if who.status_code != 200:  # the run-as refused (403), or no such user: ES's own answer
        raise SecurityError(_reason(who), status=who.status_code)
    user = who.json()
    entries = role_entries(privileges.json() if privileges.status_code == 200 else {}, alias)
    tried = {"search": search, "field_caps": caps}
    remote_side = "the cross-cluster API key's access" if api_key_model else "the remote's role"
    rows = []
    for name, action, wanted in ACTIONS:
        role = role_allows(entries, index, wanted)
        answer = tried.get(name)
        row: dict[str, Any] = {"action": name, "es_action": action, "role_allows": role}
        if answer is None:  # not tried (replication would start a follower): the role only,
            # and no fix offered (few users follow; the read fix would be the wrong grant)
            row.update(remote_allows=None, allowed=None, blocked_by=None)
        else:
            ok = answer.status_code == 200
            row.update(
                remote_allows=True if ok else (None if not role else _remote_refused(answer)),
                allowed=ok,
                blocked_by=_blocked_by(ok, role, answer.status_code),
                status=answer.status_code,
                reason=None if ok else _reason(answer),
            )
            if ok and name == "search":
                row["indices"] = _searched(answer.json(), alias)
        rows.append(row)
    blocked = {r["blocked_by"] for r in rows if r["blocked_by"]}
    return {
        "user": {"username": user.get("username"), "roles": user.get("roles", [])},
        "alias": alias,
        "index": index,
        "security_model": "api_key" if api_key_model else "certificate",
        "remote_side": remote_side,
        "role_entries": entries,
        "actions": rows,
        "fixes": _fixes(blocked, user, alias, index, api_key_model, key_id),
    }


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return str(error.get("reason") or error.get("type"))
    return f"HTTP {response.status_code}"


def _blocked_by(ok: bool, role: bool, status: int) -> str | None:
    """The role blocks whatever it does not grant (the rule is an intersection); a refusal of
    what the role grants came from the remote side; any other failure blocks nothing known."""
    if ok:
        return None
    if not role:
        return "role"
    return "remote" if status == 403 else None


def _remote_refused(answer: httpx.Response) -> bool | None:
    """False when the remote refused (a 403 from across the link), None when it says nothing
    about privileges (no index, the link down)."""
    return False if answer.status_code == 403 else None


def _searched(body: Mapping[str, Any], alias: str) -> str | None:
    details = (body.get("_clusters") or {}).get("details") or {}
    entry = details.get(alias) or {}
    return entry.get("indices")


def _fixes(
    blocked: set[str],
    user: Mapping[str, Any],
    alias: str,
    index: str,
    api_key_model: bool,
    key_id: str | None,
) -> list[dict[str, Any]]:
    """The smallest grant on the side that blocks (the doctor's wording)."""
    out = []
    if "role" in blocked:
        roles = user.get("roles") or []
        role = roles[0] if roles else f"<a role of {user.get('username')}>"
        entry = {
            "clusters": [alias],
            "names": [index],
            "privileges": ["read", "read_cross_cluster"],
        }
        out.append(
            {
                "side": "local",
                "summary": f"grant [{user.get('username')}] read on [{alias}:{index}] with a "
                "remote_indices entry",
                "steps": [
                    f"PUT /_security/role/{role}  # keep the role's other fields, add to "
                    "remote_indices: " + orjson.dumps(entry).decode()
                ],
            }
        )
    if "remote" in blocked:
        if api_key_model:
            name = key_id or "<id of the key in cluster.remote." + alias + ".credentials>"
            step = (
                f"on the remote cluster: PUT /_security/cross_cluster/api_key/{name}  # keep "
                'the key\'s access, add to access.search: {"names": ["' + index + '"]}'
            )
            summary = f"let the cross-cluster key search [{index}] (on the remote)"
        else:
            roles = ",".join(user.get("roles") or [])
            step = (
                f"on the remote cluster: PUT /_security/role/<{roles}>  # a role of the same "
                f'name, with indices: [{{"names": ["{index}"], "privileges": ["read"]}}]'
            )
            summary = f"grant the same-named role read on [{index}] on the remote"
        out.append({"side": "remote", "summary": summary, "steps": [step]})
    return out
