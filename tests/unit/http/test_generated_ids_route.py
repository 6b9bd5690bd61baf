"""Ids the node generates are URL-safe base64 and may start with ``_`` (1 in 64 of them): the
routes that take them back must accept such a segment (a task id is ``<node id>:<n>``)."""

from __future__ import annotations

import pytest

from isthmus.http.router import Router
from isthmus.testing.routes import route_table


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("GET", "/_tasks/_qgtNAKzTge8enNWBK58fw:3", "cluster:monitor/task/get"),
        ("POST", "/_tasks/_qgtNAKzTge8enNWBK58fw:3/_cancel", "cluster:admin/tasks/cancel"),
        ("GET", "/_async_search/_Abc123", ""),
        ("GET", "/_async_search/status/_Abc123", ""),
        ("DELETE", "/_async_search/_Abc123", ""),
        ("GET", "/_search/scroll/_Abc123", "indices:data/read/scroll"),
        ("DELETE", "/_search/scroll/_Abc123", "indices:data/read/scroll/clear"),
        # API key ids: CI once drew '_x2QTn9dRjgj0rxf1DXq' and the update answered 'no handler'.
        (
            "PUT",
            "/_security/cross_cluster/api_key/_x2QTn9dRjgj0rxf1DXq",
            "cluster:admin/xpack/security/cross_cluster/api_key/update",
        ),
        (
            "PUT",
            "/_security/api_key/_x2QTn9dRjgj0rxf1DXq",
            "cluster:admin/xpack/security/api_key/update",
        ),
        ("GET", "/logs/_doc/_generated", "indices:data/read/get"),
    ],
)
def test_ids_starting_with_an_underscore_reach_their_route(
    method: str, path: str, action: str
) -> None:
    router = Router(route_table())
    route, params = router.resolve(method, path)
    assert route.action == action
    assert any(v.startswith("_") for v in params.values()), params
