"""Log findings beyond the guide and the lab: the same faults worded by ES 7 / 8.x / 9.x, in
JSON and plain, one side or both, with a second alias, a fix applied since, a remote restart;
and what every finding must carry (codes, exact redacted lines, fixes, what would decide)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from isthmus.doctor.causes import BY_CODE
from isthmus.doctor.log_join import redact
from isthmus.doctor.log_lines import parse_plain
from isthmus.doctor.logs import LogLine, log_findings
from isthmus.doctor.model import AliasVerdict, Outcome, Status
from tests.unit.doctor.log_cases import (
    FIXTURES,
    GUIDE,
    LAB,
    QC,
    VARIANTS,
    Got,
    U,
    load,
    run,
    summary,
)


@pytest.mark.parametrize(
    ("case", "remote", "expected"),
    VARIANTS,
    ids=[f"{c}-{'both' if r else 'local'}" for c, r, _ in VARIANTS],
)
def test_variant(case: str, remote: bool, expected: Got) -> None:
    assert summary(run(f"variants/{case}", remote=remote)) == [expected]


def test_remote_restart_is_not_a_network_fault() -> None:
    results = run("variants/remote-restart", remote=True)
    assert [(r.stage.value, r.outcome) for r in results] == [("tcp", Outcome.PASSED)]
    assert "restarted" in results[0].evidence[-1].detail
    assert any("stopping ..." in e.detail for e in results[0].evidence)


_CLOSED_AT_10_00_05 = (
    "[2026-03-02T10:00:05,000][INFO ][o.e.t.ClusterConnectionManager] [qc-node-1] transport "
    "connection to [{%s}{RbW0JQ}{10.0.0.5}{10.0.0.5:9443}] closed by remote\n"
)


@pytest.mark.parametrize(
    ("remote", "explained"),
    [
        # The lab's idle cut: the node started 2 s before the closure and ran on.
        (("10:00:03,000 started",), False),
        (("09:58:00,000 started",), False),
        (("10:00:04,500 stopping ...", "10:00:05,100 stopped"), True),
        (("10:00:05,400 stopped",), True),  # within the clocks' skew
        (("09:59:20,000 stopping ...", "09:59:21,000 stopped"), True),  # noticed late
        # It stopped (and came back) only after the closure: it was running then.
        (("10:00:40,000 stopping ...", "10:00:41,000 stopped", "10:00:50,000 started"), False),
        # Restarted a minute before: the closure is about the new run.
        (("09:58:00,000 stopping ...", "09:58:01,000 stopped", "09:58:30,000 started"), False),
        (("09:59:58,000 stopping ...", "10:00:20,000 started"), True),
        # Killed (no stop logged) and back: the start after the closure explains it ...
        (("10:00:25,000 started",), True),
        (("09:50:00,000 started", "10:00:30,000 started"), True),
        (("10:00:04,000 started", "10:00:30,000 started"), True),  # killed in between
        # ... but not one that came back long after, nor a restart before the closure.
        (("10:02:00,000 started",), False),
        (("09:59:00,000 started", "10:00:03,000 started", "10:00:40,000 stopping ..."), False),
    ],
    ids=lambda v: "|".join(v) if isinstance(v, tuple) else str(v),
)
def test_only_a_restart_at_the_closure_explains_it(
    remote: tuple[str, ...], explained: bool
) -> None:
    local = _lines(_CLOSED_AT_10_00_05 % "my#10.0.0.5:9443")
    node = "[2026-03-02T%s][INFO ][o.e.n.Node               ] [fc-node-1] %s\n"
    remote_log = _lines("".join(node % tuple(x.split(" ", 1)) for x in remote))
    results = log_findings(local, remote_log, "my")
    if explained:
        assert [(r.stage.value, r.outcome) for r in results] == [("tcp", Outcome.PASSED)]
    else:
        (got,) = summary(results)
        assert (got.cause, got.confidence) == ("connection_unreliable", "likely")
        assert any("no stop or start" in e.detail for e in results[0].findings[0].evidence)


@pytest.mark.parametrize(
    ("remote", "explained"),
    [
        (("10:00:04,000 stopping ...", "10:00:04,500 closed", "10:00:20,000 started"), True),
        (("10:00:25,000 started",), True),  # killed, back since
        # Still down: nothing listens, and that is the fault.
        (("10:00:04,000 stopping ...", "10:00:04,500 closed"), False),
        # Back before the refusal, or stopped only after it: it was listening then.
        (("10:00:00,000 stopping ...", "10:00:03,000 started"), False),
        (("10:00:30,000 stopping ...", "10:00:40,000 started"), False),
    ],
    ids=lambda v: "|".join(v) if isinstance(v, tuple) else str(v),
)
def test_a_refusal_while_the_remote_restarted_is_explained(
    remote: tuple[str, ...], explained: bool
) -> None:
    local = _lines(
        "[2026-03-02T10:00:05,000][WARN ][o.e.t.ProxyConnectionStrategy] [qc-node-1] failed to "
        "open any proxy connections to cluster [my]\norg.elasticsearch.transport."
        "ConnectTransportException: [][10.0.0.5:9443] connect_exception\nCaused by: "
        "java.net.ConnectException: Connection refused: /10.0.0.5:9443\n"
    )
    node = "[2026-03-02T%s][INFO ][o.e.n.Node               ] [fc-node-1] %s\n"
    remote_log = _lines("".join(node % tuple(x.split(" ", 1)) for x in remote))
    results = log_findings(local, remote_log, "my")
    if explained:
        assert [(r.stage.value, r.outcome) for r in results] == [("tcp", Outcome.PASSED)]
        assert "refused because the remote node restarted" in results[0].evidence[-1].detail
    else:
        (got,) = summary(results)
        assert (got.cause, got.confidence) == ("tcp_refused", "certain")


def test_another_remote_node_restarting_explains_nothing() -> None:
    """Sniff mode: the closed connection names its node; only that node's restart explains it."""
    local = _lines(_CLOSED_AT_10_00_05 % "fc-node-2")
    stop = "[2026-03-02T10:00:04,500][INFO ][o.e.n.Node               ] [%s] stopping ...\n"
    (got,) = summary(log_findings(local, _lines(stop % "fc-node-1"), "my"))
    assert got.cause == "connection_unreliable"
    results = log_findings(local, _lines(stop % "fc-node-2"), "my")
    assert [(r.stage.value, r.outcome) for r in results] == [("tcp", Outcome.PASSED)]


