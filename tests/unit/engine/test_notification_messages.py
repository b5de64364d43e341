"""Which events are Heat notifications and what they say, held to what real Heat published
(tests/differential/notifications/): event types, priorities, payload keys and values, and
the envelope's keys. Pure: literals in, dicts out."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from engine.errors import InvalidRequest
from engine.notifications import messages
from engine.notifications.bus import kombu_url
from tests.support import ROOT

RECORDED = ROOT / "tests" / "differential" / "notifications"
AT = dt.datetime(2026, 12, 6, 21, 1, 50, 123456)  # noqa: DTZ001 - stored times are naive UTC


def recorded(scenario: str) -> list[dict]:
    """The scenario's oslo.messages, as real Heat published them (normalised)."""
    document = json.loads((RECORDED / f"{scenario}.json").read_text())
    return [m["body"]["oslo.message"] | {"routing_key": m["routing_key"]} for m in document["messages"]]


def stack(**changes) -> messages.StackFacts:
    facts = {
        "id": str(uuid.uuid4()),
        "name": "notify-lifecycle",
        "project": "admin",
        "username": "admin",
        "description": "notifications recording",
        "tags": ["a", "b"],
        "created_at": AT,
        "updated_at": None,
        "action": "CREATE",
        "status": "IN_PROGRESS",
        "status_reason": "Stack CREATE started",
    }
    return messages.StackFacts(**{**facts, **changes})


def event(of: messages.StackFacts, action: str, status: str, reason: str, **changes) -> messages.EventFacts:
    facts = {
        "id": str(uuid.uuid4()),
        "stack_id": of.id,
        "project": of.project,
        "project_seq": 7,
        "resource_name": of.name,
        "resource_type": "OS::Heat::Stack",
        "physical_id": of.id,
        "action": action,
        "status": status,
        "reason": reason,
        "created_at": AT,
        "detail": None,
    }
    return messages.EventFacts(**{**facts, **changes})


def shape(payload: dict, ids: dict[str, str]) -> dict:
    """A payload as the recordings normalise it: ids by name, times by format."""
    out = {}
    for key, value in payload.items():
        if isinstance(value, str) and value in ids:
            value = ids[value]
        elif key in ("create_at", "updated_at") and value is not None:
            value = "<time %Y-%m-%dT%H:%M:%SZ>"
        out[key] = value
    return out


@pytest.mark.parametrize(
    "scenario, action, status, reason",
    [
        ("stack-create", "CREATE", "IN_PROGRESS", "Stack CREATE started"),
        ("stack-create", "CREATE", "COMPLETE", "Stack CREATE completed successfully"),
        ("stack-suspend", "SUSPEND", "COMPLETE", "Stack SUSPEND completed successfully"),
        ("stack-check", "CHECK", "IN_PROGRESS", "Stack CHECK started"),
        ("stack-rollback", "ROLLBACK", "COMPLETE", "Stack ROLLBACK completed successfully"),
    ],
)
def test_a_stack_event_is_heats_stack_notification(scenario, action, status, reason):
    """The payload equals Heat's, key for key and value for value (ids and times as the
    recording normalised them), with its event type, priority and routing key."""
    name = "notify-rollback" if scenario == "stack-rollback" else "notify-lifecycle"
    want = next(m for m in recorded(scenario) if m["payload"]["state"] == f"{action}_{status}")
    tags = want["payload"]["tags"]
    updated = AT if want["payload"]["updated_at"] else None
    of = stack(name=name, tags=tags, updated_at=updated, description=want["payload"]["description"])
    note = messages.notification_of(event(of, action, status, reason), of)
    assert note is not None
    assert f"orchestration.{note.event_type}" == want["event_type"]
    assert note.priority == want["priority"]
    got = shape(note.payload, {of.id: want["payload"]["stack_identity"]})
    assert got == want["payload"]


def test_a_failed_stack_event_is_an_error_notification():
    want = recorded("stack-create-failed")[-1]
    of = stack(name="notify-failing", tags=[], description="a create that fails")
    reason = want["payload"]["state_reason"]
    note = messages.notification_of(event(of, "CREATE", "FAILED", reason), of)
    assert (f"orchestration.{note.event_type}", note.priority) == ("orchestration.stack.create.error", "ERROR")
    assert want["routing_key"] == "notifications.error"
    assert shape(note.payload, {of.id: want["payload"]["stack_identity"]}) == want["payload"]


def test_resource_events_and_a_nested_stack_resource_are_not_notifications():
    of = stack()
    resource = event(of, "CREATE", "COMPLETE", "state changed", resource_name="thing", resource_type="OS::Heat::None")
    # An OS::Heat::Stack resource of the stack: its physical id is its child stack's.
    child = event(of, "CREATE", "COMPLETE", "state changed", resource_name="inner", physical_id=str(uuid.uuid4()))
    signal = event(of, "SIGNAL", "COMPLETE", "signalled", resource_name="thing", resource_type="OS::Heat::None")
    assert [messages.notification_of(e, of) for e in (resource, child, signal)] == [None, None, None]


