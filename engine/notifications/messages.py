"""Which events of the stream are Heat notifications and what each says; pure (event and stack
values in, dicts out: no session, no clock, no network).

Heat (heat/engine/notification/stack.py, autoscaling.py, api.format_notification_body), as
recorded in tests/differential/notifications/:

- every change of a stack's state, nested stacks included, is `orchestration.stack.<action>.
  <start|end|error>` (IN_PROGRESS, COMPLETE, FAILED), priority ERROR for `error`;
- a policy's resize is `orchestration.autoscaling.<start|end|error>`, the group's stack's
  body plus adjustment, adjustment_type, capacity, groupname and message, with no user (Heat
  runs it under the stored trust, whose context names none);
- Hearth adds `orchestration.autoscaling.member.<launch|terminate>`, one per member.

A stack event is the row `engine.orchestration.events.stack_event` writes (type OS::Heat::Stack,
the stack itself as physical id); a resize's events carry what they say in `Event.detail`
(`engine.service.scaling`), captured as it happened.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

STACK_TYPE = "OS::Heat::Stack"
SERVICE = "orchestration"
SUFFIXES = {"IN_PROGRESS": "start", "COMPLETE": "end", "FAILED": "error"}
# Event.detail["notification"] of a resize's events.
SCALING_KINDS = (
    "autoscaling.start",
    "autoscaling.end",
    "autoscaling.error",
    "autoscaling.member.launch",
    "autoscaling.member.terminate",
)
# Heat's request context, as its notifications carry it (`_context_<key>`); Hearth fills what it
# knows and leaves the rest null. Never a token or a password.
CONTEXT_KEYS = (
    "auth_token",
    "auth_token_info",
    "auth_url",
    "aws_creds",
    "domain",
    "global_request_id",
    "is_admin",
    "is_admin_project",
    "password",
    "project",
    "project_domain",
    "project_id",
    "project_name",
    "read_only",
    "region_name",
    "request_id",
    "resource_uuid",
    "roles",
    "show_deleted",
    "system_scope",
    "trust_id",
    "trustor_user_id",
    "user",
    "user_domain",
    "user_identity",
    "username",
)


@dataclass(frozen=True)
class StackFacts:
    """What a notification says of its stack (read from its row when published)."""

    id: str
    name: str
    project: str
    username: str | None
    description: str
    tags: list[Any]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    action: str
    status: str
    status_reason: str


@dataclass(frozen=True)
class EventFacts:
    """The event a notification comes from."""

    id: str
    stack_id: str
    project: str
    project_seq: int
    resource_name: str
    resource_type: str
    physical_id: str | None
    action: str
    status: str
    reason: str
    created_at: dt.datetime
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class Notification:
    event_type: str  # without the `orchestration.` prefix
    priority: str  # INFO or ERROR
    payload: dict[str, Any]
    user: str | None


def notification_of(event: EventFacts, stack: StackFacts | None) -> Notification | None:
    """The notification `event` is, or None for the events Heat does not notify."""
    kind = (event.detail or {}).get("notification")
    if kind in SCALING_KINDS:
        return _scaling(event, stack, kind)
    if event.resource_type != STACK_TYPE or event.physical_id != event.stack_id:
        return None  # a resource's event (an OS::Heat::Stack resource's too: its id is its child's)
    suffix = SUFFIXES.get(event.status)
    if suffix is None:
        return None
    body = stack_body(event, stack)
    body["state"] = f"{event.action}_{event.status}"
    body["state_reason"] = event.reason
    priority = "ERROR" if suffix == "error" else "INFO"
    user = stack.username if stack is not None else None
    return Notification(f"stack.{event.action.lower()}.{suffix}", priority, body, user)


def _scaling(event: EventFacts, stack: StackFacts | None, kind: str) -> Notification:
    detail = event.detail or {}
    body = stack_body(event, stack)
    # The group's stack's state when the resize was decided or ended, as Heat's body has it.
    body["state"] = detail.get("state", body["state"])
    body["state_reason"] = detail.get("state_reason", body["state_reason"])
    # Heat sends a resize under its stored trust, whose context names no user.
    body["user_id"] = body["user_identity"] = body["username"] = None
    for key in ("adjustment", "adjustment_type", "capacity", "groupname"):
        body[key] = detail.get(key)
    body["message"] = detail.get("message", event.reason)
    if kind.startswith("autoscaling.member."):
        body["member"] = detail.get("member")
        body["member_id"] = detail.get("member_id")
    priority = "ERROR" if kind == "autoscaling.error" else "INFO"
    return Notification(kind, priority, body, None)


def stack_body(event: EventFacts, stack: StackFacts | None) -> dict[str, Any]:
    """Heat's format_notification_body: the stack's keys (its row gone: what the event says)."""
    if stack is None:
        return {
            "tenant_id": event.project,
            "user_id": None,
            "user_identity": None,
            "username": None,
            "stack_identity": event.stack_id,
            "stack_name": event.resource_name if event.resource_type == STACK_TYPE else None,
            "state": "Unknown",
            "state_reason": "",
            "create_at": None,
            "tags": [],
            "updated_at": None,
            "description": "No description",
        }
    return {
        "tenant_id": stack.project,
        "user_id": stack.username,
        "user_identity": stack.username,
        "username": stack.username,
        "stack_identity": stack.id,
        "stack_name": stack.name,
        "state": f"{stack.action}_{stack.status}",
        "state_reason": stack.status_reason,
        "create_at": iso(stack.created_at),
        "tags": list(stack.tags or []),
        "updated_at": iso(stack.updated_at),
        "description": stack.description,
    }


def envelope(note: Notification, event: EventFacts, publisher_id: str) -> dict[str, Any]:
    """The oslo.messaging message (before messagingv2 wraps it): Heat's keys, its context's
    keys, and the event's identity. `message_id` is the event's id and `_unique_id` the same
    in hex (oslo.messaging's listener drops a `_unique_id` it has just seen), so a message
    published twice is told apart; `hearth_sequence` is the event's number in its project's
    stream (`_context_project_id`), for consumers that dedupe or check order by number."""
    context: dict[str, Any] = dict.fromkeys(CONTEXT_KEYS)
    context.update(
        {
            "is_admin": False,
            "is_admin_project": True,
            "read_only": False,
            "show_deleted": False,
            "roles": [],
            "project": event.project,
            "project_id": event.project,
            "project_name": event.project,
            "user": note.user,
            "user_identity": f"{note.user or '-'} {event.project} - - -",
            "request_id": f"req-{event.id}",
        }
    )
    message: dict[str, Any] = {f"_context_{key}": value for key, value in context.items()}
    message.update(
        {
            "_unique_id": uuid.UUID(event.id).hex if _is_uuid(event.id) else event.id,
            "message_id": event.id,
            "publisher_id": publisher_id,
            "event_type": f"{SERVICE}.{note.event_type}",
            "priority": note.priority,
            "payload": note.payload,
            "timestamp": event.created_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "hearth_sequence": event.project_seq,
        }
    )
    return message


def iso(moment: dt.datetime | None) -> str | None:
    """Heat's heat_timeutils.isotime: 2026-12-06T05:30:33Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
