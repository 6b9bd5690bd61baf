"""The doctor reads each node of a local cluster of several (issue 20): the node whose own
``_remote/info`` shows no credential for the alias while the others use one is named, with the
guide's fix ("on every node of the local cluster")."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from isthmus.doctor import evidence as ev
from isthmus.doctor.evidence import ApiResult, SideEvidence

from .rest_evidence import ALIAS, first, local, verdict

SEARCH_OK = ApiResult(200, {"_clusters": {"details": {ALIAS: {"status": "successful"}}}})


def _two_nodes(second_has_credentials: bool, second_roles: list[str] | None = None) -> SideEvidence:
    base = local(search=SEARCH_OK, connected=True)
    roles = ["data", "master", "remote_cluster_client"]
    nodes = {
        "n1": {"name": "local-node", "roles": roles},
        "n2": {"name": "local-node-2", "roles": second_roles or roles},
    }
    own = base.body(ev.REMOTE_INFO)
    second: dict[str, Any] = copy.deepcopy(own)
    if not second_has_credentials:
        del second[ALIAS]["cluster_credentials"]
        second[ALIAS]["connected"] = False
    calls = {
        **base.calls,
        ev.NODES: ApiResult(200, {"nodes": nodes}),
        ev.node_remote_info_key("local-node"): ApiResult(200, own),
        ev.node_remote_info_key("local-node-2"): ApiResult(200, second),
    }
    return replace(base, calls=calls)


def test_the_node_without_the_credential_is_named() -> None:
    v = verdict(_two_nodes(False))
    assert first(v) == ("configuration", "credentials_missing_on_nodes", "local", "certain")
    finding = v.findings[0]
    assert finding.nodes == ("local-node-2",)
    assert finding.fix is not None
    assert "on every node of the local cluster" in finding.fix.summary
    assert any("reload_secure_settings" in step for step in finding.fix.steps)
    sources = [e.source for e in finding.evidence]
    assert sources == [
        "local GET /_remote/info on [local-node]",
        "local GET /_remote/info on [local-node-2]",
    ]


def test_every_node_with_the_credential_is_no_finding() -> None:
    v = verdict(_two_nodes(True))
    assert [f.cause for f in v.findings if f.cause == "credentials_missing_on_nodes"] == []


def test_a_node_without_the_client_role_is_not_blamed_for_its_credential() -> None:
    # Without remote_cluster_client a node has no remote connections at all: its _remote/info
    # says nothing of credentials (the role's own warning names it).
    v = verdict(_two_nodes(False, ["data", "master"]))
    assert all(f.cause != "credentials_missing_on_nodes" for f in v.findings)
    assert [w.cause for w in v.warnings] == ["no_remote_cluster_client_role"]
