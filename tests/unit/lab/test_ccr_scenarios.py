"""The CCR scenarios' symptom check (``ccr_lab.mismatches``) on answers and stats as ES shapes
them: what counts as the symptom, and what does not (a retried failure that became fatal, a
read exception not retried yet, the wrong error)."""

from __future__ import annotations

from typing import Any

from isthmus.lab.ccr_lab import Seen, fill, mismatches
from isthmus.lab.ccr_scenarios import CcrScenario, ccr_scenarios


def scenario(name: str) -> CcrScenario:
    return next(s for s in ccr_scenarios("proxy") if s.name == name)


def stats(**shard: Any) -> dict[str, Any]:
    base = {"shard_id": 0, "read_exceptions": [], "leader_global_checkpoint": 2}
    return {"indices": [{"index": "f", "shards": [{**base, **shard}]}]}


def error(status: int, es_type: str, reason: str) -> Seen:
    return Seen(status, {"error": {"type": es_type, "reason": reason}, "status": status}, None)


def test_an_answer_matches_on_status_type_and_reason() -> None:
    alias = scenario("ccr-follow-alias")
    reason = "cannot follow [orders-follow-alias-alias], because it is a ALIAS"
    assert fill("cannot follow [{followed}], because it is a ALIAS", alias) == reason
    assert mismatches(alias, error(400, "illegal_argument_exception", reason)) == []
    wrong = mismatches(alias, error(404, "index_not_found_exception", "no such index"))
    assert len(wrong) == 3
    # Following worked where ES refuses: no error at all.
    assert mismatches(alias, Seen(200, {"index_following_started": True}, None))


def test_a_fatal_exception_is_the_symptom_of_a_deleted_leader() -> None:
    deleted = scenario("ccr-leader-deleted")
    fatal = {"type": "index_not_found_exception", "reason": "no such index [orders-leader-deleted]"}
    assert mismatches(deleted, Seen(200, {}, stats(fatal_exception=fatal))) == []
    assert mismatches(deleted, Seen(200, {}, stats())) != []  # not yet
    assert mismatches(deleted, Seen(200, {}, None)) == ["the follower has no follow stats"]


def test_read_exceptions_are_the_symptom_of_a_closed_leader_only_once_retried() -> None:
    closed = scenario("ccr-leader-closed")
    exc = {
        "type": "cluster_block_exception",
        "reason": "index [orders-leader-closed] blocked by: [FORBIDDEN/4/index closed];",
    }
    retried = stats(read_exceptions=[{"from_seq_no": 3, "retries": 2, "exception": exc}])
    assert mismatches(closed, Seen(200, {}, retried)) == []
    first = stats(read_exceptions=[{"from_seq_no": 3, "retries": 0, "exception": exc}])
    assert mismatches(closed, Seen(200, {}, first))
    # ES retries a closed leader: a fatal exception is a different behaviour, not the symptom.
    assert mismatches(closed, Seen(200, {}, stats(fatal_exception=exc)))
    other = {"type": "index_closed_exception", "reason": "closed"}
    wrong = stats(read_exceptions=[{"from_seq_no": 3, "retries": 5, "exception": other}])
    assert mismatches(closed, Seen(200, {}, wrong))


def test_the_key_id_is_filled_in() -> None:
    keyless = scenario("ccr-key-without-replication")
    reason = (
        "action [cluster:monitor/state] towards remote cluster is unauthorized for user "
        "[_system] with assigned roles [] authenticated by API key id [abc] of user [elastic]"
    )
    assert mismatches(keyless, error(403, "security_exception", reason), key_id="abc") == []
    assert mismatches(keyless, error(403, "security_exception", reason), key_id="xyz")
