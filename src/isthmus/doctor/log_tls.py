"""ES's TLS trust diagnostic (``failed to establish trust with server at [...]``), read into
facts, and what those facts say about the cause.  [no I/O]

ES's ``SslDiagnostics`` writes one sentence per fact, in a fixed order (reference: diagnosis.md
2.3): the peer, the certificate's subject and fingerprint (8.x adds key usage and the validity
window against the current time), its SANs, then how its chain relates to the ssl context's
trusted issuers. The clauses that decide the cause:

* ``issued by [I] but the server did not provide a copy of the issuing certificate`` followed by
  ``this ssl context ([C]) is not configured to trust that issuer`` (``it only trusts the issuer
  [..]`` / ``but trusts [N] other issuers`` / ``or any other issuer``): the issuer is unknown to
  the context. A root CA the local side does not trust, or an intermediate the remote does not
  send: the line alone cannot tell which, unless the issuer's name says it is an intermediate.
* ``... trusts [1] certificate with subject name [I] ... but the signatures do not match``: a
  CA of that name is trusted, but not the one that signed (a CA regenerated with the same name).
* a trusted chain (``{trusted issuer}``, ``the [..] certificate is trusted in this ssl
  context``, ``the issuing certificate ... is trusted in this ssl context``) with valid dates:
  trust was fine, so hostname verification failed; the line does not say "hostname", it shows the
  SAN list, which lacks the address.
* the validity window against ``current time is [..]``: expired or not yet valid, whatever the
  verdict's wording (which differs by version); Java's cause text (``CertificateExpiredException``,
  ``NotAfter:``, ``validity check failed``) says the same.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from isthmus.doctor.log_lines import parse_time

TRUST_FAILURE = "failed to establish trust with server at ["

# Issuer names that announce an intermediate CA (so the "issuer not sent" shape may be a chain
# the remote does not send in full rather than a CA the local side does not trust).
_INTERMEDIATE_NAME = re.compile(r"intermediate|issuing|\bsub[- ]?ca\b|subordinate", re.I)
_NO_SAN_MATCH = re.compile(
    r"No subject alternative (?:names|DNS name) matching|No name matching|"
    r"doesn't match any of the subject alternative names|hostname mismatch|"
    r"IP address mismatch",
    re.I,
)
_EXPIRED = re.compile(r"CertificateExpiredException|NotAfter:|certificate has expired", re.I)
_NOT_YET = re.compile(r"CertificateNotYetValidException|NotBefore:|not yet valid", re.I)


@dataclass(frozen=True)
class TrustText:
    """The facts of one ``failed to establish trust with server`` sentence."""

    peer_host: str  # "192.168.0.42", or "<unknown host>"
    subject: str | None
    fingerprint: str | None
    sans: tuple[str, ...]  # "DNS:localhost", "IP:127.0.0.1", ...
    issuer: str | None  # the issuer the chain stops at (the leaf's, or the last sent CA's)
    not_before: datetime | None
    not_after: datetime | None
    now: datetime | None
    context: str | None  # "xpack.security.remote_cluster_client.ssl", "(shared)" ...
    trust_configuration: str | None  # "PEM-trust{/path/ca.crt}", "JDK-trusted-certs"
    issuer_not_sent: bool  # "did not provide a copy of the issuing certificate"
    issuer_untrusted: bool  # "is not configured to trust that issuer"
    chain_trusted: bool  # the chain reaches a CA the context trusts
    signatures_differ: bool  # a trusted CA of that name, another key
    trusted_issuers: tuple[str, ...]  # the issuers the context names, when it does

    @property
    def expired(self) -> bool:
        return self.now is not None and self.not_after is not None and self.now > self.not_after

    @property
    def not_yet_valid(self) -> bool:
        return self.now is not None and self.not_before is not None and self.now < self.not_before

    @property
    def model_context(self) -> str | None:
        """Which security model chose the ssl context: "api_key" for the remote cluster client's
        context, "certificate" for the transport's, None when nothing is configured."""
        if self.context is None:
            return None
        if "remote_cluster_client" in self.context:
            return "api_key"
        if "transport" in self.context:
            return "certificate"
        return None

    @property
    def nothing_configured(self) -> bool:
        """ES falls back to the JDK's CAs when the context has no trust configuration."""
        return "JDK-trusted-certs" in (self.trust_configuration or "") and "PEM" not in (
            self.trust_configuration or ""
        )

    @property
    def issuer_looks_intermediate(self) -> bool:
        return self.issuer is not None and _INTERMEDIATE_NAME.search(self.issuer) is not None

    def names_address(self, host: str) -> bool | None:
        """Whether the SANs cover ``host`` (None when it cannot be told: no SAN list, or the
        host is unknown)."""
        if not self.sans or not host or host.startswith("<"):
            return None
        try:
            wanted_ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            wanted_ip = None
        for san in self.sans:
            kind, _, value = san.partition(":")
            if kind == "IP" and wanted_ip is not None:
                try:
                    if ipaddress.ip_address(value) == wanted_ip:
                        return True
                except ValueError:
                    continue
            elif kind == "DNS" and wanted_ip is None and _dns_matches(value, host):
                return True
        return False


def _dns_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _group(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text, re.S)
    return m.group(1) if m else None


