"""The keystore file format: bytes <-> entries, and its crypto.  [no I/O]

Owns the byte layout of ``isthmus.keystore``, the key derivation and the cipher, and the
immutable :class:`KeystoreContents` a decoded keystore becomes. It never touches the file system;
``isthmus.security.keystore`` reads, locks and writes. Randomness (salt, nonce, seed) is injected
as ``rng(n) -> bytes`` with a cryptographic default.

Format version 1 (all integers big-endian)::

    offset  size  field
    0       8     magic            89 'I' 'S' 'T' 'H' 'K' 'S' 0a
    8       2     format version   u16, = 1
    10      1     flags            bit 0: password-protected; other bits must be 0
    11      4     kdf iterations   u32, PBKDF2-HMAC-SHA512 rounds (210 000 when written)
    15      64    salt             PBKDF2 salt
    79      12    nonce            AES-GCM IV
    91      n+16  ciphertext       AES-256-GCM(plaintext) || 16-byte tag; AAD = bytes [0, 91)
    -4      4     crc32            u32, CRC-32 of every preceding byte

    plaintext: u32 count, then per entry (sorted by name):
        u16 name length | name (ASCII) | u8 kind (0 string, 1 file) | u32 length | value bytes

Rules and reasons:

* Every version, present and future, starts with magic + u16 version and ends with the CRC-32,
  so any flipped or missing byte is "corrupted" before a key is derived, and a newer file is
  recognised as newer. The header is also the GCM AAD, so a crafted header with a fixed-up CRC
  still fails authentication.
* With no password the empty password is used (as ES does): the file is obfuscated, not
  protected. A failed GCM tag is reported as a wrong password, as ES reports it.
* Names follow the keystore name pattern of ``isthmus.settings.secure``; whether the node knows a
  name is that module's business, not the format's.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from isthmus.errors import (
    KeystoreCorruptedError,
    KeystoreFormatError,
    KeystorePasswordError,
    SettingsError,
)
from isthmus.settings.secret import Secret
from isthmus.settings.secure import SEED_SETTING, validate_setting_name

KEYSTORE_FILENAME = "isthmus.keystore"
MAGIC = b"\x89ISTHKS\n"
FORMAT_VERSION = 1
MIN_FORMAT_VERSION = 1
KDF_ITERATIONS = 210_000
MAX_KDF_ITERATIONS = 10_000_000  # a crafted header must not make us spin for minutes
SALT_LEN = 64
NONCE_LEN = 12
TAG_LEN = 16
KEY_LEN = 32  # AES-256
FLAG_PASSWORD = 0x01

_PREFIX = struct.Struct(">8sH")  # magic, version: the part every version shares
_HEADER = struct.Struct(">8sHBI")  # magic, version, flags, iterations
HEADER_LEN = _HEADER.size + SALT_LEN + NONCE_LEN
_CRC = struct.Struct(">I")
MIN_FILE_LEN = HEADER_LEN + TAG_LEN + _CRC.size

# ES's seed alphabet and length (KeyStoreWrapper.addBootstrapSeed).
SEED_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~!@#$%^&*-_=+?"
SEED_LENGTH = 20

Rng = Callable[[int], bytes]


# --- values -----------------------------------------------------------------------------------


class EntryKind(Enum):
    STRING = 0
    FILE = 1


@dataclass(frozen=True)
class Entry:
    """One keystore value. Its bytes never appear in a repr."""

    kind: EntryKind
    data: bytes = field(repr=False)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the value: lets a reload tell what changed without keeping old values."""
        return hashlib.sha256(self.data).digest()


@dataclass(frozen=True)
class KeystoreHeader:
    """What can be known about a keystore without its password."""

    format_version: int
    has_password: bool
    kdf_iterations: int


