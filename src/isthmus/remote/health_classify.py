"""Why a connection to a remote cluster failed: the stage and the cause code, from typed facts.  [no I/O]

Remote health (:mod:`isthmus.remote.health`) turns each failed connect attempt, each connection
the remote closed or the liveness check declared dead, and each failed connect round into a
:class:`Failure`: the :class:`~isthmus.doctor.model.Stage` it failed at and a cause code of
:mod:`isthmus.doctor.causes`. The decision reads types and numbers only — the ``OSError`` errno of
the TCP connect, the OpenSSL reason and X.509 verify code of the channel's TLS failure, the phase
the attempt reached, the exception class and HTTP status of an error the remote answered — never
the text of a message. When those facts fit several causes the failure names no cause and lists
the candidates instead, as the doctor does.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.doctor.model import Stage
from isthmus.errors import HandshakeError, IsthmusError, SecurityError

if TYPE_CHECKING:
    from isthmus.security.tls_failures import TlsFailure
    from isthmus.transport.connect_trace import ConnectAttempt


@dataclass(frozen=True)
class Failure:
    """One classified failure: where it stopped and why (or which causes remain possible)."""

    stage: Stage
    cause: str | None  # a code of isthmus.doctor.causes; None when the facts cannot decide
    message: str
    candidates: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "stage": self.stage.value,
            "cause": self.cause,
            "message": self.message,
        }
        if self.candidates:
            body["candidates"] = list(self.candidates)
        return body


# Which errno means what at the TCP stage. A black hole shows as ETIMEDOUT from the kernel (or
# our own connect timeout); an unreachable route is the network's problem too.
_TCP_ERRNO = {
    errno.ECONNREFUSED: "tcp_refused",
    errno.ECONNRESET: "tcp_reset",
    errno.ECONNABORTED: "tcp_reset",
    errno.ETIMEDOUT: "tcp_timeout",
    errno.EHOSTUNREACH: "tcp_timeout",
    errno.ENETUNREACH: "tcp_timeout",
    errno.EHOSTDOWN: "tcp_timeout",
}
# X.509 verify codes (OpenSSL's X509_V_ERR_*) of a certificate this side rejected.
_VERIFY = {
    7: ("tls_ca_regenerated",),  # CERT_SIGNATURE_FAILURE: a trusted name, another key
    9: ("tls_not_yet_valid",),
    10: ("tls_expired",),
    18: ("tls_untrusted_ca",),  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: ("tls_untrusted_ca",),  # SELF_SIGNED_CERT_IN_CHAIN
    20: ("tls_untrusted_ca", "tls_missing_intermediate"),  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: ("tls_untrusted_ca", "tls_missing_intermediate"),  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    62: ("tls_hostname_mismatch",),
    64: ("tls_hostname_mismatch",),  # IP_ADDRESS_MISMATCH: the dialled IP is not in the SANs
}
# OpenSSL reasons: the peer answered with something that is not TLS.
_NOT_TLS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"}
# Alerts by which the remote tells us it rejected the certificate we sent.
_REJECTED_US = {
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "TLSV1_ALERT_DECRYPT_ERROR",
}
_API_KEY_AUTHN = (
    "api_key_invalid",
    "api_key_unknown",
    "api_key_invalidated",
    "api_key_expired",
    "api_key_wrong_type",
)


def _decide(stage: Stage, causes: tuple[str, ...], message: str) -> Failure:
    if len(causes) == 1:
        return Failure(stage, causes[0], message)
    return Failure(stage, None, message, causes)


def _message(attempt: ConnectAttempt) -> str:
    if isinstance(attempt.error, IsthmusError):
        if attempt.os_error is not None:  # the reason alone says "connect_exception"
            return f"{attempt.error.reason}: {attempt.os_error.strerror or attempt.os_error}"
        return attempt.error.reason
    if attempt.error is not None:
        return f"{type(attempt.error).__name__}: {attempt.error}"
    return f"connect to [{attempt.address}] failed"


def classify_os_error(exc: OSError, message: str) -> Failure:
    # getaddrinfo's errors carry negative EAI_* codes; socket errors carry positive errnos.
    if exc.errno is not None and exc.errno < 0:
        return Failure(Stage.DNS, "dns_unresolvable", message)
    code = _TCP_ERRNO.get(exc.errno or 0)
    if code is not None:
        return Failure(Stage.TCP, code, message)
    return Failure(Stage.TCP, None, message, ("tcp_refused", "tcp_timeout", "tcp_reset"))


def classify_tls(failure: TlsFailure, message: str) -> Failure:
    if failure.reason in _NOT_TLS:
        return _decide(
            Stage.PROTOCOL,
            ("tls_to_plaintext", "http_port", "http_proxy", "not_elasticsearch"),
            message,
        )
    if failure.verify_code is not None:
        causes = _VERIFY.get(failure.verify_code, ("tls_untrusted_ca",))
        return _decide(Stage.TLS, causes, message)
    if failure.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return Failure(Stage.TLS, "tls_client_certificate_required", message)
    if failure.reason in _REJECTED_US:
        return Failure(Stage.TLS, "tls_client_untrusted", message)
    return Failure(
        Stage.TLS,
        None,
        message,
        ("tls_client_untrusted", "tls_client_certificate_required", "tls_untrusted_ca"),
    )


def classify_answer(exc: IsthmusError, api_key: bool, message: str) -> Failure | None:
    """An error the remote answered with (or the handshake check raised); None if not one.
    ``api_key``: the alias uses the API-key model (else the certificate model)."""
    if isinstance(exc, HandshakeError):
        # Raised by the local check of the peer's answer: a foreign cluster name (only once a
        # name is pinned) or no common wire version. The class is the same for both.
        return _decide(
            Stage.HANDSHAKE, ("handshake_cluster_name", "handshake_incompatible_version"), message
        )
    if isinstance(exc, SecurityError):
        if exc.http_status == 401:
            causes = (
                _API_KEY_AUTHN
                if api_key
                else ("certificate_identity_missing", "anonymous_handshake_unauthorized")
            )
            return _decide(Stage.AUTHENTICATION, causes, message)
        if not api_key:
            # The certificate model at a remote cluster server port runs as the anonymous user.
            return Failure(Stage.AUTHENTICATION, "anonymous_handshake_unauthorized", message)
        return Failure(Stage.AUTHORIZATION, "key_access_excludes", message)
    return None


def classify_attempt(attempt: ConnectAttempt, *, api_key: bool, pinned_cluster: bool) -> Failure:
    """The stage and cause of a failed (or stuck) connect attempt."""
    message = _message(attempt)
    if attempt.os_error is not None:
        return classify_os_error(attempt.os_error, message)
    if attempt.tls_failure is not None:
        return classify_tls(attempt.tls_failure, message)
    if isinstance(attempt.error, IsthmusError):
        answered = classify_answer(attempt.error, api_key, message)
        if answered is not None:
            if answered.stage is Stage.HANDSHAKE and not pinned_cluster:
                # Nothing was pinned yet, so the name check cannot have failed.
                return Failure(Stage.HANDSHAKE, "handshake_incompatible_version", message)
            return answered
    return classify_phase(attempt, message)


def classify_phase(attempt: ConnectAttempt, message: str) -> Failure:
    """By the phase reached alone: a timeout, or the peer closing without saying why."""
    if attempt.tcp_connected is None:
        # No answer to the SYN within the deadline: black-holed or filtered.
        return Failure(Stage.TCP, "tcp_timeout", message)
    if attempt.tls and attempt.tls_done is None:
        if attempt.timed_out:
            # Connected, and nothing answered the TLS hello: a relay or proxy holding it.
            return Failure(
                Stage.TLS, None, message, ("no_answer", "not_elasticsearch", "tls_to_plaintext")
            )
        return Failure(
            Stage.TLS,
            None,
            message,
            # Closed during the TLS hello: an SNI-routing proxy without a route for the name
            # does exactly that.
            (
                "tls_to_plaintext",
                "tls_client_untrusted",
                "tls_client_certificate_required",
                "proxy_no_route",
            ),
        )
    if attempt.timed_out:
        return Failure(Stage.HANDSHAKE, None, message, ("not_elasticsearch", "handshake_closed"))
    if not attempt.tls:
        return Failure(
            Stage.HANDSHAKE,
            None,
            message,
            ("plaintext_to_tls", "handshake_closed", "handshake_wrong_profile"),
        )
    return Failure(Stage.HANDSHAKE, "handshake_closed", message)


def classify_round(exc: IsthmusError, *, api_key: bool) -> Failure:
    """A connect round that failed after its attempts succeeded (node discovery, no gateway)."""
    answered = classify_answer(exc, api_key, exc.reason)
    if answered is not None:
        return answered
    return Failure(Stage.HANDSHAKE, None, exc.reason, ("handshake_closed", "not_elasticsearch"))
