"""The real `heat` CLI (python-heatclient 5.3.0) drives Hearth unchanged: stacks with -e, -P,
get_file, a provider template and environment_files; resources, events, outputs; software
configs and deployments; --poll; and Heat's name -> id redirects for every method. It signs
in as against any cloud (OS_AUTH_URL at Hearth's /identity/v3, OS_USERNAME, OS_PASSWORD,
OS_PROJECT_NAME, the domains); `--os-no-client-auth` with a Hearth API token works too."""

from __future__ import annotations

import json

import pytest
import requests

from tests.e2e.heat_clients import Heat, clean_environment, run, write_files
from tests.support import ADMIN_TOKEN, AUTH, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]


@pytest.fixture
def heat(hearth, tmp_path):
    return Heat(hearth, write_files(tmp_path / "files", tmp_path))


def settled(hearth, name: str, wanted: str) -> dict:
    stack = hearth.wait_stack(name, (wanted,), timeout=60)
    assert stack["stack_status"] == wanted, stack["stack_status_reason"]
    return stack


def test_stack_lifecycle_with_environment_files_provider_template_and_get_file(hearth, heat):
    created = heat("stack-create", "-f", "main.yaml", "-e", "env.yaml", "-P", "foo=qux", "--poll", "1", "web")
    assert "Stack web CREATE_COMPLETE" in created.stdout
    stack = hearth.stack("web")
    assert stack["stack_status"] == "CREATE_COMPLETE"
    # Heat's rule: env.yaml (foo: baz), re-merged on the server, wins over -P foo=qux.
    assert stack["parameters"]["foo"] == "baz"
    assert hearth.outputs("web") == {"result": "hello baz", "foo": "baz", "thing": "hi world"}
    files = hearth.http.get(f"{hearth.api}/stacks/web/{stack['id']}/files", timeout=10).json()
    shipped = {name.rsplit("/", 1)[-1] for name in files}
    assert {"hello.sh", "thing.yaml"} <= shipped and "env.yaml" not in shipped

    assert "web" in heat("stack-list").stdout
    shown = heat("stack-show", "web").stdout
    assert "CREATE_COMPLETE" in shown and "hello baz" in shown
    resources = heat("resource-list", "web").stdout
    assert "My::Thing" in resources and "OS::Heat::SoftwareDeployment" in resources
    assert "hello baz" in heat("resource-show", "web", "deploy").stdout
    metadata = heat.json("resource-metadata", "web", "server")
    [entry] = metadata["deployments"]
    # A template config's input as Heat 27.0.1 completes it: empty description, typed empty default.
    assert (
        entry["group"] == "script"
        and {"name": "foo", "type": "String", "description": "", "default": "", "value": "baz"} in entry["inputs"]
    )
    signal_url = next(i for i in entry["inputs"] if i["name"] == "deploy_signal_id")
    assert signal_url["value"] == "******"  # a signed URL is a secret: never in an API answer
    events = heat("event-list", "web").stdout
    assert "Stack CREATE completed successfully" in events and "deploy" in events
    outputs = heat("output-list", "web").stdout
    assert {"result", "foo", "thing"} <= {
        line.split("|")[1].strip()
        for line in outputs.splitlines()
        if line.startswith("| ") and "output_key" not in line
    }
    assert heat("output-show", "web", "result").stdout.strip() == "hello baz"
    assert heat("output-show", "web", "thing").stdout.strip() == "hi world"

    heat("stack-update", "web", "-f", "main.yaml", "-e", "env.yaml", "-P", "greeting=hey")
    settled(hearth, "web", "UPDATE_COMPLETE")
    assert hearth.outputs("web")["thing"] == "hey world"
    heat("stack-update", "web", "-x", "-P", "greeting=yo")  # PATCH: everything else is kept
    settled(hearth, "web", "UPDATE_COMPLETE")
    assert hearth.outputs("web") == {"result": "hello baz", "foo": "baz", "thing": "yo world"}

    assert "accepted" in heat("stack-delete", "-y", "web").stdout
    assert hearth.wait_stack(stack["id"], ("DELETE_COMPLETE",))["stack_status"] == "DELETE_COMPLETE"
    assert "web" not in heat("stack-list").stdout


def test_parameter_without_environment_file_is_used(hearth, heat):
    heat("stack-create", "-f", "simple.yaml", "-P", "foo=qux", "--poll", "1", "plain")
    assert hearth.stack("plain")["parameters"]["foo"] == "qux"
    assert heat("output-show", "plain", "foo").stdout.strip() == "qux"


