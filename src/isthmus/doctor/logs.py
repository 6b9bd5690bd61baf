"""The doctor's log evidence: read a cluster's log directory, and what its lines (and the other
cluster's) say about one remote alias.

:func:`read_log_dir` reads an Elasticsearch or Isthmus ``path.logs`` directory: the plain
``<cluster>.log`` and the ECS ``<cluster>_server.json`` (when both hold the same records, the
JSON is used: its times carry their zone), rolled files included (``-<date>-<n>.log``, ``.json``;
compressed ones are skipped), deprecation, slow and audit logs left out.
:func:`log_findings` turns both sides' lines into stage results with causes, nodes, evidence
and fixes (``log_symptoms`` recognises the lines, ``log_join`` joins the sides).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from pathlib import Path

from isthmus.doctor.log_join import analyse
from isthmus.doctor.log_lines import LoggedException, LogLine, parse_json_lines, parse_plain
from isthmus.doctor.model import StageResult

# Logs that are not the server log: their lines are not about connections.
_OTHER_LOGS = re.compile(r"deprecation|slowlog|_audit|audit\.json|_access|gc\.log|stderr", re.I)
_ROLLED = re.compile(r"-\d{4}-\d\d-\d\d(?:-\d+)?$")


def _cluster_of(path: Path) -> str:
    stem = path.name.removesuffix(".json").removesuffix(".log")
    stem = _ROLLED.sub("", stem)
    return stem.removesuffix("_server")


def read_log_dir(path: Path, *, tz: tzinfo | None = None) -> list[LogLine]:
    """Every server-log record under ``path`` (a directory, or one file), oldest first.

    Plain lines carry no zone: they are read in ``tz`` (default: this machine's local zone,
    which is what log4j printed them in when the logs come from this machine)."""
    zone = tz or datetime.now().astimezone().tzinfo
    assert zone is not None
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    json_clusters = {
        _cluster_of(p) for p in files if p.suffix == ".json" and not _OTHER_LOGS.search(p.name)
    }
    out: list[LogLine] = []
    for file in files:
        if _OTHER_LOGS.search(file.name) or file.suffix not in (".log", ".json", ".txt"):
            continue
        cluster = _cluster_of(file)
        if file.suffix == ".log" and cluster in json_clusters and file != path:
            continue  # the same records as <cluster>_server.json
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.suffix == ".json" or text.lstrip().startswith("{"):
            lines = parse_json_lines(text, source=file.name)
        else:
            lines = parse_plain(text, tz=zone, source=file.name, cluster=cluster)
        out += [line if line.cluster else _with_cluster(line, cluster) for line in lines]
    return sorted(out, key=lambda line: line.time.timestamp() if line.time else float("inf"))


def _with_cluster(line: LogLine, cluster: str) -> LogLine:
    return replace(line, cluster=cluster)


def log_findings(
    local: Sequence[LogLine],
    remote: Sequence[LogLine] | None,
    alias: str,
    window: tuple[datetime, datetime] | None = None,
) -> list[StageResult]:
    """What the logs say about ``alias``: one result per stage where they show a fault
    (``FAILED`` with its cause, ``UNDECIDED`` with candidates and what would decide), in stage
    order; nothing when they show none. ``remote`` is the remote cluster's lines (None: not
    available); ``window`` limits both sides to [start, end]."""
    return analyse(local, remote, alias, window)


__all__ = ["LogLine", "LoggedException", "log_findings", "read_log_dir"]
