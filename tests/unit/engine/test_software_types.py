"""StructuredConfig/StructuredDeployment, SoftwareComponent, CloudConfig and MultipartMime on
real stacks (deployed servers, SQLite), completed as an agent would."""

from __future__ import annotations

import email
import json

import pytest
import yaml

from engine.config import Config
from engine.errors import TemplateError
from engine.service import build_service
from engine.store.models import SoftwareConfig
from tests.support import wait_for
from tests.unit.engine.agentless import entry_for, signal, values


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("types")
    svc = build_service(
        Config.from_env({}, db_url=f"sqlite:///{tmp}/t.db", data_dir=str(tmp / "data"), compute="deployed")
    )
    svc.start()
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


def create(service, name, template, **parameters):
    return service.stacks.create_stack(
        "admin", {"stack_name": name, "template": template, "template_name": f"{name}.yaml", "parameters": parameters}
    )["id"]


def settle(service, stack_id, timeout=30):
    def done():
        stack = service.stacks.show_stack("admin", stack_id, resolve_outputs=False)
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    return wait_for(done, timeout, message="the stack to settle")


def output(service, stack_id, key):
    return service.stacks.show_output("admin", stack_id, key)["output_value"]


STRUCTURED = """heat_template_version: 2018-08-31
parameters:
  validate: {type: string, default: LAX}
  key: {type: string, default: get_input}
resources:
  config:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      inputs: [{name: port, type: Number, default: 80}]
      config:
        port: {get_input: port}
        host: {get_input: host}
        action: {get_input: deploy_action}
        transport: {get_input: deploy_signal_transport}
        servers: [{get_input: host}, literal]
        missing: {get_input: nowhere}
        kept: {$in: port}
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::StructuredDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {host: db.example}
      input_values_validate: {get_param: validate}
      input_key: {get_param: key}
outputs:
  config: {value: {get_attr: [config, config]}}
"""


def test_structured_deployment_substitutes_inputs_including_deploy_inputs(service):
    stack_id = create(service, "structured", STRUCTURED)
    entry = entry_for(service, stack_id, "CREATE")
    assert entry["group"] == "json-file"
    assert entry["config"] == {
        "port": 80,
        "host": "db.example",
        "action": "CREATE",
        "transport": "CFN_SIGNAL",
        "servers": ["db.example", "literal"],
        "missing": None,
        "kept": {"$in": "port"},
    }
    signal(service, entry, {})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    # the config itself is the map as written, kept as JSON
    assert output(service, stack_id, "config")["host"] == {"get_input": "host"}


def test_another_input_key_leaves_get_input_to_the_tool(service):
    stack_id = create(service, "inkey", STRUCTURED, key="$in")
    config = entry_for(service, stack_id, "CREATE")["config"]
    assert config["kept"] == 80 and config["host"] == {"get_input": "host"}


def test_strict_validation_fails_on_an_input_without_a_value(service):
    stack_id = create(service, "strict", STRUCTURED, validate="STRICT")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "the config asks for input 'nowhere'" in stack["stack_status_reason"]


def test_empty_structured_config_is_an_empty_map_on_the_server(service):
    template = """heat_template_version: 2018-08-31
resources:
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::StructuredDeployment
    properties: {server: {get_resource: server}}
"""
    stack_id = create(service, "emptymap", template)
    entry = entry_for(service, stack_id, "CREATE")
    assert entry["config"] == {} and entry["group"] == "Heat::Ungrouped"


COMPONENT = """heat_template_version: 2018-08-31
resources:
  component:
    type: OS::Heat::SoftwareComponent
    properties:
      inputs: [{name: who}]
      outputs: [{name: result}]
      configs:
        - {tool: script, config: "#!/bin/sh\\necho install\\n"}
        - {actions: [DELETE], tool: script, config: "#!/bin/sh\\necho remove\\n"}
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: component}
      server: {get_resource: server}
      input_values: {who: me}
outputs:
  configs: {value: {get_attr: [component, config, configs]}}
  result: {value: {get_attr: [deploy, result]}}
"""


