"""The console's pure parts: stage and cause words, the wizard's reading of its request and the
settings it writes, and every form of a caller's credentials the answers are scrubbed of."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from isthmus.console.diagnose import log_tail
from isthmus.console.privileges import key_id_of, role_allows, role_entries
from isthmus.console.redaction import credential_forms, scrubbed
from isthmus.console.wizard import WizardRequest
from isthmus.console.words import STAGE_WORDS, cause_words, stage_words
from isthmus.doctor.model import STAGES
from isthmus.errors import IllegalArgumentError
from isthmus.remote.security_model import SecurityModel
from isthmus.settings.secret import Secret


def test_every_stage_has_words_and_causes_use_the_doctors_titles() -> None:
    assert set(STAGE_WORDS) == set(STAGES)
    assert stage_words("tcp") == "opening a TCP connection to the remote"
    assert stage_words(None) is None and stage_words("nonsense") is None
    assert cause_words("tcp_refused") is not None
    assert cause_words("no_such_cause") is None


def test_the_wizard_reads_its_request_strictly() -> None:
    request = WizardRequest.parse(
        {"alias": "eu-1", "mode": "sniff", "security_model": "certificate",
         "addresses": ["a:9300", "[::1]:9300"], "skip_unavailable": False}
    )  # fmt: skip
    assert request.model is SecurityModel.CERTIFICATE and request.credential is None
    assert request.settings() == {
        "cluster.remote.eu-1.mode": "sniff",
        "cluster.remote.eu-1.seeds": ["a:9300", "[::1]:9300"],
        "cluster.remote.eu-1.proxy_address": None,
        "cluster.remote.eu-1.server_name": None,
        "cluster.remote.eu-1.skip_unavailable": False,
    }
    proxy = WizardRequest.parse(
        {"alias": "x", "addresses": "h:9443", "server_name": "s.example", "credential": "abc"}
    )
    assert proxy.settings()["cluster.remote.x.proxy_address"] == "h:9443"
    assert proxy.settings()["cluster.remote.x.seeds"] is None
    assert repr(proxy.credential) == "::es_redacted::"  # the key never shows in a repr


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "request body is required"),
        ({"alias": "a.b", "addresses": ["h:1"]}, "invalid remote cluster alias [a.b]"),
        ({"alias": "a", "addresses": []}, "at least one address"),
        ({"alias": "a", "addresses": ["nohost"]}, "remote hosts need to be configured as [host:port], found [nohost] instead"),
        ({"alias": "a", "addresses": ["h:0"]}, "port number must be > 0 but was: [0]"),
        ({"alias": "a", "mode": "tunnel", "addresses": ["h:1"]}, "ConnectionStrategy.TUNNEL"),
        ({"alias": "a", "addresses": ["h:1", "i:2"]}, "proxy mode takes exactly one"),
        ({"alias": "a", "security_model": "x", "addresses": ["h:1"]}, "unknown security model"),
    ],
)  # fmt: skip
def test_a_bad_wizard_request_is_a_400_with_the_reason(body: object, reason: str) -> None:
    with pytest.raises(IllegalArgumentError) as refused:
        WizardRequest.parse(body)
    assert reason in refused.value.reason
    assert refused.value.http_status == 400


def test_every_form_of_the_callers_credentials_is_scrubbed() -> None:
    token = base64.b64encode(b"foo:s3cret-pw").decode()
    forms = credential_forms(f"Basic {token}")
    assert {f"Basic {token}", token, "foo:s3cret-pw", "s3cret-pw"} <= set(forms)
    assert credential_forms("ApiKey abcdef") == ["ApiKey abcdef", "abcdef"]
    assert credential_forms(None) == []


def test_the_role_side_of_effective_privileges() -> None:
    privileges = {
        "remote_indices": [
            {"clusters": ["my", "eu-*"], "names": ["logs", "secret-*"], "privileges": ["read"]},
            {"clusters": ["other"], "names": ["*"], "privileges": ["all"]},
            {
                "clusters": ["my"],
                "names": ["leader-*"],
                "privileges": ["cross_cluster_replication"],
            },
        ]
    }
    entries = role_entries(privileges, "my")
    assert [e["names"] for e in entries] == [["logs", "secret-*"], ["leader-*"]]
    assert [e["names"] for e in role_entries(privileges, "eu-2")] == [["logs", "secret-*"]]
    read = frozenset({"read", "all"})
    assert role_allows(entries, "secret-1", read) and role_allows(entries, "logs", read)
    assert not role_allows(entries, "other", read)
    assert not role_allows(entries, "leader-1", read)
    assert role_allows(entries, "leader-1", frozenset({"cross_cluster_replication"}))


def test_a_keys_id_is_read_from_its_encoded_form_and_nothing_else() -> None:
    encoded = base64.b64encode(b"AbCdEf123:the-secret-part").decode()
    assert key_id_of(Secret(encoded)) == "AbCdEf123"
    assert key_id_of(Secret("not base64!")) is None
    assert key_id_of(Secret(base64.b64encode(b"no-colon").decode())) is None
    assert key_id_of(None) is None


def test_the_log_tail_is_bounded_and_drops_a_cut_line(tmp_path: Path) -> None:
    (tmp_path / "local.log").write_text("".join(f"line {i:05}\n" for i in range(10_000)))
    (tmp_path / "small.json").write_text('{"a": 1}\n{"b": 2}\n')
    (tmp_path / "ignored.txt").write_text("not a log\n")
    tail = log_tail(tmp_path, limit=1000)
    assert set(tail) == {"local.log", "small.json"}
    assert tail["small.json"] == ['{"a": 1}', '{"b": 2}']
    lines = tail["local.log"]
    assert lines[-1] == "line 09999" and len(lines) == 1000 // 11  # whole lines only
    assert all(line.startswith("line ") and len(line) == 10 for line in lines)
    assert log_tail(tmp_path / "missing") == {}


def test_answers_are_scrubbed_as_structures_and_stay_json() -> None:
    answer = {"a": "key=s3cret-value!", "true": [True, "true", {"s3cret-value": None}], "n": 1}
    out = scrubbed(answer, ["s3cret-value", "true", ""])
    assert out == {
        "a": "key=::es_redacted::!",
        "::es_redacted::": [True, "::es_redacted::", {"::es_redacted::": None}],
        "n": 1,
    }
