"""The inputs of a derived config as a real server hands them to the guest, entry by entry, for
CFN_SIGNAL, TEMP_URL_SIGNAL and NO_SIGNAL: exactly Heat's (software_deployment.py
`_build_derived_inputs` and software_config_io.py `InputConfig.as_dict`): declared inputs with
their value, then undeclared input values as `{name, type: String, value}`, then the deploy_*
inputs with Heat's descriptions, `type: String`, in Heat's order.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests

from tests.support import wait_for

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  machine: {type: OS::Heat::DeployedServer}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs:
        - {name: foo, description: a declared input}
        - {name: port, type: Number, default: 80}
      outputs: [{name: result}]
      config: "#!/bin/sh\\necho hi\\n"
  cfn:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: CFN_SIGNAL
      input_values: {foo: bar, extra: x, more: [1, 2]}
  temp_url:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: TEMP_URL_SIGNAL
      input_values: {foo: bar, extra: x, more: [1, 2]}
  silent:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: NO_SIGNAL
      input_values: {foo: bar, extra: x, more: [1, 2]}
"""
# Heat's descriptions, verbatim.
DESCRIPTIONS = {
    "deploy_server_id": "ID of the server being deployed to",
    "deploy_action": "Name of the current action being deployed",
    "deploy_stack_id": "ID of the stack this deployment belongs to",
    "deploy_resource_name": "Name of this deployment resource in the stack",
    "deploy_signal_transport": "How the server should signal to heat with the deployment output values.",
    "deploy_signal_id": "ID of signal to use for signaling output values",
    "deploy_signal_verb": "HTTP verb to use for signaling output values",
}


def derived(name: str, value) -> dict:
    return {"name": name, "description": DESCRIPTIONS[name], "type": "String", "value": value}


def machine_deployments(hearth, stack: str) -> tuple[str, dict[str, dict]]:
    """(machine id, deployment entries by deploy_resource_name) from the guest metadata API."""
    machine = wait_for(
        lambda: hearth.resources(stack)["machine"]["physical_resource_id"], 30, message="the machine's id"
    )
    answer = hearth.http.post(f"{hearth.api}/servers/{machine}/bootstrap", timeout=30)
    assert answer.status_code == 201, answer.text
    auth = {"Authorization": f"Bearer {answer.json()['bootstrap']['credential']}"}

    def entries():
        metadata = requests.get(f"{hearth.url}/guest/v1/servers/{machine}/metadata", headers=auth, timeout=30).json()[
            "metadata"
        ]
        found = metadata.get("deployments") or []
        return found if len(found) == 3 else None

    by_resource = {}
    for entry in wait_for(entries, 30, message="three deployments in the metadata"):
        by_resource[next(i["value"] for i in entry["inputs"] if i["name"] == "deploy_resource_name")] = entry
    return machine, by_resource


def test_cfn_temp_url_and_no_signal_deployments_get_heats_inputs_exactly(hearth):
    hearth.create_stack("derived", TEMPLATE)
    stack = hearth.stack("derived")
    machine, entries = machine_deployments(hearth, "derived")
    # A template's declared inputs as Heat 27.0.1 completes them (recorded): an unset
    # description is "", an unset default the empty value of the input's type.
    common = [
        {"name": "foo", "description": "a declared input", "type": "String", "default": "", "value": "bar"},
        {"name": "port", "description": "", "type": "Number", "default": 80, "value": 80},
        {"name": "extra", "type": "String", "value": "x"},
        {"name": "more", "type": "String", "value": [1, 2]},
    ]
    for resource, transport, verb in [
        ("cfn", "CFN_SIGNAL", "POST"),
        ("temp_url", "TEMP_URL_SIGNAL", "PUT"),
        ("silent", "NO_SIGNAL", None),
    ]:
        inputs = entries[resource]["inputs"]
        expected = common + [
            derived("deploy_server_id", machine),
            derived("deploy_action", "CREATE"),
            derived("deploy_stack_id", f"derived/{stack['id']}"),
            derived("deploy_resource_name", resource),
            derived("deploy_signal_transport", transport),
        ]
        if verb:
            url = inputs[len(expected)]["value"]
            expected += [derived("deploy_signal_id", url), derived("deploy_signal_verb", verb)]
            # Hearth's URL in place of Heat's EC2-signed or Swift temp URL: the signal route of
            # this very derived config, signed with an expiry.
            parsed = urlparse(url)
            assert f"{parsed.scheme}://{parsed.netloc}" == hearth.url
            assert parsed.path == f"/guest/v1/deployments/{entries[resource]['id']}/signal"
            assert set(parse_qs(parsed.query)) == {"expires", "signature"}
        assert inputs == expected, resource
