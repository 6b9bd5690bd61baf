"""Sniff mode's advertised addresses: a remote node that answers at the seed address but
advertises an address the local nodes cannot reach.  [no I/O]

In sniff mode (ES's ``SniffConnectionStrategy``) the connection to a seed only serves discovery:
the handshake and the node list. The connections that carry requests go to the addresses the
remote *advertises*: the seed node's publish address (from its handshake), the other gateways'
from the node list: ``transport.publish_host``/``publish_port`` in the certificate model,
``remote_cluster.publish_host``/``publish_port`` in the API-key model. A node behind NAT, in a
container or in Kubernetes often advertises an address only its own network reaches: the seed
works, every managed connection fails, the alias is not connected.

How the local cluster shows it, and how this module reads it:

* ES names the node in a connect error, ``[<node name>][<address>] connect_exception``, and a
  seed's node has no name yet (``[][address]``: only its address is known). A *named* node at an
  address that is none of the alias's seeds is an advertised address (``_resolve/cluster``'s
  ``error``, the test search's ``caused_by`` chain, Isthmus's live health).
* Isthmus's live health keeps one record per address: the seed with its last success, the
  advertised address with its last error.
* The remote's ``GET /_nodes``: the failing address is a node's publish address while the seed
  is one of its bound addresses.

Not this cause: an alias with ``cluster.remote.<alias>.proxy`` (sniff through a proxy: every
connection goes to the proxy) and proxy mode (the proxy address is all it dials).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.doctor.evidence import ISTHMUS_HEALTH
from isthmus.doctor.model import Confidence, Evidence, Finding, Fix, Side
from isthmus.doctor.rules_context import AliasContext, finding, health_time, text_evidence
from isthmus.doctor.rules_texts import REFUSED, TIMEOUT, UNREACHABLE

# ES's ConnectTransportException for a node it knows: ``[name][address] connect_exception``
# (or ``connect_timeout[30s]``); a seed node's name is empty.
NAMED_CONNECT = re.compile(
    r"\[(?P<node>[^\[\]]+)\]\[(?P<address>[^\[\]\s]+:\d+)\] "
    r"(?P<what>connect_exception|connect_timeout\[[^\]]*\])"
)
# Sniff mode's round that reached a seed, listed the nodes and opened no connection to any.
NO_MANAGED = re.compile(r"Unable to open any connections to remote cluster \[")
_HOW = ((REFUSED, "connection refused"), (TIMEOUT, "timed out"), (UNREACHABLE, "no route"))
_HEALTH_HOW = {
    "tcp_refused": "connection refused",
    "tcp_timeout": "timed out",
    "tcp_unreachable": "no route",
    "tcp_reset": "reset",
    "tcp_closed": "closed",
}


@dataclass(frozen=True)
class AdvertisedFailure:
    """An address a remote node advertises, failing from the local nodes."""

    address: str
    node: str | None  # the remote node that advertises it
    seed: str | None  # the seed that answered (else the alias's first seed)
    how: str  # "connection refused", "timed out", ... or "connect_exception"
    evidence: tuple[Evidence, ...]
    confidence: Confidence = Confidence.CERTAIN


def norm(address: str) -> str:
    """``host:port`` for comparison (``name/1.2.3.4:9300`` as ES prints it at times)."""
    address = address.strip()
    if "/" in address:
        address = address.split("/", 1)[1]
    return address.lower()


def applies(ctx: AliasContext) -> bool:
    """Sniff mode connecting where the remote advertises (no ``proxy`` setting)."""
    return ctx.mode == "sniff" and not ctx.settings.get("proxy")


def advertised_failure(ctx: AliasContext) -> AdvertisedFailure | None:
    """The advertised address the local cluster fails to reach, from its REST answers (error
    texts, the live health) and the remote's ``_nodes``; None when they do not show one."""
    if not applies(ctx):
        return None
    seeds = {norm(a) for a in ctx.addresses}
    found = _from_texts(ctx, seeds) or _from_health(ctx, seeds) or _from_remote_nodes(ctx, seeds)
    if found is None:
        return None
    more = _remote_confirms(ctx, found)
    return AdvertisedFailure(
        found.address,
        found.node or _node_publishing(ctx, found.address),
        found.seed or _answering_seed(ctx) or next(iter(ctx.addresses), None),
        found.how,
        tuple(dict.fromkeys((*found.evidence, *more))),
        found.confidence,
    )


def _how(ctx: AliasContext, address: str, default: str) -> str:
    for text in ctx.texts:
        for pattern, what in _HOW:
            if pattern.search(text.text):
                return what
    record = _health_nodes(ctx).get(norm(address)) or {}
    last = record.get("last_error") if isinstance(record, Mapping) else None
    if isinstance(last, Mapping):
        return _HEALTH_HOW.get(str(last.get("cause")), default)
    return default


