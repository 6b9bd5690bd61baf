"""Each probe finding gets the fix of its own cause (a shared table once handed every cause the
API-key fix)."""

from __future__ import annotations

import pytest

from isthmus.doctor.probe import ProbeTarget
from isthmus.doctor.probe_fixes import fix_for

TARGET = ProbeTarget("my", "10.0.0.5", 9443)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("dns_unresolvable", "resolvable"),
        ("tcp_refused", "listens"),
        ("tcp_timeout", ""),
        ("tls_hostname_mismatch", ""),
        ("tls_expired", ""),
        ("http_port", ""),
    ],
)
def test_a_connection_fault_is_not_given_the_api_key_fix(code: str, words: str) -> None:
    fix = fix_for(code, TARGET)
    assert fix is None or "cross-cluster API key" not in fix.summary, (code, fix)
    if fix is not None and words:
        assert words in fix.summary


def test_every_key_fault_gets_the_key_fix() -> None:
    for code in ("api_key_wrong_type", "api_key_invalid", "api_key_expired"):
        fix = fix_for(code, TARGET)
        assert fix is not None and "cross-cluster API key" in fix.summary


def test_the_alias_is_pointed_at_the_remotes_own_address_when_the_remote_is_known() -> None:
    import orjson

    from isthmus.remote.security_model import SecurityModel

    known = ProbeTarget(
        "my", "10.0.0.5", 8080, model=SecurityModel.API_KEY, mode="proxy",
        remote_addresses=("10.0.0.9:9443",),
    )  # fmt: skip
    for code in ("http_proxy", "http_port", "tcp_refused", "not_elasticsearch"):
        fix = fix_for(code, known)
        assert fix is not None
        (step,) = fix.steps
        # It runs where the alias lives, whichever side is at fault, and names no placeholder.
        prefix = "on the local cluster: PUT _cluster/settings "
        assert step.startswith(prefix) and "<" not in step, (code, step)
        body = orjson.loads(step.removeprefix(prefix))
        assert body == {"persistent": {"cluster.remote.my.proxy_address": "10.0.0.9:9443"}}
    sniff = ProbeTarget("my", "10.0.0.5", 9300, mode="sniff", remote_addresses=("10.0.0.9:9300",))
    (step,) = fix_for("tcp_refused", sniff).steps  # type: ignore[union-attr]
    assert '"cluster.remote.my.seeds": ["10.0.0.9:9300"]' in step
    # Without the remote's evidence the step says what to look up.
    (step,) = fix_for("http_proxy", TARGET).steps  # type: ignore[union-attr]
    assert "<host>:<port>" in step and "GET /_nodes on the remote" in step


def test_a_new_key_is_created_before_the_keystore_is_given_it() -> None:
    target = ProbeTarget("my", "10.0.0.5", 9443, index="logs-*")
    for code in ("remote_cluster_port_without_credentials", "credentials_missing"):
        create, store, reload = fix_for(code, target).steps  # type: ignore[union-attr]
        assert create.startswith('POST /_security/cross_cluster/api_key {"name": "my"')
        assert '"names": ["logs-*"]' in create and "# on the remote" in create
        assert "keystore add -f cluster.remote.my.credentials" in store
        assert reload.startswith("POST /_nodes/reload_secure_settings")


def test_a_certificate_fix_issues_configures_and_restarts() -> None:
    target = ProbeTarget("my", "127.0.0.1", 9443, server_name="remote.example")
    for code in ("tls_expired", "tls_not_yet_valid", "tls_hostname_mismatch"):
        issue, configure, restart = fix_for(code, target).steps  # type: ignore[union-attr]
        assert "--dns remote.example --ip 127.0.0.1" in issue and "on Isthmus: isthmus" in issue
        assert configure.startswith("xpack.security.transport.ssl.keystore.path: ")  # no key
        assert restart.startswith("restart every remote node")
