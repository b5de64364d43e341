"""What the console's change page shows for a stack's latest operation: one function,
`convergence_for_console`, whose answer the template `changes.html` renders as it is.

For now it is computed from the stack's deployments: per server, which deployments of the
stack's latest action are COMPLETE, FAILED or IN_PROGRESS, with their updated times. The
per-operation convergence traces will replace this function's body (and only it): keep the
shape of the answer, documented below.
"""

from __future__ import annotations

from typing import Any

STATES = ("IN_PROGRESS", "FAILED", "COMPLETE")


def convergence_for_console(service: Any, ctx: Any, stack_id: str) -> dict[str, Any]:
    """{"title", "operation", "summary": {state: count}, "groups": [{"heading", "items":
    [{"label", "status", "updated", "detail"}]}]} for the stack's latest operation, as
    `ctx.project` may see it (another project's stack: NotFound)."""
    stack = service.stacks.show_stack(ctx.project, stack_id, resolve_outputs=False)
    action = stack["stack_status"].split("_", 1)[0]  # CREATE, UPDATE, ... (Heat's actions hold no '_')
    deployments = service.servers.stack_deployments(ctx.project, stack_id)
    latest = [d for d in deployments if d.get("action") == action] or deployments
    names = {s["id"]: s["name"] for s in service.servers.stack_servers(ctx.project, stack_id)}
    groups: dict[str, list[dict[str, Any]]] = {}
    summary = dict.fromkeys(STATES, 0)
    for deployment in latest:
        status = deployment.get("status") or "IN_PROGRESS"
        summary[status] = summary.get(status, 0) + 1
        heading = names.get(deployment["server_id"], deployment["server_id"])
        groups.setdefault(heading, []).append(
            {
                "label": deployment.get("resource_name") or deployment["id"],
                "status": f"{deployment.get('action') or action}_{status}",
                "updated": deployment.get("updated_time") or deployment.get("creation_time"),
                "detail": deployment.get("status_reason") or "",
            }
        )
    return {
        "title": f"{action} of {stack['stack_name']}",
        "operation": stack["stack_status"],
        "summary": summary,
        "groups": [{"heading": heading, "items": items} for heading, items in sorted(groups.items())],
    }
