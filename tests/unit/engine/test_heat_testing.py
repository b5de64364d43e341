"""OS::Heat::TestResource on real stores: Heat's value, output, failure reason, physical-id shape,
update in place or by replacement, and waits that are stored moments in time, not sleeps.

Expected values were recorded from real Heat 27.0.1 (stacks created on it with the same
templates). Time is moved by giving the engine's runtime a clock with an offset: the engine
reads time only through `runtime.now()`, so a 30-second wait ends when the test says so.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.config import Config
from engine.errors import TemplateError
from engine.service import build_service
from engine.store.models import Resource as ResourceRow
from tests.support import create, settle, wait_for
from tests.unit.engine.test_nested_stacks import outputs, resources


class MovableClock:
    """The real clock plus an offset the test moves forward."""

    def __init__(self, real):
        self.real, self.offset = real, 0.0

    def __call__(self):
        return self.real() + dt.timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def started_service(db_url, tmp_path, clock_offset: float = 0.0):
    svc = build_service(Config.from_env({}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed"))
    svc.runtime.clock = MovableClock(svc.runtime.clock)
    svc.runtime.clock.advance(clock_offset)
    svc.start()
    return svc


@pytest.fixture
def service(db_url, tmp_path):
    svc = started_service(db_url, tmp_path)
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


def status(service, stack_id) -> str:
    return service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["stack_status"]


def resource_status(service, stack_id, name) -> str:
    return resources(service, stack_id)[name]["resource_status"]


def update(service, stack_id, template, **parameters) -> dict:
    service.operations.update_stack("admin", stack_id, {"template": template, "parameters": parameters}, patch=False)
    return wait_for(
        lambda: (lambda s: s if s["stack_status"] != "UPDATE_IN_PROGRESS" else None)(
            service.stacks.show_stack("admin", stack_id, resolve_outputs=False)
        ),
        30,
        message="the update",
    )


KNOBS = """heat_template_version: 2018-08-31
parameters:
  value: {type: string, default: a}
  replace: {type: boolean, default: false}
  replace_value: {type: string, default: x}
  fail: {type: boolean, default: false}
  wait: {type: number, default: 0}
resources:
  test:
    type: OS::Heat::TestResource
    properties:
      value: {get_param: value}
      update_replace: {get_param: replace}
      update_replace_value: {get_param: replace_value}
      fail: {get_param: fail}
      wait_secs: {get_param: wait}
outputs:
  ref: {value: {get_resource: test}}
  output: {value: {get_attr: [test, output]}}
  all: {value: {get_attr: [test]}}
"""


def test_value_is_the_output_and_the_physical_id_is_heats_resource_name(service):
    stack_id = create(service, "types-knobs", KNOBS, parameters={"value": "hello"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    physical_id = resources(service, stack_id)["test"]["physical_resource_id"]
    # Recorded from Heat 27.0.1: "types-p1-t-f7vuumbvncur", i.e. STACK-RESOURCE-<12 of base32>.
    assert re.fullmatch(r"types-knobs-test-[a-z2-7]{12}", physical_id)
    assert outputs(service, stack_id) == {"ref": physical_id, "output": "hello", "all": {"output": "hello"}}
    # Recorded from Heat 27.0.1: resource show lists the attribute.
    assert service.resources.show_resource("admin", stack_id, "test")["attributes"] == {"output": "hello"}


FAILING = """heat_template_version: 2018-08-31
resources:
  f: {type: OS::Heat::TestResource, properties: {fail: true, value: zz}}
  g: {type: OS::Heat::TestResource, depends_on: [f]}
outputs:
  fref: {value: {get_resource: f}}
  fout: {value: {get_attr: [f, output]}}
  gref: {value: {get_resource: g}}
