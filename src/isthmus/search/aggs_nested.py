"""The ``reverse_nested`` aggregation, and the object documents ``nested`` hands down.  [no I/O]

Under a ``nested`` aggregation the documents are the objects of its path (each an
:class:`ObjectDoc` that knows the document, or enclosing object, it came from). ES's
``reverse_nested`` joins back from them: without ``path`` to the root documents, with ``path``
to the enclosing objects of that nested path; each distinct one counts once (``doc_count``) and
the sub-aggregations see those. As in ES it may only be used inside a ``nested`` aggregation
(at any depth below it): elsewhere the request fails with "Reverse nested aggregation [name]
can only be used inside a [nested] aggregation"; a ``path`` the mapping does not have gives an
empty bucket (ES's unmapped aggregator), one that is not nested is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isthmus.errors import IllegalArgumentError, QueryShardError
from isthmus.search.aggs_bucket import Bucket, SingleBucketResult
from isthmus.search.aggs_core import Agg, AggContext, AggDoc, AggResult, AggsSpec, Params


@dataclass(frozen=True)
class ObjectDoc(AggDoc):
    """One object of a nested path, as a document of its own (``source`` re-rooted)."""

    parent: AggDoc | None = None  # the document or enclosing object it belongs to
    path: str = ""


class ReverseNestedAgg(Agg):
    type_name = "reverse_nested"
    accepts_subs = True

    def __init__(
        self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None, path: str | None
    ) -> None:
        super().__init__(name, subs, meta)
        self.path = path
        self.inside_nested = False  # set by an enclosing nested aggregation (mark_inside_nested)
        self._held: list[list[AggDoc]] = []  # the context caches values by document identity

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        if not self.inside_nested:
            raise IllegalArgumentError(
                f"Reverse nested aggregation [{self.name}] can only be used inside a [nested] "
                "aggregation"
            )
        targets: list[AggDoc] = []
        if self.path is None or self.path in ctx.mapping.nested_paths:
            seen: set[int] = set()
            for doc in docs:
                target = _enclosing(doc, self.path)
                if target is not None and id(target) not in seen:
                    seen.add(id(target))
                    targets.append(target)
        elif self.path in ctx.mapping.object_paths() or ctx.mapping.field(self.path):
            raise QueryShardError(f"[reverse_nested] nested path [{self.path}] is not nested")
        self._held.append(targets)
        return self.result(
            SingleBucketResult(Bucket(None, len(targets), self.subs.collect(targets, ctx)))
        )


def _enclosing(doc: AggDoc, path: str | None) -> AggDoc | None:
    """The root document of ``doc`` (``path`` None), or its enclosing object of ``path``."""
    node: AggDoc | None = doc
    while isinstance(node, ObjectDoc):
        node = node.parent
        if path is not None and isinstance(node, ObjectDoc) and node.path == path:
            return node
    return node if path is None else None


def mark_inside_nested(subs: AggsSpec) -> None:
    """Let every ``reverse_nested`` below a nested aggregation (at any depth) know it is."""
    stack = list(subs.aggs)
    while stack:
        agg = stack.pop()
        if isinstance(agg, ReverseNestedAgg):
            agg.inside_nested = True
        stack.extend(agg.subs.aggs)


REVERSE_NESTED_AGG_PARAMS = {"path"}


def parse_reverse_nested_agg(
    name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None
) -> Agg:
    return ReverseNestedAgg(name, subs, meta, p.string("path"))


__all__ = [
    "REVERSE_NESTED_AGG_PARAMS",
    "ObjectDoc",
    "ReverseNestedAgg",
    "mark_inside_nested",
    "parse_reverse_nested_agg",
]
