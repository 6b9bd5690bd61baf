"""The doctor's REST rules on recorded evidence: the guide's texts inside ES's documented
response shapes, with and without the remote cluster's evidence. Each case asserts the stage,
cause, side, confidence and (where it matters) the first fix step; undecided cases assert their
candidates and the exit code 2."""

from __future__ import annotations

from datetime import timedelta

import pytest

from isthmus.doctor import evidence as ev
from isthmus.doctor.evidence import ApiResult, ConfigEvidence, SideEvidence
from isthmus.doctor.model import Outcome, Stage
from tests.unit.doctor.rest_evidence import (
    ADDRESS,
    ALIAS,
    INDEX,
    NOW,
    TEXTS,
    TRANSPORT,
    es,
    first,
    local,
    remote,
    report,
    search_error,
    verdict,
)

HEALTHY_SEARCH = ApiResult(
    200,
    {
        "_shards": {"total": 1, "successful": 1},
        "hits": {"total": {"value": 3}},
        "_clusters": {"details": {ALIAS: {"status": "successful"}}},
    },
)


def test_healthy_pair_is_green_with_no_findings() -> None:
    loc = local(search=HEALTHY_SEARCH, connected=True, resolve=es("resolve_cluster_ok"))
    rep = report(loc, remote(indices=["logs"]))
    (v,) = rep.aliases
    assert v.status.value == "green" and v.findings == () and rep.exit_code == 0
    assert all(r.outcome is Outcome.PASSED for r in v.stages)


def test_bare_connect_failure_is_never_a_verdict() -> None:
    """connected:false + 'Unable to open any proxy connections' + connect_transport_exception."""
    loc = local(search=search_error(TEXTS["connect_exception"]))
    rep = report(loc)
    v = rep.aliases[0]
    assert first(v) == ("tcp", "connection_failed", "unknown", "possible")
    assert {"tcp_refused", "tcp_timeout", "remote_cluster_server_disabled"} <= set(
        v.findings[0].candidates
    )
    assert v.failed_stage is not None and v.failed_stage.outcome is Outcome.UNDECIDED
    assert rep.exit_code == 2


def test_skipped_with_skip_unavailable_is_not_trusted_either() -> None:
    skipped = ApiResult(
        200,
        {
            "_shards": {"total": 0},
            "_clusters": {
                "details": {
                    ALIAS: {
                        "status": "skipped",
                        "failures": [
                            {
                                "shard": -1,
                                "reason": {
                                    "type": "connect_transport_exception",
                                    "reason": "Unable to connect to [my]",
                                },
                            }
                        ],
                    }
                }
            },
        },
    )
    v = verdict(local(search=skipped, skip_unavailable=True))
    assert first(v)[:2] == ("tcp", "connection_failed")


def test_refused_then_the_remote_says_its_server_is_disabled() -> None:
    loc = local(search=search_error(TEXTS["connect_exception"], TEXTS["connection_refused"]))
    assert first(verdict(loc)) == ("tcp", "tcp_refused", "remote", "certain")
    v = verdict(loc, remote(rcs=None))
    assert first(v) == ("configuration", "remote_cluster_server_disabled", "remote", "certain")
    assert v.findings[0].fix is not None
    assert v.findings[0].fix.steps[0].startswith("remote_cluster_server.enabled: true")


def test_refused_on_an_address_the_remote_does_not_publish_blames_the_alias() -> None:
    loc = local(
        search=search_error(TEXTS["connect_exception"], TEXTS["connection_refused"]),
        address="192.168.0.42:9999",
    )
    v = verdict(loc, remote())
    assert first(v) == ("tcp", "tcp_refused", "local", "likely")
    assert ADDRESS in v.findings[0].fix.steps[1]  # type: ignore[union-attr]