def test_resource_signal_clears_a_breakpoint_and_answers_json(hearth, heat):
    heat("stack-create", "-f", "simple.yaml", "-e", "hooks.yaml", "gated")
    wait_for(
        lambda: any("paused" in reason for reason in hearth.event_reasons("gated")),
        30,
        message="the gate to pause on its hook",
    )
    signalled = heat("resource-signal", "gated", "gate", "-D", '{"unset_hook": "pre-create"}')
    assert "Could not decode" not in signalled.stderr
    assert settled(hearth, "gated", "CREATE_COMPLETE")
    refused = heat("resource-signal", "gated", "gate", "-D", '{"unset_hook": "pre-create"}', check=False)
    assert refused.returncode != 0 and "not paused on hook pre-create" in refused.stderr


SIGNALLED = """
heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: handle}, timeout: 60}
  box: {type: OS::Heat::DeployedServer}
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh", outputs: [{name: result}]}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: box}}
outputs:
  data: {value: {get_attr: [wait, data]}}
  result: {value: {get_attr: [deploy, result]}}
"""


def test_resource_signal_completes_a_wait_condition_and_a_deployment_as_in_heat(hearth, heat):
    # No agent runs on the DeployedServer: the user signals both through Heat's API.
    (heat.cwd / "signalled.yaml").write_text(SIGNALLED)
    heat("stack-create", "-f", "signalled.yaml", "sig")
    wait_for(
        lambda: (
            hearth.resources("sig")["deploy"]["resource_status"] == "CREATE_IN_PROGRESS"
            and hearth.resources("sig")["wait"]["resource_status"] == "CREATE_IN_PROGRESS"
        ),
        30,
        message="the wait condition and the deployment to wait",
    )
    heat("resource-signal", "sig", "handle", "-D", '{"status": "SUCCESS", "data": "d1", "id": "a"}')
    heat(
        "resource-signal",
        "sig",
        "deploy",
        "-D",
        '{"deploy_status_code": 0, "deploy_stdout": "", "deploy_stderr": "", "result": "r1"}',
    )
    settled(hearth, "sig", "CREATE_COMPLETE")
    assert hearth.outputs("sig") == {"data": '{"a": "d1"}', "result": "r1"}
    # A different result for a finished deployment is refused, as the guest's own signal is.
    refused = heat("resource-signal", "sig", "deploy", "-D", '{"deploy_status_code": 1}', check=False)
    assert refused.returncode != 0 and "already finished" in refused.stderr


def test_software_config_and_deployment_commands(hearth, heat, tmp_path):
    heat("stack-create", "-f", "simple.yaml", "-P", "foo=x", "--poll", "1", "host")
    server_stack = """
heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
"""
    (heat.cwd / "server.yaml").write_text(server_stack)
    heat("stack-create", "-f", "server.yaml", "--poll", "1", "box")
    server_id = hearth.resources("box")["server"]["physical_resource_id"]

    config = heat.json("config-create", "-f", "defn.yaml", "-c", "run.sh", "-g", "script", "myconf")
    assert config["name"] == "myconf" and config["group"] == "script"
    # Heat 27.0.1's answer (recorded with this client): inputs and outputs completed.
    assert config["inputs"] == [{"name": "who", "type": "String", "default": "world"}]
    shown = heat.json("config-show", config["id"])
    assert shown["config"].startswith("#!/bin/sh")
    assert shown["outputs"] == [{"name": "result", "type": "String", "error_output": False}]
    assert heat("config-show", "--config-only", config["id"]).stdout.startswith("#!/bin/sh")
    assert "myconf" in heat("config-list").stdout

    deployment = heat.json(
        "deployment-create", "-c", config["id"], "-s", server_id, "-t", "NO_SIGNAL", "-i", "who=bob", "dep1"
    )
    assert deployment["server_id"] == server_id and deployment["status"] == "IN_PROGRESS"
    # The server's own agent receives it through its metadata and runs it.
    ran = tmp_path / "ran.bob"
    # The script's shell redirect creates the file before it writes to it: wait for the text.
    wait_for(lambda: ran.exists() and ran.read_text() == "hi bob", 60, message="the agent to run the deployment")
    assert deployment["id"] in heat("deployment-list", "-s", server_id).stdout
    metadata = heat.json("deployment-metadata-show", server_id)
    assert [entry["name"] for entry in metadata] == ["dep1"]
    assert {"name": "who", "type": "String", "default": "world", "value": "bob"} in metadata[0]["inputs"]

    # What a signal through Heat's API does: the outputs arrive with a status.
    answer = hearth.http.put(
        f"{hearth.api}/software_deployments/{deployment['id']}",
        timeout=10,
        json={
            "status": "COMPLETE",
            "status_reason": "Outputs received",
            "output_values": {"result": "hi bob", "deploy_status_code": 0},
        },
    )
    assert answer.status_code == 200, answer.text
    assert heat.json("deployment-show", deployment["id"])["status"] == "COMPLETE"
    assert heat("deployment-output-show", deployment["id"], "result").stdout.strip() == "hi bob"

    heat("config-delete", config["id"])  # the source: the deployment uses its derived copy
    assert "myconf" not in heat("config-list").stdout
    heat("deployment-delete", deployment["id"])
    assert hearth.http.get(f"{hearth.api}/software_deployments/{deployment['id']}", timeout=10).status_code == 404
    assert heat.json("deployment-metadata-show", server_id) == []
    assert "dep1" not in heat("config-list").stdout  # the client deleted the derived config too