def test_a_fault_fixed_since_is_not_reported() -> None:
    assert run("variants/fixed-since", remote=False) == []
    local = load(FIXTURES / "variants" / "fixed-since", "local") or []
    (got,) = summary(log_findings(local[:1], None, "my"))  # without the success line
    assert got.cause == "tcp_refused"


def test_other_aliases_are_left_out() -> None:
    local = load(FIXTURES / "variants" / "two-aliases", "local") or []
    (got,) = summary(log_findings(local, None, "other"))
    assert (got.cause, got.nodes) == ("dns_unresolvable", (QC, "10.0.0.6:9443"))
    assert log_findings(local, None, "nobody") == []


# --- properties of every finding ------------------------------------------------------------------

ALL = (
    [(f"guide/{c}", r) for c, r, _ in GUIDE]
    + [(c, r) for c, _, _ in LAB for r in (False, True)]
    + [(f"variants/{c}", r) for c, r, _ in VARIANTS]
)


@pytest.mark.parametrize(("case", "remote"), ALL, ids=[f"{c}-{r}" for c, r in ALL])
def test_every_finding_is_complete(case: str, remote: bool) -> None:
    results = run(case, remote=remote)
    verdict = AliasVerdict.from_stages("my", results)
    assert verdict.status is Status.RED
    for result in results:
        for f in result.findings:
            assert f.cause in BY_CODE and all(c in BY_CODE for c in (*f.candidates, *f.ruled_out))
            assert f.evidence and f.evidence[0].source.startswith(("local log", "remote log"))
            assert f.message.startswith("remote cluster [my]: ")
            if result.outcome is Outcome.UNDECIDED:
                assert len(f.candidates) > 1 and f.would_decide and f.fix is None
                assert f.confidence.value == "possible"
            else:
                assert not f.candidates and f.fix is not None and f.fix.steps


