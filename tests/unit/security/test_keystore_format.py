"""``keystore_format``: round trips, wrong passwords, every flipped or missing byte, redaction."""

from __future__ import annotations

import ast
import logging
import struct
import zlib
from itertools import count
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.errors import (
    IsthmusError,
    KeystoreCorruptedError,
    KeystoreError,
    KeystoreFormatError,
    KeystorePasswordError,
    SettingsError,
)
from isthmus.security import keystore_format as kf
from isthmus.security.keystore_format import EntryKind, KeystoreContents, decode, encode
from isthmus.settings.secret import REDACTED, Secret

FAST = 1_000  # PBKDF2 rounds for tests; files record their own count
SECRET_VALUE = "hunter2-very-secret"
names_st = st.from_regex(r"[A-Za-z0-9_\-.]{1,40}", fullmatch=True)


def _sample() -> KeystoreContents:
    return (
        kf.new_keystore()
        .with_string("cluster.remote.my_remote.credentials", SECRET_VALUE)
        .with_string("bootstrap.password", Secret("changeme"))
        .with_file("xpack.security.http.ssl.keystore.path_bytes", b"\x00\xffbinary\n")
    )


def _encode(contents: KeystoreContents, password: str | None = None) -> bytes:
    pw = None if password is None else Secret(password)
    return encode(contents, pw, iterations=FAST)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, "", "s3cr3t", "pässwörd ✓"])
def test_round_trip(password: str | None) -> None:
    contents = _sample()
    decoded = decode(_encode(contents, password), None if password is None else Secret(password))
    assert decoded.names() == contents.names()
    for name in contents.names():
        assert decoded.get_file(name) == contents.get_file(name)
        assert decoded.kind(name) == contents.kind(name)
    assert decoded.has_password is bool(password)
    assert decoded.format_version == kf.FORMAT_VERSION
    assert decoded.kdf_iterations == FAST


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(names_st, st.one_of(st.text(), st.binary()), max_size=8),
    st.one_of(st.none(), st.text(max_size=20)),
)
def test_round_trip_property(values: dict[str, str | bytes], password: str | None) -> None:
    contents = KeystoreContents()
    for name, value in values.items():
        if isinstance(value, str):
            contents = contents.with_string(name, value)
        else:
            contents = contents.with_file(name, value)
    pw = None if password is None else Secret(password)
    decoded = decode(encode(contents, pw, iterations=1), pw)
    assert {n: decoded.get_file(n) for n in decoded.names()} == {
        n: (v.encode() if isinstance(v, str) else v) for n, v in values.items()
    }


def test_default_iterations_written() -> None:
    data = encode(KeystoreContents(), None)
    assert kf.read_header(data).kdf_iterations == kf.KDF_ITERATIONS == 210_000


def test_layout_matches_the_byte_diagram() -> None:
    rng_bytes = count()

    def rng(n: int) -> bytes:
        return bytes(next(rng_bytes) % 256 for _ in range(n))

    data = encode(KeystoreContents(), Secret("pw"), iterations=FAST, rng=rng)
    assert data[:8] == b"\x89ISTHKS\n"
    assert data[8:10] == b"\x00\x01"
    assert data[10] == 0x01
    assert data[11:15] == FAST.to_bytes(4, "big")
    assert data[15:79] == bytes(range(64))
    assert data[79:91] == bytes(range(64, 76))
    assert len(data) == 91 + 4 + 16 + 4  # header, empty plaintext (count only), tag, crc
    assert data[-4:] == zlib.crc32(data[:-4]).to_bytes(4, "big")


def test_each_save_uses_fresh_salt_and_nonce() -> None:
    contents = _sample()
    a, b = _encode(contents, "pw"), _encode(contents, "pw")
    assert a[15:91] != b[15:91]
    assert a != b


def test_header_readable_without_password() -> None:
    header = kf.read_header(_encode(_sample(), "pw"))
    assert header == kf.KeystoreHeader(1, True, FAST)
    assert not kf.read_header(_encode(_sample())).has_password


