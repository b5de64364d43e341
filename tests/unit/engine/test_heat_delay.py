"""OS::Heat::Delay on real stores: a pause during the actions it lists, as a stored moment the
engine wakes at; no physical id, no attributes, in-place updates (recorded from Heat 27.0.1)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import TemplateError
from engine.resources.heat_delay import Delay
from tests.support import create, settle, wait_for
from tests.unit.engine.test_heat_testing import started_service, status, wake_at
from tests.unit.engine.test_nested_stacks import outputs, resources


@pytest.fixture
def service(db_url, tmp_path):
    """An engine whose clock the test moves (`service.runtime.clock.advance`)."""
    svc = started_service(db_url, tmp_path)
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


DELAY = """heat_template_version: 2018-08-31
parameters:
  wait: {type: number, default: 30}
  actions: {type: comma_delimited_list, default: "CREATE,DELETE,SUSPEND,RESUME"}
resources:
  pause:
    type: OS::Heat::Delay
    properties: {min_wait: {get_param: wait}, actions: {get_param: actions}}
  after: {type: OS::Heat::None, depends_on: [pause]}
outputs:
  ref: {value: {get_resource: pause}}
  all: {value: {get_attr: [pause]}}
"""


def pausing(service, stack_id):
    return wait_for(lambda: wake_at(service, stack_id, "pause")[0], 10, message="the pause's wake-up time")


def test_the_pause_holds_the_next_resource_until_its_moment_and_has_no_id(service):
    stack_id = create(service, "types-delay", DELAY)
    pausing(service, stack_id)
    assert status(service, stack_id) == "CREATE_IN_PROGRESS"
    assert resources(service, stack_id)["after"]["resource_status"] == "INIT_COMPLETE"
    service.runtime.clock.advance(31)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    # Recorded from Heat 27.0.1: no physical id, so get_resource gives the name; no attributes.
    assert resources(service, stack_id)["pause"]["physical_resource_id"] == ""
    assert outputs(service, stack_id) == {"ref": "pause", "all": {}}


def test_suspend_resume_and_delete_pause_when_listed(service):
    stack_id = create(service, "types-delay-actions", DELAY)
    pausing(service, stack_id)
    service.runtime.clock.advance(31)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    for action, done in (("suspend", "SUSPEND_COMPLETE"), ("resume", "RESUME_COMPLETE")):
        service.operations.stack_action("admin", stack_id, action)
        pausing(service, stack_id)
        assert status(service, stack_id) == f"{action.upper()}_IN_PROGRESS"
        service.runtime.clock.advance(31)
        # Heat 27.0.1 fails every resume of a Delay ("'Delay' object has no attribute
        # '_check_status_complete'"): a defect Hearth does not copy.
        assert settle(service, stack_id)["stack_status"] == done
    service.stacks.delete_stack("admin", stack_id)
    pausing(service, stack_id)
    assert status(service, stack_id) == "DELETE_IN_PROGRESS"
    service.runtime.clock.advance(31)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


def test_actions_not_listed_do_not_pause_and_an_update_is_in_place(service):
    stack_id = create(service, "types-delay-none", DELAY, parameters={"actions": "SUSPEND"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    # Recorded from Heat 27.0.1: every property updates in place, without a pause.
    service.operations.update_stack(
        "admin", stack_id, {"template": DELAY, "parameters": {"actions": "SUSPEND", "wait": 5}}, patch=False
    )
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    statuses = [
        e["resource_status"] for e in service.resources.list_events("admin", stack_id) if e["resource_name"] == "pause"
    ]
    assert statuses[-2:] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


JITTER = """heat_template_version: 2018-08-31
resources:
  pause: {type: OS::Heat::Delay, properties: {min_wait: 10, max_jitter: 5, jitter_multiplier: 2}}
"""


def test_the_jitter_stays_within_max_jitter_times_the_multiplier(service):
    before = service.runtime.now()
    stack_id = create(service, "types-delay-jitter", JITTER)
    moment = dt.datetime.fromisoformat(pausing(service, stack_id))
    assert before + dt.timedelta(seconds=10) <= moment <= service.runtime.now() + dt.timedelta(seconds=20)


def test_a_pause_longer_than_the_stack_timeout_fails_the_create(service):
    stack_id = create(service, "types-delay-long", DELAY, parameters={"wait": 4000}, timeout_mins=60)
    stack = settle(service, stack_id)
    # Heat 27.0.1 refuses the stack (400 StackValidationFailed) with these words (after a
    # garbled type name): "maximum delay 4000.0s exceeds stack timeout."
    assert stack["stack_status"] == "CREATE_FAILED"
    assert resources(service, stack_id)["pause"]["resource_status_reason"] == (
        "StackValidationFailed: resources.pause: OS::Heat::Delay maximum delay 4000.0s exceeds stack timeout."
    )


def test_an_action_it_cannot_pause_is_refused():
    # Heat 27.0.1 refuses it too: 'resources.d.properties.actions: ["UPDATE"] is not an
    # allowed value ["CREATE", "DELETE", "SUSPEND", "RESUME"]'.
    with pytest.raises(TemplateError) as error:
        Delay.check_properties({"actions": ["UPDATE"]})
    assert error.value.path == ("actions", "0")
    assert error.value.reason == '"UPDATE" is not an allowed value ["CREATE", "DELETE", "SUSPEND", "RESUME"]'
