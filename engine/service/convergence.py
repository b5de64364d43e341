"""Convergence reports (docs/convergence.md): how an operation's deployment entries reached each
server, read from the traces engine/guest/traces.py records; touches the store read-only.

`report(project, stack_id, operation)` covers the stack and its nested stacks (group members):
per server, when the change was committed, delivered, started and finished, and the
time-to-converge distribution over the servers that finished. `operation` is an operation id
(`<stack id>:<n>`), a number (the stack's own operation n), or None: the newest operation that
wrote an entry in the stack's tree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from engine.errors import InvalidRequest, NotFound
from engine.runtime import Runtime, utcnow
from engine.store.models import DeploymentTrace, Server, Stack

BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)  # seconds: the histogram's upper bounds
MAX_TREE = 10_000  # stacks of a tree walked at most
MAX_OPERATION = 80  # characters of an operation id (a stack id, a colon and a number)


def _iso_ms(moment: dt.datetime | None) -> str | None:
    """Milliseconds matter here (a change reaches a server in a few): 2026-12-06T05:30:33.125Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z" if moment else None


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def distribution(values: list[float]) -> dict[str, Any]:
    """count, min, p50, p90, p99, max and a cumulative-free histogram over BUCKETS."""
    counts = [0] * (len(BUCKETS) + 1)
    for value in values:
        counts[next((i for i, bound in enumerate(BUCKETS) if value <= bound), len(BUCKETS))] += 1
    histogram = [{"le": bound, "count": counts[i]} for i, bound in enumerate(BUCKETS)]
    histogram.append({"le": None, "count": counts[-1]})
    return {
        "count": len(values),
        "min": min(values) if values else None,
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
        "histogram": histogram,
    }


def started_at(trace: DeploymentTrace) -> dt.datetime | None:
    """When the hook started: measured back from the signal, so never before the delivery."""
    if trace.started_at is not None and trace.delivered_at is not None:
        return max(trace.started_at, trace.delivered_at)
    return trace.started_at


def entry_view(trace: DeploymentTrace, now: dt.datetime) -> dict[str, Any]:
    started = started_at(trace)
    return {
        "deployment_id": trace.deployment_id,
        "resource_name": trace.resource_name,
        "stack_id": trace.stack_id,
        "action": trace.action,
        "status": trace.status,
        "metadata_version": trace.metadata_version,
        "committed_at": _iso_ms(trace.committed_at),
        "delivered_at": _iso_ms(trace.delivered_at),
        "started_at": _iso_ms(started),
        "finished_at": _iso_ms(trace.finished_at),
        "delivery_seconds": _seconds(trace.committed_at, trace.delivered_at),
        "started_seconds": _seconds(trace.committed_at, started),
        "run_seconds": _seconds(started, trace.finished_at),
        "converge_seconds": _seconds(trace.committed_at, trace.finished_at),
        "waiting_seconds": None if trace.finished_at else _seconds(trace.committed_at, now),
    }


def server_view(server_id: str, name: str | None, traces: list[DeploymentTrace], now: dt.datetime) -> dict[str, Any]:
    entries = sorted(
        (entry_view(t, now) for t in traces), key=lambda e: (e["committed_at"] or "", e["resource_name"] or "")
    )
    statuses = {t.status for t in traces}
    status = "FAILED" if "FAILED" in statuses else "IN_PROGRESS" if "IN_PROGRESS" in statuses else "COMPLETE"
    committed = min(t.committed_at for t in traces)
    delivered = [t.delivered_at for t in traces]
    finished = [t.finished_at for t in traces]
    last_delivered = max(delivered) if all(delivered) else None  # type: ignore[type-var]
    first_started = min((s for s in map(started_at, traces) if s is not None), default=None)
    last_finished = max(finished) if all(finished) else None  # type: ignore[type-var]
    return {
        "server_id": server_id,
        "server_name": name,
        "status": status,
        "committed_at": _iso_ms(committed),
        "delivered_at": _iso_ms(last_delivered),
        "started_at": _iso_ms(first_started),
        "finished_at": _iso_ms(last_finished),
        # Each moment as seconds after the server's first commit (what the CLI and console show).
        "delivered_seconds": _seconds(committed, last_delivered),
        "started_seconds": _seconds(committed, first_started),
        "finished_seconds": _seconds(committed, last_finished),
        "converge_seconds": _seconds(committed, last_finished) if status != "IN_PROGRESS" else None,
        "deployments": entries,
    }


