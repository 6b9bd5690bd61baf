"""Data stream APIs: create, get, delete, rollover and stats (``/_data_stream``, ``_rollover``).

The values and rules live in :mod:`isthmus.cluster.data_streams`; backing indices are created
through :meth:`IndicesActions.create` (templates merged as for any index), and the stream is
registered in the same metadata change as its new backing index, so no reader ever sees one
without the other.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from isthmus.actions.indices import IndicesActions
from isthmus.actions.search import SearchActions
from isthmus.cluster.data_streams import (
    TIMESTAMP_FIELD,
    DataStream,
    backing_index_name,
    check_name_free,
    check_not_replicated,
    promoted,
    stream,
    streams,
    validate_stream_name,
    with_streams,
)
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import split_expression
from isthmus.cluster.templates import ComposableTemplate, composables, find_composable
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    NotImplementedYet,
)
from isthmus.settings.values import parse_bytes, parse_time
from isthmus.xcontent import as_long, unknown_field, wrong_type

# How many times a stream's rollover that lost a race to another is tried again.
_ROLLOVER_ATTEMPTS = 20


def next_index_name(name: str) -> str:
    """ES's generated rollover name: the trailing counter plus one, zero-padded to 6."""
    match = re.fullmatch(r"(.*-)(\d+)", name)
    if match is None:
        raise IllegalArgumentError(f"index name [{name}] does not match pattern '^.*-\\d+$'")
    return f"{match.group(1)}{int(match.group(2)) + 1:06d}"


def _template_problem(name: str, template: ComposableTemplate | None) -> IllegalArgumentError:
    """ES's ``lookupTemplateForDataStream`` errors: no template, or one without data_stream."""
    if template is None:
        return IllegalArgumentError(f"no matching index template found for data stream [{name}]")
    return IllegalArgumentError(
        f"matching index template [{template.name}] for data stream [{name}] has no data "
        "stream template"
    )


async def create_stream(admin: IndicesActions, name: str) -> IndexMetadata:
    """Create data stream ``name`` with its first backing index; returns that index."""
    validate_stream_name(name)
    state = admin.cluster.state
    check_name_free(state, name)
    template = find_composable(state.customs, name)
    if template is None or template.data_stream is None:
        raise _template_problem(name, template)
    now = int(time.time() * 1000)
    backing = backing_index_name(name, 1, now)
    created = DataStream(
        name,
        (backing,),
        generation=1,
        hidden=template.data_stream.get("hidden") is True,
        allow_custom_routing=template.data_stream.get("allow_custom_routing") is True,
        meta=template.meta,
        created=now,
    )

    def register(current: ClusterMetadata) -> ClusterMetadata:
        check_name_free(current, name)
        return with_streams(current, {**streams(current), name: created})

    return await admin.create(backing, None, data_stream=name, also=register)


@dataclass(frozen=True)
class Condition:
    """One rollover condition: ES's name, the value as written, and the limit as a number."""

    name: str
    text: str
    limit: int

    @property
    def display(self) -> str:
        return f"[{self.name}: {self.text}]"


_COUNTS = ("max_docs", "max_primary_shard_docs", "min_docs", "min_primary_shard_docs")
_SIZES = ("max_size", "max_primary_shard_size", "min_size", "min_primary_shard_size")
_AGES = ("max_age", "min_age")
# What ES's rollover request parser declares (``lazy`` and ``dry_run`` are URL parameters).
_ROLLOVER_FIELDS = ("conditions", "settings", "mappings", "aliases")


