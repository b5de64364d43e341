"""The agent's own `request` collector against Hearth's real collect URL (POLL_TEMP_URL).

A real server on 127.0.0.1, a stack with an OS::Heat::DeployedServer whose transport is
POLL_TEMP_URL, and a real `hearth-agent` process whose bootstrap names only the `request`
collector with the URL from the server's os_collect_config attribute: the agent reads its
deployment through that URL (no long-poll at all), runs it and signals it with the credential
`POST /v1/{project}/servers/{id}/bootstrap` issued.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import AUTH, start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  box:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_TEMP_URL}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        printf 'read through the collect URL' > "$heat_outputs_path.result"
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: box}}
outputs:
  occ: {value: {get_attr: [box, os_collect_config]}}
  result: {value: {get_attr: [deploy, result]}}
"""


def test_agent_request_collector_applies_a_deployment_from_the_collect_url(tmp_path):
    hearth = start_server(tmp_path)
    agent = None
    try:
        hearth.create_stack("polled", TEMPLATE)
        box = wait_for(
            lambda: hearth.resources("polled")["box"]["physical_resource_id"], 60, message="the deployed server"
        )
        occ = wait_for(
            lambda: (hearth.outputs("polled").get("occ") or {}).get("request"),
            60,
            message="the os_collect_config attribute",
        )
        url = occ["metadata_url"]
        enrolled = hearth.http.post(f"{hearth.api}/servers/{box}/bootstrap", json={}, headers=AUTH, timeout=30)
        assert enrolled.status_code == 201, enrolled.text
        document = enrolled.json()["bootstrap"]
        document.update(collectors=["request"], request={"metadata_url": url, "polling_interval": 1})
        bootstrap = tmp_path / "bootstrap.json"
        bootstrap.write_text(json.dumps(document))
        bootstrap.chmod(0o600)
        with open(tmp_path / "agent.log", "wb") as log:
            agent = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent.main",
                    "--bootstrap",
                    str(bootstrap),
                    "--state-dir",
                    str(tmp_path / "state"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        stack = hearth.wait_stack("polled", ("CREATE_COMPLETE", "CREATE_FAILED"), timeout=90)
        assert stack["stack_status"] == "CREATE_COMPLETE", (
            stack["stack_status_reason"],
            (tmp_path / "agent.log").read_text()[-3000:],
        )
        assert hearth.outputs("polled")["result"] == "read through the collect URL"
        cached = json.loads((tmp_path / "state" / "cache" / "request.json").read_text())
        [entry] = cached["metadata"]["deployments"]
        assert "read through the collect URL" in entry["config"]
        assert not (tmp_path / "state" / "cache" / "hearth.json").exists()  # no long-poll used
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=30)
        stop_server(hearth)
