"""Raw `_source` bytes in responses: written verbatim, parsed only for code that walks them."""

from __future__ import annotations

import orjson
import pytest

from isthmus.http.app import RestApp
from isthmus.http.router import Response
from isthmus.rawjson import RawJson, expand


def test_written_verbatim_by_orjson() -> None:
    raw = b'{"n": 1.50, "s": "caf\\u00e9"}'  # not how orjson would write it
    out = orjson.dumps({"hits": [{"_source": RawJson(raw)}]}, default=lambda v: v.fragment())
    assert out == b'{"hits":[{"_source":' + raw + b"}]}"


def test_checked_refuses_bytes_that_do_not_parse() -> None:
    assert RawJson.checked(b"[1]") == [1]
    with pytest.raises(orjson.JSONDecodeError):
        RawJson.checked(b'{"a": ')


def test_expand_parses_every_raw_value_and_copies_only_what_changed() -> None:
    untouched = {"a": [1, 2]}
    body = {"x": untouched, "hits": [{"_source": RawJson(b'{"k": [1, {"v": null}]}')}]}
    out = expand(body)
    assert out == {"x": {"a": [1, 2]}, "hits": [{"_source": {"k": [1, {"v": None}]}}]}
    assert out["x"] is untouched  # no change, no copy
    assert isinstance(body["hits"][0]["_source"], RawJson)  # the input is left alone
    plain = {"a": {"b": [1]}}
    assert expand(plain) is plain


def test_equality_is_by_value() -> None:
    assert RawJson(b'{"a":1}') == RawJson(b'{ "a" : 1 }')
    assert RawJson(b'{"a":1}') == {"a": 1}
    assert RawJson(b"[1]") != RawJson(b"[2]")
    assert repr(RawJson(b"[1]")) == "RawJson(b'[1]')"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, b'{"_source":{"n": 1.50}}'),
        ({"pretty": "true"}, b'{\n  "_source" : {\n    "n" : 1.5\n  }\n}\n'),
        ({"filter_path": "_source.n"}, b'{"_source":{"n":1.5}}'),
        ({"format": "yaml"}, b"---\n_source:\n  n: 1.5\n"),
    ],
)
def test_rest_rendering(params: dict[str, str], expected: bytes) -> None:
    data, _ = RestApp._render(Response(200, {"_source": RawJson(b'{"n": 1.50}')}), params, None)
    assert data == expected


def test_a_remote_answer_with_broken_source_bytes_is_refused() -> None:
    # The coordinator writes a remote's source bytes into its own response: they are checked
    # first, so a broken remote cannot make the response invalid JSON.
    from isthmus.errors import IllegalArgumentError
    from isthmus.search.ccs_merge import ClusterPart
    from isthmus.search.ccs_wire import RemoteSearchResponse

    good = {"hits": [{"_index": "i", "_id": "1", "_score": 1.0, "_source": b'{"a": 1}'}]}
    part = ClusterPart("my", "i", skip_unavailable=False)
    part.accept(RemoteSearchResponse.from_payload(good, cluster="my"))
    assert part.hits[0]["_index"] == "my:i"
    assert part.hits[0]["_source"] == RawJson(b'{"a": 1}')
    bad = {"hits": [{"_index": "i", "_id": "1", "_score": 1.0, "_source": b'{"a": '}]}
    with pytest.raises(
        IllegalArgumentError, match=r"malformed search answer from remote cluster \[my\]"
    ):
        RemoteSearchResponse.from_payload(bad, cluster="my")
