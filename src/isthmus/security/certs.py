"""Certificates: make CA and node certificates, and encode and decode them.

[no I/O] Everything here works on values and bytes. Reading and writing files, prompting and
printing belong to the callers (``cli/certutil.py``, the TLS layer, the doctor). Time and serial
numbers can be passed in, so tests are deterministic.

Distinguished names live in :mod:`isthmus.security.dn` and certificate facts (formatted as ES
prints them) in :mod:`isthmus.security.cert_facts`; their public names are re-exported here, so
``from isthmus.security.certs import describe, parse_dn`` keeps working.

Invalid input (a bad DN, IP address, password or file) raises :class:`IllegalArgumentError`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from isthmus.errors import IllegalArgumentError
from isthmus.security.cert_facts import CertificateFacts as CertificateFacts
from isthmus.security.cert_facts import PrivateKey as PrivateKey
from isthmus.security.cert_facts import describe as describe
from isthmus.security.cert_facts import describe_bundle as describe_bundle
from isthmus.security.cert_facts import describe_key as describe_key
from isthmus.security.cert_facts import fingerprint as fingerprint
from isthmus.security.cert_facts import format_ip as format_ip
from isthmus.security.cert_facts import key_matches as key_matches
from isthmus.security.dn import format_dn as format_dn
from isthmus.security.dn import instance_subject as instance_subject
from isthmus.security.dn import parse_dn as parse_dn

KeyAlgorithm = Literal["ec", "rsa"]

DEFAULT_CA_DN = "CN=Isthmus Generated CA"
DEFAULT_DAYS = 3 * 365  # elasticsearch-certutil's default validity
_EC_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1()}
_MIN_RSA_BITS = 2048


# --- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """Which key to generate: EC P-256 unless told otherwise, or RSA of a given size."""

    algorithm: KeyAlgorithm = "ec"
    size: int = 256

    @classmethod
    def parse(cls, key_type: str | None, keysize: int | None) -> KeySpec:
        """Read ``--key-type``/``--keysize``. A size alone picks its algorithm (256/384: EC)."""
        if key_type is None:
            key_type = "ec" if keysize is None or keysize in _EC_CURVES else "rsa"
        if key_type == "ec":
            size = 256 if keysize is None else keysize
            if size not in _EC_CURVES:
                raise IllegalArgumentError(f"EC keys must have a size of 256 or 384, not [{size}]")
            return cls("ec", size)
        if key_type == "rsa":
            size = 2048 if keysize is None else keysize
            if size < _MIN_RSA_BITS:
                raise IllegalArgumentError(
                    f"RSA keys must have at least {_MIN_RSA_BITS} bits, not [{size}]"
                )
            return cls("rsa", size)
        raise IllegalArgumentError(f"unknown key type [{key_type}], expected one of [ec, rsa]")

    def generate(self) -> PrivateKey:
        if self.algorithm == "ec":
            return ec.generate_private_key(_EC_CURVES[self.size])
        return rsa.generate_private_key(public_exponent=65537, key_size=self.size)


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


# --- generation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateAndKey:
    """A certificate, its private key, and the issuing chain above it (CA last)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:
        return (
            f"CertificateAndKey(subject={format_dn(self.certificate.subject)!r}, "
            f"issuer={format_dn(self.certificate.issuer)!r}, key={describe_key(self.key)!r}, "
            f"chain={len(self.chain)})"
        )


