"""The wizard's credential step without a page: what is asked of the remote and how (TLS always
verified: a pasted CA, else the node's remote cluster client CAs), the remote's refusal in its
own words, a password-protected keystore (checked before any key is created), the record of the
key's expiry, and answers that carry no secret."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from isthmus.console.key_records import credential_expiry, read_records
from isthmus.console.remote_key import (
    KeyRequest,
    Outcome,
    RemoteAnswer,
    create_and_store,
    create_key,
    outcome_view,
)
from isthmus.errors import IllegalArgumentError
from isthmus.security.keystore import load_keystore, save_keystore
from isthmus.security.keystore_format import new_keystore
from isthmus.settings.secret import Secret

PASSWORD = "remote-Passw0rd"


def request(url: str, **extra: Any) -> KeyRequest:
    body = {
        "alias": "east",
        "remote_url": url,
        "username": "admin",
        "password": PASSWORD,
        "search": ["logs-*"],
        **extra,
    }
    return KeyRequest.parse(body)


class Remote:
    """A TLS HTTP server standing in for the remote's REST API: it records what it is sent and
    answers what the test sets (the client's side is under test, not ES's)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []
        self.answer: tuple[int, Any] = (200, {})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append(
                    (self.path, dict(self.headers), json.loads(self.rfile.read(length)))
                )
                status, body = outer.answer
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def remote(ca: trustme.CA) -> Iterator[Remote]:
    r = Remote(ca)
    yield r
    r.server.shutdown()


def created(key_id: str = "k1", expiration: int | None = 1_900_000_000_000) -> dict[str, Any]:
    secret = "s3cr3t-of-22-characters"
    body: dict[str, Any] = {"id": key_id, "name": "east-console", "api_key": secret}
    body["encoded"] = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    if expiration is not None:
        body["expiration"] = expiration
    return body


def test_the_request_is_read_strictly_and_never_echoes_a_password() -> None:
    with pytest.raises(IllegalArgumentError) as bad:
        request(f"https://admin:{PASSWORD}@remote:9200")
    assert PASSWORD not in bad.value.reason and "must not carry credentials" in bad.value.reason
    for url in ("ftp://remote:21", "remote:9200", "https://remote:99999", "https://r:9200/?a=1"):
        with pytest.raises(IllegalArgumentError):
            request(url)
    with pytest.raises(IllegalArgumentError, match="needs access"):
        request("https://remote:9200", search=[])
    with pytest.raises(IllegalArgumentError, match="PEM"):
        request("https://remote:9200", certificate_authorities="not a certificate")
    wanted = request("https://remote:9200/", replication="leader-*, x", expiration="30d")
    assert wanted.remote_url == "https://remote:9200"
    assert wanted.body() == {
        "name": "east-console",
        "access": {
            "search": [{"names": ["logs-*"]}],
            "replication": [{"names": ["leader-*", "x"]}],
        },
        "expiration": "30d",
    }
    assert PASSWORD not in repr(wanted)


async def test_tls_to_the_remote_is_verified_with_the_pasted_or_the_nodes_ca(
    remote: Remote, ca: trustme.CA, tmp_path: Path
) -> None:
    remote.answer = (200, created())
    pem = ca.cert_pem.bytes().decode()
    answer = await create_key(request(remote.url, certificate_authorities=pem), ())
    assert answer.key is not None and answer.key["id"] == "k1"
    path, headers, body = remote.seen[-1]
    assert path == "/_security/cross_cluster/api_key"
    assert (
        headers["Authorization"]
        == "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    )
    assert body == {"name": "east-console", "access": {"search": [{"names": ["logs-*"]}]}}
    node_ca = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(node_ca))
    assert (await create_key(request(remote.url), [node_ca])).key is not None
    # Neither: the system's trust, which does not know this CA: refused, never unverified.
    asked = len(remote.seen)
    refused = await create_key(request(remote.url), ())
    assert refused.key is None and refused.status is None
    assert refused.error is not None and "CERTIFICATE_VERIFY_FAILED" in refused.error["reason"]
    assert len(remote.seen) == asked


async def test_the_remotes_refusal_is_answered_in_its_words(remote: Remote, ca: trustme.CA) -> None:
    reason = "action [cluster:admin/xpack/security/cross_cluster/api_key/create] is unauthorized"
    remote.answer = (
        403,
        {"error": {"type": "security_exception", "reason": reason}, "status": 403},
    )
    pem = ca.cert_pem.bytes().decode()
    wanted = request(remote.url, certificate_authorities=pem)
    answer = await create_key(wanted, ())
    assert (answer.status, answer.error) == (403, {"type": "security_exception", "reason": reason})
    view = outcome_view(wanted, Outcome(answer, None, None), ("n1", "node-1"), [])
    (step,) = view["steps"]
    assert step["message"] == f"the remote refused: [security_exception] {reason}"
    assert view["ok"] is False and view["reload_path"] is None
    # Not Elasticsearch answering (a page, or far more than a key's answer): said so.
    for body in ("<html>a proxy's page</html>", "x" * (2 << 20)):
        remote.answer = (200, body)
        other = await create_key(wanted, ())
        assert other.error is not None and other.error["type"] == "unexpected_response"