def test_untrusted_issuer_is_undecided_without_the_remote() -> None:
    """The guide's first trust failure could be a wrong CA or a wrong port."""
    loc = local(search=search_error(TEXTS["trust_remote_cluster_ca_not_trusted_shared"]))
    rep = report(loc)
    f = rep.aliases[0].findings[0]
    # Undecided from the earliest stage in question: the port.
    assert (f.stage, f.cause) == (Stage.PROTOCOL, "tls_untrusted_ca")
    assert rep.aliases[0].failed_stage.stage is Stage.PROTOCOL  # type: ignore[union-attr]
    assert set(f.candidates) == {"tls_untrusted_ca", "transport_port_with_credentials"}
    assert rep.exit_code == 2


def test_untrusted_issuer_on_the_remote_cluster_server_is_a_wrong_ca() -> None:
    loc = local(search=search_error(TEXTS["trust_remote_cluster_ca_not_trusted_shared"]))
    v = verdict(loc, remote())
    assert first(v) == ("tls", "tls_untrusted_ca", "local", "certain")
    assert "remote_cluster_client.ssl.certificate_authorities" in v.findings[0].fix.summary  # type: ignore[union-attr]


def test_transport_certificate_in_the_rcs_context_is_the_wrong_port() -> None:
    """API-key model, Symptom 1: the transport's certificate, not trusted by the RCS client."""
    loc = local(
        search=search_error(TEXTS["trust_transport_cert_in_rcs_context"]), address=TRANSPORT
    )
    v = verdict(loc, remote())
    assert first(v) == ("protocol", "transport_port_with_credentials", "local", "certain")
    assert [r.outcome for r in v.stages[:3]] == [Outcome.PASSED, Outcome.PASSED, Outcome.PASSED]
    assert all(r.outcome is Outcome.NOT_REACHED for r in v.stages[4:])


@pytest.mark.parametrize("text", ["missing_authentication", "anonymous_unauthorized"])
def test_transport_port_symptoms_3_and_4(text: str) -> None:
    v = verdict(local(search=search_error(TEXTS[text], status=401)))
    assert first(v) == ("protocol", "transport_port_with_credentials", "local", "certain")


def test_anonymous_on_the_rcs_port_without_credentials() -> None:
    loc = local(search=search_error(TEXTS["anonymous_unauthorized"]), credentials=False)
    assert first(verdict(loc)) == (
        "authentication",
        "anonymous_handshake_unauthorized",
        "remote",
        "certain",
    )


def test_wrong_profile_symptom_4_superuser() -> None:
    v = verdict(local(search=search_error(TEXTS["wrong_profile"], status=400)))
    assert first(v) == ("protocol", "transport_port_with_credentials", "local", "certain")
    assert "_remote_cluster" in v.findings[0].evidence[0].detail
    # Without credentials the text can only mean the handshake itself reached a wrong profile.
    v = verdict(local(search=search_error(TEXTS["wrong_profile"]), credentials=False))
    assert first(v) == ("handshake", "handshake_wrong_profile", "local", "certain")
    assert v.stages[Stage.TLS.order].outcome is Outcome.PASSED


def test_shared_ca_client_certificate_symptom_2() -> None:
    loc = local(search=search_error(TEXTS["bad_certificate"]), address=TRANSPORT)
    rep = report(loc)
    assert rep.aliases[0].findings[0].candidates == (
        "transport_port_with_credentials",
        "tls_client_certificate_required",
    )
    assert rep.exit_code == 2
    assert first(verdict(loc, remote()))[:2] == ("protocol", "transport_port_with_credentials")


def test_no_credentials_against_the_rcs_port() -> None:
    loc = local(
        search=search_error(TEXTS["trust_rcs_cert_in_transport_context"]), credentials=False
    )
    assert first(verdict(loc))[1:] == (
        "remote_cluster_port_without_credentials",
        "local",
        "possible",
    )
    # From REST alone a key added to the keystore without the reload looks the same; a
    # keystore without the key (--local-config) rules that out.
    assert verdict(loc).findings[0].candidates == (
        "remote_cluster_port_without_credentials",
        "credentials_not_reloaded",
        "tls_untrusted_ca",
    )
    empty = ConfigEvidence("/etc/es/node-1", {}, ("bootstrap.password",))
    with_config = SideEvidence(loc.url, dict(loc.calls), (empty,))
    assert verdict(with_config).findings[0].candidates == (
        "remote_cluster_port_without_credentials",
        "tls_untrusted_ca",
    )
    v = verdict(loc, remote())
    assert first(v) == ("protocol", "remote_cluster_port_without_credentials", "local", "certain")
    create, store = v.findings[0].fix.steps[:2]  # type: ignore[union-attr]
    assert create.startswith("POST /_security/cross_cluster/api_key ")  # the value to store
    assert "keystore add -f cluster.remote.my.credentials" in store


