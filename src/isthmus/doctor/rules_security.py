"""Authentication, authorization and data: who the remote thinks is calling, what they may read,
and whether the index is there.  [no I/O]

Authentication reads ES's handshake errors (key type, ``unable to authenticate`` and its
``additional_unsuccessful_credentials`` reason) and, with the remote's ``_security/api_key``,
the key's own state (unknown id, invalidated, expired, type). Authorization computes the
effective privilege as ES does for the API-key model — the cross-cluster key's ``access`` ∩ the
local user's ``remote_indices`` — and says which side blocks and the smallest grant that fixes
it (see :mod:`isthmus.doctor.rules_privileges`); in the certificate model the remote's same-named roles
decide. Data: the index exists on the remote.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from isthmus.doctor.evidence import API_KEYS, resolve_index_key
from isthmus.doctor.model import Confidence, Evidence, Finding, Fix, Side, Stage, StageResult
from isthmus.doctor.rules_context import (
    AliasContext,
    failed,
    finding,
    passed,
    reload_steps,
    said,
    text_evidence,
    undecided,
)
from isthmus.doctor.rules_privileges import (
    key_grants,
    key_update_fix,
    role_fix,
    user_grants,
    user_identity,
)
from isthmus.doctor.rules_texts import (
    CERT_MODEL_UNAUTHORIZED,
    INDEX_NOT_FOUND,
    KEY_EXPIRED,
    KEY_INVALID,
    KEY_INVALIDATED,
    KEY_MALFORMED,
    KEY_UNKNOWN,
    NO_REMOTE_INDICES,
    REMOTE_UNAUTHORIZED,
    UNABLE_TO_AUTHENTICATE,
    WRONG_KEY_TYPE,
    find,
)

EXPIRY_WARNING = timedelta(days=7)
_NEW_KEY = "get a new cross-cluster API key from the remote's administrator, replace the keystore entry on every local node, reload"


def _new_key_fix(ctx: AliasContext) -> Fix:
    create = (
        'POST /_security/cross_cluster/api_key {"name": "'
        + ctx.alias
        + '", "access": {"search": [{"names": ["'
        + ctx.index
        + '"]}]}}   # on the remote; copy the `encoded` value'
    )
    return Fix(_NEW_KEY, (create, *reload_steps(ctx)), Side.LOCAL)


def remote_key(ctx: AliasContext, key_id: str) -> Mapping[str, Any] | bool | None:
    """The remote's record of ``key_id``; False when the remote's key list is known and lacks
    it; None without the remote's key list."""
    if ctx.remote is None:
        return None
    body = ctx.remote.body(API_KEYS)
    if not isinstance(body, Mapping):
        return None
    for key in body.get("api_keys", []):
        if isinstance(key, Mapping) and key.get("id") == key_id:
            return key
    return False


def _expiration(key: Mapping[str, Any]) -> datetime | None:
    value = key.get("expiration")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def check_authentication(ctx: AliasContext) -> tuple[StageResult | None, list[Finding]]:
    texts = list(ctx.texts)
    warnings: list[Finding] = []
    hit = find(texts, WRONG_KEY_TYPE)
    if hit is not None:
        f = said(
            hit,
            "api_key_wrong_type",
            f"the credential of [{ctx.alias}] is API key [{hit[1].group('id')}] of type "
            f"[{hit[1].group('type')}]; the remote cluster server accepts only cross-cluster keys",
            fix=_new_key_fix(ctx),
        )
        return failed(f), warnings
    hit = find(texts, UNABLE_TO_AUTHENTICATE)
    if hit is not None:
        return _refused_key(ctx, hit[1].group("id"), [text_evidence(hit[0])]), warnings
    hit = find(texts, KEY_MALFORMED)
    if hit is not None:
        f = said(
            hit,
            "api_key_invalid",
            f"the credential of [{ctx.alias}] is not a cross-cluster API key value at all "
            "(malformed: not the `encoded` form of an id and a secret)",
            fix=_new_key_fix(ctx),
        )
        return failed(f), warnings
    # A key expiring soon: rules_health (it knows which key the alias uses).
    return None, warnings


