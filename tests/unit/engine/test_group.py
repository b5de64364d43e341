"""OS::Heat::ResourceGroup on real stores: members, attributes, removal policies, scaling, failures."""

from __future__ import annotations

import pytest

from tests.unit.engine.test_nested_stacks import create, outputs, resources, running_service, settle


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


GROUP = """heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 3}
  remove: {type: json, default: []}
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_param: count}
      removal_policies: [{resource_list: {get_param: remove}}]
      resource_def:
        type: OS::Heat::Value
        properties: {value: "member-%index%"}
        metadata: {slot: "%index%"}
outputs:
  refs: {value: {get_attr: [group, refs]}}
  refs_map: {value: {get_attr: [group, refs_map]}}
  values: {value: {get_attr: [group, value]}}
  by_name: {value: {get_attr: [group, attributes, value]}}
  first_ref: {value: {get_attr: [group, resource.0]}}
  second_value: {value: {get_attr: [group, resource.1.value]}}
  removed: {value: {get_attr: [group, removed_rsrc_list]}}
"""


def members(service, stack_id):
    """{member name: physical id} of the group's nested stack."""
    child = resources(service, stack_id)["group"]["physical_resource_id"]
    return {name: r["physical_resource_id"] for name, r in resources(service, child).items()}


def test_group_members_are_indexed_and_its_attributes_are_heats(service):
    stack_id = create(service, "trio", GROUP)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    group = resources(service, stack_id)["group"]
    child_id = group["physical_resource_id"]
    assert service.stacks.show_stack("admin", child_id, resolve_outputs=False)["stack_status"] == "CREATE_COMPLETE"
    ids = members(service, stack_id)
    assert list(ids) == ["0", "1", "2"]
    # Heat replaces the index in the properties only (recorded: groups/member-metadata).
    assert service.resources.resource_metadata("admin", child_id, "2") == {"slot": "%index%"}
    values = outputs(service, stack_id)
    assert values["refs"] == [ids["0"], ids["1"], ids["2"]]
    assert values["refs_map"] == ids
    assert values["values"] == ["member-0", "member-1", "member-2"]
    assert values["by_name"] == {"0": "member-0", "1": "member-1", "2": "member-2"}
    assert values["first_ref"] == ids["0"] and values["second_value"] == "member-1"
    assert values["removed"] == []
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert service.stacks.show_stack("admin", child_id, resolve_outputs=False)["stack_status"] == "DELETE_COMPLETE"


def test_removal_policies_on_create_skip_those_names(service):
    stack_id = create(service, "gappy", GROUP, parameters={"remove": ["1"]})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert list(members(service, stack_id)) == ["0", "2", "3"]
    values = outputs(service, stack_id)
    assert values["values"] == ["member-0", "member-2", "member-3"] and values["removed"] == ["1"]


def update(service, stack_id, **parameters):
    service.operations.update_stack("admin", stack_id, {"template": GROUP, "parameters": parameters}, patch=False)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    return members(service, stack_id)


def test_scaling_keeps_members_and_removed_names_are_never_reused(service):
    stack_id = create(service, "elastic", GROUP, parameters={"count": 2})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    before = members(service, stack_id)
    grown = update(service, stack_id, count=4)
    assert list(grown) == ["0", "1", "2", "3"]
    assert {k: grown[k] for k in before} == before  # existing members are kept, not replaced
    shrunk = update(service, stack_id, count=2)
    assert shrunk == before  # the highest indices go first
    # removing member 0 by its reference: 1 stays, 2 is made, and 0 is never used again
    moved = update(service, stack_id, count=2, remove=[before["0"]])
    assert list(moved) == ["1", "2"] and moved["1"] == before["1"]
    assert outputs(service, stack_id)["removed"] == ["0"]
    regrown = update(service, stack_id, count=3)
    assert list(regrown) == ["1", "2", "3"]
    assert outputs(service, stack_id)["values"] == ["member-1", "member-2", "member-3"]


