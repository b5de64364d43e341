"""Rolling updates of OS::Heat::ResourceGroup and OS::Heat::AutoScalingGroup on a real engine and
real stores: Heat's batches, one nested-stack update each (seen in the nested stack's events),
pause_time waited at a stored moment (the test moves the engine's clock, nothing sleeps),
Heat's refusal of pauses past the timeout, health-gated batches (a member failing, a deployment
signalled FAILED) and max_errors (Hearth), a cancel ending a pause, and replacements made
before the members they replace go.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.store.models import Resource as ResourceRow
from tests.support import create, settle, wait_for
from tests.unit.engine.test_group_deployments import deployment_entry, signal
from tests.unit.engine.test_heat_testing import started_service
from tests.unit.engine.test_nested_stacks import outputs, resources


@pytest.fixture
def service(db_url, tmp_path):
    svc = started_service(db_url, tmp_path)
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


GROUP = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: one}
  replace: {type: boolean, default: false}
  create_wait: {type: number, default: 0}
resources:
  g:
    type: OS::Heat::ResourceGroup
    update_policy:
      rolling_update: {max_batch_size: 2, min_in_service: MIN, pause_time: PAUSE}
    properties:
      count: 6
      resource_def:
        type: OS::Heat::TestResource
        properties:
          value: {get_param: v}
          update_replace: {get_param: replace}
          action_wait_secs: {create: {get_param: create_wait}, update: 0, delete: 0}
outputs:
  values: {value: {get_attr: [g, output]}}
"""


def group(pause: float = 0, min_in_service: int = 0) -> str:
    return GROUP.replace("PAUSE", str(pause)).replace("MIN", str(min_in_service))


def start_update(service, stack_id, template, files=None, **body):
    request = {"template": template, "files": files or {}, **body}
    service.operations.update_stack("admin", stack_id, request, patch=False)


def child_of(service, stack_id, name="g") -> str:
    return resources(service, stack_id)[name]["physical_resource_id"]


def values(service, child) -> dict[str, str]:
    """Each member's definition's `value` as the nested stack's template holds it now."""
    members = service.runtime.stacks.template(child)["resources"]
    return {name: member["properties"]["value"] for name, member in members.items()}


def engine_of(service, stack_id, name) -> dict:
    with service.runtime.store.session() as session:
        return dict(session.query(ResourceRow).filter_by(stack_id=stack_id, name=name).one().engine or {})


def batches_in_events(service, child, since: int) -> list[list[tuple[str, str, str]]]:
    """The nested stack's events after the first `since`, one list per nested-stack update:
    (resource, action_status, reason) of its members, in the order they happened."""
    found: list[list[tuple[str, str, str]]] = []
    open_update = False
    for event in service.resources.list_events("admin", child)[since:]:
        name, status = event["resource_name"], event["resource_status"]
        if event["physical_resource_id"] == child:
            open_update = status == "UPDATE_IN_PROGRESS"
            if open_update:
                found.append([])
            continue
        # A member's event always falls inside one nested-stack update.
        assert open_update, f"{name} {status} outside a nested update"
        found[-1].append((name, status, event["resource_status_reason"]))
    return found