def _refused_key(ctx: AliasContext, key_id: str, evidence: list[Evidence]) -> StageResult:
    texts = list(ctx.texts)
    reasons = (
        (KEY_INVALIDATED, "api_key_invalidated", "the key was invalidated on the remote"),
        (KEY_EXPIRED, "api_key_expired", "the key has expired"),
        (KEY_UNKNOWN, "api_key_unknown", "the remote has no key with this id"),
        (KEY_INVALID, "api_key_invalid", "the key's secret is wrong (or the value is malformed)"),
    )
    for pattern, code, why in reasons:
        hit = find(texts, pattern)
        if hit is not None and hit[0].text != evidence[0].detail:
            f = finding(
                code,
                f"the remote refused API key [{key_id}] of [{ctx.alias}]: {why}",
                evidence=(*evidence, text_evidence(hit[0])),
                fix=_new_key_fix(ctx),
            )
            return failed(f)
    key = remote_key(ctx, key_id)
    if key is False:
        f = finding(
            "api_key_unknown",
            f"the remote has no API key with id [{key_id}] (the local keystore holds a key of "
            "another cluster, or one that was deleted)",
            evidence=(*evidence, Evidence(f"remote {API_KEYS}", f"no key [{key_id}]")),
            fix=_new_key_fix(ctx),
        )
        return failed(f)
    if isinstance(key, Mapping):
        ev = Evidence(
            f"remote {API_KEYS}?id={key_id}",
            f"type {key.get('type')}, invalidated {key.get('invalidated')}, expiration "
            f"{_expiration(key) or 'none'}",
        )
        expiry = _expiration(key)
        if key.get("invalidated"):
            code, why = "api_key_invalidated", "it was invalidated"
        elif expiry is not None and expiry <= ctx.now:
            code, why = "api_key_expired", f"it expired at {expiry.isoformat()}"
        else:
            code, why = (
                "api_key_invalid",
                "the key is valid, so the secret in the keystore is wrong",
            )
        f = finding(
            code,
            f"the remote refused API key [{key_id}] of [{ctx.alias}]: {why}",
            evidence=(*evidence, ev),
            fix=_new_key_fix(ctx),
            confidence=Confidence.CERTAIN if code != "api_key_invalid" else Confidence.LIKELY,
        )
        return failed(f)
    f = finding(
        "api_key_invalid",
        f"the remote refused API key [{key_id}] of [{ctx.alias}] without saying why here",
        evidence=evidence,
        confidence=Confidence.POSSIBLE,
        candidates=("api_key_invalid", "api_key_invalidated", "api_key_expired", "api_key_unknown"),
        would_decide=(
            f"the remote's GET /_security/api_key?id={key_id} (--remote URL)",
            "the remote's log (--remote-logs DIR): 'Authentication using apikey failed - <reason>'",
        ),
        fix=_new_key_fix(ctx),
    )
    return undecided(Stage.AUTHENTICATION, f)


def check_authorization(ctx: AliasContext) -> StageResult | None:
    texts = list(ctx.texts)
    hit = find(texts, NO_REMOTE_INDICES)
    if hit is not None:
        user = hit[1].group("user")
        f = said(
            hit,
            "user_lacks_remote_indices",
            f"local user [{user}] has no remote_indices privilege for [{ctx.alias}] at all: the "
            "local cluster refuses before sending",
            fix=role_fix(ctx, user),
        )
        return failed(f)
    hit = find(texts, REMOTE_UNAUTHORIZED)
    if hit is not None:
        return _intersection(ctx, hit[1].group("user"), hit[1].group("key"), text_evidence(hit[0]))
    hit = find(texts, CERT_MODEL_UNAUTHORIZED)
    if hit is not None and not ctx.has_credentials and "handshake" not in hit[1].group("action"):
        return _certificate_model(ctx, hit[1].group("user"), text_evidence(hit[0]))
    return None