def test_no_credentials_with_trust_reaches_the_header_check() -> None:
    loc = local(search=search_error(TEXTS["missing_header"], status=400), credentials=False)
    assert first(verdict(loc)) == (
        "protocol",
        "remote_cluster_port_without_credentials",
        "local",
        "certain",
    )


def test_wrong_key_type() -> None:
    v = verdict(local(search=search_error(TEXTS["wrong_key_type"], status=401)))
    assert first(v) == ("authentication", "api_key_wrong_type", "local", "certain")
    assert v.findings[0].fix.steps[0].startswith("POST /_security/cross_cluster/api_key")  # type: ignore[union-attr]


def test_refused_key_is_undecided_locally_and_decided_by_the_remote_key() -> None:
    loc = local(search=search_error(TEXTS["unable_to_authenticate"], status=401))
    rep = report(loc)
    assert set(rep.aliases[0].findings[0].candidates) == {
        "api_key_invalid",
        "api_key_invalidated",
        "api_key_expired",
        "api_key_unknown",
    }
    assert rep.exit_code == 2
    keys = es("api_key_cross_cluster")
    keys["api_keys"][0]["invalidated"] = True
    assert first(verdict(loc, remote(keys=keys)))[1] == "api_key_invalidated"
    keys = es("api_key_cross_cluster")
    keys["api_keys"][0]["expiration"] = int((NOW - timedelta(hours=1)).timestamp() * 1000)
    assert first(verdict(loc, remote(keys=keys)))[1] == "api_key_expired"
    assert first(verdict(loc, remote(keys={"api_keys": []})))[1] == "api_key_unknown"
    assert first(verdict(loc, remote())) == ("authentication", "api_key_invalid", "local", "likely")


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("API key: invalid credentials for API key [agZXJocBmA2beJfq2yKu]", "api_key_invalid"),
        ("API key: api key has been invalidated", "api_key_invalidated"),
        ("API key: api key is expired", "api_key_expired"),
    ],
)
def test_refused_key_reason_from_additional_unsuccessful_credentials(
    reason: str, code: str
) -> None:
    body = search_error(TEXTS["unable_to_authenticate"], status=401)
    body.body["error"]["caused_by"]["additional_unsuccessful_credentials"] = reason
    assert first(verdict(local(search=body)))[:2] == ("authentication", code)


def test_insufficient_privileges_blamed_on_the_key_when_the_user_has_them() -> None:
    text = TEXTS["insufficient_privileges"].replace("on indices [cd]", f"on indices [{INDEX}]")
    loc = local(search=search_error(text, status=403), connected=True)
    assert first(verdict(loc)) == ("authorization", "key_access_excludes", "remote", "likely")
    v = verdict(loc, remote())
    assert first(v) == ("authorization", "key_access_excludes", "remote", "certain")
    step = v.findings[0].fix.steps[0]  # type: ignore[union-attr]
    # PUT replaces the key's access: the existing entry is kept, the index added.
    assert step.startswith("PUT /_security/cross_cluster/api_key/agZXJocBmA2beJfq2yKu ")
    assert '{"names":["logs-*"]}' in step and '{"names":["logs"]}' in step


def test_insufficient_privileges_blamed_on_the_user_when_its_role_lacks_them() -> None:
    text = TEXTS["insufficient_privileges"].replace("on indices [cd]", f"on indices [{INDEX}]")
    loc = local(search=search_error(text, status=403), privileges="privileges_foo_metrics")
    v = verdict(loc)
    assert first(v) == ("authorization", "user_lacks_remote_indices", "local", "certain")
    assert '"clusters":["my"],"names":["logs"]' in v.findings[0].fix.steps[0]  # type: ignore[union-attr]
    # The key does not cover [logs] either (its access is logs-*): both sides block.
    keys = es("api_key_cross_cluster")
    assert first(verdict(loc, remote(keys=keys)))[2] == "both"


