"""CCR's leader side on a real node, asked over the real transport as a follower cluster asks:
``shard_changes`` (bounds, long poll, history uuid, trimmed history), retention leases, the
leader index metadata, and who may ask in both security models (the API-key model on the
remote cluster server: a key's ``replication`` access vs ``search`` only; the certificate model
on the transport port: the remote's roles of the same names), plus ``forget_follower``.

One leader node (the lab's remote, with its PKI) serves every test; the test process is the
follower, speaking Isthmus's transport client.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.ccr.follow_privileges import IndexPrivilegesRequest, IndexPrivilegesResponse
from isthmus.ccr.wire import (
    FileChunkRequest,
    FileChunkResponse,
    LeaderIndexMetadataRequest,
    LeaderIndexMetadataResponse,
    LeaderIndicesRequest,
    LeaderIndicesResponse,
    RestoreSessionRequest,
    RestoreSessionResponse,
    RestoreShard,
    RetentionLeaseRequest,
    ShardChangesRequest,
    ShardChangesResponse,
    retention_lease_id,
)
from isthmus.errors import IsthmusError
from isthmus.lab.topology import ELASTIC_PASSWORD, Lab, LabSpec, _call
from isthmus.security.cross_cluster_access import (
    SYSTEM_SUBJECT_INFO,
    SubjectInfo,
    outbound_headers,
)
from isthmus.security.roles import IndicesPrivileges, RoleDescriptor
from isthmus.security.transport_filter import TransportIdentity
from isthmus.settings.secret import Secret
from isthmus.transport.channel import TransportChannel
from isthmus.transport.client import connect
from isthmus.transport.local import LocalNode
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import (
    ADD_RETENTION_LEASE_ACTION,
    CLUSTER_STATE_ACTION,
    HAS_PRIVILEGES_ACTION,
    INDICES_STATS_ACTION,
    INTERNAL_RESTORE_FILE_CHUNK_ACTION,
    INTERNAL_RESTORE_SESSION_CLEAR_ACTION,
    INTERNAL_RESTORE_SESSION_PUT_ACTION,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOVE_RETENTION_LEASE_ACTION,
    RENEW_RETENTION_LEASE_ACTION,
    RESTORE_FILE_CHUNK_ACTION,
    RESTORE_SESSION_CLEAR_ACTION,
    RESTORE_SESSION_PUT_ACTION,
    SHARD_CHANGES_ACTION,
)

ME = LocalNode("follower", "f-uuid", NodeIdentity("fid", "follower-node", "127.0.0.1:0", "9.1.0"))
LEADER = "leader"
TRIMMED = "trimmed"
POLLED = "leader-polled"
REPLICATION = RoleDescriptor(
    "ccr-user-role",
    indices=(IndicesPrivileges(("leader*", "trimmed*"), ("cross_cluster_replication",)),),
)


class Leader:
    """The leader node and what a follower needs to reach it in either model."""

    def __init__(self, lab: Lab) -> None:
        assert lab.remote is not None
        self.lab = lab
        self.es = Elasticsearch(lab.remote.url, basic_auth=("elastic", ELASTIC_PASSWORD))
        (node,) = self.es.nodes.info()["nodes"].values()
        self.transport = str(node["transport_address"])
        self.server = str(node["remote_cluster_server"]["publish_address"])
        files = lab.pki.files
        # The API-key model: trust the remote cluster server's CA.
        self.server_tls = ssl.create_default_context(cafile=str(files["remote-server-ca"]))
        self.server_tls.check_hostname = False
        # The certificate model: mutual TLS with a certificate the leader's transport trusts.
        self.transport_tls = ssl.create_default_context(cafile=str(files["remote-transport-ca"]))
        self.transport_tls.check_hostname = False
        # local-node's transport certificate: issued by a CA the leader's transport trusts
        crt, key = lab.pki.dir / "local-node.crt", lab.pki.dir / "local-node.key"
        self.transport_tls.load_cert_chain(str(crt), str(key))
        keys = {
            name: _call(
                lab.remote_url,
                "POST",
                "/_security/cross_cluster/api_key",
                {"name": name, "access": {part: [{"names": ["leader*", "trimmed*"]}]}},
            )["encoded"]
            for name, part in (("repl", "replication"), ("search", "search"))
        }
        self.keys = {name: Secret(str(value)) for name, value in keys.items()}

    @asynccontextmanager
    async def api_key_channel(self, key: str) -> AsyncIterator[tuple[TransportChannel, dict]]:
        """A channel to the remote cluster server with ``key``, and each request's headers."""
        secret = self.keys[key]
        host, port = self.server.rsplit(":", 1)
        channel = await connect(
            host,
            int(port),
            identity=ME,
            ssl_context=self.server_tls,
            timeout=10,
            profile="_remote_cluster",
            handshake_action=REMOTE_CLUSTER_HANDSHAKE_ACTION,
            headers=outbound_headers(secret, SYSTEM_SUBJECT_INFO),
        )
        info = SubjectInfo("ccr-user", ("ccr-user-role",), "native", ((REPLICATION,),))
        try:
            yield channel, outbound_headers(secret, info)
        finally:
            channel.close()

    @asynccontextmanager
    async def certificate_channel(self, role: str) -> AsyncIterator[tuple[TransportChannel, dict]]:
        """A channel to the transport port (mutual TLS), requests running as a user whose
        roles the leader resolves by name."""
        host, port = self.transport.rsplit(":", 1)
        channel = await connect(
            host, int(port), identity=ME, ssl_context=self.transport_tls, timeout=10
        )
        try:
            yield channel, TransportIdentity("ccr-user", (role,)).header()
        finally:
            channel.close()


