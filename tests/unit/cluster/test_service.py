"""The cluster store (durable metadata) and the cluster service (the one path of change)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, IndexMetadata
from isthmus.cluster.service import ClusterService
from isthmus.cluster.store import ClusterStore
from isthmus.index.mapping import Mapping


def an_index(name: str = "logs") -> IndexMetadata:
    return IndexMetadata(
        name=name,
        uuid=f"uuid-{name}",
        settings={"index.number_of_shards": "2"},
        mapping=Mapping({"properties": {"msg": {"type": "text"}}}),
        aliases={"cur": AliasMetadata("cur", filter={"term": {"a": 1}}, is_write_index=True)},
        creation_date=123,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "_state"


# --- store --------------------------------------------------------------------------------------


def test_store_empty_then_round_trip(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    try:
        assert (state_dir / "cluster.sqlite").exists()
        assert store.load() is None
        meta = ClusterMetadata(
            "cu", indices={"logs": an_index()}, persistent={"search.max_buckets": "10"}, version=4
        )
        store.save(meta)
        assert store.load() == meta
    finally:
        store.close()
    reopened = ClusterStore(state_dir)
    try:
        loaded = reopened.load()
        assert loaded == ClusterMetadata(
            "cu", indices={"logs": an_index()}, persistent={"search.max_buckets": "10"}, version=4
        )
        assert loaded is not None
        assert loaded.indices["logs"].mapping.field("msg") is not None
    finally:
        reopened.close()


def test_store_save_replaces(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    try:
        store.save(ClusterMetadata("cu", version=1))
        store.save(ClusterMetadata("cu", version=2))
        loaded = store.load()
        assert loaded is not None
        assert loaded.version == 2
    finally:
        store.close()


def test_store_drops_transient(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    try:
        store.save(ClusterMetadata("cu", transient={"a": "1"}, persistent={"b": "2"}))
        loaded = store.load()
        assert loaded is not None
        assert loaded.transient == {}
        assert loaded.persistent == {"b": "2"}
    finally:
        store.close()


# --- service ------------------------------------------------------------------------------------


def reload(state_dir: Path) -> ClusterMetadata | None:
    store = ClusterStore(state_dir)
    try:
        return store.load()
    finally:
        store.close()


async def test_fresh_service_creates_and_persists_a_uuid(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)
    try:
        state = service.state
        assert len(state.cluster_uuid) == 22
        assert state.version == 0
        assert state.indices == {}
        assert repr(service) == "<ClusterService version=0 indices=0>"
    finally:
        store.close()
    assert reload(state_dir) == state


async def test_existing_state_is_loaded(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    store.save(ClusterMetadata("known-uuid", version=9))
    try:
        service = ClusterService(store)
        assert service.state.cluster_uuid == "known-uuid"
        assert service.state.version == 9
    finally:
        store.close()


async def test_submit_bumps_version_persists_and_applies(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)
    seen: list[tuple[int, int, ClusterMetadata | None]] = []

    async def applier(old: ClusterMetadata, new: ClusterMetadata) -> None:
        # persisted before it is applied
        seen.append((old.version, new.version, store.load()))

    service.add_applier(applier)
    try:
        before = service.state
        new = await service.submit(
            "create-index [logs]",
            lambda s: replace(s, indices={**s.indices, "logs": an_index()}),
        )
        assert new.version == before.version + 1
        assert service.state is new
        assert new.indices["logs"] == an_index()
        assert before.indices == {}
        assert len(seen) == 1
        old_v, new_v, persisted = seen[0]
        assert (old_v, new_v) == (0, 1)
        assert persisted == new
    finally:
        store.close()
    assert reload(state_dir) == new


async def test_version_set_by_change_is_overridden(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)
    try:
        new = await service.submit("x", lambda s: replace(s, version=100, persistent={"a": "1"}))
        assert new.version == 1
    finally:
        store.close()


async def test_unchanged_state_skips_persistence_and_appliers(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)
    calls: list[str] = []
    saves: list[ClusterMetadata] = []

    async def applier(old: ClusterMetadata, new: ClusterMetadata) -> None:
        calls.append("applied")

    service.add_applier(applier)
    original_save = store.save

    def counting_save(meta: ClusterMetadata) -> None:
        saves.append(meta)
        original_save(meta)

    store.save = counting_save  # type: ignore[method-assign]
    try:
        before = service.state
        result = await service.submit("noop", lambda s: s)
        assert result is before
        assert service.state is before
        assert calls == []
        assert saves == []
    finally:
        store.close()


async def test_failing_change_leaves_state_alone(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)

    def boom(s: ClusterMetadata) -> ClusterMetadata:
        raise ValueError("rejected")

    try:
        before = service.state
        with pytest.raises(ValueError, match="rejected"):
            await service.submit("bad", boom)
        assert service.state is before
        assert store.load() == before
        # the lock was released: the next change still runs
        after = await service.submit("ok", lambda s: replace(s, persistent={"k": "v"}))
        assert after.version == before.version + 1
    finally:
        store.close()


async def test_appliers_run_in_order(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)
    order: list[str] = []

    async def first(old: ClusterMetadata, new: ClusterMetadata) -> None:
        order.append("first")

    async def second(old: ClusterMetadata, new: ClusterMetadata) -> None:
        order.append("second")

    service.add_applier(first)
    service.add_applier(second)
    try:
        await service.submit("x", lambda s: replace(s, persistent={"a": "1"}))
        assert order == ["first", "second"]
    finally:
        store.close()


async def test_changes_run_one_at_a_time(state_dir: Path) -> None:
    store = ClusterStore(state_dir)
    service = ClusterService(store)
    active = 0
    peak = 0

    async def slow_applier(old: ClusterMetadata, new: ClusterMetadata) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0)
        active -= 1

    service.add_applier(slow_applier)

    def increment(s: ClusterMetadata) -> ClusterMetadata:
        count = int(s.persistent.get("count", "0"))
        return replace(s, persistent={"count": str(count + 1)})

    try:
        await asyncio.gather(*(service.submit(f"inc-{i}", increment) for i in range(10)))
        assert service.state.persistent == {"count": "10"}
        assert service.state.version == 10
        assert peak == 1
    finally:
        store.close()
    reloaded = reload(state_dir)
    assert reloaded is not None
    assert reloaded.version == 10
