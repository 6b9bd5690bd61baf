"""Why a peer's certificate was not trusted, worded as Elasticsearch's ``SslDiagnostics`` words it.

[no sockets] Owns two things:

* :class:`TrustInfo`: what one TLS profile trusts (its name, its trust configuration as ES names
  it, the CA certificates), built once per SSL configuration and shared by every connection;
* the texts ES's ``DiagnosticTrustManager`` logs when a certificate check fails:
  :func:`diagnose_peer` (the ``failed to establish trust with server at [...]; ...`` line) and
  :func:`trust_failure_cause` (the Java exception ES prints on the next line).

The texts follow ES's wording clause by clause, so a log line from this node reads like one from
an ES node and the same troubleshooting guides apply. The code is our own; only the words are ES's.
Facts about one certificate (DNs, fingerprints, usages, SANs, dates) come from
:mod:`isthmus.security.cert_facts`, which already prints them as ES does.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from isthmus.security.cert_facts import CertificateFacts, describe, fingerprint
from isthmus.security.dn import format_dn

if TYPE_CHECKING:
    from isthmus.security.tls import SslConfig

Side = Literal["client", "server"]

# ES stops listing the trusted issuers by name from this many on: hundreds of JDK CAs say nothing.
_LIST_ISSUERS_BELOW = 10

# OpenSSL verify codes (X509_V_ERR_*) for which Java fails while *building* the path: the issuer
# is missing, untrusted, or does not sign (a same-named CA with another key is not an issuer).
_PATH_BUILDING_CODES = frozenset({2, 7, 18, 19, 20, 21, 27, 28, 32})
_VALIDITY_CODES = frozenset({9, 10})
_HOSTNAME_CODES = frozenset({62, 64})  # hostname mismatch, IP address mismatch
_PURPOSE_CODE = 26

PKIX_PATH_BUILDING_FAILED = (
    "sun.security.validator.ValidatorException: PKIX path building failed: "
    "sun.security.provider.certpath.SunCertPathBuilderException: "
    "unable to find valid certification path to requested target"
)
PKIX_VALIDITY_CHECK_FAILED = (
    "sun.security.validator.ValidatorException: PKIX path validation failed: "
    "java.security.cert.CertPathValidatorException: validity check failed"
)


@dataclass(frozen=True)
class TrustInfo:
    """What one SSL context trusts, as ES's trust manager sees it (its "accepted issuers").

    Built once per SSL configuration (:meth:`from_config`) and reused for every connection: the
    issuers are indexed by subject DN once, here, since every diagnosis looks them up that way.
    """

    context_name: str  # the settings prefix, e.g. "xpack.security.transport.ssl"
    trust_description: str  # e.g. "PEM-trust{/etc/isthmus/ca.crt}" or "JDK-trusted-certs"
    trusted_issuers: tuple[x509.Certificate, ...] = ()
    by_subject: dict[str, tuple[x509.Certificate, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[str, list[x509.Certificate]] = {}
        for cert in self.trusted_issuers:
            index.setdefault(format_dn(cert.subject), []).append(cert)
        object.__setattr__(self, "by_subject", {dn: tuple(c) for dn, c in index.items()})

    @property
    def description(self) -> str:
        """The context as ES names it in its messages:
        ``xpack.security.transport.ssl (with trust configuration: PEM-trust{/p/ca.crt})``."""
        return f"{self.context_name} (with trust configuration: {self.trust_description})"

    @classmethod
    def from_config(cls, cfg: SslConfig) -> TrustInfo:
        """The CAs ``cfg`` trusts, loaded the way :func:`isthmus.security.tls.load_material` loads
        them: the PEM ``certificate_authorities``, else every certificate of the truststore (or of
        the keystore when there is no truststore), else the system's default CAs (ES's
        ``JDK-trusted-certs``). Unreadable files raise, as building the context itself would."""
        from isthmus.security.certs import decode_bundle

        issuers: list[x509.Certificate] = []
        if cfg.certificate_authorities:
            for path in cfg.certificate_authorities:
                issuers.extend(decode_bundle(path.read_bytes()).certificates)
        elif (store := cfg.truststore_path or cfg.keystore_path) is not None:
            secret = cfg.truststore_password or cfg.keystore_password
            password = secret.reveal() if secret is not None else None
            issuers.extend(decode_bundle(store.read_bytes(), password).certificates)
        else:
            issuers.extend(system_trusted_certificates())
        return cls(cfg.prefix, cfg.trust_description(), tuple(issuers))


@functools.cache
def system_trusted_certificates() -> tuple[x509.Certificate, ...]:
    """The platform's default CA certificates (what ``JDK-trusted-certs`` stands for here).

    Read once per process from OpenSSL's default CA file, or else its CA directory.
    """
    import ssl  # only the default paths: this module opens no connection

    paths = ssl.get_default_verify_paths()
    if paths.cafile:
        return _load_pem_quietly([Path(paths.cafile)])
    if paths.capath:
        return _load_pem_quietly(sorted(Path(paths.capath).iterdir()))
    return ()


_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


def _load_pem_quietly(files: Iterable[Path]) -> tuple[x509.Certificate, ...]:
    # A system store may hold files that are not certificates (links, READMEs) and certificates
    # newer parsers frown upon (negative serials): take each certificate on its own, skip what
    # does not load, and keep the warnings out of the log. The diagnosis is best-effort about the
    # platform, never a reason to fail.
    found: dict[bytes, x509.Certificate] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for block in _PEM_CERTIFICATE.finditer(data):
                try:
                    cert = x509.load_pem_x509_certificate(block.group(0))
                except ValueError:
                    continue
                found.setdefault(cert.public_bytes(serialization.Encoding.DER), cert)
    return tuple(found.values())


# --- the diagnostic message ----------------------------------------------------------------------


def diagnose_peer(
    *,
    side: Side,
    peer_host: str,
    chain: Sequence[x509.Certificate],
    trust: TrustInfo | None,
    cipher: str | None,
    protocol: str | None,
    now: dt.datetime,
    verify_code: int | None = None,
    verify_message: str | None = None,
    hostname: str | None = None,
) -> str:
    """ES's ``failed to establish trust with <peer> at [host]; ...`` text for a rejected chain.

    ``side`` is our end: a client checked the server's chain, a server the client's. ``chain`` is
    what the peer sent, leaf first. ``trust`` ``None`` (what this context trusts is unknown) drops
    the clauses that compare the chain with the trusted issuers, as ES does without issuers.
    ES's text states facts only, never the verdict: ``verify_code``, ``verify_message`` and
    ``hostname`` do not change it (the verdict is in :func:`trust_failure_cause`); they are
    accepted so one set of facts can be handed to both.
    """
    del verify_code, verify_message, hostname  # see the docstring: ES's text is verdict-free
    peer = "server" if side == "client" else "client"
    out = [f"failed to establish trust with {peer} at [{peer_host or '<unknown host>'}]; "]
    if not chain:
        out.append(f"the {peer} did not provide a certificate")
        return "".join(out)
    leaf = chain[0]
    facts = describe(leaf)
    out.append(f"the {peer} provided a certificate with {facts.identity_description()}")
    out.append(f"; {facts.validity_description(now)}")
    out.append(
        f"; the session uses cipher suite [{cipher or '<unknown cipherSuite>'}]"
        f" and protocol [{protocol or '<unknown protocol>'}]"
    )
    if peer == "server":  # a client's names are never checked, so ES does not list them
        out.append(_alternative_names_clause(leaf, facts))
    if facts.self_issued:
        out.append(f"; the certificate is {_self_issued(leaf, trust)}")
    else:
        out.append(f"; the certificate is issued by [{facts.issuer}]")
        if len(chain) == 1:
            out.append(
                f" but the {peer} did not provide a copy of the issuing certificate in the"
                " certificate chain"
            )
            out.append(_issuer_trust(leaf, facts.issuer, trust))
    if len(chain) > 1:
        out.append("; the certificate is ")
        for cert in chain[1:]:
            trusted = trust is not None and _certificate_trust(cert, trust)[1]
            mark = " {trusted issuer}" if trusted else ""
            out.append(
                f"signed by (subject [{format_dn(cert.subject)}] {_fingerprints([cert])}{mark}) "
            )
        root = chain[-1]
        root_issuer = format_dn(root.issuer)
        if root_issuer == format_dn(root.subject):
            out.append(f"which is {_self_issued(root, trust)}")
        else:
            out.append(
                f"which is issued by [{root_issuer}]"
                " (but that issuer certificate was not provided in the chain)"
            )
            out.append(_issuer_trust(root, root_issuer, trust))
    return "".join(out)


def _alternative_names_clause(cert: x509.Certificate, facts: CertificateFacts) -> str:
    try:
        entries = len(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        entries = 0
    except ValueError:  # a malformed extension
        return "; the certificate's subject alternative names cannot be parsed"
    if entries == 0:
        return "; the certificate does not have any subject alternative names"
    if not facts.subject_alt_names:  # only e-mail, URI or otherName entries
        return "; the certificate does not have any DNS/IP subject alternative names"
    return f"; the certificate has subject alternative names [{','.join(facts.subject_alt_names)}]"


def _issuer_trust(cert: x509.Certificate, issuer_dn: str, trust: TrustInfo | None) -> str:
    """What the context trusts of ``cert``'s issuer (which the chain did not include)."""
    if trust is None:
        return ""
    known = trust.by_subject.get(issuer_dn, ())
    if known:
        signers = [c for c in known if _signed_by(cert, c)]
        if signers:
            noun, verb = ("certificate", "is") if len(signers) == 1 else ("certificates", "are")
            return (
                f"; the issuing {noun} with {_fingerprints(signers)} {verb} trusted in this ssl"
                f" context ([{trust.description}])"
            )
        noun = "certificate" if len(known) == 1 else "certificates"
        return (
            f"; this ssl context ([{trust.description}]) trusts [{len(known)}] {noun} with"
            f" subject name [{issuer_dn}] and {_fingerprints(known)} but the signatures do not match"
        )
    text = f"; this ssl context ([{trust.description}]) is not configured to trust that issuer"
    issuers = trust.by_subject
    if not issuers:
        return text + " or any other issuer"
    if len(issuers) == 1:
        ((only, certs),) = issuers.items()
        return text + f", it only trusts the issuer [{only}] with {_fingerprints(certs)}"
    text += f" but trusts [{len(issuers)}] other issuers"
    if len(issuers) < _LIST_ISSUERS_BELOW:
        text += f" ([{', '.join(sorted(issuers))}])"
    return text


