"""The console's last guard on what it answers: no credential of the caller, no keystore value.
[no I/O]

The health and the doctor keep secrets out of what they say by design; the console still
scrubs every answer of its endpoints of every form of the caller's credentials
(:func:`credential_forms`) and of every value in the node's keystore, walking the answer as a
structure (:func:`scrubbed`), so a remote that echoed one back could not put it on a page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from isthmus.doctor.bundle import scrub


def credential_forms(authorization: str | None) -> list[str]:
    """Every form in which the caller's credentials could show: the header, its token, and
    for basic authentication the decoded ``user:password`` and the password."""
    if not authorization:
        return []
    out = [authorization]
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    out.append(token)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = ""
        if decoded:
            out += [decoded, decoded.partition(":")[2]]
    return [s for s in out if s]


def scrubbed(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (a JSON value) with every secret replaced by the redaction marker in each
    string and key, walked as a structure so the answer stays valid JSON whatever a secret's
    text (one equal to ``true`` would break serialized JSON scrubbed as text)."""
    wanted = [s for s in secrets if s]
    if not wanted:
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return scrub(v, wanted)
        if isinstance(v, dict):
            return {scrub(str(k), wanted): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value)