def test_six_members_in_batches_of_two_update_in_three_nested_updates_in_order(service):
    stack_id = create(service, "roll-six", group())
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = child_of(service, stack_id)
    since = len(service.resources.list_events("admin", child))
    start_update(service, stack_id, group(), parameters={"v": "two"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    # Heat's order for a ResourceGroup: the highest-numbered members first; each batch's
    # members are updated, and complete, within that batch's own nested-stack update.
    found = batches_in_events(service, child, since)
    assert [sorted({name for name, _, _ in batch}) for batch in found] == [["4", "5"], ["2", "3"], ["0", "1"]]
    for batch in found:
        for name in {n for n, _, _ in batch}:
            assert [status for n, status, _ in batch if n == name] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    # Each nested update completed (after its members) before the next began.
    events = service.resources.list_events("admin", child)[since:]
    stack_statuses = [e["resource_status"] for e in events if e["physical_resource_id"] == child]
    assert stack_statuses == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"] * 3
    assert events[-1]["physical_resource_id"] == child and len(events) == 3 * 6
    assert outputs(service, stack_id)["values"] == ["two"] * 6


def test_pause_time_is_waited_at_a_stored_moment_between_batches_only(service):
    template = group(pause=30)
    stack_id = create(service, "roll-pause", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = child_of(service, stack_id)
    since = len(service.resources.list_events("admin", child))
    start_update(service, stack_id, template, parameters={"v": "two"})
    # The first batch starts at once; then the group waits for a stored moment, holding nothing.
    first = wait_for(lambda: engine_of(service, stack_id, "g").get("wake_at"), 10, message="the first pause")
    assert values(service, child) == {"0": "one", "1": "one", "2": "one", "3": "one", "4": "two", "5": "two"}
    assert resources(service, stack_id)["g"]["resource_status"] == "UPDATE_IN_PROGRESS"
    now = service.runtime.now()
    assert now < dt.datetime.fromisoformat(first) <= now + dt.timedelta(seconds=30)
    service.runtime.clock.advance(31)
    second = wait_for(
        lambda: (lambda w: w if w not in (None, first) else None)(engine_of(service, stack_id, "g").get("wake_at")),
        10,
        message="the second pause",
    )
    assert values(service, child) == {"0": "one", "1": "one", "2": "two", "3": "two", "4": "two", "5": "two"}
    service.runtime.clock.advance(31)
    # No pause after the last batch: the update ends without moving the clock again.
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert dt.datetime.fromisoformat(second) - dt.datetime.fromisoformat(first) >= dt.timedelta(seconds=30)
    # The nested stack's own events: each batch began pause_time after the one before it ended.
    updates = [
        (e["resource_status"], dt.datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")))
        for e in service.resources.list_events("admin", child)[since:]
        if e["physical_resource_id"] == child
    ]
    assert [s for s, _ in updates] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"] * 3
    assert updates[2][1] - updates[1][1] >= dt.timedelta(seconds=30)
    assert updates[4][1] - updates[3][1] >= dt.timedelta(seconds=30)


def test_a_cancel_during_a_pause_ends_it_at_once_and_starts_no_more_batches(service):
    template = group(pause=300)
    stack_id = create(service, "roll-cancel", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, template, parameters={"v": "two"})
    wait_for(lambda: engine_of(service, stack_id, "g").get("wake_at"), 10, message="the first pause")
    # Unlike a timed action in progress, a pause has nothing to finish: the cancel needs no
    # moment to pass, and the batches after it never start.
    service.operations.stack_action("admin", stack_id, "cancel_without_rollback")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_FAILED", stack["stack_status_reason"]
    assert resources(service, stack_id)["g"]["resource_status_reason"] == "UPDATE cancelled"
    child = child_of(service, stack_id)
    assert values(service, child) == {"0": "one", "1": "one", "2": "one", "3": "one", "4": "two", "5": "two"}
    assert "wake_at" not in engine_of(service, stack_id, "g")
    assert service.runtime.stacks.state(child)[:2] == ("UPDATE", "COMPLETE")


def test_pauses_that_would_reach_the_stack_timeout_are_refused_as_heat_does(service):
    # 3 batches, 2 pauses of 30 s: 60 s, a timeout of 1 minute (Heat's _update_timeout).
    template = group(pause=30)
    stack_id = create(service, "roll-timeout", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, template, parameters={"v": "two"}, timeout_mins=1)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_FAILED"
    assert resources(service, stack_id)["g"]["resource_status_reason"] == (
        "ValueError: resources.g: The current update policy will result in stack update timeout."
    )
    assert set(values(service, child_of(service, stack_id)).values()) == {"one"}


MEMBER = """heat_template_version: 2018-08-31
parameters:
  index: {type: string}
  bad: {type: comma_delimited_list, default: []}
  value: {type: string}
conditions:
  failing: {contains: [{get_param: index}, {get_param: bad}]}
resources:
  test:
    type: OS::Heat::TestResource
    properties:
      value: {get_param: value}
      fail: {if: [failing, true, false]}
outputs:
  output: {value: {get_attr: [test, output]}}
"""
GATED = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: one}
  bad: {type: comma_delimited_list, default: []}
resources:
  g:
    type: OS::Heat::ResourceGroup
    update_policy:
      rolling_update: {max_batch_size: 2, POLICY}
    properties:
      count: 6
      resource_def:
        type: member.yaml
        properties: {index: "%index%", bad: {get_param: bad}, value: {get_param: v}}
outputs:
  values: {value: {get_attr: [g, output]}}
"""
FILES = {"member.yaml": MEMBER}


def gated(policy: str = "min_in_service: 0") -> str:
    return GATED.replace("POLICY", policy)


def test_a_batch_whose_member_fails_stops_the_rollout(service):
    stack_id = create(service, "roll-gate", gated(), files=FILES, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, gated(), FILES, parameters={"v": "two", "bad": "2"}, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    reason = resources(service, stack_id)["g"]["resource_status_reason"]
    assert "Test Resource failed test" in reason
    assert reason.endswith("(rolling update batch 2 of 3 stopped the rollout; failed members: 2)")
    # The third batch never started: its members keep the old definition and value.
    child = child_of(service, stack_id)
    assert values(service, child) == {"0": "one", "1": "one", "2": "two", "3": "two", "4": "two", "5": "two"}
    # Member 3, in the failed batch, may have been stopped (cancelled) when member 2 failed.
    result = outputs(service, stack_id)["values"]
    assert result[:3] == ["one", "one", "one"] and result[4:] == ["two", "two"]


def test_rollback_gives_the_updated_members_their_old_definitions_back(service):
    stack_id = create(service, "roll-back", gated(), files=FILES, disable_rollback=False)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, gated(), FILES, parameters={"v": "two", "bad": "2"}, disable_rollback=False)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "ROLLBACK_COMPLETE", stack["stack_status_reason"]
    child = child_of(service, stack_id)
    assert set(values(service, child).values()) == {"one"}
    assert {r["resource_status"] for r in resources(service, child).values()} == {"UPDATE_COMPLETE"}
    assert outputs(service, stack_id)["values"] == ["one"] * 6


@pytest.mark.parametrize("policy", ["max_errors: 1", "max_error_percent: 20"])
def test_max_errors_lets_a_batch_with_that_many_failed_members_go_on(service, policy):
    stack_id = create(service, "roll-tolerant", gated(policy), files=FILES, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = child_of(service, stack_id)
    since = len(service.resources.list_events("admin", child))
    start_update(service, stack_id, gated(policy), FILES, parameters={"v": "two", "bad": "2"}, disable_rollback=True)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    # The third batch ran; the member that failed got its old definition back with it, so that
    # its failing again did not stop the members of that batch.
    assert values(service, child) == {"0": "two", "1": "two", "2": "one", "3": "two", "4": "two", "5": "two"}
    assert {r["resource_status"] for r in resources(service, child).values()} == {"UPDATE_COMPLETE"}
    assert outputs(service, stack_id)["values"] == ["two", "two", "one", "two", "two", "two"]
    failures = [
        (n, why) for batch in batches_in_events(service, child, since) for n, st, why in batch if "FAILED" in st
    ]
    assert [n for n, why in failures if "Test Resource failed" in why] == ["2"]


def test_a_replaced_member_is_made_before_the_old_one_goes(service):
    template = group(min_in_service=4)
    stack_id = create(service, "roll-replace", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = child_of(service, stack_id)
    before = {name: r["physical_resource_id"] for name, r in resources(service, child).items()}
    since = len(service.resources.list_events("admin", child))
    # A new value with update_replace needs a replacement; the replacements take 30 s to make.
    start_update(service, stack_id, template, parameters={"v": "two", "replace": True, "create_wait": 30})
    for batch in (["4", "5"], ["2", "3"], ["0", "1"]):

        def making(batch=batch):
            return all(engine_of(service, child, n).get("wake_at") for n in batch)

        wait_for(making, 10, message=f"the replacements of {batch}")
        # While they are being made, the members they replace are still there (kept aside,
        # not deleted) and the others untouched: all six are in service.
        for name in batch:
            kept = engine_of(service, child, name)["backups"]
            assert [b["physical_id"] for b in kept] == [before[name]]
        service.runtime.clock.advance(31)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    after = {name: r["physical_resource_id"] for name, r in resources(service, child).items()}
    assert all(after[n] != before[n] for n in after)
    assert all("backups" not in engine_of(service, child, n) for n in after)
    # Heat's events of a replacement: the old one "requires replacement", then the new one is
    # created, within its batch's nested-stack update (the old one goes without events).
    for batch in batches_in_events(service, child, since):
        for name in {n for n, _, _ in batch}:
            mine = [(status, why) for n, status, why in batch if n == name]
            assert [status for status, _ in mine] == [
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE",
                "CREATE_IN_PROGRESS",
                "CREATE_COMPLETE",
            ]
            assert "requires replacement" in mine[1][1]


ASG = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: one}
  fail: {type: boolean, default: false}
  size: {type: number, default: 4}
resources:
  asg:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 0
      max_size: 6
      desired_capacity: {get_param: size}
      rolling_updates: {POLICY}
      resource:
        type: OS::Heat::TestResource
        properties: {value: {get_param: v}, fail: {get_param: fail}}
outputs:
  refs: {value: {get_attr: [asg, refs]}}
  values: {value: {get_attr: [asg, outputs_list, output]}}
"""


def asg(policy: str) -> str:
    return ASG.replace("POLICY", policy)


def test_an_autoscaling_group_replaces_its_oldest_members_first_in_batches(service):
    template = asg("max_batch_size: 2")
    stack_id = create(service, "asg-roll", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    names = list(outputs(service, stack_id)["refs"])
    child = child_of(service, stack_id, "asg")
    order = list(service.runtime.stacks.resource_names(child))
    since = len(service.resources.list_events("admin", child))
    start_update(service, stack_id, template, parameters={"v": "two"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    # Two batches (Heat's InstanceGroup._replace), then the resize, which changes nothing here.
    found = batches_in_events(service, child, since)
    assert [sorted({n for n, _, _ in batch}) for batch in found] == [sorted(order[:2]), sorted(order[2:]), []]
    assert outputs(service, stack_id)["refs"] == names
    assert outputs(service, stack_id)["values"] == ["two"] * 4


def test_an_autoscaling_group_keeps_min_in_service_with_an_extra_member(service):
    template = asg("max_batch_size: 1, min_in_service: 2")
    stack_id = create(service, "asg-extra", template, parameters={"size": 2})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    first = list(service.runtime.stacks.resource_names(child_of(service, stack_id, "asg")))
    start_update(service, stack_id, template, parameters={"v": "two", "size": 2})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    # Heat's batches: (3, 1) adds a member with the new definition, (3, 1) gives it to the
    # oldest, (2, 0) removes the one left with the old definition; never fewer than 2 in service.
    child = child_of(service, stack_id, "asg")
    now = list(service.runtime.stacks.resource_names(child))
    assert len(now) == 2 and now[0] == first[0] and first[1] not in now
    assert set(values(service, child).values()) == {"two"}
    assert outputs(service, stack_id)["values"] == ["two", "two"]


def test_an_autoscaling_group_stops_at_a_failed_batch_and_keeps_the_rest(service):
    template = asg("max_batch_size: 1, pause_time: 5")
    stack_id = create(service, "asg-gate", template, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, template, parameters={"v": "two", "fail": True}, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    reason = resources(service, stack_id)["asg"]["resource_status_reason"]
    child = child_of(service, stack_id, "asg")
    oldest = service.runtime.stacks.resource_names(child)[0]
    assert reason.endswith(f"(rolling update batch 1 of 4 stopped the rollout; failed members: {oldest})")
    assert [v for n, v in values(service, child).items() if n != oldest] == ["one"] * 3


def test_an_autoscaling_rollout_with_more_failed_members_than_max_errors_stops(service):
    template = asg("max_batch_size: 2, max_errors: 1")
    stack_id = create(service, "asg-errors", template, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, template, parameters={"v": "two", "fail": True}, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    # Every member fails with the new definition: the first failure is tolerated (and that
    # member given its old definition back), the second stops the rollout.
    reason = resources(service, stack_id)["asg"]["resource_status_reason"]
    assert re.search(r"\(rolling update batch [12] of 2 stopped the rollout; failed members: [a-z2-7]{12}\)$", reason)
    assert outputs(service, stack_id)["values"] == ["one"] * 4


NODE = """heat_template_version: 2018-08-31
parameters:
  colour: {type: string}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\n", inputs: [{name: colour}]}
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {colour: {get_param: colour}}
"""
FLEET = """heat_template_version: 2018-08-31
parameters:
  colour: {type: string, default: blue}
resources:
  g:
    type: OS::Heat::ResourceGroup
    update_policy:
      rolling_update: {max_batch_size: 2}
    properties:
      count: 4
      resource_def: {type: node.yaml, properties: {colour: {get_param: colour}}}
"""


def signal_members(service, stack_id, colours: dict[str, tuple[str, int]]) -> None:
    """Answer, as each member's agent would, the deployment of `colour` its server is given:
    member name -> (colour, deploy_status_code)."""
    child = wait_for(lambda: child_of(service, stack_id), 10, message="the group's nested stack")
    for name, (colour, code) in colours.items():

        def server(name=name):
            member = resources(service, child).get(name, {}).get("physical_resource_id")
            return member and resources(service, member).get("server", {}).get("physical_resource_id")

        server_id = wait_for(server, 30, message=f"member {name}'s server")

        def entry(server_id=server_id, colour=colour):
            found = deployment_entry(service, server_id)
            inputs = {i["name"]: i["value"] for i in found["inputs"]}
            return found if inputs.get("colour") == colour else None

        signal(
            service, wait_for(entry, 30, message=f"member {name}'s {colour} deployment"), {"deploy_status_code": code}
        )


def test_a_deployment_signalled_failed_stops_the_rollout_at_its_batch(service):
    stack_id = create(service, "roll-fleet", FLEET, files={"node.yaml": NODE}, disable_rollback=True)
    signal_members(service, stack_id, dict.fromkeys("0123", ("blue", 0)))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    start_update(service, stack_id, FLEET, {"node.yaml": NODE}, parameters={"colour": "red"}, disable_rollback=True)
    # The first batch (members 3 and 2): member 2's agent reports a failure.
    signal_members(service, stack_id, {"3": ("red", 0), "2": ("red", 1)})
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    reason = resources(service, stack_id)["g"]["resource_status_reason"]
    assert reason.endswith("(rolling update batch 1 of 2 stopped the rollout; failed members: 2)"), reason
    members = service.runtime.stacks.template(child_of(service, stack_id))["resources"]
    assert {n: m["properties"]["colour"] for n, m in members.items()} == {
        "0": "blue",
        "1": "blue",
        "2": "red",
        "3": "red",
    }
