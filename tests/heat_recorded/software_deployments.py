"""A scripted session of Heat's `software_configs` / `software_deployments` API, and deployments
of a stack to server ids no server has, run against any orchestration endpoint and normalised.

Recorded from real Heat 27.0.1 (noauth, PostgreSQL) into software_deployments.json with

    python -m tests.heat_recorded.software_deployments http://127.0.0.1:18104/v1/admin

tests/unit/server/test_software_deployments_heat.py runs the same session against Hearth and
compares. Normalised: ids (`<uuid>`), times (`<time>`), this run's server ids and stack name,
the random suffix of physical names (`<stack>-config-fkukzt5vwhma` -> `<stack>-config`: how
Heat names resources is a difference of its own), error bodies (status and error type only),
and lists whose order Heat does not define (deployments made in parallel, by server and
resource name). Cases where Hearth answers differently on purpose are not run here; they are
listed in docs/heat-differences.md.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from pathlib import Path

import requests

RECORDING = Path(__file__).with_name("software_deployments.json")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")
SUFFIX = re.compile(r"(<stack>(?:-[a-z]+)*?)-([a-z]+)-[a-z0-9]{12}\b")

TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  server: {type: string}
  other: {type: string}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho hi $who\\n"
      inputs: [{name: who, default: world}]
      outputs: [{name: result}]
  sconfig:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      config: {greeting: {get_input: who}, server: {get_input: deploy_server_id}}
      inputs: [{name: who}]
  typed:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "x"
      inputs:
        - {name: foo, description: a declared input}
        - {name: port, type: Number, default: 80}
        - {name: num, type: Number}
        - {name: j, type: Json}
        - {name: l, type: CommaDelimitedList}
        - {name: b, type: Boolean}
        - {name: roc, replace_on_change: true}
      outputs: [{name: err, error_output: true, description: d}]
  typed_deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: typed}
      server: {get_param: other}
      signal_transport: NO_SIGNAL
      input_values: {foo: bar, extra: x, more: [1, 2]}
  zdeploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_param: server}
      input_values: {who: zed}
      signal_transport: NO_SIGNAL
  named:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_param: server}
      name: 10_named
      signal_transport: NO_SIGNAL
  structured:
    type: OS::Heat::StructuredDeployment
    properties:
      config: {get_resource: sconfig}
      server: {get_param: server}
      input_values: {who: sam}
      signal_transport: NO_SIGNAL
  group:
    type: OS::Heat::SoftwareDeploymentGroup
    properties:
      config: {get_resource: config}
      servers: {a: {get_param: server}, b: {get_param: other}}
      signal_transport: NO_SIGNAL
  sgroup:
    type: OS::Heat::StructuredDeploymentGroup
    properties:
      config: {get_resource: sconfig}
      servers: {a: {get_param: other}}
      input_values: {who: grp}
      signal_transport: NO_SIGNAL
outputs:
  stdout: {value: {get_attr: [zdeploy, deploy_stdout]}}
  result: {value: {get_attr: [zdeploy, result]}}
  codes: {value: {get_attr: [group, deploy_status_codes]}}
"""


def normalised(value, names: dict[str, str]):
    if isinstance(value, dict):
        return {k: normalised(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, names) for v in value]
    if isinstance(value, str):
        for literal, placeholder in names.items():
            value = value.replace(literal, placeholder)
        value = SUFFIX.sub(r"\1-\2", UUID.sub("<uuid>", TIME.sub("<time>", value)))
    return value


def answer(response: requests.Response, names: dict[str, str]) -> dict:
    """Status and body; an error body as its error type only (messages are each server's own)."""
    body = response.json() if response.content else None
    if response.status_code >= 400:
        return {"status": response.status_code, "error": (body or {}).get("error", {}).get("type")}
    return {"status": response.status_code, "body": normalised(body, names)}


def _entry_key(entry: dict) -> tuple:
    inputs = {i["name"]: i.get("value") for i in entry.get("inputs") or []}
    return entry["name"], inputs.get("deploy_stack_id", ""), inputs.get("deploy_resource_name", "")


