"""The security model of a remote cluster alias, and the connector each model needs.

ES has two models, chosen per alias by the local keystore:

- **certificate** (no ``cluster.remote.<alias>.credentials``): the remote's transport port, this
  node's transport TLS (mutual TLS), the transport handshake and ``cluster:monitor/state`` for
  node discovery; each request carries the caller's identity (name, roles, realm), and the
  remote authorizes it with its own roles of the same names.
- **API key** (the credential is in the keystore): the remote cluster server port (profile
  ``_remote_cluster``), the ``xpack.security.remote_cluster_client.ssl`` TLS, the remote cluster
  handshake and ``cluster:internal/remote_cluster/nodes``; each request carries the credential and
  the caller's subject info (their ``remote_indices`` for the alias), and the remote grants the
  key's access ∩ that.

:class:`RemoteSecurity` is the one place that decides an alias's model and builds its
:class:`Connector`. The credential is read when each request is sent, so a reloaded key applies
at once; a reload that adds or removes a credential changes the model, which the remote cluster
service turns into a rebuild of that alias's connections.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from isthmus.errors import IllegalArgumentError
from isthmus.remote.connector import Connector, RequestHeaders
from isthmus.remote.model_kind import SecurityModel as SecurityModel  # re-exported
from isthmus.tasks import parent_header
from isthmus.transport.local import LocalNode
from isthmus.wire.names import (
    CLUSTER_STATE_ACTION,
    DEFAULT_PROFILE,
    HANDSHAKE_ACTION,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOTE_CLUSTER_NODES_ACTION,
    REMOTE_CLUSTER_PROFILE,
)

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.remote import RemoteClusterConfig, TransportTuning
    from isthmus.settings.secret import Secret


class ConnectorFactory(Protocol):
    """What the remote cluster service needs to know about security: an alias's model now, and
    a connector for a configuration under a model."""

    def model_of(self, alias: str) -> SecurityModel: ...

    def connector(self, config: RemoteClusterConfig, model: SecurityModel) -> Connector: ...


@dataclass(frozen=True)
class ClientTls:
    """One client TLS configuration: its context (None: plaintext) and, read on first use, what
    it trusts (for the diagnosis of a failed handshake)."""

    context: ssl.SSLContext | None
    trust: Callable[[], TrustInfo | None]

    @staticmethod
    def plaintext() -> ClientTls:
        return ClientTls(None, lambda: None)

    @staticmethod
    def of(context: ssl.SSLContext | None, trust: Callable[[], TrustInfo | None]) -> ClientTls:
        """``trust`` is computed at most once, and only when a context exists."""
        if context is None:
            return ClientTls.plaintext()
        return ClientTls(context, functools.cache(trust))


class RemoteSecurity:
    """This node's remote-cluster security: picks each alias's model from the keystore and
    builds the matching connector."""

    def __init__(
        self,
        *,
        identity: Callable[[], LocalNode],
        tuning: TransportTuning,
        transport_tls: ClientTls,
        remote_cluster_client_tls: ClientTls,
        credential: Callable[[str], Secret | None],
    ) -> None:
        self._identity = identity
        self._tuning = tuning
        self._transport_tls = transport_tls
        self._client_tls = remote_cluster_client_tls
        self._credential = credential

    def credential(self, alias: str) -> Secret | None:
        return self._credential(f"cluster.remote.{alias}.credentials")

    def model_of(self, alias: str) -> SecurityModel:
        if self.credential(alias) is not None:
            return SecurityModel.API_KEY
        return SecurityModel.CERTIFICATE

    def connector(self, config: RemoteClusterConfig, model: SecurityModel) -> Connector:
        tls, profile, handshake, nodes, headers = (
            (
                self._transport_tls,
                DEFAULT_PROFILE,
                HANDSHAKE_ACTION,
                CLUSTER_STATE_ACTION,
                certificate_headers,
            )
            if model is SecurityModel.CERTIFICATE
            else (
                self._client_tls,
                REMOTE_CLUSTER_PROFILE,
                REMOTE_CLUSTER_HANDSHAKE_ACTION,
                REMOTE_CLUSTER_NODES_ACTION,
                self._api_key_headers(config.alias),
            )
        )
        return Connector(
            identity=self._identity,
            ssl_context=tls.context,
            trust=tls.trust(),
            tcp=self._tuning.tcp,
            connect_timeout=self._tuning.connect_timeout.seconds,
            profile=profile,
            handshake_action=handshake,
            nodes_action=nodes,
            headers=headers,
            compression=(config.compress, config.compression_scheme),
        )

    def _api_key_headers(self, alias: str) -> RequestHeaders:
        """The API-key model's headers for ``alias``: the credential as the keystore holds it
        now, and who the caller is and what their ``remote_indices`` allow on ``alias``
        (handshakes, node discovery and ``cluster:monitor/state`` travel as the cross-cluster
        system user)."""

        def headers(subject: Subject | None, action: str) -> dict[str, str]:
            from isthmus.security.cross_cluster_access import (
                SYSTEM_SUBJECT_INFO,
                outbound_headers,
                subject_info,
            )

            secret = self.credential(alias)
            if secret is None:
                raise IllegalArgumentError(
                    f"remote cluster [{alias}] has no credentials any more; its connection is "
                    "being rebuilt for the certificate-based model"
                )
            if subject is None or action == CLUSTER_STATE_ACTION:
                info = SYSTEM_SUBJECT_INFO
            else:
                info = subject_info(subject, alias, action)
            return {**outbound_headers(secret, info), **parent_header()}

        return headers

    def __repr__(self) -> str:
        tls = "tls" if self._transport_tls.context is not None else "plain"
        return f"<RemoteSecurity transport={tls}>"


def certificate_headers(subject: Subject | None, action: str) -> dict[str, str]:
    """The certificate model's headers: the caller's identity for the remote to authorize with
    its same-named roles (internal requests run as the system), and the parent task."""
    from isthmus.security.transport_filter import SYSTEM, TransportIdentity

    if subject is None:
        return {**SYSTEM.header(), **parent_header()}
    identity = TransportIdentity(subject.username, subject.role_names, subject.realm)
    return {**identity.header(), **parent_header()}


class SingleModel:
    """Every alias under one model with one connector factory (security off, and tests)."""

    def __init__(
        self,
        connector_for: Callable[[RemoteClusterConfig], Connector],
        model: SecurityModel = SecurityModel.CERTIFICATE,
    ) -> None:
        self._connector_for = connector_for
        self._model = model

    def model_of(self, alias: str) -> SecurityModel:
        return self._model

    def connector(self, config: RemoteClusterConfig, model: SecurityModel) -> Connector:
        return self._connector_for(config)
