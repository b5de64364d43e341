"""Stack update, rollback, cancel, suspend/resume/check, breakpoints, mark-unhealthy, preview,
abandon and adopt through engine.service on real stores (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest

from engine.errors import InvalidRequest, NotSupported
from tests.support import create, settle, wait_for


def outputs(service, stack_id):
    return {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}


def resources(service, stack_id):
    return {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}


def events_since(service, stack_id, count):
    return [(e["resource_name"], e["resource_status"]) for e in service.resources.list_events("admin", stack_id)][
        count:
    ]


def event_count(service, stack_id):
    return len(service.resources.list_events("admin", stack_id))


V1 = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: one}
  length: {type: number, default: 8}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
  random: {type: OS::Heat::RandomString, properties: {length: {get_param: length}}}
  steady: {type: OS::Heat::Value, properties: {value: fixed}}
  gone: {type: OS::Heat::Value, properties: {value: {get_attr: [value, value]}}}
outputs:
  word: {value: {get_attr: [value, value]}}
  random: {value: {get_attr: [random, value]}}
"""

V2 = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: one}
  length: {type: number, default: 8}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
  random: {type: OS::Heat::RandomString, properties: {length: {get_param: length}}}
  steady: {type: OS::Heat::Value, properties: {value: fixed}}
  added: {type: OS::Heat::Value, properties: {value: {list_join: ['+', [{get_attr: [value, value]}, new]]}}}
outputs:
  word: {value: {get_attr: [value, value]}}
  random: {value: {get_attr: [random, value]}}
  added: {value: {get_attr: [added, value]}}
"""


def test_update_changes_in_place_replaces_adds_and_removes(service):
    stack_id = create(service, "upd", V1)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    before = resources(service, stack_id)
    old_random = outputs(service, stack_id)["random"]
    mark = event_count(service, stack_id)
    service.operations.update_stack(
        "admin", stack_id, {"template": V2, "parameters": {"word": "two", "length": 12}}, patch=False
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    after = resources(service, stack_id)
    assert set(after) == {"value", "random", "steady", "added"}
    # value: update_allowed property changed -> updated in place, same physical id.
    assert after["value"]["resource_status"] == "UPDATE_COMPLETE"
    assert after["value"]["physical_resource_id"] == before["value"]["physical_resource_id"]
    # random: length is not update_allowed -> replaced: a new value of the new length.
    got = outputs(service, stack_id)
    assert len(got["random"]) == 12 and got["random"] != old_random
    assert got == {"word": "two", "random": got["random"], "added": "two+new"}
    log = events_since(service, stack_id, mark)
    assert ("steady", "UPDATE_IN_PROGRESS") not in log  # unchanged resources are left alone
    assert ("added", "CREATE_COMPLETE") in log and ("gone", "DELETE_COMPLETE") in log
    assert log.index(("added", "CREATE_COMPLETE")) < log.index(("gone", "DELETE_IN_PROGRESS"))
    assert log[-1] == ("upd", "UPDATE_COMPLETE")


def test_patch_update_keeps_template_and_parameters(service):
    stack_id = create(service, "patch", V1, parameters={"word": "kept", "length": 10})
    settle(service, stack_id)
    service.operations.update_stack("admin", stack_id, {"parameters": {"word": "patched"}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    got = outputs(service, stack_id)
    assert got["word"] == "patched" and len(got["random"]) == 10
    service.operations.update_stack("admin", stack_id, {"clear_parameters": ["word"]}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, stack_id)["word"] == "one"


FAILING = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: one}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
  handle: {type: OS::Heat::WaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    depends_on: value
    properties: {handle: {get_resource: handle}, timeout: 1}
outputs:
  word: {value: {get_attr: [value, value]}}
"""


