"""The effective privilege of user x alias x index, and the smallest grant that fixes it.  [no I/O]

API-key model (ES's rule): a request of local user U on ``alias:index`` is allowed when U's
``remote_indices`` grant it (an entry whose ``clusters`` match the alias, whose ``names`` match
the index, with ``read`` or ``all`` for a search) **and** the cross-cluster key's ``access``
covers the index (``access.search[].names``; replication keys grant the CCR actions instead).
Patterns are ES's index patterns: ``*`` and ``?`` wildcards, ``/regex/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from isthmus.doctor.evidence import AUTHENTICATE, PRIVILEGES, ROLES
from isthmus.doctor.model import Evidence, Fix, Side

if TYPE_CHECKING:
    from isthmus.doctor.rules_context import AliasContext

SEARCH_PRIVILEGES = frozenset({"read", "all"})
GRANT = ["read", "read_cross_cluster"]


def pattern_matches(pattern: str, name: str) -> bool:
    """ES index-pattern semantics for one pattern (no ``-exclusion`` handling)."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re.fullmatch(pattern[1:-1], name) is not None
        except re.error:
            return False
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def covers(patterns: Iterable[str], index: str) -> bool:
    """Do ``patterns`` grant ``index``? A wildcard index is covered when some pattern could
    match a name it matches (the same text, or a pattern matching it as a name)."""
    items = [str(p) for p in patterns]
    if any(c in index for c in "*?"):
        return any(p == index or pattern_matches(p, index) or p in ("*", "/.*/") for p in items)
    return any(pattern_matches(p, index) for p in items)


def user_identity(ctx: AliasContext) -> tuple[str, tuple[str, ...]] | None:
    """The doctor's local user (its name and roles), from _security/_authenticate."""
    body = ctx.local.body(AUTHENTICATE)
    if not isinstance(body, Mapping) or "username" not in body:
        return None
    return str(body["username"]), tuple(str(r) for r in body.get("roles", []))


def user_grants(ctx: AliasContext) -> bool | None:
    """Do the local user's remote_indices allow a search on alias:index? None: unknown."""
    body = ctx.local.body(PRIVILEGES)
    if not isinstance(body, Mapping):
        return None
    for entry in body.get("remote_indices", []) or []:
        if not isinstance(entry, Mapping):
            continue
        clusters = entry.get("clusters", [])
        if not any(pattern_matches(str(c), ctx.alias) for c in clusters):
            continue
        if not SEARCH_PRIVILEGES & {str(p) for p in entry.get("privileges", [])}:
            continue
        if covers(entry.get("names", []), ctx.index):
            return True
    return False


def key_grants(key: Mapping[str, Any], index: str) -> bool:
    """Does a cross-cluster key's ``access`` allow a search on ``index``?"""
    access = key.get("access")
    if not isinstance(access, Mapping):
        return False
    for entry in access.get("search", []) or []:
        if isinstance(entry, Mapping) and covers(entry.get("names", []), index):
            return True
    return False


def role_fix(ctx: AliasContext, user: str) -> Fix:
    """The smallest grant on the local side: one remote_indices entry for alias and index, added
    to the user's role (the whole role when the doctor could read it, since PUT replaces it)."""
    identity = user_identity(ctx)
    roles = identity[1] if identity is not None and identity[0] == user else ()
    role = roles[0] if roles else "<a role of " + user + ">"
    entry = {"clusters": [ctx.alias], "names": [ctx.index], "privileges": GRANT}
    known = ctx.local.body(ROLES)
    if isinstance(known, Mapping) and isinstance(known.get(role), Mapping):
        body = {k: v for k, v in known[role].items() if k not in ("transient_metadata",)}
        body["remote_indices"] = [*body.get("remote_indices", []), entry]
        step = f"PUT /_security/role/{role} {orjson.dumps(body).decode()}"
    else:
        step = (
            f"PUT /_security/role/{role}  # keep the role's other fields, add to remote_indices: "
            + orjson.dumps(entry).decode()
        )
    return Fix(
        f"grant [{user}] read on [{ctx.alias}:{ctx.index}] with a remote_indices entry",
        (step,),
        Side.LOCAL,
    )


def key_update_fix(ctx: AliasContext, key_id: str, key: Mapping[str, Any] | None) -> Fix:
    """The smallest grant on the remote side: the key's access plus the index (PUT replaces the
    whole access, so the existing entries are kept)."""
    access: dict[str, Any] = {}
    if key is not None and isinstance(key.get("access"), Mapping):
        access = {k: list(v) for k, v in key["access"].items()}
    access["search"] = [*access.get("search", []), {"names": [ctx.index]}]
    return Fix(
        f"let the cross-cluster key [{key_id}] search [{ctx.index}] (on the remote; the local "
        "keystore keeps the same key, no reload needed)",
        (
            f"PUT /_security/cross_cluster/api_key/{key_id} "
            + orjson.dumps({"access": access}).decode(),
        ),
        Side.REMOTE,
    )


def filtered_by(ctx: AliasContext) -> list[Evidence]:
    """What document- and field-level security will hide from the user's results on
    alias:index: the ``query`` and ``field_security`` of the remote_indices entries that grant
    it (the key's own DLS/FLS is on the remote and shows in its ``access``)."""
    body = ctx.local.body(PRIVILEGES)
    out: list[Evidence] = []
    if not isinstance(body, Mapping):
        return out
    for entry in body.get("remote_indices", []) or []:
        if not isinstance(entry, Mapping):
            continue
        if not any(pattern_matches(str(c), ctx.alias) for c in entry.get("clusters", [])):
            continue
        if not covers(entry.get("names", []), ctx.index):
            continue
        for query in entry.get("query", []) or []:
            out.append(
                Evidence(
                    "local GET /_security/user/_privileges",
                    f"DLS: only documents matching {query} are returned from "
                    f"[{ctx.alias}:{ctx.index}]",
                )
            )
        for fls in entry.get("field_security", []) or []:
            out.append(
                Evidence(
                    "local GET /_security/user/_privileges",
                    f"FLS: only fields {orjson.dumps(fls).decode()} are returned from "
                    f"[{ctx.alias}:{ctx.index}]",
                )
            )
    return out
