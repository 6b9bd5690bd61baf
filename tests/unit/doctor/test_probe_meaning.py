"""The probe's pure parts: what a reply says about the port, what the port means for the model,
and what the remote's handshake errors mean, with Elasticsearch's own texts (the guide's and its
tests') as well as Isthmus's."""

from __future__ import annotations

import pytest

from isthmus.doctor.causes import BY_CODE
from isthmus.doctor.handshake_errors import RemoteFailure, classify
from isthmus.doctor.model import Stage
from isthmus.doctor.port_identity import (
    HTTP_PORT_REPLY,
    PING,
    HttpFlavour,
    PortIdentity,
    PortKind,
    Reply,
    classify_reply,
    http_flavour,
    identify,
    port_verdict,
)

TLS_HELLO_ANSWER = bytes.fromhex("160303007a020000760303")  # a ServerHello record's start
TLS_ALERT = bytes.fromhex("15030300020228")  # alert, fatal, handshake_failure


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (None, Reply.NOTHING),
        (b"", Reply.CLOSED),
        (TLS_HELLO_ANSWER, Reply.TLS),
        (TLS_ALERT, Reply.TLS),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", Reply.HTTP),
        (PING, Reply.PING_ECHO),
        (PING + b"trailing", Reply.PING_ECHO),
        (b"ES\x00\x00\x00\x20" + bytes(32), Reply.ES_FRAME),
        (HTTP_PORT_REPLY, Reply.NOT_HTTP_PORT),
        (b"SSH-2.0-OpenSSH_9.6\r\n", Reply.OTHER),
        (b"\x16\x09\x09", Reply.OTHER),  # not a TLS version
    ],
)
def test_classify_reply(data: bytes | None, reply: Reply) -> None:
    assert classify_reply(data) is reply


def test_replies_cut_short_never_claim_more_than_they_show() -> None:
    for cut in range(1, len(HTTP_PORT_REPLY)):
        assert classify_reply(HTTP_PORT_REPLY[:cut]) in (Reply.OTHER, Reply.NOT_HTTP_PORT)
    assert classify_reply(b"\x16\x03") is Reply.OTHER


@pytest.mark.parametrize(
    ("first", "second", "kind"),
    [
        (Reply.PING_ECHO, None, PortKind.TRANSPORT),
        (Reply.NOTHING, Reply.NOT_HTTP_PORT, PortKind.TRANSPORT),  # Elasticsearch
        (Reply.HTTP, None, PortKind.HTTP),
        (Reply.NOTHING, Reply.HTTP, PortKind.HTTP),
        (Reply.NOTHING, Reply.NOTHING, PortKind.SILENT),
        (Reply.CLOSED, None, PortKind.CLOSED),
        (Reply.NOTHING, Reply.CLOSED, PortKind.CLOSED),
        (Reply.OTHER, None, PortKind.OTHER),
    ],
)
def test_identify(first: Reply, second: Reply | None, kind: PortKind) -> None:
    assert identify(first, second, tls=False) is kind