def _from_texts(ctx: AliasContext, seeds: set[str]) -> AdvertisedFailure | None:
    for text in ctx.texts:
        m = NAMED_CONNECT.search(text.text)
        if m is None or norm(m["address"]) in seeds:
            continue
        what = m["what"] if m["what"] == "connect_exception" else "connect_timeout"
        return AdvertisedFailure(
            m["address"],
            m["node"],
            None,
            _how(ctx, m["address"], what),
            (text_evidence(text),),
        )
    return None


def _health_entry(ctx: AliasContext) -> Mapping[str, Any]:
    body = ctx.local.body(ISTHMUS_HEALTH)
    if not isinstance(body, Mapping) or not isinstance(body.get("remotes"), Mapping):
        return {}
    entry = body["remotes"].get(ctx.alias)
    return entry if isinstance(entry, Mapping) else {}


def _health_nodes(ctx: AliasContext) -> dict[str, Mapping[str, Any]]:
    nodes = _health_entry(ctx).get("nodes")
    if not isinstance(nodes, Mapping):
        return {}
    return {norm(str(a)): r for a, r in nodes.items() if isinstance(r, Mapping)}


def _answering_seed(ctx: AliasContext) -> str | None:
    """The seed the node last reached (its health record has a success)."""
    records = _health_nodes(ctx)
    for address in ctx.addresses:
        record = records.get(norm(address)) or {}
        if record.get("last_success"):
            return address
    return None


def _from_health(ctx: AliasContext, seeds: set[str]) -> AdvertisedFailure | None:
    """A failing record for an address that is no seed, while a seed's record succeeded."""
    if _health_entry(ctx).get("connected") is not False:
        return None
    records = _health_nodes(ctx)
    seed = _answering_seed(ctx)
    if seed is None:
        return None
    for address, record in records.items():
        last = record.get("last_error")
        if address in seeds or not isinstance(last, Mapping) or last.get("stage") != "tcp":
            continue
        success, when = health_time(record.get("last_success")), health_time(last.get("time"))
        if success is not None and (when is None or when <= success):
            continue  # reached since
        m = NAMED_CONNECT.search(str(last.get("message") or ""))
        source = f"local {ISTHMUS_HEALTH} remotes.{ctx.alias}.nodes"
        seed_record = records.get(norm(seed)) or {}
        return AdvertisedFailure(
            str(last.get("address") or address),
            (m["node"] if m else None) or record.get("node_name") or seed_record.get("node_name"),
            seed,
            _HEALTH_HOW.get(str(last.get("cause")), "connect failure"),
            (
                Evidence(
                    source,
                    f"[{address}]: last error {last.get('time')} (stage [tcp], cause "
                    f"[{last.get('cause')}]): {last.get('message')}; "
                    f"{record.get('consecutive_failures')} failure(s) in a row, never reached",
                ),
                Evidence(
                    source,
                    f"[{seed}] (the seed): last success {seed_record.get('last_success')}, "
                    f"node [{seed_record.get('node_name')}]",
                ),
            ),
        )
    return None


def _publish_table(ctx: AliasContext) -> dict[str, tuple[str, list[str]]]:
    """Remote node name -> (its publish address, its bound addresses) for the alias's model."""
    if ctx.remote is None:
        return {}
    out: dict[str, tuple[str, list[str]]] = {}
    for node in ctx.remote.nodes.values():
        if ctx.has_credentials:
            server = node.get("remote_cluster_server") or {}
            publish, bound = server.get("publish_address"), server.get("bound_address") or []
        else:
            transport = node.get("transport") or {}
            publish = node.get("transport_address") or transport.get("publish_address")
            bound = transport.get("bound_address") or []
        if publish:
            out[str(node.get("name"))] = (str(publish), [str(b) for b in bound])
    return out


def _node_publishing(ctx: AliasContext, address: str) -> str | None:
    for name, (publish, _) in _publish_table(ctx).items():
        if norm(publish) == norm(address):
            return name
    return None


def _remote_confirms(ctx: AliasContext, found: AdvertisedFailure) -> tuple[Evidence, ...]:
    """The remote's ``_nodes``: the failing address is a node's publish address."""
    for name, (publish, bound) in _publish_table(ctx).items():
        if norm(publish) == norm(found.address):
            return (
                Evidence(
                    "remote GET /_nodes",
                    f"[{name}] publishes {publish} (bound to {bound}): the address the local "
                    "nodes are told to use",
                ),
            )
    return ()