@pytest.fixture(scope="module")
def leader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leader]:
    lab = Lab(tmp_path_factory.mktemp("ccr-leader"), LabSpec(sample_index=False, credential=None))
    lab.build()
    assert lab.remote is not None
    with lab.remote:
        url = lab.remote_url
        _call(url, "PUT", f"/{LEADER}", {"settings": {"number_of_shards": 2}})
        _call(url, "PUT", f"/{POLLED}", {"settings": {"number_of_shards": 1}})
        _call(
            url,
            "PUT",
            f"/{TRIMMED}",
            {
                "settings": {
                    "number_of_shards": 1,
                    "index.soft_deletes.retention_lease.period": "1s",
                }
            },
        )
        # The certificate model's roles, by the names the follower's user has.
        _call(
            url,
            "PUT",
            "/_security/role/ccr-reader",
            {"indices": [{"names": ["leader*", "trimmed*"], "privileges": ["read", "manage"]}]},
        )
        _call(
            url,
            "PUT",
            "/_security/role/metadata-only",
            {"indices": [{"names": ["leader*"], "privileges": ["view_index_metadata"]}]},
        )
        yield Leader(lab)


def bulk(leader: Leader, index: str, docs: list[tuple[str, dict[str, Any]]]) -> None:
    body: list[Any] = []
    for doc_id, source in docs:
        body += [{"index": {"_index": index, "_id": doc_id, "routing": "r"}}, source]
    result = leader.es.bulk(operations=body, refresh=True)
    assert not result["errors"]


async def metadata(channel: TransportChannel, headers: dict, index: str) -> Any:
    answer = await channel.request(
        CLUSTER_STATE_ACTION, LeaderIndexMetadataRequest(index).to_payload(), headers
    )
    return LeaderIndexMetadataResponse.from_payload(answer)


def req(
    index: str, shard: int, start: int, count: int, uuid: str, **kw: Any
) -> ShardChangesRequest:
    """A shard_changes request that does not wait unless told to (poll_timeout_ms)."""
    kw.setdefault("poll_timeout_ms", 0)
    return ShardChangesRequest(index, shard, start, count, uuid, **kw)