def test_component_is_stored_as_group_component_and_its_actions_decide(service):
    stack_id = create(service, "component", COMPONENT)
    entry = entry_for(service, stack_id, "CREATE")
    assert entry["group"] == "component"
    assert entry["config"] == {
        "configs": [
            {"actions": ["CREATE", "UPDATE"], "tool": "script", "config": "#!/bin/sh\necho install\n"},
            {"actions": ["DELETE"], "tool": "script", "config": "#!/bin/sh\necho remove\n"},
        ]
    }
    assert values(entry)["who"] == "me"
    signal(service, entry, {"result": "installed"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert output(service, stack_id, "result") == "installed"
    assert [c["actions"] for c in output(service, stack_id, "configs")] == [["CREATE", "UPDATE"], ["DELETE"]]
    # DELETE is not in the deployment's actions, but the component has a DELETE config: it runs
    service.stacks.delete_stack("admin", stack_id)
    signal(service, entry_for(service, stack_id, "DELETE"), {})
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


def test_component_actions_override_the_deployments_actions(service):
    template = COMPONENT.replace(
        "      input_values: {who: me}\n", "      input_values: {who: me}\n      actions: [SUSPEND]\n"
    )
    stack_id = create(service, "overridden", template)
    entry_for(service, stack_id, "CREATE")  # runs although the deployment lists only SUSPEND
    service.stacks.delete_stack("admin", stack_id)
    signal(service, entry_for(service, stack_id, "DELETE"), {})
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


def test_component_refuses_one_action_in_two_configs(service):
    template = COMPONENT.replace("{actions: [DELETE], tool", "{actions: [DELETE, UPDATE], tool")
    with pytest.raises(TemplateError) as error:
        create(service, "twice", template)
    assert "resources.component.properties.configs.1.actions" in str(error.value)
    assert "action 'UPDATE' already has a config (configs[0])" in str(error.value)


CLOUD = """heat_template_version: 2018-08-31
resources:
  boot:
    type: OS::Heat::CloudConfig
    properties:
      cloud_config:
        package_update: true
        runcmd: [[touch, /tmp/ünïcode], echo done]
        write_files: [{path: /etc/motd, content: "hello\\n"}]
  script:
    type: OS::Heat::SoftwareConfig
    properties: {config: "#!/bin/sh\\necho hi\\n"}
  inner:
    type: OS::Heat::MultipartMime
    properties:
      parts:
        - {config: "inner one", subtype: x-shellscript}
        - {config: "inner two", filename: notes.txt}
  mime:
    type: OS::Heat::MultipartMime
    properties:
      parts:
        - {config: {get_resource: boot}}
        - {config: {get_resource: script}, filename: run.sh}
        - {config: "plain text", subtype: part-handler}
        - {config: "grüße", filename: greeting.txt}
        - {config: {get_resource: inner}, type: multipart}
        - {config: "0e7e6c1a-2f7e-4c8e-9f7e-3a2b1c0d9e8f", filename: notanid.txt}
outputs:
  cloud: {value: {get_attr: [boot, config]}}
  mime: {value: {get_attr: [mime, config]}}
  mime_id: {value: {get_resource: mime}}
"""


def test_cloud_config_and_multipart_mime_as_heat_builds_them(service):
    stack_id = create(service, "boot", CLOUD)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    cloud = output(service, stack_id, "cloud")
    assert cloud.startswith("#cloud-config\n")
    assert yaml.safe_load(cloud) == {
        "package_update": True,
        "runcmd": [["touch", "/tmp/ünïcode"], "echo done"],
        "write_files": [{"path": "/etc/motd", "content": "hello\n"}],
    }
    message = email.message_from_string(output(service, stack_id, "mime"))
    assert message.is_multipart()
    parts = message.get_payload()
    summary = [
        (
            p.get_content_type(),
            p.get_filename(),
            p.get_content_charset(),
            p.get_payload(decode=True).decode(p.get_content_charset()),
        )
        for p in parts
    ]
    assert summary == [
        ("text/plain", None, "us-ascii", cloud),  # by id: the cloud-config (YAML escapes non-ASCII, as Heat's)
        ("text/run", "run.sh", "us-ascii", "#!/bin/sh\necho hi\n"),  # subtype from the file name
        ("text/part-handler", None, "us-ascii", "plain text"),
        ("text/greeting", "greeting.txt", "utf-8", "grüße"),
        ("text/x-shellscript", None, "us-ascii", "inner one"),  # spliced in from the inner message
        ("text/notes", "notes.txt", "us-ascii", "inner two"),
        ("text/notanid", "notanid.txt", "us-ascii", "0e7e6c1a-2f7e-4c8e-9f7e-3a2b1c0d9e8f"),
    ]
    with service.runtime.store.session() as session:
        row = session.get(SoftwareConfig, output(service, stack_id, "mime_id"))
        assert row.group == "Heat::Ungrouped" and row.body["config"] == output(service, stack_id, "mime")
    json.dumps(service.stacks.show_stack("admin", stack_id))  # outputs are plain JSON


def test_component_configs_from_parameters_are_checked_once_resolved(service):
    template = """heat_template_version: 2018-08-31
parameters:
  first: {type: comma_delimited_list, default: "CREATE"}
  second: {type: comma_delimited_list, default: "CREATE"}
resources:
  component:
    type: OS::Heat::SoftwareComponent
    properties:
      configs:
        - {actions: {get_param: first}, tool: script, config: one}
        - {actions: [{get_param: [second, 0]}], tool: script, config: two}
"""
    # Resolved from the parameters when the create is asked for, and refused then, as Heat does.
    with pytest.raises(TemplateError) as caught:
        create(service, "resolved", template)
    assert "action 'CREATE' already has a config (configs[0])" in str(caught.value)
    stack_id = create(service, "distinct", template, second="DELETE")
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
