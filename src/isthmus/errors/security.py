"""Security errors (authentication with its challenge, authorization) and the keystore's
(ES raises those as plain Java exceptions).
"""

from __future__ import annotations

from isthmus.errors.base import IsthmusError


class SecurityError(IsthmusError):
    """ES's ``security_exception``: 403 for authorization, 401 (with a challenge) for authn."""

    es_type = "security_exception"
    status = 403
    java_class = "org.elasticsearch.ElasticsearchSecurityException"


# ES sends one WWW-Authenticate header per scheme it accepts.
AUTH_CHALLENGE = ['Basic realm="security", charset="UTF-8"', "ApiKey"]


class AuthenticationError(SecurityError):
    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason, extra={"header": {"WWW-Authenticate": list(AUTH_CHALLENGE)}})
        self.headers = {"WWW-Authenticate": AUTH_CHALLENGE}


# --- keystore (ES raises these as plain Java exceptions) -----------------------------------------


class KeystoreError(IsthmusError):
    """The keystore cannot be used."""

    es_type = "illegal_state_exception"
    status = 500
    is_es = False


class KeystoreNotFoundError(KeystoreError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"Isthmus keystore not found at [{path}]. Use 'create' command to create one."
        )
        self.path = path


class KeystoreFormatError(KeystoreError):
    """A keystore written by a newer or older Isthmus."""


class KeystoreSecurityError(KeystoreError):
    es_type = "security_exception"


class KeystorePasswordError(KeystoreSecurityError):
    def __init__(self) -> None:
        super().__init__("Provided keystore password was incorrect")


class KeystoreCorruptedError(KeystoreSecurityError):
    def __init__(self) -> None:
        super().__init__("Keystore has been corrupted or tampered with")
