"""Self-healing groups: owns the `health_check` policy of a scaling group or a resource group,
judging members and replacing the unhealthy ones by themselves; touches the store (the group's
stack row, locked, its group and member rows, servers and deployments) and starts the
replacement through `runtime.stacks` (an update of the group's nested stack, as Heat's
mark-unhealthy then update does, run by the scheduler under that stack's lease).

A member is unhealthy when, past its grace period:
- `failed`: its resource is FAILED (a create, update or check that failed, a wait condition or a
  deployment inside it that failed, Heat's mark-unhealthy);
- `deployments`: a deployment to one of its servers is FAILED;
- `heartbeat`: one of its servers' agents is gone (not seen for longpoll_max_wait +
  agent_gone_grace, the rule engine/guest/liveness.py fails deployments by), or never reached
  Hearth within the grace period.
It is replaced once `unhealthy_threshold` checks in a row (one every `interval` seconds) found it
so: marked CHECK_FAILED with the reason, then the nested stack is updated, which makes the new
member before it deletes the old one. At most 10 % of the members (at least one) are replaced
at a time, the next only once that update is over (the replacement's deployments inside it have
signalled); nothing is replaced while every member looks unhealthy (the cause is then likely
outside them: the network, Hearth itself), nor while the group or its stack is busy. Every
decision is an event on the group, with its reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any

from sqlalchemy import Text, cast, select

from engine.orchestration.events import resource_event
from engine.runtime import Runtime
from engine.store.models import Deployment, Resource, Server, Stack

log = logging.getLogger(__name__)

HEALED_TYPES = ("OS::Heat::AutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup", "OS::Heat::ResourceGroup")
DEFAULTS = {
    "failed": True,
    "deployments": True,
    "heartbeat": True,
    "grace_period": 300,
    "unhealthy_threshold": 2,
    "interval": 30,
}
SWEEP_EVERY = 2.0  # seconds between two looks at the groups (each group's own interval applies)
NESTING = 5  # how deep a member's own nested stacks are searched for its servers


def settings(policy: dict[str, Any] | None) -> dict[str, Any]:
    """The health_check policy with its defaults."""
    given = {k: v for k, v in (policy or {}).items() if v is not None}
    return {**DEFAULTS, **given}


def batch_size(members: int) -> int:
    """How many members are replaced at a time: 10 %, at least one."""
    return max(1, math.floor(members * 0.1))


class Healing:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._last_sweep = 0.0

    def sweep(self) -> None:
        """Check every group with a health_check whose interval has passed (any replica may:
        each check holds its stack's row lock and records when it ran)."""
        if time.monotonic() - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = time.monotonic()
        with self.runtime.store.session() as session:
            # Filtered in the database (the JSON text of a set policy): a tree of thousands of
            # groups without one costs one scan in the database, not thousands of documents parsed here.
            rows = session.execute(
                select(Resource.stack_id, Resource.name).where(
                    Resource.type.in_(HEALED_TYPES),
                    Resource.status == "COMPLETE",
                    cast(Resource.data, Text).like('%"health_check": {%'),
                )
            ).all()
        for stack_id, name in rows:
            try:
                self.check(stack_id, name)
            except Exception:  # one group's trouble must not stop the others' checks
                log.exception("health check of %s in stack %s failed", name, stack_id)

    def check(self, stack_id: str, name: str) -> list[str]:
        """One check of the group: its members judged, and the unhealthy ones' replacement
        started when due. Answers the members whose replacement started."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            stack = session.get(Stack, stack_id, with_for_update=True)
            group = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == name))
            if stack is None or stack.deleted_at is not None or group is None or group.physical_id is None:
                return []
            data = dict(group.data or {})
            policy = settings(data.get("health_check"))
            health = dict(data.get("health") or {})
            last = health.get("last_check")
            if last is not None and now - dt.datetime.fromisoformat(last) < dt.timedelta(seconds=policy["interval"]):
                return []
            child = session.get(Stack, group.physical_id)
            busy = (
                stack.status == "IN_PROGRESS"
                or group.status != "COMPLETE"
                or data.get("pending")
                or child is None
                or child.status == "IN_PROGRESS"
            )
            if busy:
                return []
            verdicts, judged = self._judge(session, child, policy, health, now)
            strikes = {m: int((health.get("strikes") or {}).get(m, 0)) + 1 for m in verdicts}
            health.update(last_check=now.isoformat(), strikes=strikes)
            due = [m for m, count in strikes.items() if count >= policy["unhealthy_threshold"]]
            started: list[str] = []
            if due and len(due) == len(judged) and len(judged) > 1:
                if not health.get("halted"):
                    self._event(
                        session,
                        stack,
                        group,
                        "CHECK",
                        "FAILED",
                        f"All {len(judged)} members look unhealthy ({_reasons(verdicts)}): replacing none, "
                        "the cause is likely outside them",
                        now,
                    )
                health["halted"] = True
            elif due:
                health["halted"] = False
                started = due[: batch_size(len(judged))]
                self._start(session, stack, group, child, {m: verdicts[m] for m in started}, strikes, now)
                data = dict(group.data or {})
            else:
                health["halted"] = False
            group.data = {**data, "health": health}
            child_id = child.id
        if started:
            self._replace(stack_id, name, child_id)
            self.runtime.publish_stack(stack_id)
        return started

    def _judge(
        self, session, child: Stack, policy: dict, health: dict, now: dt.datetime
    ) -> tuple[dict[str, str], list[str]]:
        """The unhealthy members of the nested stack `child`, with why, and the members judged
        (those past their grace period)."""
        grace = dt.timedelta(seconds=policy["grace_period"])
        replaced = health.get("replaced_at") or {}
        rows = list(session.scalars(select(Resource).where(Resource.stack_id == child.id)))
        gone_after = dt.timedelta(seconds=self.runtime.config.longpoll_max_wait + self.runtime.config.agent_gone_grace)
        verdicts: dict[str, str] = {}
        judged: list[str] = []
        for row in rows:
            if row.action == "DELETE" or row.action == "INIT":
                continue
            born = (
                max(row.created_at, dt.datetime.fromisoformat(replaced[row.name]))
                if row.name in replaced
                else row.created_at
            )
            if now - born < grace:
                continue
            judged.append(row.name)
            if policy["failed"] and row.status == "FAILED":
                verdicts[row.name] = f"it is {row.action}_FAILED: {row.status_reason}"[:300]
                continue
            servers = self._servers(session, child.id, row)
            if policy["deployments"] and servers:
                failed = session.scalar(
                    select(Deployment.resource_name).where(
                        Deployment.server_id.in_([s.id for s in servers]), Deployment.status == "FAILED"
                    )
                )
                if failed is not None:
                    verdicts[row.name] = f"its deployment {failed or ''} FAILED".replace("  ", " ")
                    continue
            if policy["heartbeat"]:
                for server in servers:
                    if server.first_contact_at is None:
                        verdicts[row.name] = (
                            f"the agent of server {server.id} never reached Hearth within the grace period "
                            f"({policy['grace_period']} s)"
                        )
                        break
                    seen = server.last_seen_at or server.first_contact_at
                    if now - seen > gone_after:
                        verdicts[row.name] = (
                            f"the agent of server {server.id} has not been seen for {int((now - seen).total_seconds())} s"
                        )
                        break
        return verdicts, judged

    def _servers(self, session, child_id: str, member: Resource) -> list[Server]:
        """The live servers a member is or holds (in its own nested stacks, a few levels down)."""
        stacks = [member.physical_id] if member.physical_id else []
        frontier = list(stacks)
        for _ in range(NESTING):
            if not frontier:
                break
            frontier = list(session.scalars(select(Stack.id).where(Stack.owner_id.in_(frontier))))
            stacks += frontier
        query = select(Server).where(
            Server.deleted_at.is_(None),
            ((Server.stack_id == child_id) & (Server.resource_name == member.name)) | Server.stack_id.in_(stacks),
        )
        return list(session.scalars(query))

    def _start(self, session, stack, group, child, reasons: dict[str, str], strikes: dict, now) -> None:
        """Mark the members CHECK_FAILED with why (Heat's mark-unhealthy) and record the
        replacement the group is doing."""
        for name, reason in reasons.items():
            member = session.scalar(select(Resource).where(Resource.stack_id == child.id, Resource.name == name))
            member.action, member.status = "CHECK", "FAILED"
            member.status_reason = f"Unhealthy: {reason}"
            member.updated_at = now
            session.add(
                resource_event(
                    child.id, name, member.type, member.physical_id, "CHECK", "FAILED", member.status_reason, now
                )
            )
            self._event(
                session,
                stack,
                group,
                "CHECK",
                "IN_PROGRESS",
                f"Member '{name}' is unhealthy ({reason}; {strikes[name]} checks in a row): replacing it",
                now,
            )
        data = dict(group.data or {})
        members = list(data.get("members") or [])
        group.data = {
            **data,
            "pending": {
                "kind": "heal",
                "replaced": reasons,
                "members": members,
                "from_members": members,
                "operation": child.operation,
                "started": now.isoformat(),
                "timeout_mins": stack.timeout_mins,
            },
        }

    def _replace(self, stack_id: str, name: str, child_id: str) -> None:
        """Update the nested stack with its own template: its CHECK_FAILED members are replaced."""
        template = self.runtime.stacks.template(child_id)
        try:
            self.runtime.stacks.update(
                child_id,
                template=template,
                template_name=name,
                environment=None,
                parameters={},
                timeout_mins=None,
                keep_environment=True,
            )
        except Exception as error:  # noqa: BLE001 - the replacement could not start: the heal ends, failed
            log.warning("replacing members of %s in stack %s could not start: %s", name, stack_id, error)
            self.runtime.scaling.finished(stack_id, name, failure=f"the replacement could not start: {error}")

    @staticmethod
    def _event(session, stack: Stack, row: Resource, action: str, status: str, reason: str, now: dt.datetime) -> None:
        session.add(resource_event(stack.id, row.name, row.type, row.physical_id, action, status, reason, now))


def _reasons(verdicts: dict[str, str]) -> str:
    first = next(iter(verdicts.items()))
    more = f" and {len(verdicts) - 1} more" if len(verdicts) > 1 else ""
    return f"'{first[0]}': {first[1]}{more}"
