"""Helpers shared by the REST API test modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError


def unique_index(prefix: str, request: pytest.FixtureRequest) -> str:
    """An index name unique to the test (the node is shared by the whole session)."""
    return prefix + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:80]


def api_error(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """Run a client call that must fail; return (HTTP status, error body)."""
    with pytest.raises(ApiError) as info:
        call()
    return info.value.meta.status, info.value.body


def elastic_password(home: Path) -> str:
    """The generated ``elastic`` password a secured node printed once on its first start."""
    text = (home / "stderr.log").read_text()
    line = next(li for li in text.splitlines() if "password for the [elastic] user" in li)
    return line.rsplit(" ", 1)[1]