async def changes(
    channel: TransportChannel, headers: dict, request: ShardChangesRequest
) -> ShardChangesResponse:
    answer = await channel.request(SHARD_CHANGES_ACTION, request.to_payload(), headers, timeout=30)
    return ShardChangesResponse.from_payload(answer)


def test_shard_changes_reads_the_history_in_both_models(leader: Leader) -> None:
    # routing "r" puts every document on one shard: find which from the metadata
    bulk(leader, LEADER, [(str(i), {"n": i}) for i in range(5)])
    leader.es.delete(index=LEADER, id="0", routing="r", refresh=True)

    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, headers):
            meta = await metadata(channel, headers, LEADER)
            assert meta.number_of_shards == 2 and meta.state == "open"
            assert meta.settings["index.number_of_shards"] == "2"
            assert all(len(u) == 22 for u in meta.shard_history_uuids)
            counts = []
            for shard, uuid in enumerate(meta.shard_history_uuids):
                full = await changes(channel, headers, req(LEADER, shard, 0, 100, uuid))
                counts.append(len(full.operations))
            shard = counts.index(6)  # 5 index + 1 delete
            uuid = meta.shard_history_uuids[shard]
            full = await changes(channel, headers, req(LEADER, shard, 0, 100, uuid))
            assert [op.seq_no for op in full.operations] == [0, 1, 2, 3, 4, 5]
            assert [op.op for op in full.operations] == ["index"] * 5 + ["delete"]
            assert orjson.loads(full.operations[1].source or b"") == {"n": 1}
            assert full.operations[5].id == "0" and full.operations[5].version == 2
            assert (full.global_checkpoint, full.max_seq_no) == (5, 5)
            assert full.max_seq_no_of_updates_or_deletes == 5
            assert full.mapping_version == meta.mapping_version
            # bounded by operations, and by bytes (the op that crosses the bound is the last)
            two = await changes(channel, headers, req(LEADER, shard, 1, 2, uuid))
            assert [op.seq_no for op in two.operations] == [1, 2]
            one = await changes(
                channel, headers, req(LEADER, shard, 0, 100, uuid, max_batch_size=1)
            )
            assert [op.seq_no for op in one.operations] == [0]
        async with leader.certificate_channel("ccr-reader") as (channel, headers):
            same = await changes(channel, headers, req(LEADER, shard, 0, 100, uuid))
            assert same.operations == full.operations

    asyncio.run(run())


def test_has_privileges_answers_for_the_caller_in_both_models(leader: Leader) -> None:
    """What a follower asks before following: the caller's own privileges on the leader index,
    decided as its requests would be. Any user may ask about itself (ES's same-user rule): the
    certificate model's roles here have no cluster privilege at all."""

    async def ask(channel: TransportChannel, headers: dict, index: str) -> dict[str, bool]:
        payload = IndexPrivilegesRequest((index,)).to_payload()
        answer = await channel.request(HAS_PRIVILEGES_ACTION, payload, headers)
        return IndexPrivilegesResponse.from_payload(answer).index[index]

    both = {INDICES_STATS_ACTION: True, SHARD_CHANGES_ACTION: True}
    neither = {INDICES_STATS_ACTION: False, SHARD_CHANGES_ACTION: False}

    async def run() -> None:
        async with leader.certificate_channel("ccr-reader") as (channel, headers):
            assert await ask(channel, headers, LEADER) == both  # read and manage
            assert await ask(channel, headers, "private") == neither
        async with leader.certificate_channel("metadata-only") as (channel, headers):
            assert await ask(channel, headers, LEADER) == neither  # view_index_metadata
        async with leader.api_key_channel("repl") as (channel, headers):
            assert await ask(channel, headers, LEADER) == both
            assert await ask(channel, headers, "private") == neither  # outside the key

    asyncio.run(run())


