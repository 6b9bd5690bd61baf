"""Password hashing: bcrypt's 72-byte limit, client-supplied hashes."""

from __future__ import annotations

import bcrypt
import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.security.passwords import (
    BCRYPT_MAX_BYTES,
    check_password,
    check_password_hash,
    hash_password,
)


def test_a_long_password_counts_whole() -> None:
    password = "x" * 100
    stored = hash_password(password)
    assert check_password(password, stored)
    # bcrypt alone reads 72 bytes: these would all have matched.
    assert not check_password("x" * 72, stored)
    assert not check_password("x" * 72 + "y" * 28, stored)


def test_multibyte_passwords_are_measured_in_bytes() -> None:
    password = "é" * 40  # 40 characters, 80 bytes
    assert len(password.encode()) > BCRYPT_MAX_BYTES
    stored = hash_password(password)
    assert check_password(password, stored)
    assert not check_password("é" * 36 + "e" * 4, stored)


def test_hashes_made_before_the_rule_stay_valid() -> None:
    # A short password is bcrypt-hashed as it always was (and as ES does).
    legacy = bcrypt.hashpw(b"changeme-please", bcrypt.gensalt(4)).decode()
    assert check_password("changeme-please", legacy)
    assert bcrypt.checkpw(b"short-pw", hash_password("short-pw").encode())


def test_exactly_72_bytes_is_plain_bcrypt() -> None:
    password = "z" * 72
    assert bcrypt.checkpw(password.encode(), hash_password(password).encode())


def test_a_supplied_hash_must_be_bcrypt() -> None:
    good = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    assert check_password_hash(good) == good
    for bad in ("not-a-hash", "", "$2b$10$short", "{PBKDF2}10000$abc$def", 42, None):
        with pytest.raises(IllegalArgumentError) as info:
            check_password_hash(bad)
        assert info.value.reason.startswith(
            "The provided password hash is not a hash or it could not be resolved to a "
            "supported hash algorithm. The supported password hash algorithms are [bcrypt, "
        )