@pytest.mark.parametrize(
    ("head", "flavour"),
    [
        (
            b"HTTP/1.1 401 Unauthorized\r\nX-Elastic-Product: Elasticsearch\r\n\r\n{}",
            HttpFlavour.ELASTICSEARCH,
        ),
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", HttpFlavour.PROXY),
        (b"HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\n\r\n", HttpFlavour.PROXY),
        (b"HTTP/1.1 400 Bad Request\r\nProxy-Authenticate: Basic\r\n", HttpFlavour.PROXY),
        (b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n", HttpFlavour.UNKNOWN),
        (b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, CONNECT\r\n\r\n", HttpFlavour.UNKNOWN),
        (b"HTTP/1.1", HttpFlavour.UNKNOWN),
    ],
)
def test_http_flavour(head: bytes, flavour: HttpFlavour) -> None:
    assert http_flavour(head) is flavour


def _verdict(identity: PortIdentity, *, api_key: bool, tls: bool) -> str | None:
    return port_verdict(identity, api_key_model=api_key, client_tls=tls).cause


def test_port_verdicts() -> None:
    server = PortIdentity(PortKind.TRANSPORT, tls=True, isthmus=True, profile="_remote_cluster")
    transport = PortIdentity(PortKind.TRANSPORT, tls=True, isthmus=True, profile="default")
    es = PortIdentity(PortKind.TRANSPORT, tls=False)
    assert _verdict(server, api_key=True, tls=True) is None
    assert _verdict(transport, api_key=False, tls=True) is None
    assert _verdict(server, api_key=False, tls=True) == "remote_cluster_port_without_credentials"
    assert _verdict(transport, api_key=True, tls=True) == "transport_port_with_credentials"
    assert _verdict(server, api_key=True, tls=False) == "plaintext_to_tls"
    assert _verdict(es, api_key=True, tls=True) == "tls_to_plaintext"
    assert _verdict(es, api_key=True, tls=False) is None  # the profile of an ES port is unknown
    http = PortIdentity(PortKind.HTTP, tls=True)
    assert _verdict(http, api_key=True, tls=True) == "http_port"  # HTTP first, whatever TLS
    proxy = PortIdentity(PortKind.HTTP, tls=False, http=HttpFlavour.PROXY)
    assert _verdict(proxy, api_key=False, tls=False) == "http_proxy"
    assert _verdict(PortIdentity(PortKind.SILENT, tls=False), api_key=False, tls=False) == (
        "no_answer"
    )
    closed = PortIdentity(PortKind.CLOSED, tls=False)
    assert _verdict(closed, api_key=True, tls=True) == "proxy_no_route"  # a TLS client
    assert _verdict(closed, api_key=False, tls=False) == "not_elasticsearch"
    unseen = PortIdentity(PortKind.TLS_UNIDENTIFIED, tls=True, client_certificate_required=True)
    assert _verdict(unseen, api_key=True, tls=True) is None
    assert _verdict(unseen, api_key=True, tls=False) == "plaintext_to_tls"


# --- the remote's answers ---------------------------------------------------------------------------

HANDSHAKE = "cluster:internal/remote_cluster/handshake"
# Elasticsearch's texts, as the troubleshooting guide and ES's tests quote them.
ES_ANSWERS: list[tuple[RemoteFailure, Stage, str]] = [
    (
        RemoteFailure(
            "illegal_argument_exception",
            "remote cluster handshake action requires channel profile to be [_remote_cluster], "
            "but got [default]",
        ),
        Stage.HANDSHAKE,
        "handshake_wrong_profile",
    ),
    (
        RemoteFailure(
            "security_exception", f"missing authentication credentials for action [{HANDSHAKE}]"
        ),
        Stage.HANDSHAKE,
        "handshake_wrong_profile",
    ),
    (
        RemoteFailure(
            "security_exception",
            f"action [{HANDSHAKE}] is unauthorized for user [anonymous_foo] with effective roles "
            "[reporting_user], this action is granted by the cluster privileges "
            "[cross_cluster_search,cross_cluster_replication,manage,all]",
        ),
        Stage.HANDSHAKE,
        "handshake_wrong_profile",
    ),
    (
        RemoteFailure(
            "security_exception",
            "authentication expected API key type of [cross_cluster], but API key "
            "[agZXJocBmA2beJfq2yKu] has type [rest]",
        ),
        Stage.AUTHENTICATION,
        "api_key_wrong_type",
    ),
    (
        RemoteFailure(
            "security_exception",
            f"unable to authenticate user [agZXJocBmA2beJfq2yKu] for action [{HANDSHAKE}]",
            "API key: invalid credentials for API key [agZXJocBmA2beJfq2yKu]",
        ),
        Stage.AUTHENTICATION,
        "api_key_invalid",
    ),
    (
        RemoteFailure(
            "security_exception",
            "unable to authenticate with provided credentials and anonymous access is not "
            "allowed for this request",
            "API key: unable to find apikey with id abc",
        ),
        Stage.AUTHENTICATION,
        "api_key_unknown",
    ),
    (
        RemoteFailure("security_exception", "x", "API key: api key is expired"),
        Stage.AUTHENTICATION,
        "api_key_expired",
    ),
    (
        RemoteFailure("security_exception", "x", "API key: api key has been invalidated"),
        Stage.AUTHENTICATION,
        "api_key_invalidated",
    ),
    (
        RemoteFailure(
            "security_exception",
            "failed to extract credentials from headers",
            caused_by=("invalid cross-cluster API key value",),
        ),
        Stage.AUTHENTICATION,
        "api_key_invalid",
    ),
    (
        RemoteFailure(
            "illegal_argument_exception",
            "Cross cluster requests through the dedicated remote cluster server port require "
            "transport header [_cross_cluster_access_credentials] but none found. Please ensure "
            "you have configured remote cluster credentials on the cluster originating the "
            "request.",
        ),
        Stage.AUTHENTICATION,
        "credentials_missing",
    ),
    (
        RemoteFailure(
            "illegal_state_exception",
            "handshake with [{n}{id}{127.0.0.1:9300}] failed: remote node version [7.0.0] is "
            "incompatible with local node version [9.1.0]",
        ),
        Stage.HANDSHAKE,
        "handshake_incompatible_version",
    ),
    (
        RemoteFailure(
            "illegal_state_exception",
            "handshake with [{n}{id}{10.0.0.2:9443}] failed: remote cluster name [other] does "
            "not match expected remote cluster name [remote]",
        ),
        Stage.HANDSHAKE,
        "handshake_cluster_name",
    ),
]


@pytest.mark.parametrize(("failure", "stage", "code"), ES_ANSWERS)
def test_elasticsearch_answers(failure: RemoteFailure, stage: Stage, code: str) -> None:
    diagnosis = classify(failure, api_key_model=True)
    assert (diagnosis.stage, diagnosis.cause) == (stage, code)
    assert BY_CODE[code].stage is stage


def test_missing_credentials_header_under_the_certificate_model_is_the_wrong_port() -> None:
    failure = ES_ANSWERS[9][0]
    diagnosis = classify(failure, api_key_model=False)
    assert diagnosis.cause == "remote_cluster_port_without_credentials"
    assert diagnosis.stage is Stage.PROTOCOL


def test_an_unknown_security_error_is_never_forced_into_a_cause() -> None:
    diagnosis = classify(RemoteFailure("security_exception", "something new"), api_key_model=True)
    assert diagnosis.cause is None and diagnosis.stage is Stage.AUTHENTICATION
    assert "api_key_invalid" in diagnosis.candidates
    other = classify(RemoteFailure("exception", "boom"), api_key_model=True)
    assert other.cause is None and other.stage is Stage.HANDSHAKE


def test_every_code_the_probe_names_is_declared() -> None:
    from isthmus.doctor import handshake_errors

    for _, code in handshake_errors._AUTHENTICATION:
        assert code in BY_CODE
    for code in (
        "tcp_closed",
        "tcp_unreachable",
        "no_answer",
        "handshake_timeout",
        "http_proxy",
        "proxy_no_route",
    ):
        assert code in BY_CODE
