"""Recorded evidence for the doctor's REST rules: ES's documented responses and the guide's texts
(tests/fixtures/doctor/rest/), assembled into the :class:`SideEvidence` a live run would give."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from isthmus.doctor import evidence as ev
from isthmus.doctor.engine import diagnose
from isthmus.doctor.evidence import ApiResult, ConfigEvidence, SideEvidence
from isthmus.doctor.model import AliasVerdict, Report

FIXTURES = Path(__file__).parents[2] / "fixtures" / "doctor" / "rest"
TEXTS: dict[str, str] = orjson.loads((FIXTURES / "guide_texts.json").read_bytes())
ES: dict[str, Any] = orjson.loads((FIXTURES / "es_responses.json").read_bytes())
NOW = datetime(2023, 6, 28, 13, 30, tzinfo=UTC)
ALIAS = "my"
INDEX = "logs"
ADDRESS = "192.168.0.42:9443"
TRANSPORT = "192.168.0.42:9300"


def es(name: str) -> Any:
    return copy.deepcopy(ES[name])


def search_error(*reasons: str, status: int = 500, outer: str | None = None) -> ApiResult:
    """A search error body as ES nests it: the outer exception, then the causes in order."""
    chain: dict[str, Any] | None = None
    for reason in reversed(reasons):
        node: dict[str, Any] = {"type": "exception", "reason": reason}
        if chain is not None:
            node["caused_by"] = chain
        chain = node
    top = {
        "type": "no_seed_node_left_exception",
        "reason": outer or TEXTS["proxy_connect_failure"],
        "root_cause": [{"type": "exception", "reason": reasons[-1]}] if reasons else [],
    }
    if chain is not None:
        top["caused_by"] = chain
    return ApiResult(status, {"error": top, "status": status})


def local(
    *,
    search: ApiResult | None = None,
    credentials: bool = True,
    connected: bool = False,
    version: str = "root_9_1",
    privileges: str = "privileges_foo_all",
    resolve: dict[str, Any] | None = None,
    address: str = ADDRESS,
    configs: tuple[ConfigEvidence, ...] = (),
    skip_unavailable: Any = False,
) -> SideEvidence:
    info = es("remote_info_proxy_disconnected")
    info[ALIAS]["connected"] = connected
    info[ALIAS]["proxy_address"] = address
    if skip_unavailable is None:
        del info[ALIAS]["skip_unavailable"]
    else:
        info[ALIAS]["skip_unavailable"] = skip_unavailable
    if not credentials:
        del info[ALIAS]["cluster_credentials"]
    calls = {
        ev.ROOT: ApiResult(200, es(version)),
        ev.REMOTE_INFO: ApiResult(200, info),
        ev.NODES: ApiResult(
            200,
            {
                "nodes": {
                    "n1": {
                        "name": "local-node",
                        "roles": ["data", "master", "remote_cluster_client"],
                    }
                }
            },
        ),
        ev.AUTHENTICATE: ApiResult(200, es("authenticate_foo")),
        ev.PRIVILEGES: ApiResult(200, es(privileges)),
        ev.resolve_key(ALIAS, INDEX): ApiResult(
            200,
            resolve
            if resolve is not None
            else {
                ALIAS: {
                    "connected": connected,
                    "skip_unavailable": False,
                    "error": TEXTS["proxy_connect_failure"],
                }
            },
        ),
    }
    if search is not None:
        calls[ev.search_key(ALIAS, INDEX)] = search
    return SideEvidence("http://local:9200", calls, configs)


def remote(
    *,
    rcs: str | None = ADDRESS,
    transport: str = TRANSPORT,
    keys: Any = None,
    indices: list[str] | None = None,
) -> SideEvidence:
    node: dict[str, Any] = {
        "name": "remote-node",
        "roles": ["data"],
        "transport_address": transport,
    }
    if rcs is not None:
        node["remote_cluster_server"] = {"bound_address": [rcs], "publish_address": rcs}
    calls = {
        ev.ROOT: ApiResult(200, {"cluster_name": "remote", "version": {"number": "9.1.0"}}),
        ev.NODES: ApiResult(200, {"nodes": {"r1": node}}),
        ev.API_KEYS: ApiResult(200, keys if keys is not None else es("api_key_cross_cluster")),
    }
    if indices is not None:
        calls[ev.resolve_index_key(INDEX)] = ApiResult(
            200, {"indices": [{"name": i} for i in indices], "aliases": [], "data_streams": []}
        )
    return SideEvidence("http://remote:9200", calls)


def verdict(loc: SideEvidence, rem: SideEvidence | None = None, **kw: Any) -> AliasVerdict:
    return report(loc, rem, **kw).aliases[0]


def report(loc: SideEvidence, rem: SideEvidence | None = None, **kw: Any) -> Report:
    return diagnose(loc, rem, aliases=(ALIAS,), index=INDEX, now=NOW, **kw)


def first(v: AliasVerdict) -> tuple[str, str, str, str]:
    """(stage, cause, side, confidence) of the verdict's finding."""
    (f,) = v.findings
    return f.stage.value, f.cause, f.side.value, f.confidence.value
