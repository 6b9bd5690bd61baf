"""Certificate facts: what a certificate says about itself, worded as Elasticsearch prints it.

[no I/O] Plain functions over :mod:`cryptography` objects. Facts are formatted the way ES prints
them in its TLS failure messages (``SslDiagnostics``) and in ``GET _ssl/certificates``, so the two
can be compared by eye:

* DNs as Java's ``X500Principal.getName()`` prints them (see :mod:`isthmus.security.dn`);
* serial numbers in lowercase hex; fingerprints in lowercase hex without colons;
* subject alternative names as ``DNS:<name>`` / ``IP:<address>`` (IPv6 in Java's long form);
* key usages with their RFC 5280 names (``digitalSignature``, ``keyCertSign``), extended key
  usages with the names ES's ``SslDiagnostics`` knows (``serverAuth``, ``clientAuth``,
  ``ocspSigning``...), any other purpose as its dotted OID;
* instants as Java's ``Instant.toString()`` prints them (:func:`java_instant`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from isthmus.security.dn import format_dn

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CertificateSource(Protocol):
    """What :func:`describe_bundle` reads from a decoded file (a ``certs.Bundle``)."""

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]: ...

    @property
    def key(self) -> PrivateKey | None: ...

    @property
    def aliases(self) -> tuple[str | None, ...]: ...


# --- keys -----------------------------------------------------------------------------------------


def describe_key(key: PrivateKey | x509.Certificate) -> str:
    """``EC secp256r1`` or ``RSA 2048``: the public key of a key or certificate, in a word or two."""
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"EC {public.curve.name}"
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA {public.key_size}"
    return type(public).__name__


def key_matches(certificate: x509.Certificate, key: PrivateKey) -> bool:
    """True when ``key`` is the private half of the certificate's public key."""
    return _spki(certificate) == _spki(key)


def _spki(obj: PrivateKey | x509.Certificate) -> bytes:
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- facts ----------------------------------------------------------------------------------------

_KEY_USAGE_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
    ("encipher_only", "encipherOnly"),
    ("decipher_only", "decipherOnly"),
)
_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "ocspSigning",
}  # ES's SslDiagnostics names exactly these six; any other purpose prints as its OID


@dataclass(frozen=True)
class CertificateFacts:
    """The facts of one certificate that TLS failure messages quote, formatted as ES prints them.

    ``key_usage``/``extended_key_usage`` are ``None`` when the extension is absent (which allows
    every usage), and a tuple (maybe empty) when present.
    """

    subject: str
    issuer: str
    serial: str
    subject_alt_names: tuple[str, ...]
    key_usage: tuple[str, ...] | None
    extended_key_usage: tuple[str, ...] | None
    is_ca: bool
    public_key: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha1: str
    sha256: str
    has_private_key: bool = False
    alias: str | None = None

    @property
    def dns_names(self) -> tuple[str, ...]:
        return tuple(s[4:] for s in self.subject_alt_names if s.startswith("DNS:"))

    @property
    def ip_addresses(self) -> tuple[str, ...]:
        return tuple(s[3:] for s in self.subject_alt_names if s.startswith("IP:"))

    @property
    def self_issued(self) -> bool:
        return self.subject == self.issuer

    def usage_description(self) -> str:
        """``keyUsage [...] and extendedKeyUsage [...]``, worded as in ES's SslDiagnostics."""
        ku = f"keyUsage [{', '.join(self.key_usage)}]" if self.key_usage else "no keyUsage"
        eku = (
            f"extendedKeyUsage [{', '.join(self.extended_key_usage)}]"
            if self.extended_key_usage
            else "no extendedKeyUsage"
        )
        return f"{ku} and {eku}"

    def identity_description(self) -> str:
        """``subject name [...], fingerprint [sha1], keyUsage ... and extendedKeyUsage ...``."""
        return (
            f"subject name [{self.subject}], fingerprint [{self.sha1}], {self.usage_description()}"
        )

    def validity_description(self, now: dt.datetime) -> str:
        """``the certificate is valid between [...] and [...] (current time is [...], ...)``."""
        if now < self.not_before:
            state = "certificate is not yet valid"
        elif now > self.not_after:
            state = "certificate has expired"
        else:
            state = "certificate dates are valid"
        return (
            f"the certificate is valid between [{_instant(self.not_before)}] and "
            f"[{_instant(self.not_after)}] (current time is [{java_instant(now)}], {state})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "subject_dn": self.subject,
            "issuer_dn": self.issuer,
            "serial_number": self.serial,
            "subject_alt_names": list(self.subject_alt_names),
            "key_usage": None if self.key_usage is None else list(self.key_usage),
            "extended_key_usage": (
                None if self.extended_key_usage is None else list(self.extended_key_usage)
            ),
            "is_ca": self.is_ca,
            "public_key": self.public_key,
            "not_before": _instant(self.not_before),
            "not_after": _instant(self.not_after),
            "fingerprint_sha1": self.sha1,
            "fingerprint_sha256": self.sha256,
            "has_private_key": self.has_private_key,
        }