def test_evidence_is_the_exact_line() -> None:
    (result,) = run("guide/rest-api-key", remote=False)
    text = (FIXTURES / "guide" / "rest-api-key" / "local" / "local.log").read_text().rstrip("\n")
    assert result.findings[0].evidence[0].detail == text
    assert result.findings[0].evidence[0].source == "local log local.log:1"


def test_secrets_are_redacted_in_evidence() -> None:
    secret = "azN5SWQtMDAwMDAwMDAwMDAwMDpzM2NyM3RzM2NyM3RzM2NyM3RzM2Ny"
    local = load(FIXTURES / "variants" / "two-aliases", "local") or []
    assert any(secret in line.raw for line in local)
    (result,) = log_findings(local, None, "my")
    text = str([r.to_json() for r in [result]])
    assert secret not in text and "ApiKey ::es_redacted::" in text


def test_remote_expected_silent_is_said() -> None:
    """The guide: 'This does not show up in the logs of the remote cluster'."""
    (with_remote,) = run("rest-key-proxy", remote=True)
    notes = [e.detail for e in with_remote.findings[0].evidence if e.source == "log join"]
    assert any("logged nothing for this, as expected" in n for n in notes)
    (alone,) = run("rest-key-proxy", remote=False)
    notes = [e.detail for e in alone.findings[0].evidence if e.source == "log join"]
    assert any("would not add anything" in n for n in notes)


def test_missing_answer_from_the_remote_is_said() -> None:
    """A trust failure the remote's log does not show: the address may not be that cluster."""
    case = FIXTURES / "untrusted-ca-proxy"
    local = load(case, "local") or []
    (result,) = log_findings(local, [], "my")
    notes = [e.detail for e in result.findings[0].evidence if e.source == "log join"]
    assert any("has no matching line" in n for n in notes)


def test_window_limits_both_sides() -> None:
    case = FIXTURES / "invalid-key-proxy"
    local, remote = load(case, "local") or [], load(case, "remote") or []
    times = [x.time for x in local if x.time is not None]
    before = (min(times).replace(year=2000), min(times).replace(year=2001))
    assert log_findings(local, remote, "my", window=before) == []
    everything = (min(times).replace(year=2000), max(times).replace(year=2100))
    assert summary(log_findings(local, remote, "my", window=everything)) == summary(
        log_findings(local, remote, "my")
    )


def _shift(lines: list[LogLine], by: timedelta) -> list[LogLine]:
    return [replace(x, time=x.time + by if x.time else None) for x in lines]


def test_join_needs_the_same_key() -> None:
    case = FIXTURES / "invalid-key-proxy"
    local, remote = load(case, "local") or [], load(case, "remote") or []
    other_key = [replace(x, message=x.message.replace("API key [", "API key [x")) for x in remote]
    assert summary(log_findings(local, other_key, "my"))[0].outcome == U


def test_join_needs_a_near_time() -> None:
    """Isthmus's 'api key has been invalidated' names no key: only time ties it to the alias."""
    case = FIXTURES / "invalidated-key-proxy"
    local, remote = load(case, "local") or [], load(case, "remote") or []
    assert summary(log_findings(local, _shift(remote, timedelta(seconds=90)), "my"))[0].cause == (
        "api_key_invalidated"
    )
    assert summary(log_findings(local, _shift(remote, timedelta(hours=1)), "my"))[0].outcome == U


def test_remote_lines_alone() -> None:
    """No local line for the alias: the remote's own symptoms still say something, less sure."""
    remote = load(FIXTURES / "invalidated-key-proxy", "remote") or []
    (got,) = summary(log_findings([], remote, "my"))
    assert (got.cause, got.confidence, got.nodes) == (
        "api_key_invalidated",
        "likely",
        ("remote-node",),
    )


# --- single lines: authorization texts, remote-only symptoms, redaction -----------------------------