def test_deployments_to_a_server_id_no_server_has_answer_as_heat_did(hearth, heat):
    """What `heat deployment-*` printed against Heat 27.0.1 for server `anysrv-nowhere-1`, which
    no server has (recorded with the same client): the deployment is made and kept under the id,
    IN_PROGRESS (the client asks for that status), with Heat's null and "None" fields."""
    config = heat.json("config-create", "-f", "defn.yaml", "-c", "run.sh", "-g", "script", "myconf")
    made = heat.json(
        "deployment-create", "-c", config["id"], "-s", "nowhere-1", "-t", "NO_SIGNAL", "-i", "who=bob", "dep1"
    )
    assert {k: v for k, v in made.items() if k not in ("id", "config_id", "creation_time")} == {
        "server_id": "nowhere-1",
        "input_values": {},
        "output_values": None,
        "action": "UPDATE",
        "status": "IN_PROGRESS",
        "status_reason": "None",
    }
    assert heat.json("deployment-show", made["id"]) == made
    assert made["id"] in heat("deployment-list", "-s", "nowhere-1").stdout
    [entry] = heat.json("deployment-metadata-show", "nowhere-1")
    assert entry["id"] == made["config_id"] and entry["name"] == "dep1" and entry["options"] == {}
    assert entry["inputs"] == [
        {"name": "who", "type": "String", "default": "world", "value": "bob"},
        {
            "name": "deploy_server_id",
            "description": "ID of the server being deployed to",
            "type": "String",
            "value": "nowhere-1",
        },
        {
            "name": "deploy_action",
            "description": "Name of the current action being deployed",
            "type": "String",
            "value": "UPDATE",
        },
        {
            "name": "deploy_signal_transport",
            "type": "String",
            "value": "NO_SIGNAL",
            "description": "How the server should signal to heat with the deployment output values.",
        },
    ]
    assert heat.json("deployment-metadata-show", "nowhere-2") == []
    # No outputs yet: heatclient itself fails on Heat's null output_values, as it did there.
    unsignalled = heat("deployment-output-show", made["id"], "result", check=False)
    assert unsignalled.returncode != 0 and "'NoneType' object has no attribute 'items'" in unsignalled.stderr

    # The default transport (TEMP_URL_SIGNAL) needs a Swift temp URL, which heatclient makes
    # itself from its Keystone session's catalog; signed in at Hearth's /identity/v3, the
    # catalog names Hearth's object-store corner, so it works as against a cloud with Swift.
    default = heat.json("deployment-create", "-c", config["id"], "-s", "nowhere-1", "dep2")
    assert default["status"] == "IN_PROGRESS"
    assert sorted(e["name"] for e in heat.json("deployment-metadata-show", "nowhere-1")) == ["dep1", "dep2"]

    heat("deployment-delete", made["id"])
    heat("deployment-delete", default["id"])
    assert heat.json("deployment-metadata-show", "nowhere-1") == []