def test_no_remote_indices_at_all() -> None:
    v = verdict(local(search=search_error(TEXTS["no_remote_indices"], status=403)))
    assert first(v) == ("authorization", "user_lacks_remote_indices", "local", "certain")


def test_index_not_found() -> None:
    body = ApiResult(
        404,
        {
            "error": {
                "type": "index_not_found_exception",
                "reason": f"no such index [{INDEX}]",
                "root_cause": [
                    {"type": "index_not_found_exception", "reason": f"no such index [{INDEX}]"}
                ],
            }
        },
    )
    v = verdict(local(search=body, connected=True), remote(indices=[]))
    assert first(v) == ("data", "index_not_found", "remote", "certain")


def test_credentials_in_the_keystore_but_not_reloaded() -> None:
    config = ConfigEvidence(
        "/etc/es/node-1", {}, ("bootstrap.password", "cluster.remote.my.credentials")
    )
    loc = local(search=search_error(TEXTS["missing_header"]), credentials=False, configs=(config,))
    assert first(verdict(loc)) == ("configuration", "credentials_not_reloaded", "local", "certain")


def test_credentials_on_some_nodes_only() -> None:
    one = ConfigEvidence("/etc/es/node-1", {}, ("cluster.remote.my.credentials",))
    two = ConfigEvidence("/etc/es/node-2", {}, ("bootstrap.password",))
    v = verdict(local(search=HEALTHY_SEARCH, connected=True, configs=(one, two)))
    assert first(v) == ("configuration", "credentials_missing_on_nodes", "local", "certain")
    assert v.findings[0].nodes == ("/etc/es/node-2",)


def test_alias_not_configured() -> None:
    from isthmus.doctor.engine import diagnose

    found = diagnose(local(), None, index=INDEX, now=NOW)  # every alias the cluster knows
    assert [v.alias for v in found.aliases] == [ALIAS]
    other = diagnose(local(), None, aliases=("nope",), index=INDEX, now=NOW)
    assert first(other.aliases[0])[:2] == ("configuration", "alias_not_configured")


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (
            "current time is [2023-08-16T23:40:55.464275Z]",
            "current time is [2033-08-16T23:40:55Z]",
            "tls_expired",
        ),
        (
            "current time is [2023-08-16T23:40:55.464275Z]",
            "current time is [2022-08-16T23:40:55Z]",
            "tls_not_yet_valid",
        ),
    ],
)
def test_certificate_dates_are_read_from_the_trust_text(old: str, new: str, code: str) -> None:
    text = TEXTS["trust_remote_cluster_ca_not_trusted_shared"].replace(old, new)
    assert first(verdict(local(search=search_error(text))))[:2] == ("tls", code)


def test_regenerated_ca_and_hostname_shapes() -> None:
    base = TEXTS["trust_remote_cluster_ca_not_trusted_shared"].split(
        "; the certificate is issued by"
    )[0]
    regenerated = (
        base
        + "; the certificate is issued by [CN=Elastic Auto RemoteCluster CA]; this ssl context "
        "([xpack.security.remote_cluster_client.ssl (with trust configuration: PEM-trust{/ca.crt})]) "
        "trusts [1] certificate with subject name [CN=Elastic Auto RemoteCluster CA] and fingerprint "
        "[ba2350661f66e46c746c1629f0c4b645a2587ff4] but the signatures do not match"
    )
    assert first(verdict(local(search=search_error(regenerated))))[:2] == (
        "tls",
        "tls_ca_regenerated",
    )
    hostname = (
        base
        + "; the certificate is issued by [CN=Elastic Auto RemoteCluster CA]; the certificate is "
        "signed by (subject [CN=Elastic Auto RemoteCluster CA] fingerprint [ba23] {trusted issuer}) "
        "which is self-issued; the [CN=Elastic Auto RemoteCluster CA] certificate is trusted in this "
        "ssl context ([xpack.security.remote_cluster_client.ssl])"
    )
    assert first(verdict(local(search=search_error(hostname))))[:2] == (
        "tls",
        "tls_hostname_mismatch",
    )


