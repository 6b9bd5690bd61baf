"""Distinguished names: parse them as Java and ES read them, and print them as Java does.

[no I/O] Plain functions over strings and :class:`x509.Name` values.

* Parsing accepts RFC 1779 / RFC 2253 text, most specific RDN first (``CN=node-1, OU=search,
  O=Acme``), with the keywords Java's ``X500Principal`` accepts.
* Printing follows ``X500Principal.getName()`` (RFC 2253): most specific RDN first, no space after
  the comma (``CN=node-1,OU=search,O=Acme``); attributes without an RFC 2253 keyword print as
  ``<oid>=#<hex of their DER>``. It reads the name's DER, so it needs a small DER walker.

An invalid DN raises :class:`IllegalArgumentError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cryptography import x509
from cryptography.x509.oid import NameOID

from isthmus.errors import IllegalArgumentError

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