def _intersection(ctx: AliasContext, user: str, key_id: str, ev: Evidence) -> StageResult:
    """ES refused key ∩ user: find out which side lacks the privilege."""
    mine = user_identity(ctx)
    user_ok = user_grants(ctx) if mine is not None and mine[0] == user else None
    key = remote_key(ctx, key_id)
    key_ok = key_grants(key, ctx.index) if isinstance(key, Mapping) else None
    evidence = [ev]
    if user_ok is not None:
        evidence.append(
            Evidence(
                "local GET /_security/user/_privileges",
                f"remote_indices of [{user}] {'cover' if user_ok else 'do not cover'} "
                f"[{ctx.alias}:{ctx.index}] for read",
            )
        )
    if key_ok is not None:
        evidence.append(
            Evidence(
                f"remote {API_KEYS}?id={key_id}",
                f"access {'covers' if key_ok else 'does not cover'} [{ctx.index}] for search",
            )
        )
    if user_ok is False:
        both = key_ok is False
        return failed(
            finding(
                "user_lacks_remote_indices",
                f"local user [{user}]'s remote_indices do not cover [{ctx.alias}:{ctx.index}]"
                + ("; the cross-cluster key's access does not either" if both else ""),
                side=Side.BOTH if both else Side.LOCAL,
                evidence=evidence,
                fix=role_fix(ctx, user),
                ruled_out=() if both or key_ok is None else ("key_access_excludes",),
            )
        )
    if user_ok is True and key_ok is not True:
        return failed(
            finding(
                "key_access_excludes",
                f"the cross-cluster key [{key_id}] of [{ctx.alias}] does not grant search on "
                f"[{ctx.index}]; the local user's remote_indices do",
                evidence=evidence,
                confidence=Confidence.CERTAIN if key_ok is False else Confidence.LIKELY,
                fix=key_update_fix(ctx, key_id, key if isinstance(key, Mapping) else None),
                ruled_out=("user_lacks_remote_indices",),
            )
        )
    return undecided(
        Stage.AUTHORIZATION,
        finding(
            "key_access_excludes",
            f"the remote refused [{user}] on [{ctx.alias}:{ctx.index}]: either the key's access "
            "or the user's remote_indices lacks it",
            side=Side.UNKNOWN,
            evidence=evidence,
            confidence=Confidence.POSSIBLE,
            candidates=("key_access_excludes", "user_lacks_remote_indices"),
            would_decide=(
                f"run the doctor as [{user}] (--local-user) so that its remote_indices are read",
                f"the remote's GET /_security/api_key?id={key_id} (--remote URL)",
            ),
        ),
    )


def _certificate_model(ctx: AliasContext, user: str, ev: Evidence) -> StageResult:
    mine = user_identity(ctx)
    roles = mine[1] if mine is not None and mine[0] == user else ()
    remote_roles = ctx.remote.body("GET /_security/role") if ctx.remote is not None else None
    if isinstance(remote_roles, Mapping) and roles:
        same = [r for r in roles if r in remote_roles]
        code = "remote_role_insufficient" if same else "remote_role_missing"
    else:
        code = "remote_role_missing"
    body = {"indices": [{"names": [ctx.index], "privileges": ["read", "read_cross_cluster"]}]}

    role = roles[0] if roles else "<the user's role>"
    return failed(
        finding(
            code,
            f"certificate model: the remote authorizes [{user}] with its own roles named "
            f"{list(roles) or '(unknown)'}, which do not grant search on [{ctx.index}]",
            evidence=(ev,),
            confidence=Confidence.CERTAIN
            if isinstance(remote_roles, Mapping)
            else Confidence.LIKELY,
            fix=Fix(
                "define (or extend) the same-named role on the remote",
                (f"PUT /_security/role/{role} {orjson.dumps(body).decode()}   # on the remote",),
                Side.REMOTE,
            ),
        )
    )


def check_data(ctx: AliasContext) -> StageResult | None:
    texts = list(ctx.texts)
    hit = find(texts, INDEX_NOT_FOUND)
    if hit is not None:
        return failed(_missing(ctx, [text_evidence(hit[0])]))
    result = ctx.local.call(f"POST /{ctx.alias}:{ctx.index}/_search")
    if result is not None and result.ok and isinstance(result.body, Mapping):
        shards = (result.body.get("_shards") or {}).get("total")
        total = (result.body.get("hits") or {}).get("total") or {}
        count = total.get("value") if isinstance(total, Mapping) else total
        ev = Evidence(
            f"local POST /{ctx.alias}:{ctx.index}/_search",
            f"{shards} shard(s), {count} document(s)",
        )
        if shards == 0 and not _remote_has_index(ctx):
            return failed(_missing(ctx, [ev]))
        return passed(Stage.DATA, ev)
    entry = ctx.resolve_entry()
    if entry is not None and entry.get("connected") and entry.get("matching_indices") is False:
        ev = Evidence(
            f"local GET /_resolve/cluster/{ctx.alias}:{ctx.index}", "matching_indices: false"
        )
        if _remote_has_index(ctx) is False:
            return failed(_missing(ctx, [ev]))
    return None


def _remote_has_index(ctx: AliasContext) -> bool | None:
    if ctx.remote is None:
        return None
    body = ctx.remote.body(resolve_index_key(ctx.index))
    if not isinstance(body, Mapping):
        return None
    return any(body.get(k) for k in ("indices", "aliases", "data_streams"))


def _missing(ctx: AliasContext, evidence: list[Evidence]) -> Finding:
    return finding(
        "index_not_found",
        f"no index on [{ctx.alias}] matches [{ctx.index}]",
        evidence=evidence,
        fix=Fix(
            "search an index that exists on the remote (or create it there)",
            (
                f"GET /_resolve/index/{ctx.index}   # on the remote",
                f"GET /_resolve/cluster/{ctx.alias}:*",
            ),
            Side.REMOTE,
        ),
    )