def _from_remote_nodes(ctx: AliasContext, seeds: set[str]) -> AdvertisedFailure | None:
    """Without an address in the local answers: the seed is a node's bound address and the
    node publishes another one, while the local cluster fails to connect."""
    if not any(p.search(t.text) for t in ctx.texts for p, _ in _HOW) and not any(
        "connect_exception" in t.text or NO_MANAGED.search(t.text) for t in ctx.texts
    ):
        return None
    if any(seed in norm(t.text) for t in ctx.texts for seed in seeds):
        return None  # the texts are about the seed itself: its own failure, not this one
    for name, (publish, bound) in _publish_table(ctx).items():
        if norm(publish) in seeds or not seeds & {norm(b) for b in bound}:
            continue
        return AdvertisedFailure(
            publish,
            name,
            next(a for a in ctx.addresses if norm(a) in {norm(b) for b in bound}),
            _how(ctx, publish, "connect failure"),
            tuple(text_evidence(t) for t in ctx.texts[:2]),
            Confidence.LIKELY,
        )
    return None


# --- the finding and its fix -------------------------------------------------------------------


def proxy_switch(alias: str, seed: str, settings: Mapping[str, Any]) -> str:
    """``PUT _cluster/settings`` turning the alias into proxy mode through ``seed``; the sniff
    settings it had are removed (ES refuses them beside ``mode: proxy``)."""
    body: dict[str, Any] = {
        f"cluster.remote.{alias}.mode": "proxy",
        f"cluster.remote.{alias}.proxy_address": seed,
        f"cluster.remote.{alias}.seeds": None,
    }
    for name in ("node_connections", "proxy"):
        if settings.get(name) is not None:
            body[f"cluster.remote.{alias}.{name}"] = None
    return "PUT /_cluster/settings " + json.dumps({"persistent": body})


def _prefixes(api_key: bool | None) -> str:
    if api_key is None:  # the model is not known (a log line does not say it)
        return "remote_cluster.* (API keys) or transport.* (certificates)"
    return "remote_cluster.*" if api_key else "transport.*"


def publish_step(api_key: bool | None, seed: str | None, node: str | None) -> str:
    """The remote-side fix: advertise an address the local nodes reach (the seed's, which
    they do reach, when it is known)."""
    prefix = "transport" if api_key is False else "remote_cluster"
    host, _, port = (seed or "").rpartition(":")
    where = f"remote node [{node}]" if node else "every remote node"
    if not host or not port.isdigit():
        host, port = "<an address the local nodes reach>", "<its port>"
    also = "" if api_key is not None else " (transport.publish_host/port with certificates)"
    return (
        f"{prefix}.publish_host: {host.strip('[]')}   # elasticsearch.yml on {where}, with "
        f"{prefix}.publish_port: {port}{also}: an address the local nodes reach (each node its "
        "own), then restart it"
    )


def advertised_fix(
    alias: str,
    *,
    api_key: bool | None,
    seed: str | None,
    node: str | None,
    settings: Mapping[str, Any] | None = None,
) -> Fix:
    """Both fixes: the proxy switch through the seed (a settings call the doctor can write out
    when it knows the seed), or, on the remote, publish settings the local nodes reach. A step
    starting with ``or, instead:`` is the alternative, not a step after the first."""
    summary = (
        f"switch [{alias}] to proxy mode through the seed address (one address for every "
        f"connection), or make the remote advertise an address the local nodes reach "
        f"({_prefixes(api_key)} publish_host / publish_port on the remote's nodes)"
    )
    if not seed:
        return Fix(summary, (publish_step(api_key, seed, node),), Side.REMOTE)
    switch = (
        proxy_switch(alias, seed, settings or {})
        + f"   # on the local cluster: every connection through the seed {seed}, which the "
        "local nodes reach"
    )
    return Fix(summary, (switch, "or, instead: " + publish_step(api_key, seed, node)), Side.LOCAL)


def advertised_finding(ctx: AliasContext, failure: AdvertisedFailure) -> Finding:
    node = f"remote node [{failure.node}]" if failure.node else "a remote node"
    return finding(
        "advertised_address_unreachable",
        f"[{ctx.alias}] (sniff mode) reaches its seed {failure.seed or list(ctx.addresses)}, "
        f"but {node} advertises {failure.address}, which the local nodes cannot reach "
        f"({failure.how}): sniff mode connects to the addresses the remote advertises, not to "
        "the seeds",
        nodes=(failure.node,) if failure.node else (),
        evidence=failure.evidence,
        confidence=failure.confidence,
        fix=advertised_fix(
            ctx.alias,
            api_key=ctx.has_credentials,
            seed=failure.seed,
            node=failure.node,
            settings=ctx.settings,
        ),
    )


__all__ = [
    "NAMED_CONNECT",
    "NO_MANAGED",
    "AdvertisedFailure",
    "advertised_failure",
    "advertised_finding",
    "advertised_fix",
    "applies",
    "proxy_switch",
    "publish_step",
]
