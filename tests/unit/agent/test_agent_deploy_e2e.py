"""End to end: a real server, a real agent process and the real script hook: heartbeats reach the deployment, non-ASCII results arrive as sent."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store.models import Deployment

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  flag: {type: string}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      options: {heartbeat: 0.2}
      inputs: [{name: flag}]
      outputs: [{name: said}]
      config: |
        #!/bin/sh
        i=0
        while [ ! -e "$flag" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
        printf 'héllo wörld ✓ 日本' > "$heat_outputs_path.said"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {flag: {get_param: flag}}
outputs:
  said: {value: {get_attr: [deploy, said]}}
"""


def test_heartbeats_reach_the_running_deployment_and_utf8_results_arrive(hearth, tmp_path, wait_for):
    flag = tmp_path / "go"
    hearth.create_stack("beat", TEMPLATE, parameters={"flag": str(flag)})

    def progress():
        with hearth.service.runtime.store.session() as session:
            rows = session.scalars(select(Deployment)).all()
            return [row.progress for row in rows if row.progress]

    [beat] = wait_for(progress, 60, message="a heartbeat stored on the deployment")
    assert beat["message"].startswith("hook script running for ") and beat["percent"] is None
    flag.touch()
    stack = hearth.wait_stack("beat", ("CREATE_COMPLETE",), timeout=60)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert hearth.outputs("beat")["said"] == "héllo wörld ✓ 日本"
    hearth.delete("beat")