@dataclass(frozen=True, eq=False, repr=False)
class KeystoreContents:
    """A decrypted keystore: immutable; ``with_*``/``without`` return changed copies."""

    entries: Mapping[str, Entry] = field(default_factory=dict)
    has_password: bool = False
    format_version: int = FORMAT_VERSION
    kdf_iterations: int = KDF_ITERATIONS

    def __post_init__(self) -> None:
        ordered = {name: self.entries[name] for name in sorted(self.entries)}
        object.__setattr__(self, "entries", MappingProxyType(ordered))

    def get(self, name: str) -> Secret | None:
        """The value as a string secret (file values must be UTF-8 to be read this way)."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        try:
            return Secret(entry.data.decode("utf-8"))
        except UnicodeDecodeError:
            raise SettingsError(
                f"secure setting [{name}] holds binary data and cannot be read as a string"
            ) from None

    def get_file(self, name: str) -> bytes | None:
        entry = self.entries.get(name)
        return None if entry is None else entry.data

    def kind(self, name: str) -> EntryKind | None:
        entry = self.entries.get(name)
        return None if entry is None else entry.kind

    def digest(self, name: str) -> bytes | None:
        entry = self.entries.get(name)
        return None if entry is None else entry.digest

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def with_string(self, name: str, value: Secret | str) -> KeystoreContents:
        text = value.reveal() if isinstance(value, Secret) else value
        return self._with(name, Entry(EntryKind.STRING, text.encode("utf-8")))

    def with_file(self, name: str, data: bytes) -> KeystoreContents:
        return self._with(name, Entry(EntryKind.FILE, bytes(data)))

    def without(self, *names: str) -> KeystoreContents:
        kept = {n: e for n, e in self.entries.items() if n not in names}
        return self._replace(kept)

    @property
    def needs_upgrade(self) -> bool:
        """True when ``upgrade`` would rewrite the file (old format, weak KDF, or no seed)."""
        return (
            self.format_version < FORMAT_VERSION
            or self.kdf_iterations < KDF_ITERATIONS
            or SEED_SETTING not in self.entries
        )

    def with_seed(self, rng: Rng = secrets.token_bytes) -> KeystoreContents:
        """Add ``keystore.seed`` if missing (new keystores and ``upgrade``)."""
        if SEED_SETTING in self.entries:
            return self
        return self.with_string(SEED_SETTING, new_seed(rng))

    def _with(self, name: str, entry: Entry) -> KeystoreContents:
        validate_setting_name(name)
        return self._replace({**self.entries, name: entry})

    def _replace(self, entries: Mapping[str, Entry]) -> KeystoreContents:
        return KeystoreContents(
            entries, self.has_password, self.format_version, self.kdf_iterations
        )

    def __repr__(self) -> str:
        protected = "yes" if self.has_password else "no"
        return (
            f"<KeystoreContents {len(self.entries)} entries, password={protected}, "
            f"format={self.format_version}>"
        )


def new_seed(rng: Rng = secrets.token_bytes) -> Secret:
    """A random 20-character seed from ES's alphabet (unbiased: rejection sampling)."""
    limit = 256 - 256 % len(SEED_CHARS)
    out: list[str] = []
    while len(out) < SEED_LENGTH:
        for byte in rng(SEED_LENGTH):
            if byte < limit and len(out) < SEED_LENGTH:
                out.append(SEED_CHARS[byte % len(SEED_CHARS)])
    return Secret("".join(out))


def new_keystore(rng: Rng = secrets.token_bytes) -> KeystoreContents:
    """An empty keystore holding only its random seed."""
    return KeystoreContents().with_seed(rng)


# --- encode / decode ----------------------------------------------------------------------------


def _password_bytes(password: Secret | None) -> bytes:
    return b"" if password is None else password.reveal().encode("utf-8")


def _derive_key(password: bytes, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA512(), length=KEY_LEN, salt=salt, iterations=iterations)
    return kdf.derive(password)


def _encode_entries(entries: Iterable[tuple[str, Entry]]) -> bytes:
    items = sorted(entries, key=lambda item: item[0])
    parts = [struct.pack(">I", len(items))]
    for name, entry in items:
        raw = name.encode("ascii")
        parts.append(struct.pack(">H", len(raw)) + raw)
        parts.append(struct.pack(">BI", entry.kind.value, len(entry.data)) + entry.data)
    return b"".join(parts)


