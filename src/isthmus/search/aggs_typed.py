"""``typed_keys``: aggregation names prefixed with ES's internal type names.  [no I/O]

Clients that parse aggregations generically (the Java client, Kibana) ask for ``typed_keys`` and
read ``sterms#by_tag`` / ``avg#price``. The prefix is the type of the *result*, which for
``terms`` depends on the field: strings, longs (dates and booleans too) or doubles.
"""

from __future__ import annotations

from typing import Any

from isthmus.index.mapping import FLOAT_TYPES, KEYWORD, TEXT, Mapping
from isthmus.search.aggs_core import Agg, AggsSpec

_RESULT_NAMES = {"percentiles": "tdigest_percentiles"}
_BUCKET_HOLDERS = ("buckets",)


def _result_name(agg: Agg, mapping: Mapping) -> str:
    if agg.type_name == "terms":
        ref = getattr(agg, "ref", None)
        spec = mapping.field(ref.field) if ref is not None else None
        if spec is None:
            return "umterms" if ref is not None and ref.field != "_index" else "sterms"
        if spec.type in (KEYWORD, TEXT):
            return "sterms"
        return "dterms" if spec.type in FLOAT_TYPES else "lterms"
    return _RESULT_NAMES.get(agg.type_name, agg.type_name)


def apply_typed_keys(output: dict[str, Any], spec: AggsSpec, mapping: Mapping) -> dict[str, Any]:
    """``output`` (an ``aggregations`` object) with every name typed, recursively."""
    typed: dict[str, Any] = {}
    for name, body in output.items():
        agg = spec.get(name)
        if agg is None:
            typed[name] = body
            continue
        typed[f"{_result_name(agg, mapping)}#{name}"] = _typed_body(body, agg, mapping)
    return typed


def _typed_body(body: Any, agg: Agg, mapping: Mapping) -> Any:
    if not isinstance(body, dict) or not agg.subs.aggs:
        return body
    out = dict(body)
    buckets = out.get("buckets")
    if isinstance(buckets, list):
        out["buckets"] = [_typed_bucket(b, agg.subs, mapping) for b in buckets]
    elif isinstance(buckets, dict):
        out["buckets"] = {k: _typed_bucket(b, agg.subs, mapping) for k, b in buckets.items()}
    else:
        out = _typed_bucket(out, agg.subs, mapping)
    return out


def _typed_bucket(bucket: Any, subs: AggsSpec, mapping: Mapping) -> Any:
    if not isinstance(bucket, dict):
        return bucket
    names = {a.name for a in subs.aggs}
    plain = {k: v for k, v in bucket.items() if k not in names}
    nested = apply_typed_keys({k: v for k, v in bucket.items() if k in names}, subs, mapping)
    return {**plain, **nested}