def generate_ca(
    subject: str | x509.Name = DEFAULT_CA_DN,
    *,
    days: int = DEFAULT_DAYS,
    key_spec: KeySpec = KeySpec(),
    now: dt.datetime | None = None,
    serial: int | None = None,
    key: PrivateKey | None = None,
) -> CertificateAndKey:
    """A self-signed CA: basicConstraints CA:true, keyUsage keyCertSign + cRLSign."""
    name = parse_dn(subject) if isinstance(subject, str) else subject
    key = key or key_spec.generate()
    builder = (
        _base_builder(name, name, key, days=days, now=now, serial=serial)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    return CertificateAndKey(builder.sign(key, _signature_hash(key)), key)


def issue_certificate(
    subject: str | x509.Name,
    *,
    issuer: CertificateAndKey | None,
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    common_names: Iterable[str] = (),
    days: int = DEFAULT_DAYS,
    key_spec: KeySpec = KeySpec(),
    now: dt.datetime | None = None,
    serial: int | None = None,
    key: PrivateKey | None = None,
) -> CertificateAndKey:
    """A node certificate for mutual TLS, signed by ``issuer`` (``None``: self-signed).

    It carries extendedKeyUsage serverAuth + clientAuth, keyUsage digitalSignature (plus
    keyEncipherment for RSA keys), basicConstraints CA:false, and the DNS/IP names as SANs.
    ``subject`` is an instance name (``node-1``) or a DN (``CN=node-1,O=Acme``).
    ``common_names`` become otherName SANs the way ES's certutil writes an instance's ``cn``.
    """
    name = instance_subject(subject) if isinstance(subject, str) else subject
    sans = subject_alt_names(dns_names, ip_addresses, common_names)
    if issuer is not None:
        _check_issuer(issuer)
    key = key or key_spec.generate()
    signer = key if issuer is None else issuer.key
    issuer_name = name if issuer is None else issuer.certificate.subject
    builder = (
        _base_builder(name, issuer_name, key, days=days, now=now, serial=serial)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey)),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    chain = () if issuer is None else (issuer.certificate, *issuer.chain)
    return CertificateAndKey(builder.sign(signer, _signature_hash(signer)), key, chain)


def subject_alt_names(
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    common_names: Iterable[str] = (),
) -> list[x509.GeneralName]:
    """Validated SAN entries: DNS names first, then IPs, then otherName CNs; duplicates dropped."""
    names: list[x509.GeneralName] = []
    for dns in dns_names:
        if not dns or not dns.isascii() or " " in dns:
            raise IllegalArgumentError(f"[{dns}] is not a valid DNS name")
        names.append(x509.DNSName(dns))
    for ip in ip_addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip.strip())))
        except ValueError:
            raise IllegalArgumentError(f"[{ip}] is not a valid IP address") from None
    for cn in common_names:
        value = cn.encode()
        if len(value) > 127:
            raise IllegalArgumentError(f"[{cn}] is too long for a common name SAN")
        names.append(x509.OtherName(NameOID.COMMON_NAME, bytes([0x0C, len(value)]) + value))
    return list(dict.fromkeys(names))


def _check_issuer(issuer: CertificateAndKey) -> None:
    dn = format_dn(issuer.certificate.subject)
    try:
        is_ca = issuer.certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise IllegalArgumentError(
            f"the certificate [{dn}] is not a CA (no basicConstraints CA:true)"
        )
    if not key_matches(issuer.certificate, issuer.key):
        raise IllegalArgumentError(f"the private key does not belong to the CA certificate [{dn}]")


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    *,
    days: int,
    now: dt.datetime | None,
    serial: int | None,
) -> x509.CertificateBuilder:
    if days < 1:
        raise IllegalArgumentError(f"the validity must be at least one day, not [{days}]")
    start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# --- encoding -------------------------------------------------------------------------------------

BundleFormat = Literal["PEM", "PKCS12", "DER"]
_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL
)


@dataclass(frozen=True)
class Bundle:
    """What a certificate file holds: certificates (leaf first), maybe one private key."""

    format: BundleFormat
    certificates: tuple[x509.Certificate, ...]
    key: PrivateKey | None = None
    aliases: tuple[str | None, ...] = ()  # PKCS#12 friendly names, one per certificate

    def certificate_and_key(self) -> CertificateAndKey:
        """The certificate the key belongs to, with the other certificates as its chain."""
        if self.key is None:
            raise IllegalArgumentError("the file holds no private key")
        key = self.key
        leaf = next((c for c in self.certificates if key_matches(c, key)), None)
        if leaf is None:
            raise IllegalArgumentError("the file holds no certificate for its private key")
        return CertificateAndKey(leaf, key, tuple(c for c in self.certificates if c is not leaf))

    def __repr__(self) -> str:
        subjects = [format_dn(c.subject) for c in self.certificates]
        return (
            f"Bundle(format={self.format}, certificates={subjects!r}, key={self.key is not None})"
        )


