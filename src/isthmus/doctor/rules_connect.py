"""DNS → TCP → protocol → TLS → handshake, read from the local cluster's own error texts.  [no I/O]

The local cluster tells why a connection failed only in the ``caused_by`` chain of a request
that needed it (the doctor's test search) and, since 8.x, a little in ``_resolve/cluster``;
``_remote/info`` says nothing. The texts are ES's (see :mod:`isthmus.doctor.rules_texts`). With
the remote cluster's ``_nodes`` the doctor also knows what the dialled address *is* on the
remote (its remote cluster server, its transport port, its HTTP port or nothing), which is what
separates "wrong port" from "wrong CA". A bare connect failure (``connected: false``,
``skipped``, ``Unable to open any connections``) decides nothing: it is an undecided finding
whose candidates the probes and logs decide.

The families with rooms of their own: a TLS trust failure (:mod:`isthmus.doctor.rules_connect_tls`)
and the alias pointed at the wrong port, with the fixes that name the right address
(:mod:`isthmus.doctor.rules_connect_port`).
"""

from __future__ import annotations

from collections.abc import Mapping

from isthmus.doctor.advertised import (
    NO_MANAGED,
    advertised_failure,
    advertised_finding,
    applies,
)
from isthmus.doctor.model import (
    Confidence,
    Evidence,
    Fix,
    Outcome,
    Side,
    Stage,
    StageResult,
)
from isthmus.doctor.rules_connect_port import (
    CONNECTION_STAGES,
    passed_before,
    port_fix,
    simple_fix,
    stopped,
    wrong_port_result,
)
from isthmus.doctor.rules_connect_tls import trust_result
from isthmus.doctor.rules_context import (
    AliasContext,
    finding,
    new_key_steps,
    passed,
    said,
    text_evidence,
    undecided,
)
from isthmus.doctor.rules_texts import (
    CERT_MODEL_UNAUTHORIZED,
    CLIENT_CERT_REQUIRED,
    CLIENT_UNTRUSTED,
    CLOSED_HANDSHAKE,
    CONNECT_TIMEOUT,
    DNS,
    HANDSHAKE_UNAUTHORIZED,
    HTTP_PORT,
    INDEX_NOT_FOUND,
    KEY_EXPIRED,
    KEY_INVALID,
    KEY_INVALIDATED,
    KEY_MALFORMED,
    KEY_UNKNOWN,
    MISSING_AUTHN,
    MISSING_HEADER,
    NO_REMOTE_INDICES,
    PLAINTEXT_ON_TLS,
    REFUSED,
    REMOTE_UNAUTHORIZED,
    RESET,
    TIMEOUT,
    TLS_ON_PLAINTEXT,
    UNABLE_TO_AUTHENTICATE,
    UNREACHABLE,
    WRONG_KEY_TYPE,
    WRONG_PROFILE,
    find,
    is_generic_connect,
    trust_failures,
)

_LATER = (
    WRONG_KEY_TYPE,
    UNABLE_TO_AUTHENTICATE,
    KEY_INVALID,
    KEY_INVALIDATED,
    KEY_EXPIRED,
    KEY_MALFORMED,
    KEY_UNKNOWN,
    REMOTE_UNAUTHORIZED,
    NO_REMOTE_INDICES,
    CERT_MODEL_UNAUTHORIZED,
    INDEX_NOT_FOUND,
)


def check_connection(ctx: AliasContext) -> list[StageResult]:
    """The connection stages' results from REST evidence (empty: nothing to say)."""
    texts = list(ctx.texts)
    through = connection_went_through(ctx)
    if through is not None:
        return [passed(s, through) for s in CONNECTION_STAGES]
    # Errors of later stages prove the connection itself worked.
    for pattern in _LATER:
        hit = find(texts, pattern)
        if hit is not None and not (
            pattern is CERT_MODEL_UNAUTHORIZED and "handshake" in hit[1].group(0)
        ):
            ev = Evidence(hit[0].source, "the remote answered: the connection stages worked")
            return [passed(s, ev) for s in CONNECTION_STAGES]
    results = _failure(ctx)
    # A rule states the stages before its own as passed; never at or after a failing one.
    stop = min(
        (r.stage.order for r in results if r.outcome is not Outcome.PASSED), default=len(Stage)
    )
    return [r for r in results if r.outcome is not Outcome.PASSED or r.stage.order < stop]


def connection_went_through(ctx: AliasContext) -> Evidence | None:
    """A request reached the remote: the search answered for the alias, or _resolve/cluster
    says connected with no error."""
    result = ctx.local.call(f"POST /{ctx.alias}:{ctx.index}/_search")
    if result is not None and result.ok and isinstance(result.body, Mapping):
        details = (result.body.get("_clusters") or {}).get("details") or {}
        status = (
            (details.get(ctx.alias) or {}).get("status") if isinstance(details, Mapping) else None
        )
        if status in (None, "successful", "partial"):
            return Evidence(
                f"local POST /{ctx.alias}:{ctx.index}/_search",
                f"answered by [{ctx.alias}] ({status or 'ok'})",
            )
    entry = ctx.resolve_entry()
    if entry is not None and entry.get("connected") is True and not entry.get("error"):
        return Evidence(
            f"local GET /_resolve/cluster/{ctx.alias}:{ctx.index}",
            "connected: true, no error (the remote was contacted)",
        )
    return None


