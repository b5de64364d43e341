"""`hearth stack converge-report STACK [OP]`: speaks HTTP only, through the context's HearthClient.

Per server, when an operation's change was committed, delivered to it, started and finished,
and how long the fleet took to converge (docs/convergence.md).
"""

from __future__ import annotations

import click

from engine.cli.client import stack_path
from engine.cli.formatting import emit, format_options, render_rows, structured

COLUMNS = ["server", "status", "committed", "delivered", "started", "finished", "converge_s"]


def clock(moment: str | None) -> str:
    """`05:30:33.125` of `2026-12-06T05:30:33.125Z` (the report's header gives the day)."""
    return moment[11:23] if moment else "-"


def after(moment: str | None, seconds: float | None) -> str:
    """`05:30:33.125 (+0.412 s)`: a moment and how long after the commit it came."""
    if not moment:
        return "-"
    return clock(moment) if seconds is None else f"{clock(moment)} (+{seconds:.3f} s)"


def server_rows(report: dict) -> list[dict]:
    return [
        {
            "server": server.get("server_name") or server["server_id"],
            "status": server["status"],
            "committed": clock(server["committed_at"]),
            "delivered": after(server["delivered_at"], server["delivered_seconds"]),
            "started": after(server["started_at"], server["started_seconds"]),
            "finished": after(server["finished_at"], server["finished_seconds"]),
            "converge_s": server["converge_seconds"],
        }
        for server in report["servers"]
    ]


def seconds(value) -> str:
    return "-" if value is None else f"{value:.3f} s"


def summary_lines(report: dict) -> list[str]:
    summary, spread = report["summary"], report["summary"]["time_to_converge"]
    lines = [
        f"Stack:      {report['stack_name']} ({report['stack_id']})",
        f"Operation:  {report['operation'] or '-'}",
        f"Committed:  {report['committed_at'] or '-'}",
        f"Converged:  {report['converged_at'] or 'not yet'}",
        (
            f"Servers:    {summary['servers']} ({summary['complete']} complete, {summary['failed']} failed, "
            f"{summary['in_progress']} in progress; {summary['delivered']} delivered)"
        ),
        (
            f"Time to converge: p50 {seconds(spread['p50'])}, p90 {seconds(spread['p90'])}, "
            f"max {seconds(spread['max'])} over {spread['count']} server(s)"
        ),
    ]
    counted = [bucket for bucket in spread["histogram"] if bucket["count"]]
    if counted:
        widest = max(bucket["count"] for bucket in counted)
        for bucket in counted:
            label = f"<= {bucket['le']} s" if bucket["le"] is not None else f"> {spread['histogram'][-2]['le']} s"
            bar = "#" * max(1, round(30 * bucket["count"] / widest))
            lines.append(f"  {label:>10} {bar} {bucket['count']}")
    return lines


@click.command("converge-report")
@click.argument("name")
@click.argument("operation", required=False)
@format_options()
@click.pass_obj
def converge_report(conn, name, operation, fmt, columns):
    """How operation OP of stack NAME reached each server: when the change was committed,
    delivered, started and finished, and the time-to-converge distribution. OP is an operation id
    (STACK_ID:N) or the stack's operation number; the newest operation by default. Nested stacks
    (group members) are included."""
    stack = conn.client.get_stack(name)
    report = conn.client.request(
        "GET", f"{stack_path(stack)}/convergence", params={"operation": operation} if operation else None
    )
    if fmt in ("json", "yaml"):
        emit(structured(report, fmt))
        return
    if fmt == "table":
        emit("\n".join(summary_lines(report)))
    emit(render_rows(server_rows(report), COLUMNS, fmt, columns))
