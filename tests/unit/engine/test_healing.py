"""Self-healing groups on real stores: a member found unhealthy `unhealthy_threshold` checks in a
row is marked CHECK_FAILED with the reason and replaced (new member first), paced; nothing is
replaced while every member looks unhealthy; each decision is an event on the group."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.service.healing import batch_size, settings
from engine.store.models import Resource
from tests.support import create, settle, wait_for
from tests.unit.engine.test_nested_stacks import running_service


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


def group(kind="OS::Heat::ResourceGroup", count=3, threshold=1):
    health = {"grace_period": 0, "unhealthy_threshold": threshold, "interval": 1}
    if kind == "OS::Heat::ResourceGroup":
        properties = {"count": count, "resource_def": {"type": "OS::Heat::RandomString"}, "health_check": health}
    else:
        properties = {
            "min_size": count,
            "max_size": count + 2,
            "resource": {"type": "OS::Heat::RandomString"},
            "health_check": health,
        }
    return {"heat_template_version": "2016-10-14", "resources": {"group": {"type": kind, "properties": properties}}}


def child_of(service, stack_id):
    return service.resources.show_resource("admin", stack_id, "group")["physical_resource_id"]


def members(service, child):
    return {r["resource_name"]: r for r in service.resources.list_resources("admin", child)}


def group_events(service, stack_id):
    return [
        (e["resource_status"], e["resource_status_reason"])
        for e in service.resources.list_events("admin", stack_id, resource="group")
    ]


def test_settings_and_pace():
    assert settings(None)["unhealthy_threshold"] == 2
    assert settings({"interval": 5})["interval"] == 5
    assert [batch_size(n) for n in (1, 9, 10, 25, 100)] == [1, 1, 1, 2, 10]


@pytest.mark.parametrize("kind", ["OS::Heat::ResourceGroup", "OS::Heat::AutoScalingGroup"])
def test_an_unhealthy_member_is_replaced_by_itself(service, kind):
    stack_id = create(service, "heal", group(kind))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = child_of(service, stack_id)
    before = members(service, child)
    sick = sorted(before)[1]
    service.operations.mark_unhealthy("admin", child, sick, True, "disk full")

    def replaced():
        now = members(service, child)
        done = now[sick]["physical_resource_id"] != before[sick]["physical_resource_id"]
        return now if done and now[sick]["resource_status"].endswith("COMPLETE") else None

    after = wait_for(replaced, 30, message="the unhealthy member to be replaced by the health check")
    # Only the sick member was replaced; the others kept their ids.
    assert {n: r["physical_resource_id"] for n, r in after.items() if n != sick} == {
        n: r["physical_resource_id"] for n, r in before.items() if n != sick
    }
    reasons = [r for _, r in group_events(service, stack_id)]
    assert any(r.startswith(f"Member '{sick}' is unhealthy (it is CHECK_FAILED: disk full") for r in reasons)
    wait_for(
        lambda: any(
            r.startswith(f"Member '{sick}' replaced (it was unhealthy") for _, r in group_events(service, stack_id)
        ),
        30,
        message="the replacement's event",
    )
    # The parent stack never changed status: the nested stack alone was updated.
    assert service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["stack_status"] == "CREATE_COMPLETE"


def test_nothing_is_replaced_while_every_member_looks_unhealthy(service):
    stack_id = create(service, "all-sick", group(count=2))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = child_of(service, stack_id)
    before = members(service, child)
    for name in before:
        service.operations.mark_unhealthy("admin", child, name, True, "network down")
    halted = wait_for(
        lambda: [r for s, r in group_events(service, stack_id) if r.startswith("All 2 members look unhealthy")],
        30,
        message="the health check to refuse to replace every member",
    )
    assert len(halted) == 1
    assert {n: r["physical_resource_id"] for n, r in members(service, child).items()} == {
        n: r["physical_resource_id"] for n, r in before.items()
    }
    # Told once, not at every check: two more checks come and go.
    first = last_check(service, stack_id)
    wait_for(lambda: last_check(service, stack_id) > first, 30, message="another check")
    second = last_check(service, stack_id)
    wait_for(lambda: last_check(service, stack_id) > second, 30, message="a third check")
    assert len([r for s, r in group_events(service, stack_id) if r.startswith("All 2 members")]) == 1


def last_check(service, stack_id) -> str:
    with service.runtime.store.session() as session:
        row = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == "group"))
        return row.data["health"]["last_check"]
