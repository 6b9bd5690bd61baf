"""Property: whatever the leader goes through, the follower ends equal to it, document by document.

A seeded random script per case, on one lab pair per security model shared by its cases (the
API-key model, and the certificate model with one seed; the relay in front of the remote in
proxy mode in both, so that the path can be black-holed): bulk batches of
index / update / delete on ids from a small pool (so updates and deletes hit existing documents,
and some deletes miss, which still take a ``_seq_no`` on the leader), a pause with writes then a
resume, a restart of the remote node on the same ports and data path with writes before and
after, and the path black-holed for 2-3 s while the leader is written to, then healed. Then the
follower must reach the leader's max ``_seq_no`` on every shard and hold exactly the leader's
documents with the same ``_source``, ``_seq_no``, ``_primary_term`` and ``_version``, with no
``fatal_exception``. A failure names its model, seed and script: ``ISTHMUS_CCR_SEEDS=<seed>``
(API-key model) or ``ISTHMUS_CCR_CERT_SEEDS=<seed>`` (certificate model) replays it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.lab import ccr_lab
from isthmus.lab.ccr_scenarios import LEADERS, Model, spec_of
from isthmus.lab.lifecycle import pin_ports
from isthmus.lab.relay_config import RelayMode
from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, USER_PASSWORD, Lab

_SEEDS = {Model.API_KEY: "ISTHMUS_CCR_SEEDS", Model.CERTIFICATE: "ISTHMUS_CCR_CERT_SEEDS"}
_DEFAULT_SEEDS = {Model.API_KEY: "7,1913", Model.CERTIFICATE: "4242"}
CASES = [
    (model, int(seed))
    for model, env in _SEEDS.items()
    for seed in os.environ.get(env, _DEFAULT_SEEDS[model]).split(",")
]
POOL = [f"d{n}" for n in range(10)]  # small: updates and deletes mostly hit existing ids
MAPPING = {"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}}


@pytest.fixture(scope="module")
def labs(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Callable[[Model], Lab]]:
    """One running pair per security model, built when a case first asks for it."""
    built: dict[Model, Lab] = {}
    with ExitStack() as stack:

        def lab_of(model: Model) -> Lab:
            if model not in built:
                root = tmp_path_factory.mktemp(f"ccr-property-{model}")
                lab = stack.enter_context(Lab(root, spec_of(model)))
                lab.start()
                lab.wait_connected()
                # The remote's restart comes back on the same ports (the relay's target).
                pin_ports(lab)
                ccr_lab.route(lab)  # certificate model: the relay fronts the transport port
                for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential):
                    if secret:
                        record_secret(secret)
                built[model] = lab
            return built[model]

        yield lab_of


def client(lab: Lab, which: str) -> Elasticsearch:
    node = lab.local if which == "local" else lab.remote
    assert node is not None
    return Elasticsearch(node.url, basic_auth=("elastic", ELASTIC_PASSWORD), request_timeout=30)


class Case:
    """One seeded run: the random script, what it did (for the failure message), the clients."""

    def __init__(self, lab: Lab, model: Model, seed: int) -> None:
        self.lab = lab
        self.model = model
        self.seed = seed
        self.rng = random.Random(seed)
        self.leader = f"{LEADERS}-prop-{seed}"
        self.follower = f"{self.leader}-copy"
        self.done: list[str] = []
        self.lc = client(lab, "remote")
        self.fc = client(lab, "local")
        # Small reads: a batch of writes takes several reads, some cut by the faults.
        self.read_count = self.rng.randint(2, 8)

    def where(self) -> str:
        replay = f"{_SEEDS[self.model]}={self.seed}"
        return f"{self.model} model, seed {self.seed} ({replay}), script: {'; '.join(self.done)}"

    def write(self, ops: int = 0) -> None:
        """One bulk batch of random index / update / delete operations on the pool's ids."""
        rng = self.rng
        body: list[dict[str, Any]] = []
        kinds: list[str] = []
        for _ in range(ops or rng.randint(3, 12)):
            doc_id = rng.choice(POOL)
            n = rng.randint(0, 1000)
            kind = rng.choices(["index", "update", "delete"], weights=[5, 3, 2])[0]
            if kind == "index":
                body += [
                    {"index": {"_index": self.leader, "_id": doc_id}},
                    {"n": n, "tag": f"t{n % 4}"},
                ]
            elif kind == "update":
                # Upserts, so a missing id is created; an unchanged doc is a noop (no _seq_no).
                doc = {"tag": f"t{n % 4}"} if rng.random() < 0.5 else {"n": n}
                body += [
                    {"update": {"_index": self.leader, "_id": doc_id}},
                    {"doc": doc, "doc_as_upsert": True},
                ]
            else:
                body.append({"delete": {"_index": self.leader, "_id": doc_id}})
            kinds.append(f"{kind[0]}:{doc_id}")
        resp = self.lc.bulk(operations=body)
        assert not resp["errors"], (self.where(), resp.body)
        self.done.append("write " + ",".join(kinds))

    def pause_resume(self) -> None:
        self.fc.ccr.pause_follow(index=self.follower)
        for _ in range(self.rng.randint(1, 3)):
            self.write()
        # ES's resume takes the parameters from its own request (a bare one: the defaults).
        self.fc.ccr.resume_follow(
            index=self.follower,
            max_read_request_operation_count=self.read_count,
            read_poll_timeout="1s",
        )
        self.done.append("resumed")

    def restart_leader(self) -> None:
        remote = self.lab.remote
        assert remote is not None
        self.write()
        remote.stop()
        remote.launch(write_config=False)  # the pinned ports and the same data path
        remote.wait_started()
        self.lc.cluster.health(index=self.leader, wait_for_status="yellow", timeout="20s")
        self.done.append("leader restarted")
        self.write()

    def black_hole(self) -> None:
        relay = self.lab.relay
        assert relay is not None
        seconds = self.rng.uniform(2.0, 3.0)
        relay.configure(replace(relay.config, mode=RelayMode.BLACKHOLE))
        try:
            # Open connections through the path break under the follower; new ones hang. (None
            # may be open: the follower may still be reconnecting after a leader restart.)
            cut = relay.cut()
            self.done.append(f"black hole {seconds:.1f}s ({cut} connections cut)")
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                self.write()
                time.sleep(0.4)
        finally:
            relay.configure(replace(relay.config, mode=RelayMode.PASS))
            relay.cut()
        self.done.append("healed")