def parse_trust(text: str) -> TrustText | None:
    """The facts of the first trust sentence in ``text`` (None when there is none)."""
    start = text.find(TRUST_FAILURE)
    if start < 0:
        return None
    text = text[start:]
    valid = re.search(
        r"valid between \[([^\]]*)\] and \[([^\]]*)\] \(current time is \[([^\]]*)\]", text
    )
    sans = _group(r"subject alternative names \[([^\]]*)\]", text)
    context = _group(r"this ssl context \(\[([^\]]*?)(?: \(with trust configuration|\]\))", text)
    if context is None:
        context = _group(r"trusted in this ssl context \(\[([^\]]*?)(?: \(with trust|\]\))", text)
    return TrustText(
        peer_host=_group(r"with server at \[([^\]]*)\]", text) or "",
        subject=_group(r"with subject name \[([^\]]*)\]", text),
        fingerprint=_group(r"fingerprint \[([0-9a-fA-F]+)\]", text),
        sans=tuple(s.strip() for s in sans.split(",") if s.strip()) if sans else (),
        issuer=_group(r"which is issued by \[([^\]]*)\]", text)
        or _group(r"is issued by \[([^\]]*)\]", text),
        not_before=parse_time(valid[1], UTC) if valid else None,
        not_after=parse_time(valid[2], UTC) if valid else None,
        now=parse_time(valid[3], UTC) if valid else None,
        context=context.strip() if context else None,
        trust_configuration=_group(r"with trust configuration: (.*?)\)\]\)", text),
        issuer_not_sent="did not provide a copy of the issuing certificate" in text
        or "issuer certificate was not provided in the chain" in text,
        issuer_untrusted="is not configured to trust that issuer" in text
        or "] certificate is not trusted in this ssl context" in text,
        chain_trusted="{trusted issuer}" in text
        or re.search(r"\] certificate is trusted in this ssl context", text) is not None
        or re.search(r"the issuing certificates? with .*? (?:is|are) trusted in this ssl", text)
        is not None,
        signatures_differ="but the signatures do not match" in text
        or re.search(
            r"this ssl context does trust (?:a certificate|\[\d+\] certificates) with subject", text
        )
        is not None,
        trusted_issuers=tuple(
            re.findall(r"only trusts the issuer \[([^\]]*)\]", text)
            + [
                s.strip()
                for group in re.findall(r"other issuers \(\[([^\]]*)\]\)", text)
                for s in group.split(", ")
            ]
        ),
    )


@dataclass(frozen=True)
class TrustVerdict:
    """What a trust sentence (and the exceptions logged with it) says about the cause."""

    cause: str | None  # None: undecided between ``candidates``
    candidates: tuple[str, ...]
    certain: bool  # the text names the cause (else it is the likely reading)
    reason: str


def classify_trust(facts: TrustText, causes_text: str = "") -> TrustVerdict:
    """The TLS cause the sentence shows. ``causes_text`` is the exception chain logged with it
    (Java's ``CertificateExpiredException``, ``No subject alternative names matching ...``)."""
    if facts.expired or (_EXPIRED.search(causes_text) and not facts.not_yet_valid):
        return TrustVerdict(
            "tls_expired",
            (),
            True,
            f"the certificate [{facts.subject}] expired at [{_show(facts.not_after)}] "
            f"(the local node's time was [{_show(facts.now)}])",
        )
    if facts.not_yet_valid or _NOT_YET.search(causes_text):
        return TrustVerdict(
            "tls_not_yet_valid",
            (),
            True,
            f"the certificate [{facts.subject}] is valid only from [{_show(facts.not_before)}] "
            f"and the local node's time was [{_show(facts.now)}]: a certificate issued in the "
            "future, or clocks that disagree",
        )
    if facts.signatures_differ:
        return TrustVerdict(
            "tls_ca_regenerated",
            (),
            True,
            f"the local ssl context trusts a CA named [{facts.issuer}] but not the one that "
            "signed the remote's certificate (same name, another key: the CA was regenerated)",
        )
    if _NO_SAN_MATCH.search(causes_text) or (facts.chain_trusted and not facts.issuer_untrusted):
        covered = facts.names_address(facts.peer_host)
        certain = _NO_SAN_MATCH.search(causes_text) is not None or covered is False
        return TrustVerdict(
            "tls_hostname_mismatch",
            (),
            certain,
            f"the chain is trusted but the certificate's subject alternative names "
            f"[{','.join(facts.sans)}] do not cover the dialled address [{facts.peer_host}]"
            + ("" if covered is not True else " (they name it: the server_name, if set, differs)"),
        )
    if facts.issuer_untrusted and facts.issuer_not_sent and facts.issuer_looks_intermediate:
        return TrustVerdict(
            None,
            ("tls_missing_intermediate", "tls_untrusted_ca"),
            False,
            f"the certificate is issued by [{facts.issuer}], which the remote did not send and "
            "the local ssl context does not trust; its name says it is an intermediate CA",
        )
    if facts.issuer_untrusted:
        return TrustVerdict(
            "tls_untrusted_ca",
            (),
            True,
            f"the local ssl context [{facts.context}] does not trust [{facts.issuer}], the issuer "
            f"of the remote's certificate [{facts.subject}]"
            + (
                f"; it trusts only {', '.join(f'[{i}]' for i in facts.trusted_issuers)}"
                if facts.trusted_issuers
                else ""
            ),
        )
    return TrustVerdict(
        None,
        ("tls_untrusted_ca", "tls_missing_intermediate", "tls_hostname_mismatch"),
        False,
        "ES could not establish trust, and the sentence does not say how the chain relates to "
        "the trusted issuers",
    )


def _show(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else "?"
