"""The evidence bundle: everything the doctor collected, as one JSON document.  [no I/O]

``isthmus doctor --bundle FILE`` writes it, ``isthmus doctor --from FILE`` diagnoses from it, so
a user can send a bundle instead of access. It holds each side's pruned REST answers and config
summaries (keystore entry *names*), the log lines read (as text, so that the log analysis runs
again offline), the probes' stage results, and the parameters of the run. Secrets never enter
it: the collectors keep no credential, secret-looking keys are redacted, and :func:`encode`
finally replaces every secret the run was given (passwords, API keys) wherever it appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from isthmus.doctor.evidence import REDACTED, SideEvidence
from isthmus.doctor.model import StageResult

FORMAT = "isthmus-doctor-bundle"
VERSION = 1


class BundleError(ValueError):
    """The file is not a doctor bundle (or a newer one)."""


@dataclass(frozen=True)
class Bundle:
    collected_at: datetime
    index: str
    aliases: tuple[str, ...]
    local: SideEvidence
    remote: SideEvidence | None = None
    # side -> file name -> the lines read from it
    logs: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    probes: Mapping[str, Sequence[StageResult]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "collected_at": self.collected_at.isoformat(),
            "index": self.index,
            "aliases": list(self.aliases),
            "local": self.local.to_json(),
            "remote": self.remote.to_json() if self.remote is not None else None,
            "logs": {
                side: {f: list(lines) for f, lines in files.items()}
                for side, files in self.logs.items()
            },
            "probes": {a: [r.to_json() for r in rs] for a, rs in self.probes.items()},
        }

    @classmethod
    def from_json(cls, raw: Any) -> Bundle:
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
            raise BundleError('not an isthmus doctor bundle (no "format": "isthmus-doctor-bundle")')
        if int(raw.get("version", 0)) > VERSION:
            raise BundleError(
                f"bundle version [{raw.get('version')}] is newer than this doctor ({VERSION})"
            )
        try:
            remote = raw.get("remote")
            return cls(
                datetime.fromisoformat(str(raw["collected_at"])),
                str(raw.get("index", "*")),
                tuple(str(a) for a in raw.get("aliases", ())),
                SideEvidence.from_json(raw["local"]),
                SideEvidence.from_json(remote) if remote else None,
                {
                    str(side): {str(f): [str(x) for x in lines] for f, lines in files.items()}
                    for side, files in (raw.get("logs") or {}).items()
                },
                {
                    str(a): [StageResult.from_json(r) for r in rs]
                    for a, rs in (raw.get("probes") or {}).items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"malformed doctor bundle: {exc}") from None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Every occurrence of each secret replaced by the redaction marker (longest first, so a
    secret that contains another is not left half-visible)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def encode(bundle: Bundle, secrets: Iterable[str] = ()) -> bytes:
    text = orjson.dumps(bundle.to_json(), option=orjson.OPT_INDENT_2).decode()
    return scrub(text, secrets).encode()


def decode(data: bytes) -> Bundle:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"not JSON: {exc}") from None
    return Bundle.from_json(raw)
