"""Which symptom of the troubleshooting guide a log record shows, as a typed value.  [no I/O]

:func:`recognise` reads one :class:`~isthmus.doctor.log_lines.LogLine` of either cluster and
returns the symptoms it shows (usually one): the cause it names (or the candidates when the
line alone cannot decide), the addresses and key id it carries for the two-sided join, and
whether the guide says the other cluster logs nothing for it. The patterns follow ES's own
messages (the guide; ``shared/reference/remote-clusters.md`` 4.x, 5.x, 6.6; ES's
``SslDiagnostics`` and ``SecurityNetty4Transport``), with their 8.x and 9.x wordings; Isthmus
logs the same texts. Joining the two sides and writing the findings is ``log_join``'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.doctor.log_lines import LogLine
from isthmus.doctor.log_tls import TRUST_FAILURE, TrustText, classify_trust, parse_trust
from isthmus.wire.names import DEFAULT_PROFILE
from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION as HANDSHAKE


@dataclass(frozen=True)
class Symptom:
    """One recognised line: what it shows and what it carries for the join."""

    kind: str  # the line's shape, e.g. "trust_failure", "client_did_not_trust"
    line: LogLine
    cause: str | None  # None: the line alone cannot decide (see candidates)
    candidates: tuple[str, ...] = ()
    certain: bool = True  # the text names the cause (else it is the likely reading)
    detail: str = ""  # the cause in this line's words
    alias: str | None = None  # the remote alias the line names
    peer: str | None = None  # the other end, "host:port" or "host", as the logger saw it
    own_address: str | None = None  # the logger's end of the socket ("host:port")
    profile: str | None = None  # the transport profile of the channel ("default", ...)
    key_id: str | None = None
    remote_node: str | None = None  # the remote node a local error names
    mode: str | None = None  # "proxy" / "sniff" when the strategy logger says it
    trust: TrustText | None = None
    # The guide: "This does not show up in the logs of the remote cluster".
    other_side_silent: bool = False
    facts: dict[str, str] = field(default_factory=dict)


# --- what lines carry ---------------------------------------------------------------------------

_ALIAS = (
    re.compile(r"(?:proxy connections to|external) cluster \[([^\]]+)\]"),
    re.compile(r"fetching nodes from external cluster (\S+) failed"),
    re.compile(r"remote cluster(?: connection)? \[([^\]]+)\]"),
    re.compile(r"connections to (?:remote )?cluster \[([^\]]+)\]"),
    re.compile(r"no seed node left for cluster: \[([^\]]+)\]"),
    re.compile(r"Unable to connect to \[([^\]]+)\]"),
    re.compile(r"towards remote cluster \[([^\]]+)\]"),
    re.compile(r"connect(?:ed)? to new remote cluster \[?([^\]\s]+)\]?"),
    re.compile(r"\{([^#{}]+)#[^}]*\}"),
    re.compile(r"^\[([^\]]+)\] (?:failed|opening|successfully)"),
)
_CHANNEL = re.compile(
    r"localAddress=[^/,}\s]*/(?P<local>[^,}\s]+),\s*remoteAddress=[^/,}\s]*/(?P<remote>[^,}\s]+)"
    r"(?:,\s*profile=(?P<profile>[^}\s]+))?"
)
_NODE_ADDRESS = re.compile(
    r"^\[(?P<node>[^\]]*)\]\[(?P<address>[^\]]+)\](?:\[(?P<action>[^\]]+)\])?"
)
_AT_ADDRESS = re.compile(r"at address \[([^\]]+)\]")
_REFUSED_TO = re.compile(r"Connection refused: (?:[^/\s]*/)?(\S+)")
_NO_DATA_FROM = re.compile(r"no data from \[([^\]]+)\]")  # Isthmus's keep-alive verdict
# A DiscoveryNode as ES prints it: {name}{id}[{ephemeral id}{host name}]{address}{...}.
_DESCRIPTOR = re.compile(r"\[\{([^{}#]+)\}(?:\{[^{}]*\})*?\{[^{}]*\d:\d+\}")
_DESCRIPTOR_ADDRESS = re.compile(
    r"\{((?:\d{1,3}\.){3}\d{1,3}:\d+|\[[0-9A-Fa-f:.]+\]:\d+|[\w.-]+:\d+)\}"
)


def alias_of(line: LogLine) -> str | None:
    for text in line.texts:
        for pattern in _ALIAS:
            m = pattern.search(text)
            if m is not None:
                return m[1]
    return None


def mode_of(line: LogLine) -> str | None:
    if line.logger_class == "ProxyConnectionStrategy" or "proxy connections" in line.text:
        return "proxy"
    if line.logger_class == "SniffConnectionStrategy" or "external cluster" in line.text:
        return "sniff"
    return None


def dialled_address(line: LogLine) -> tuple[str | None, str | None]:
    """(address, remote node name) the local line says it dialled: ``[node][host:port]...`` at
    the start of a transport exception, ``at address [..]``, ``Connection refused: /..``."""
    for exc in line.exceptions:
        m = _NODE_ADDRESS.match(exc.message)
        if m is not None and ":" in m["address"]:
            return m["address"], m["node"] or None
    for text in line.texts:
        m = _AT_ADDRESS.search(text) or _REFUSED_TO.search(text) or _NO_DATA_FROM.search(text)
        if m is not None:
            return m[1].rstrip(".,;"), None
        m = re.search(r"\{[^#{}]+#([^}]+)\}", text)  # a proxy/seed node: {alias#host:port}
        if m is not None:
            return m[1], None
        m = _DESCRIPTOR.search(text)  # a discovered node: [{name}{id}...{host:port}...]
        if m is not None:
            return _DESCRIPTOR_ADDRESS.findall(m[0])[0], m[1]
    return None, None


def channel_of(line: LogLine) -> tuple[str | None, str | None, str | None]:
    """(own address, peer address, profile) of a ``Netty4TcpChannel{...}`` in the line."""
    m = _CHANNEL.search(line.text)
    if m is None:
        return None, None, None
    return m["local"], m["remote"], m["profile"]


# --- the local side -----------------------------------------------------------------------------

_KEY_TEXTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"expected API key type of \[cross_cluster\], but API key \[([^\]]*)\]"),
        "api_key_wrong_type",
    ),
    (re.compile(r"unable to find apikey with id \[?([^\]\s,]*)"), "api_key_unknown"),
    (re.compile(r"api key (?:\[([^\]]*)\] )?has been invalidated", re.I), "api_key_invalidated"),
    (re.compile(r"api key (?:\[([^\]]*)\] )?is expired", re.I), "api_key_expired"),
    (re.compile(r"invalid cross-cluster API key value()"), "api_key_invalid"),
    (re.compile(r"must be a valid API key credential()"), "api_key_invalid"),
    (re.compile(r"invalid ApiKey value()"), "api_key_invalid"),
    (re.compile(r"invalid credentials(?: for API key \[([^\]]*)\])?"), "api_key_invalid"),
)
_UNABLE = re.compile(
    r"unable to authenticate user \[([^\]]*)\] for action \[" + re.escape(HANDSHAKE)
)
_KEY_CANDIDATES = ("api_key_invalid", "api_key_unknown", "api_key_invalidated", "api_key_expired")

# Connect failures, most specific first: (pattern over the whole chain, cause, certain).
_CONNECT: tuple[tuple[re.Pattern[str], str, bool], ...] = (
    (
        re.compile(
            r"UnknownHostException|unknown host \[|Name or service not known|Temporary failure in name resolution|nodename nor servname",
            re.I,
        ),
        "dns_unresolvable",
        True,
    ),
    (re.compile(r"Connection refused", re.I), "tcp_refused", True),
    (
        re.compile(r"No route to host|Network is unreachable|Host is unreachable", re.I),
        "tcp_unreachable",
        True,
    ),
    (re.compile(r"Connection timed out", re.I), "tcp_timeout", True),
    (re.compile(r"Connection reset by peer|connection reset", re.I), "tcp_reset", False),
)
# ES's transport.connect_timeout bounds the whole connection (TCP, TLS and the handshake): it
# does not say which step never finished. The OS's "Connection timed out" is TCP's own.
_ES_CONNECT_TIMEOUT = re.compile(r"connect_timeout\[[^\]]*\]")
_CONNECT_TIMEOUT_CANDIDATES = ("tcp_timeout", "no_answer", "handshake_timeout")
_HANDSHAKE_TEXTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"remote cluster name \[[^\]]*\] does not match expected remote cluster name|unexpected remote cluster name"
        ),
        "handshake_cluster_name",
    ),
    (
        re.compile(
            r"is incompatible with local node version|Rejecting unreadable transport handshake|incompatible wire format"
        ),
        "handshake_incompatible_version",
    ),
    (re.compile(r"handshake_timeout\["), "handshake_timeout"),
    (
        re.compile(
            r"handshake failed because connection reset|closed during (?:ssl )?handshake|a channel closed while connecting"
        ),
        "handshake_closed",
    ),
)
_TLS_TO_PLAIN = re.compile(
    r"NotSslRecordException|not an SSL/TLS record|Unsupported or unrecognized SSL message|WRONG_VERSION_NUMBER|record layer failure",
    re.I,
)
_HTTP_PORT = re.compile(r"received HTTP response on transport port|This is not an HTTP port")
_CLIENT_CERT = re.compile(
    r"Received fatal alert: (bad_certificate|certificate_required)|requires a client certificate"
)
_SUMMARY = re.compile(
    r"Unable to open any (?:proxy )?connections to (?:remote )?cluster|no seed node left for cluster|"
    r"failed to open any proxy connections|fetching nodes from external cluster|Unable to connect to \["
)
_NO_REMOTE_INDICES = re.compile(
    r"towards remote cluster \[[^\]]+\] is unauthorized .*because no remote indices privileges apply"
)
_REMOTE_DENIED = re.compile(
    r"towards remote cluster is unauthorized for user \[([^\]]*)\].*?authenticated by API key id \[([^\]]*)\]"
)


def _local(line: LogLine) -> list[Symptom]:
    text = line.text
    alias, mode = alias_of(line), mode_of(line)
    peer, remote_node = dialled_address(line)
    own, channel_peer, profile = channel_of(line)
    base = Symptom(
        "",
        line,
        None,
        alias=alias,
        peer=peer or channel_peer,
        own_address=own,
        profile=profile,
        remote_node=remote_node,
        mode=mode,
    )

    def one(kind: str, cause: str | None, **extra: Any) -> list[Symptom]:
        return [replace(base, kind=kind, cause=cause, **extra)]

    if TRUST_FAILURE in text:
        facts = parse_trust(text)
        assert facts is not None
        chain = "\n".join(e.message for e in line.exceptions)
        verdict = classify_trust(facts, chain + "\n" + " ".join(line.type_names()))
        return one(
            "trust_failure",
            verdict.cause,
            candidates=verdict.candidates,
            certain=verdict.certain,
            detail=verdict.reason,
            trust=facts,
            peer=peer or facts.peer_host,
        )
    if "requires channel profile to be [_remote_cluster]" in text:
        got = re.search(r"but got \[([^\]]*)\]", text)
        return one(
            "wrong_profile",
            "handshake_wrong_profile",
            detail="the remote cluster handshake reached a transport profile",
            profile=got[1] if got else None,
            other_side_silent=True,
        )
    if "missing authentication credentials for action [" + HANDSHAKE in text:
        return one(
            "missing_authn_handshake",
            "transport_port_with_credentials",
            detail="the remote cluster handshake reached the transport port, which wants certificate-model authentication",
            other_side_silent=True,
        )
    unauthorized = re.search(
        r"action \[" + re.escape(HANDSHAKE) + r"\] is unauthorized for user \[([^\]]*)\]", text
    )
    if unauthorized is not None:
        return one(
            "handshake_unauthorized",
            "transport_port_with_credentials",
            detail=f"the remote cluster handshake ran as user [{unauthorized[1]}] on the transport port (anonymous access), which may not run it",
            other_side_silent=True,
            facts={"user": unauthorized[1]},
        )
    if "require transport header [_cross_cluster_access_credentials] but none found" in text:
        return one(
            "missing_credentials_header",
            "credentials_missing",
            detail="the local cluster sent no cross-cluster API key to the remote cluster server port",
            other_side_silent=True,
        )
    for pattern, cause in _KEY_TEXTS:
        m = pattern.search(text)
        if m is not None:
            unable = _UNABLE.search(text)
            key = (m.group(1) if m.groups() else None) or (unable[1] if unable else None)
            return one(
                "key_refused",
                cause,
                key_id=key or None,
                detail=m[0],
                other_side_silent=cause == "api_key_wrong_type",
            )
    unable = _UNABLE.search(text)
    if unable is not None:
        return one(
            "unable_to_authenticate",
            None,
            candidates=_KEY_CANDIDATES,
            certain=False,
            key_id=unable[1],
            detail=f"the remote cluster could not authenticate the API key [{unable[1]}]; only its own log says why",
        )
    if _NO_REMOTE_INDICES.search(text):
        return one(
            "no_remote_indices",
            "user_lacks_remote_indices",
            detail="the local user's roles have no remote_indices for the alias",
            other_side_silent=True,
        )
    denied = _REMOTE_DENIED.search(text)
    if denied is not None:
        return one(
            "remote_denied",
            None,
            candidates=("key_access_excludes", "user_lacks_remote_indices"),
            certain=False,
            key_id=denied[2],
            detail=f"the remote refused user [{denied[1]}] through API key [{denied[2]}]: the key's access or the user's remote_indices does not cover it",
        )
    client_cert = _CLIENT_CERT.search(text)
    if client_cert is not None:
        return one(
            "client_cert_refused",
            None,
            candidates=("transport_port_with_credentials", "tls_client_certificate_required")
            if profile != DEFAULT_PROFILE
            else ("tls_client_certificate_required", "tls_client_untrusted"),
            certain=False,
            detail="the remote refused the TLS handshake for want of a client certificate "
            f"({client_cert[0]})",
        )
    if _HTTP_PORT.search(text):
        return one(
            "http_port",
            "http_port",
            detail="the address answers HTTP: it is the remote's HTTP port",
        )
    if _TLS_TO_PLAIN.search(text):
        return one(
            "not_tls",
            None,
            candidates=("tls_to_plaintext", "http_port", "not_elasticsearch"),
            certain=False,
            detail="the address does not answer TLS",
        )
    for pattern, cause in _HANDSHAKE_TEXTS:
        if (m := pattern.search(text)) is not None:
            return one("handshake_failure", cause, certain=cause != "handshake_closed", detail=m[0])
    for pattern, cause, certain in _CONNECT:
        if (m := pattern.search(text)) is not None:
            return one("connect_failure", cause, certain=certain, detail=m[0])
    if (m := _ES_CONNECT_TIMEOUT.search(text)) is not None:
        return one(
            "connect_failure",
            None,
            candidates=_CONNECT_TIMEOUT_CANDIDATES,
            certain=False,
            detail=f"ES's {m[0]}: TCP, TLS or the handshake did not finish in time",
        )
    if "connect_exception" in text:
        return one(
            "connect_failure",
            None,
            candidates=("tcp_refused", "tcp_timeout", "tcp_unreachable"),
            certain=False,
            detail="ES logged connect_exception without its cause",
        )
    if "closing the connection as dead" in text or "closed by remote" in text:
        return one(
            "closed_by_remote" if "closed by remote" in text else "dead_connection",
            "connection_unreliable",
            certain=False,
            detail=line.message,
        )
    if (
        re.search(
            r"remote cluster connection \[[^\]]+\] updated(?: after credentials change)?: \[?(CONNECTED|RECONNECTED)",
            text,
        )
        or "connected to new remote cluster" in text
    ):
        return one("connected", None)
    if _SUMMARY.search(text) and line.level in ("WARN", "ERROR", ""):
        return one(
            "connect_summary",
            None,
            candidates=("tcp_refused", "tcp_timeout", "tls_untrusted_ca", "handshake_closed"),
            certain=False,
            detail="ES logged the failed connection round without its cause (it is kept at DEBUG, or suppressed)",
        )
    return []


# --- the remote side ----------------------------------------------------------------------------

_APIKEY_FAILED = re.compile(r"Authentication using apikey failed - (.*)")
_LIFECYCLE = re.compile(r"^(stopping|stopped|closing|closed|starting|started)\b")


def _remote(line: LogLine) -> list[Symptom]:
    text = line.text
    own, peer, profile = channel_of(line)
    base = Symptom("", line, None, own_address=own, peer=peer, profile=profile)

    def one(kind: str, cause: str | None, **extra: Any) -> list[Symptom]:
        return [replace(base, kind=kind, cause=cause, **extra)]

    if "client did not trust this server's certificate" in text:
        return one(
            "client_did_not_trust",
            None,
            candidates=(
                "tls_untrusted_ca",
                "tls_hostname_mismatch",
                "tls_expired",
                "tls_ca_regenerated",
            ),
            certain=False,
            detail=f"a client on profile [{profile}] refused this node's certificate",
        )
    if "Empty client certificate chain" in text or "null cert chain" in text:
        return one(
            "empty_client_chain",
            "tls_client_certificate_required",
            certain=False,
            detail=f"a client sent no certificate to profile [{profile}], which requires one",
        )
    if "received plaintext traffic on an encrypted channel" in text:
        return one(
            "plaintext_traffic",
            "plaintext_to_tls",
            detail=f"a client spoke plaintext to the TLS profile [{profile}]",
        )
    if re.search(r"invalid internal transport message format, got \((?:16|0x16),\s*3", text):
        return one(
            "tls_on_plaintext",
            "tls_to_plaintext",
            detail="a client spoke TLS to this plaintext transport",
        )
    m = _APIKEY_FAILED.search(text)
    if m is not None:
        reason = m[1]
        for pattern, cause in _KEY_TEXTS:
            km = pattern.search(reason)
            if km is not None:
                key = km.group(1) if km.groups() else None
                return one("apikey_failed", cause, key_id=key or None, detail=reason)
        return one("apikey_failed", None, candidates=_KEY_CANDIDATES, certain=False, detail=reason)
    if re.search(r"closed during (?:ssl )?handshake", text):
        return one(
            "closed_during_handshake", "handshake_closed", certain=False, detail=line.message
        )
    if line.logger_class == "Node" and _LIFECYCLE.match(line.message):
        return one("lifecycle", None, detail=line.message)
    return []


# INFO and below matter only for these lines (a server log is mostly INFO: they are skipped
# with one search instead of every pattern).
_QUIET_BUT_TELLING = re.compile(
    r"closed by remote|remote cluster connection \[|connected to new remote cluster|"
    r"^(?:stopping|stopped|closing|closed|starting|started)\b|Authentication using apikey failed"
)


def recognise(line: LogLine, *, remote: bool) -> list[Symptom]:
    """The symptoms ``line`` shows, read as a line of the local (querying) cluster or, with
    ``remote``, of the remote cluster (the side decides which shapes apply: a server-side
    line on the local cluster is about another cluster's connections)."""
    quiet = line.level in ("INFO", "DEBUG", "TRACE") and not line.exceptions
    if quiet and _QUIET_BUT_TELLING.search(line.message) is None:
        return []
    return _remote(line) if remote else _local(line)
