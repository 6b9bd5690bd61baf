"""``_field_caps``: the capabilities of fields across indices, local and remote.

Each index contributes ``{field: (type, searchable, aggregatable, metadata)}`` read from its
mapping; the response merges them per field and type the way ES does: ``indices`` is listed for a
type only when the field has several types, and ``non_searchable_indices`` /
``non_aggregatable_indices`` only when the indices disagree. Remote clusters answer with their
per-index capabilities (``indices:data/read/field_caps``) and their indices appear as
``<alias>:<index>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isthmus.actions.cross_cluster import CrossClusterActions, local_names
from isthmus.actions.cross_cluster_wire import FieldCapsRequest, FieldCapsResponse
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import IndicesOptions, resolve
from isthmus.errors import ActionRequestValidationError, IllegalArgumentError, IsthmusError
from isthmus.index.field_types import DATE, KEYWORD, NUMERIC_TYPES
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import FIELD_CAPS_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization

OPTIONS = IndicesOptions(ignore_unavailable=False, allow_no_indices=True)

# (type, searchable, aggregatable) of the metadata fields every index has.
_METADATA = {
    "_id": ("_id", True, False),
    "_index": ("_index", True, True),
    "_source": ("_source", False, False),
    "_seq_no": ("_seq_no", True, True),
    "_version": ("_version", False, True),
    "_routing": ("_routing", True, False),
    "_ignored": ("_ignored", True, False),
}
_AGGREGATABLE = {KEYWORD, DATE, "boolean", "ip", "date_nanos", *NUMERIC_TYPES}

Caps = dict[str, dict[str, list[Any]]]  # index -> field -> [type, searchable, aggregatable, meta]


class FieldCapsActions:
    def __init__(self, cross: CrossClusterActions, authz: IndexAuthorization | None = None) -> None:
        self.cross = cross
        self.authz = authz

    def local_caps(
        self,
        expression: str | None,
        fields: list[str],
        params: Mapping[str, str],
        subject: Subject | None = None,
    ) -> Caps:
        options = IndicesOptions.from_params(params, default=OPTIONS)
        state = self.cross.cluster.state
        targets = resolve(state, expression, options)
        restrictions = None
        if self.authz is not None and subject is not None:
            from isthmus.security.field_level import index_restrictions

            restrictions = index_restrictions(
                self.authz.authorizer,
                subject,
                FIELD_CAPS_ACTION,
                [t.index.name for t in targets],
                state,
            )
        out: Caps = {}
        for target in targets:
            meta = target.index
            restriction = None if restrictions is None else restrictions.of(meta.name)
            caps: dict[str, list[Any]] = {}
            for path, spec in meta.mapping.fields.items():
                if restriction is not None and not restriction.shows_field(path):
                    continue  # field-level security hides it
                if any(simple_match(path, f) for f in fields):
                    caps[path] = [spec.es_type, spec.indexed, spec.type in _AGGREGATABLE, False]
            for alias in meta.mapping.aliases:  # an alias has its target's capabilities
                aliased = meta.mapping.field(alias)
                if aliased is None or not any(simple_match(alias, f) for f in fields):
                    continue
                if restriction is None or restriction.shows_mapped_field(alias, meta.mapping):
                    caps[alias] = [
                        aliased.es_type,
                        aliased.indexed,
                        aliased.type in _AGGREGATABLE,
                        False,
                    ]
            for path in meta.mapping.object_paths():
                if any(simple_match(path, f) for f in fields) and path not in caps:
                    caps[path] = ["object", False, False, False]
            for name, (ftype, searchable, aggregatable) in _METADATA.items():
                if any(simple_match(name, f) for f in fields):
                    caps[name] = [ftype, searchable, aggregatable, True]
            out[meta.name] = caps
        return out

    async def field_caps(
        self,
        expression: str | None,
        fields_param: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        subject: Subject | None,
    ) -> dict[str, Any]:
        fields = _fields(fields_param, body)
        grouped = self.cross.group(expression)
        per_index: Caps = {}
        if grouped.local is not None:
            local = ",".join(grouped.local) or None if grouped.local else expression
            per_index.update(self.local_caps(local, fields, params, subject))

        async def ask(alias: str, names: tuple[str, ...]) -> Caps:
            assert self.cross.remote is not None
            try:
                channel = await self.cross.remote.channel_for_request(alias)
                answer = await channel.request(
                    FIELD_CAPS_ACTION,
                    FieldCapsRequest(names, tuple(fields), params).to_payload(),
                    self.cross.remote.headers(alias, subject, FIELD_CAPS_ACTION),
                    timeout=None,
                )
            except IsthmusError:
                if self.cross.remote.get(alias).skip_unavailable:
                    return {}
                raise
            caps = FieldCapsResponse.from_payload(answer, cluster=alias).indices
            return {f"{alias}:{index}": index_caps for index, index_caps in caps.items()}

        for caps in await asyncio.gather(*(ask(a, n) for a, n in grouped.remote.items())):
            per_index.update(caps)
        return merge_caps(per_index)

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(FIELD_CAPS_ACTION, self._on_field_caps)

    async def _on_field_caps(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = FieldCapsRequest.from_payload(payload)
        expression = ",".join(local_names(list(request.indices))) or None
        params = request.params
        subject = ctx.caller
        if self.authz is not None:
            if subject is None:
                raise IllegalArgumentError("field caps needs a user")
            expression = self.authz.narrow(subject, FIELD_CAPS_ACTION, expression, params)
        caps = self.local_caps(expression, list(request.fields), params, subject)
        return FieldCapsResponse(caps).to_payload()


def _fields(fields_param: str | None, body: Mapping[str, Any] | None) -> list[str]:
    raw: Any = fields_param
    if raw is None and body is not None:
        raw = body.get("fields")
    if isinstance(raw, str):
        raw = [f for f in raw.split(",") if f]
    if not raw:
        raise ActionRequestValidationError(
            "Validation Failed: 1: specified fields can't be null or empty;"
        )
    return [str(f) for f in raw]


def merge_caps(per_index: Caps) -> dict[str, Any]:
    """ES's response from each index's capabilities."""
    by_field: dict[str, dict[str, list[tuple[str, bool, bool, bool]]]] = {}
    for index in sorted(per_index):
        for field, (ftype, searchable, aggregatable, meta) in per_index[index].items():
            by_field.setdefault(field, {}).setdefault(ftype, []).append(
                (index, bool(searchable), bool(aggregatable), bool(meta))
            )
    fields: dict[str, Any] = {}
    for field in sorted(by_field):
        types = by_field[field]
        entry: dict[str, Any] = {}
        for ftype, rows in types.items():
            searchable = all(r[1] for r in rows)
            aggregatable = all(r[2] for r in rows)
            caps: dict[str, Any] = {
                "type": ftype,
                "metadata_field": rows[0][3],
                "searchable": searchable,
                "aggregatable": aggregatable,
            }
            if len(types) > 1:
                caps["indices"] = [r[0] for r in rows]
            if not searchable and any(r[1] for r in rows):
                caps["non_searchable_indices"] = [r[0] for r in rows if not r[1]]
            if not aggregatable and any(r[2] for r in rows):
                caps["non_aggregatable_indices"] = [r[0] for r in rows if not r[2]]
            entry[ftype] = caps
        fields[field] = entry
    return {"indices": sorted(per_index), "fields": fields}


__all__ = ["FIELD_CAPS_ACTION", "FieldCapsActions", "merge_caps"]
