"""Elasticsearch's error texts, read into facts: which failure a message is, and its fields.  [no I/O]

ES reports a remote-cluster failure as free text, and the same failure reads differently by
version and by the API that surfaces it (a search's ``caused_by`` chain, ``_resolve/cluster``'s
``error``, a CCS ``_clusters`` failure). This module owns every pattern the doctor matches, so
the rules decide on named facts, never on substrings. Patterns follow ES's own messages (see
docs/doctor.md for the wording of each); the TLS trust text is ES's ``SslDiagnostics`` shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION as HANDSHAKE_ACTION


@dataclass(frozen=True)
class Text:
    """One message and where it came from (``type`` is ES's error type when known)."""

    source: str
    text: str
    type: str | None = None


def error_texts(body: Any, source: str) -> list[Text]:
    """Every reason in an ES error body: root causes, the ``caused_by`` chain, suppressed
    errors, ``additional_unsuccessful_credentials`` and CCS ``_clusters`` failures."""
    out: list[Text] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            reason = node.get("reason")
            if isinstance(reason, str):
                out.append(Text(source, reason, str(node.get("type") or "") or None))
            extra = node.get("additional_unsuccessful_credentials")
            if isinstance(extra, str):
                out.append(Text(source, extra, "additional_unsuccessful_credentials"))
            for key in ("root_cause", "caused_by", "suppressed", "failures", "reason", "error"):
                child = node.get(key)
                if isinstance(child, list):
                    for item in child:
                        walk(item)
                elif isinstance(child, Mapping):
                    walk(child)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    if isinstance(body, Mapping):
        walk(body.get("error"))
        details = (body.get("_clusters") or {}).get("details") or {}
        if isinstance(details, Mapping):
            for cluster in details.values():
                walk(cluster)
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for t in out:
        if (t.text, t.type) not in seen:
            seen.add((t.text, t.type))
            unique.append(t)
    return unique


# --- connection failures ---------------------------------------------------------------------

GENERIC_CONNECT = re.compile(
    r"Unable to open any (?:proxy )?connections to (?:remote )?cluster \[|Unable to connect to \[|"
    r"fetching nodes from external cluster|no seed node left|connect_transport_exception"
)
REFUSED = re.compile(r"Connection refused", re.I)
# The operating system's own words for a connect that got no answer / no route.
TIMEOUT = re.compile(r"Connection timed out", re.I)
UNREACHABLE = re.compile(r"No route to host|Network is unreachable", re.I)
# ES's ConnectTransportException "connect_timeout[30s]" (and "timed out after") covers the whole
# connection: TCP, TLS and the handshake. It does not say which of them never finished.
CONNECT_TIMEOUT = re.compile(r"connect_timeout|timed out after", re.I)
DNS = re.compile(
    r"UnknownHostException|Name or service not known|nodename nor servname|"
    r"Temporary failure in name resolution|No address associated with hostname",
    re.I,
)
RESET = re.compile(r"Connection reset", re.I)
CLOSED_HANDSHAKE = re.compile(r"closed during (?:ssl )?handshake|handshake failed", re.I)
CLIENT_CERT_REQUIRED = re.compile(
    r"requires a client certificate|certificate_required|bad_certificate|"
    r"Empty client certificate chain",
    re.I,
)
CLIENT_UNTRUSTED = re.compile(r"fatal alert: (?:unknown_ca|certificate_unknown)", re.I)
PLAINTEXT_ON_TLS = re.compile(r"plaintext traffic on an encrypted channel|not an SSL/TLS", re.I)
TLS_ON_PLAINTEXT = re.compile(r"WRONG_VERSION_NUMBER|record layer failure|Unsupported record", re.I)
HTTP_PORT = re.compile(r"received HTTP|This is not an HTTP port|HTTP/1\.[01] ", re.I)
WRONG_PROFILE = re.compile(
    r"requires channel profile to be \[_remote_cluster\], but got \[(?P<got>[^\]]*)\]"
)
MISSING_HEADER = re.compile(
    r"require transport header \[_cross_cluster_access_credentials\] but none found"
)
MISSING_AUTHN = re.compile(
    r"missing authentication credentials for action \[" + re.escape(HANDSHAKE_ACTION)
)
HANDSHAKE_UNAUTHORIZED = re.compile(
    r"action \[" + re.escape(HANDSHAKE_ACTION) + r"\] is unauthorized for user \[(?P<user>[^\]]*)\]"
)
CLUSTER_NAME = re.compile(
    r"handshake with \[.*\] failed: remote cluster name \[|cluster name", re.I
)
INCOMPATIBLE = re.compile(r"is incompatible with|incompatible version|not compatible", re.I)

# --- authentication --------------------------------------------------------------------------

WRONG_KEY_TYPE = re.compile(
    r"authentication expected API key type of \[cross_cluster\], but API key \[(?P<id>[^\]]*)\] "
    r"has type \[(?P<type>[^\]]*)\]"
)
# At the handshake (a new connection) or, when a changed key was reloaded onto connections that
# stay open (ES rebuilds them only when credentials are added or removed), at any later action.
UNABLE_TO_AUTHENTICATE = re.compile(
    r"unable to authenticate user \[(?P<id>[^\]]*)\] for action \[(?P<action>[^\]]*)\]"
)
KEY_INVALID = re.compile(r"invalid credentials for API key \[(?P<id>[^\]]*)\]|invalid API key")
KEY_INVALIDATED = re.compile(r"api key has been invalidated", re.I)
KEY_EXPIRED = re.compile(r"api key is expired", re.I)
# A credential that is not ``base64(id:secret)`` of a cross-cluster key at all.
KEY_MALFORMED = re.compile(
    r"value must be a valid API key credential|invalid cross-cluster API key value"
)
KEY_UNKNOWN = re.compile(r"unable to find apikey with id \[?(?P<id>[^\]\s]+)", re.I)

# --- authorization ---------------------------------------------------------------------------

# The API-key model, refused on the remote by key ∩ user (ES's RCS2 denial text).
REMOTE_UNAUTHORIZED = re.compile(
    r"action \[(?P<action>[^\]]*)\] towards remote cluster is unauthorized for user "
    r"\[(?P<user>[^\]]*)\].*?authenticated by API key id \[(?P<key>[^\]]*)\].*?"
    r"on indices \[(?P<indices>[^\]]*)\]"
)
# Refused locally before sending: the user has no remote_indices for the alias at all.
NO_REMOTE_INDICES = re.compile(
    r"action \[(?P<action>[^\]]*)\] towards remote cluster \[(?P<alias>[^\]]*)\] is unauthorized "
    r"for user \[(?P<user>[^\]]*)\].*because no remote indices privileges apply"
)
# The certificate model, refused on the remote by its same-named roles.
CERT_MODEL_UNAUTHORIZED = re.compile(
    r"action \[(?P<action>indices:[^\]]*)\] is unauthorized for user \[(?P<user>[^\]]*)\]"
    r"(?:.*?on indices \[(?P<indices>[^\]]*)\])?"
)
INDEX_NOT_FOUND = re.compile(r"no such index \[(?P<index>[^\]]*)\]")


@dataclass(frozen=True)
class TrustFailure:
    """ES's ``failed to establish trust with server`` text, field by field."""

    peer: str
    subject: str | None
    issuer: str | None
    not_before: datetime | None
    not_after: datetime | None
    now: datetime | None
    sans: tuple[str, ...]
    context: str | None  # e.g. "xpack.security.remote_cluster_client.ssl"
    issuer_missing_from_chain: bool  # "did not provide a copy of the issuing certificate"
    issuer_trusted: bool  # the chain ends at a CA this context trusts ("{trusted issuer}")
    signatures_differ: bool  # same-named CA, other key: a regenerated CA
    trusted_issuers: tuple[str, ...]  # "it only trusts the issuer [..]"

    @property
    def expired(self) -> bool:
        return self.now is not None and self.not_after is not None and self.now > self.not_after

    @property
    def not_yet_valid(self) -> bool:
        return self.now is not None and self.not_before is not None and self.now < self.not_before


def trust_failure(text: str) -> TrustFailure | None:
    """ES's trust failure text as the REST rules read it. One parser reads this sentence for the
    REST evidence and the logs alike (:func:`isthmus.doctor.log_tls.parse_trust`, which knows
    every shape ES writes); this is its view for the rules."""
    from isthmus.doctor.log_tls import parse_trust

    facts = parse_trust(text)
    if facts is None:
        return None
    return TrustFailure(
        peer=facts.peer_host,
        subject=facts.subject,
        issuer=facts.issuer,
        not_before=facts.not_before,
        not_after=facts.not_after,
        now=facts.now,
        sans=facts.sans,
        context=facts.context,
        issuer_missing_from_chain=facts.issuer_not_sent,
        issuer_trusted=facts.chain_trusted,
        signatures_differ=facts.signatures_differ,
        trusted_issuers=facts.trusted_issuers,
    )


def find(texts: list[Text], pattern: re.Pattern[str]) -> tuple[Text, re.Match[str]] | None:
    for t in texts:
        m = pattern.search(t.text)
        if m is not None:
            return t, m
    return None


def trust_failures(texts: list[Text]) -> Iterator[tuple[Text, TrustFailure]]:
    for t in texts:
        parsed = trust_failure(t.text)
        if parsed is not None:
            yield t, parsed


def is_generic_connect(texts: list[Text]) -> bool:
    return any(GENERIC_CONNECT.search(t.text) for t in texts)


def short(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