def _self_issued(cert: x509.Certificate, trust: TrustInfo | None) -> str:
    """``self-issued; the [DN] certificate is (not) trusted in this ssl context (...)...``."""
    if trust is None:
        return "self-issued"
    dn = format_dn(cert.issuer)
    same_dn, trusted, identical = _certificate_trust(cert, trust)
    text = (
        f"self-issued; the [{dn}] certificate {'is' if trusted else 'is not'} trusted in this ssl"
        f" context ([{trust.description}])"
    )
    if trusted and not identical:
        if len(same_dn) == 1:
            return text + (
                f" because we trust a certificate with {_fingerprints(same_dn)}"
                " for the same public key"
            )
        return text + (
            f" because we trust [{len(same_dn)}] certificates with {_fingerprints(same_dn)}"
            " for the same public key"
        )
    if not trusted and same_dn:
        if len(same_dn) == 1:
            return text + (
                f"; this ssl context does trust a certificate with subject"
                f" [{format_dn(same_dn[0].subject)}] but the trusted certificate has"
                f" {_fingerprints(same_dn)}"
            )
        return text + (
            f"; this ssl context does trust [{len(same_dn)}] certificates with subject [{dn}]"
            f" but those certificates have {_fingerprints(same_dn)}"
        )
    return text


def _certificate_trust(
    cert: x509.Certificate, trust: TrustInfo
) -> tuple[tuple[x509.Certificate, ...], bool, bool]:
    """(the trusted certificates relevant to ``cert``, trusted?, the very same certificate?).

    Trusted means the context holds this certificate, or one with its subject and public key
    (a CA re-issued for the same key); otherwise the relevant ones are those with its subject.
    """
    same_dn = trust.by_subject.get(format_dn(cert.subject), ())
    der = cert.public_bytes(serialization.Encoding.DER)
    for candidate in same_dn:
        if candidate.public_bytes(serialization.Encoding.DER) == der:
            return (candidate,), True, True
    key = _spki(cert)
    same_key = tuple(c for c in same_dn if _spki(c) == key)
    if same_key:
        return same_key, True, False
    return same_dn, False, False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # wrong signature, other name, unsupported key: not its issuer either way
        return False
    return True


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _fingerprints(certs: Iterable[x509.Certificate]) -> str:
    return ", ".join(f"fingerprint [{fingerprint(c, 'sha1')}]" for c in certs)