def encode_pem_certificates(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def encode_pem_key(key: PrivateKey, password: str | None = None) -> bytes:
    """PKCS#8 PEM; encrypted (PBES2, AES-256-CBC) when a non-empty password is given."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(password)
    )


def encode_pkcs12(
    bundle: CertificateAndKey | x509.Certificate, *, alias: str, password: str | None = None
) -> bytes:
    """A PKCS#12 keystore as ES's certutil writes it: the key entry under ``alias`` and the chain
    (the CA) under ``ca``. An empty password writes an unencrypted file without a MAC."""
    if password and not password.isascii():
        raise IllegalArgumentError("PKCS#12 passwords must be plain ASCII")
    encryption = _encryption(password)
    if isinstance(bundle, x509.Certificate):
        cas = [pkcs12.PKCS12Certificate(bundle, alias.encode())]
        return pkcs12.serialize_key_and_certificates(None, None, None, cas, encryption)
    chain = [
        pkcs12.PKCS12Certificate(c, b"ca" if i == 0 else f"ca-{i}".encode())
        for i, c in enumerate(bundle.chain)
    ]
    return pkcs12.serialize_key_and_certificates(
        alias.encode(), bundle.key, bundle.certificate, chain or None, encryption
    )


def decode_pkcs12(data: bytes, password: str | None = None) -> Bundle:
    """Read a PKCS#12 file. No password also tries the empty one, which Java keystores use."""
    loaded = _load_pkcs12(data, password)
    if loaded is None:
        raise IllegalArgumentError(
            "cannot read the PKCS#12 data: the password is wrong or the data is not PKCS#12"
        )
    entries = ([loaded.cert] if loaded.cert is not None else []) + list(loaded.additional_certs)
    key = loaded.key
    if key is not None and not isinstance(key, PrivateKey):
        raise IllegalArgumentError(f"unsupported private key type [{type(key).__name__}]")
    return Bundle(
        "PKCS12",
        tuple(e.certificate for e in entries),
        key,
        tuple(e.friendly_name.decode() if e.friendly_name else None for e in entries),
    )


def decode_pem(data: bytes, password: str | None = None) -> Bundle:
    """All certificates of a PEM file and its private key (if any; at most one)."""
    certificates: tuple[x509.Certificate, ...] = ()
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certificates = tuple(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise IllegalArgumentError(f"cannot read the PEM certificates: {exc}") from None
    keys = list(_PEM_KEY.finditer(data))
    if len(keys) > 1:
        raise IllegalArgumentError(f"expected at most one private key, found [{len(keys)}]")
    key = _load_pem_key(keys[0].group(0), password) if keys else None
    if not certificates and key is None:
        raise IllegalArgumentError("no PEM certificate or private key found")
    return Bundle("PEM", certificates, key, (None,) * len(certificates))


def decode_bundle(data: bytes, password: str | None = None) -> Bundle:
    """Decode PEM, PKCS#12 or a single DER certificate, telling them apart by their bytes."""
    if b"-----BEGIN " in data:
        return decode_pem(data, password)
    try:
        return Bundle("DER", (x509.load_der_x509_certificate(data),), None, (None,))
    except ValueError:
        return decode_pkcs12(data, password)


def needs_password(data: bytes) -> bool:
    """True when the data holds an encrypted key or PKCS#12 that cannot be read without one."""
    if b"-----BEGIN " in data:
        # PKCS#8 "ENCRYPTED PRIVATE KEY", or a traditional key with "Proc-Type: 4,ENCRYPTED"
        return any(b"ENCRYPTED" in m.group(0) for m in _PEM_KEY.finditer(data))
    try:
        x509.load_der_x509_certificate(data)
        return False
    except ValueError:
        return _load_pkcs12(data, None) is None


def _encryption(password: str | None) -> serialization.KeySerializationEncryption:
    if password:
        return serialization.BestAvailableEncryption(password.encode())
    return serialization.NoEncryption()


def _load_pkcs12(data: bytes, password: str | None) -> pkcs12.PKCS12KeyAndCertificates | None:
    for attempt in [password.encode()] if password else [None, b""]:
        try:
            return pkcs12.load_pkcs12(data, attempt)
        except ValueError:
            continue
    return None


def _load_pem_key(block: bytes, password: str | None) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(block, password.encode() if password else None)
    except TypeError:
        if not password:
            raise IllegalArgumentError(
                "the private key is encrypted and needs a password"
            ) from None
        key = serialization.load_pem_private_key(block, None)  # not encrypted: ignore the password
    except ValueError:
        raise IllegalArgumentError(
            "cannot read the private key: the password is wrong or the key is corrupt"
        ) from None
    if not isinstance(key, PrivateKey):
        raise IllegalArgumentError(f"unsupported private key type [{type(key).__name__}]")
    return key
