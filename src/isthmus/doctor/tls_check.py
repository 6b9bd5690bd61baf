"""Is the remote's certificate chain trusted, and if not, exactly why.  [no I/O]

The probe fetches the chain the remote sends without verifying it; this module verifies it the
way the client would, in Java's order (ES's ``DiagnosticTrustManager``): first the path to a
trusted CA, then the dates along the path, then (when the client checks names) the dialled host
or ``server_name`` against the leaf's subject alternative names. Each verdict is one cause code
of :mod:`isthmus.doctor.causes`, or ``None`` when the chain is trusted:

* the chain reaches a trusted CA by name and signature: trusted (then dates, then names);
* a trusted CA has the issuer's name but does not verify its signature: ``tls_ca_regenerated``;
* the chain ends at a self-issued CA nobody trusts: ``tls_untrusted_ca``;
* the chain ends at a certificate whose issuer was neither sent nor trusted: the issuer is found
  in a candidate CA file and chains to a trusted CA (``tls_missing_intermediate``), or is a CA no
  one trusts (``tls_untrusted_ca``), or is nowhere to be found, and then the two cannot be told
  apart (the verdict is undecided, with both candidates and the file that would decide).

It also says which candidate CA file (either side's configuration) would make the chain trusted.
Plain functions over :mod:`cryptography` certificates; the clock is a parameter.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from isthmus.security.cert_facts import describe, fingerprint, java_instant
from isthmus.security.dn import format_dn

_MAX_DEPTH = 10  # longer chains than this are not built (no real PKI is this deep)


@dataclass(frozen=True)
class TrustSource:
    """Certificates that may be trusted, and where they came from (a file, a context)."""

    name: str
    certificates: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class ChainVerdict:
    """The verdict on one chain: ``cause`` None when trusted, a cause code when not; with no
    cause but ``candidates``, the evidence cannot decide between them."""

    cause: str | None
    message: str
    facts: tuple[str, ...] = ()  # what was seen, ES-style, for the evidence
    trusted_by: tuple[str, ...] = ()  # candidate sources that would make the chain trusted
    candidates: tuple[str, ...] = ()
    would_decide: tuple[str, ...] = ()

    @property
    def trusted(self) -> bool:
        return self.cause is None and not self.candidates


@dataclass(frozen=True)
class _Path:
    """How far a chain got: the certificates walked (leaf first) and how it ended."""

    certs: tuple[x509.Certificate, ...]
    ending: str  # "trusted", "regenerated", "untrusted_root", "missing_issuer"
    same_name: tuple[x509.Certificate, ...] = ()  # trusted CAs with the issuer's name


def verify_chain(
    chain: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    *,
    host: str,
    server_name: str | None,
    check_hostname: bool,
    now: dt.datetime,
    candidates: Sequence[TrustSource] = (),
    clock: str = "this machine's clock",
    remote_now: dt.datetime | None = None,
) -> ChainVerdict:
    """Check ``chain`` (as the remote sent it, leaf first) against ``trusted`` at ``now``;
    ``host`` is the dialled address, ``server_name`` the alias's SNI name, if any.

    ``now`` is the verifying side's time (``clock`` names whose); ``remote_now``, when known,
    is the remote's, so that a date failure says whether the two clocks agree about it."""
    if not chain:
        return ChainVerdict("tls_untrusted_ca", "the remote sent no certificate")
    leaf = chain[0]
    facts = [_leaf_facts(leaf, now)]
    path = _build(chain, trusted)
    trusted_by = tuple(
        s.name for s in candidates if _build(chain, (*trusted, *s.certificates)).ending == "trusted"
    )
    if path.ending != "trusted":
        return _untrusted(path, chain, trusted, candidates, facts, trusted_by)
    for cert in path.certs:
        subject = format_dn(cert.subject)
        if now > cert.not_valid_after_utc:
            return ChainVerdict(
                "tls_expired",
                f"the certificate [{subject}] expired at "
                f"[{java_instant(cert.not_valid_after_utc)}]; by {clock} it is "
                f"[{java_instant(now)}]{_remote_view(cert, now, remote_now)}",
                tuple(facts),
            )
        if now < cert.not_valid_before_utc:
            ahead = cert.not_valid_before_utc - now
            return ChainVerdict(
                "tls_not_yet_valid",
                f"the certificate [{subject}] is valid only from "
                f"[{java_instant(cert.not_valid_before_utc)}], {_duration(ahead)} after {clock} "
                f"[{java_instant(now)}]{_remote_view(cert, now, remote_now)}",
                tuple(facts),
            )
    if check_hostname:
        expected = server_name or host
        if not matches_name(leaf, expected):
            names = ", ".join(describe(leaf).subject_alt_names) or "none"
            dialled = f"the dialled address [{host}]"
            if server_name:
                dialled += f" and server_name [{server_name}]"
            return ChainVerdict(
                "tls_hostname_mismatch",
                f"the certificate [{format_dn(leaf.subject)}] does not name [{expected}] "
                f"(checked against {dialled}); its subject alternative names are [{names}]",
                tuple(facts),
            )
    return ChainVerdict(None, "the chain is trusted", tuple(facts), trusted_by)