def test_failed_update_rolls_back_to_the_previous_definition(service):
    stack_id = create(service, "rb", V1, parameters={"word": "before"}, disable_rollback=False)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.operations.update_stack(
        "admin", stack_id, {"template": FAILING, "parameters": {"word": "after"}}, patch=False
    )
    stack = settle(service, stack_id, timeout=60)
    assert stack["stack_status"] == "ROLLBACK_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id)["word"] == "before"
    assert set(resources(service, stack_id)) == {"value", "random", "steady", "gone"}
    statuses = [
        e["resource_status"] for e in service.resources.list_events("admin", stack_id) if e["resource_name"] == "rb"
    ]
    # As Heat: no event of the failure itself, the rollback follows the update directly.
    assert statuses[-3:] == ["UPDATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]


def test_failed_update_without_rollback_stays_failed_and_a_new_update_recovers(service):
    stack_id = create(service, "norb", V1)
    settle(service, stack_id)
    service.operations.update_stack("admin", stack_id, {"template": FAILING}, patch=False)
    stack = settle(service, stack_id, timeout=60)
    assert stack["stack_status"] == "UPDATE_FAILED" and "wait" in stack["stack_status_reason"]
    service.operations.update_stack("admin", stack_id, {"template": V2}, patch=False)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert "wait" not in resources(service, stack_id)


def test_failed_create_rolls_back_by_deleting_what_it_made(service):
    stack_id = create(service, "crb", FAILING, disable_rollback=False)
    stack = settle(service, stack_id, timeout=60)
    assert stack["stack_status"] == "ROLLBACK_COMPLETE", stack["stack_status_reason"]
    assert resources(service, stack_id) == {}  # as Heat: a rolled back create lists none


WAITING = FAILING.replace("timeout: 1", "timeout: 600")


def test_cancel_update_rolls_back_and_cancel_without_rollback_fails(service):
    stack_id = create(service, "cancel", V1, disable_rollback=True)
    settle(service, stack_id)
    service.operations.update_stack(
        "admin", stack_id, {"template": WAITING, "parameters": {"word": "new"}}, patch=False
    )
    wait_for(
        lambda: resources(service, stack_id)["wait"]["resource_status"] == "CREATE_IN_PROGRESS",
        20,
        message="the wait condition to start waiting",
    )
    service.operations.stack_action("admin", stack_id, "cancel_update")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "ROLLBACK_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id)["word"] == "one"
    service.operations.update_stack("admin", stack_id, {"template": WAITING}, patch=False)
    wait_for(
        lambda: resources(service, stack_id)["wait"]["resource_status"] == "CREATE_IN_PROGRESS",
        20,
        message="the wait condition to start waiting",
    )
    service.operations.stack_action("admin", stack_id, "cancel_without_rollback")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_FAILED" and "cancelled" in stack["stack_status_reason"]
    # The stack answers at once; the scheduler then cancels what was waiting.
    wait_for(
        lambda: resources(service, stack_id)["wait"]["resource_status"] == "CREATE_FAILED",
        20,
        message="the waiting resource to be cancelled",
    )
    with pytest.raises(NotSupported, match="Cancelling update when stack is UPDATE_FAILED"):
        service.operations.stack_action("admin", stack_id, "cancel_update")


def test_suspend_resume_check_walk_every_resource(service):
    stack_id = create(service, "sus", V1)
    settle(service, stack_id)
    # As Heat: resuming what is not suspended is tried, and fails on the first resource.
    service.operations.stack_action("admin", stack_id, "resume")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "RESUME_FAILED"
    assert "State ('CREATE', 'COMPLETE') invalid for resume" in stack["stack_status_reason"]
    for action, status in (("suspend", "SUSPEND_COMPLETE"), ("resume", "RESUME_COMPLETE"), ("check", "CHECK_COMPLETE")):
        service.operations.stack_action("admin", stack_id, action)
        stack = settle(service, stack_id)
        assert stack["stack_status"] == status, stack["stack_status_reason"]
        assert {r["resource_status"] for r in resources(service, stack_id).values()} == {status}
    log = [
        e["resource_name"]
        for e in service.resources.list_events("admin", stack_id)
        if e["resource_status"] == "SUSPEND_COMPLETE"
    ]
    assert log.index("gone") < log.index("value")  # suspended in reverse dependency order
    with pytest.raises(InvalidRequest):
        service.operations.stack_action("admin", stack_id, "explode")


def test_a_failed_check_is_not_followed_by_the_checks_of_its_dependents(service):
    template = """heat_template_version: 2018-08-31
resources:
  fine: {type: OS::Heat::TestResource}
  broken: {type: OS::Heat::TestResource, properties: {fail: true}}
  after: {type: OS::Heat::TestResource, depends_on: broken}
  after_after: {type: OS::Heat::TestResource, depends_on: after}
"""
    stack_id = create(service, "checkcut", template, disable_rollback=True)
    assert settle(service, stack_id)["stack_status"] == "CREATE_FAILED"
    service.operations.stack_action("admin", stack_id, "check")
    stack = settle(service, stack_id)
    # As Heat: the check goes on past the failure, but what depends on it is left as it was.
    assert stack["stack_status"] == "CHECK_FAILED"
    assert (
        stack["stack_status_reason"] == "Resource CHECK failed: ['Exception: resources.broken: Resource not created']"
    )
    assert {n: r["resource_status"] for n, r in resources(service, stack_id).items()} == {
        "fine": "CHECK_COMPLETE",
        "broken": "CHECK_FAILED",
        "after": "INIT_COMPLETE",
        "after_after": "INIT_COMPLETE",
    }


HOOKED_ENV = {"resource_registry": {"resources": {"val*": {"hooks": ["pre-create", "pre-update"]}}}}


def paused(service, stack_id, reason: str) -> bool:
    """Whether an event says a resource waits on a hook (as in Heat, its state stays as it was)."""
    return any(e["resource_status_reason"] == reason for e in service.resources.list_events("admin", stack_id))


def test_breakpoints_pause_until_cleared(service):
    stack_id = create(service, "hooks", V1, environment=HOOKED_ENV)
    wait_for(
        lambda: paused(service, stack_id, "CREATE paused until Hook pre-create is cleared"), 20, message="the pause"
    )
    assert resources(service, stack_id)["value"]["resource_status"] == "INIT_COMPLETE"
    assert resources(service, stack_id)["gone"]["resource_status"] == "INIT_COMPLETE"
    with pytest.raises(InvalidRequest):
        service.operations.signal_resource("admin", stack_id, "value", {"unset_hook": "pre-delete"})
    service.operations.signal_resource("admin", stack_id, "value", {"unset_hook": "pre-create"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.operations.update_stack("admin", stack_id, {"parameters": {"word": "two"}}, patch=True)
    wait_for(
        lambda: paused(service, stack_id, "UPDATE paused until Hook pre-update is cleared"),
        20,
        message="the update pause",
    )
    service.operations.signal_resource("admin", stack_id, "value", {"unset_hook": "pre-update"})
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, stack_id)["word"] == "two"


def test_marked_unhealthy_resource_is_replaced_on_the_next_update(service):
    stack_id = create(service, "heal", V1)
    settle(service, stack_id)
    old = outputs(service, stack_id)["random"]
    service.operations.mark_unhealthy("admin", stack_id, "random", True, "disk died")
    row = resources(service, stack_id)["random"]
    assert row["resource_status"] == "CHECK_FAILED" and row["resource_status_reason"] == "disk died"
    service.operations.update_stack("admin", stack_id, {}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, stack_id)["random"] != old
    assert (
        resources(service, stack_id)["random"]["resource_status"] == "CREATE_COMPLETE"
    )  # as Heat: the replacement is a create


def test_preview_update_sorts_every_resource(service):
    stack_id = create(service, "prev", V1)
    settle(service, stack_id)
    changes = service.previews.preview_update(
        "admin", stack_id, {"template": V2, "parameters": {"word": "x", "length": 9}}, patch=False
    )["resource_changes"]
    names = {kind: sorted(r["resource_name"] for r in entries) for kind, entries in changes.items()}
    assert names == {
        "added": ["added"],
        "deleted": ["gone"],
        "replaced": ["random"],
        "unchanged": ["steady"],
        "updated": ["value"],
    }
    preview = service.previews.preview_create("admin", {"stack_name": "p2", "template": V1})["stack"]
    assert sorted(r["resource_name"] for r in preview["resources"]) == ["gone", "random", "steady", "value"]


def test_abandon_then_adopt_keeps_physical_resources(service):
    stack_id = create(service, "aband", V1, tags="web,blue")
    settle(service, stack_id)
    before = resources(service, stack_id)
    data = service.operations.abandon_stack("admin", stack_id)
    assert data["resources"]["random"]["resource_id"] == before["random"]["physical_resource_id"]
    assert service.stacks.list_stacks("admin") == []
    adopted = create(service, "adopted", V1, adopt_stack_data=data)
    stack = settle(service, adopted)
    assert stack["stack_status"] == "ADOPT_COMPLETE", stack["stack_status_reason"]
    after = resources(service, adopted)
    assert {n: r["physical_resource_id"] for n, r in after.items()} == {
        n: r["physical_resource_id"] for n, r in before.items()
    }
    assert outputs(service, adopted)["word"] == "one"
    # Adopted resources remember what they were made from: an update changing nothing leaves
    # them alone, and one changing a property touches only that resource.
    mark = event_count(service, adopted)
    service.operations.update_stack("admin", adopted, {"parameters": {"word": "two"}}, patch=True)
    assert settle(service, adopted)["stack_status"] == "UPDATE_COMPLETE"
    touched = {name for name, status in events_since(service, adopted, mark) if status == "UPDATE_IN_PROGRESS"}
    assert touched == {"adopted", "value", "gone"}
    assert resources(service, adopted)["random"]["physical_resource_id"] == before["random"]["physical_resource_id"]


def test_tags_filter_the_stack_list(service):
    create(service, "tag1", V1, tags="web,blue")
    create(service, "tag2", V1, tags=["web"])
    create(service, "tag3", V1, tags="data-processing-cluster")
    names = lambda **f: sorted(s["stack_name"] for s in service.stacks.list_stacks("admin", filters=f))  # noqa: E731
    assert names() == ["tag1", "tag2"]
    assert names(show_hidden="true") == ["tag1", "tag2", "tag3"]
    assert names(tags="web,blue") == ["tag1"]
    assert names(tags_any="blue,nothing") == ["tag1"]
    assert names(not_tags="web") == []
    assert names(not_tags_any="blue") == ["tag2"]
    shown = service.stacks.show_stack("admin", service.stacks.find_stack("admin", "tag1").id, resolve_outputs=False)
    assert shown["tags"] == ["web", "blue"]


SERVER = """heat_template_version: 2018-08-31
parameters:
  colour: {type: string, default: red}
resources:
  server:
    type: OS::Heat::DeployedServer
    metadata: {colour: {get_param: colour}}
"""


def test_server_metadata_changes_in_place_and_reaches_the_server_document(service):
    from engine.store.models import Server

    stack_id = create(service, "meta", SERVER)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    server_id = resources(service, stack_id)["server"]["physical_resource_id"]

    def document():
        with service.runtime.store.session() as session:
            row = session.get(Server, server_id)
            return row.metadata_version, dict(row.metadata_doc)

    version, doc = document()
    assert doc["colour"] == "red" and "os-collect-config" in doc
    service.operations.update_stack("admin", stack_id, {"parameters": {"colour": "green"}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    new_version, new_doc = document()
    assert new_doc["colour"] == "green" and new_version > version
    # Kept across the update (POLL_SERVER_CFN's key pair: the secret is sealed, so compare opened).
    from engine.software_formats import open_section

    keyring = service.runtime.keyring
    assert open_section(keyring, new_doc["os-collect-config"]) == open_section(keyring, doc["os-collect-config"])
    assert resources(service, stack_id)["server"]["physical_resource_id"] == server_id


def test_adopt_takes_the_template_from_the_abandon_data(service):
    stack_id = create(service, "heatadopt", V1)
    settle(service, stack_id)
    data = service.operations.abandon_stack("admin", stack_id)
    adopted = service.stacks.create_stack("admin", {"stack_name": "heatadopted", "adopt_stack_data": data})["id"]
    assert settle(service, adopted)["stack_status"] == "ADOPT_COMPLETE"
    assert outputs(service, adopted)["word"] == "one"


NESTED = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: unset}
resources:
  inner: {type: OS::Heat::RandomString}
  echo: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
outputs:
  random: {value: {get_attr: [inner, value]}}
"""
OWNER = """heat_template_version: 2018-08-31
resources:
  owner: {type: nested.yaml, properties: {word: given}}
outputs:
  random: {value: {get_attr: [owner, random]}}
"""


def test_abandon_and_adopt_carry_a_nested_stack(service):
    stack_id = create(service, "withnested", OWNER, files={"nested.yaml": NESTED})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    nested_id = resources(service, stack_id)["owner"]["physical_resource_id"]
    before = resources(service, nested_id)
    random = outputs(service, stack_id)["random"]
    data = service.operations.abandon_stack("admin", stack_id)
    # As Heat: the owner's entry is its nested stack's own abandon data.
    part = data["resources"]["owner"]
    assert part["id"] == nested_id and part["environment"]["parameters"] == {"word": "given"}
    assert part["resources"]["inner"]["resource_id"] == before["inner"]["physical_resource_id"]
    assert "resources" in part["template"]

    adopted = service.stacks.create_stack(
        "admin", {"stack_name": "readopted", "adopt_stack_data": data, "files": {"nested.yaml": NESTED}}
    )["id"]
    stack = settle(service, adopted)
    assert stack["stack_status"] == "ADOPT_COMPLETE", stack["stack_status_reason"]
    owner = resources(service, adopted)["owner"]
    assert owner["resource_status"] == "ADOPT_COMPLETE"
    new_nested = owner["physical_resource_id"]
    assert new_nested != nested_id  # a nested stack of its own, adopting the old one's resources
    assert service.stacks.show_stack("admin", new_nested, resolve_outputs=False)["stack_status"] == "ADOPT_COMPLETE"
    assert {n: r["physical_resource_id"] for n, r in resources(service, new_nested).items()} == {
        n: r["physical_resource_id"] for n, r in before.items()
    }
    assert outputs(service, adopted)["random"] == random
    # The owner recorded what it was made from: an update that changes nothing keeps the
    # nested resources.
    service.operations.update_stack(
        "admin", adopted, {"template": OWNER, "files": {"nested.yaml": NESTED}}, patch=False
    )
    assert settle(service, adopted)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, adopted)["random"] == random

    # Only the nested stack's part, adopted as a stack of its own: its parameters come from it.
    alone = service.stacks.create_stack("admin", {"stack_name": "nestedalone", "adopt_stack_data": part})["id"]
    assert settle(service, alone)["stack_status"] == "ADOPT_COMPLETE"
    shown = service.stacks.show_stack("admin", alone)
    assert shown["parameters"]["word"] == "given"
    assert {o["output_key"]: o["output_value"] for o in shown["outputs"]}["random"] == random


def test_the_request_parameters_lie_over_the_adopt_data(service):
    stack_id = create(service, "adoptparams", V1, parameters={"word": "two"})
    settle(service, stack_id)
    data = service.operations.abandon_stack("admin", stack_id)
    assert data["environment"]["parameters"] == {"word": "two"}
    adopted = service.stacks.create_stack(
        "admin", {"stack_name": "adoptparams2", "adopt_stack_data": data, "parameters": {"length": 8}}
    )["id"]
    assert settle(service, adopted)["stack_status"] == "ADOPT_COMPLETE"
    assert outputs(service, adopted)["word"] == "two"
    again = service.operations.abandon_stack("admin", adopted)
    adopted = service.stacks.create_stack(
        "admin", {"stack_name": "adoptparams3", "adopt_stack_data": again, "parameters": {"word": "three"}}
    )["id"]
    assert settle(service, adopted)["stack_status"] == "ADOPT_COMPLETE"
    assert outputs(service, adopted)["word"] == "three"


def test_a_changed_type_replaces_the_resource(service):
    template = (
        "heat_template_version: 2018-08-31\nresources:\n  thing: {type: OS::Heat::Value, properties: {value: 1}}\n"
    )
    stack_id = create(service, "retype", template)
    settle(service, stack_id)
    before = resources(service, stack_id)["thing"]["physical_resource_id"]
    changed = template.replace("OS::Heat::Value, properties: {value: 1}", "OS::Heat::RandomString")
    assert (
        service.previews.preview_update("admin", stack_id, {"template": changed}, patch=False)["resource_changes"][
            "replaced"
        ][0]["resource_name"]
        == "thing"
    )
    service.operations.update_stack("admin", stack_id, {"template": changed}, patch=False)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    after = resources(service, stack_id)["thing"]
    assert after["resource_type"] == "OS::Heat::RandomString" and after["physical_resource_id"] != before


ALIASED = """heat_template_version: 2018-08-31
resources:
  test1: {type: My::TestResource}
"""


@pytest.mark.parametrize(
    "new_alias, target, replaced",
    [
        # Heat's functional test_stack_update_alias_type: another alias of the same type is no change.
        ("My::TestResource2", "OS::Heat::RandomString", False),
        # test_stack_update_alias_changes: the same alias for another type replaces.
        ("My::TestResource", "OS::Heat::TestResource", True),
    ],
)
def test_a_type_change_is_a_change_of_the_type_it_resolves_to(service, new_alias, target, replaced):
    registry = {"My::TestResource": "OS::Heat::RandomString", "My::TestResource2": "OS::Heat::RandomString"}
    stack_id = create(service, "aliased", ALIASED, environment={"resource_registry": registry})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    before = resources(service, stack_id)["test1"]["physical_resource_id"]
    body = {
        "template": ALIASED.replace("My::TestResource", new_alias),
        "environment": {"resource_registry": {**registry, new_alias: target}},
    }
    service.operations.update_stack("admin", stack_id, body, patch=False)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    after = resources(service, stack_id)["test1"]
    assert after["resource_type"] == new_alias
    assert (after["physical_resource_id"] != before) is replaced


class Recorder:
    """A resource type that notes each create and delete, so a test sees their order."""

    @staticmethod
    def install(service, log: list):
        from engine.resources.base import Done, Resource
        from engine.resources.schema import Prop

        class Recorded(Resource):
            type_name = "Test::Recorded"
            inline = True
            properties_schema = {"v": Prop("string", "not update_allowed: a change replaces")}

            def create(self):
                log.append(("create", self.properties["v"]))
                return Done(physical_id=f"rec-{self.properties['v']}")

            def delete(self):
                log.append(("delete", self.state.physical_id))

        service.types["Test::Recorded"] = Recorded


RECORDED = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: a}
  fail: {type: boolean, default: false}
resources:
  r: {type: Test::Recorded, properties: {v: {get_param: v}}}
  after:
    type: OS::Heat::TestResource
    depends_on: r
    properties: {fail: {get_param: fail}}
"""


def test_a_replacement_is_made_before_the_old_resource_is_deleted(service):
    """Heat's order: the new resource first, the old one deleted once the update succeeded
    (and with no events of its own); the events say the update needed a replacement."""
    log: list = []
    Recorder.install(service, log)
    stack_id = create(service, "order", RECORDED)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    before = event_count(service, stack_id)
    service.operations.update_stack("admin", stack_id, {"parameters": {"v": "b"}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert log == [("create", "a"), ("create", "b"), ("delete", "rec-a")]
    assert [e for e in events_since(service, stack_id, before) if e[0] == "r"] == [
        ("r", "UPDATE_IN_PROGRESS"),
        ("r", "UPDATE_COMPLETE"),
        ("r", "CREATE_IN_PROGRESS"),
        ("r", "CREATE_COMPLETE"),
    ]
    shown = resources(service, stack_id)["r"]
    assert (shown["physical_resource_id"], shown["resource_status"]) == ("rec-b", "CREATE_COMPLETE")


def test_what_a_failed_update_replaced_is_deleted_by_the_next_update_or_the_delete(service):
    log: list = []
    Recorder.install(service, log)
    stack_id = create(service, "kept", RECORDED)
    settle(service, stack_id)
    service.operations.update_stack("admin", stack_id, {"parameters": {"v": "b", "fail": True}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    assert log == [("create", "a"), ("create", "b")]  # the old one stays while the stack failed
    service.operations.update_stack("admin", stack_id, {"parameters": {"v": "c", "fail": False}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert log[2:] == [("create", "c"), ("delete", "rec-b"), ("delete", "rec-a")]
    service.operations.update_stack("admin", stack_id, {"parameters": {"v": "d", "fail": True}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    service.stacks.delete_stack("admin", stack_id)
    settle(service, stack_id)
    assert sorted(log[5:]) == [("create", "d"), ("delete", "rec-c"), ("delete", "rec-d")]


REPLACED = """heat_template_version: 2018-08-31
parameters:
  r: {type: string, default: '1'}
  fail: {type: boolean, default: false}
resources:
  test1: {type: OS::Heat::TestResource, properties: {value: v, update_replace_value: {get_param: r}, fail: {get_param: fail}}}
"""


def test_an_update_after_a_failed_replacement_takes_the_original_back(service):
    # Heat's convergence engine (test_stack_update_replace_manual_rollback): the failed
    # replacement is deleted and the original, which needs no change, stays as it was.
    stack_id = create(service, "takeback", REPLACED)
    settle(service, stack_id)
    original = resources(service, stack_id)["test1"]["physical_resource_id"]
    service.operations.update_stack("admin", stack_id, {"parameters": {"r": "2", "fail": True}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_FAILED"
    count = event_count(service, stack_id)
    service.operations.update_stack("admin", stack_id, {"parameters": {"r": "1", "fail": False}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    test1 = resources(service, stack_id)["test1"]
    assert test1["physical_resource_id"] == original and test1["resource_status"] == "UPDATE_COMPLETE"
    assert [e for e in events_since(service, stack_id, count) if e[0] == "test1"] == [
        ("test1", "DELETE_IN_PROGRESS"),
        ("test1", "DELETE_COMPLETE"),
    ]
    # What it was made from is what the next update compares with.
    service.operations.update_stack("admin", stack_id, {"parameters": {"r": "3"}}, patch=True)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert resources(service, stack_id)["test1"]["physical_resource_id"] != original


NESTED_PARENT = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: one}
resources:
  nest: {type: inner.yaml, properties: {v: {get_param: v}}}
"""
NESTED_INNER = """heat_template_version: 2018-08-31
parameters:
  v: {type: string}
resources:
  changed: {type: OS::Heat::Value, properties: {value: {get_param: v}}}
  fixed: {type: OS::Heat::None}
"""


def test_preview_update_with_show_nested_lists_the_nested_changes(service):
    files = {"inner.yaml": NESTED_INNER}
    stack_id = create(service, "prevnest", NESTED_PARENT, files=files)
    settle(service, stack_id)
    body = {"template": NESTED_PARENT, "files": files, "parameters": {"v": "two"}}

    def names(changes):
        return {
            kind: sorted((r["resource_name"], r.get("parent_resource")) for r in entries)
            for kind, entries in changes.items()
            if entries
        }

    shallow = service.previews.preview_update("admin", stack_id, body, patch=False)["resource_changes"]
    assert names(shallow) == {"updated": [("nest", None)]}  # a nested stack always updates
    deep = service.previews.preview_update("admin", stack_id, body, patch=False, show_nested=True)["resource_changes"]
    assert names(deep) == {"updated": [("changed", "nest"), ("nest", None)], "unchanged": [("fixed", "nest")]}
    # Replaced by another type: everything inside goes.
    gone = service.previews.preview_update(
        "admin",
        stack_id,
        {
            "template": NESTED_PARENT.replace("inner.yaml", "OS::Heat::None").replace(
                ", properties: {v: {get_param: v}}", ""
            )
        },
        patch=False,
        show_nested=True,
    )["resource_changes"]
    assert names(gone) == {"replaced": [("nest", None)], "deleted": [("changed", "nest"), ("fixed", "nest")]}
