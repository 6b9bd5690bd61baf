"""The completion suggester: the ``suggest`` section of a search, for ``completion`` fields.
[no I/O]

:func:`parse_suggest` validates the request's ``suggest`` object (ES's shape: a global ``text``
and named suggestions, each with ``prefix``/``text``/``regex`` and a ``completion`` body). Only
the completion suggester is computed; ``term`` and ``phrase`` are refused plainly.
:func:`suggest_response` answers from each shard's documents (the ones the caller may see): a
document suggests its heaviest input that the prefix begins (``index.completion``), optionally
within a ``fuzzy`` edit distance; options are ordered by weight (the ``_score``), ``size`` of
them (5 by default), with ``skip_duplicates`` dropping repeated texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import tantivy

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError
from isthmus.index.completion import CompletionEntry, analyze_input, best_match
from isthmus.index.field_types import COMPLETION
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.mapping import source_values
from isthmus.search.term_patterns import fuzzy_matches


class FieldRestriction(Protocol):
    """What the suggester needs of field-level security (security's IndexRestriction)."""

    def shows_field(self, path: str) -> bool: ...

    def source(self, source: Mapping[str, Any]) -> Mapping[str, Any]: ...


_SUGGESTERS_NOT_COMPUTED = ("term", "phrase")
_COMPLETION_KEYS = {"field", "size", "skip_duplicates", "fuzzy", "analyzer", "contexts"}
# Every field ES's completion suggester parser declares ("context" is the deprecated spelling of
# "contexts"): its "did you mean" candidates.
_ES_COMPLETION_KEYS = (*_COMPLETION_KEYS, "regex", "shard_size", "context")


@dataclass(frozen=True)
class CompletionSuggestion:
    name: str
    text: str
    field: str
    size: int = 5
    skip_duplicates: bool = False
    fuzziness: int = 0
    prefix_length: int = 1
    regex: bool = False


@dataclass(frozen=True)
class ShardView:
    """One shard as the suggester reads it: ``allowed`` matches the documents the caller may
    see (alias filters, document-level security); ``restriction`` filters what it shows."""

    index: str
    mapping: IndexMapping
    searcher: tantivy.Searcher
    allowed: tantivy.Query
    restriction: FieldRestriction | None = None


def _fuzziness(raw: Any) -> tuple[int, int]:
    if raw is True or raw == {}:
        return 1, 1
    if not isinstance(raw, Mapping):
        raise ParsingError("[fuzzy] failed to parse field [fuzzy]")
    value = str(raw.get("fuzziness", "AUTO")).upper()
    distance = 1 if value.startswith("AUTO") else max(0, min(2, int(float(value))))
    return distance, int(raw.get("prefix_length", 1))


def parse_suggest(body: Any) -> tuple[CompletionSuggestion, ...]:
    if not isinstance(body, Mapping):
        raise ParsingError("suggestion must be an object")
    global_text = body.get("text")
    out = []
    for name, entry in body.items():
        if name == "text":
            continue
        if not isinstance(entry, Mapping):
            raise ParsingError(f"suggestion [{name}] must be an object")
        text = entry.get("prefix", entry.get("text", entry.get("regex", global_text)))
        kinds = [k for k in entry if k not in ("prefix", "text", "regex")]
        if len(kinds) != 1:
            raise ParsingError(f"suggestion [{name}] must define exactly one suggester")
        kind = kinds[0]
        if kind in _SUGGESTERS_NOT_COMPUTED:
            raise IllegalArgumentError(f"the [{kind}] suggester is not supported by Isthmus yet")
        if kind != COMPLETION:
            raise ParsingError(
                f"unable to parse SuggestionBuilder with name [{kind}]: parser not found"
            )
        options = entry[kind]
        if not isinstance(options, Mapping):
            raise ParsingError(f"[{kind}] must be an object")
        for key in options:
            if key not in _COMPLETION_KEYS:
                raise xcontent.unknown_field("completion", key, _ES_COMPLETION_KEYS)
        if "field" not in options:
            raise ParsingError("the required field option [field] is missing")
        if text is None:
            raise IllegalArgumentError("suggestion text is missing")
        fuzziness, prefix_length = (
            (0, 1) if "fuzzy" not in options else _fuzziness(options["fuzzy"])
        )
        size = options.get("size", 5)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise IllegalArgumentError("size must be positive")
        out.append(
            CompletionSuggestion(
                name=str(name),
                text=str(text),
                field=str(options["field"]),
                size=size,
                skip_duplicates=options.get("skip_duplicates", False) is True,
                fuzziness=fuzziness,
                prefix_length=prefix_length,
                regex="regex" in entry,
            )
        )
    return tuple(out)


def _match(s: CompletionSuggestion, entries: list[CompletionEntry]) -> tuple[str, int] | None:
    if not s.regex and not s.fuzziness:
        return best_match(entries, s.text)
    wanted = analyze_input(s.text, len(s.text) + 1)
    pattern = re.compile(s.text) if s.regex else None
    best: tuple[str, int] | None = None
    for entry in entries:
        for text in entry.inputs:
            analysed = analyze_input(text)
            if pattern is not None:
                ok = pattern.match(analysed) is not None
            else:
                ok = analysed[: s.prefix_length] == wanted[: s.prefix_length] and any(
                    fuzzy_matches(wanted, analysed[:n], s.fuzziness)
                    for n in range(max(0, len(wanted) - s.fuzziness), len(wanted) + s.fuzziness + 1)
                )
            if ok and (best is None or entry.weight > best[1]):
                best = (text, entry.weight)
    return best


def _check_field(s: CompletionSuggestion, shards: Sequence[ShardView]) -> None:
    specs = [v.mapping.field(s.field) for v in shards]
    mapped = [spec for spec in specs if spec is not None]
    if shards and not mapped:
        raise IllegalArgumentError(f"no mapping found for field [{s.field}]")
    for spec in mapped:
        if spec.type != COMPLETION:
            raise IllegalArgumentError(f"Field [{s.field}] is not a completion suggest field")


def suggest_response(
    suggestions: Sequence[CompletionSuggestion], shards: Sequence[ShardView]
) -> dict[str, Any]:
    """The response's ``suggest`` object."""
    out: dict[str, Any] = {}
    for s in suggestions:
        _check_field(s, shards)
        if s.regex:
            try:
                re.compile(s.text)
            except re.error as exc:
                raise IllegalArgumentError(f"invalid regex [{s.text}]: {exc}") from None
        options: list[tuple[int, str, str, str, dict[str, Any]]] = []
        for view in shards:
            spec = view.mapping.field(s.field)
            if spec is None or (
                view.restriction is not None and not view.restriction.shows_field(s.field)
            ):
                continue
            for _score, addr in view.searcher.search(
                view.allowed, max(view.searcher.num_docs, 1)
            ).hits:
                doc = view.searcher.doc(addr)
                source = orjson.loads(bytes(doc.get_first("_src") or b"{}"))
                found = _match(s, source_values(source, spec))
                if found is None:
                    continue
                shown = dict(view.restriction.source(source)) if view.restriction else source
                options.append((found[1], found[0], view.index, str(doc.get_first("_id")), shown))
        options.sort(key=lambda o: (-o[0], o[1], o[2], o[3]))
        rendered: list[dict[str, Any]] = []
        seen: set[str] = set()
        for weight, text, index, doc_id, source in options:
            if s.skip_duplicates and text in seen:
                continue
            seen.add(text)
            rendered.append(
                {
                    "text": text,
                    "_index": index,
                    "_id": doc_id,
                    "_score": float(weight),
                    "_source": source,
                }
            )
            if len(rendered) == s.size:
                break
        out[s.name] = [{"text": s.text, "offset": 0, "length": len(s.text), "options": rendered}]
    return out