HEAD = "[2026-03-02T10:00:00,100][WARN ][o.e.t.RemoteClusterService] [qc-node-1] "
FC_HEAD = "[2026-03-02T10:00:00,100][WARN ][o.e.x.c.s.t.n.SecurityNetty4Transport] [fc-node-1] "
CHANNEL = "Netty4TcpChannel{localAddress=/10.0.0.5:9443, remoteAddress=/10.0.0.9:51234, profile=%s}"


def _lines(text: str) -> list[LogLine]:
    return parse_plain(text)


def test_user_without_remote_indices_is_decided_locally() -> None:
    text = (
        HEAD + "search failed\norg.elasticsearch.ElasticsearchSecurityException: action "
        "[indices:data/read/search] towards remote cluster [my] is unauthorized for user [foo] "
        "with effective roles [] (assigned roles [foo-role] were not found) because no remote "
        "indices privileges apply for the target cluster\n"
    )
    (got,) = summary(log_findings(_lines(text), None, "my"))
    assert (got.stage, got.cause, got.side, got.confidence) == (
        "authorization",
        "user_lacks_remote_indices",
        "local",
        "certain",
    )


@pytest.mark.parametrize(
    ("cause", "outcome", "candidates"),
    [
        # ES's own deadline for the whole connection: TCP, TLS or the handshake hung (the lab's
        # silent path opens TCP and never answers the TLS hello, with the same line).
        (
            "[][10.0.0.5:9443] connect_timeout[30s]",
            "undecided",
            ("tcp_timeout", "no_answer", "handshake_timeout"),
        ),
        # The OS's connect timeout: the SYN was never answered.
        ("java.net.ConnectException: Connection timed out", "failed", ()),
    ],
)
def test_connect_timeouts(cause: str, outcome: str, candidates: tuple[str, ...]) -> None:
    text = (
        "[2026-03-02T10:00:00,100][WARN ][o.e.t.ProxyConnectionStrategy] [qc-node-1] failed to "
        f"open any proxy connections to cluster [my]\norg.elasticsearch.transport."
        f"ConnectTransportException: [][10.0.0.5:9443] connect_exception\nCaused by: {cause}\n"
    )
    (got,) = summary(log_findings(_lines(text), None, "my"))
    assert (got.stage, got.cause, got.outcome, got.candidates) == (
        "tcp",
        "tcp_timeout",
        outcome,
        candidates,
    )


def test_remote_denial_cannot_tell_the_key_from_the_user() -> None:
    """The same text whether the key's access or the user's remote_indices is too narrow (the
    lab's two privilege scenarios answer with it word for word)."""
    text = (
        HEAD + "search on [my] failed\norg.elasticsearch.ElasticsearchSecurityException: action "
        "[indices:data/read/search] towards remote cluster is unauthorized for user [foo] with "
        "assigned roles [foo-role] authenticated by API key id [k3yId-0000000000000] of user "
        "[elastic] on indices [logs], this action is granted by the index privileges [read,all]\n"
    )
    results = log_findings(_lines(text), None, "my")
    (got,) = summary(results)
    assert (got.stage, got.outcome, got.candidates) == (
        "authorization",
        U,
        ("key_access_excludes", "user_lacks_remote_indices"),
    )
    would = results[0].findings[0].would_decide
    assert any("GET /_security/api_key?id=k3yId-0000000000000" in w for w in would)


