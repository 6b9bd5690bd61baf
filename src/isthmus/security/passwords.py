"""Password and secret hashing, and the authentication cache.  [no I/O]

Stored hashes are bcrypt (ES's default ``xpack.security.password_hashing.algorithm``) for user
passwords and PBKDF2-HMAC-SHA512 for API key secrets. Both are deliberately slow, so, as ES's
realm cache does, a successful check is remembered for a while under a fast salted SHA-256 of
the credential — never the credential itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable

import bcrypt

BCRYPT_COST = 10
PBKDF2_ITERATIONS = 10_000


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def check_password(password: str, stored: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), stored.encode())
    except ValueError:
        return False


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
