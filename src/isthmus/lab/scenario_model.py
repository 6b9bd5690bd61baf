"""What a lab scenario is and what it shows: the pair with its fault, the symptom, the verdict.

A :class:`Scenario` is a :class:`~isthmus.lab.topology.LabSpec` with one fault, plus the symptom
(:class:`Expected`): the lines the local and the remote cluster log (or must not log), whether
``_remote/info`` says connected, and how a cross-cluster search as the lab user ends. Its
:class:`DoctorVerdict` says what ``isthmus doctor`` should conclude at each
:class:`EvidenceLevel`. The scenarios themselves are data: :mod:`isthmus.lab.guide_scenarios`,
:mod:`isthmus.lab.fault_scenarios`, :mod:`isthmus.lab.ccr_scenarios`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from isthmus.doctor.causes import cause
from isthmus.doctor.model import Side, Stage
from isthmus.lab.topology import LabSpec

# Placeholders filled in when the lab runs: the key id; the address the alias dials (the node
# a remote-side finding names before the doctor has the remote's own evidence).
KEY_ID = "{key_id}"
ADDRESS = "{address}"


@dataclass(frozen=True)
class Expected:
    """What a scenario shows. Log expectations are substrings of one log file; ``{key_id}`` is
    replaced by the id of the key the lab created."""

    connected: bool
    local_log: tuple[str, ...] = ()
    remote_log: tuple[str, ...] = ()
    # Substrings that must not be in the remote's log ("this does not show up in the logs of
    # the remote cluster").
    remote_log_absent: tuple[str, ...] = ()
    # A search as the lab user on ``my:logs``: None means it succeeds with hits; otherwise
    # (HTTP status, error type, substring of the reason anywhere in the error body).
    search_error: tuple[int, str, str] | None = None


class EvidenceLevel(enum.StrEnum):
    """How much the doctor is given, each level adding to the one before (the report's
    ``evidence_level`` names the same sources):

    * ``local_rest``: the local cluster's REST APIs only (``isthmus doctor --local ... --no-probe``);
    * ``local_files``: + the local nodes' logs and configuration (``--local-logs``,
      ``--local-config``, ``--since`` the fault);
    * ``probe``: + the active probe of the alias's address (without ``--no-probe``);
    * ``remote``: + the remote side: its REST APIs, logs and configuration (``--remote``,
      ``--remote-logs``, ``--remote-config``).
    """

    LOCAL_REST = "local_rest"
    LOCAL_FILES = "local_files"
    PROBE = "probe"
    REMOTE = "remote"

    @property
    def order(self) -> int:
        return list(EvidenceLevel).index(self)


LEVELS: tuple[EvidenceLevel, ...] = tuple(EvidenceLevel)


@dataclass(frozen=True)
class DoctorVerdict:
    """What ``isthmus doctor`` should conclude for a scenario given all the evidence (both
    clusters' REST APIs, logs and configuration, and an active probe): the first failing stage,
    its cause code (:mod:`isthmus.doctor.causes`), the side the fix goes to and the nodes at
    fault. A scenario without a verdict is healthy (green, no finding).

    ``candidates`` makes it an *undecided* verdict (exit 2): the finding at ``stage`` names
    exactly these candidates (the true cause among them) and picks none. ``warning`` makes it a
    warning (status yellow, exit 0): the alias works at the moment of the check, and the fault
    shows in its history (connections that keep being cut). ``below`` is what the doctor
    concludes with less evidence (:meth:`until`, :meth:`at`): it may stop at an earlier stage
    or stay undecided, never name a wrong cause or report a fault green. Without the remote's
    evidence a remote-side finding names the address the alias dials (:data:`ADDRESS`), the
    only name of the remote the local cluster knows."""

    stage: Stage
    cause: str
    side: Side
    nodes: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    warning: bool = False
    below: tuple[tuple[EvidenceLevel, DoctorVerdict], ...] = ()

    def __post_init__(self) -> None:
        declared = cause(self.cause)  # a KeyError for a code causes.py does not declare
        if declared.stage is not self.stage and not self.candidates:
            raise ValueError(f"cause [{self.cause}] belongs to stage [{declared.stage}]")
        for code in self.candidates:
            cause(code)

    @classmethod
    def of(
        cls, code: str, *, side: Side | None = None, nodes: tuple[str, ...] = ()
    ) -> DoctorVerdict:
        """The verdict naming ``code``, at its stage, on its usual side unless ``side``."""
        declared = cause(code)
        return cls(declared.stage, code, side or declared.side, nodes)

    @classmethod
    def undecided(
        cls,
        code: str,
        candidates: tuple[str, ...],
        *,
        stage: Stage | None = None,
        side: Side = Side.UNKNOWN,
        nodes: tuple[str, ...] = (),
    ) -> DoctorVerdict:
        """Undecided at ``stage`` (default: ``code``'s) between ``candidates``; the finding's
        own code is ``code`` (``connection_failed``, or the candidate it leans to)."""
        return cls(stage or cause(code).stage, code, side, nodes, tuple(sorted(candidates)))

    @property
    def decided(self) -> bool:
        return not self.candidates

    @property
    def exit_code(self) -> int:
        """``isthmus doctor``'s exit code for this verdict."""
        return 0 if self.warning else 1 if self.decided else 2

    def as_warning(self) -> DoctorVerdict:
        return replace(self, warning=True)

    def addressed(self) -> DoctorVerdict:
        """This verdict; below the remote level it names the dialled address, not the nodes."""
        return self.until(EvidenceLevel.REMOTE, replace(self, nodes=(ADDRESS,), below=()))

    def until(self, level: EvidenceLevel, verdict: DoctorVerdict) -> DoctorVerdict:
        """This verdict, concluding ``verdict`` instead at the levels below ``level`` (a later
        call for a lower level refines the levels below that one)."""
        return replace(self, below=(*self.below, (level, verdict)))

    def at(self, level: EvidenceLevel) -> DoctorVerdict:
        """The verdict at evidence ``level``: the declaration for the lowest threshold above it,
        else this (all-evidence) verdict."""
        above = [(t.order, v) for t, v in self.below if level.order < t.order]
        chosen = min(above, key=lambda item: item[0])[1] if above else self
        return replace(chosen, below=())

    def levels(self) -> dict[EvidenceLevel, DoctorVerdict]:
        """The verdict at each level, lowest first (what ``isthmus lab`` and the docs show)."""
        return {level: self.at(level) for level in LEVELS}

    def describe(self) -> str:
        where = f"{self.stage.value}/{self.cause} ({self.side.value}"
        where += f", {', '.join(self.nodes)})" if self.nodes else ")"
        if self.candidates:
            return f"undecided at {where} among {', '.join(self.candidates)}"
        return f"warning {where}" if self.warning else where


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    spec: LabSpec
    expected: Expected
    broken: str  # what was done wrong (shown with --reveal)
    look: str  # where the symptom shows
    fix: str
    # Done to the running pair before observing: "freeze" stops the remote node (SIGSTOP) until
    # the local cluster gives its connections up as dead, then resumes it (SIGCONT).
    fault: str | None = None
    verdict: DoctorVerdict | None = None  # None: healthy, the doctor reports green


__all__ = ["ADDRESS", "KEY_ID", "LEVELS", "DoctorVerdict", "EvidenceLevel", "Expected", "Scenario"]