def parse_conditions(raw: Any) -> list[Condition]:
    """Rollover ``conditions`` with ES's parse errors (counts are longs, sizes byte sizes,
    ages time values)."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise wrong_type("rollover", "conditions", raw)
    out = []
    for key, value in raw.items():
        if key not in (*_COUNTS, *_SIZES, *_AGES):
            raise unknown_field("conditions", key, (*_COUNTS, *_SIZES, *_AGES))
        if key in _COUNTS:
            count = as_long("conditions", key, value)
            out.append(Condition(key, str(count), count))
            continue
        if value is None or isinstance(value, Mapping | list):
            raise wrong_type("conditions", key, value)
        try:
            limit = parse_bytes(value, key) if key in _SIZES else parse_time(value, key).millis
        except ValueError as exc:
            raise IllegalArgumentError(str(exc)) from None
        out.append(Condition(key, str(value), limit))
    return out


@dataclass(frozen=True)
class IndexFacts:
    """What the rollover conditions are checked against, for the current write index."""

    docs: int
    age_millis: int
    primary_size: int
    largest_shard_size: int
    largest_shard_docs: int

    def value(self, condition: str) -> int:
        kind = condition.split("_", 1)[1]
        return {
            "docs": self.docs,
            "age": self.age_millis,
            "size": self.primary_size,
            "primary_shard_size": self.largest_shard_size,
            "primary_shard_docs": self.largest_shard_docs,
        }[kind]


def evaluate(conditions: list[Condition], facts: IndexFacts) -> tuple[dict[str, bool], bool]:
    """Each condition's outcome, and whether to roll over: ES's rule is any ``max_*`` met and
    every ``min_*`` met (no condition at all: always)."""
    results = {}
    for c in conditions:
        value = facts.value(c.name)
        results[c.display] = value >= c.limit  # a max_* is reached, a min_* is satisfied
    maxes = [results[c.display] for c in conditions if c.name.startswith("max_")]
    mins = [results[c.display] for c in conditions if c.name.startswith("min_")]
    roll = (not maxes or any(maxes)) and all(mins)
    return results, roll


class DataStreamActions:
    def __init__(
        self,
        admin: IndicesActions,
        search: SearchActions | None = None,
        health: Callable[[IndexMetadata], str] | None = None,
    ) -> None:
        self.admin = admin
        self.cluster = admin.cluster
        self.search = search  # for the streams' maximum_timestamp in _stats
        self.health = health  # an index's health ("green"...), for a stream's status

    async def create(self, name: str) -> dict[str, Any]:
        await create_stream(self.admin, name)
        return {"acknowledged": True}

    def _matching(self, expression: str | None, *, missing_ok: bool) -> list[DataStream]:
        found = streams(self.cluster.state)
        parts = split_expression(expression) or ["*"]
        out: dict[str, DataStream] = {}
        for part in parts:
            if part == "_all":
                part = "*"
            if part.startswith("-"):  # an exclusion (the guard's "*,-*" is nothing at all)
                out = {n: s for n, s in out.items() if not simple_match(n, part[1:])}
                continue
            if "*" in part:
                out.update({n: s for n, s in found.items() if simple_match(n, part)})
            elif part in found:
                out[part] = found[part]
            elif not missing_ok:
                raise IndexNotFoundError(part)
        return [out[n] for n in sorted(out)]

    def get(self, expression: str | None, params: Mapping[str, str]) -> dict[str, Any]:
        state = self.cluster.state
        expand = params.get("expand_wildcards", "open")
        entries = []
        for ds in self._matching(expression, missing_ok=False):
            explicit = expression is not None and ds.name in split_expression(expression)
            if ds.hidden and not explicit and "hidden" not in expand and "all" not in expand:
                continue
            entries.append(self._render(state, ds))
        return {"data_streams": entries}

    def _render(self, state: ClusterMetadata, ds: DataStream) -> dict[str, Any]:
        template = find_composable(state.customs, ds.name)
        indices = []
        for name in ds.indices:
            meta = state.indices.get(name)
            indices.append(
                {
                    "index_name": name,
                    "index_uuid": meta.uuid if meta is not None else "_na_",
                    "prefer_ilm": True,
                    "managed_by": "Unmanaged",
                }
            )
        out: dict[str, Any] = {
            "name": ds.name,
            "timestamp_field": {"name": TIMESTAMP_FIELD},
            "indices": indices,
            "generation": ds.generation,
        }
        if ds.meta is not None:
            out["_meta"] = ds.meta
        out.update(
            {
                "status": self._status(state, ds),
                "template": template.name if template is not None else None,
                "next_generation_managed_by": "Unmanaged",
                "prefer_ilm": True,
                "hidden": ds.hidden,
                "system": ds.system,
                "allow_custom_routing": ds.allow_custom_routing,
                "replicated": ds.replicated,
                "rollover_on_write": False,
            }
        )
        return out

    def _status(self, state: ClusterMetadata, ds: DataStream) -> str:
        """ES's status of a stream: the worst health of its backing indices, upper case."""
        if self.health is None:
            return "GREEN"
        order = ["green", "yellow", "red"]
        worst = 0
        for name in ds.indices:
            meta = state.indices.get(name)
            worst = max(worst, order.index(self.health(meta)) if meta is not None else 2)
        return order[worst].upper()

    async def delete(self, expression: str) -> dict[str, Any]:
        """Delete the streams and all their backing indices (ES's 404 for a missing name)."""
        names = [s.name for s in self._matching(expression, missing_ok=False)]

        def change(state: ClusterMetadata) -> ClusterMetadata:
            current = streams(state)
            doomed = {i for n in names if n in current for i in current[n].indices}
            kept = {n: s for n, s in current.items() if n not in names}
            indices = {k: v for k, v in state.indices.items() if k not in doomed}
            return with_streams(replace(state, indices=indices), kept)

        if names:
            await self.cluster.submit(f"delete-data-stream {names}", change)
        return {"acknowledged": True}

    async def stats(self, expression: str | None) -> dict[str, Any]:
        state = self.cluster.state
        entries = []
        total_shards = backing_total = store_total = 0
        for ds in self._matching(expression, missing_ok=True):
            size = 0
            for name in ds.indices:
                meta = state.indices.get(name)
                if meta is None:
                    continue
                for shard in self.admin.indices.shards_of(meta):
                    size += (await asyncio.to_thread(shard.engine.stats)).store_bytes
                    total_shards += 1
            entries.append(
                {
                    "data_stream": ds.name,
                    "backing_indices": len(ds.indices),
                    "store_size_bytes": size,
                    "maximum_timestamp": await self._max_timestamp(ds),
                }
            )
            backing_total += len(ds.indices)
            store_total += size
        return {
            "_shards": {"total": total_shards, "successful": total_shards, "failed": 0},
            "data_stream_count": len(entries),
            "backing_indices": backing_total,
            "total_store_size_bytes": store_total,
            "data_streams": entries,
        }

    async def _max_timestamp(self, ds: DataStream) -> int:
        """The largest ``@timestamp`` of the stream's documents (0 when empty), in millis."""
        if self.search is None:
            return 0
        body = {"size": 0, "aggs": {"max_ts": {"max": {"field": TIMESTAMP_FIELD}}}}
        answer = await self.search.search(ds.name, body, {})
        value = answer.get("aggregations", {}).get("max_ts", {}).get("value")
        return int(value) if value is not None else 0

    async def promote(self, name: str) -> list[str]:
        """``POST /_data_stream/_promote/<name>``: a replicated stream becomes a normal one,
        which rolls over locally (ES's ``TransportPromoteDataStreamAction``). Its backing
        indices stay followers until unfollowed: the stream takes writes once a local rollover
        has made a normal write index. Returns ES's warnings (no matching data stream template:
        a rollover would fail until one exists)."""
        await self.cluster.submit(
            f"promote-data-stream [{name}]", lambda state: promoted(state, name)
        )
        templates = composables(self.cluster.state.customs).values()
        if any(
            t.data_stream is not None and any(simple_match(name, p) for p in t.index_patterns)
            for t in templates
        ):
            return []
        return [
            f"Data stream [{name}] does not have a matching index template. This will cause "
            "rollover to fail until a matching index template is created"
        ]

    # --- rollover -----------------------------------------------------------------------------

    async def rollover(
        self,
        target: str,
        new_index: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        *,
        attempt: int = 0,
    ) -> dict[str, Any]:
        body = dict(body or {})
        for key in body:
            if key not in _ROLLOVER_FIELDS:
                raise unknown_field("rollover", key, _ROLLOVER_FIELDS)
        conditions = parse_conditions(body.get("conditions"))
        dry_run = params.get("dry_run") in ("", "true")
        if params.get("lazy") in ("", "true"):  # said plainly rather than rolled over at once
            raise NotImplementedYet("lazy rollover (rollover on the next write) is not supported")
        state = self.cluster.state
        ds = stream(state, target)
        if ds is None:
            return await self._rollover_alias(target, new_index, body, conditions, dry_run)
        if any(body.get(k) for k in ("settings", "mappings", "aliases")):
            raise IllegalArgumentError(
                "aliases, mappings, and index settings may not be specified when rolling over a "
                "data stream"
            )
        if new_index is not None:
            raise ActionRequestValidationError(
                "Validation Failed: 1: new index name is not supported for data streams;"
            )
        check_not_replicated(ds)
        template = find_composable(state.customs, ds.name)
        if template is None or template.data_stream is None:
            # A stream's template cannot be deleted while the stream lives, but a replicated
            # stream came with none; once promoted it rolls over only when one exists (ES).
            raise _template_problem(ds.name, template)
        old = ds.write_index
        generation = ds.generation + 1
        new_name = backing_index_name(ds.name, generation)
        facts = await self._facts(state.indices[old])
        results, roll = evaluate(conditions, facts)
        if dry_run or not roll:
            return self._answer(old, new_name, results, rolled=False, dry_run=dry_run)

        def register(current: ClusterMetadata) -> ClusterMetadata:
            latest = stream(current, ds.name)
            if latest is None or latest.write_index != old:
                raise IllegalArgumentError(
                    f"data stream [{ds.name}] was rolled over concurrently, retry the rollover"
                )
            rolled = replace(latest, indices=(*latest.indices, new_name), generation=generation)
            return with_streams(current, {**streams(current), ds.name: rolled})

        try:
            await self.admin.create(new_name, None, data_stream=ds.name, also=register)
        except IsthmusError:
            latest = stream(self.cluster.state, ds.name)
            if latest is None or latest.write_index == old or attempt >= _ROLLOVER_ATTEMPTS:
                raise
            # Another rollover won the race for this generation: as ES's master task does, this
            # one rolls the stream as it now is (conditions evaluated on the new write index).
            return await self.rollover(target, new_index, body, params, attempt=attempt + 1)
        return self._answer(old, new_name, results, rolled=True, dry_run=False)

    async def _rollover_alias(
        self,
        alias: str,
        new_index: str | None,
        body: Mapping[str, Any],
        conditions: list[Condition],
        dry_run: bool,
    ) -> dict[str, Any]:
        """Rollover of an alias (ES's MetadataRolloverService): a new index (the old name's
        counter plus one, 6 digits, unless named) takes over the alias's writes."""
        state = self.cluster.state
        if alias in state.indices:
            raise IllegalArgumentError(
                "rollover target is a [concrete index] but one of [alias,data_stream] was expected"
            )
        pointed = state.aliases().get(alias)
        if not pointed:
            raise IllegalArgumentError(f"rollover target [{alias}] does not exist")
        writers = [m for m in pointed if m.aliases[alias].is_write_index]
        if not writers and len(pointed) == 1 and pointed[0].aliases[alias].is_write_index is None:
            writers = pointed
        if len(writers) != 1:
            raise IllegalArgumentError(f"rollover target [{alias}] does not point to a write index")
        old = writers[0]
        new_name = new_index or next_index_name(old.name)
        facts = await self._facts(old)
        results, roll = evaluate(conditions, facts)
        if dry_run or not roll:
            return self._answer(old.name, new_name, results, rolled=False, dry_run=dry_run)
        explicit_writer = old.aliases[alias].is_write_index is True
        create_body = {k: body[k] for k in ("settings", "mappings", "aliases") if body.get(k)}
        create_body["aliases"] = {
            **dict(create_body.get("aliases") or {}),
            alias: {**old.aliases[alias].to_json(), "is_write_index": True}
            if explicit_writer
            else {k: v for k, v in old.aliases[alias].to_json().items() if k != "is_write_index"},
        }

        def move_alias(current: ClusterMetadata) -> ClusterMetadata:
            previous = current.indices.get(old.name)
            if previous is None or alias not in previous.aliases:
                return current
            aliases = dict(previous.aliases)
            if explicit_writer:  # the old index keeps the alias for reads
                aliases[alias] = replace(aliases[alias], is_write_index=False)
            else:
                del aliases[alias]
            updated = replace(
                previous,
                aliases=aliases,
                version=previous.version + 1,
                aliases_version=previous.aliases_version + 1,
            )
            return replace(current, indices={**current.indices, old.name: updated})

        await self.admin.create(new_name, create_body, also=move_alias)
        return self._answer(old.name, new_name, results, rolled=True, dry_run=False)

    @staticmethod
    def _answer(
        old: str, new: str, results: dict[str, bool], *, rolled: bool, dry_run: bool
    ) -> dict[str, Any]:
        return {
            "acknowledged": rolled,
            "shards_acknowledged": rolled,
            "old_index": old,
            "new_index": new,
            "rolled_over": rolled,
            "dry_run": dry_run,
            "lazy": False,
            "conditions": results,
        }

    async def _facts(self, meta: IndexMetadata) -> IndexFacts:
        stats = [
            await asyncio.to_thread(s.engine.stats) for s in self.admin.indices.shards_of(meta)
        ]
        return IndexFacts(
            docs=sum(s.docs for s in stats),
            age_millis=int(time.time() * 1000) - meta.creation_date,
            primary_size=sum(s.store_bytes for s in stats),
            largest_shard_size=max((s.store_bytes for s in stats), default=0),
            largest_shard_docs=max((s.docs for s in stats), default=0),
        )


__all__ = ["DataStreamActions", "create_stream", "evaluate", "parse_conditions"]
