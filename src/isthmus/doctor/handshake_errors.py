"""What the remote's answer to a handshake means: a cause code for each error it can send.  [no I/O]

The probe's handshake (the transport handshake, or the API-key model's remote cluster handshake
with the credential headers) either succeeds or comes back as an error: an Elasticsearch error
``type`` with its ``reason`` (and the ``additional_unsuccessful_credentials`` reason ES attaches
to API key failures), or a connection that closed or timed out. :func:`classify` maps it to a
stage and a cause: by the error type first, then by the stable fragments of ES's messages
(quoted in the guide and in ES's tests; ``shared/reference/remote-clusters.md`` 6.6). A message
we do not know is never forced into a cause: it is undecided, with the text as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.doctor.model import Confidence, Stage


@dataclass(frozen=True)
class RemoteFailure:
    """An error as it came back (the remote's words; never a credential)."""

    es_type: str
    reason: str
    unsuccessful: str = ""  # ES's additional_unsuccessful_credentials, when present
    caused_by: tuple[str, ...] = ()  # the reasons of the nested causes, outermost first

    @property
    def text(self) -> str:
        return " / ".join((self.reason, self.unsuccessful, *self.caused_by)).lower()


@dataclass(frozen=True)
class Diagnosis:
    stage: Stage
    cause: str | None  # None: undecided (see candidates)
    confidence: Confidence
    candidates: tuple[str, ...] = ()


_PROFILE = "requires channel profile to be [_remote_cluster]"
_NO_CREDENTIALS = "require transport header [_cross_cluster_access_credentials]"

# Authentication (security_exception, 401): ES's fragments, most specific first. The wrapper
# "unable to authenticate user [<id>] for action [...]" carries the real reason in
# additional_unsuccessful_credentials ("API key: <reason>").
_AUTHENTICATION: tuple[tuple[str, str], ...] = (
    ("expected api key type of [cross_cluster]", "api_key_wrong_type"),
    ("is not a cross_cluster api key", "api_key_wrong_type"),
    ("unable to find apikey", "api_key_unknown"),
    ("api key has been invalidated", "api_key_invalidated"),
    ("api key is expired", "api_key_expired"),
    ("invalid cross-cluster api key value", "api_key_invalid"),
    ("must be a valid api key credential", "api_key_invalid"),
    ("failed to extract credentials from headers", "api_key_invalid"),
    ("invalid apikey value", "api_key_invalid"),
    ("invalid credentials", "api_key_invalid"),
)


def classify(failure: RemoteFailure, *, api_key_model: bool) -> Diagnosis:
    """The stage and cause of a handshake answered with ``failure``."""
    text = failure.text
    if _PROFILE.lower() in text:
        return Diagnosis(Stage.HANDSHAKE, "handshake_wrong_profile", Confidence.CERTAIN)
    if _NO_CREDENTIALS.lower() in text:
        if api_key_model:
            return Diagnosis(Stage.AUTHENTICATION, "credentials_missing", Confidence.CERTAIN)
        return Diagnosis(
            Stage.PROTOCOL, "remote_cluster_port_without_credentials", Confidence.CERTAIN
        )
    if failure.es_type == "action_not_found_transport_exception" and api_key_model:
        # Nobody handles the remote cluster handshake there: a transport port of a node whose
        # remote cluster server is off (ES registers the handler only when it is on).
        return Diagnosis(Stage.HANDSHAKE, "handshake_wrong_profile", Confidence.LIKELY)
    if failure.es_type == "security_exception":
        if (
            api_key_model
            and "[cluster:internal/remote_cluster/handshake]" in text
            and ("missing authentication credentials" in text or "is unauthorized for user" in text)
        ):
            # The guide's symptoms 3 and 4: the remote cluster handshake reached the transport
            # profile, which authenticates users, not cross-cluster keys.
            return Diagnosis(Stage.HANDSHAKE, "handshake_wrong_profile", Confidence.CERTAIN)
        for fragment, cause in _AUTHENTICATION:
            if fragment in text:
                return Diagnosis(Stage.AUTHENTICATION, cause, Confidence.CERTAIN)
        return Diagnosis(
            Stage.AUTHENTICATION,
            None,
            Confidence.POSSIBLE,
            ("api_key_invalid", "api_key_unknown", "api_key_invalidated", "api_key_expired"),
        )
    if failure.es_type == "illegal_state_exception" and "incompatible" in text:
        return Diagnosis(Stage.HANDSHAKE, "handshake_incompatible_version", Confidence.CERTAIN)
    if "does not match expected remote cluster name" in text or (
        "unexpected remote cluster name" in text
    ):
        return Diagnosis(Stage.HANDSHAKE, "handshake_cluster_name", Confidence.CERTAIN)
    return Diagnosis(Stage.HANDSHAKE, None, Confidence.POSSIBLE, ())