def test_caught_up_follower_is_held_until_a_write(leader: Leader) -> None:
    leader.es.index(index=POLLED, id="first", document={"n": 1}, refresh=True)

    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, headers):
            (uuid,) = (await metadata(channel, headers, POLLED)).shard_history_uuids
            # nothing new: an empty answer once the poll timeout ends, with the checkpoints
            started = time.monotonic()
            empty = await changes(
                channel, headers, req(POLLED, 0, 1, 10, uuid, poll_timeout_ms=300)
            )
            assert empty.operations == () and time.monotonic() - started >= 0.29
            assert (empty.global_checkpoint, empty.max_seq_no) == (0, 0)
            # a write during the poll answers it at once, with the new operation
            waiting = asyncio.create_task(
                changes(channel, headers, req(POLLED, 0, 1, 10, uuid, poll_timeout_ms=20_000))
            )
            await asyncio.sleep(0.3)
            assert not waiting.done()
            started = time.monotonic()
            await asyncio.to_thread(leader.es.index, index=POLLED, id="late", document={"n": 9})
            got = await asyncio.wait_for(waiting, 25)
            assert time.monotonic() - started < 5  # woken by the write, not by the timeout
            assert [(op.id, op.seq_no) for op in got.operations] == [("late", 1)]
            assert got.global_checkpoint == 1

    asyncio.run(run())


def test_a_recreated_leader_has_a_new_history(leader: Leader) -> None:
    """A poll on an index that is deleted meanwhile ends at once with ES's error, and the
    index created again under the name is another history (ES's fatal history uuid error)."""
    name = "leader-recreated"
    leader.es.index(index=name, id="1", document={"n": 1}, refresh=True)

    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, headers):
            (old,) = (await metadata(channel, headers, name)).shard_history_uuids
            waiting = asyncio.create_task(
                changes(channel, headers, req(name, 0, 1, 10, old, poll_timeout_ms=20_000))
            )
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await asyncio.to_thread(leader.es.indices.delete, index=name)
            with pytest.raises(IsthmusError) as gone:
                await asyncio.wait_for(waiting, 10)
            assert gone.value.es_type == "index_not_found_exception"
            assert time.monotonic() - started < 5
            await asyncio.to_thread(leader.es.index, index=name, id="1", document={"n": 2})
            (new,) = (await metadata(channel, headers, name)).shard_history_uuids
            assert new != old
            with pytest.raises(IsthmusError) as other:
                await changes(channel, headers, req(name, 0, 0, 10, old))
            assert other.value.reason == (
                f"unexpected history uuid, expected [{old}], actual [{new}]"
            )

    asyncio.run(run())


def test_refusals_with_elasticsearch_errors(leader: Leader) -> None:
    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, headers):
            meta = await metadata(channel, headers, LEADER)
            with pytest.raises(IsthmusError) as wrong:
                await changes(channel, headers, req(LEADER, 0, 0, 1, "not-it"))
            assert wrong.value.es_type == "illegal_state_exception"
            assert wrong.value.reason == (
                f"unexpected history uuid, expected [not-it], actual [{meta.shard_history_uuids[0]}]"
            )
            with pytest.raises(IsthmusError) as missing:
                await changes(channel, headers, req("leader-nope", 0, 0, 1, "x"))
            assert missing.value.es_type == "index_not_found_exception"
            with pytest.raises(IsthmusError) as bad:
                await channel.request(SHARD_CHANGES_ACTION, {"index": LEADER}, headers)
            assert bad.value.es_type == "illegal_argument_exception"
            assert bad.value.http_status == 400
        # A key with only search access: its read privilege covers shard_changes (as ES's
        # does), but the leader index's metadata (cluster:monitor/state, asked as the system
        # subject, granted by cross_cluster_replication) and the leases are refused: ES's 403.
        async with leader.api_key_channel("search") as (channel, headers):
            with pytest.raises(IsthmusError) as denied:
                await metadata(
                    channel, outbound_headers(leader.keys["search"], SYSTEM_SUBJECT_INFO), LEADER
                )
            assert denied.value.http_status == 403
            assert denied.value.reason.startswith(
                f"action [{CLUSTER_STATE_ACTION}] towards remote cluster is unauthorized for user "
                "[_system] with assigned roles [] authenticated by API key id ["
            )
            with pytest.raises(IsthmusError) as denied:
                lease = RetentionLeaseRequest(LEADER, 0, "some/lease", 0)
                await channel.request(ADD_RETENTION_LEASE_ACTION, lease.to_payload(), headers)
            assert denied.value.http_status == 403
            assert denied.value.reason.endswith(
                f"on indices [{LEADER}], this action is granted by the index privileges "
                "[cross_cluster_replication,manage,all]"
            )
        # the certificate model: the leader's role of that name lacks the privilege
        async with leader.certificate_channel("metadata-only") as (channel, headers):
            with pytest.raises(IsthmusError) as denied:
                await changes(channel, headers, req(LEADER, 0, 0, 1, "x"))
            assert denied.value.http_status == 403
            assert denied.value.reason == (
                f"action [{SHARD_CHANGES_ACTION}] is unauthorized for user [ccr-user] with "
                f"effective roles [metadata-only] on indices [{LEADER}], this action is granted "
                "by the index privileges [cross_cluster_replication,read,all]"
            )

    asyncio.run(run())