"""


def test_fail_fails_the_create_with_heats_reason_without_a_physical_id(service):
    stack_id = create(service, "types-fail", FAILING, disable_rollback=True)
    stack = settle(service, stack_id)
    # Recorded from Heat 27.0.1.
    assert stack["stack_status"] == "CREATE_FAILED"
    assert stack["stack_status_reason"] == "Resource CREATE failed: ValueError: resources.f: Test Resource failed f"
    f = resources(service, stack_id)["f"]
    assert (f["resource_status"], f["resource_status_reason"], f["physical_resource_id"]) == (
        "CREATE_FAILED",
        "ValueError: resources.f: Test Resource failed f",
        "",
    )
    # Heat refers to a resource without a physical id (failed, or never created) by its name.
    assert outputs(service, stack_id) == {"fref": "f", "fout": None, "gref": "g"}
    # Recorded from Heat 27.0.1: a check of a resource that was never created fails so.
    service.operations.stack_action("admin", stack_id, "check")
    settle(service, stack_id)
    assert resources(service, stack_id)["f"]["resource_status_reason"] == "Exception: resources.f: Resource not created"


def test_update_in_place_keeps_the_id_and_replacements_make_a_new_one(service):
    stack_id = create(service, "types-update", KNOBS)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"

    def ref():
        return outputs(service, stack_id)["ref"]

    first = ref()
    # Recorded from Heat 27.0.1: a new value is stored in place (same physical id) ...
    assert update(service, stack_id, KNOBS, value="b")["stack_status"] == "UPDATE_COMPLETE"
    assert (ref(), outputs(service, stack_id)["output"]) == (first, "b")
    # ... update_replace alone changes nothing that needs a replacement ...
    assert update(service, stack_id, KNOBS, value="b", replace=True)["stack_status"] == "UPDATE_COMPLETE"
    assert ref() == first
    # ... a new value while update_replace is true replaces the resource ...
    assert update(service, stack_id, KNOBS, value="c", replace=True)["stack_status"] == "UPDATE_COMPLETE"
    second = ref()
    assert second != first and outputs(service, stack_id)["output"] == "c"
    # ... and so does a new update_replace_value, which cannot change in place.
    assert update(service, stack_id, KNOBS, value="c", replace_value="y")["stack_status"] == "UPDATE_COMPLETE"
    assert ref() not in (first, second)


def test_preview_says_replaced_when_the_value_changes_with_update_replace(service):
    stack_id = create(service, "types-preview", KNOBS)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"

    def preview(**parameters):
        changes = service.previews.preview_update(
            "admin", stack_id, {"template": KNOBS, "parameters": parameters}, patch=False
        )["resource_changes"]
        return [kind for kind, entries in changes.items() if entries]

    # Heat's functional test_preview_update (test_update_resource, test_replaced_resource).
    assert preview(value="b") == ["updated"]
    assert preview(value="b", replace=True) == ["replaced"]
    assert preview(replace=True) == ["updated"]


def test_fail_on_update_keeps_the_old_value(service):
    stack_id = create(service, "types-update-fail", KNOBS, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    stack = update(service, stack_id, KNOBS, value="b", fail=True)
    # Recorded from Heat 27.0.1.
    assert stack["stack_status"] == "UPDATE_FAILED"
    assert (
        resources(service, stack_id)["test"]["resource_status_reason"]
        == "ValueError: resources.test: Test Resource failed test"
    )
    assert outputs(service, stack_id)["output"] == "a"


WAITING = """heat_template_version: 2018-08-31
parameters:
  value: {type: string, default: a}
resources:
  slow:
    type: OS::Heat::TestResource
    properties:
      value: {get_param: value}
      wait_secs: 30
      action_wait_secs: {delete: 0}
  after: {type: OS::Heat::TestResource, depends_on: [slow]}
outputs:
  output: {value: {get_attr: [slow, output]}}
"""


def wake_at(service, stack_id, name):
    with service.runtime.store.session() as session:
        row = session.query(ResourceRow).filter_by(stack_id=stack_id, name=name).one()
        return (row.engine or {}).get("wake_at"), row.waiting


def test_wait_secs_keeps_the_action_in_progress_until_its_stored_moment(service):
    stack_id = create(service, "types-wait", WAITING)
    wait_for(lambda: wake_at(service, stack_id, "slow")[0], 10, message="the stored wake-up time")
    assert wake_at(service, stack_id, "slow")[1] is True
    # Waiting holds nothing back but this resource: the stack is in progress, the next one not started.
    assert status(service, stack_id) == "CREATE_IN_PROGRESS"
    assert resource_status(service, stack_id, "slow") == "CREATE_IN_PROGRESS"
    assert resource_status(service, stack_id, "after") == "INIT_COMPLETE"
    # Heat stores the value when the create starts: the attribute answers while it waits.
    assert outputs(service, stack_id)["output"] == "a"
    service.runtime.clock.advance(31)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert wake_at(service, stack_id, "slow") == (None, False)
    # An update that changes the value waits again; one that does not ends at once (Heat).
    service.operations.update_stack("admin", stack_id, {"template": WAITING, "parameters": {"value": "b"}}, patch=False)
    wait_for(lambda: wake_at(service, stack_id, "slow")[0], 10, message="the update's wake-up time")
    assert resource_status(service, stack_id, "slow") == "UPDATE_IN_PROGRESS"
    service.runtime.clock.advance(31)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, stack_id)["output"] == "b"
    service.stacks.delete_stack("admin", stack_id)  # action_wait_secs: {delete: 0}
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


def test_a_wait_survives_an_engine_restart(db_url, tmp_path):
    first = started_service(db_url, tmp_path)
    try:
        stack_id = create(first, "types-restart", WAITING)
        wait_for(lambda: wake_at(first, stack_id, "slow")[0], 10, message="the stored wake-up time")
    finally:
        first.stop()
        first.runtime.store.dispose()
    # The next engine starts after the moment has passed: it ends the wait from the store.
    second = started_service(db_url, tmp_path, clock_offset=31)
    try:
        stack = settle(second, stack_id)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        assert resource_status(second, stack_id, "after") == "CREATE_COMPLETE"
    finally:
        second.stop()
        second.runtime.store.dispose()


FOREVER = """heat_template_version: 2018-08-31
resources:
  stuck:
    type: OS::Heat::TestResource
    properties: {wait_secs: -1, action_wait_secs: {create: -1, delete: 0}}
