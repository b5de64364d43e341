"""Provider templates: types that are templates, through the resource_registry or used directly, on real stores."""

from __future__ import annotations

import pytest

from engine.errors import StackValidationFailed, TemplateError
from engine.service import catalog
from tests.unit.engine.test_nested_stacks import create, outputs, resources, running_service, settle


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


SERVER = """heat_template_version: 2018-08-31
parameters:
  flavor: {type: string, constraints: [{allowed_values: [small, large]}]}
  image: {type: string, default: cirros}
resources:
  server: {type: OS::Nova::Server, properties: {image: {get_param: image}, flavor: {get_param: flavor}}}
outputs:
  first_address: {value: {get_attr: [server, first_address]}}
  flavor: {value: {get_param: flavor}}
"""

TOP = """heat_template_version: 2018-08-31
resources:
  web: {type: OS::Nova::Server, properties: {flavor: small}}
  direct: {type: server.yaml, properties: {flavor: large}}
outputs:
  address: {value: {get_attr: [web, first_address]}}
  flavor: {value: {get_attr: [direct, flavor]}}
  stack_id: {value: {get_attr: [web, OS::stack_id]}}
  ref: {value: {get_resource: web}}
  nested_name: {value: {get_attr: [web, resource.server.name]}}
  nested_ref: {value: {get_attr: [web, resource.server]}}
  everything: {value: {get_attr: [direct]}}
"""


def test_a_mapped_type_and_a_template_name_become_nested_stacks(service):
    stack_id = create(
        service,
        "top",
        TOP.replace("type: OS::Nova::Server", "type: My::Server"),
        files={"server.yaml": SERVER},
        environment={"resource_registry": {"My::Server": "server.yaml"}},
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    found = resources(service, stack_id)
    web_stack, direct_stack = found["web"]["physical_resource_id"], found["direct"]["physical_resource_id"]
    inner = resources(service, web_stack)["server"]
    assert inner["resource_type"] == "OS::Nova::Server" and inner["resource_status"] == "CREATE_COMPLETE"
    values = outputs(service, stack_id)
    assert values["address"] == "127.0.0.1" and values["flavor"] == "large"
    web_name = service.stacks.show_stack("admin", web_stack, resolve_outputs=False)["stack_name"]
    # Heat's reference of a provider resource is its nested stack's ARN
    assert values["stack_id"] == web_stack
    assert values["ref"] == f"arn:openstack:heat::admin:stacks/{web_name}/{web_stack}"
    assert values["nested_name"] == f"{web_name}-server"  # the server's default name in its own stack
    assert values["nested_ref"] == inner["physical_resource_id"]
    assert values["everything"] == {"first_address": "127.0.0.1", "flavor": "large"}
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    for child in (web_stack, direct_stack):
        assert service.stacks.show_stack("admin", child, resolve_outputs=False)["stack_status"] == "DELETE_COMPLETE"


def test_a_stack_id_output_is_what_get_resource_answers(service):
    provider = SERVER + "  OS::stack_id: {value: {get_resource: server}}\n"
    template = """heat_template_version: 2018-08-31
resources:
  web: {type: server.yaml, properties: {flavor: small}}
outputs:
  ref: {value: {get_resource: web}}
  stack_id: {value: {get_attr: [web, OS::stack_id]}}
"""
    stack_id = create(service, "ref", template, files={"server.yaml": provider})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    web_stack = resources(service, stack_id)["web"]["physical_resource_id"]
    server_id = resources(service, web_stack)["server"]["physical_resource_id"]
    assert outputs(service, stack_id) == {"ref": server_id, "stack_id": server_id}


def test_properties_are_checked_against_the_templates_parameters(service):
    template = (
        "heat_template_version: 2018-08-31\nresources:\n  web:\n    type: server.yaml\n"
        "    properties: {flavor: small, colour: red}\n"
    )
    with pytest.raises(TemplateError) as error:
        create(service, "bad", template, files={"server.yaml": SERVER})
    assert str(error.value) == "bad.yaml:5: Property error: resources.web.properties: Unknown Property colour"
    with pytest.raises(TemplateError) as error:
        create(
            service,
            "bad",
            template.replace("colour: red", "image: x").replace("small", "huge"),
            files={"server.yaml": SERVER},
        )
    assert "resources.web.properties.flavor" in str(error.value) and "huge" in str(error.value)


def test_unknown_outputs_are_output_errors_and_a_missing_template_is_reported(service):
    """As in Heat, a provider's attribute names are checked once its stack exists."""
    template = """heat_template_version: 2018-08-31
resources:
  web: {type: server.yaml, properties: {flavor: small}}
outputs:
  x: {value: {get_attr: [web, no_such_output]}}
"""
    stack_id = create(service, "typo", template, files={"server.yaml": SERVER})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    [shown] = service.stacks.show_stack("admin", stack_id)["outputs"]
    assert shown["output_error"] == "The Referenced Attribute (web no_such_output) is incorrect."
    with pytest.raises(TemplateError) as error:
        create(service, "nofile", template)
    assert 'Could not fetch remote template "server.yaml": Invalid URL scheme' in str(error.value)


def test_a_provider_over_an_existing_type_must_have_its_interface(service):
    template = (
        "heat_template_version: 2018-08-31\nresources:\n  web: {type: OS::Nova::Server, properties: {flavor: small}}\n"
    )
    with pytest.raises(StackValidationFailed) as error:
        create(
            service,
            "facade",
            template,
            files={"server.yaml": SERVER},
            environment={"resource_registry": {"OS::Nova::Server": "server.yaml"}},
        )
    # Heat's words alone: heatclient users (and Heat's tests) match the whole message.
    assert str(error.value) == "Attribute name for facade OS::Nova::Server missing in provider"


def test_a_provider_mapped_for_one_resource_must_have_the_interface_of_the_global_one(service):
    """The type's global mapping, another provider template, is the facade (Heat's ignore)."""
    facade = (
        "heat_template_version: 2018-08-31\nparameters:\n  flavor: {type: string}\n"
        "  size: {type: json}\noutputs:\n  flavor: {value: x}\n"
    )
    template = "heat_template_version: 2018-08-31\nresources:\n  web: {type: My::Server, properties: {flavor: small}}\n"
    environment = {
        "resource_registry": {"My::Server": "facade.yaml", "resources": {"web": {"My::Server": "server.yaml"}}}
    }
    with pytest.raises(StackValidationFailed) as error:
        create(service, "over", template, files={"server.yaml": SERVER, "facade.yaml": facade}, environment=environment)
    assert str(error.value) == "Required property size for facade My::Server missing in provider"
    typed = SERVER.replace("image: {type: string, default: cirros}", "size: {type: string, default: s}")
    with pytest.raises(StackValidationFailed) as error:
        create(service, "typed", template, files={"server.yaml": typed, "facade.yaml": facade}, environment=environment)
    assert str(error.value) == "Property size type mismatch between facade My::Server (Map) and provider (String)"
    # template validate does not check it, as in Heat
    body = {"template": template, "files": {"server.yaml": SERVER, "facade.yaml": facade}, "environment": environment}
    assert catalog.validate(body, service.definitions.validate_resources)["Description"] == "No description"


def test_template_names_resolve_as_the_client_sent_them(service):
    """python-heatclient sends absolute file:// names, in the template and in the registry."""
    template = """heat_template_version: 2018-08-31
resources:
  absolute: {type: "file:///srv/stacks/lib/server.yaml", properties: {flavor: small}}
  mapped: {type: My::Server, properties: {flavor: large}}
outputs:
  flavors: {value: [{get_attr: [absolute, flavor]}, {get_attr: [mapped, flavor]}]}
"""
    stack_id = service.stacks.create_stack(
        "admin",
        {
            "stack_name": "names",
            "template": template,
            "template_name": "file:///srv/stacks/top.yaml",
            "files": {"file:///srv/stacks/lib/server.yaml": SERVER},
            "environment": {"resource_registry": {"My::Server": "file:///srv/stacks/lib/server.yaml"}},
        },
    )["id"]
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id)["flavors"] == ["small", "large"]