def test_retention_leases_and_forget_follower(leader: Leader) -> None:
    async def run() -> str:
        async with leader.api_key_channel("repl") as (channel, headers):
            meta = await metadata(channel, headers, LEADER)
            lease = retention_lease_id("follower", "copy", "cU", "leader-alias", LEADER, meta.uuid)
            for shard in (0, 1):
                add = RetentionLeaseRequest(LEADER, shard, lease, 0)
                assert await channel.request(
                    ADD_RETENTION_LEASE_ACTION, add.to_payload(), headers
                ) == {"acknowledged": True}
            with pytest.raises(IsthmusError) as twice:
                await channel.request(ADD_RETENTION_LEASE_ACTION, add.to_payload(), headers)
            assert twice.value.es_type == "retention_lease_already_exists_exception"
            assert twice.value.reason == f"retention lease with ID [{lease}] already exists"
            # ES's shard-level stats show the lease, the history uuid and the checkpoints
            stats = await asyncio.to_thread(leader.es.indices.stats, index=LEADER, level="shards")
            for number, uuid in enumerate(meta.shard_history_uuids):
                (copy,) = stats["indices"][LEADER]["shards"][str(number)]
                assert copy["commit"]["user_data"]["history_uuid"] == uuid
                assert copy["routing"]["primary"] is True
                assert copy["seq_no"]["global_checkpoint"] == copy["seq_no"]["local_checkpoint"]
                held = copy["retention_leases"]["leases"]
                assert [(x["id"], x["retaining_seq_no"], x["source"]) for x in held] == [
                    (lease, 0, "ccr")
                ]
            renew = RetentionLeaseRequest(LEADER, 1, lease, 3)
            await channel.request(RENEW_RETENTION_LEASE_ACTION, renew.to_payload(), headers)
            await channel.request(REMOVE_RETENTION_LEASE_ACTION, renew.to_payload(), headers)
            with pytest.raises(IsthmusError) as gone:
                await channel.request(REMOVE_RETENTION_LEASE_ACTION, renew.to_payload(), headers)
            assert gone.value.es_type == "retention_lease_not_found_exception"
        async with leader.api_key_channel("search") as (channel, headers):
            with pytest.raises(IsthmusError) as denied:
                await channel.request(ADD_RETENTION_LEASE_ACTION, add.to_payload(), headers)
            assert denied.value.http_status == 403
        return meta.uuid

    uuid = asyncio.run(run())
    body = {
        "follower_cluster": "follower",
        "follower_index": "copy",
        "follower_index_uuid": "cU",
        "leader_remote_cluster": "leader-alias",
    }
    # shard 0 still holds the lease, shard 1's was removed above
    answer = leader.es.ccr.forget_follower(index=LEADER, **body).body
    shards = answer["_shards"]
    assert (shards["total"], shards["successful"], shards["failed"]) == (2, 1, 1)
    (failure,) = shards["failures"]
    assert failure["shard"] == 1 and failure["index"] == LEADER
    assert failure["status"] == "NOT_FOUND"
    assert failure["reason"]["type"] == "retention_lease_not_found_exception"
    lease = retention_lease_id("follower", "copy", "cU", "leader-alias", LEADER, uuid)
    assert failure["reason"]["reason"] == f"retention lease with ID [{lease}] not found"
    again = leader.es.ccr.forget_follower(index=LEADER, **body).body["_shards"]
    assert again["failed"] == 2
    with pytest.raises(ApiError) as bad:
        leader.es.perform_request(
            "POST",
            f"/{LEADER}/_ccr/forget_follower",
            headers={"content-type": "application/json"},
            body={**body, "follower": "x"},
        )
    assert bad.value.meta.status == 400
    assert bad.value.body["error"]["reason"] == (
        "[indices:admin/xpack/ccr/forget_follower] unknown field [follower] "
        "did you mean [follower_index]?"
    )


