"""Scaling by signals: owns what happens when a scaling policy is signalled and when the resize it
started ends; touches the store (the parent stack's row, locked, and its policy and group rows)
and starts the resize through `runtime.stacks` (an update of the group's nested stack, run by the
scheduler under that stack's lease like any other operation).

As in Heat (scaling_policy.handle_signal, AutoScalingGroup.adjust, CooldownMixin): a signal whose
alarm state is not `alarm` does nothing; the new size is computed from the policy's adjustment
within the group's bounds; a group already scaling, in cooldown or not COMPLETE is not resized.
The resize updates only the nested stack: the group's stack keeps its status. When the nested
update ends (the scheduler calls `finished`, and `sweep` catches one whose call was lost with its
replica), the group leaves `scaling_in_progress` and, if its size changed, starts its cooldown.

Beyond Heat: every decision is visible. A refused signal answers 409 with the reason (Heat answers
200 and drops it) and leaves an event on the policy; a resize leaves events on the group (start,
each member launched or terminated with its cause, end); the group's scaling metadata is
`GET .../resources/GROUP/metadata`, as Heat keeps it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Text, cast, select

from engine import secrets
from engine.errors import Conflict, Forbidden, HearthError, InvalidRequest, NotFound, NotSupported
from engine.guest import credentials
from engine.orchestration.events import resource_event
from engine.resources.autoscaling import finished_scaling, scaled_members, scaling_template
from engine.resources.scaling_policy import alarm_signature_message, new_capacity, parse_arn, signal_reason
from engine.runtime import Runtime
from engine.service.healing import HEALED_TYPES, Healing
from engine.store.models import Event, Resource, Stack
from engine.telemetry import instruments as telemetry

log = logging.getLogger(__name__)

POLICY_TYPES = ("OS::Heat::ScalingPolicy", "AWS::AutoScaling::ScalingPolicy")
GROUP_TYPES = ("OS::Heat::AutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup")
# A resize recorded as started whose nested update never began (its replica stopped in between)
# is given up after this long.
START_GRACE = dt.timedelta(seconds=60)


class Refused(Conflict):
    """A scaling signal that was heard and not acted on, with the reason."""


class Scaling:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.healing = Healing(runtime)

    # Signals ------------------------------------------------------------------------------
    @telemetry.signal_counted("scaling")
    def signal(self, stack_id: str, policy_name: str, body: Any) -> dict[str, Any]:
        """A user's (or an alarm's) signal of the policy `policy_name` of stack `stack_id`."""
        with self.runtime.store.session() as session:
            policy = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == policy_name))
            if policy is None:
                raise NotFound(f"resource '{policy_name}' not found")
            policy_id = policy.id
        return self._signal(policy_id, body)

    @telemetry.signal_counted("scaling")
    def signal_alarm_url(self, arn: str, access_key: str, signature: str, body: Any) -> dict[str, Any]:
        """The policy's `alarm_url` (`/v1/signal/ARN?...AWSAccessKeyId=...&Signature=...`): its
        signature stands for the credential, and is good while the policy lives."""
        signed = self.runtime.keyring.verify(alarm_signature_message(arn, access_key), signature)
        if not signed:
            raise credentials.refusal(
                Forbidden,
                "the alarm URL's signature does not match: use the URL exactly as the policy's alarm_url gives it",
            )
        parsed = parse_arn(arn)
        policy = None
        with self.runtime.store.session() as session:
            if parsed is not None:
                policy = session.scalar(
                    select(Resource).where(
                        Resource.stack_id == parsed[1],
                        Resource.name == parsed[2],
                        Resource.physical_id == access_key,
                        Resource.type.in_(POLICY_TYPES),
                    )
                )
            stack = session.get(Stack, policy.stack_id) if policy is not None else None
            if policy is None or policy.action == "DELETE" or stack is None or stack.deleted_at is not None:
                raise credentials.refusal(
                    Forbidden, "this signed URL no longer grants anything: its scaling policy was deleted"
                )
            row_id = policy.id
        return self._signal(row_id, body)

    def _signal(self, policy_row: int, body: Any) -> dict[str, Any]:
        if body is not None and not isinstance(body, dict):
            raise InvalidRequest(
                "a scaling policy's signal is a JSON object (an alarm's webhook body, with `current` "
                "the alarm's state) or nothing"
            )
        now = self.runtime.now()
        refused: str | None = None
        with self.runtime.store.session() as session:
            policy = session.get(Resource, policy_row)
            stack = session.get(Stack, policy.stack_id, with_for_update=True) if policy is not None else None
            policy = session.get(Resource, policy_row, populate_existing=True)
            if stack is None or policy is None or stack.deleted_at is not None:
                raise NotFound("the scaling policy is gone")
            if policy.action in ("SUSPEND", "DELETE"):
                # Heat's _signal_check_action, its event and its refusal.
                self._event(
                    session,
                    stack,
                    policy,
                    policy.action,
                    policy.status,
                    f"Cannot signal resource during {policy.action}",
                    now,
                )
                session.commit()
                raise NotSupported(f"Signal resource during {policy.action}")
            if policy.physical_id is None or policy.action == "INIT":
                raise Refused(f"the scaling policy '{policy.name}' has not been created yet: nothing to signal")
            data = dict(policy.data or {})
            group = session.scalar(
                select(Resource).where(
                    Resource.stack_id == stack.id,
                    Resource.physical_id == str(data.get("group")),
                    Resource.type.in_(GROUP_TYPES),
                )
            )
            if group is None:
                reason = f'Alarm {policy.name} could not find scaling group named "{data.get("group")}"'
                self._event(session, stack, policy, "SIGNAL", "FAILED", reason, now)
                session.commit()
                raise NotFound(reason)
            self._finish_locked(session, stack, group, now)
            decision = self._decide(session, stack, policy, group, body, now)
            if isinstance(decision, str):
                refused = decision
                self._told_once(session, stack, policy, "FAILED", f"Scaling refused: {refused}", now)
            stack_id, group_name = stack.id, group.name
        self.runtime.publish_stack(stack_id)
        if refused is not None:
            raise Refused(refused)
        if not isinstance(decision, dict):
            return {"scaled": False, "reason": "no change in capacity"}
        self._resize(stack_id, group_name, decision)
        return {
            "scaled": True,
            "from": len(decision["from_members"]),
            "to": len(decision["members"]),
            "launched": decision["added"],
            "terminated": decision["removed"],
        }

    def _decide(self, session, stack: Stack, policy: Resource, group: Resource, body: Any, now: dt.datetime):
        """Refused (a reason), nothing to do (None), or the resize to start (recorded on the group)."""
        if stack.status == "IN_PROGRESS":
            return f"the stack '{stack.name}' is {stack.action}_IN_PROGRESS; signal again once it ends"
        if group.status != "COMPLETE" or group.physical_id is None:
            return f"the group '{group.name}' is {group.action}_{group.status}, not COMPLETE"
        child = session.get(Stack, group.physical_id)
        if child is None or child.deleted_at is not None:
            return f"the group '{group.name}' has no members' stack"
        gdata = dict(group.data or {})
        scaling = dict(gdata.get("scaling") or {})
        data = dict(policy.data or {})
        bounds = gdata.get("bounds") or {}
        members = list(gdata.get("members") or [])
        low, high = int(bounds.get("min") or 0), int(bounds.get("max") or 0)
        capacity = new_capacity(
            len(members), data["adjustment"], data["adjustment_type"], data.get("min_adjustment_step"), low, high
        )
        adjustment = f"{data['adjustment_type']} : {_number(data['adjustment'])}"
        if capacity == len(members):
            reason = (
                f"No change: the group '{group.name}' stays at {capacity} members ({adjustment}; min {low}, max {high})"
            )
            self._told_once(session, stack, policy, "COMPLETE", reason, now)
            return None
        # Heat's order: no change first, then a scaling in progress, then the cooldown.
        if (gdata.get("pending") or {}).get("kind") == "heal":
            return f"the group '{group.name}' is replacing unhealthy members; signal again once it is done"
        if scaling.get("scaling_in_progress") or child.status == "IN_PROGRESS":
            return f"the group '{group.name}' is already scaling"
        cooldown = data.get("cooldown")
        if cooldown is None:
            cooldown = bounds.get("cooldown")
        cooldown = max(0.0, float(cooldown or 0))
        end, since = next(iter((scaling.get("cooldown_end") or {}).items()), (None, None))
        if end is not None and now.isoformat() < end:
            return f"the group '{group.name}' is in cooldown until {end[:19]}Z (after {since})"
        states = self.runtime.stacks.resource_states(child.id) if capacity < len(members) else {}
        names = scaled_members(members, capacity, states=states)
        added = [m for m in names if m not in members]
        removed = [m for m in members if m not in names]
        failed = [m for m in removed if states.get(m, ("", ""))[1] == "FAILED"]
        start = {
            "policy": policy.name,
            "adjustment": adjustment,
            "cooldown": cooldown,
            "reason": signal_reason(body),
            "from_members": members,
            "members": names,
            "added": added,
            "removed": removed,
            "failed": failed,
            "operation": child.operation,
            "started": now.isoformat(),
            "timeout_mins": stack.timeout_mins,
        }
        # What Heat's autoscaling notifications say of the resize (engine.notifications).
        start["notice"] = {
            "adjustment": _plain(data["adjustment"]),
            "adjustment_type": data["adjustment_type"],
            "groupname": group.physical_id,
        }
        group.data = {**gdata, "members": names, "scaling": {**scaling, "scaling_in_progress": True}, "pending": start}
        direction = "out" if capacity > len(members) else "in"
        self._event(
            session,
            stack,
            group,
            "SIGNAL",
            "IN_PROGRESS",
            f"Scaling {direction} from {len(members)} to {capacity} members ({adjustment}) by policy "
            f"'{policy.name}': {start['reason']}",
            now,
            _notice(stack, start, "autoscaling.start", len(members), f"Start resizing the group {group.physical_id}"),
        )
        return start

    def _resize(self, stack_id: str, group_name: str, start: dict[str, Any]) -> None:
        """Start the nested update the decision recorded; a refusal of it ends the scaling."""
        with self.runtime.store.session() as session:
            group = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == group_name))
            member = secrets.open_value(self.runtime.keyring, (group.data or {}).get("member"))
            child_id = group.physical_id
        try:
            self.runtime.stacks.update(
                child_id,
                template=scaling_template(start["members"], member),
                template_name=group_name,
                environment=None,
                parameters={},
                timeout_mins=start["timeout_mins"],
                keep_environment=True,
            )
        except HearthError as error:  # the resize could not start: the scaling ends, failed
            log.warning("scaling of %s in stack %s could not start: %s", group_name, stack_id, error)
            self.finished(stack_id, group_name, failure=f"the resize could not start: {error}")
            raise Refused(f"the group '{group_name}' could not be resized: {error}") from None

    # Ending -------------------------------------------------------------------------------
    def finished(self, stack_id: str, group_name: str, failure: str | None = None) -> None:
        """The group's nested stack ended an operation (or its resize could not start): end the
        scaling it was doing, if any. Idempotent, and safe on any replica."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            stack = session.get(Stack, stack_id, with_for_update=True)
            if stack is None or stack.deleted_at is not None:
                return
            group = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == group_name))
            if group is None or not (group.data or {}).get("pending"):
                return
            if stack.status == "IN_PROGRESS":
                return  # the stack's operation updates the group, and that ends the scaling
            ended = self._finish_locked(session, stack, group, now, failure)
        if ended:
            self.runtime.publish_stack(stack_id)

    def sweep(self) -> None:
        """End the scalings whose end was not heard (the replica that ran the resize stopped
        before it told anyone): every group with a scaling recorded whose nested stack is idle."""
        with self.runtime.store.session() as session:
            # Filtered in the database (the JSON text of a recorded resize or heal), as the
            # health checks' sweep is: most groups have none.
            rows = session.execute(
                select(Resource.stack_id, Resource.name).where(
                    Resource.type.in_(HEALED_TYPES), cast(Resource.data, Text).like('%"pending": {%')
                )
            ).all()
        for stack_id, name in rows:
            self.finished(stack_id, name)
        self.healing.sweep()

    def _finish_locked(
        self, session, stack: Stack, group: Resource, now: dt.datetime, failure: str | None = None
    ) -> bool:
        """End the group's scaling if its resize is over; the caller holds the stack's row lock."""
        gdata = dict(group.data or {})
        pending = gdata.get("pending")
        if not pending:
            return False
        child = session.get(Stack, group.physical_id) if group.physical_id else None
        if failure is None:
            if child is not None and child.status == "IN_PROGRESS":
                return False
            if child is not None and child.operation <= pending["operation"]:
                if now - dt.datetime.fromisoformat(pending["started"]) < START_GRACE:
                    return False
                failure = "the resize never started (the engine that took the signal stopped)"
            elif child is None or child.deleted_at is not None:
                failure = "the group's members' stack is gone"
            elif (child.action, child.status) != ("UPDATE", "COMPLETE"):
                failure = f"{child.action}_{child.status}: {child.status_reason}"
        if pending.get("kind") == "heal":
            return self._healed(session, stack, group, gdata, pending, now, failure)
        members = list(pending["members"])
        if failure is not None:
            alive = set(self.runtime.stacks.resource_states(child.id)) if child is not None else set()
            before = list(pending["from_members"])
            members = [m for m in before if m in alive] + [
                m for m in pending["members"] if m in alive and m not in before
            ]
        group.data = {
            **gdata,
            "members": members,
            "scaling": finished_scaling(
                gdata.get("scaling"), now, pending["cooldown"], pending["adjustment"], size_changed=failure is None
            ),
            "pending": None,
        }
        policy = session.scalar(
            select(Resource).where(Resource.stack_id == stack.id, Resource.name == pending["policy"])
        )
        size = f"from {len(pending['from_members'])} to {len(pending['members'])} members"
        groupname = (pending.get("notice") or {}).get("groupname")
        if failure is None:
            capacity = len(pending["members"])
            ids = _member_ids(session, child.id if child is not None else None)
            for name in pending["removed"]:
                cause = "it had failed" if name in pending.get("failed", []) else "the oldest leave first"
                reason = f"Member '{name}' terminated: scaling in by policy '{pending['policy']}' ({cause})"
                notice = _notice(stack, pending, "autoscaling.member.terminate", capacity, reason)
                self._event(session, stack, group, "SIGNAL", "IN_PROGRESS", reason, now, _member(notice, name, ids))
            for name in pending["added"]:
                reason = f"Member '{name}' launched: scaling out by policy '{pending['policy']}'"
                notice = _notice(stack, pending, "autoscaling.member.launch", capacity, reason)
                self._event(session, stack, group, "SIGNAL", "IN_PROGRESS", reason, now, _member(notice, name, ids))
            notice = _notice(stack, pending, "autoscaling.end", capacity, f"End resizing the group {groupname}")
            self._event(session, stack, group, "SIGNAL", "COMPLETE", f"Scaled {size}", now, notice)
            if policy is not None:
                self._event(session, stack, policy, "SIGNAL", "COMPLETE", pending["reason"], now)
        else:
            reason = f"Scaling {size} failed: {failure}"
            notice = _notice(stack, pending, "autoscaling.error", len(members), failure)
            self._event(session, stack, group, "SIGNAL", "FAILED", reason, now, notice)
            if policy is not None:
                self._event(session, stack, policy, "SIGNAL", "FAILED", reason, now)
        return True

    def _healed(self, session, stack, group, gdata, pending, now, failure: str | None) -> bool:
        """A replacement of unhealthy members ended."""
        health = dict(gdata.get("health") or {})
        replaced_at = dict(health.get("replaced_at") or {})
        strikes = dict(health.get("strikes") or {})
        for name, reason in pending["replaced"].items():
            strikes.pop(name, None)
            if failure is None:
                replaced_at[name] = now.isoformat()
                self._event(
                    session,
                    stack,
                    group,
                    "CHECK",
                    "COMPLETE",
                    f"Member '{name}' replaced (it was unhealthy: {reason})",
                    now,
                )
            else:
                self._event(
                    session, stack, group, "CHECK", "FAILED", f"Replacing member '{name}' failed: {failure}", now
                )
        group.data = {**gdata, "health": {**health, "strikes": strikes, "replaced_at": replaced_at}, "pending": None}
        return True

    def _told_once(self, session, stack: Stack, policy: Resource, status: str, reason: str, now: dt.datetime) -> None:
        """A decision's SIGNAL event, unless the policy's last event said the same: an alarm
        repeating its action every evaluation gets one event, not one per evaluation."""
        last = session.scalar(
            select(Event.reason)
            .where(Event.stack_id == stack.id, Event.resource_name == policy.name)
            .order_by(Event.seq.desc())
            .limit(1)
        )
        if last != reason:
            self._event(session, stack, policy, "SIGNAL", status, reason, now)

    @staticmethod
    def _event(
        session,
        stack: Stack,
        row: Resource,
        action: str,
        status: str,
        reason: str,
        now: dt.datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:
        event = resource_event(stack.id, row.name, row.type, row.physical_id, action, status, reason, now)
        event.detail = detail
        session.add(event)


def _notice(stack: Stack, pending: dict[str, Any], kind: str, capacity: int, message: str) -> dict[str, Any] | None:
    """An event's detail for Heat's autoscaling notification `kind` (engine.notifications):
    the resize's figures and the group's stack's state as they are now. None for a resize
    recorded before notifications were (it has no `notice`)."""
    notice = pending.get("notice")
    if notice is None:
        return None
    return {
        "notification": kind,
        **notice,
        "capacity": capacity,
        "message": message,
        "state": f"{stack.action}_{stack.status}",
        "state_reason": stack.status_reason,
    }


def _member(notice: dict[str, Any] | None, name: str, ids: dict[str, str | None]) -> dict[str, Any] | None:
    return None if notice is None else {**notice, "member": name, "member_id": ids.get(name)}


def _member_ids(session, child_id: str | None) -> dict[str, str | None]:
    """The group's members' physical ids, by name."""
    if child_id is None:
        return {}
    rows = session.execute(select(Resource.name, Resource.physical_id).where(Resource.stack_id == child_id))
    return {row.name: row.physical_id for row in rows}


def _plain(value: Any) -> Any:
    """1.0 as 1: an adjustment as Heat's notification carries it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _number(value: Any) -> str:
    """1.0 as 1, 1.5 as 1.5: an adjustment as a person wrote it."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