def test_removal_policies_mode_update_forgets_removed_names(service):
    template = GROUP.replace("      removal_policies:", "      removal_policies_mode: update\n      removal_policies:")
    stack_id = create(service, "forgetful", template, parameters={"count": 2, "remove": ["0"]})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert list(members(service, stack_id)) == ["1", "2"]
    service.operations.update_stack(
        "admin", stack_id, {"template": template, "parameters": {"count": 3, "remove": []}}, patch=False
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert list(members(service, stack_id)) == ["1", "2", "0"]
    assert outputs(service, stack_id)["removed"] == []


def test_a_failing_member_fails_the_group_naming_the_member(service):
    template = """heat_template_version: 2018-08-31
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def:
        type: OS::Heat::TestResource
        properties: {fail: true}
"""
    stack_id = create(service, "doomed", template)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    group = resources(service, stack_id)["group"]
    assert group["resource_status"] == "CREATE_FAILED"
    failed = [
        n
        for n, r in resources(service, group["physical_resource_id"]).items()
        if r["resource_status"] == "CREATE_FAILED"
    ]
    # Heat's shape (recorded from Heat 27.0.1): "ValueError: resources.g.resources[1].resources.oops: ..."
    assert failed and group["resource_status_reason"] == (
        f"ValueError: resources.group.resources[{failed[0]}]: Test Resource failed {failed[0]}"
    )


SERVER = """heat_template_version: 2018-08-31
parameters:
  index: {type: string}
resources:
  server: {type: OS::Nova::Server, properties: {image: cirros, flavor: small, name: {list_join: ["-", [web, {get_param: index}]]}}}
outputs:
  first_address: {value: {get_attr: [server, first_address]}}
  name: {value: {get_attr: [server, name]}}
"""

PROVIDER_GROUP = """heat_template_version: 2018-08-31
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def: {type: My::Web, properties: {index: "%index%"}}
outputs:
  names: {value: {get_attr: [group, name]}}
  first_name: {value: {get_attr: [group, resource.0.name]}}
  deep_name: {value: {get_attr: [group, resource.1.resource.server.name]}}
  deep_address: {value: {get_attr: [group, resource.1.resource.server.first_address]}}
  addresses: {value: {get_attr: [group, attributes, first_address]}}
"""


def test_get_attr_reaches_through_a_members_provider_template(service):
    stack_id = create(
        service,
        "fleet",
        PROVIDER_GROUP,
        files={"web.yaml": SERVER},
        environment={"resource_registry": {"My::Web": "web.yaml"}},
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    values = outputs(service, stack_id)
    assert values["names"] == ["web-0", "web-1"] and values["first_name"] == "web-0"
    assert values["deep_name"] == "web-1" and values["deep_address"] == "127.0.0.1"
    assert values["addresses"] == {"0": "127.0.0.1", "1": "127.0.0.1"}
    member = resources(service, resources(service, stack_id)["group"]["physical_resource_id"])["1"]
    assert member["resource_type"] == "My::Web"
    assert resources(service, member["physical_resource_id"])["server"]["resource_status"] == "CREATE_COMPLETE"


def answer(service, stack_id, resource, name, *path):
    """get_attr [resource, name, *path] as the resource's class answers it with the path given
    (attribute_at), from the resource's stored row."""
    from sqlalchemy import select

    from engine.store.models import Resource

    with service.runtime.store.session() as session:
        row = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == resource))
    definition = service.definitions.get(service.stacks.find_stack("admin", stack_id))
    cls = definition.resource_class(service.types, resource)
    return cls.attribute_at(service.runtime, name, list(path), row.physical_id, row.attributes or {}, row.data or {})


def test_paths_after_a_group_attribute_apply_to_each_member_as_in_heat(service):
    template = PROVIDER_GROUP + "  web: {value: {get_resource: group}}\n"
    stack_id = create(
        service,
        "paths",
        template,
        files={
            "web.yaml": SERVER.replace(
                "  name: {value: {get_attr: [server, name]}}\n",
                "  name: {value: {get_attr: [server, name]}}\n  nets: {value: {get_attr: [server, networks]}}\n",
            )
        },
        environment={"resource_registry": {"My::Web": "web.yaml"}},
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert answer(service, stack_id, "group", "nets", "private", 0) == ["127.0.0.1", "127.0.0.1"]
    assert answer(service, stack_id, "group", "attributes", "nets", "private") == {
        "0": ["127.0.0.1"],
        "1": ["127.0.0.1"],
    }
    assert answer(service, stack_id, "group", "name", 1) == ["e", "e"]  # each name's second letter
    assert answer(service, stack_id, "group", "resource.1", "name") == "web-1"
    assert answer(service, stack_id, "group", "resource.1.resource.server", "name") == "web-1"
    assert answer(service, stack_id, "group", "refs", 5) is None
    member = resources(service, resources(service, stack_id)["group"]["physical_resource_id"])["0"]
    # a provider member's reference is its nested stack's ARN
    assert answer(service, stack_id, "group", "resource.0").endswith("/" + member["physical_resource_id"])