def test_version_readings_are_stated() -> None:
    v = verdict(
        local(search=HEALTHY_SEARCH, connected=True, version="root_8_16", skip_unavailable=None)
    )
    notes = " ".join(e.detail for e in v.stages[0].evidence)
    assert "skip_unavailable is true" in notes and "default since 8.15" in notes
    assert "connected:true before" in notes
    v9 = verdict(local(search=HEALTHY_SEARCH, connected=True, skip_unavailable=False))
    assert "skip_unavailable" not in " ".join(e.detail for e in v9.stages[0].evidence)


def test_unknown_key_on_a_kept_connection() -> None:
    """A changed key reloaded onto open connections (ES rebuilds them only on add/remove) fails
    at the next action, with ES's 'unable to find apikey with id <id>' (no brackets)."""
    body = search_error(
        "unable to authenticate user [nosuchid1234567890ab] for action [indices:data/read/search]",
        status=401,
    )
    body.body["error"]["caused_by"]["additional_unsuccessful_credentials"] = (
        "API key: unable to find apikey with id nosuchid1234567890ab"
    )
    v = verdict(local(search=body, connected=True))
    assert first(v) == ("authentication", "api_key_unknown", "remote", "certain")
    assert v.stages[Stage.HANDSHAKE.order].outcome is Outcome.PASSED


def test_malformed_credential() -> None:
    body = search_error(
        "failed to extract credentials from headers",
        "cross cluster access header [_cross_cluster_access_credentials] value must be a valid "
        "API key credential",
        "invalid cross-cluster API key value",
        status=401,
    )
    assert first(verdict(local(search=body))) == (
        "authentication",
        "api_key_invalid",
        "local",
        "certain",
    )


def test_isthmus_health_adds_its_last_error_unless_a_success_came_after() -> None:
    """GET /_isthmus/remote/health (Isthmus only) gives the node's last error text: evidence
    while the connection fails, history once a later success is recorded."""
    health = {
        "remotes": {
            ALIAS: {
                "last_success": "2023-06-28T13:00:00+00:00",
                "last_error": {
                    "time": "2023-06-28T13:10:00+00:00",
                    "stage": "authentication",
                    "message": TEXTS["wrong_key_type"],
                },
            }
        }
    }
    loc = local(search=search_error(TEXTS["connect_exception"]))
    calls = dict(loc.calls)
    calls[ev.ISTHMUS_HEALTH] = ApiResult(200, health)
    failing = verdict(SideEvidence(loc.url, calls))
    assert first(failing)[:2] == ("authentication", "api_key_wrong_type")
    health["remotes"][ALIAS]["last_success"] = "2023-06-28T13:20:00+00:00"
    healthy = local(search=HEALTHY_SEARCH, connected=True)
    calls = dict(healthy.calls)
    calls[ev.ISTHMUS_HEALTH] = ApiResult(200, health)
    assert verdict(SideEvidence(loc.url, calls)).findings == ()


def test_es_connect_timeout_does_not_say_which_step_timed_out() -> None:
    """ES's connect_timeout[30s] covers TCP, TLS and the handshake: undecided, not tcp_timeout."""
    v = verdict(local(search=search_error("[][192.168.0.42:9443] connect_timeout[30s]")))
    assert first(v)[:2] == ("tcp", "tcp_timeout")
    assert v.findings[0].candidates == ("tcp_timeout", "no_answer", "handshake_timeout")
    os_timeout = search_error("Connection timed out: /192.168.0.42:9443")
    assert first(verdict(local(search=os_timeout))) == ("tcp", "tcp_timeout", "network", "certain")
    unreachable = search_error("No route to host: /192.168.0.42:9443")
    assert first(verdict(local(search=unreachable)))[1] == "tcp_unreachable"


