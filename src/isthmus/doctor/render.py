"""The doctor's report for people (rich, one screen per alias) and for machines (``--json``).

Human output: per alias a header with its status, the stage ladder (every stage, its outcome
and cause), then the finding: cause and its meaning, side, nodes, confidence, the evidence,
the candidates and what would decide between them, what was ruled out, and the fix steps as
copyable lines. JSON output is :meth:`Report.to_json` unchanged. Nothing here decides anything.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from isthmus.doctor.causes import BY_CODE
from isthmus.doctor.model import AliasVerdict, Finding, Outcome, Report, Status

_STATUS_STYLE = {
    Status.GREEN: "green",
    Status.YELLOW: "yellow",
    Status.RED: "red",
    Status.UNKNOWN: "dim",
}
_OUTCOME = {
    Outcome.PASSED: ("✔ passed", "green"),
    Outcome.FAILED: ("✘ failed", "red bold"),
    Outcome.UNDECIDED: ("? undecided", "yellow bold"),
    Outcome.NOT_REACHED: ("· not reached", "dim"),
    Outcome.NOT_CHECKED: ("- not checked", "dim"),
}


def render(report: Report, console: Console) -> None:
    local = report.local
    console.print(
        Text(
            f"isthmus doctor — local cluster [{local.get('cluster_name')}] "
            f"{local.get('version') or ''} at {local.get('url')}; evidence: "
            f"{', '.join(report.evidence_level)}",
            style="bold",
        )
    )
    if not report.aliases:
        console.print("no remote cluster is configured on the local cluster")
    for verdict in report.aliases:
        console.print(_alias_panel(verdict))
    console.print(Text(_summary(report), style="bold"))


def _summary(report: Report) -> str:
    code = report.exit_code
    words = {0: "healthy", 1: "a fault was found", 2: "the doctor could not decide"}[code]
    if code == 0 and any(v.status is Status.YELLOW for v in report.aliases):
        # Yellow works now but is degraded (a flapping link, a key about to expire): exit 0,
        # and the summary must not call it healthy.
        words = "working, with warnings"
    return f"exit {code}: {words}"


def _alias_panel(verdict: AliasVerdict) -> Panel:
    ladder = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    ladder.add_column("stage")
    ladder.add_column("outcome")
    ladder.add_column("cause / evidence")
    for result in verdict.stages:
        label, style = _OUTCOME[result.outcome]
        detail = ", ".join(f.cause for f in result.findings)
        if not detail and result.evidence:
            detail = result.evidence[0].detail
        ladder.add_row(
            result.stage.value,
            Text(label, style=style),
            Text(detail, style="dim" if not result.findings else ""),
        )
    parts: list[object] = [ladder]
    for f in verdict.findings:
        parts.append(_finding(f, "finding"))
    for f in verdict.warnings:
        parts.append(_finding(f, "warning"))
    status = verdict.status
    return Panel(
        Group(*parts),  # type: ignore[arg-type]
        title=f"[{_STATUS_STYLE[status]}]{verdict.alias}: {status.value.upper()}[/]",
        title_align="left",
        border_style=_STATUS_STYLE[status],
    )


def _finding(f: Finding, kind: str) -> Group:
    known = BY_CODE.get(f.cause)
    lines: list[Text] = [
        Text(""),
        Text.assemble(
            (f"{kind}: ", "bold"),
            (f.cause, "bold red" if kind == "finding" else "bold yellow"),
            f" ({known.title})" if known else "",
        ),
        Text(f"  {f.message}"),
        Text(
            f"  stage {f.stage.value} · side {f.side.value} · confidence {f.confidence.value}"
            + (f" · nodes {', '.join(f.nodes)}" if f.nodes else "")
        ),
    ]
    if f.candidates:
        lines.append(Text(f"  candidates: {', '.join(f.candidates)}", style="yellow"))
    for item in f.would_decide:
        lines.append(Text(f"  would decide: {item}", style="yellow"))
    if f.ruled_out:
        lines.append(Text(f"  ruled out: {', '.join(f.ruled_out)}", style="dim"))
    for e in f.evidence:
        lines.append(Text(f"  evidence ({e.source}): {e.detail}", style="dim"))
    if f.fix is not None:
        lines.append(Text(f"  fix ({f.fix.side.value}): {f.fix.summary}", style="bold green"))
        for i, step in enumerate(f.fix.steps, 1):
            lines.append(Text(f"    {i}. {step}", style="green"))
    return Group(*lines)
