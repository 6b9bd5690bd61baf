"""The doctor's stages and causes in plain words, as the console shows them.  [no I/O]

The stage ladder reads top to bottom in the order a connection is made; each rung says what was
being done when it failed, so "stopped at: opening a TCP connection" needs no glossary. Cause
titles come from :mod:`isthmus.doctor.causes` (one place for their wording).
"""

from __future__ import annotations

from isthmus.doctor.causes import CAUSES
from isthmus.doctor.model import Stage

STAGE_WORDS: dict[Stage, str] = {
    Stage.CONFIGURATION: "the alias's settings on this cluster",
    Stage.DNS: "resolving the remote's host name",
    Stage.TCP: "opening a TCP connection to the remote",
    Stage.PROTOCOL: "checking which protocol the remote's port speaks",
    Stage.TLS: "the TLS handshake (certificates and trust)",
    Stage.HANDSHAKE: "the remote cluster handshake",
    Stage.AUTHENTICATION: "the remote accepting this cluster's credentials",
    Stage.AUTHORIZATION: "permission for the request on the remote",
    Stage.DATA: "reading the remote's indices",
}
_TITLES = {c.code: c.title for c in CAUSES}


def stage_words(stage: str | None) -> str | None:
    """What a stage (by its code) was doing, in plain words; None for no or an unknown stage."""
    try:
        return STAGE_WORDS[Stage(stage)] if stage is not None else None
    except ValueError:
        return None


def cause_words(cause: str | None) -> str | None:
    """A cause code's one-line meaning (None when the facts named no cause)."""
    return _TITLES.get(cause) if cause is not None else None