# --- wrong password -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "given_pw"),
    [("pw", "wrong"), ("pw", None), ("pw", ""), (None, "unexpected"), ("pw", "pw ")],
)
def test_wrong_password(written: str | None, given_pw: str | None) -> None:
    data = _encode(_sample(), written)
    with pytest.raises(KeystorePasswordError) as info:
        decode(data, None if given_pw is None else Secret(given_pw))
    assert info.value.reason == "Provided keystore password was incorrect"
    assert info.value.es_type == "security_exception"


# --- corruption -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return _encode(_sample(), "pw")


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_flipped_byte_is_detected(sealed: bytes, mask: int) -> None:
    for pos in range(len(sealed)):
        damaged = bytearray(sealed)
        damaged[pos] ^= mask
        with pytest.raises((KeystoreCorruptedError, KeystorePasswordError)):
            decode(bytes(damaged), Secret("pw"))


def test_flipped_bytes_are_reported_as_corruption(sealed: bytes) -> None:
    # The CRC catches a flip before any key is derived: the message says "corrupted".
    for pos in (0, 8, 9, 10, 12, 20, 85, 95, len(sealed) // 2, len(sealed) - 20, len(sealed) - 1):
        damaged = bytearray(sealed)
        damaged[pos] ^= 0x10
        with pytest.raises(KeystoreCorruptedError) as info:
            decode(bytes(damaged), Secret("pw"))
        assert info.value.reason == "Keystore has been corrupted or tampered with"


def test_every_truncation_is_detected(sealed: bytes) -> None:
    for length in range(len(sealed)):
        with pytest.raises(KeystoreCorruptedError):
            decode(sealed[:length], Secret("pw"))


@pytest.mark.parametrize("extra", [b"\x00", b"garbage", b"\x00" * 100])
def test_trailing_bytes_are_detected(sealed: bytes, extra: bytes) -> None:
    with pytest.raises(KeystoreCorruptedError):
        decode(sealed + extra, Secret("pw"))


@pytest.mark.parametrize("data", [b"", b"\x89ISTHKS\n", b"not a keystore at all", b"\x00" * 200])
def test_garbage_is_corruption(data: bytes) -> None:
    with pytest.raises(KeystoreCorruptedError):
        decode(data, None)


def test_tampered_header_with_fixed_crc_fails_authentication(sealed: bytes) -> None:
    body = bytearray(sealed[:-4])
    body[10] = 0x00  # claim "no password"
    with pytest.raises(KeystorePasswordError):
        decode(_with_crc(bytes(body)), Secret("pw"))


def test_tampered_ciphertext_with_fixed_crc_fails_authentication(sealed: bytes) -> None:
    body = bytearray(sealed[:-4])
    body[100] ^= 0x01
    with pytest.raises(KeystorePasswordError):
        decode(_with_crc(bytes(body)), Secret("pw"))


@pytest.mark.parametrize("flags", [0x02, 0x81, 0xFF])
def test_unknown_flags_are_corruption(sealed: bytes, flags: int) -> None:
    body = bytearray(sealed[:-4])
    body[10] = flags
    with pytest.raises(KeystoreCorruptedError):
        decode(_with_crc(bytes(body)), Secret("pw"))


@pytest.mark.parametrize("iterations", [0, kf.MAX_KDF_ITERATIONS + 1, 2**32 - 1])
def test_absurd_iteration_counts_are_corruption(sealed: bytes, iterations: int) -> None:
    body = bytearray(sealed[:-4])
    body[11:15] = iterations.to_bytes(4, "big")
    with pytest.raises(KeystoreCorruptedError):
        decode(_with_crc(bytes(body)), Secret("pw"))


def test_newer_format_is_refused_by_name(sealed: bytes) -> None:
    body = bytearray(sealed[:-4])
    body[8:10] = (kf.FORMAT_VERSION + 1).to_bytes(2, "big")
    with pytest.raises(KeystoreFormatError) as info:
        decode(_with_crc(bytes(body)), Secret("pw"), source="/x/isthmus.keystore")
    assert info.value.reason == (
        "The Isthmus keystore [/x/isthmus.keystore] format is too new. Are you trying to "
        "downgrade? You should delete and recreate it in order to downgrade."
    )


def test_older_format_is_refused_by_name(sealed: bytes) -> None:
    body = bytearray(sealed[:-4])
    body[8:10] = (0).to_bytes(2, "big")
    with pytest.raises(KeystoreFormatError, match=r"format is too old\. You should delete"):
        decode(_with_crc(bytes(body)), Secret("pw"))


def _sealed_plaintext(plaintext: bytes, password: bytes = b"pw") -> bytes:
    """A file whose authenticated plaintext is ``plaintext`` (as if written by a buggy writer)."""
    salt, nonce = b"s" * kf.SALT_LEN, b"n" * kf.NONCE_LEN
    header = struct.pack(">8sHBI", kf.MAGIC, 1, 1, FAST) + salt + nonce
    key = kf._derive_key(password, salt, FAST)
    return _with_crc(header + AESGCM(key).encrypt(nonce, plaintext, header))


def _entry(name: bytes, value: bytes, kind: int = 0) -> bytes:
    return struct.pack(">H", len(name)) + name + struct.pack(">BI", kind, len(value)) + value


def test_sealed_plaintext_helper_is_sound() -> None:
    data = _sealed_plaintext(struct.pack(">I", 1) + _entry(b"a.b", b"v"))
    assert decode(data, Secret("pw")).get("a.b") == Secret("v")


@pytest.mark.parametrize(
    "plaintext",
    [
        b"",
        b"\x00\x00",
        struct.pack(">I", 2) + _entry(b"a", b"v"),  # fewer entries than counted
        struct.pack(">I", 1) + _entry(b"a", b"v") + b"x",  # trailing bytes
        struct.pack(">I", 2) + _entry(b"a", b"v") + _entry(b"a", b"w"),  # duplicate
        struct.pack(">I", 1) + _entry(b"a", b"v", kind=7),  # unknown kind
        struct.pack(">I", 1) + _entry(b"Bad@Name", b"v"),  # illegal name
        struct.pack(">I", 1) + _entry(b"\xff\xfe", b"v"),  # not ASCII
        struct.pack(">I", 1) + _entry(b"a", b"v")[:-1],  # value cut short
    ],
)
def test_malformed_plaintext_is_corruption(plaintext: bytes) -> None:
    with pytest.raises(KeystoreCorruptedError):
        decode(_sealed_plaintext(plaintext), Secret("pw"))


def test_only_keystore_errors_escape_decode(sealed: bytes) -> None:
    # Whatever the damage, callers see one of the keystore errors, never a raw exception.
    for pos in range(0, len(sealed), 7):
        for value in (0x00, 0xFF):
            damaged = bytearray(sealed)
            damaged[pos] = value
            try:
                decode(bytes(damaged), Secret("pw"))
            except KeystoreError:
                pass


# --- contents ---------------------------------------------------------------------------------------


def test_new_keystore_has_a_random_seed() -> None:
    a, b = kf.new_keystore(), kf.new_keystore()
    assert a.names() == ("keystore.seed",)
    seed_a, seed_b = a.get("keystore.seed"), b.get("keystore.seed")
    assert seed_a is not None and seed_b is not None
    assert len(seed_a.reveal()) == 20
    assert set(seed_a.reveal()) <= set(kf.SEED_CHARS)
    assert seed_a != seed_b


def test_seed_is_unbiased_by_rejection() -> None:
    # Bytes at or above 228 (3 * 76) are dropped, so every character is equally likely.
    rng_values = iter([bytes([255] * 20), bytes(range(20))])
    seed = kf.new_seed(lambda n: next(rng_values))
    assert seed.reveal() == kf.SEED_CHARS[:20]


def test_get_and_get_file() -> None:
    contents = _sample()
    secret = contents.get("cluster.remote.my_remote.credentials")
    assert isinstance(secret, Secret)
    assert secret.reveal() == SECRET_VALUE
    assert contents.get_file("cluster.remote.my_remote.credentials") == SECRET_VALUE.encode()
    assert contents.get("missing") is None
    assert contents.get_file("missing") is None
    assert contents.kind("xpack.security.http.ssl.keystore.path_bytes") is EntryKind.FILE
    with pytest.raises(SettingsError, match="holds binary data"):
        contents.get("xpack.security.http.ssl.keystore.path_bytes")


def test_contents_are_immutable_and_sorted() -> None:
    base = KeystoreContents()
    changed = base.with_string("z.b", "1").with_string("a.b", "2")
    assert base.names() == ()
    assert changed.names() == ("a.b", "z.b")
    assert changed.without("z.b").names() == ("a.b",)
    assert "a.b" in changed and len(changed) == 2
    with pytest.raises(TypeError):
        changed.entries["x"] = changed.entries["a.b"]  # type: ignore[index]


def test_digest_tracks_value_changes() -> None:
    a = KeystoreContents().with_string("a.b", "one")
    b = a.with_string("a.b", "two")
    assert a.digest("a.b") != b.digest("a.b")
    assert a.digest("a.b") == KeystoreContents().with_string("a.b", "one").digest("a.b")
    assert a.digest("zz") is None


@pytest.mark.parametrize("name", ["UpperCase.ok", "a-b_c.d", "x", "1.2.3"])
def test_legal_names(name: str) -> None:
    assert name in KeystoreContents().with_string(name, "v")


@pytest.mark.parametrize("name", ["", "a b", "a@b", "a/b", "ä", "a\nb", "*"])
def test_illegal_names(name: str) -> None:
    with pytest.raises(SettingsError) as info:
        KeystoreContents().with_string(name, "v")
    assert info.value.reason == (
        f"Setting name [{name}] does not match the allowed setting name pattern "
        r"[[A-Za-z0-9_\-.]+]"
    )
    with pytest.raises(SettingsError):
        KeystoreContents().with_file(name, b"v")


def test_needs_upgrade() -> None:
    assert not kf.new_keystore().needs_upgrade
    assert KeystoreContents().needs_upgrade  # no seed
    weak = KeystoreContents(kf.new_keystore().entries, kdf_iterations=FAST)
    assert weak.needs_upgrade
    assert KeystoreContents().with_seed().names() == ("keystore.seed",)


# --- nothing secret in printable forms --------------------------------------------------------------


def test_no_secret_in_reprs_or_logs(sealed: bytes, caplog: pytest.LogCaptureFixture) -> None:
    contents = decode(sealed, Secret("pw"))
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("test.keystore")
    printable = [
        repr(contents),
        str(contents),
        repr(contents.entries),
        repr(dict(contents.entries)),
        repr(list(contents.entries.values())),
        repr(contents.get("cluster.remote.my_remote.credentials")),
        str(contents.get("bootstrap.password")),
        f"{contents.get('bootstrap.password')}",
    ]
    log.info("contents %s %r", contents, contents.entries)
    log.info("secret %s", contents.get("cluster.remote.my_remote.credentials"))
    printable.append(caplog.text)
    for text in printable:
        assert SECRET_VALUE not in text
        assert "changeme" not in text
        assert "binary" not in text
    assert repr(contents) == "<KeystoreContents 4 entries, password=yes, format=1>"
    assert REDACTED in repr(contents.get("bootstrap.password"))


def test_errors_carry_no_secret() -> None:
    errors: list[IsthmusError] = []
    for attempt in ("hunter2-wrong", SECRET_VALUE):
        try:
            decode(_encode(_sample(), "right"), Secret(attempt))
        except KeystorePasswordError as exc:
            errors.append(exc)
    assert len(errors) == 2
    for exc in errors:
        text = repr(exc) + str(exc) + repr(exc.to_body())
        assert SECRET_VALUE not in text and "hunter2" not in text and "right" not in text


def test_format_module_does_no_io() -> None:
    # STYLE convention 1: the format module and the name registry take and return values only.
    src = Path(kf.__file__)
    secure_src = src.parents[1] / "settings" / "secure.py"
    forbidden = {"os", "io", "pathlib", "fcntl", "tempfile", "shutil", "socket", "asyncio", "ssl"}
    forbidden |= {"subprocess", "sqlite3", "logging", "sys"}
    for path in (src, secure_src):
        tree = ast.parse(path.read_text())
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & forbidden, (path.name, imported & forbidden)