def _failure(ctx: AliasContext) -> list[StageResult]:
    texts = list(ctx.texts)
    kind = ctx.address_kind()
    addr = ", ".join(ctx.addresses)
    # An address no remote node publishes is normal behind a proxy: it accuses the alias only
    # when the connection was refused there.
    wrong_port = wrong_port_result(ctx, kind) if kind and kind[0] != "unknown" else None
    unknown = wrong_port_result(ctx, kind) if kind and kind[0] == "unknown" else None

    hit = find(texts, WRONG_PROFILE)
    if hit is not None and ctx.has_credentials:
        # The handshake got an answer, so TLS worked; the port is still the root cause, as in
        # the other transport-port symptoms.
        f = said(
            hit,
            "transport_port_with_credentials",
            f"[{ctx.alias}] has a cross-cluster API key but {addr} is the remote's transport "
            "port: the remote cluster handshake requires the [_remote_cluster] profile and got "
            f"[{hit[1].group('got')}]",
            fix=port_fix(ctx),
        )
        return stopped(f, hit[0].source)
    if hit is not None:
        f = said(
            hit,
            "handshake_wrong_profile",
            f"[{ctx.alias}] reaches {addr}, the remote's transport port: the remote cluster "
            f"handshake requires the [_remote_cluster] profile and got [{hit[1].group('got')}]",
            fix=port_fix(ctx),
        )
        return stopped(f, hit[0].source)
    for pattern in (MISSING_AUTHN, HANDSHAKE_UNAUTHORIZED):
        hit = find(texts, pattern)
        if hit is None:
            continue
        if ctx.has_credentials:
            f = said(
                hit,
                "transport_port_with_credentials",
                f"[{ctx.alias}] has a cross-cluster API key but {addr} is the remote's transport "
                "port: the transport authenticates the handshake as a certificate-model (or "
                "anonymous) caller and refuses it",
                fix=port_fix(ctx),
                ruled_out=("api_key_invalid",),
            )
            return stopped(f, hit[0].source)
        if pattern is HANDSHAKE_UNAUTHORIZED:
            f = said(
                hit,
                "anonymous_handshake_unauthorized",
                f"[{ctx.alias}] has no credentials; the remote ran its handshake as anonymous "
                f"user [{hit[1].group('user')}], which may not open remote connections",
                fix=Fix(
                    "use the API-key model (a cross-cluster key) or the remote's transport port "
                    "with mutual TLS",
                    new_key_steps(ctx),
                    Side.LOCAL,
                ),
            )
            return stopped(f, hit[0].source)
    hit = find(texts, MISSING_HEADER)
    if hit is not None:
        # TLS worked (the certificate model's transport trust accepted the server), and the
        # remote cluster server refused the request for want of the cross-cluster header: the
        # same fault as the trust-failure shape below, one stage later in the symptoms.
        f = said(
            hit,
            "remote_cluster_port_without_credentials",
            f"[{ctx.alias}] points at the remote cluster server ({addr}) but has no "
            f"cross-cluster API key ([{ctx.credential_setting}] is not in use)",
            ruled_out=("tls_untrusted_ca",),
            fix=Fix(
                "get a cross-cluster API key from the remote's administrator (POST "
                "/_security/cross_cluster/api_key there), add it to the keystore of every "
                "local node, reload",
                new_key_steps(ctx),
                Side.LOCAL,
            ),
        )
        return stopped(f, hit[0].source)

    for text, tf in trust_failures(texts):
        return [*passed_before(Stage.TLS, text.source), *trust_result(ctx, text, tf, kind)]

    hit = find(texts, CLIENT_CERT_REQUIRED)
    if hit is not None:
        if wrong_port is not None:
            return wrong_port
        ev = (text_evidence(hit[0]),)
        if ctx.has_credentials and kind is None:
            f = finding(
                "transport_port_with_credentials",
                f"the server at {addr} requires a client certificate; a remote cluster server "
                "does not, a transport port does: the alias likely points at the transport port",
                evidence=ev,
                confidence=Confidence.POSSIBLE,
                candidates=("transport_port_with_credentials", "tls_client_certificate_required"),
                would_decide=(
                    "the remote's GET /_nodes (--remote URL): is the address its transport port?",
                    "the remote's log: 'Empty client certificate chain' on profile=default",
                ),
                fix=port_fix(ctx),
            )
            return [*passed_before(Stage.TLS, hit[0].source), undecided(Stage.PROTOCOL, f)]
        f = finding(
            "tls_client_certificate_required",
            f"the server at {addr} requires a client certificate the local cluster does not send",
            evidence=ev,
            fix=Fix(
                "configure a client certificate the remote trusts",
                ("xpack.security.transport.ssl.certificate / .key on every local node",),
                Side.LOCAL,
            ),
        )
        return stopped(f, hit[0].source)

    # Sniff mode: the seed answered, a node's advertised address did not (before the texts
    # below, which would blame the seed for the advertised address's refusal or timeout).
    advertised = advertised_failure(ctx)
    if advertised is not None:
        f = advertised_finding(ctx, advertised)
        return stopped(f, f.evidence[0].source)

    # Texts that name their cause (at the cause's stage).
    simple = (
        (CLIENT_UNTRUSTED, "tls_client_untrusted"),
        (HTTP_PORT, "http_port"),
        (PLAINTEXT_ON_TLS, "plaintext_to_tls"),
        (TLS_ON_PLAINTEXT, "tls_to_plaintext"),
        (DNS, "dns_unresolvable"),
        (REFUSED, "tcp_refused"),
        (TIMEOUT, "tcp_timeout"),
        (UNREACHABLE, "tcp_unreachable"),
        (RESET, "tcp_reset"),
    )
    for pattern, code in simple:
        hit = find(texts, pattern)
        if hit is None:
            continue
        if code.startswith("tcp_") and wrong_port is not None:
            return wrong_port
        if code == "tcp_refused" and unknown is not None:
            return unknown
        f = said(
            hit,
            code,
            f"[{ctx.alias}] → {addr}: {hit[1].group(0)}",
            fix=simple_fix(ctx, code),
        )
        return stopped(f, hit[0].source)

    hit = find(texts, CONNECT_TIMEOUT)
    if hit is not None:
        f = said(
            hit,
            "tcp_timeout",
            f"[{ctx.alias}] → {addr}: the connection did not complete in time "
            f"({hit[1].group(0)}): TCP, TLS or the handshake never finished",
            side=Side.NETWORK,
            confidence=Confidence.POSSIBLE,
            candidates=("tcp_timeout", "no_answer", "handshake_timeout"),
            would_decide=(
                "an active probe of the address: does TCP connect, does anything answer?",
                "the remote's log: did the connection arrive at all?",
            ),
        )
        return [undecided(Stage.TCP, f)]

    hit = find(texts, CLOSED_HANDSHAKE)
    if hit is not None and ctx.mode == "proxy":
        # Through a proxy address the closing end may be the proxy: an SNI-routing one closes
        # a connection whose server_name (or its absence) it cannot route. Only a probe with
        # and without the name, or the remote's log, tells the two apart.
        f = said(
            hit,
            "proxy_no_route",
            f"the connection to {addr} was closed while connecting ({hit[1].group(0)}): a "
            "proxy with no route for the alias's server_name, or the remote closing it",
            side=Side.UNKNOWN,
            confidence=Confidence.POSSIBLE,
            candidates=("proxy_no_route", "handshake_closed"),
            would_decide=(
                "an active probe of the address, with and without a server_name",
                "the remote's log: did the connection reach it, and why did it close it?",
            ),
        )
        return [*passed_before(Stage.PROTOCOL, hit[0].source), undecided(Stage.PROTOCOL, f)]
    if hit is not None:
        f = said(
            hit,
            "handshake_closed",
            f"the remote at {addr} closed the connection during the handshake",
            confidence=Confidence.LIKELY,
        )
        return stopped(f, hit[0].source)

    if wrong_port is not None:
        return wrong_port
    if texts or _reported_down(ctx):
        return [_unexplained(ctx)]
    return []


