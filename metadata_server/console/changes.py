"""What the console's change page shows for one operation of a stack: one function,
`convergence_for_console`, whose answer the template `changes.html` renders as it is.

It is the operation's convergence report (engine/service/convergence.py, docs/convergence.md):
per server, when the change was committed, delivered, started and finished, and the
time-to-converge distribution, with the moments given as offsets from the commit and the
histogram as bar lengths, ready to draw.
"""

from __future__ import annotations

from typing import Any

BAR_MOST = 240  # px: the longest histogram bar


def _after(seconds: float | None) -> str | None:
    """`+0.412 s` after the commit; None when that moment has not come yet."""
    return None if seconds is None else f"+{seconds:.3f} s"


def convergence_for_console(service: Any, ctx: Any, stack_id: str, operation: str | None = None) -> dict[str, Any]:
    """{"title", "operation", "operations", "summary", "spread", "bars", "servers": [...]} for
    the stack's newest operation with deployments (or `operation`), as `ctx.project` may see it
    (another project's stack, or an operation that wrote nothing: NotFound)."""
    report = service.convergence.report(ctx.project, stack_id, operation)
    actions = [e["action"] for s in report["servers"] for e in s["deployments"]]
    action = max(set(actions), key=actions.count) if actions else None
    servers = []
    for server in report["servers"]:
        committed = server["committed_at"]
        shown_action = server["deployments"][0]["action"] if server["deployments"] else action
        servers.append(
            {
                "name": server["server_name"] or server["server_id"],
                "status": f"{shown_action}_{server['status']}",
                "committed": committed,
                "delivered": server["delivered_at"],
                "delivered_after": _after(server["delivered_seconds"]),
                "started_after": _after(server["started_seconds"]),
                "finished_after": _after(server["finished_seconds"]),
                "converge_seconds": server["converge_seconds"],
                "deployments": [
                    {
                        "label": entry["resource_name"] or entry["deployment_id"],
                        "status": f"{entry['action']}_{entry['status']}",
                    }
                    for entry in server["deployments"]
                ],
            }
        )
    spread = report["summary"]["time_to_converge"]
    widest = max((bucket["count"] for bucket in spread["histogram"]), default=0)
    bars = [
        {
            "label": f"≤ {bucket['le']} s" if bucket["le"] is not None else "longer",
            "count": bucket["count"],
            "width": round(BAR_MOST * bucket["count"] / widest) if widest else 0,
        }
        for bucket in spread["histogram"]
        if bucket["count"]
    ]
    return {
        "title": f"{action} of {report['stack_name']}" if action else f"Changes of {report['stack_name']}",
        "operation": report["operation"],
        "operations": report["operations"],
        "committed_at": report["committed_at"],
        "converged_at": report["converged_at"],
        "summary": report["summary"],
        "spread": spread,
        "bars": bars,
        "servers": servers,
    }
