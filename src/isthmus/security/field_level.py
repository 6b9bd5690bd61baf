"""Document- and field-level security: what one index shows to one request.  [no I/O]

:class:`IndexRestriction` is the DLS/FLS part of an :class:`~isthmus.security.authz.IndexAccess`
in a form the search and get paths apply directly, and :class:`IndexRestrictions` holds one per
concrete index for one request (built by the REST handlers with :func:`index_restrictions`,
passed down explicitly, never ambient).

The rules are Elasticsearch's:

* DLS: a document is visible when it matches one of the role queries; for an API key also one of
  the owner's (*levels*: AND across levels, OR within one). The search path adds the levels as
  zero-score filters (``actions.search_shard.build_query``); a GET evaluates them in memory
  (:meth:`IndexRestriction.admits`). Role queries see every field: FLS does not apply to them.
* FLS: a field path is visible when some ``field_security`` entry grants it (``*``/``?``
  wildcards, ``/regex/``) and that entry does not except it; metadata fields (``_id``, any name
  starting with ``_``) are always granted, as ES adds ``_*`` to every grant. For an API key both
  levels must allow the path. ``_source`` keeps visible leaves only; objects and arrays left
  empty disappear (:meth:`FieldPermissions.filter_source`). Queries on hidden fields match
  nothing, as if the field held no terms (:func:`restrict_query`).
* An index reached through several requested names (itself, aliases) gets the union of what
  those names grant. An index a request did not anticipate shows nothing (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any

import orjson

from isthmus.cluster.data_streams import parent_of, streams
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.patterns import simple_match
from isthmus.errors import IllegalStateError, ParsingError
from isthmus.index.mapping import KEYWORD, TEXT
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl
from isthmus.search.evaluate import matches
from isthmus.search.evaluate_fields import EvalDoc
from isthmus.search.term_patterns import TermPattern, regexp_regex, wildcard_regex
from isthmus.security.authz import Authorizer, IndexAccess, Subject
from isthmus.security.roles import FieldSecurity

# --- field-level security -----------------------------------------------------------------------


def _field_pattern(pattern: str) -> TermPattern:
    """ES's field pattern: ``/.../`` is a Lucene regular expression, else ``*``/``?`` wildcards.
    Both run on the linear-time engine: field names come from documents, which users write."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return regexp_regex(pattern[1:-1])
    return wildcard_regex(pattern)


def _compiled_patterns(patterns: Iterable[str]) -> tuple[TermPattern, ...] | None:
    return tuple(_field_pattern(p) for p in patterns) or None


@dataclass(frozen=True)
class _Entry:
    grant: tuple[TermPattern, ...] | None
    except_: tuple[TermPattern, ...] | None

    @classmethod
    def of(cls, spec: FieldSecurity) -> _Entry:
        return cls(_compiled_patterns(spec.grant), _compiled_patterns(spec.except_))

    def allows(self, path: str) -> bool:
        granted = path.startswith("_") or (
            self.grant is not None and any(p.fullmatch(path) for p in self.grant)
        )
        return granted and (
            self.except_ is None or not any(p.fullmatch(path) for p in self.except_)
        )