def _reported_down(ctx: AliasContext) -> bool:
    info = ctx.info or {}
    entry = ctx.resolve_entry() or {}
    return info.get("connected") is False or entry.get("connected") is False


def _unexplained(ctx: AliasContext) -> StageResult:
    """connected:false / skipped / a bare connect_transport_exception: never a verdict alone."""
    evidence = [text_evidence(t) for t in ctx.texts][:3]
    info = ctx.info or {}
    if "connected" in info:
        evidence.append(
            Evidence("local GET /_remote/info", f"connected: {str(info['connected']).lower()}")
        )
    candidates = ["tcp_refused", "tcp_timeout", "dns_unresolvable", "tls_untrusted_ca"]
    if ctx.has_credentials:
        candidates += ["remote_cluster_server_disabled", "transport_port_with_credentials"]
    if applies(ctx) and any(NO_MANAGED.search(t.text) for t in ctx.texts):
        # Sniff mode got past the seed (it listed the nodes) and opened nothing: the gateways'
        # advertised addresses are the first suspects.
        candidates.insert(0, "advertised_address_unreachable")
    f = finding(
        "connection_failed",
        f"[{ctx.alias}] cannot connect to {', '.join(ctx.addresses)} and the local cluster's "
        "answers do not say why"
        + (" (generic connect failure)" if is_generic_connect(list(ctx.texts)) else ""),
        side=Side.UNKNOWN,
        evidence=evidence,
        confidence=Confidence.POSSIBLE,
        candidates=candidates,
        would_decide=(
            "an active probe of the address (run the doctor where the address is reachable)",
            "the local cluster's log (--local-logs DIR): the connect exception's cause",
            "the remote cluster's GET /_nodes (--remote URL): what listens at the address",
        ),
    )
    return undecided(Stage.TCP, f)


__all__ = ["CONNECTION_STAGES", "Outcome", "check_connection"]