def test_default_temp_url_transport_signals_through_the_swift_temp_url_it_made(hearth, heat, tmp_path):
    """`heat deployment-create` with its default TEMP_URL_SIGNAL, signed in at Hearth's
    /identity/v3 as a cloud's user is: heatclient's own code finds the object-store in the
    catalog, makes the container, reads the account's temp URL key, signs the URL and creates
    the empty object on Hearth; a machine enrolled under the id gets the entry, and heat-agents'
    heat-config-notify PUTs the result to the temp URL, which completes the deployment."""
    import os
    import subprocess
    import sys

    from tests import peers

    project = heat.person.project
    config = heat.json("config-create", "-f", "defn.yaml", "-c", "run.sh", "-g", "script", "myconf")
    deployment = heat.json("deployment-create", "-c", config["id"], "-s", "nowhere-4", "dep1")
    assert deployment["status"] == "IN_PROGRESS" and deployment["server_id"] == "nowhere-4"

    enrolled = hearth.http.post(
        f"{hearth.url}/v1/{project}/servers/nowhere-4/bootstrap", json={"new": True}, timeout=30
    )
    assert enrolled.status_code == 201, enrolled.text
    document = enrolled.json()["bootstrap"]
    metadata = requests.get(
        document["metadata_url"], timeout=30, headers={"Authorization": f"Bearer {document['credential']}"}
    ).json()["metadata"]
    [entry] = metadata["deployments"]
    inputs = {i["name"]: i["value"] for i in entry["inputs"]}
    assert inputs["deploy_signal_verb"] == "PUT" and inputs["deploy_signal_transport"] == "TEMP_URL_SIGNAL"
    assert inputs["deploy_signal_id"].startswith(f"{hearth.url}/v1/AUTH_{project}/dep1-")
    assert "temp_url_sig=" in inputs["deploy_signal_id"]

    entry_file = tmp_path / "entry.json"
    entry_file.write_text(json.dumps(entry))
    notify = peers.require("heat-agents") / "heat-config" / "bin" / "heat-config-notify"
    result = {"result": "hi swift", "deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}
    notified = subprocess.run(
        [sys.executable, str(notify), str(entry_file)],
        input=json.dumps(result),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert notified.returncode == 0, notified.stderr
    shown = heat.json("deployment-show", deployment["id"])
    assert (shown["status"], shown["status_reason"]) == ("COMPLETE", "Outputs received")
    assert heat("deployment-output-show", deployment["id"], "result").stdout.strip() == "hi swift"


REDIRECTED = [
    ("GET", ""),
    ("POST", "/actions"),
    ("PUT", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("GET", "/resources"),
    ("GET", "/events"),
    ("GET", "/outputs/foo"),
    ("GET", "/template"),
    ("GET", "/environment"),
    ("GET", "/files"),
    ("POST", "/resources/gate/signal"),
    ("GET", "/resources/gate/metadata"),
    ("PATCH", "/preview"),
    ("DELETE", "/abandon"),
]


@pytest.mark.parametrize("method,sub", REDIRECTED)
def test_name_redirects_to_identity_for_every_method_keeping_the_query(shared_hearth, method, sub):
    hearth = shared_hearth
    if not hearth.http.get(f"{hearth.api}/stacks?name=target", timeout=10).json()["stacks"]:
        from tests.e2e.heat_clients import SIMPLE

        hearth.create_stack("target", SIMPLE)
    stack_id = hearth.stack("target")["id"]
    answer = requests.request(
        method, f"{hearth.api}/stacks/target{sub}?sort_dir=asc&limit=1", headers=AUTH, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == f"{hearth.api}/stacks/target/{stack_id}{sub}?sort_dir=asc&limit=1"
    by_id = requests.request(
        method, f"{hearth.api}/stacks/{stack_id}{sub}", headers=AUTH, allow_redirects=False, timeout=10
    )
    assert by_id.headers["Location"] == f"{hearth.api}/stacks/target/{stack_id}{sub}"
    missing = requests.request(
        method, f"{hearth.api}/stacks/nowhere{sub}", headers=AUTH, allow_redirects=False, timeout=10
    )
    assert missing.status_code == 404 and json.loads(missing.text)["error"]


def test_a_wrong_password_is_refused_and_a_hearth_api_token_still_works(hearth, heat, tmp_path):
    env = clean_environment({**heat.person.environment(), "OS_PASSWORD": "not-" + heat.person.password})
    refused = run(heat.base + ["stack-list"], heat.cwd, check=False, env=env)
    assert refused.returncode != 0 and "The request you have made requires authentication" in refused.stderr
    tokened = Heat(hearth, heat.cwd, token=ADMIN_TOKEN)
    tokened("stack-create", "-f", "simple.yaml", "--poll", "1", "tokened")
    assert "tokened" in heat("stack-list").stdout
