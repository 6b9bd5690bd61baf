"""``Secret``: every printable form is redacted; comparison is by value, in constant time."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.settings import secret as secret_module
from isthmus.settings.secret import REDACTED, Secret


def test_redacted_constant() -> None:
    assert REDACTED == "::es_redacted::"


def test_printable_forms_are_redacted() -> None:
    s = Secret("hunter2")
    assert repr(s) == "::es_redacted::"
    assert str(s) == "::es_redacted::"
    assert f"{s}" == "::es_redacted::"
    assert f"{s!r}" == "::es_redacted::"
    assert f"{s:>30}" == "::es_redacted::"
    assert format(s, "s") == "::es_redacted::"
    assert "%s" % s == "::es_redacted::"  # noqa: UP031 - logging formats this way
    assert repr([s]) == "[::es_redacted::]"
    assert repr({"password": s}) == "{'password': ::es_redacted::}"


def test_reveal() -> None:
    assert Secret("hunter2").reveal() == "hunter2"


def test_no_dict_to_leak_through() -> None:
    s = Secret("hunter2")
    assert not hasattr(s, "__dict__")
    assert "hunter2" not in str(vars(type(s)))


def test_logging_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("isthmus.test.secret").info("password is %s", Secret("hunter2"))
    assert "hunter2" not in caplog.text
    assert "password is ::es_redacted::" in caplog.text


def test_not_picklable() -> None:
    with pytest.raises(TypeError, match="secrets are not picklable"):
        pickle.dumps(Secret("hunter2"))
    with pytest.raises(TypeError):
        copy.deepcopy(Secret("hunter2"))


def test_equals() -> None:
    s = Secret("hunter2")
    assert s.equals("hunter2")
    assert not s.equals("hunter3")
    assert not s.equals("")
    assert not s.equals("hunter22")
    assert Secret("").equals("")
    assert Secret("pässwörd").equals("pässwörd")


def test_equals_uses_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def fake(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(secret_module.hmac, "compare_digest", fake)
    assert Secret("abc").equals("abc")
    assert calls == [(b"abc", b"abc")]


def test_dunder_eq_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("b"))
    assert len({Secret("a"), Secret("a")}) == 1


@given(st.text(), st.text())
def test_equals_matches_string_equality(a: str, b: str) -> None:
    assert Secret(a).equals(b) is (a == b)
    assert (Secret(a) == Secret(b)) is (a == b)
