"""Certificates: make CA and node certificates, encode and decode them, and state their facts.

[no I/O] Everything here works on values and bytes. Reading and writing files, prompting and
printing belong to the callers (``cli/certutil.py``, the TLS layer, the doctor). Time and serial
numbers can be passed in, so tests are deterministic.

Facts are formatted the way Elasticsearch prints them in its TLS failure messages
(``SslDiagnostics``) and in ``GET _ssl/certificates``, so the two can be compared by eye:

* a DN as Java's ``X500Principal.getName()`` prints it: RFC 2253, most specific RDN first, no
  space after the comma (``CN=node-1,OU=search,O=Acme``);
* serial numbers in lowercase hex; fingerprints in lowercase hex without colons;
* subject alternative names as ``DNS:<name>`` / ``IP:<address>`` (IPv6 in Java's long form);
* key usages with their RFC 5280 names (``digitalSignature``, ``keyCertSign``), extended key
  usages with theirs (``serverAuth``, ``clientAuth``).

Invalid input (a bad DN, IP address, password or file) raises :class:`IllegalArgumentError`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from isthmus.errors import IllegalArgumentError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
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


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


# --- distinguished names --------------------------------------------------------------------------

# Keywords accepted when parsing (Java's X500Principal accepts these, RFC 1779 + RFC 2253).
_DN_KEYWORDS: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "C": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "T": NameOID.TITLE,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "SURNAME": NameOID.SURNAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "INITIALS": NameOID.INITIALS,
    "GENERATION": NameOID.GENERATION_QUALIFIER,
    "DNQ": NameOID.DN_QUALIFIER,
    "DNQUALIFIER": NameOID.DN_QUALIFIER,
}
# Keywords Java prints in RFC 2253 form; any other attribute prints as <oid>=#<hex of its DER>.
_RFC2253_KEYWORDS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
_JAVA_ESCAPES = ',=+<>#;"\\'
_STRING_TAGS = {0x0C, 0x13, 0x14, 0x16, 0x1B, 0x1E}  # UTF8, Printable, T61, IA5, General, BMP


def parse_dn(text: str) -> x509.Name:
    """Parse ``CN=node-1, OU=search, O=Acme`` (most specific first, as Java and ES take it)."""
    rdns: list[x509.RelativeDistinguishedName] = []
    attrs: list[x509.NameAttribute[str]] = []
    i, n = 0, len(text)
    if not text.strip():
        raise IllegalArgumentError("a distinguished name may not be empty")
    while True:
        eq = text.find("=", i)
        if eq < 0:
            raise _bad_dn(text, f"expected [=] after [{text[i:].strip()}]")
        keyword = text[i:eq].strip()
        oid = _dn_oid(text, keyword)
        value, i = _read_dn_value(text, eq + 1)
        try:
            attrs.append(x509.NameAttribute(oid, value))
        except ValueError as exc:
            raise _bad_dn(text, str(exc)) from None
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            rdns.append(x509.RelativeDistinguishedName(attrs))
            return x509.Name(list(reversed(rdns)))
        if text[i] == "+":
            i += 1
            continue
        if text[i] in ",;":
            rdns.append(x509.RelativeDistinguishedName(attrs))
            attrs = []
            i += 1
            continue
        raise _bad_dn(text, f"unexpected [{text[i]}] at position {i}")


def instance_subject(name: str) -> x509.Name:
    """An instance name as ES's certutil reads it: a DN if it contains ``=``, else ``CN=<name>``."""
    if "=" in name:
        return parse_dn(name)
    if not name.strip():
        raise IllegalArgumentError("instance name may not be empty")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def format_dn(name: x509.Name) -> str:
    """The DN as Java's ``X500Principal.getName()`` prints it, which is what ES messages quote."""
    rdns = [_format_rdn(rdn) for rdn in _der_children(_der_content(name.public_bytes()))]
    return ",".join(reversed(rdns))


def _dn_oid(text: str, keyword: str) -> x509.ObjectIdentifier:
    upper = keyword.upper()
    if upper.startswith("OID."):
        upper = upper[4:]
    if upper in _DN_KEYWORDS:
        return _DN_KEYWORDS[upper]
    if re.fullmatch(r"[0-2](\.[0-9]+)+", upper):
        return x509.ObjectIdentifier(upper)
    raise _bad_dn(text, f"unknown attribute type [{keyword}]")