class Convergence:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def report(self, project: str, stack_id: str, operation: str | int | None = None) -> dict[str, Any]:
        now = utcnow()
        with self.runtime.store.session() as session:
            stack = session.get(Stack, stack_id)
            if stack is None or stack.project != project:
                raise NotFound(f"stack '{stack_id}' not found")
            tree = self._tree(session, stack.id)
            known = self._operations(session, tree)
            chosen = self._choose(stack, operation, known)
            rows = (
                session.scalars(
                    select(DeploymentTrace).where(
                        DeploymentTrace.operation == chosen, DeploymentTrace.stack_id.in_(tree)
                    )
                ).all()
                if chosen
                else []
            )
            by_server: dict[str, list[DeploymentTrace]] = defaultdict(list)
            for row in rows:
                by_server[row.server_id].append(row)
            names = {
                row.id: row.name
                for row in session.execute(select(Server.id, Server.name).where(Server.id.in_(list(by_server))))
            }
        servers = sorted(
            (server_view(sid, names.get(sid), traces, now) for sid, traces in by_server.items()),
            key=lambda s: (s["server_name"] or "", s["server_id"]),
        )
        times = [
            s["converge_seconds"] for s in servers if s["status"] == "COMPLETE" and s["converge_seconds"] is not None
        ]
        committed = min((r.committed_at for r in rows), default=None)
        finished = [r.finished_at for r in rows]
        return {
            "stack_id": stack.id,
            "stack_name": stack.name,
            "operation": chosen,
            "operations": known,
            "committed_at": _iso_ms(committed),
            "converged_at": _iso_ms(max(finished)) if rows and all(finished) else None,  # type: ignore[type-var]
            "summary": {
                "servers": len(servers),
                "complete": sum(s["status"] == "COMPLETE" for s in servers),
                "failed": sum(s["status"] == "FAILED" for s in servers),
                "in_progress": sum(s["status"] == "IN_PROGRESS" for s in servers),
                "delivered": sum(s["delivered_at"] is not None for s in servers),
                "deployments": len(rows),
                "time_to_converge": distribution(times),
            },
            "servers": servers,
        }

    @staticmethod
    def _tree(session, root: str) -> list[str]:
        """The stack and its nested stacks, deleted ones too (their traces stay with them)."""
        tree, frontier = [root], [root]
        while frontier and len(tree) < MAX_TREE:
            frontier = list(session.scalars(select(Stack.id).where(Stack.owner_id.in_(frontier))))
            tree.extend(frontier)
        return tree

    @staticmethod
    def _operations(session, tree: list[str]) -> list[dict[str, Any]]:
        """The operations that wrote entries in the tree, newest first."""
        rows = session.execute(
            select(
                DeploymentTrace.operation,
                func.min(DeploymentTrace.committed_at),
                func.count(),
            )
            .where(DeploymentTrace.stack_id.in_(tree), DeploymentTrace.operation.is_not(None))
            .group_by(DeploymentTrace.operation)
            .order_by(func.min(DeploymentTrace.committed_at).desc())
        ).all()
        return [{"operation": op, "committed_at": _iso_ms(first), "deployments": n} for op, first, n in rows]

    @staticmethod
    def _choose(stack: Stack, operation: str | int | None, known: list[dict[str, Any]]) -> str | None:
        if operation is None or operation == "":
            return known[0]["operation"] if known else None
        text = str(operation)
        if len(text) > MAX_OPERATION:
            raise InvalidRequest(f"an operation is at most {MAX_OPERATION} characters (STACK_ID:N or N)")
        if text.isascii() and text.isdigit():
            text = f"{stack.id}:{int(text)}"
        if ":" not in text:
            raise InvalidRequest(f"operation '{operation}' is neither an operation id (STACK_ID:N) nor a number")
        if not any(k["operation"] == text for k in known):
            raise NotFound(f"operation '{text}' wrote no deployment entry in stack '{stack.name}'")
        return text
