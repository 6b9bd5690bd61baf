"""Which URL parameter values must never be echoed or logged, and their redaction.  [no I/O]

A client may put a credential in a URL parameter (by mistake, or a tool that does so), and a
failing request is where it would leak: ES-style messages echo the URI (``no handler found for
uri [...]``), parse errors quote values, the 500 path logs ``path: ..., params: {...}``. The rule,
applied by the REST application to every error answer and log line it writes: a value is secret
when its parameter's name says so (``password``, ``api_key``, ``token``, ``secret``, ...) or the
value itself looks like a credential (an ``Authorization`` scheme, or a long token of letters and
digits). Parameter *names* stay visible, as in ES's ``contains unrecognized parameter: [x]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus

import orjson

REDACTED = "::es_redacted::"

_SECRET_NAME = re.compile(
    r"pass|secret|token|api_?key|credential|auth|signature|cookie|session|private", re.IGNORECASE
)
# A credential-shaped value: an Authorization scheme, or 20+ characters of a token alphabet
# that mix letters and digits (API keys, encoded keys, bearer tokens, hex digests).
_SCHEME = re.compile(r"^(basic|apikey|bearer|negotiate)\s+\S", re.IGNORECASE)
_TOKEN = re.compile(r"^[A-Za-z0-9+/=_\-.~:]{20,}$")


def is_secret(name: str, value: str) -> bool:
    """Whether the value of parameter ``name`` must be kept out of answers and logs."""
    if not value:
        return False
    if _SECRET_NAME.search(name):
        return True
    if _SCHEME.match(value):
        return True
    return bool(
        _TOKEN.match(value) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    )


def secret_values(params: Mapping[str, str]) -> tuple[str, ...]:
    """The values of ``params`` that are secret, longest first (so that a secret that contains
    another is replaced whole)."""
    found = {value for name, value in params.items() if is_secret(name, value)}
    return tuple(sorted(found, key=len, reverse=True))


def redact_query(query: str) -> str:
    """A raw query string with every secret value replaced (names and other values as sent)."""
    if not query:
        return query
    parts = []
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if sep and is_secret(unquote_plus(name), unquote_plus(value)):
            value = REDACTED
        parts.append(f"{name}{sep}{value}")
    return "&".join(parts)


def redact_uri(uri: str) -> str:
    """``path?query`` with the query's secret values replaced."""
    path, sep, query = uri.partition("?")
    return f"{path}{sep}{redact_query(query)}" if sep else uri


def redact_params(params: Mapping[str, str]) -> dict[str, str]:
    """``params`` with each secret value replaced (for log lines)."""
    return {name: REDACTED if is_secret(name, value) else value for name, value in params.items()}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (as sent, or URL-encoded) replaced."""
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    return text


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """:func:`redact_text` over an encoded answer: the secret as sent, URL-encoded, and as a
    JSON string escapes it."""
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        encoded_forms = {f.encode("utf-8", "surrogateescape") for f in forms}
        encoded_forms.add(orjson.dumps(secret)[1:-1])
        for encoded in encoded_forms:
            if encoded and encoded in data:
                data = data.replace(encoded, REDACTED.encode())
    return data
