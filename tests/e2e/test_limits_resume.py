"""A create accepted under higher limits (an older version, another setting) and resumed by a
server that has lower ones fails its stack cleanly, naming the limit: the server keeps serving,
and does not die again on its next start. A real server process on a real SQLite file."""

from __future__ import annotations

import pytest
import requests

from tests.support import AUTH, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

# The Value's copies (in one stack) and the group's members (in another) are made only once
# their wait condition is signalled, which happens after the restart.
WAIT = """
heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: handle}, timeout: 600}
"""
COPIES = (
    WAIT
    + """
  copies:
    type: OS::Heat::Value
    depends_on: wait
    properties:
      value:
        repeat:
          template: "%a%-%b%-%c%"
          for_each: {"%a%": [RANGE], "%b%": [RANGE], "%c%": [RANGE]}
""".replace("RANGE", ", ".join(str(i) for i in range(20)))
)
MEMBERS = (
    WAIT
    + """
  members:
    type: OS::Heat::ResourceGroup
    depends_on: wait
    properties:
      count: 2000
      resource_def: {type: OS::Heat::None}
"""
)


def test_a_resumed_create_past_the_new_limits_fails_its_stack_and_the_server_lives_on(tmp_path):
    # The first server takes the template: no resources limit, values up to 4 MiB.
    server = ServerProcess(tmp_path, env={"HEARTH_MAX_RESOURCES_PER_STACK": "-1"})
    server.start()
    api = f"{server.url}/v1/admin"
    ids = {}
    for name, template in (("copies", COPIES), ("members", MEMBERS)):
        response = requests.post(
            f"{api}/stacks", json={"stack_name": name, "template": template}, headers=AUTH, timeout=30
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["stack"]["id"]

    def resources(name):
        listed = requests.get(f"{api}/stacks/{name}/{ids[name]}/resources", headers=AUTH, timeout=10).json()
        return {r["resource_name"]: r for r in listed["resources"]}

    for name in ids:
        wait_for(
            lambda name=name: resources(name)["wait"]["resource_status"] == "CREATE_IN_PROGRESS",
            30,
            0.05,
            "the wait condition to wait",
        )
    server.stop()

    # The next server has lower limits, and resumes the creates.
    server.env.update({"HEARTH_MAX_RESOURCES_PER_STACK": "1000", "HEARTH_MAX_RESOLVED_VALUE_SIZE": "50000"})
    server.start()
    for name, stack_id in ids.items():
        signal = requests.post(
            f"{api}/stacks/{name}/{stack_id}/resources/handle/signal",
            json={"status": "SUCCESS", "reason": "go", "data": "", "id": "1"},
            headers=AUTH,
            timeout=30,
        )
        assert signal.status_code == 200, signal.text
    for name, stack_id in ids.items():
        stack = wait_for(
            lambda stack_id=stack_id: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(
                server.stack(stack_id)
            ),
            60,
            0.1,
            "the resumed create to end",
        )
        assert stack["stack_status"] == "CREATE_FAILED"
        assert "Request limit exceeded" in stack["stack_status_reason"]
        assert resources(name)["wait"]["resource_status"] == "CREATE_COMPLETE"
    copies = resources("copies")["copies"]
    assert copies["resource_status"] == "CREATE_FAILED"
    assert copies["resource_status_reason"].startswith(
        "RequestLimitExceeded: resources.copies.properties.value.repeat: Request limit exceeded: "
    )
    assert "max_resolved_value_size (50000 bytes)" in copies["resource_status_reason"]
    members = resources("members")["members"]
    assert members["resource_status"] == "CREATE_FAILED"
    assert members["resource_status_reason"] == (
        "RequestLimitExceeded: resources.members: Request limit exceeded: Maximum resources per stack exceeded."
    )

    # The server lives on: it answers, and a restart finds nothing left to resume.
    assert requests.get(f"{api}/stacks", headers=AUTH, timeout=10).status_code == 200
    server.stop()
    server.start()
    assert {server.stack(i)["stack_status"] for i in ids.values()} == {"CREATE_FAILED"}
    server.stop()