def test_trimmed_history_fails_with_elasticsearch_error(leader: Leader) -> None:
    # index.soft_deletes.retention_lease.period is 1s on this index: superseded operations
    # older than that go at the next trim (at most a second later)
    for n in range(4):
        leader.es.index(index=TRIMMED, id="a", document={"n": n}, refresh=True)

    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, headers):
            (uuid,) = (await metadata(channel, headers, TRIMMED)).shard_history_uuids
            deadline = time.monotonic() + 10
            while True:
                try:
                    await changes(channel, headers, req(TRIMMED, 0, 0, 10, uuid))
                except IsthmusError as exc:
                    error = exc
                    break
                assert time.monotonic() < deadline, "the history was never trimmed"
                await asyncio.sleep(0.3)
            assert error.es_type == "resource_not_found_exception"
            assert error.http_status == 404
            assert error.reason == (
                "Operations are no longer available for replicating. Existing retention leases "
                "[[]]; maybe increase the retention lease period setting "
                "[index.soft_deletes.retention_lease.period]?"
            )
            assert error.extra["requested_operations_missing"] == ["0", "3"]
            assert error.caused_by is not None
            assert error.caused_by.reason.startswith(
                "Not all operations between from_seqno [0] and to_seqno [3] found"
            )
            # what a live document holds is still there
            last = await changes(channel, headers, req(TRIMMED, 0, 3, 10, uuid))
            assert [op.seq_no for op in last.operations] == [3]

    asyncio.run(run())


def test_leader_metadata_refuses_an_alias(leader: Leader) -> None:
    leader.es.indices.put_alias(index=LEADER, name="leader-alias-name")

    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, headers):
            with pytest.raises(IsthmusError) as alias:
                await metadata(channel, headers, "leader-alias-name")
            assert alias.value.reason == (
                "cannot follow [leader-alias-name], because it is a ALIAS"
            )
            with pytest.raises(IsthmusError) as missing:
                await metadata(channel, headers, "leader-nope")
            assert missing.value.es_type == "index_not_found_exception"
            # auto-follow's listing: concrete indices matching the patterns, no aliases
            listed = await channel.request(
                CLUSTER_STATE_ACTION,
                LeaderIndicesRequest(("leader*", "trimmed")).to_payload(),
                outbound_headers(leader.keys["repl"], SYSTEM_SUBJECT_INFO),
            )
            names = [i.name for i in LeaderIndicesResponse.from_payload(listed).indices]
            assert LEADER in names and TRIMMED in names and POLLED in names
            assert "leader-alias-name" not in names

    asyncio.run(run())


