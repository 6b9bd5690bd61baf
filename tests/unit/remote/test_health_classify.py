"""The stage and cause of a failed connect attempt, decided from typed facts only."""

from __future__ import annotations

import errno
import socket

import pytest

from isthmus.doctor.causes import BY_CODE
from isthmus.doctor.model import Stage
from isthmus.errors import AuthenticationError, ConnectTransportError, HandshakeError, SecurityError
from isthmus.remote.health_classify import classify_attempt
from isthmus.security.tls_failures import TlsFailure
from isthmus.transport.connect_trace import ConnectAttempt


def attempt(**kw: object) -> ConnectAttempt:
    a = ConnectAttempt("10.0.0.1:9300", 0.0, tls=bool(kw.pop("tls", True)))
    a.error = ConnectTransportError("[][10.0.0.1:9300] failed")
    for key, value in kw.items():
        setattr(a, key, value)
    return a


def tls_failure(reason: str, verify_code: int | None = None) -> TlsFailure:
    return TlsFailure(
        side="client",
        peer="10.0.0.1:9300",
        reason=reason,
        message="failed",
        verify_code=verify_code,
        logger="x",
        log_message="x",
    )


@pytest.mark.parametrize(
    ("exc", "stage", "cause"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Stage.TCP, "tcp_refused"),
        (OSError(errno.ETIMEDOUT, "timed out"), Stage.TCP, "tcp_timeout"),
        (OSError(errno.EHOSTUNREACH, "no route"), Stage.TCP, "tcp_timeout"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), Stage.TCP, "tcp_reset"),
        (socket.gaierror(socket.EAI_NONAME, "unknown"), Stage.DNS, "dns_unresolvable"),
    ],
)
def test_os_errors_by_errno(exc: OSError, stage: Stage, cause: str) -> None:
    failure = classify_attempt(attempt(os_error=exc), api_key=False, pinned_cluster=False)
    assert (failure.stage, failure.cause) == (stage, cause)


@pytest.mark.parametrize(
    ("failure", "stage", "causes"),
    [
        (tls_failure("CERTIFICATE_VERIFY_FAILED", 10), Stage.TLS, ("tls_expired",)),
        (tls_failure("CERTIFICATE_VERIFY_FAILED", 9), Stage.TLS, ("tls_not_yet_valid",)),
        (tls_failure("CERTIFICATE_VERIFY_FAILED", 62), Stage.TLS, ("tls_hostname_mismatch",)),
        (tls_failure("CERTIFICATE_VERIFY_FAILED", 64), Stage.TLS, ("tls_hostname_mismatch",)),
        (tls_failure("CERTIFICATE_VERIFY_FAILED", 7), Stage.TLS, ("tls_ca_regenerated",)),
        (
            tls_failure("CERTIFICATE_VERIFY_FAILED", 20),
            Stage.TLS,
            ("tls_untrusted_ca", "tls_missing_intermediate"),
        ),
        (tls_failure("TLSV1_ALERT_UNKNOWN_CA"), Stage.TLS, ("tls_client_untrusted",)),
        (
            tls_failure("TLSV13_ALERT_CERTIFICATE_REQUIRED"),
            Stage.TLS,
            ("tls_client_certificate_required",),
        ),
        (
            tls_failure("WRONG_VERSION_NUMBER"),
            Stage.PROTOCOL,
            ("tls_to_plaintext", "http_port", "http_proxy", "not_elasticsearch"),
        ),
    ],
)
def test_tls_failures_by_verify_code_and_alert(
    failure: TlsFailure, stage: Stage, causes: tuple[str, ...]
) -> None:
    got = classify_attempt(
        attempt(tcp_connected=0.1, tls_failure=failure), api_key=False, pinned_cluster=False
    )
    assert got.stage is stage
    if len(causes) == 1:
        assert got.cause == causes[0] and got.candidates == ()
    else:  # undecided: no single cause, the candidates listed
        assert got.cause is None and got.candidates == causes
    assert all(c in BY_CODE for c in causes)


def test_answers_by_class_and_status() -> None:
    def of(error: Exception, *, api_key: bool, pinned: bool = True) -> tuple[Stage, str | None]:
        a = attempt(tcp_connected=0.1, tls_done=0.2, error=error)
        f = classify_attempt(a, api_key=api_key, pinned_cluster=pinned)
        return f.stage, f.cause

    assert of(HandshakeError("x"), api_key=False, pinned=False) == (
        Stage.HANDSHAKE,
        "handshake_incompatible_version",
    )
    assert of(HandshakeError("x"), api_key=False) == (Stage.HANDSHAKE, None)
    assert of(AuthenticationError("unable to authenticate"), api_key=True) == (
        Stage.AUTHENTICATION,
        None,
    )
    assert of(SecurityError("unauthorized"), api_key=False) == (
        Stage.AUTHENTICATION,
        "anonymous_handshake_unauthorized",
    )
    assert of(SecurityError("unauthorized"), api_key=True) == (
        Stage.AUTHORIZATION,
        "key_access_excludes",
    )


def test_by_phase_when_nothing_else_says_why() -> None:
    def of(**kw: object) -> tuple[Stage, str | None]:
        f = classify_attempt(attempt(**kw), api_key=False, pinned_cluster=False)
        return f.stage, f.cause

    assert of(timed_out=True) == (Stage.TCP, "tcp_timeout")  # no SYN-ACK
    assert of(tcp_connected=0.1) == (Stage.TLS, None)  # closed during TLS: candidates
    assert of(tcp_connected=0.1, tls_done=0.2) == (Stage.HANDSHAKE, "handshake_closed")
    assert of(tls=False, tcp_connected=0.1, tls_done=0.1) == (Stage.HANDSHAKE, None)