def run(session: requests.Session, api: str, deadline: float = 120) -> dict:
    """The whole session against `api` (`http://host:port/v1/<project>`): {case: answer}."""
    tag = uuid.uuid4().hex[:8]
    server, other, stack = f"anysrv-s-{tag}", f"anysrv-o-{tag}", f"anysrv-stack-{tag}"
    names = {server: "<server>", other: "<other>", stack: "<stack>"}
    cases: dict[str, dict] = {}

    def config(name: str) -> dict:
        response = session.post(
            f"{api}/software_configs",
            timeout=30,
            json={
                "name": name,
                "group": "script",
                "config": "#!/bin/sh\necho hi $who",
                "inputs": [{"name": "who", "default": "w"}],
                "outputs": [{"name": "result"}],
            },
        )
        return response

    made = config("anysrv-c")
    cases["config create"] = answer(made, names)
    full = session.post(
        f"{api}/software_deployments",
        timeout=30,
        json={
            "config_id": made.json()["software_config"]["id"],
            "server_id": server,
            "action": "UPDATE",
            "status": "IN_PROGRESS",
            "status_reason": "x",
            "input_values": {"who": "bob"},
        },
    )
    cases["deployment create"] = answer(full, names)
    minimal = session.post(
        f"{api}/software_deployments",
        timeout=30,
        json={"config_id": config("anysrv-b").json()["software_config"]["id"], "server_id": server},
    )
    cases["deployment create with config and server only"] = answer(minimal, names)
    extra = session.post(
        f"{api}/software_deployments",
        timeout=30,
        json={
            "config_id": config("anysrv-a").json()["software_config"]["id"],
            "server_id": server,
            "tenant_id": "asdf",
            "status": "IN_PROGRESS",
            "bogus": 1,
        },
    )
    cases["deployment create ignores other keys"] = answer(extra, names)
    cases["deployment create unknown config"] = answer(
        session.post(
            f"{api}/software_deployments", timeout=30, json={"config_id": str(uuid.uuid4()), "server_id": server}
        ),
        names,
    )
    cases["deployment create without config"] = answer(
        session.post(f"{api}/software_deployments", timeout=30, json={"server_id": server}), names
    )
    cases["metadata of the server"] = answer(
        session.get(f"{api}/software_deployments/metadata/{server}", timeout=30), names
    )
    cases["metadata of an id with no deployment"] = answer(
        session.get(f"{api}/software_deployments/metadata/{other}", timeout=30), names
    )
    cases["list of the server"] = answer(
        session.get(f"{api}/software_deployments", params={"server_id": server}, timeout=30), names
    )
    cases["list of an id with no deployment"] = answer(
        session.get(f"{api}/software_deployments", params={"server_id": other}, timeout=30), names
    )
    deployment = f"{api}/software_deployments/{full.json()['software_deployment']['id']}"
    cases["update status and outputs"] = answer(
        session.put(deployment, timeout=30, json={"status": "COMPLETE", "output_values": {"result": "r"}}), names
    )
    cases["update with nothing"] = answer(session.put(deployment, timeout=30, json={}), names)
    cases["update with nulls and empties"] = answer(
        session.put(
            deployment,
            timeout=30,
            json={"status": None, "status_reason": "", "output_values": {}, "input_values": None},
        ),
        names,
    )
    cases["show"] = answer(session.get(deployment, timeout=30), names)
    cases["show unknown"] = answer(session.get(f"{api}/software_deployments/{uuid.uuid4()}", timeout=30), names)
    cases["delete"] = answer(session.delete(deployment, timeout=30), names)
    cases["delete again"] = answer(session.delete(deployment, timeout=30), names)
    for response in (minimal, extra):
        session.delete(f"{api}/software_deployments/{response.json()['software_deployment']['id']}", timeout=30)

    created = session.post(
        f"{api}/stacks",
        timeout=30,
        json={"stack_name": stack, "template": TEMPLATE, "parameters": {"server": server, "other": other}},
    )
    stack_id = created.json()["stack"]["id"]
    ends = time.monotonic() + deadline
    while True:
        shown = session.get(f"{api}/stacks/{stack}/{stack_id}", timeout=30).json()["stack"]
        if not shown["stack_status"].endswith("IN_PROGRESS") or time.monotonic() > ends:
            break
        time.sleep(0.5)
    cases["stack of deployments to ids no server has"] = {
        "stack_status": shown["stack_status"],
        "stack_status_reason": shown["stack_status_reason"],
        "outputs": sorted(
            ({"output_key": o["output_key"], "output_value": o.get("output_value")} for o in shown["outputs"]),
            key=lambda o: o["output_key"],
        ),
    }
    for label, server_id in (("server", server), ("other", other)):
        metadata = answer(session.get(f"{api}/software_deployments/metadata/{server_id}", timeout=30), names)
        metadata["body"]["metadata"].sort(key=_entry_key)
        cases[f"stack: metadata of the {label}"] = metadata
        listed = answer(session.get(f"{api}/software_deployments", params={"server_id": server_id}, timeout=30), names)
        listed["body"]["software_deployments"].sort(key=lambda d: json.dumps(d["input_values"], sort_keys=True))
        cases[f"stack: deployments of the {label}"] = listed
    session.delete(f"{api}/stacks/{stack}/{stack_id}", timeout=30)
    session.delete(f"{api}/software_configs/{made.json()['software_config']['id']}", timeout=30)
    return cases


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18104/v1/admin"
    http = requests.Session()
    http.headers["X-Auth-Token"] = sys.argv[2] if len(sys.argv) > 2 else "x"
    recorded = {
        "recorded_from": "OpenStack Heat 27.0.1 (openstack-heat from PyPI, noauth, PostgreSQL)",
        "cases": run(http, target),
    }
    RECORDING.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORDING}")