def describe(
    certificate: x509.Certificate, *, key: PrivateKey | None = None, alias: str | None = None
) -> CertificateFacts:
    """The facts of ``certificate``; ``has_private_key`` is true when ``key`` belongs to it."""
    ext = certificate.extensions
    return CertificateFacts(
        subject=format_dn(certificate.subject),
        issuer=format_dn(certificate.issuer),
        serial=format(certificate.serial_number, "x"),
        subject_alt_names=_describe_sans(ext),
        key_usage=_describe_key_usage(ext),
        extended_key_usage=_describe_eku(ext),
        is_ca=_is_ca(ext),
        public_key=describe_key(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        sha1=fingerprint(certificate, "sha1"),
        sha256=fingerprint(certificate, "sha256"),
        has_private_key=key is not None and key_matches(certificate, key),
        alias=alias,
    )


def describe_bundle(bundle: CertificateSource) -> tuple[CertificateFacts, ...]:
    aliases: Sequence[str | None] = bundle.aliases or (None,) * len(bundle.certificates)
    return tuple(
        describe(c, key=bundle.key, alias=a)
        for c, a in zip(bundle.certificates, aliases, strict=True)
    )


def fingerprint(certificate: x509.Certificate, algorithm: Literal["sha1", "sha256"]) -> str:
    """Lowercase hex without colons, as ES prints fingerprints."""
    digest = hashes.SHA1() if algorithm == "sha1" else hashes.SHA256()
    return certificate.fingerprint(digest).hex()


def format_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An IP as Java prints it in a SAN: IPv6 in full, without leading zeros (``0:0:0:0:0:0:0:1``)."""
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return ":".join(format(int(group, 16), "x") for group in address.exploded.split(":"))


def _describe_sans(ext: x509.Extensions) -> tuple[str, ...]:
    try:
        names = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    out: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress) and not isinstance(
            name.value, ipaddress.IPv4Network | ipaddress.IPv6Network
        ):
            out.append(f"IP:{format_ip(name.value)}")
    return tuple(out)


def _describe_key_usage(ext: x509.Extensions) -> tuple[str, ...] | None:
    try:
        usage = ext.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    names = []
    for attr, label in _KEY_USAGE_NAMES:
        try:
            if getattr(usage, attr):
                names.append(label)
        except ValueError:  # encipher_only/decipher_only are undefined without keyAgreement
            continue
    return tuple(names)


def _describe_eku(ext: x509.Extensions) -> tuple[str, ...] | None:
    try:
        usages = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return tuple(_EKU_NAMES.get(oid.dotted_string, oid.dotted_string) for oid in usages)


def _is_ca(ext: x509.Extensions) -> bool:
    try:
        return ext.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def java_instant(moment: dt.datetime) -> str:
    """Java's ``Instant.toString()``: UTC, with the fraction of a second only when there is one,
    in groups of three digits (``2023-08-16T23:40:55.464275Z``, ``...:55.464Z``, ``...:55Z``)."""
    utc = moment.astimezone(dt.UTC)
    micros = utc.microsecond
    if micros == 0:
        fraction = ""
    elif micros % 1000 == 0:
        fraction = f".{micros // 1000:03d}"
    else:
        fraction = f".{micros:06d}"
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _instant(moment: dt.datetime) -> str:
    """Java's ``Instant.toString()`` at second precision: ``2024-10-02T11:38:14Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
