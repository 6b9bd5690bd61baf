"""What the local cluster's version changes in how its answers read.  [no I/O]

Elasticsearch changed remote-cluster behaviour between 8.x releases and 9.0 (sources in
``docs/doctor.md``, "Version differences"). The doctor reads the local version from ``GET /``
and states, as evidence on the configuration stage, which readings apply, so that a user (and a
test) sees why ``connected`` or ``skipped`` was not taken at face value.
"""

from __future__ import annotations

from isthmus.doctor.evidence import truthy
from isthmus.doctor.model import Evidence
from isthmus.doctor.rules_context import AliasContext

SKIP_UNAVAILABLE_DEFAULT_TRUE = (8, 15, 0)  # PR #105792
RESOLVE_CLUSTER = (8, 13, 0)  # PR #102726
RESOLVE_CLUSTER_SECURITY_DISCONNECTED = (8, 18, 0)  # PR #119793 (8.17.x patch, [mem])
RESOLVE_CLUSTER_TIMEOUT = (8, 18, 0)  # PR #119516/#121199 (8.16.x/8.17.x patches, [mem])
RCS1_DEPRECATED = (9, 0, 0)


def skip_unavailable(ctx: AliasContext) -> bool:
    """The alias's effective skip_unavailable: its setting, else the version's default."""
    info = ctx.info or {}
    if "skip_unavailable" in info:
        return truthy(info["skip_unavailable"])
    if "skip_unavailable" in ctx.settings:
        return truthy(ctx.settings["skip_unavailable"])
    version = ctx.local_version
    return version is not None and version >= SKIP_UNAVAILABLE_DEFAULT_TRUE


def supports_resolve_timeout(version: tuple[int, int, int] | None) -> bool:
    return version is not None and version >= RESOLVE_CLUSTER_TIMEOUT


def version_notes(ctx: AliasContext) -> list[Evidence]:
    version = ctx.local_version
    source = "local GET / (version)"
    if version is None:
        return [Evidence(source, "unknown: the version-dependent readings below are not applied")]
    shown = ".".join(map(str, version))
    notes: list[Evidence] = []
    if skip_unavailable(ctx):
        notes.append(
            Evidence(
                source,
                f"{shown}: skip_unavailable is true for [{ctx.alias}]"
                + (" (the default since 8.15)" if "skip_unavailable" not in ctx.settings else "")
                + "; a failure shows as 'skipped' with a generic reason, never as the cause",
            )
        )
    if version < RESOLVE_CLUSTER:
        notes.append(Evidence(source, f"{shown}: no _resolve/cluster before 8.13"))
    elif version < RESOLVE_CLUSTER_SECURITY_DISCONNECTED:
        notes.append(
            Evidence(
                source,
                f"{shown}: _resolve/cluster reports security errors with connected:true before "
                "8.17.x/8.18, and hides 'Unable to open any connections' errors",
            )
        )
    if version >= RCS1_DEPRECATED and not ctx.has_credentials:
        notes.append(
            Evidence(source, f"{shown}: the certificate model (no credentials) is deprecated")
        )
    return notes