@pytest.mark.parametrize(
    ("line", "cause", "outcome"),
    [
        (
            FC_HEAD
            + "client did not trust this server's certificate, closing connection "
            + CHANNEL % "_remote_cluster",
            "tls_untrusted_ca",
            U,
        ),
        (
            FC_HEAD
            + "received plaintext traffic on an encrypted channel, closing connection "
            + CHANNEL % "_remote_cluster",
            "plaintext_to_tls",
            "failed",
        ),
        (
            "[2026-03-02T10:00:00,100][WARN ][o.e.t.TcpTransport] [fc-node-1] exception caught on transport layer ["
            + CHANNEL % "default"
            + "], closing connection\nio.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException: Empty client certificate chain",
            "transport_port_with_credentials",
            U,
        ),
        (
            "[2026-03-02T10:00:00,100][WARN ][o.e.t.TcpTransport] [fc-node-1] exception caught on transport layer ["
            + CHANNEL % "_remote_cluster"
            + "], closing connection\nio.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException: Empty client certificate chain",
            "tls_client_certificate_required",
            "failed",
        ),
        (
            "[2026-03-02T10:00:00,100][WARN ][o.e.x.s.a.ApiKeyAuthenticator] [fc-node-1] Authentication using apikey failed - api key is expired",
            "api_key_expired",
            "failed",
        ),
    ],
)
def test_remote_lines_with_nothing_on_the_local_side(line: str, cause: str, outcome: str) -> None:
    """Without any local line for the alias, the remote's own symptoms count, but never with
    certainty: the remote does not know which cluster (or alias) its client was."""
    results = log_findings([], _lines(line), "my")
    (got,) = summary(results)
    assert (got.cause, got.outcome, got.nodes) == (cause, outcome, ("fc-node-1",))
    assert got.confidence != "certain"
    notes = [e.detail for e in results[0].findings[0].evidence if e.source == "log join"]
    assert any("may be about another cluster" in n for n in notes)


def test_remote_lines_of_other_clients_are_left_out() -> None:
    """A local failure on another port: the remote's untied line is not ours."""
    local = load(FIXTURES / "variants" / "es9-plain-connect-timeout", "local") or []
    remote = _lines(
        FC_HEAD
        + "received plaintext traffic on an encrypted channel, closing connection "
        + (CHANNEL % "_remote_cluster").replace("9443", "9444")
    )
    assert [g.cause for g in summary(log_findings(local, remote, "my"))] == ["tcp_timeout"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "Authorization: ApiKey azN5SWQtMDAwMDAwMDAwMDAwMDpzM2NyM3RzM2NyM3RzM2NyM3RzM2Ny",
            "Authorization: ApiKey ::es_redacted::",
        ),
        ("Authorization: Basic ZWxhc3RpYzpjaGFuZ2VtZQ==", "Authorization: Basic ::es_redacted::"),
        (
            '{"api_key":"s3cr3ts3cr3ts3cr3ts3cr","id":"k3y"}',
            '{"api_key":"::es_redacted::","id":"k3y"}',
        ),
        ("bootstrap.password=changeme rest", "bootstrap.password=::es_redacted:: rest"),
        # a bare encoded cross-cluster credential (base64 of id:secret)
        (
            "value azN5SWQtMDAwMDAwMDAwMDAwMDpzM2NyM3RzM2NyM3RzM2NyM3RzM2Ny.",
            "value ::es_redacted::.",
        ),
        # fingerprints and key ids are not secrets
        (
            "fingerprint [529de35e15666ffaa26afa50876a2a48119db03a] key [agZXJocBmA2beJfq2yKu]",
            "fingerprint [529de35e15666ffaa26afa50876a2a48119db03a] key [agZXJocBmA2beJfq2yKu]",
        ),
    ],
)
def test_redact(text: str, kept: str) -> None:
    assert redact(text) == kept


def _node_line(node: str, time: str, body: str) -> str:
    return f"[2026-03-02T10:00:{time}][WARN ][o.e.t.ProxyConnectionStrategy] [{node}] {body}"


MISSING_HEADER = (
    "failed to open any proxy connections to cluster [my]\n"
    "org.elasticsearch.transport.RemoteTransportException: [fc-node-1][10.0.0.5:9443]"
    "[internal:transport/handshake]\n"
    "Caused by: java.lang.IllegalArgumentException: Cross cluster requests through the dedicated "
    "remote cluster server port require transport header [_cross_cluster_access_credentials] but "
    "none found. Please ensure you have configured remote cluster credentials on the cluster "
    "originating the request.\n"
)
CONNECTED = (
    "[2026-03-02T10:00:{t}][INFO ][o.e.t.RemoteClusterService] [{n}] project [default] remote "
    "cluster connection [my] updated: CONNECTED\n"
)