@dataclass(frozen=True)
class FieldPermissions:
    """The visible fields of one index: every level must allow a path, and a level allows it
    when one of its ``field_security`` entries does."""

    levels: tuple[tuple[FieldSecurity, ...], ...]
    _compiled: tuple[tuple[_Entry, ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _seen: dict[str, bool] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        compiled = tuple(tuple(_Entry.of(spec) for spec in level) for level in self.levels)
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def of(cls, *levels: Sequence[FieldSecurity] | None) -> FieldPermissions | None:
        """Permissions from per-level entries (None: that level allows every field); None when
        no level restricts anything."""
        kept = tuple(tuple(level) for level in levels if level is not None)
        return cls(kept) if kept else None

    def allows(self, path: str) -> bool:
        """Whether the field at the dotted ``path`` is visible."""
        known = self._seen.get(path)
        if known is None:
            known = all(any(e.allows(path) for e in level) for level in self._compiled)
            self._seen[path] = known
        return known

    def filter_source(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """``source`` with only visible leaves; objects and arrays left empty are dropped."""
        return self._filter_object(source, "")

    def _filter_object(self, obj: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            path = prefix + key
            if isinstance(value, Mapping):
                inner = self._filter_object(value, path + ".")
                if inner:
                    out[key] = inner
            elif isinstance(value, list):
                items = self._filter_list(value, path)
                if items:
                    out[key] = items
            elif self.allows(path):
                out[key] = value
        return out

    def _filter_list(self, values: list[Any], path: str) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if isinstance(value, Mapping):
                inner = self._filter_object(value, path + ".")
                if inner:
                    out.append(inner)
            elif isinstance(value, list):
                nested = self._filter_list(value, path)
                if nested:
                    out.append(nested)
            elif self.allows(path):
                out.append(value)
        return out


def restrict_query(query: dsl.Query, fields: FieldPermissions, mapping: IndexMapping) -> dsl.Query:
    """``query`` with every clause on a hidden field replaced by ``match_none``.

    Field patterns (``multi_match``, ``exists``) are expanded against ``mapping`` to the visible
    fields they name, keeping what the pattern meant (``*`` only reaches text and keyword
    fields, and makes the query lenient).
    """
    if isinstance(query, dsl.Bool):
        return replace(
            query,
            must=tuple(restrict_query(q, fields, mapping) for q in query.must),
            should=tuple(restrict_query(q, fields, mapping) for q in query.should),
            must_not=tuple(restrict_query(q, fields, mapping) for q in query.must_not),
            filter=tuple(restrict_query(q, fields, mapping) for q in query.filter),
        )
    if isinstance(query, dsl.ConstantScore):
        return replace(query, filter=restrict_query(query.filter, fields, mapping))
    if isinstance(query, dsl.DisMax):
        return replace(
            query, queries=tuple(restrict_query(q, fields, mapping) for q in query.queries)
        )
    if isinstance(query, dsl.MultiMatch):
        return _restrict_multi_match(query, fields, mapping)
    if isinstance(query, dsl.Exists):
        return _restrict_exists(query, fields, mapping)
    name = getattr(query, "field", None)
    if isinstance(name, str) and not _visible(name, fields, mapping):
        return dsl.MatchNone(boost=query.boost)
    # Queries holding queries (nested's query, knn's filters): restrict those too.
    inner: dict[str, Any] = {}
    for slot in dataclass_fields(query):
        value = getattr(query, slot.name)
        if isinstance(value, dsl.Query):
            inner[slot.name] = restrict_query(value, fields, mapping)
        elif isinstance(value, tuple) and value and all(isinstance(v, dsl.Query) for v in value):
            inner[slot.name] = tuple(restrict_query(v, fields, mapping) for v in value)
    return replace(query, **inner) if inner else query


def _visible(name: str, fields: FieldPermissions, mapping: IndexMapping) -> bool:
    """A field name is visible when it and the field it resolves to (an alias's target) are."""
    if not fields.allows(name):
        return False
    spec = mapping.field(name)
    return spec is None or spec.path == name or fields.allows(spec.path)


def _restrict_multi_match(
    query: dsl.MultiMatch, fields: FieldPermissions, mapping: IndexMapping
) -> dsl.Query:
    expanded: list[tuple[str, float]] = []
    seen: set[str] = set()
    wildcard = False
    for pattern, boost in query.fields:
        if "*" in pattern:
            wildcard = True
        for spec in mapping.resolve(pattern):
            if pattern == "*" and spec.type not in (TEXT, KEYWORD):
                continue
            if spec.path in seen or not fields.allows(spec.path):
                continue
            seen.add(spec.path)
            expanded.append((spec.path, boost))
    if not expanded:
        return dsl.MatchNone(boost=query.boost)
    return replace(query, fields=tuple(expanded), lenient=query.lenient or wildcard)


def _restrict_exists(
    query: dsl.Exists, fields: FieldPermissions, mapping: IndexMapping
) -> dsl.Query:
    specs = mapping.resolve(query.field)
    if not specs:
        prefix = query.field + "."
        specs = [s for p, s in mapping.fields.items() if p.startswith(prefix)]
    visible = [s.path for s in specs if fields.allows(s.path)]
    if len(visible) == len(specs) and specs:
        return query
    if not visible:
        return dsl.MatchNone(boost=query.boost)
    return dsl.ConstantScore(
        filter=dsl.Bool(should=tuple(dsl.Exists(field=p) for p in visible)), boost=query.boost
    )


# --- one index, one request ---------------------------------------------------------------------


@dataclass(frozen=True)
class IndexRestriction:
    """DLS and FLS of one index: ``queries`` are levels of role queries (AND of levels, OR
    within a level; empty: every document), ``fields`` None shows every field."""

    queries: tuple[tuple[dsl.Query, ...], ...] = ()
    fields: FieldPermissions | None = None
    # The role queries' JSON text, level by level: what another node of the cluster parses
    # again when it searches a shard for this request (see actions/node_shards_wire.py).
    sources: tuple[tuple[str, ...], ...] = field(default=(), compare=False)

    def admits(
        self, doc_id: str, source: Mapping[str, Any], mapping: IndexMapping, now_ms: int
    ) -> bool:
        """Whether DLS lets this document be seen (evaluated in memory, for GETs)."""
        doc = EvalDoc(doc_id, source)
        return all(
            any(matches(q, doc, mapping, now_ms=now_ms) for q in level) for level in self.queries
        )

    def query(self, query: dsl.Query, mapping: IndexMapping) -> dsl.Query:
        """A request's query with FLS applied (DLS is added by the caller as filters)."""
        return query if self.fields is None else restrict_query(query, self.fields, mapping)

    def source(self, source: Mapping[str, Any]) -> Mapping[str, Any]:
        return source if self.fields is None else self.fields.filter_source(source)

    def shows_mapped_field(self, path: str, mapping: IndexMapping) -> bool:
        """``shows_field``, and for an alias also its target's visibility."""
        return self.fields is None or _visible(path, self.fields, mapping)

    def shows_field(self, path: str) -> bool:
        return self.fields is None or self.fields.allows(path)


UNRESTRICTED = IndexRestriction()
# What an index the request did not anticipate shows: no document, no field.
NOTHING = IndexRestriction(
    ((dsl.MatchNone(),),), FieldPermissions(((FieldSecurity(()),),)), (('{"match_none":{}}',),)
)


@dataclass(frozen=True)
class IndexRestrictions:
    """One request's restriction per concrete index; an index not listed shows nothing."""

    by_index: Mapping[str, IndexRestriction]

    def of(self, index: str) -> IndexRestriction:
        return self.by_index.get(index, NOTHING)


def _role_query(raw: str) -> dsl.Query:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParsingError(f"failed to parse role query: {exc}") from None
    return dsl.parse_query(body)


def restriction_of(access: IndexAccess) -> IndexRestriction:
    """The DLS/FLS part of a granted :class:`IndexAccess`, role queries parsed."""
    levels = tuple(
        tuple(_role_query(q) for q in level)
        for level in (access.queries, access.limited_queries, access.extra_queries)
        if level is not None
    )
    fields = FieldPermissions.of(access.fields, access.limited_fields, access.extra_fields)
    if not levels and fields is None:
        return UNRESTRICTED
    sources = tuple(
        tuple(level)
        for level in (access.queries, access.limited_queries, access.extra_queries)
        if level is not None
    )
    return IndexRestriction(levels, fields, sources)


def role_queries(restriction: IndexRestriction) -> tuple[tuple[str, ...], ...]:
    """The DLS role queries' text, level by level; a restriction built without its text cannot
    be sent to another node (fail closed rather than search without its DLS)."""
    if len(restriction.sources) != len(restriction.queries):
        raise IllegalStateError("document-level security without its role queries' text")
    return restriction.sources


def restriction_from_role_queries(
    sources: tuple[tuple[str, ...], ...], fields: FieldPermissions | None
) -> IndexRestriction:
    """A restriction another node sent: its role queries parsed again."""
    levels = tuple(tuple(_role_query(q) for q in level) for level in sources)
    return IndexRestriction(levels, fields, sources)


def _union(a: IndexAccess, b: IndexAccess) -> IndexAccess:
    """What two requested names grant on the same index together (ES ORs them, per level)."""

    def join(x: tuple[Any, ...] | None, y: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        return None if x is None or y is None else x + y

    return IndexAccess(
        True,
        join(a.queries, b.queries),
        join(a.limited_queries, b.limited_queries),
        join(a.fields, b.fields),
        join(a.limited_fields, b.limited_fields),
        join(a.extra_queries, b.extra_queries),
        join(a.extra_fields, b.extra_fields),
    )


def stream_access(
    authorizer: Authorizer, subject: Subject, action: str, name: str, state: ClusterMetadata
) -> IndexAccess:
    """What ``subject`` may do on ``name`` for ``action``, a backing index also through its data
    stream's name: ES's IndicesPermission grants a backing index what its stream's name grants
    (``read`` on ``logs-*`` reads ``.ds-logs-web-...`` named directly), with the two grants'
    document- and field-level security ORed."""
    access = authorizer.index_access(subject, action, name)
    owner = parent_of(state, name)
    if owner is None:
        return access
    through = authorizer.index_access(subject, action, owner.name)
    if not through.granted:
        return access
    return _union(access, through) if access.granted else through


def index_restrictions(
    authorizer: Authorizer,
    subject: Subject | None,
    action: str,
    names: Iterable[str],
    state: ClusterMetadata,
) -> IndexRestrictions:
    """Restrictions for the concrete indices behind ``names`` (indices, aliases or patterns as
    the request names them, after the guard narrowed them). Without a subject nothing shows."""
    if subject is None:
        return IndexRestrictions({})
    aliases = state.aliases()
    # A data stream's privileges cover its backing indices (ES's IndicesPermission).
    backing = {n: list(s.indices) for n, s in streams(state).items()}
    accesses: dict[str, IndexAccess] = {}
    for name in names:
        if not name or name.startswith("-"):
            continue  # exclusions only take indices away
        if "*" in name or "?" in name:
            candidates = (*state.indices, *aliases, *backing)
            requested = [n for n in candidates if simple_match(n, name)]
        else:
            requested = [name]
        for req_name in requested:
            access = stream_access(authorizer, subject, action, req_name, state)
            if not access.granted:
                continue
            concrete = (
                [req_name]
                if req_name in state.indices
                else [m.name for m in aliases.get(req_name, [])] + backing.get(req_name, [])
            )
            for index in concrete:
                known = accesses.get(index)
                accesses[index] = access if known is None else _union(known, access)
    return IndexRestrictions({index: restriction_of(a) for index, a in accesses.items()})


def filter_mapping(mapping: Mapping[str, Any], fields: FieldPermissions) -> dict[str, Any]:
    """A ``mappings`` object showing only visible fields (ES filters ``GET _mapping`` so)."""

    def walk(props: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in props.items():
            path = prefix + name
            if isinstance(spec, Mapping) and "properties" in spec:
                inner = walk(spec["properties"], path + ".")
                if inner:
                    out[name] = {**spec, "properties": inner}
                continue
            if not fields.allows(path):
                continue
            kept = dict(spec)
            if isinstance(spec.get("fields"), Mapping):
                subs = {k: v for k, v in spec["fields"].items() if fields.allows(f"{path}.{k}")}
                if subs:
                    kept["fields"] = subs
                else:
                    kept.pop("fields")
            out[name] = kept
        return out

    result = dict(mapping)
    if "properties" in mapping:
        result["properties"] = walk(mapping["properties"], "")
    return result