def leader_max_seq_nos(case: Case) -> dict[int, int]:
    shards = case.lc.indices.stats(index=case.leader, level="shards")["indices"][case.leader]
    return {int(k): v[0]["seq_no"]["max_seq_no"] for k, v in shards["shards"].items()}


def caught_up(case: Case, wanted: dict[int, int], timeout: float = 30.0) -> list[dict[str, Any]]:
    """Wait until every follower shard's checkpoint reaches the leader's max seq_no."""
    deadline = time.monotonic() + timeout
    shards: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        shards = case.fc.ccr.follow_stats(index=case.follower)["indices"][0]["shards"]
        fatal = [s["fatal_exception"] for s in shards if "fatal_exception" in s]
        assert not fatal, (case.where(), fatal)
        at = {s["shard_id"]: s["follower_global_checkpoint"] for s in shards}
        if all(at.get(shard, -2) >= seq_no for shard, seq_no in wanted.items()):
            return shards
        time.sleep(0.1)
    raise AssertionError(
        f"follower not at the leader's {wanted} in {timeout}s: {shards}; {case.where()}"
    )


def documents(es: Elasticsearch, index: str) -> dict[str, tuple[Any, ...]]:
    """Every document of ``index`` as (_source, _seq_no, _primary_term, _version)."""
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=1000, seq_no_primary_term=True, version=True, sort=["_doc"])[
        "hits"
    ]["hits"]
    return {h["_id"]: (h["_source"], h["_seq_no"], h["_primary_term"], h["_version"]) for h in hits}


def by_id(es: Elasticsearch, index: str) -> dict[str, tuple[Any, ...]]:
    """Each pool id by real-time get: found or not, and its (_source, _seq_no, _version)."""
    got = es.mget(index=index, ids=POOL)["docs"]
    return {
        d["_id"]: (d["found"], d.get("_source"), d.get("_seq_no"), d.get("_version")) for d in got
    }


@pytest.mark.parametrize(("model", "seed"), CASES, ids=[f"{m}-{s}" for m, s in CASES])
def test_follower_equals_leader_after_a_random_script(
    labs: Callable[[Model], Lab], model: Model, seed: int
) -> None:
    case = Case(labs(model), model, seed)
    shards = case.rng.randint(1, 2)
    case.lc.indices.create(
        index=case.leader, settings={"number_of_shards": shards}, mappings=MAPPING
    )
    case.done.append(f"{shards} shard(s)")
    case.write(ops=15)
    case.fc.ccr.follow(
        index=case.follower,
        remote_cluster=ALIAS,
        leader_index=case.leader,
        wait_for_active_shards="1",
        max_read_request_operation_count=case.read_count,
        read_poll_timeout="1s",
    )
    steps: list[Callable[[], None]] = [case.pause_resume, case.restart_leader, case.black_hole]
    case.rng.shuffle(steps)
    for step in steps:
        for _ in range(case.rng.randint(0, 2)):
            case.write()
        step()
    case.write()

    wanted = leader_max_seq_nos(case)
    caught_up(case, wanted)
    leader_docs, follower_docs = documents(case.lc, case.leader), documents(case.fc, case.follower)
    missing = sorted(leader_docs.keys() - follower_docs.keys())
    extra = sorted(follower_docs.keys() - leader_docs.keys())
    differ = {
        k: (leader_docs[k], follower_docs[k])
        for k in leader_docs.keys() & follower_docs.keys()
        if leader_docs[k] != follower_docs[k]
    }
    assert (missing, extra, differ) == ([], [], {}), case.where()
    assert by_id(case.fc, case.follower) == by_id(case.lc, case.leader), case.where()
    # The follower applied every operation the leader has, deletes of missing ids included.
    stats = case.fc.indices.stats(index=case.follower, level="shards")["indices"][case.follower]
    applied = {int(k): v[0]["seq_no"]["max_seq_no"] for k, v in stats["shards"].items()}
    assert applied == wanted, case.where()
