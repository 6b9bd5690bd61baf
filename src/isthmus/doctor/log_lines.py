"""Log records of Elasticsearch and Isthmus, read back into values.  [no I/O]

Two formats, ES's and ours alike (``isthmus.logs`` writes both):

* the plain log4j pattern ``[%d{ISO8601}][%-5p][%-25c{1.}] [%node_name] %m``, one record per
  header line, followed by its continuation lines: the exception and its ``Caused by:`` /
  ``Suppressed:`` chain, stack frames (``\\tat ...``, ``... 12 more``), wrapped message lines.
  The time has no zone (log4j prints local time), so the caller says which zone it is in.
* JSON, one document per line: ES 8+/9 ECS (``@timestamp``, ``log.level``, ``log.logger``,
  ``message``, ``error.type`` / ``error.message`` / ``error.stack_trace``,
  ``elasticsearch.node.name``; flat dotted keys or nested objects) and ES 7's
  ``{"type": "server", "timestamp", "level", "component", "node.name", "stacktrace": [...]}``.

A fragment quoted without its header (the guide quotes ``Caused by: ...`` lines alone) is kept as
a record with no time; at the head of a longer log (a tail cut mid-record) it takes the time of
the first dated record, which it cannot be later than. Nothing here decides what a line means: see ``log_symptoms``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson


@dataclass(frozen=True)
class LoggedException:
    """One exception of a logged chain, as printed: its class name and message."""

    type: str  # as logged: "org.elasticsearch.transport.ConnectTransportException"
    message: str
    suppressed: bool = False  # printed as "Suppressed: ..." (NoSeedNodeLeftException's cause)

    @property
    def simple_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class LogLine:
    """One log record: its header fields, the exception chain under it and the raw text."""

    time: datetime | None  # tz-aware; None for a fragment quoted without its header
    level: str  # "WARN", "INFO", ... ("" for a fragment)
    logger: str  # as logged: "o.e.t.ProxyConnectionStrategy" or the full class name
    node: str  # the node that logged it ("" when unknown)
    message: str  # the message's first line
    exceptions: tuple[LoggedException, ...] = ()  # outermost first, then each cause
    raw: str = ""
    source: str = ""  # "<file>:<line>" it was read from
    cluster: str = ""  # the cluster name, when the format or the file name says it

    @property
    def logger_class(self) -> str:
        """``DiagnosticTrustManager`` for ``o.e.c.s.DiagnosticTrustManager`` and for its full name."""
        return self.logger.rsplit(".", 1)[-1]

    @property
    def texts(self) -> tuple[str, ...]:
        """The message and every exception message: what the symptoms are read from."""
        return (self.message, *(e.message for e in self.exceptions))

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def type_names(self) -> tuple[str, ...]:
        return tuple(e.simple_type for e in self.exceptions)


# --- plain pattern ----------------------------------------------------------------------------

# [2023-06-28T16:36:47,264][WARN ][o.e.t.ProxyConnectionStrategy] [local-node] message
_HEADER = re.compile(
    r"^\[(?P<time>\d{4}-\d\d-\d\d[T ][\d:]+(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]"
    r"\[(?P<level>[A-Z]+)\s*\]\[(?P<logger>[^\]]*?)\s*\]\s?(?:\[(?P<node>[^\]]*)\]\s?)?"
    r"(?P<message>.*)$"
)
# An exception header: "pkg.Type: message", "Caused by: pkg.Type: message", "Suppressed: ...".
# A bare class name counts only when it is qualified or ends like an exception class.
_EXCEPTION = re.compile(
    r"^\s*(?P<prefix>Caused by: |Suppressed: )?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?::\s?(?P<message>.*))?$"
)
_FRAME = re.compile(
    r"^\s+(?:at |\.\.\. \d+ (?:more|common frames omitted))|^\s*Traceback \(|^\s+File \""
)


def _exception_header(line: str) -> LoggedException | None:
    m = _EXCEPTION.match(line)
    if m is None:
        return None
    name = m["type"]
    qualified = "." in name and not name.endswith(".")
    exception_like = name.endswith(("Exception", "Error", "Throwable"))
    if not m["prefix"] and not (exception_like or (qualified and m["message"] is not None)):
        return None
    if qualified and not exception_like and not m["prefix"] and not re.search(r"[A-Z]", name):
        return None  # "org.elasticsearch: ..." is prose, not a class
    return LoggedException(name, (m["message"] or "").strip(), m["prefix"] == "Suppressed: ")


def _unwrap(exc: LoggedException) -> list[LoggedException]:
    """Netty's ``DecoderException: javax.net.ssl.SSLHandshakeException: Received fatal alert``
    names the exception it wraps in its message: keep both."""
    out = [exc]
    inner = _exception_header(exc.message)
    while inner is not None and inner.message and ("." in inner.type):
        out.append(LoggedException(inner.type, inner.message, exc.suppressed))
        inner = _exception_header(inner.message)
    return out


def parse_chain(lines: list[str]) -> tuple[str, tuple[LoggedException, ...]]:
    """Continuation lines into (extra message text, exception chain). Lines before the first
    exception header continue the message; lines after one continue that exception's message;
    stack frames are dropped."""
    extra: list[str] = []
    chain: list[LoggedException] = []
    in_python_frame = False  # the source line (and carets) under a Python 'File "..."' frame
    for line in lines:
        if in_python_frame and line.startswith("    "):
            continue
        in_python_frame = line.lstrip().startswith('File "')
        if not line.strip() or _FRAME.match(line):
            continue
        header = _exception_header(line)
        if header is not None:
            chain.extend(_unwrap(header))
        elif chain:
            last = chain[-1]
            chain[-1] = LoggedException(
                last.type, f"{last.message}\n{line.strip()}", last.suppressed
            )
        else:
            extra.append(line.rstrip())
    return "\n".join(extra), tuple(chain)


def parse_time(text: str, tz: tzinfo) -> datetime | None:
    """ISO 8601 as ES prints it (``,`` or ``.`` before the fraction, ``Z``, an offset or none:
    then ``tz``)."""
    value = text.strip().replace(",", ".").replace(" ", "T", 1)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    value = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", value)
    # Python 3.11 reads at most 6 fraction digits; Java's Instant may print 9.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def parse_plain(
    text: str, *, tz: tzinfo = UTC, source: str = "", cluster: str = ""
) -> list[LogLine]:
    """Every record of a plain-pattern log (``<cluster>.log``), in file order."""
    out: list[LogLine] = []
    header: re.Match[str] | None = None
    body: list[str] = []
    first = 0

    def flush() -> None:
        if header is None and not any(line.strip() for line in body):
            return
        where = f"{source}:{first + 1}" if source else ""
        raw = "\n".join(([header.string] if header else []) + body)
        if header is None:  # a fragment: continuation lines without their header
            extra, chain = parse_chain(body)
            out.append(LogLine(None, "", "", "", extra, chain, raw, where, cluster))
            return
        extra, chain = parse_chain(body)
        message = header["message"].strip()
        time = parse_time(header["time"], tz)
        out.append(
            LogLine(
                time,
                header["level"],
                header["logger"].strip(),
                (header["node"] or "").strip(),
                message + (f"\n{extra}" if extra else ""),
                chain,
                raw,
                where,
                cluster,
            )
        )

    for number, line in enumerate(text.splitlines()):
        m = _HEADER.match(line)
        if m is not None:
            flush()
            header, body, first = m, [], number
        else:
            if header is None and not body:
                first = number
            body.append(line)
    flush()
    # A fragment before the first header is the end of an older record (a log's tail cut
    # mid-record): it happened no later than the first dated record.
    if len(out) > 1 and out[0].time is None and out[1].time is not None:
        out[0] = replace(out[0], time=out[1].time, level="", node=out[1].node)
    return out


# --- JSON -------------------------------------------------------------------------------------


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    """A field by its dotted name, flat (``"log.level"``) or nested (``{"log": {"level"}}``)."""
    if dotted in doc:
        return doc[dotted]
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _first(doc: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = _get(doc, name)
        if value is not None:
            return str(value)
    return ""


def json_record(doc: Mapping[str, Any], *, source: str = "", raw: str = "") -> LogLine | None:
    """One ECS (8.x/9.x) or ES 7 JSON log document; None when it is not a log record."""
    stamp = _first(doc, "@timestamp", "timestamp")
    time = parse_time(stamp, UTC) if stamp else None
    message = _first(doc, "message")
    if time is None and not message:
        return None
    first, _, rest = message.partition("\n")
    continuation = rest.splitlines()
    trace = _get(doc, "error.stack_trace")
    if trace is None:
        trace = _get(doc, "stacktrace")  # ES 7: a list of lines
    if isinstance(trace, list):
        continuation += [str(x) for x in trace]
    elif isinstance(trace, str):
        continuation += trace.splitlines()
    extra, chain = parse_chain(continuation)
    error_type = _first(doc, "error.type")
    if error_type and not any(e.type == error_type for e in chain):
        chain = (LoggedException(error_type, _first(doc, "error.message")), *chain)
    return LogLine(
        time,
        _first(doc, "log.level", "level").strip().upper(),
        _first(doc, "log.logger", "component"),
        _first(doc, "elasticsearch.node.name", "node.name"),
        first + (f"\n{extra}" if extra else ""),
        chain,
        raw,
        source,
        _first(doc, "elasticsearch.cluster.name", "cluster.name"),
    )


def parse_json_lines(text: str, *, source: str = "") -> list[LogLine]:
    """Every record of a JSON log (``<cluster>_server.json``); lines that are not JSON objects
    are skipped (a torn last line, a banner)."""
    out = []
    for number, line in enumerate(text.splitlines()):
        if not line.startswith("{"):
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            where = f"{source}:{number + 1}" if source else ""
            record = json_record(doc, source=where, raw=line)
            if record is not None:
                out.append(record)
    return out


def looks_like_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def iter_times(lines: list[LogLine]) -> Iterator[datetime]:
    return (line.time for line in lines if line.time is not None)