@pytest.mark.parametrize("kind", ["autoscaling.start", "autoscaling.end", "autoscaling.error"])
def test_a_resize_event_is_heats_autoscaling_notification(kind):
    scenario = "autoscaling-failed" if kind == "autoscaling.error" else "autoscaling"
    want = next(m for m in recorded(scenario) if m["event_type"] == f"orchestration.{kind}")
    group = str(uuid.uuid4())
    of = stack(
        name=want["payload"]["stack_name"],
        tags=[],
        description="a group scaled by a policy",
        action="CREATE",
        status="COMPLETE",
        status_reason="Stack CREATE completed successfully",
    )
    detail = {
        "notification": kind,
        "adjustment": 1,
        "adjustment_type": "change_in_capacity",
        "groupname": group,
        "capacity": want["payload"]["capacity"],
        "message": want["payload"]["message"].replace(want["payload"]["groupname"], group),
        "state": "CREATE_COMPLETE",
        "state_reason": "Stack CREATE completed successfully",
    }
    resize = event(
        of,
        "SIGNAL",
        "IN_PROGRESS",
        "Scaling out",
        resource_name="group",
        resource_type="OS::Heat::AutoScalingGroup",
        physical_id=group,
        detail=detail,
    )
    note = messages.notification_of(resize, of)
    assert (f"orchestration.{note.event_type}", note.priority) == (want["event_type"], want["priority"])
    ids = {of.id: want["payload"]["stack_identity"], group: want["payload"]["groupname"]}
    payload = dict(note.payload, message=note.payload["message"].replace(group, want["payload"]["groupname"]))
    assert shape(payload, ids) == want["payload"]


def test_member_events_add_the_member_to_heats_autoscaling_keys():
    of = stack(action="CREATE", status="COMPLETE")
    detail = {"notification": "autoscaling.member.launch", "member": "m1", "member_id": "abc", "capacity": 2}
    launch = event(of, "SIGNAL", "IN_PROGRESS", "Member 'm1' launched", resource_name="group", detail=detail)
    note = messages.notification_of(launch, of)
    heat_keys = set(next(m for m in recorded("autoscaling") if "groupname" in m["payload"])["payload"])
    assert set(note.payload) == heat_keys | {"member", "member_id"}
    assert (note.event_type, note.payload["member"], note.payload["member_id"]) == (
        "autoscaling.member.launch",
        "m1",
        "abc",
    )


def test_the_envelope_has_heats_keys_and_the_event_as_its_identity():
    of = stack()
    happened = event(of, "CREATE", "IN_PROGRESS", "Stack CREATE started", project_seq=42)
    message = messages.envelope(messages.notification_of(happened, of), happened, "orchestration.node1")
    heat = recorded("stack-create")[0]
    assert set(message) == (set(heat) - {"routing_key"}) | {"hearth_sequence"}
    assert message["message_id"] == happened.id and message["_unique_id"] == uuid.UUID(happened.id).hex
    assert message["hearth_sequence"] == 42 and message["_context_project_id"] == "admin"
    assert message["timestamp"] == "2026-12-06 21:01:50.123456"
    assert (message["_context_auth_token"], message["_context_password"]) == (None, None)


@pytest.mark.parametrize(
    "given, kombu",
    [
        ("rabbit://guest:guest@127.0.0.1:5672/", "amqp://guest:guest@127.0.0.1:5672/"),
        ("rabbit://u:p@h1:5672,u:p@h2:5673/vh", "amqp://u:p@h1:5672/vh;amqp://u:p@h2:5673/vh"),
    ],
)
def test_an_oslo_transport_url_becomes_kombus(given, kombu):
    assert kombu_url(given) == kombu


def test_a_transport_url_that_is_not_rabbitmq_is_refused_without_its_password():
    with pytest.raises(InvalidRequest) as refused:
        kombu_url("kafka://user:s3cret-pass@127.0.0.1:9092/")
    assert "s3cret-pass" not in str(refused.value) and "kafka://user:******@" in str(refused.value)


def test_the_transport_url_is_never_shown_with_its_password():
    """The setting is secret: not in the settings' repr, redacted where it is shown."""
    from engine.config import Config
    from engine.notifications.bus import Bus

    url = "rabbit://hearth:s3cret-pass@127.0.0.1:5672/"
    config = Config.from_env({"HEARTH_NOTIFICATION_TRANSPORT_URL": url})
    assert config.notification_transport_url == url
    assert "s3cret-pass" not in repr(config)
    assert Bus(url).shown == "rabbit://hearth:******@127.0.0.1:5672/"
