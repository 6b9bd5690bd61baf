"""One local log symptom judged with the remote lines that answer it.  [no I/O]

:func:`partners` finds the remote cluster's lines that answer a local one: the right kind
(the remote's "client did not trust this server's certificate" answers the local trust failure,
its ApiKeyAuthenticator line the local "unable to authenticate"), near in time, on the same
socket (the remote's listening port is the dialled port; its peer is our end) and the same API
key id when both lines name one. :func:`decide` then says what the pair shows: the remote's
channel profile tells the transport port (``default``) from the remote cluster server
(``_remote_cluster``), its authenticator's reason tells an invalidated key from an expired or
unknown one. Agreement raises confidence; what stays open is undecided, with what would decide.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from isthmus.doctor.log_symptoms import Symptom
from isthmus.doctor.model import Confidence
from isthmus.wire.names import DEFAULT_PROFILE, REMOTE_CLUSTER_PROFILE

# How far apart in time two lines of one event may be: the clusters' clocks differ, and the
# guide's own example pairs are up to 100 s apart. A shared API key id is a stronger tie.
JOIN_SLACK = timedelta(seconds=120)
KEY_SLACK = timedelta(minutes=15)
# A remote node's restart explains a "closed by remote" (or a dead connection) only when the
# closure falls while the node was going down: after it began stopping (the local side may
# notice a dead connection up to RESTART_SLACK later), or before a start line that follows it
# (a killed node logs no stop). A node that started before the closure and logged no stop since
# was running then: its start explains nothing. CLOCK_SKEW is the two clusters' clock
# difference allowed around a stop (NTP keeps them within milliseconds); a start line gets none:
# a killed node takes far longer than that to come back.
RESTART_SLACK = timedelta(seconds=60)
CLOCK_SKEW = timedelta(seconds=1)
_STOP = re.compile(r"^(?:stopping|stopped|closing|closed)\b")
_CLOSED = ("closed_by_remote", "dead_connection")

# Which remote line answers which local line.
_ANSWERS: dict[str, tuple[str, ...]] = {
    "trust_failure": ("client_did_not_trust",),
    "client_cert_refused": ("empty_client_chain",),
    "unable_to_authenticate": ("apikey_failed",),
    "key_refused": ("apikey_failed",),
    "handshake_failure": ("plaintext_traffic", "tls_on_plaintext", "closed_during_handshake"),
    "connect_failure": ("plaintext_traffic", "tls_on_plaintext", "closed_during_handshake"),
    "not_tls": ("tls_on_plaintext",),
    "closed_by_remote": ("lifecycle",),
    "dead_connection": ("lifecycle",),
}
# A model's ssl context dialling the other model's port; what the remote's profile shows.
_WRONG_PROFILE = {"api_key": DEFAULT_PROFILE, "certificate": REMOTE_CLUSTER_PROFILE}
_PORT_CAUSE = {
    "api_key": "transport_port_with_credentials",
    "certificate": "remote_cluster_port_without_credentials",
}


@dataclass
class Decision:
    """What one local symptom (with the remote lines that answer it) or one remote-only
    symptom says."""

    cause: str | None
    candidates: tuple[str, ...]
    confidence: Confidence
    symptom: Symptom
    partners: list[Symptom] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    would_decide: list[str] = field(default_factory=list)
    ruled_out: tuple[str, ...] = ()
    detail: str = ""
    restart: bool = False  # the remote node restarted: not a fault


# --- addresses and time -------------------------------------------------------------------------


def split_address(address: str | None) -> tuple[str | None, int | None]:
    """(host, port) of ``host:port``, ``[v6]:port`` or a bare host. A host that is neither an
    IP address nor a host name (``<unknown host>``, a mistyped ``1192.168.0.42``) is None: it
    cannot tie two lines together."""
    if not address:
        return None, None
    host, sep, port = address.rpartition(":")
    if not (sep and port.isdigit() and host) or (host.count(":") and not host.startswith("[")):
        host, port = address, ""
    host = host.strip("[]")
    return (host if _valid_host(host) else None), (int(port) if port else None)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return bool(
        host
        and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?", label) for label in labels)
        and not labels[-1].isdigit()
    )


def near(a: datetime | None, b: datetime | None, slack: timedelta) -> bool:
    return a is None or b is None or abs(a - b) <= slack


# --- 3. the join --------------------------------------------------------------------------------


def restart_windows(
    remote: list[Symptom], *, refused: bool = False
) -> dict[int, tuple[datetime, datetime]]:
    """For each remote lifecycle line (by ``id``), the times of the closures it explains.

    Per remote node, in time order: a stop (its consecutive stopping/stopped/closing/closed
    lines) explains closures from its first line (less ``CLOCK_SKEW``) to ``RESTART_SLACK``
    after its last; a start line explains the closures before it since the stop that preceded
    it (or, with none logged, a killed node: ``RESTART_SLACK`` back, never before the node's
    previous start, when it was running). A line without a time explains nothing.

    With ``refused``: the times of the refused connections it explains, those while the node
    was down: from its stop to its next start. A stop with no start after it explains none:
    the node is still down, and that is the fault."""
    by_node: dict[str, list[tuple[datetime, Symptom]]] = {}
    for r in remote:
        if r.kind == "lifecycle" and r.line.time is not None:
            by_node.setdefault(r.line.node, []).append((r.line.time, r))
    out: dict[int, tuple[datetime, datetime]] = {}
    for lines in by_node.values():
        lines.sort(key=lambda x: x[0])
        stop: list[tuple[datetime, Symptom]] = []
        last_start: datetime | None = None
        for when, r in lines:
            if _STOP.match(r.line.message):
                stop.append((when, r))
                for _, x in stop if not refused else ():
                    out[id(x)] = (stop[0][0] - CLOCK_SKEW, when + RESTART_SLACK)
                continue
            lo = stop[0][0] - CLOCK_SKEW if stop else when - RESTART_SLACK
            for _, x in stop if refused else ():
                out[id(x)] = (lo, when)
            if last_start is not None:
                lo = max(lo, last_start)
            out[id(r)] = (lo, when)
            last_start, stop = when, []
    return out


def partners(s: Symptom, remote: list[Symptom]) -> list[Symptom]:
    """The remote symptoms that answer ``s``, nearest in time first: the right kind, near in
    time, on the same socket and key when both lines say."""
    kinds = _ANSWERS.get(s.kind, ())
    refused = s.kind == "connect_failure" and s.cause == "tcp_refused"
    if refused:
        kinds = ("lifecycle",)  # refused while the remote node was down for a restart
    elif s.kind == "connect_failure" and s.cause not in (None, "tcp_reset"):
        return []  # unreachable, unresolvable: the remote never saw the connection
    host, port = split_address(s.peer)
    windows = restart_windows(remote, refused=refused) if s.kind in _CLOSED or refused else {}
    out = []
    for r in remote:
        if r.kind not in kinds:
            continue
        if s.kind in _CLOSED or refused:
            lo_hi = windows.get(id(r))
            if lo_hi is None or s.line.time is None or not lo_hi[0] <= s.line.time <= lo_hi[1]:
                continue
            if s.remote_node and r.line.node and s.remote_node != r.line.node:
                continue  # another node of the remote cluster restarted
            out.append(r)
            continue
        same_key = bool(s.key_id and r.key_id and s.key_id == r.key_id)
        if s.key_id and r.key_id and not same_key:
            continue
        slack = KEY_SLACK if same_key else JOIN_SLACK
        if not near(s.line.time, r.line.time, slack):
            continue
        r_host, r_port = split_address(r.own_address)
        if r_port is not None and port is not None and r_port != port:
            continue
        if r_host is not None and host is not None and port is None and r_host != host:
            continue
        # The client's end: the same host (each retry takes a new ephemeral port).
        own_host, peer_host = split_address(s.own_address)[0], split_address(r.peer)[0]
        if own_host is not None and peer_host is not None and own_host != peer_host:
            continue
        out.append(r)
    return sorted(out, key=lambda r: _distance(s.line.time, r.line.time))


def _distance(a: datetime | None, b: datetime | None) -> float:
    return abs((a - b).total_seconds()) if a is not None and b is not None else 0.0


def _port_range(port: int | None) -> str | None:
    if port is None:
        return None
    if port == 9443:
        return "remote_cluster"
    if 9300 <= port <= 9400:
        return "transport"
    return None


def decide(s: Symptom, answers: list[Symptom], remote_given: bool) -> Decision:
    """What a local symptom says, given the remote lines that answer it."""
    d = Decision(
        s.cause,
        s.candidates,
        Confidence.CERTAIN if s.certain else Confidence.LIKELY,
        s,
        answers,
        detail=s.detail,
    )
    if s.cause is None:
        d.confidence = Confidence.POSSIBLE
    if s.kind == "trust_failure":
        _decide_trust(d, s, answers)
    elif s.kind == "client_cert_refused":
        _decide_client_cert(d, s, answers)
    elif s.kind in ("unable_to_authenticate", "key_refused") and answers:
        decided = [a for a in answers if a.cause is not None]
        if decided:
            a = decided[0]
            by_key = bool(s.key_id and a.key_id)
            d.cause, d.candidates, d.detail = (
                a.cause,
                (),
                f"{s.detail}; the remote says: {a.detail}",
            )
            d.confidence = Confidence.CERTAIN if by_key or s.cause == a.cause else Confidence.LIKELY
            d.ruled_out = tuple(c for c in s.candidates if c != a.cause)
            d.notes.append(
                "joined on "
                + ("the API key id" if by_key else "time")
                + " with the remote's ApiKeyAuthenticator line"
            )
    elif s.kind == "connect_failure" and answers and answers[0].kind == "lifecycle":
        d.restart = True
        d.notes.append(
            f"the remote node logged [{answers[0].line.message}] then: it was down for a "
            "restart, and is back"
        )
    elif s.kind in ("handshake_failure", "connect_failure", "not_tls") and answers:
        a = answers[0]
        d.cause, d.candidates, d.confidence = a.cause, (), Confidence.CERTAIN
        d.detail = f"{s.detail}; the remote says: {a.detail}"
    elif s.kind in _CLOSED:
        if answers:
            d.restart = True
            d.notes.append(
                f"the remote node logged [{answers[0].line.message}] then: it went away, not the network"
            )
        elif remote_given:
            d.notes.append(
                "the remote's log shows no stop or start of its node at this time: it was "
                "running, not restarting"
            )
        elif s.kind == "closed_by_remote":
            d.confidence = Confidence.POSSIBLE
            d.would_decide.append(
                "the remote's log around this time: a node restart there closes connections too"
            )
    if d.cause is None and not d.would_decide:
        d.would_decide += _WOULD_DECIDE.get(s.kind, _ANY)
    if s.kind == "unable_to_authenticate" and d.cause is None:
        d.would_decide += [
            f"the remote's log: 'Authentication using apikey failed - ...' for key [{s.key_id}]",
            f"on the remote: GET /_security/api_key?id={s.key_id} (invalidated, expiration)",
        ]
    if s.kind == "remote_denied":
        d.would_decide += [
            f"on the remote: GET /_security/api_key?id={s.key_id} (its access.search names)",
            "on the local cluster: the user's roles (remote_indices for the alias)",
        ]
    if s.other_side_silent or (s.kind == "connect_failure" and s.cause is not None):
        if remote_given:
            d.notes.append(
                "the remote cluster logged nothing for this, as expected: the failure is decided before (or without) its log"
            )
        else:
            d.notes.append(
                "the remote cluster does not log this failure: its log would not add anything"
            )
    elif remote_given and not answers and s.kind in ("trust_failure", "client_cert_refused"):
        d.notes.append(
            "the remote's log has no matching line for this connection: its log covers another "
            "period, or the address is not this remote cluster (a proxy or another cluster)"
        )
    if answers:
        d.notes.append(
            f"the remote logged it too ({answers[0].kind}, profile [{answers[0].profile}])"
            if answers[0].profile
            else f"the remote logged it too ({answers[0].kind})"
        )
        if d.confidence is Confidence.LIKELY and d.cause is not None:
            d.confidence = Confidence.CERTAIN
    return d


_ANY = (
    "the remote cluster's log at the same time",
    "an active probe of the address (isthmus doctor probes it)",
)
_WOULD_DECIDE: dict[str, tuple[str, ...]] = {
    "connect_failure": (
        "the 'Caused by:' under connect_exception (Connection refused, timed out, No route to "
        "host); ES logs each attempt at DEBUG: logger.org.elasticsearch.transport: DEBUG",
        "an active probe of the address (isthmus doctor probes it)",
    ),
    "connect_summary": (
        "each attempt's cause: logger.org.elasticsearch.transport.ProxyConnectionStrategy (or "
        "SniffConnectionStrategy) at DEBUG",
        "an active probe of the address (isthmus doctor probes it)",
    ),
    "trust_failure": (
        "the remote's certificate chain: whether its issuer is a root (self-signed) or an "
        "intermediate it should send",
        "a TLS probe with the CA files of both clusters as candidates",
    ),
    "not_tls": (
        "what answers at the address (a probe: HTTP, plaintext transport or something else)",
        "the remote's log: 'invalid internal transport message format, got (16,3,...' means "
        "its transport is plaintext",
    ),
}


def _decide_trust(d: Decision, s: Symptom, answers: list[Symptom]) -> None:
    facts = s.trust
    if facts is None or s.cause != "tls_untrusted_ca":
        return
    model = facts.model_context
    profile = answers[0].profile if answers else None
    if model is None:
        d.confidence = Confidence.CERTAIN if answers else Confidence.LIKELY
        return
    port_cause, wrong = _PORT_CAUSE[model], _WRONG_PROFILE[model]
    if profile is not None:
        if profile == wrong:
            d.cause, d.ruled_out = port_cause, ("tls_untrusted_ca",)
            d.detail = f"{s.detail}; the remote took the connection on its [{profile}] profile: the {('transport port' if wrong == 'default' else 'remote cluster server port')}, not the one the {('API-key' if model == 'api_key' else 'certificate')} model needs"
        else:
            d.ruled_out = (port_cause,)
        d.confidence = Confidence.CERTAIN
        return
    kind = _port_range(split_address(s.peer)[1])
    if (model, kind) in (("api_key", "transport"), ("certificate", "remote_cluster")):
        d.cause, d.confidence = port_cause, Confidence.LIKELY
        d.detail = (
            f"{s.detail}; the dialled port [{split_address(s.peer)[1]}] is the usual {kind} port"
        )
    elif kind is not None:
        d.confidence, d.ruled_out = Confidence.LIKELY, (port_cause,)
    else:
        d.cause, d.candidates, d.confidence = (
            None,
            ("tls_untrusted_ca", port_cause),
            Confidence.POSSIBLE,
        )
        d.would_decide += [
            "the remote's log: 'client did not trust this server's certificate' names the profile "
            "(default = the transport port, _remote_cluster = the remote cluster server)",
            "GET /_nodes on the remote: is the dialled address its transport_address or its "
            "remote_cluster_server.publish_address",
        ]


def _decide_client_cert(d: Decision, s: Symptom, answers: list[Symptom]) -> None:
    if answers:
        profile = answers[0].profile
        if profile == DEFAULT_PROFILE and s.profile != DEFAULT_PROFILE:
            d.cause, d.ruled_out = (
                "transport_port_with_credentials",
                ("tls_client_certificate_required",),
            )
            d.detail = f"{s.detail}; the remote's [default] profile (its transport port) wants a client certificate"
        else:
            d.cause, d.ruled_out = (
                "tls_client_certificate_required",
                ("transport_port_with_credentials",),
            )
        d.candidates, d.confidence = (), Confidence.CERTAIN
        return
    if s.profile != DEFAULT_PROFILE and _port_range(split_address(s.peer)[1]) == "transport":
        d.cause, d.candidates, d.confidence = (
            "transport_port_with_credentials",
            (),
            Confidence.LIKELY,
        )
        return
    d.would_decide.append(
        "the remote's log: 'Empty client certificate chain' with profile=default means the transport port"
    )


# --- 4. remote-only symptoms -------------------------------------------------------------------


def remote_only(r: Symptom, tie: str | None) -> Decision:
    """A remote symptom no local line explains. ``tie`` is what links it to the alias: "key"
    (the alias's API key id: certain), "port" (the alias's port: another client may use it
    too, so likely at best) or None (nothing: the local side had nothing to say)."""
    tied = tie is not None
    confidence = Confidence.CERTAIN if r.certain and tie == "key" else Confidence.LIKELY
    d = Decision(
        r.cause, r.candidates, confidence if r.cause else Confidence.POSSIBLE, r, detail=r.detail
    )
    if r.kind == "empty_client_chain" and r.profile == DEFAULT_PROFILE:
        d.cause, d.candidates, d.confidence = (
            None,
            ("transport_port_with_credentials", "tls_client_certificate_required"),
            Confidence.POSSIBLE,
        )
    if r.kind == "empty_client_chain":
        d.would_decide.append(
            "the local cluster's log (bad_certificate and its channel profile) or its "
            "_remote/info (cluster_credentials: the API-key model)"
        )
    if d.cause is None and not d.would_decide:
        d.would_decide += _ANY
    if r.kind == "client_did_not_trust":
        d.would_decide.append(
            "the local cluster's log: its DiagnosticTrustManager line says why it refused the certificate"
        )
    if not tied:
        d.notes.append(
            "the remote's line does not name its client: it may be about another cluster's connections"
        )
    return d