def test_restore_session_over_the_remote_cluster_server(leader: Leader) -> None:
    """ES runs restore sessions as the _system subject, within the key's replication access:
    the replication key copies the store; the search key gets ES's 403 (ES's own text)."""
    system = {name: outbound_headers(key, SYSTEM_SUBJECT_INFO) for name, key in leader.keys.items()}

    async def run() -> None:
        async with leader.api_key_channel("repl") as (channel, _):
            meta = await metadata(channel, system["repl"], POLLED)
            shard = RestoreShard(POLLED, meta.uuid, 0)
            opened = RestoreSessionResponse.from_payload(
                await channel.request(
                    RESTORE_SESSION_PUT_ACTION,
                    RestoreSessionRequest("sess-1", shard).to_payload(),
                    system["repl"],
                )
            )
            (file,) = opened.files
            data = b""
            while len(data) < file.length:
                ask = FileChunkRequest(
                    "sess-1", file.name, min(8192, file.length - len(data)), shard
                )
                got = FileChunkResponse.from_payload(
                    await channel.request(
                        RESTORE_FILE_CHUNK_ACTION, ask.to_payload(), system["repl"]
                    )
                )
                assert got.offset == len(data)
                data += got.chunk
            assert f"{zlib.crc32(data):08x}" == file.checksum and data.startswith(
                b"SQLite format 3"
            )
            with pytest.raises(IsthmusError) as bad_file:
                ask = FileChunkRequest("sess-1", "segments_9", 10, shard)
                await channel.request(RESTORE_FILE_CHUNK_ACTION, ask.to_payload(), system["repl"])
            assert bad_file.value.reason == "invalid file name [segments_9]"
            clear = RestoreSessionRequest("sess-1", shard).to_payload()
            await channel.request(RESTORE_SESSION_CLEAR_ACTION, clear, system["repl"])
        async with leader.api_key_channel("search") as (channel, _):
            with pytest.raises(IsthmusError) as denied:
                await channel.request(
                    RESTORE_SESSION_PUT_ACTION,
                    RestoreSessionRequest("sess-2", shard).to_payload(),
                    system["search"],
                )
            assert denied.value.http_status == 403
            assert denied.value.reason.startswith(
                f"action [{RESTORE_SESSION_PUT_ACTION}] towards remote cluster is unauthorized for "
                "user [_system] with assigned roles [] authenticated by API key id ["
            )
            assert denied.value.reason.endswith(
                f"on indices [{POLLED}], this action is granted by the index privileges "
                "[cross_cluster_replication_internal,all]"
            )

    asyncio.run(run())


def test_restore_session_in_the_certificate_model(leader: Leader) -> None:
    """The certificate model's follower sends ES's internal:admin/ccr/restore/* as the system
    user over the transport port (mutual TLS); a user identity is refused them."""
    from isthmus.security.transport_filter import SYSTEM

    async def run() -> None:
        async with leader.certificate_channel("ccr-reader") as (channel, user):
            meta = await metadata(channel, SYSTEM.header(), POLLED)
            shard = RestoreShard(POLLED, meta.uuid, 0)
            put = RestoreSessionRequest("cert-1", shard).to_payload()
            opened = RestoreSessionResponse.from_payload(
                await channel.request(INTERNAL_RESTORE_SESSION_PUT_ACTION, put, SYSTEM.header())
            )
            (file,) = opened.files
            ask = FileChunkRequest("cert-1", file.name, file.length, shard).to_payload()
            got = FileChunkResponse.from_payload(
                await channel.request(INTERNAL_RESTORE_FILE_CHUNK_ACTION, ask, SYSTEM.header())
            )
            assert got.offset == 0 and f"{zlib.crc32(got.chunk):08x}" == file.checksum
            await channel.request(INTERNAL_RESTORE_SESSION_CLEAR_ACTION, put, SYSTEM.header())
            with pytest.raises(IsthmusError) as refused:
                await channel.request(INTERNAL_RESTORE_SESSION_PUT_ACTION, put, user)
            assert refused.value.http_status == 403
            assert refused.value.reason.startswith(
                f"action [{INTERNAL_RESTORE_SESSION_PUT_ACTION}] is unauthorized for user [ccr-user]"
            )

    asyncio.run(run())