# --- the exception line --------------------------------------------------------------------------

_QUOTED_NAME = re.compile(r"not valid for '([^']*)'")


def trust_failure_cause(
    *,
    side: Side,
    chain: Sequence[x509.Certificate],
    verify_code: int | None,
    verify_message: str | None,
    hostname: str | None,
    now: dt.datetime,
) -> str:
    """The Java exception ES logs under the diagnostic: what the JDK's check would have said.

    OpenSSL's verify code says which check failed; the wording is the JDK's. Java checks in this
    order: the path to a trusted CA, then the dates along it, then (servers only) the name, so an
    expired certificate with a wrong name reads as a validity failure, as it would in ES.
    """
    code = verify_code if verify_code is not None else -1
    if code in _PATH_BUILDING_CODES:
        return PKIX_PATH_BUILDING_FAILED
    if code in _VALIDITY_CODES or any(not _valid_at(c, now) for c in chain):
        return PKIX_VALIDITY_CHECK_FAILED
    if code in _HOSTNAME_CODES:
        if hostname is None and verify_message:
            match = _QUOTED_NAME.search(verify_message)
            hostname = match.group(1) if match else None
        if hostname is not None and chain:
            return "java.security.cert.CertificateException: " + _hostname_mismatch(
                hostname, chain[0]
            )
    if code == _PURPOSE_CODE:
        usage = "server" if side == "client" else "client"
        return (
            "sun.security.validator.ValidatorException: Extended key usage does not permit use"
            f" for TLS {usage} authentication"
        )
    return (
        f"java.security.cert.CertificateException: {verify_message or 'certificate verify failed'}"
    )


def _valid_at(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _hostname_mismatch(expected: str, cert: x509.Certificate) -> str:
    """The JDK ``HostnameChecker``'s words for a name the certificate does not carry."""
    try:
        sans = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (x509.ExtensionNotFound, ValueError):
        sans = []
    try:
        ipaddress.ip_address(expected.strip("[]"))
    except ValueError:
        pass
    else:
        if not sans:
            return "No subject alternative names present"
        return f"No subject alternative names matching IP address {expected} found"
    if any(isinstance(name, x509.DNSName) for name in sans):
        return f"No subject alternative DNS name matching {expected} found."
    return f"No name matching {expected} found"