def _read_dn_value(text: str, i: int) -> tuple[str, int]:
    """Read one attribute value starting at ``i``; return it and the index after it."""
    n = len(text)
    while i < n and text[i] == " ":
        i += 1
    out = bytearray()
    if i < n and text[i] == '"':
        i += 1
        while i < n and text[i] != '"':
            if text[i] == "\\" and i + 1 < n:
                i += 1
            out += text[i].encode()
            i += 1
        if i >= n:
            raise _bad_dn(text, "unterminated quoted value")
        return out.decode(), i + 1
    if i < n and text[i] == "#":
        raise _bad_dn(text, "hex-encoded (#...) attribute values are not supported")
    keep = 0  # length of ``out`` up to its last character that is not an unescaped space
    while i < n and text[i] not in ",;+":
        ch = text[i]
        if ch == "\\":
            if re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 1 : i + 3]):
                out.append(int(text[i + 1 : i + 3], 16))
                i += 3
            elif i + 1 < n:
                out += text[i + 1].encode()
                i += 2
            else:
                raise _bad_dn(text, "dangling [\\] at the end")
            keep = len(out)
            continue
        if ch in '"<>=' or (ch == "#" and not out):
            raise _bad_dn(text, f"character [{ch}] must be escaped")
        out += ch.encode()
        if ch != " ":
            keep = len(out)
        i += 1
    try:
        return bytes(out[:keep]).decode(), i
    except UnicodeDecodeError:
        raise _bad_dn(text, "escaped bytes are not valid UTF-8") from None


def _bad_dn(text: str, why: str) -> IllegalArgumentError:
    return IllegalArgumentError(f"[{text}] could not be converted to a valid DN: {why}")


def _format_rdn(rdn_der: bytes) -> str:
    avas = []
    for ava in _der_children(_der_content(rdn_der)):
        oid_tlv, value_tlv = list(_der_children(_der_content(ava)))[:2]
        oid = _decode_oid(_der_content(oid_tlv))
        keyword = _RFC2253_KEYWORDS.get(oid)
        if keyword is None or value_tlv[0] not in _STRING_TAGS:
            avas.append(f"{keyword or oid}=#{value_tlv.hex()}")
            continue
        raw = _der_content(value_tlv)
        value = raw.decode("utf-16-be" if value_tlv[0] == 0x1E else "utf-8", errors="replace")
        avas.append(f"{keyword}={_java_escape(value)}")
    return "+".join(avas)


def _java_escape(value: str) -> str:
    escaped = "".join("\\" + c if c in _JAVA_ESCAPES else "\\00" if c == "\0" else c for c in value)
    lead = len(escaped) - len(escaped.lstrip(" \r"))
    trail = len(escaped.rstrip(" \r"))
    return "".join("\\" + c if i < lead or i >= trail else c for i, c in enumerate(escaped))


def _der_header(data: bytes) -> tuple[int, int]:
    """(header length, content length) of the DER TLV at the start of ``data``."""
    first = data[1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    return 2 + count, int.from_bytes(data[2 : 2 + count], "big")


def _der_content(tlv: bytes) -> bytes:
    header, length = _der_header(tlv)
    return tlv[header : header + length]


def _der_children(content: bytes) -> Iterator[bytes]:
    i = 0
    while i < len(content):
        header, length = _der_header(content[i:])
        yield content[i : i + header + length]
        i += header + length


def _decode_oid(content: bytes) -> str:
    values: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(value)
            value = 0
    first = min(values[0] // 40, 2)
    return ".".join(str(a) for a in (first, values[0] - 40 * first, *values[1:]))


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
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}


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
            f"[{_instant(self.not_after)}] (current time is [{_instant(now)}], {state})"
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


def describe_bundle(bundle: Bundle) -> tuple[CertificateFacts, ...]:
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


def _instant(moment: dt.datetime) -> str:
    """Java's ``Instant.toString()`` at second precision: ``2024-10-02T11:38:14Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
