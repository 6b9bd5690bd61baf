"""Security at node start: the security store and service, the anonymous user, and the
``elastic`` user's first password.

As ES's auto-configuration does, a node that starts with security on and no ``elastic`` password
generates one and prints it once on the console (never in the log); ``bootstrap.password`` from
the keystore sets it instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from isthmus.installation import isthmus_command
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.service import AnonymousConfig, SecurityService
from isthmus.security.store import SecurityStore

if TYPE_CHECKING:
    from isthmus.settings.node import NodeSettings
    from isthmus.settings.secret import Secret
    from isthmus.transport.server import RequestFilter

log = logging.getLogger("org.elasticsearch.node.Node")


@dataclass(frozen=True)
class NodeSecurity:
    """The security service and the two transport request filters built on it: the
    certificate model's on the transport port, the API-key model's on the remote cluster
    server."""

    service: SecurityService
    store: SecurityStore  # closed by the node, after everything that uses the service

    @property
    def transport_filter(self) -> RequestFilter[Subject]:
        from isthmus.security.transport_filter import TransportFilter

        return TransportFilter(self.service, Authorizer()).check

    @property
    def cross_cluster_filter(self) -> RequestFilter[Subject]:
        from isthmus.security.cross_cluster_access import CrossClusterAccessFilter

        return CrossClusterAccessFilter(self.service, Authorizer()).check


def start_security(
    settings: NodeSettings,
    state_dir: Path,
    clock: Callable[[], float],
    bootstrap_password: Secret | None,
) -> NodeSecurity:
    """The security service over its store in ``state_dir`` (the caller closes the store)."""
    roles = tuple(settings.get("xpack.security.authc.anonymous.roles"))
    anonymous = None
    if roles:
        username = settings.get("xpack.security.authc.anonymous.username")
        anonymous = AnonymousConfig(str(username), roles)
    store = SecurityStore(state_dir)
    try:
        service = SecurityService(store, anonymous=anonymous, clock=clock)
        generated = service.ensure_elastic(
            bootstrap_password.reveal() if bootstrap_password is not None else None
        )
    except BaseException:
        store.close()
        raise
    if generated is not None:
        print(
            f"\nIsthmus security: password for the [elastic] user (shown only once): "
            f"{generated}\nReset it with: {isthmus_command()} reset-password -u elastic\n",
            file=sys.stderr,
            flush=True,
        )
        log.info("generated a password for the [elastic] user (printed on the console once)")
    return NodeSecurity(service, store)
