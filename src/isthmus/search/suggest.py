"""The ``suggest`` section: term and phrase suggesters, with completion from its own module.
[no I/O]

``"suggest": {"text": "...", "<name>": {"term"|"phrase"|"completion": {...}}}`` names each
suggestion; the answer lists, per name, its entries (``text``, ``offset``, ``length``) and their
``options``. With ``typed_keys`` each name is prefixed by its kind (``term#name``).

* **term**: for each token of the analysed text (``min_word_length`` 4 and longer), the field's
  terms within ``max_edits`` sharing ``prefix_length`` characters, scored by string similarity
  (``1 - edits / shorter length``, kept from ``accuracy`` 0.5 up), with their document frequency
  as ``freq``; ``suggest_mode`` ``missing`` (default: only tokens the field lacks), ``popular``
  (only more frequent terms) or ``always``; sorted by ``score`` (then freq) or ``frequency``.
* **phrase**: the whole text corrected: every token may be replaced by a candidate of the term
  rules (at most ``max_errors`` of them, 1 by default), each phrase scored by a unigram language
  model over the field's document frequencies (Laplace smoothing) times a channel model (0.95
  for keeping a token the field holds, the similarity of a correction otherwise); options beat
  the text's own score times ``confidence`` (1.0), ``highlight`` marks the changed tokens.
  Without word n-gram (shingle) fields this is a unigram model, so options can differ from ES's.

Frequencies count only the documents the caller may see (alias filters and document-level
security); a field hidden by field-level security suggests nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tantivy

from isthmus import xcontent
from isthmus.errors import ElasticsearchParseError, IllegalArgumentError, ParsingError
from isthmus.index.schema import IndexSchema
from isthmus.search import completion
from isthmus.search.analysis import analyze, analyze_with_offsets
from isthmus.search.completion import CompletionSuggestion, ShardView

KINDS = ("term", "phrase", "completion")
_SHARED_KEYS = ("field", "analyzer", "size", "shard_size")
_TERM_KEYS = (
    *_SHARED_KEYS,
    "suggest_mode",
    "accuracy",
    "sort",
    "string_distance",
    "max_edits",
    "max_inspections",
    "max_term_freq",
    "prefix_length",
    "min_word_length",
    "min_doc_freq",
    "lowercase_terms",
)
_PHRASE_KEYS = (
    *_SHARED_KEYS,
    "max_errors",
    "confidence",
    "real_word_error_likelihood",
    "separator",
    "gram_size",
    "token_limit",
    "force_unigrams",
    "highlight",
    "direct_generator",
    "smoothing",
    "collate",
)


@dataclass(frozen=True)
class TermSuggestion:
    name: str
    text: str
    field: str
    size: int = 5
    suggest_mode: str = "missing"
    accuracy: float = 0.5
    sort: str = "score"
    max_edits: int = 2
    prefix_length: int = 1
    min_word_length: int = 4
    min_doc_freq: float = 0.0
    max_term_freq: float = 0.01


@dataclass(frozen=True)
class PhraseSuggestion:
    name: str
    text: str
    field: str
    size: int = 5
    max_errors: float = 1.0
    confidence: float = 1.0
    real_word_error_likelihood: float = 0.95
    pre_tag: str | None = None
    post_tag: str | None = None


Suggestion = TermSuggestion | PhraseSuggestion | CompletionSuggestion


@dataclass(frozen=True)
class SuggestShard:
    """One shard for the term and phrase suggesters: the completion view plus its schema (the
    field's name in the engine)."""

    view: ShardView
    schema: IndexSchema


def parse_suggest(body: Any) -> tuple[Suggestion, ...]:
    """The request's ``suggest`` object, in order (completion entries parsed by
    :mod:`isthmus.search.completion`)."""
    spec = xcontent.as_object("search", "suggest", body)
    global_text = spec.get("text")
    out: list[Suggestion] = []
    for name, entry in spec.items():
        if name == "text":
            continue
        if not isinstance(entry, Mapping):
            raise ParsingError(f"suggestion [{name}] must be an object")
        kinds = [k for k in entry if k not in ("prefix", "text", "regex")]
        if len(kinds) == 1 and kinds[0] in ("term", "phrase"):
            text = entry.get("text", global_text)
            options = xcontent.as_object("suggest", kinds[0], entry[kinds[0]])
            if kinds[0] == "term":
                out.append(_term(str(name), text, options))
            else:
                out.append(_phrase(str(name), text, options))
        else:
            body_of_one = (
                {name: entry} if global_text is None else {"text": global_text, name: entry}
            )
            out.extend(completion.parse_suggest(body_of_one))
    return tuple(out)


def _common(kind: str, options: Mapping[str, Any], allowed: Sequence[str]) -> tuple[str, int]:
    for key in options:
        if key not in allowed:
            raise ParsingError(f"suggester[{kind}] doesn't support field [{key}]")
    if "field" not in options:
        raise ElasticsearchParseError("the required field option [field] is missing")
    size = xcontent.as_int(kind, "size", options.get("size", 5))
    if size <= 0:
        raise IllegalArgumentError("size must be positive")
    return xcontent.as_str(kind, "field", options["field"]), size


def _text(text: Any) -> str:
    if text is None:
        raise IllegalArgumentError("suggestion text is missing")
    return xcontent.as_str("suggest", "text", text)


def _term(name: str, text: Any, options: Mapping[str, Any]) -> TermSuggestion:
    field, size = _common("term", options, _TERM_KEYS)
    mode = xcontent.as_str("term", "suggest_mode", options.get("suggest_mode", "missing")).lower()
    if mode not in ("missing", "popular", "always"):
        raise IllegalArgumentError(f"Illegal suggest mode {mode}")
    sort = xcontent.as_str("term", "sort", options.get("sort", "score")).lower()
    if sort not in ("score", "frequency"):
        raise IllegalArgumentError(f"Illegal sort type {sort}")
    accuracy = xcontent.as_float("term", "accuracy", options.get("accuracy", 0.5))
    if not 0.0 <= accuracy <= 1.0:
        raise IllegalArgumentError("accuracy must be between 0 and 1")
    max_edits = xcontent.as_int("term", "max_edits", options.get("max_edits", 2))
    if not 1 <= max_edits <= 2:
        raise IllegalArgumentError("maxEdits must be between 1 and 2")
    prefix = xcontent.as_int("term", "prefix_length", options.get("prefix_length", 1))
    if prefix < 0:
        raise IllegalArgumentError("prefixLength must be positive")
    min_word = xcontent.as_int("term", "min_word_length", options.get("min_word_length", 4))
    if min_word < 1:
        raise IllegalArgumentError("minWordLength must be greater or equal to 1")
    return TermSuggestion(
        name=name,
        text=_text(text),
        field=field,
        size=size,
        suggest_mode=mode,
        accuracy=accuracy,
        sort=sort,
        max_edits=max_edits,
        prefix_length=prefix,
        min_word_length=min_word,
        min_doc_freq=xcontent.as_float("term", "min_doc_freq", options.get("min_doc_freq", 0.0)),
        max_term_freq=xcontent.as_float(
            "term", "max_term_freq", options.get("max_term_freq", 0.01)
        ),
    )


def _phrase(name: str, text: Any, options: Mapping[str, Any]) -> PhraseSuggestion:
    field, size = _common("phrase", options, _PHRASE_KEYS)
    for unsupported in ("collate", "smoothing", "direct_generator"):
        if unsupported in options:
            raise IllegalArgumentError(
                f"[{unsupported}] of the phrase suggester is not supported by Isthmus yet"
            )
    max_errors = xcontent.as_float("phrase", "max_errors", options.get("max_errors", 1.0))
    if max_errors <= 0:
        raise IllegalArgumentError("max_error must be > 0.0")
    likelihood = xcontent.as_float(
        "phrase", "real_word_error_likelihood", options.get("real_word_error_likelihood", 0.95)
    )
    if likelihood < 0:
        raise IllegalArgumentError("real_word_error_likelihood must be > 0.0")
    highlight = xcontent.as_object("phrase", "highlight", options.get("highlight", {}))
    for key in highlight:
        if key not in ("pre_tag", "post_tag"):
            raise IllegalArgumentError(
                f"suggester[phrase][highlight] doesn't support field [{key}]"
            )
    if ("pre_tag" in highlight) != ("post_tag" in highlight):
        raise IllegalArgumentError("Pre and post tag must both be null or both not be null.")
    return PhraseSuggestion(
        name=name,
        text=_text(text),
        field=field,
        size=size,
        max_errors=max_errors,
        confidence=xcontent.as_float("phrase", "confidence", options.get("confidence", 1.0)),
        real_word_error_likelihood=likelihood,
        pre_tag=highlight.get("pre_tag"),
        post_tag=highlight.get("post_tag"),
    )


# --- computing ------------------------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (a transposition is one edit, as Lucene counts)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def similarity(term: str, candidate: str) -> float:
    """The ``internal`` string distance: 1 - edits / the shorter length."""
    shorter = min(len(term), len(candidate))
    return 1.0 - edit_distance(term, candidate) / shorter if shorter else 0.0


class _FieldStats:
    """A field's visible document frequencies over every shard the suggestion reads."""

    def __init__(self, field: str, shards: Sequence[SuggestShard]) -> None:
        self.parts: list[tuple[tantivy.Searcher, str, tantivy.Query]] = []
        self.docs = 0
        for shard in shards:
            view = shard.view
            spec = view.mapping.field(field)
            found = shard.schema.field(field)
            hidden = view.restriction is not None and not view.restriction.shows_field(field)
            if spec is None or found is None or spec.type != "text" or hidden:
                continue
            self.parts.append((view.searcher, found.name, view.allowed))
            self.docs += _count(view.searcher, view.allowed)

    def freq(self, term: str) -> int:
        total = 0
        for searcher, name, allowed in self.parts:
            for found, count in searcher.terms_with_prefix(name, term, filter_query=allowed):
                if found == term:
                    total += int(count)
        return total

    def candidates(self, term: str, prefix_length: int, max_edits: int) -> dict[str, int]:
        """Visible terms within ``max_edits`` of ``term`` sharing its first characters."""
        prefix = term[:prefix_length]
        out: dict[str, int] = {}
        for searcher, name, allowed in self.parts:
            for found, count in searcher.terms_with_prefix(name, prefix, filter_query=allowed):
                near = count and found != term and abs(len(found) - len(term)) <= max_edits
                if near and edit_distance(term, found) <= max_edits:
                    out[found] = out.get(found, 0) + int(count)
        return out


def _count(searcher: tantivy.Searcher, query: tantivy.Query) -> int:
    return int(getattr(searcher.search(query, 1, count=True), "count"))  # noqa: B009


def _absolute(threshold: float, docs: int) -> float:
    # Under 1 a share of the documents, from 1 on a count (ES's rule for both thresholds).
    return threshold * docs if threshold < 1 else threshold


def term_entries(s: TermSuggestion, shards: Sequence[SuggestShard]) -> list[dict[str, Any]]:
    stats = _FieldStats(s.field, shards)
    entries = []
    for token, start, end in analyze_with_offsets(s.text):
        entry: dict[str, Any] = {
            "text": token,
            "offset": start,
            "length": end - start,
            "options": [],
        }
        entries.append(entry)
        if len(token) < s.min_word_length:
            continue
        own = stats.freq(token)
        if s.suggest_mode == "missing" and own > 0:
            continue
        if own > _absolute(s.max_term_freq, stats.docs) and s.suggest_mode != "always":
            continue
        options: list[dict[str, Any]] = []
        for found, freq in stats.candidates(token, s.prefix_length, s.max_edits).items():
            if freq < _absolute(s.min_doc_freq, stats.docs):
                continue
            if s.suggest_mode == "popular" and freq <= own:
                continue
            score = similarity(token, found)
            if score >= s.accuracy:
                options.append({"text": found, "score": round(score, 7), "freq": freq})
        if s.sort == "frequency":
            options.sort(key=lambda o: (-o["freq"], -o["score"], o["text"]))
        else:
            options.sort(key=lambda o: (-o["score"], -o["freq"], o["text"]))
        entry["options"] = options[: s.size]
    return entries


def phrase_entries(s: PhraseSuggestion, shards: Sequence[SuggestShard]) -> list[dict[str, Any]]:
    stats = _FieldStats(s.field, shards)
    tokens = analyze(s.text)
    entry: dict[str, Any] = {"text": s.text, "offset": 0, "length": len(s.text), "options": []}
    if not tokens or not stats.parts:
        return [entry]
    vocabulary = max(1, len({t for t in tokens}))
    total = max(stats.docs, 1)

    def probability(freq: int) -> float:
        return (freq + 0.5) / (total + 0.5 * vocabulary)  # Laplace smoothing (alpha 0.5)

    per_token: list[list[tuple[str, float]]] = []
    for token in tokens:
        own = stats.freq(token)
        keep = (s.real_word_error_likelihood if own else 1.0 - s.real_word_error_likelihood) * (
            probability(own)
        )
        choices = [(token, math.log10(keep))]
        if len(token) >= 4:
            found = stats.candidates(token, 1, 2)
            scored = [
                (
                    c,
                    math.log10(
                        (1.0 - s.real_word_error_likelihood) * similarity(token, c) * probability(f)
                    ),
                )
                for c, f in found.items()
                if similarity(token, c) >= 0.5
            ]
            scored.sort(key=lambda t: -t[1])
            choices.extend(scored[:5])
        per_token.append(choices)
    original = sum(choices[0][1] for choices in per_token)
    max_changes = (
        int(s.max_errors) if s.max_errors >= 1 else max(1, int(s.max_errors * len(tokens)))
    )
    # An option must beat the text's own score times ``confidence`` (0: every option shows).
    threshold = original + math.log10(s.confidence) if s.confidence > 0 else -math.inf
    options = []
    for combo in itertools.product(*[range(len(c)) for c in per_token]):
        changes = sum(1 for i in combo if i)
        if not changes or changes > max_changes:
            continue
        score = sum(per_token[t][i][1] for t, i in enumerate(combo))
        if score <= threshold:
            continue
        words = [per_token[t][i][0] for t, i in enumerate(combo)]
        option: dict[str, Any] = {"text": " ".join(words), "score": 10 ** (score - original)}
        if s.pre_tag is not None and s.post_tag is not None:
            option["highlighted"] = " ".join(
                f"{s.pre_tag}{w}{s.post_tag}" if i else w for w, i in zip(words, combo, strict=True)
            )
        options.append(option)
    options.sort(key=lambda o: (-o["score"], o["text"]))
    entry["options"] = options[: s.size]
    return [entry]


def _kind(s: Suggestion) -> str:
    if isinstance(s, TermSuggestion):
        return "term"
    return "phrase" if isinstance(s, PhraseSuggestion) else "completion"


def suggest_section(
    suggestions: Sequence[Suggestion], shards: Sequence[SuggestShard], typed_keys: bool
) -> dict[str, Any]:
    """The response's ``suggest``: each suggestion's entries, under its name (``kind#name``
    with ``typed_keys``)."""
    out: dict[str, Any] = {}
    views = [s.view for s in shards]
    for s in suggestions:
        if isinstance(s, TermSuggestion):
            entries = term_entries(s, shards)
        elif isinstance(s, PhraseSuggestion):
            entries = phrase_entries(s, shards)
        else:
            entries = completion.suggest_response([s], views)[s.name]
        out[f"{_kind(s)}#{s.name}" if typed_keys else s.name] = entries
    return out


def merge_sections(
    suggestions: Sequence[Suggestion], sections: Sequence[Mapping[str, Any]], typed_keys: bool
) -> dict[str, Any]:
    """Several clusters' ``suggest`` sections (plain names) as one, as ES reduces them: the same
    option text from two clusters is one option (term: frequencies added, the best score;
    phrase: the best score), options re-sorted and cut to ``size``."""
    out: dict[str, Any] = {}
    for s in suggestions:
        per_cluster = [section.get(s.name) or [] for section in sections]
        merged: list[dict[str, Any]] = []
        for position in range(max((len(e) for e in per_cluster), default=0)):
            parts = [e[position] for e in per_cluster if position < len(e)]
            entry = {k: v for k, v in parts[0].items() if k != "options"}
            entry["options"] = _merged_options(s, [o for p in parts for o in p["options"]])
            merged.append(entry)
        out[f"{_kind(s)}#{s.name}" if typed_keys else s.name] = merged
    return out


def _merged_options(s: Suggestion, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(s, CompletionSuggestion):
        ranked = sorted(options, key=lambda o: (-o["_score"], o["text"]))
        if s.skip_duplicates:
            unique: dict[str, dict[str, Any]] = {}
            for option in ranked:
                unique.setdefault(option["text"], option)
            ranked = list(unique.values())
        return ranked[: s.size]
    by_text: dict[str, dict[str, Any]] = {}
    for option in options:
        kept = by_text.get(option["text"])
        if kept is None:
            by_text[option["text"]] = dict(option)
            continue
        if isinstance(s, TermSuggestion):
            kept["freq"] += option["freq"]
        if option["score"] > kept["score"]:
            kept.update({k: v for k, v in option.items() if k != "freq"})
    values = list(by_text.values())
    if isinstance(s, TermSuggestion) and s.sort == "frequency":
        values.sort(key=lambda o: (-o["freq"], -o["score"], o["text"]))
    elif isinstance(s, TermSuggestion):
        values.sort(key=lambda o: (-o["score"], -o["freq"], o["text"]))
    else:
        values.sort(key=lambda o: (-o["score"], o["text"]))
    return values[: s.size]


__all__ = [
    "PhraseSuggestion",
    "SuggestShard",
    "Suggestion",
    "TermSuggestion",
    "edit_distance",
    "merge_sections",
    "parse_suggest",
    "similarity",
    "suggest_section",
]
