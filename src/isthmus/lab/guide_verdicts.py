"""What ``isthmus doctor`` should conclude for each of the guide's scenarios
(:mod:`isthmus.lab.guide_scenarios`), at each evidence level: the :class:`DoctorVerdict` that
:func:`isthmus.lab.scenarios.scenarios` attaches to the scenario of the same name.
"""

from __future__ import annotations

from dataclasses import replace

from isthmus.doctor.model import Side, Stage
from isthmus.lab.scenario_model import ADDRESS, DoctorVerdict, EvidenceLevel

_LOCAL, _REMOTE = ("local-node",), ("remote-node",)
_L = EvidenceLevel
_PORT = DoctorVerdict.of("transport_port_with_credentials", nodes=_LOCAL)
# A trust failure on the local side says which CA it lacks, not whether the address is the
# right port (whose certificate would come from another CA): the remote's _nodes or its log
# (the profile that refused) decide.
_PORT_OR_CA_UNDECIDED = DoctorVerdict.undecided(
    "tls_untrusted_ca",
    ("tls_untrusted_ca", "transport_port_with_credentials"),
    stage=Stage.PROTOCOL,
    side=Side.LOCAL,
    nodes=_LOCAL,
)
_NO_KEY = DoctorVerdict.of("remote_cluster_port_without_credentials", nodes=_LOCAL)
# Without a key in use, the local transport TLS fails against the remote cluster server; from
# its REST APIs alone the local cluster cannot tell a missing key (or one added to the keystore
# and not reloaded) from a CA its transport TLS lacks.
_NO_KEY_OR_CA = DoctorVerdict.undecided(
    "remote_cluster_port_without_credentials",
    ("credentials_not_reloaded", "remote_cluster_port_without_credentials", "tls_untrusted_ca"),
    stage=Stage.PROTOCOL,
    side=Side.LOCAL,
    nodes=_LOCAL,
)
_NO_KEY_OR_CA_FILES = replace(
    _NO_KEY_OR_CA, candidates=("remote_cluster_port_without_credentials", "tls_untrusted_ca")
)
_NO_REMOTE_INDICES = DoctorVerdict.of("user_lacks_remote_indices", nodes=_LOCAL)
# Connections cut now and then: at the moment of the check the alias works, so with the local
# REST APIs alone (the node's live health) it is a yellow warning; the logs make it a finding.
_UNRELIABLE = DoctorVerdict.of("connection_unreliable", nodes=_LOCAL).until(
    _L.LOCAL_FILES, DoctorVerdict.of("connection_unreliable", nodes=_LOCAL).as_warning()
)
# The guide's scenarios' verdicts. The five transport-port symptoms and the two without a key
# share their root cause, found at the protocol stage before the errors they lead to.
GUIDE_VERDICTS: dict[str, DoctorVerdict] = {
    "server-disabled": DoctorVerdict.of("remote_cluster_server_disabled", nodes=_REMOTE).until(
        _L.REMOTE, DoctorVerdict.of("tcp_refused", nodes=(ADDRESS,))
    ),
    # Refused at an address the remote does not publish: the alias's address is wrong (only the
    # remote's _nodes shows it; before, a refused address is the remote's, not listening).
    "wrong-port": DoctorVerdict.of("tcp_refused", side=Side.LOCAL, nodes=_LOCAL).until(
        _L.REMOTE, DoctorVerdict.of("tcp_refused", nodes=(ADDRESS,))
    ),
    "untrusted-ca": DoctorVerdict.of("tls_untrusted_ca", nodes=_LOCAL).until(
        _L.REMOTE, _PORT_OR_CA_UNDECIDED
    ),
    "transport-port-different-ca": _PORT.until(_L.REMOTE, _PORT_OR_CA_UNDECIDED),
    # A server that wants a client certificate is a transport port, or a remote cluster server
    # configured so: the remote's _nodes or its log (the profile) tell.
    "transport-port-shared-ca": _PORT.until(
        _L.REMOTE,
        DoctorVerdict.undecided(
            "transport_port_with_credentials",
            ("tls_client_certificate_required", "transport_port_with_credentials"),
            side=Side.LOCAL,
            nodes=_LOCAL,
        ),
    ),
    "transport-port-client-cert": _PORT,
    "transport-port-anonymous": _PORT,
    "transport-port-anonymous-superuser": _PORT,
    # The keystore without the key rules out the forgotten reload; the probe sees the remote
    # cluster server where the transport TLS expected a transport port.
    "no-credentials": _NO_KEY.until(_L.PROBE, _NO_KEY_OR_CA_FILES).until(
        _L.LOCAL_FILES, _NO_KEY_OR_CA
    ),
    "no-credentials-trusted": _NO_KEY,
    "rest-key": DoctorVerdict.of("api_key_wrong_type", nodes=_LOCAL),
    "invalid-key": DoctorVerdict.of("api_key_invalid", nodes=_LOCAL),
    "invalidated-key": DoctorVerdict.of("api_key_invalidated", nodes=_REMOTE).addressed(),
    "expired-key": DoctorVerdict.of("api_key_expired", nodes=_REMOTE).addressed(),
    "insufficient-privileges": DoctorVerdict.of("key_access_excludes", nodes=_REMOTE).addressed(),
    "insufficient-user-privileges": _NO_REMOTE_INDICES,
    "no-remote-indices": _NO_REMOTE_INDICES,
    # A user without any role may not read GET / or _nodes: with the local REST APIs alone the
    # doctor cannot name the node (its config directory gives node.name).
    "no-remote-indices-role-missing": _NO_REMOTE_INDICES.until(
        _L.LOCAL_FILES, DoctorVerdict.of("user_lacks_remote_indices")
    ),
    "unreliable-connection": _UNRELIABLE,
    # The connect error names the remote node at an address that is no seed: every level sees it.
    "sniff-unreachable-publish-address": DoctorVerdict.of(
        "advertised_address_unreachable", nodes=_REMOTE
    ),
}


__all__ = ["GUIDE_VERDICTS"]
