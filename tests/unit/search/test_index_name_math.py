"""Date math in index names (ES's DateMathExpressionResolver rules and texts)."""

from __future__ import annotations

import pytest

from isthmus.errors import ElasticsearchParseError
from isthmus.search.index_name_math import resolve_index_expression, resolve_name

NOW = 1709640000000  # 2024-03-05T12:00:00Z


@pytest.mark.parametrize(
    ("expression", "name"),
    [
        ("plain", "plain"),
        ("<logs-{now/d}>", "logs-2024.03.05"),
        ("<logs-{now/M{yyyy.MM}}>", "logs-2024.03"),
        ("<logs-{now/d-1d}>", "logs-2024.03.04"),
        ("<logs-{now/d{yyyy.MM.dd|+12:00}}>", "logs-2024.03.06"),
        ("<logs-{now/d{yyyy.MM.dd|Asia/Tokyo}}>", "logs-2024.03.05"),
        ("<a\\{b\\}-{now/d}>", "a{b}-2024.03.05"),
        ("<static>", "static"),
    ],
)
def test_resolve_name(expression: str, name: str) -> None:
    assert resolve_name(expression, NOW) == name


def test_expression_lists_and_exclusions() -> None:
    assert resolve_index_expression("a,<l-{now/d}>,-<l-{now/d-1d}>", NOW) == (
        "a,l-2024.03.05,-l-2024.03.04"
    )


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        (
            "<logs-{now/d>",
            "invalid dynamic name expression [logs-{now/d>]. date math placeholder is open ended",
        ),
        ("<{now/d{}}>", "invalid dynamic name expression [now/d{}]. missing date format"),
        (
            "<{now/d{yyyy}x}>",
            "invalid dynamic name expression [now/d{yyyy}x]. missing closing `}` for date math "
            "format",
        ),
        (
            "<{now{a{b}}}>",
            "invalid dynamic name expression [{now{a{b}}}>]. invalid character in placeholder "
            "at position [7]",
        ),
        ("<>", "nothing captured"),
    ],
)
def test_errors(expression: str, reason: str) -> None:
    with pytest.raises(ElasticsearchParseError) as info:
        resolve_name(expression, NOW)
    assert info.value.reason == reason