async def test_a_password_protected_keystore_is_checked_before_any_key_is_created(
    remote: Remote, ca: trustme.CA, tmp_path: Path
) -> None:
    store = Secret("keystore-pw")
    save_keystore(
        tmp_path, new_keystore().with_string("bootstrap.password", "x"), store, iterations=1000
    )
    pem = ca.cert_pem.bytes().decode()
    remote.answer = (200, created("k2"))
    asked = len(remote.seen)
    for given in (None, "wrong-pw"):
        wanted = request(remote.url, certificate_authorities=pem, keystore_password=given)
        outcome = await create_and_store(wanted, (), tmp_path)
        assert outcome.remote is None and outcome.keystore_error, given
    assert len(remote.seen) == asked  # no orphan key on the remote
    wanted = request(remote.url, certificate_authorities=pem, keystore_password="keystore-pw")
    outcome = await create_and_store(wanted, (), tmp_path)
    assert (
        outcome.stored is not None
        and outcome.stored["setting"] == "cluster.remote.east.credentials"
    )
    contents = load_keystore(tmp_path, store)
    assert contents.get("cluster.remote.east.credentials") == Secret(created("k2")["encoded"])
    assert contents.get("bootstrap.password") == Secret("x")  # the other entries kept
    # The answer: each step, this node's reload, the other nodes' command; no secret in it.
    view = outcome_view(wanted, outcome, ("n1", "node-1"), [("n2", "node-2")])
    assert [s["step"] for s in view["steps"]] == ["create_key", "store"]
    assert view["reload_path"] == "/_nodes/n1/reload_secure_settings"
    (other,) = view["other_nodes"]
    assert other["name"] == "node-2" and "isthmus keystore add -f -x" in other["command"]
    text = json.dumps(view)
    for secret in (created("k2")["encoded"], created("k2")["api_key"], PASSWORD, "keystore-pw"):
        assert secret not in text
    assert view["steps"][0]["key"]["expiration"] == "2030-03-17T17:46:40+00:00"


def test_the_expiry_is_known_only_while_the_keystore_holds_the_recorded_key(
    tmp_path: Path,
) -> None:
    from isthmus.console.key_records import record_key

    record_key(tmp_path, "east", created("k3"))
    record = read_records(tmp_path)["east"]
    assert "encoded" not in record and "api_key" not in record
    known = credential_expiry(record, "k3")
    assert known["expiry_known"] and known["expiry"] == "2030-03-17T17:46:40+00:00"
    assert known["expires_soon"] is False
    week_before = datetime(2030, 3, 11, tzinfo=UTC)
    assert credential_expiry(record, "k3", week_before)["expires_soon"] is True
    assert credential_expiry(record, "another-key") == {"expiry": None, "expiry_known": False}
    assert credential_expiry(None, "k3")["expiry_known"] is False
    record_key(tmp_path, "east", created("k4", expiration=None))
    never = credential_expiry(read_records(tmp_path)["east"], "k4")
    assert never["expiry_known"] and never["expiry"] is None  # a key without expiry
    (tmp_path / "isthmus.remote_keys.json").write_text("{broken")
    assert read_records(tmp_path) == {}


def test_an_unreachable_remote_is_a_step_result() -> None:
    wanted = request("http://127.0.0.1:1")
    answer = RemoteAnswer(None, None, {"type": "connect_exception", "reason": "refused"})
    view = outcome_view(wanted, Outcome(answer, None, None), ("n1", "node-1"), [])
    assert view["steps"][0]["message"].startswith("the remote cannot be reached")


def test_plain_http_is_refused_unless_the_remote_is_on_loopback() -> None:
    with pytest.raises(IllegalArgumentError, match="use https"):
        request("http://10.1.2.3:9200")
    with pytest.raises(IllegalArgumentError, match="use https"):
        request("http://remote.example:9200")
    assert request("http://127.0.0.1:9200").remote_url == "http://127.0.0.1:9200"
    assert request("https://remote.example:9200").remote_url.startswith("https://")


def test_an_expiration_out_of_any_dates_range_is_not_known() -> None:
    record = {"id": "k9", "name": "n", "expiration": 10**20}
    assert credential_expiry(record, "k9") == {"expiry": None, "expiry_known": False}
