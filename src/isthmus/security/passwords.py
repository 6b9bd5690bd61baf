"""Password and secret hashing, and the authentication cache.  [no I/O]

Stored hashes are bcrypt (ES's default ``xpack.security.password_hashing.algorithm``) for user
passwords and PBKDF2-HMAC-SHA512 for API key secrets. Both are deliberately slow, so, as ES's
realm cache does, a successful check is remembered for a while under a fast salted SHA-256 of
the credential — never the credential itself.

bcrypt reads at most 72 bytes of its input. ES accepts longer passwords; here a password over 72
UTF-8 bytes is first reduced to the base64 of its SHA-384 (64 bytes) and that is bcrypt-hashed, so
the whole password counts (two long passwords sharing their first 72 bytes are different
credentials). The rule depends only on the password's length, so checking needs no marker in the
stored hash and every hash made before this rule (all of passwords up to 72 bytes) stays valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable
from typing import Any

import bcrypt

from isthmus.errors import IllegalArgumentError

BCRYPT_COST = 10
PBKDF2_ITERATIONS = 10_000


BCRYPT_MAX_BYTES = 72
# What ES lists as the stored-hash algorithms it resolves; the ones Isthmus can verify.
SUPPORTED_HASH_ALGORITHMS = ("bcrypt", *(f"bcrypt{cost}" for cost in range(4, 15)))
# "$2a$" / "$2b$" / "$2y$", a two-digit cost, then 22 characters of salt and 31 of digest.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")


def _bcrypt_input(password: str) -> bytes:
    raw = password.encode()
    if len(raw) <= BCRYPT_MAX_BYTES:
        return raw
    return base64.b64encode(hashlib.sha384(raw).digest())


def hash_password(password: str) -> str:
    return bcrypt.hashpw(_bcrypt_input(password), bcrypt.gensalt(BCRYPT_COST)).decode()


def check_password(password: str, stored: str) -> bool:
    try:
        return bcrypt.checkpw(_bcrypt_input(password), stored.encode())
    except ValueError:
        return False


def check_password_hash(stored: Any) -> str:
    """A client-supplied ``password_hash``, returned when it is a hash Isthmus can verify; ES's
    400 otherwise (a stored string that is no hash would lock the user out silently)."""
    if isinstance(stored, str):
        match = _BCRYPT_HASH.fullmatch(stored)
        if match is not None and 4 <= int(match.group(1)) <= 31:
            return stored
    raise IllegalArgumentError(
        "The provided password hash is not a hash or it could not be resolved to a supported "
        f"hash algorithm. The supported password hash algorithms are [{', '.join(SUPPORTED_HASH_ALGORITHMS)}]"
    )


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, PBKDF2_ITERATIONS)
    return f"{{PBKDF2}}{PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        iterations = int(scheme.removeprefix("{PBKDF2}"))
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), bytes.fromhex(salt_hex), iterations)
    return hmac.compare_digest(digest.hex(), digest_hex)


class AuthCache:
    """``key → verified`` for ``ttl_s`` seconds, keyed by a salted fast hash of the secret."""

    def __init__(
        self,
        ttl_s: float = 1200.0,
        max_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_size
        self._clock = clock
        self._salt = os.urandom(16)
        self._entries: dict[str, tuple[bytes, float]] = {}

    def _digest(self, secret: str) -> bytes:
        return hashlib.sha256(self._salt + secret.encode()).digest()

    def hit(self, key: str, secret: str) -> bool:
        entry = self._entries.get(key)
        if entry is None or entry[1] < self._clock():
            return False
        return hmac.compare_digest(entry[0], self._digest(secret))

    def remember(self, key: str, secret: str) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (self._digest(secret), self._clock() + self._ttl)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __repr__(self) -> str:
        return f"<AuthCache entries={len(self._entries)}>"
