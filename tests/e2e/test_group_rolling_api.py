"""A group's rolling update through the orchestration API of a real Hearth server on 127.0.0.1:
batches seen in the nested events (nested_depth), pause_time held at a stored moment (the test
moves the server engine's clock; nothing sleeps), the stack's reason when a batch fails."""

from __future__ import annotations

import pytest

from engine.store.models import Resource as ResourceRow
from tests.support import wait_for
from tests.unit.engine.test_heat_testing import MovableClock

pytestmark = pytest.mark.e2e

GROUP = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: one}
  fail: {type: boolean, default: false}
resources:
  g:
    type: OS::Heat::ResourceGroup
    update_policy:
      rolling_update: {max_batch_size: 2, pause_time: 60}
    properties:
      count: 6
      resource_def:
        type: OS::Heat::TestResource
        properties: {value: {get_param: v}, fail: {get_param: fail}}
outputs:
  values: {value: {get_attr: [g, output]}}
"""


def update(hearth, name: str, parameters: dict) -> None:
    stack = hearth.stack(name)
    body = {"template": GROUP, "parameters": parameters, "disable_rollback": True}
    response = hearth.http.put(f"{hearth.api}/stacks/{name}/{stack['id']}", json=body, timeout=30)
    assert response.status_code == 202, response.text


def nested_events(hearth, name: str) -> list[dict]:
    """The group's nested stack's events, oldest first, through the parent's (nested_depth=1)."""
    stack, child = hearth.stack(name), hearth.resources(name)["g"]["physical_resource_id"]
    url = f"{hearth.api}/stacks/{name}/{stack['id']}/events?nested_depth=1&sort_dir=asc"
    response = hearth.http.get(url, timeout=30)
    response.raise_for_status()
    return [e for e in response.json()["events"] if stack_link(e).endswith(f"/{child}")]


def stack_link(event: dict) -> str:
    return next(link["href"] for link in event["links"] if link["rel"] == "stack")


def wake_at(hearth, name: str) -> str | None:
    with hearth.service.runtime.store.session() as session:
        row = session.query(ResourceRow).filter_by(stack_id=hearth.stack(name)["id"], name="g").one()
        return (row.engine or {}).get("wake_at")


def test_a_rolling_update_runs_in_paused_batches_and_stops_at_a_failed_one(hearth):
    hearth.service.runtime.clock = MovableClock(hearth.service.runtime.clock)
    hearth.create_stack("rolling", GROUP)
    assert hearth.wait_stack("rolling", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
    since = len(nested_events(hearth, "rolling"))
    update(hearth, "rolling", {"v": "two"})
    moments: list[str | None] = [None]
    for batch in (1, 2):
        # A new stored moment (not the last pause's, which may not be cleared yet).
        moment = wait_for(
            lambda: (lambda w: w if w not in moments else None)(wake_at(hearth, "rolling")),
            10,
            message=f"the pause after batch {batch}",
        )
        moments.append(moment)
        assert hearth.stack("rolling")["stack_status"] == "UPDATE_IN_PROGRESS"
        hearth.service.runtime.clock.advance(61)
    stack = hearth.wait_stack("rolling", ("UPDATE_COMPLETE",))
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert hearth.outputs("rolling")["values"] == ["two"] * 6
    # The nested stack's events: three updates, each with its two members inside it.
    child = hearth.resources("rolling")["g"]["physical_resource_id"]
    batches: list[list[str]] = []
    for event in nested_events(hearth, "rolling")[since:]:
        if event["physical_resource_id"] == child:
            if event["resource_status"] == "UPDATE_IN_PROGRESS":
                batches.append([])
        elif event["resource_status"] == "UPDATE_COMPLETE":
            batches[-1].append(event["resource_name"])
    assert [sorted(b) for b in batches] == [["4", "5"], ["2", "3"], ["0", "1"]]
    # A definition that fails stops the rollout at its first batch.
    update(hearth, "rolling", {"v": "three", "fail": True})
    stack = hearth.wait_stack("rolling", ("UPDATE_FAILED",))
    assert stack["stack_status"] == "UPDATE_FAILED"
    reason = hearth.resources("rolling")["g"]["resource_status_reason"]
    assert "(rolling update batch 1 of 3 stopped the rollout; failed members: " in reason
    assert hearth.outputs("rolling")["values"][:4] == ["two"] * 4