def test_a_user_who_may_not_read_remote_info_still_gets_a_verdict() -> None:
    loc = local(search=search_error(TEXTS["no_remote_indices"], status=403))
    calls = dict(loc.calls)
    calls[ev.REMOTE_INFO] = ApiResult(403, {"error": {"type": "security_exception"}})
    v = verdict(SideEvidence(loc.url, calls))
    assert v.stages[0].outcome is Outcome.NOT_CHECKED
    assert first(v)[:2] == ("authorization", "user_lacks_remote_indices")
    assert v.findings[0].nodes == ("local-node",)


def test_dls_and_fls_of_the_users_remote_indices_are_stated() -> None:
    privileges = es("privileges_foo_all")
    privileges["remote_indices"][0]["query"] = ['{"term": {"level": "info"}}']
    privileges["remote_indices"][0]["field_security"] = [{"grant": ["message"]}]
    loc = local(search=HEALTHY_SEARCH, connected=True)
    calls = dict(loc.calls)
    calls[ev.PRIVILEGES] = ApiResult(200, privileges)
    v = verdict(SideEvidence(loc.url, calls))
    assert v.findings == ()
    notes = [e.detail for e in v.stages[Stage.AUTHORIZATION.order].evidence]
    assert any(n.startswith('DLS: only documents matching {"term"') for n in notes)
    assert any(n.startswith('FLS: only fields {"grant":["message"]}') for n in notes)


@pytest.mark.parametrize(
    "generic",
    [
        # ES before 8.8 (proxy mode), sniff mode, and CCS with skip_unavailable.
        "Unable to open any connections to remote cluster [my]",
        "fetching nodes from external cluster [my] failed",
        "Unable to connect to [my]",
    ],
)
def test_generic_wordings_of_every_version_are_undecided(generic: str) -> None:
    v = verdict(local(search=search_error(generic, outer=generic)))
    assert first(v)[:2] == ("tcp", "connection_failed")


def test_two_faults_the_earlier_stage_is_reported() -> None:
    """Credentials added without reload (configuration) and a REST key error text from an
    older connection (authentication): the configuration fault comes first; the later stages
    are not reached."""
    config = ConfigEvidence("/etc/es/n1", {"node.name": "n1"}, ("cluster.remote.my.credentials",))
    loc = local(
        search=search_error(TEXTS["wrong_key_type"], status=401),
        credentials=False,
        configs=(config,),
    )
    v = verdict(loc)
    assert first(v) == ("configuration", "credentials_not_reloaded", "local", "certain")
    assert v.findings[0].nodes == ("n1",)
    assert all(r.outcome is Outcome.NOT_REACHED for r in v.stages[1:])


@pytest.mark.parametrize(
    ("roles", "code"),
    [({}, "remote_role_missing"), ({"foo-role": {"indices": []}}, "remote_role_insufficient")],
)
def test_certificate_model_is_authorized_by_the_remotes_same_named_roles(
    roles: dict[str, object], code: str
) -> None:
    text = (
        "action [indices:data/read/search] is unauthorized for user [foo] with effective roles "
        "[foo-role] on indices [logs], this action is granted by the index privileges [read,all]"
    )
    loc = local(search=search_error(text, status=403), credentials=False, connected=True)
    rem = remote()
    calls = dict(rem.calls)
    calls[ev.ROLES] = ApiResult(200, roles)
    v = verdict(loc, SideEvidence(rem.url, calls))
    assert first(v) == ("authorization", code, "remote", "certain")
    assert v.findings[0].fix is not None
    assert v.findings[0].fix.steps[0].startswith("PUT /_security/role/foo-role ")
    assert v.findings[0].nodes == ("remote-node",)


def test_a_connection_closed_while_connecting_to_a_proxy_address_is_undecided() -> None:
    """Through a proxy_address, a connection closed while connecting is what an SNI-routing
    proxy does without a route for the server_name (the lab's sni-proxy-no-server-name) as well
    as the remote closing it: undecided between the two, never the remote's fault alone."""
    v = verdict(local(search=search_error("[][10.0.0.5:9443] handshake failed: closed by peer")))
    assert not v.decided
    found = v.findings[0]
    assert (found.stage.value, found.side.value) == ("protocol", "unknown")
    assert set(found.candidates) == {"proxy_no_route", "handshake_closed"}
    assert found.would_decide