def _untrusted(
    path: _Path,
    chain: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    candidates: Sequence[TrustSource],
    facts: list[str],
    trusted_by: tuple[str, ...],
) -> ChainVerdict:
    last = path.certs[-1]
    issuer = format_dn(last.issuer)
    trusted_names = sorted({format_dn(c.subject) for c in trusted})
    facts.append(f"the client trusts [{len(trusted)}] CA certificates {trusted_names[:5]}")
    would = _would(trusted_by)
    if path.ending == "regenerated":
        prints = ", ".join(fingerprint(c, "sha1") for c in path.same_name)
        return ChainVerdict(
            "tls_ca_regenerated",
            f"the client trusts a CA named [{issuer}] (fingerprint [{prints}]) but it did not "
            f"sign [{format_dn(last.subject)}]: the CA was regenerated with the same name and "
            f"another key{would}",
            tuple(facts),
            trusted_by,
        )
    if path.ending == "untrusted_root":
        return ChainVerdict(
            "tls_untrusted_ca",
            f"the chain ends at the CA [{issuer}] (fingerprint "
            f"[{fingerprint(last, 'sha1')}]), which the client does not trust{would}",
            tuple(facts),
            trusted_by,
        )
    # The issuer was neither sent nor trusted: look for it in the candidate files.
    for source in candidates:
        for cert in source.certificates:
            if format_dn(cert.subject) != issuer or not _signed_by(last, cert):
                continue
            if _build((*chain, cert), trusted).ending == "trusted":
                return ChainVerdict(
                    "tls_missing_intermediate",
                    f"the remote sent [{format_dn(last.subject)}] without its issuer "
                    f"[{issuer}] (found in [{source.name}]), which chains to a CA the client "
                    "trusts: the remote must send the intermediate certificate in its chain",
                    tuple(facts),
                    trusted_by,
                )
            return ChainVerdict(
                "tls_untrusted_ca",
                f"[{format_dn(last.subject)}] is issued by [{issuer}] (found in "
                f"[{source.name}]), which the client does not trust{would}",
                tuple(facts),
                trusted_by,
            )
    return ChainVerdict(
        None,
        f"the remote sent [{format_dn(last.subject)}] issued by [{issuer}] without the issuing "
        "certificate, and the client does not trust that issuer: either the remote left out an "
        "intermediate certificate, or its CA is not trusted",
        tuple(facts),
        trusted_by,
        candidates=("tls_untrusted_ca", "tls_missing_intermediate"),
        would_decide=(
            f"the certificate of [{issuer}] (give the remote's CA file as a candidate CA): an "
            "intermediate that chains to a trusted CA means a missing intermediate, a CA means "
            "an untrusted CA",
        ),
    )


