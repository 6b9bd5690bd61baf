"""Index expressions → concrete indices, with ES's ``IndexNameExpressionResolver`` rules."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, IndexMetadata
from isthmus.cluster.resolve import (
    IndicesOptions,
    Resolved,
    resolve,
    split_expression,
    write_index,
)
from isthmus.errors import IllegalArgumentError, IndexClosedError, IndexNotFoundError
from isthmus.index.mapping import Mapping

F_RED = {"term": {"color": "red"}}
F_BLUE = {"term": {"color": "blue"}}


def idx(
    name: str,
    *,
    state: str = "open",
    hidden: bool = False,
    aliases: dict[str, AliasMetadata] | None = None,
) -> IndexMetadata:
    settings = {"index.hidden": "true"} if hidden else {}
    return IndexMetadata(
        name=name,
        uuid=f"uuid-{name}",
        settings=settings,
        mapping=Mapping(),
        aliases=aliases or {},
        state=state,
    )


def cluster(*indices: IndexMetadata) -> ClusterMetadata:
    return ClusterMetadata("cu", indices={m.name: m for m in indices})


META = cluster(
    idx("logs-1", aliases={"logs": AliasMetadata("logs"), "red": AliasMetadata("red", F_RED)}),
    idx("logs-2", aliases={"logs": AliasMetadata("logs"), "blue": AliasMetadata("blue", F_BLUE)}),
    idx("metrics", aliases={"red": AliasMetadata("red", F_RED)}),
    idx("archive", state="close", aliases={"old": AliasMetadata("old")}),
    idx("secret", hidden=True, aliases={"sec": AliasMetadata("sec")}),
    idx(".kibana"),
)
DEFAULT = IndicesOptions()


def names(
    expr: str | None, options: IndicesOptions = DEFAULT, meta: ClusterMetadata = META
) -> list[str]:
    return [r.index.name for r in resolve(meta, expr, options)]


def filters(expr: str, options: IndicesOptions = DEFAULT) -> dict[str, Any]:
    return {r.index.name: r.filters for r in resolve(META, expr, options)}


# --- expressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "parts"),
    [(None, []), ("", []), ("a", ["a"]), ("a, b,,c ", ["a", "b", "c"]), (",", [])],
)
def test_split_expression(expr: str | None, parts: list[str]) -> None:
    assert split_expression(expr) == parts


def test_comma_list_keeps_order_and_dedups() -> None:
    assert names("metrics,logs-1") == ["metrics", "logs-1"]
    assert names("logs-1,logs-1") == ["logs-1"]


@pytest.mark.parametrize("expr", [None, "", "_all", "*"])
def test_all_means_visible_open_indices(expr: str | None) -> None:
    assert sorted(names(expr)) == ["logs-1", "logs-2", "metrics"]


def test_wildcards() -> None:
    assert names("logs-*") == ["logs-1", "logs-2"]
    assert names("logs-?") == ["logs-1", "logs-2"]
    assert names("*trics") == ["metrics"]
    assert names("nomatch*") == []


def test_wildcard_also_matches_aliases() -> None:
    # "lo*" names the indices "logs-1"/"logs-2" and the alias "logs"; "re*" only the alias "red"
    assert names("re*") == ["logs-1", "metrics"]


def test_exclusions_remove_what_wildcards_added() -> None:
    assert names("logs-*,-logs-2") == ["logs-1"]
    assert names("*,-logs-*") == ["metrics"]
    assert names("*,-*") == []


def test_leading_minus_is_a_name_not_an_exclusion() -> None:
    with pytest.raises(IndexNotFoundError) as info:
        names("-logs-1")
    assert info.value.reason == "no such index [-logs-1]"


def test_exclusion_without_a_preceding_wildcard_is_a_name() -> None:
    with pytest.raises(IndexNotFoundError):
        names("metrics,-metrics")


# --- missing, closed, options -------------------------------------------------------------------


def test_missing_index() -> None:
    with pytest.raises(IndexNotFoundError) as info:
        names("logs-1,nope")
    err = info.value
    assert err.reason == "no such index [nope]"
    assert err.extra["resource.id"] == "nope"
    assert err.extra["resource.type"] == "index_or_alias"
    assert err.http_status == 404


def test_ignore_unavailable_skips_missing() -> None:
    opts = IndicesOptions(ignore_unavailable=True)
    assert names("logs-1,nope", opts) == ["logs-1"]


def test_explicit_closed_index() -> None:
    with pytest.raises(IndexClosedError) as info:
        names("archive")
    assert info.value.reason == "closed"
    assert info.value.extra == {"index_uuid": "uuid-archive", "index": "archive"}
    assert info.value.to_body()["error"]["type"] == "index_closed_exception"
    assert names("archive,metrics", IndicesOptions(ignore_unavailable=True)) == ["metrics"]
    assert names("archive", IndicesOptions(forbid_closed=False)) == ["archive"]


def test_wildcards_skip_closed_unless_asked() -> None:
    assert "archive" not in names("*")
    assert names("arch*", IndicesOptions.from_params({"expand_wildcards": "closed"})) == ["archive"]
    assert names("arch*", IndicesOptions.from_params({"expand_wildcards": "open,closed"})) == [
        "archive"
    ]


def test_alias_to_closed_index_is_closed_when_closed_forbidden() -> None:
    # ES: an alias named explicitly resolves to all its indices; a closed one fails the
    # request unless ignore_unavailable skips it.
    with pytest.raises(IndexClosedError):
        names("old")
    assert names("old", IndicesOptions(ignore_unavailable=True)) == []
    assert names("old", IndicesOptions(forbid_closed=False)) == ["archive"]


def test_allow_no_indices_false() -> None:
    opts = IndicesOptions(allow_no_indices=False)
    with pytest.raises(IndexNotFoundError) as info:
        names("nomatch*", opts)
    assert info.value.reason == "no such index [nomatch*]"
    both = IndicesOptions(allow_no_indices=False, ignore_unavailable=True)
    with pytest.raises(IndexNotFoundError) as info:
        names("nope", both)
    assert info.value.reason == "no such index [nope]"
    with pytest.raises(IndexNotFoundError):
        names(None, both, cluster())


def test_empty_cluster() -> None:
    assert names("*", meta=cluster()) == []
    assert names(None, meta=cluster()) == []


# --- hidden and dot indices ---------------------------------------------------------------------


def test_hidden_and_dot_indices_need_to_be_asked_for() -> None:
    assert "secret" not in names("*")
    assert ".kibana" not in names("*")
    assert names("secret") == ["secret"]
    assert names(".kibana") == [".kibana"]
    assert names(".k*") == [".kibana"]
    assert names("sec*") == []


def test_expand_wildcards_hidden_and_all() -> None:
    hidden = IndicesOptions.from_params({"expand_wildcards": "open,hidden"})
    assert sorted(names("*", hidden)) == [".kibana", "logs-1", "logs-2", "metrics", "secret"]
    every = IndicesOptions.from_params({"expand_wildcards": "all"})
    assert sorted(names("*", every)) == [
        ".kibana",
        "archive",
        "logs-1",
        "logs-2",
        "metrics",
        "secret",
    ]
    none = IndicesOptions.from_params({"expand_wildcards": "none"})
    assert names("*", none) == []
    assert names("metrics", none) == ["metrics"]


def test_alias_to_hidden_index_by_name() -> None:
    assert names("sec") == ["secret"]


# --- aliases and filters ------------------------------------------------------------------------


def test_alias_without_filter() -> None:
    assert names("logs") == ["logs-1", "logs-2"]
    assert filters("logs") == {"logs-1": None, "logs-2": None}


def test_alias_with_filter() -> None:
    result = resolve(META, "red", DEFAULT)
    assert result == [
        Resolved(META.indices["logs-1"], (F_RED,)),
        Resolved(META.indices["metrics"], (F_RED,)),
    ]


def test_index_named_directly_drops_alias_filter() -> None:
    assert filters("red,metrics") == {"logs-1": (F_RED,), "metrics": None}
    assert filters("metrics,red") == {"metrics": None, "logs-1": (F_RED,)}


def test_two_filtered_aliases_on_one_index_collect_both_filters() -> None:
    meta = cluster(
        idx("a", aliases={"r": AliasMetadata("r", F_RED), "b": AliasMetadata("b", F_BLUE)})
    )
    assert [r.filters for r in resolve(meta, "r,b", DEFAULT)] == [(F_RED, F_BLUE)]


def test_unfiltered_alias_wins_over_filtered() -> None:
    assert filters("red,logs") == {"logs-1": None, "metrics": (F_RED,), "logs-2": None}
    assert filters("logs,red") == {"logs-1": None, "logs-2": None, "metrics": (F_RED,)}


def test_wildcard_over_alias_keeps_filter() -> None:
    assert filters("bl*") == {"logs-2": (F_BLUE,)}


# --- options from URL parameters ----------------------------------------------------------------


def test_options_defaults() -> None:
    opts = IndicesOptions.from_params({})
    assert opts == IndicesOptions()
    assert opts.expand_open and not opts.expand_closed and not opts.expand_hidden
    assert opts.allow_no_indices and not opts.ignore_unavailable


def test_options_flags() -> None:
    opts = IndicesOptions.from_params({"ignore_unavailable": "true", "allow_no_indices": "false"})
    assert opts.ignore_unavailable is True
    assert opts.allow_no_indices is False
    assert IndicesOptions.from_params({"ignore_unavailable": ""}).ignore_unavailable is True


def test_options_keep_the_given_default() -> None:
    base = IndicesOptions(ignore_unavailable=True, expand_closed=True, forbid_closed=False)
    assert IndicesOptions.from_params({}, default=base) == base
    opts = IndicesOptions.from_params({"expand_wildcards": "hidden"}, default=base)
    assert (opts.expand_open, opts.expand_closed, opts.expand_hidden) == (False, False, True)
    assert opts.ignore_unavailable is True
    assert opts.forbid_closed is False


def test_options_bad_flag() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        IndicesOptions.from_params({"ignore_unavailable": "yes"})
    assert info.value.reason == "Failed to parse value [yes] as only [true] or [false] are allowed."


def test_options_bad_expand_wildcards() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        IndicesOptions.from_params({"expand_wildcards": "open,foo"})
    assert info.value.reason == (
        "No enum constant org.elasticsearch.action.support.IndicesOptions.WildcardStates.FOO"
    )


# --- write index --------------------------------------------------------------------------------

NO_WRITE = (
    "no write index is defined for alias [{}]. The write index may be explicitly disabled using "
    "is_write_index=false or the alias points to multiple indices without one being designated "
    "as a write index"
)


def test_write_index_concrete_and_missing() -> None:
    assert write_index(META, "metrics") is META.indices["metrics"]
    assert write_index(META, "nope") is None


def test_write_index_single_index_alias() -> None:
    assert write_index(META, "blue") is META.indices["logs-2"]
    meta = cluster(idx("a", aliases={"w": AliasMetadata("w", is_write_index=True)}))
    assert write_index(meta, "w") is meta.indices["a"]


def test_write_index_disabled_on_single_index() -> None:
    meta = cluster(idx("a", aliases={"w": AliasMetadata("w", is_write_index=False)}))
    with pytest.raises(IllegalArgumentError) as info:
        write_index(meta, "w")
    assert info.value.reason == NO_WRITE.format("w")


def test_write_index_multi_index_alias() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        write_index(META, "logs")
    assert info.value.reason == NO_WRITE.format("logs")
    meta = cluster(
        idx("a", aliases={"w": AliasMetadata("w", is_write_index=False)}),
        idx("b", aliases={"w": AliasMetadata("w", is_write_index=True)}),
        idx("c", aliases={"w": AliasMetadata("w")}),
    )
    assert write_index(meta, "w") is meta.indices["b"]