def test_relative_template_names_resolve_against_the_using_templates_name(service):
    """A provider template's own relative types resolve against its files-map name."""
    web = """heat_template_version: 2018-08-31
resources:
  inner: {type: server.yaml, properties: {flavor: large}}
outputs:
  flavor: {value: {get_attr: [inner, flavor]}}
"""
    template = """heat_template_version: 2018-08-31
resources:
  relative: {type: lib/server.yaml, properties: {flavor: small}}
  deeper: {type: lib/web.yaml}
outputs:
  flavors: {value: [{get_attr: [relative, flavor]}, {get_attr: [deeper, flavor]}]}
"""
    stack_id = service.stacks.create_stack(
        "admin",
        {
            "stack_name": "relative",
            "template": template,
            "template_name": "file:///srv/stacks/top.yaml",
            "files": {"file:///srv/stacks/lib/server.yaml": SERVER, "file:///srv/stacks/lib/web.yaml": web},
        },
    )["id"]
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id)["flavors"] == ["small", "large"]


def test_updating_a_property_updates_the_nested_stack(service):
    template = """heat_template_version: 2018-08-31
parameters:
  flavor: {type: string}
resources:
  web: {type: server.yaml, properties: {flavor: {get_param: flavor}}}
outputs:
  flavor: {value: {get_attr: [web, flavor]}}
"""
    files = {"server.yaml": SERVER}
    stack_id = create(service, "resize", template, files=files, parameters={"flavor": "small"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    web_stack = resources(service, stack_id)["web"]["physical_resource_id"]
    service.operations.update_stack(
        "admin", stack_id, {"template": template, "files": files, "parameters": {"flavor": "large"}}, patch=False
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert resources(service, stack_id)["web"]["physical_resource_id"] == web_stack
    assert outputs(service, stack_id)["flavor"] == "large"


def test_a_nested_resource_named_before_the_path_answers_its_attribute(service):
    """[web, resource.server, first_address] is the nested server's first_address, as in Heat."""
    from tests.unit.engine.test_group import answer

    stack_id = create(
        service,
        "heatpath",
        "heat_template_version: 2018-08-31\nresources:\n  web: {type: server.yaml, properties: {flavor: small}}\n",
        files={"server.yaml": SERVER},
    )
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert answer(service, stack_id, "web", "resource.server", "first_address") == "127.0.0.1"
    assert answer(service, stack_id, "web", "resource.server.networks", "private", 0) == "127.0.0.1"
    assert answer(service, stack_id, "web", "flavor", 0) == "s"
    assert answer(service, stack_id, "web", "resource.nothing", "name") is None