def encode(
    contents: KeystoreContents,
    password: Secret | None,
    *,
    iterations: int = KDF_ITERATIONS,
    rng: Rng = secrets.token_bytes,
) -> bytes:
    """The file bytes for ``contents`` under ``password`` (``None`` or empty: no password)."""
    if not 1 <= iterations <= MAX_KDF_ITERATIONS:
        raise ValueError(f"kdf iterations must be in [1, {MAX_KDF_ITERATIONS}], got {iterations}")
    secret = _password_bytes(password)
    flags = FLAG_PASSWORD if secret else 0
    salt, nonce = rng(SALT_LEN), rng(NONCE_LEN)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, flags, iterations) + salt + nonce
    key = _derive_key(secret, salt, iterations)
    ciphertext = AESGCM(key).encrypt(nonce, _encode_entries(contents.entries.items()), header)
    body = header + ciphertext
    return body + _CRC.pack(zlib.crc32(body))


def read_header(data: bytes, *, source: str = KEYSTORE_FILENAME) -> KeystoreHeader:
    """Check magic, checksum and version; no password needed. ``source`` names the file in errors."""
    if len(data) < _PREFIX.size + _CRC.size:
        raise KeystoreCorruptedError()
    magic, version = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise KeystoreCorruptedError()
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != crc:
        raise KeystoreCorruptedError()
    if version > FORMAT_VERSION:
        raise KeystoreFormatError(
            f"The Isthmus keystore [{source}] format is too new. Are you trying to downgrade? "
            "You should delete and recreate it in order to downgrade."
        )
    if version < MIN_FORMAT_VERSION:
        raise KeystoreFormatError(
            f"The Isthmus keystore [{source}] format is too old. "
            "You should delete and recreate it in order to upgrade."
        )
    if len(data) < MIN_FILE_LEN:
        raise KeystoreCorruptedError()
    _, _, flags, iterations = _HEADER.unpack_from(data)
    if flags & ~FLAG_PASSWORD or not 1 <= iterations <= MAX_KDF_ITERATIONS:
        raise KeystoreCorruptedError()
    return KeystoreHeader(version, bool(flags & FLAG_PASSWORD), iterations)


def decode(
    data: bytes, password: Secret | None, *, source: str = KEYSTORE_FILENAME
) -> KeystoreContents:
    """Decrypt file bytes. Raises only :class:`KeystoreError` subclasses, whatever the bytes."""
    header = read_header(data, source=source)
    salt = data[_HEADER.size : _HEADER.size + SALT_LEN]
    nonce = data[_HEADER.size + SALT_LEN : HEADER_LEN]
    ciphertext = data[HEADER_LEN : -_CRC.size]
    key = _derive_key(_password_bytes(password), salt, header.kdf_iterations)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, data[:HEADER_LEN])
    except InvalidTag:
        raise KeystorePasswordError() from None
    return KeystoreContents(
        _decode_entries(plaintext),
        has_password=header.has_password,
        format_version=header.format_version,
        kdf_iterations=header.kdf_iterations,
    )


def _decode_entries(plaintext: bytes) -> dict[str, Entry]:
    try:
        (count,) = struct.unpack_from(">I", plaintext)
        pos = 4
        entries: dict[str, Entry] = {}
        for _ in range(count):
            (name_len,) = struct.unpack_from(">H", plaintext, pos)
            pos += 2
            name = plaintext[pos : pos + name_len].decode("ascii")
            pos += name_len
            kind_value, value_len = struct.unpack_from(">BI", plaintext, pos)
            pos += 5
            value = plaintext[pos : pos + value_len]
            pos += value_len
            if len(name) != name_len or len(value) != value_len or name in entries:
                raise ValueError("truncated or duplicate entry")
            validate_setting_name(name)
            entries[name] = Entry(EntryKind(kind_value), value)
    except (struct.error, ValueError, SettingsError):  # UnicodeDecodeError is a ValueError
        raise KeystoreCorruptedError() from None
    if pos != len(plaintext):
        raise KeystoreCorruptedError()
    return entries