def test_credentials_missing_on_some_nodes_names_them() -> None:
    text = (
        _node_line("qc-node-1", "01,000", MISSING_HEADER)
        + CONNECTED.format(t="02,000", n="qc-node-2")
        + _node_line("qc-node-3", "03,000", MISSING_HEADER)
    )
    results = log_findings(_lines(text), None, "my")
    (got,) = summary(results)
    assert (got.stage, got.cause, got.side) == (
        "configuration",
        "credentials_missing_on_nodes",
        "local",
    )
    assert got.nodes == ("qc-node-1", "qc-node-3", "fc-node-1", "10.0.0.5:9443")
    assert "[qc-node-2] connected" in results[0].findings[0].message
    # Without the node that connected, the whole cluster lacks the credential.
    (alone,) = summary(
        log_findings(_lines(_node_line("qc-node-1", "01,000", MISSING_HEADER)), None, "my")
    )
    assert alone.cause == "credentials_missing"


def test_another_node_connecting_does_not_fix_a_node() -> None:
    refused = (
        "failed to open any proxy connections to cluster [my]\n"
        "org.elasticsearch.transport.ConnectTransportException: [][10.0.0.5:9443] connect_exception\n"
        "Caused by: java.net.ConnectException: Connection refused\n"
    )
    text = _node_line("qc-node-1", "01,000", refused) + CONNECTED.format(t="02,000", n="qc-node-2")
    (got,) = summary(log_findings(_lines(text), None, "my"))
    assert (got.cause, got.nodes) == ("tcp_refused", ("qc-node-1", "10.0.0.5:9443"))
    fixed = text + CONNECTED.format(t="03,000", n="qc-node-1")
    assert log_findings(_lines(fixed), None, "my") == []


def test_a_refused_connection_is_never_answered_by_the_remote() -> None:
    """The remote's line on the same port at the same time is about another client: a refused
    connection never reached it."""
    local = load(FIXTURES / "variants" / "es8-json-connect-refused", "local") or []
    remote = _lines(
        "[2026-03-02T10:00:00,120][WARN ][o.e.x.c.s.t.n.SecurityNetty4Transport] [fc-node-1] "
        "received plaintext traffic on an encrypted channel, closing connection "
        + CHANNEL
        % "_remote_cluster"
    )
    first, other = summary(log_findings(local, remote, "my"))
    assert (first.cause, first.confidence) == ("tcp_refused", "certain")
    # Kept (it is on the alias's port) but never certain: another client may use that port.
    assert (other.cause, other.confidence) == ("plaintext_to_tls", "likely")


def test_closed_by_remote_again_and_again_is_likely_the_network() -> None:
    line = (
        "[2026-03-02T10:0{m}:00,000][INFO ][o.e.t.ClusterConnectionManager] [qc-node-1] transport "
        "connection to [{{my#10.0.0.5:9443}}{{RbW0JQ}}{{10.0.0.5}}{{10.0.0.5:9443}}] closed by remote\n"
    )
    (once,) = summary(log_findings(_lines(line.format(m=1)), None, "my"))
    assert (once.cause, once.confidence) == ("connection_unreliable", "possible")
    results = log_findings(
        _lines(line.format(m=1) + line.format(m=3) + line.format(m=5)), None, "my"
    )
    (again,) = summary(results)
    assert (again.cause, again.confidence) == ("connection_unreliable", "likely")
    assert any("closed 3 times" in e.detail for e in results[0].findings[0].evidence)


def test_keep_alive_verdict_and_a_discovered_node_descriptor() -> None:
    """Isthmus's keep-alive line names the alias and the address; the connection manager's
    line names only the node (``{name}{id}{address}``, as for sniffed nodes): joined by address."""
    local = load(FIXTURES / "variants" / "keepalive-discovered-node", "local") or []
    results = log_findings(local, None, "far")
    (got,) = summary(results)
    assert (got.stage, got.cause, got.confidence) == ("tcp", "connection_unreliable", "likely")
    assert got.nodes == ("local-node", "127.0.0.1:35959", "remote-node")
    assert len(results[0].findings[0].evidence) >= 2  # both lines
