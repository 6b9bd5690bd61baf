"""The HTTP listener's head limits and the redaction of secret URL parameter values."""

from __future__ import annotations

import pytest

from isthmus.http.redaction import REDACTED, is_secret, redact_bytes, redact_uri
from isthmus.http.server import HeadLimits

LINE = ("too_long_http_line_exception", "An HTTP line is larger than 4096 bytes.")
HEADER = ("too_long_http_header_exception", "HTTP header is larger than 8192 bytes.")


def _feed(data: bytes, step: int) -> tuple[str, str] | None:
    limits = HeadLimits(4096, 8192)
    for i in range(0, len(data), step):
        refused = limits.feed(data[i : i + step])
        if refused is not None:
            return refused
    return None


@pytest.mark.parametrize("step", [1, 7, 1000, 100_000])
def test_head_within_limits_passes_whole_or_in_pieces(step: int) -> None:
    line = b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\n"
    head = line[:4096] + b"\r\n" if len(line) > 4098 else line
    head += b"X-A: " + b"b" * 8000 + b"\r\n\r\n" + b"body" * 10_000
    assert _feed(head, step) is None


@pytest.mark.parametrize("step", [1, 13, 100_000])
def test_long_line_and_long_headers_are_refused_with_netty_words(step: int) -> None:
    assert _feed(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", step) == LINE
    assert _feed(b"GET /" + b"a" * 5000, step) == LINE  # before the line ends
    big = b"GET / HTTP/1.1\r\n" + b"X-A: " + b"b" * 9000
    assert _feed(big, step) == HEADER
    many = b"GET / HTTP/1.1\r\n" + b"X-A: bbbbbbbbbb\r\n" * 600 + b"\r\n"
    assert _feed(many, step) == HEADER


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("password", "x", True),
        ("api_key", "abc", True),
        ("Authorization", "anything", True),
        ("q", "Basic dXNlcjpwYXNz", True),
        ("x", "VnVpUlBvSUJ0Yk5UUk5UZ2JpRXQ6dW", True),  # an encoded API key's shape
        ("pretty", "true", False),
        ("index", "logs-2024.01.01", False),
        ("scroll", "1m", False),
        ("keep_alive", "5m", False),
    ],
)
def test_secret_values(name: str, value: str, secret: bool) -> None:
    assert is_secret(name, value) is secret


def test_uris_and_answers_lose_their_secrets_only() -> None:
    assert (
        redact_uri("/_x?pretty&password=p%40ss&size=10")
        == f"/_x?pretty&password={REDACTED}&size=10"
    )
    body = b'{"reason":"bad value [p@ss] and [p%40ss]"}'
    assert (
        redact_bytes(body, ["p@ss"])
        == f'{{"reason":"bad value [{REDACTED}] and [{REDACTED}]"}}'.encode()
    )