def _remote_view(cert: x509.Certificate, now: dt.datetime, remote_now: dt.datetime | None) -> str:
    """What the remote's clock says of the same dates: the two clocks agree (the certificate
    itself is wrong), or they differ (fix the clocks)."""
    if remote_now is None:
        return (
            "; the remote's clock is unknown to the probe: if the remote's clock is ahead, the "
            "certificate may have been issued for its time"
        )
    valid = cert.not_valid_before_utc <= remote_now <= cert.not_valid_after_utc
    skew = _duration(abs(remote_now - now))
    direction = "ahead of" if remote_now > now else "behind"
    if valid:
        return (
            f"; by the remote's clock [{java_instant(remote_now)}] ({skew} {direction}) it is "
            "valid: the clocks disagree, fix them (NTP)"
        )
    return (
        f"; by the remote's clock [{java_instant(remote_now)}] ({skew} {direction}) it is not "
        "valid either: the certificate itself must be replaced"
    )


def _would(trusted_by: tuple[str, ...]) -> str:
    if not trusted_by:
        return "; none of the candidate CA files would make it trusted"
    return f"; trusting [{', '.join(trusted_by)}] would make it trusted"


def _build(chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate]) -> _Path:
    """Walk from the leaf towards a trusted CA, using the certificates the remote sent."""
    pool = list(chain[1:])
    cert = chain[0]
    walked = [cert]
    for _ in range(_MAX_DEPTH):
        if _is_trusted(cert, trusted):
            return _Path(tuple(walked), "trusted")
        issuer = format_dn(cert.issuer)
        same_name = tuple(c for c in trusted if format_dn(c.subject) == issuer)
        signer = next((c for c in same_name if _signed_by(cert, c)), None)
        if signer is not None:
            return _Path((*walked, signer), "trusted")
        nxt = next(
            (
                c
                for c in pool
                if c not in walked and format_dn(c.subject) == issuer and _signed_by(cert, c)
            ),
            None,
        )
        if nxt is None:
            if same_name:
                return _Path(tuple(walked), "regenerated", same_name)
            if issuer == format_dn(cert.subject):
                return _Path(tuple(walked), "untrusted_root")
            return _Path(tuple(walked), "missing_issuer")
        cert = nxt
        walked.append(cert)
    return _Path(tuple(walked), "missing_issuer")


def _is_trusted(cert: x509.Certificate, trusted: Sequence[x509.Certificate]) -> bool:
    """The very certificate, or one with its subject and public key, is trusted."""
    key = _spki(cert)
    subject = format_dn(cert.subject)
    return any(format_dn(c.subject) == subject and _spki(c) == key for c in trusted)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # another name, a wrong signature, an unsupported key: not its issuer
        return False
    return True


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def matches_name(cert: x509.Certificate, name: str) -> bool:
    """RFC 6125 as the JDK applies it: an IP against IP SANs only; a host name against DNS SANs,
    a ``*`` standing for exactly the left-most label."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return ip in sans.get_values_for_type(x509.IPAddress)
    wanted = name.lower().rstrip(".").split(".")
    for pattern in sans.get_values_for_type(x509.DNSName):
        labels = pattern.lower().rstrip(".").split(".")
        if len(labels) != len(wanted):
            continue
        if labels[0] == "*" and len(labels) > 2 and labels[1:] == wanted[1:]:
            return True
        if labels == wanted:
            return True
    return False


def _leaf_facts(leaf: x509.Certificate, now: dt.datetime) -> str:
    facts = describe(leaf)
    names = ",".join(facts.subject_alt_names) or "none"
    return (
        f"the remote's certificate has {facts.identity_description()}; issued by "
        f"[{facts.issuer}]; {facts.validity_description(now)}; subject alternative names "
        f"[{names}]"
    )


def _duration(delta: dt.timedelta) -> str:
    """A difference of clocks, rounded to its largest unit (``90s``, ``12m``, ``5h``, ``3d``)."""
    seconds = delta.total_seconds()
    for unit, size, below in (("s", 1, 120), ("m", 60, 7200), ("h", 3600, 172800)):
        if seconds < below:
            return f"{round(seconds / size)}{unit}"
    return f"{round(seconds / 86400)}d"