"""


def test_a_negative_wait_lasts_until_the_stack_is_cancelled_or_deleted(service):
    stack_id = create(service, "types-forever", FOREVER, timeout_mins=1)
    wait_for(lambda: wake_at(service, stack_id, "stuck")[1], 10, message="the resource to wait")
    service.runtime.clock.advance(3600)  # no moment of its own: only the stack timeout ends it
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "timed out" in stack["stack_status_reason"]
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


PROVIDER = """heat_template_version: 2013-05-23
resources:
  victim: {type: fail.yaml}
"""
GROUP = """heat_template_version: 2013-05-23
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties: {count: 1, resource_def: {type: fail.yaml}}
"""
FAILING_NESTED = """heat_template_version: 2013-05-23
resources:
  oops: {type: OS::Heat::TestResource, properties: {fail: true}}
"""


@pytest.mark.parametrize(
    "template, reason",
    [
        # Recorded from Heat 27.0.1 (and Heat's functional TemplateResourceErrorMessageTest).
        (PROVIDER, "ValueError: resources.victim.resources.oops: Test Resource failed oops"),
        # Recorded from Heat 27.0.1: "ValueError: resources.g.resources[1].resources.oops: ...".
        (GROUP, "ValueError: resources.group.resources[0].resources.oops: Test Resource failed oops"),
    ],
)
def test_a_failure_in_a_nested_stack_names_its_whole_path(service, template, reason):
    stack_id = create(
        service, "types-nested-fail", template, files={"fail.yaml": FAILING_NESTED}, disable_rollback=True
    )
    stack = settle(service, stack_id)
    assert stack["stack_status_reason"] == "Resource CREATE failed: " + reason
    assert [r["resource_status_reason"] for r in resources(service, stack_id).values()] == [reason]


CANCELLED = """heat_template_version: 2017-09-01
parameters:
  value: {type: string, default: Test1}
resources:
  test1:
    type: OS::Heat::TestResource
    properties: {value: {get_param: value}, action_wait_secs: {create: 30, update: 30}}
  test2:
    type: OS::Heat::TestResource
    properties: {value: {get_param: value}}
    depends_on: [test1]
"""


def test_cancel_without_rollback_lets_a_timed_action_finish_and_starts_nothing(service):
    # Heat's functional test_stack_cancel, and the differential cases operations/cancel-create
    # and cancel-update-no-rollback (recorded from Heat 27.0.1): the stack stays IN_PROGRESS
    # while the resource in progress finishes (it ends COMPLETE), then fails with "Operation
    # cancelled"; what had not started stays as it was.
    stack_id = create(service, "types-cancel", CANCELLED)
    wait_for(lambda: wake_at(service, stack_id, "test1")[0], 10, message="test1 to wait")
    service.operations.stack_action("admin", stack_id, "cancel_without_rollback")
    assert status(service, stack_id) == "CREATE_IN_PROGRESS"
    assert resource_status(service, stack_id, "test1") == "CREATE_IN_PROGRESS"
    service.runtime.clock.advance(31)
    stack = settle(service, stack_id)
    assert (stack["stack_status"], stack["stack_status_reason"]) == (
        "CREATE_FAILED",
        "Resource CREATE failed: Operation cancelled",
    )
    assert resource_status(service, stack_id, "test1") == "CREATE_COMPLETE"
    assert resource_status(service, stack_id, "test2") == "INIT_COMPLETE"
    # The next update takes everything on from there; cancelled in turn, it fails once test1's
    # update is over.
    service.operations.update_stack(
        "admin", stack_id, {"template": CANCELLED, "parameters": {"value": "Test2"}}, patch=False
    )
    wait_for(lambda: wake_at(service, stack_id, "test1")[0], 10, message="test1's update to wait")
    service.operations.stack_action("admin", stack_id, "cancel_without_rollback")
    service.runtime.clock.advance(31)
    stack = settle(service, stack_id)
    assert (stack["stack_status"], stack["stack_status_reason"]) == ("UPDATE_FAILED", "Operation cancelled")
    assert resource_status(service, stack_id, "test1") == "UPDATE_COMPLETE"
    service.operations.update_stack(
        "admin", stack_id, {"template": CANCELLED, "parameters": {"value": "Test3"}}, patch=False
    )
    wait_for(lambda: wake_at(service, stack_id, "test1")[0], 10, message="test1's next update to wait")
    service.runtime.clock.advance(31)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    # test2 was never created: this update creates it.
    assert {n: r["resource_status"] for n, r in resources(service, stack_id).items()} == {
        "test1": "UPDATE_COMPLETE",
        "test2": "CREATE_COMPLETE",
    }


def test_an_unknown_action_wait_is_refused(service):
    template = """heat_template_version: 2018-08-31
resources:
  t: {type: OS::Heat::TestResource, properties: {action_wait_secs: {suspend: 1}}}
"""
    with pytest.raises(TemplateError) as error:
        create(service, "types-unknown-wait", template)
    # Recorded from Heat 27.0.1: "resources.t.properties.action_wait_secs: Unknown Property suspend".
    assert error.value.path == ("resources", "t", "properties", "action_wait_secs")
    assert error.value.reason == "Unknown Property suspend"
