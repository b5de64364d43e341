"""End to end over HTTP: a real server on 127.0.0.1, a real agent process and the real script
hook run a SoftwareComponent through CREATE, UPDATE (a stack PATCH) and DELETE over HEAT_SIGNAL."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

COMPONENT = """
heat_template_version: 2018-08-31
parameters:
  colour: {type: string, default: blue}
  marker_dir: {type: string}
resources:
  component:
    type: OS::Heat::SoftwareComponent
    properties:
      inputs: [{name: colour}, {name: marker_dir}]
      outputs: [{name: result}]
      configs:
        - actions: [CREATE, UPDATE]
          tool: script
          config: |
            #!/bin/sh
            printf '%s %s' "$deploy_action" "$colour" > "$heat_outputs_path.result"
        - actions: [DELETE]
          tool: script
          config: |
            #!/bin/sh
            printf '%s %s' "$deploy_action" "$deploy_signal_transport" > "$marker_dir/removed"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: component}
      server: {get_resource: server}
      signal_transport: HEAT_SIGNAL
      input_values: {colour: {get_param: colour}, marker_dir: {get_param: marker_dir}}
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""


def test_component_runs_create_update_and_delete_configs_through_the_agent(hearth, tmp_path):
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    hearth.create_stack("component", COMPONENT, parameters={"marker_dir": str(marker_dir)})
    stack = hearth.wait_stack("component", ("CREATE_COMPLETE",), timeout=90)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert hearth.outputs("component")["result"] == "CREATE blue"

    response = hearth.http.patch(
        f"{hearth.api}/stacks/component/{stack['id']}", json={"parameters": {"colour": "red"}}, timeout=30
    )
    assert response.status_code == 202, response.text
    stack = hearth.wait_stack("component", ("UPDATE_COMPLETE",), timeout=60)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert hearth.outputs("component")["result"] == "UPDATE red"

    assert not (marker_dir / "removed").exists()
    assert hearth.delete("component")["stack_status"] == "DELETE_COMPLETE"
    assert (marker_dir / "removed").read_text() == "DELETE HEAT_SIGNAL"
