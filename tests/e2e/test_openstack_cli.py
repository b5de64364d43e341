"""The real `openstack` CLI (python-openstackclient 10.5.0 with heatclient's plugin) drives
Hearth unchanged: stack create/update/delete with --wait, resources, events, outputs, and the
`software config` / `software deployment` commands. It signs in as against any cloud: a
clouds.yaml (or the --os-auth-url/--os-username/... flags) naming Hearth's `/identity/v3`, a
Hearth user with a password and a project, or an application credential it made itself. A
Hearth API token works too (`--os-auth-type admin_token`); `--os-auth-type none` sends
`X-Auth-Token: notused`, refused."""

from __future__ import annotations

import json

import pytest

from tests.e2e.heat_clients import OpenStack, person, run, write_files
from tests.support import ADMIN_TOKEN, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]


@pytest.fixture
def osc(hearth, tmp_path):
    return OpenStack(hearth, write_files(tmp_path / "files", tmp_path))


def test_stack_lifecycle_with_wait(hearth, osc):
    created = osc.json(
        "stack", "create", "-t", "main.yaml", "-e", "env.yaml", "--parameter", "foo=qux", "--wait", "web"
    )
    assert created["stack_status"] == "CREATE_COMPLETE"
    stack = hearth.stack("web")
    assert stack["stack_status"] == "CREATE_COMPLETE" and stack["parameters"]["foo"] == "baz"
    assert hearth.outputs("web") == {"result": "hello baz", "foo": "baz", "thing": "hi world"}

    assert [s["Stack Name"] for s in osc.json("stack", "list")] == ["web"]
    shown = osc.json("stack", "show", "web")
    assert shown["id"] == stack["id"] and shown["parameters"]["foo"] == "baz"
    assert {o["output_key"] for o in osc.json("stack", "output", "list", "web")} == {"result", "foo", "thing"}
    assert osc.json("stack", "output", "show", "web", "result")["output_value"] == "hello baz"
    resources = {r["resource_name"]: r for r in osc.json("stack", "resource", "list", "web")}
    assert resources["thing"]["resource_type"] == "My::Thing"
    assert resources["deploy"]["resource_status"] == "CREATE_COMPLETE"
    # A deployment's resource show is the deployment as the software_deployments API shows it
    # (Heat's `show` attribute), its outputs among output_values.
    assert (
        osc.json("stack", "resource", "show", "web", "deploy")["attributes"]["output_values"]["result"] == "hello baz"
    )
    metadata = osc.json("stack", "resource", "metadata", "web", "server")
    assert [e["group"] for e in metadata["deployments"]] == ["script"]
    events = osc.json("stack", "event", "list", "web")
    assert any(e["resource_name"] == "web" and e["resource_status"] == "CREATE_COMPLETE" for e in events)
    assert "hello.sh" in osc("stack", "file", "list", "web").stdout
    assert osc.json("stack", "environment", "show", "web")["parameters"]["foo"] == "baz"

    updated = osc.json("stack", "update", "--existing", "--parameter", "greeting=yo", "--wait", "web")
    assert updated["stack_status"] == "UPDATE_COMPLETE"
    assert hearth.outputs("web")["thing"] == "yo world"
    assert osc.value("stack", "output", "show", "web", "thing", "-c", "output_value") == "yo world"
    updated = osc.json(
        "stack", "update", "-t", "main.yaml", "-e", "env.yaml", "--parameter", "greeting=hey", "--wait", "web"
    )
    assert updated["stack_status"] == "UPDATE_COMPLETE" and hearth.outputs("web")["thing"] == "hey world"

    osc("stack", "delete", "-y", "--wait", "web")
    assert hearth.stack(stack["id"])["stack_status"] == "DELETE_COMPLETE"
    assert osc.json("stack", "list") == []


def test_parameter_wins_without_environment_file_and_signal_clears_a_hook(hearth, osc):
    osc("stack", "create", "-t", "simple.yaml", "--parameter", "foo=qux", "--wait", "plain")
    assert hearth.stack("plain")["parameters"]["foo"] == "qux"
    osc("stack", "create", "-t", "simple.yaml", "-e", "hooks.yaml", "gated")
    wait_for(
        lambda: any("paused" in reason for reason in hearth.event_reasons("gated")),
        30,
        message="the gate to pause on its hook",
    )
    osc("stack", "resource", "signal", "gated", "gate", "--data", '{"unset_hook": "pre-create"}')
    assert hearth.wait_stack("gated", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"


def test_software_config_and_deployment_commands(hearth, osc, tmp_path):
    (osc.cwd / "server.yaml").write_text(
        "heat_template_version: 2018-08-31\nresources:\n  server:\n"
        "    type: OS::Nova::Server\n    properties: {image: any, flavor: any, "
        "user_data_format: SOFTWARE_CONFIG}\n"
    )
    osc("stack", "create", "-t", "server.yaml", "--wait", "box")
    server_id = osc.value("stack", "resource", "show", "box", "server", "-c", "physical_resource_id")

    config = osc.json(
        "software",
        "config",
        "create",
        "--definition-file",
        "defn.yaml",
        "--config-file",
        "run.sh",
        "--group",
        "script",
        "myconf",
    )
    assert config["name"] == "myconf" and config["group"] == "script"
    shown = osc.json("software", "config", "show", config["id"])
    assert shown["inputs"] == [{"name": "who", "type": "String", "default": "world"}]  # as Heat answers
    assert [c["name"] for c in osc.json("software", "config", "list")] == ["myconf"]

    deployment = osc.json(
        "software",
        "deployment",
        "create",
        "--config",
        config["id"],
        "--server",
        server_id,
        "--signal-transport",
        "NO_SIGNAL",
        "--input-value",
        "who=ann",
        "dep1",
    )
    assert deployment["status"] == "IN_PROGRESS" and deployment["server_id"] == server_id
    ran = tmp_path / "ran.ann"
    # The script's shell redirect creates the file before it writes to it: wait for the text.
    wait_for(lambda: ran.exists() and ran.read_text() == "hi ann", 60, message="the agent to run the deployment")
    assert [d["id"] for d in osc.json("software", "deployment", "list", "--server", server_id)] == [deployment["id"]]
    metadata = json.loads(osc("software", "deployment", "metadata", "show", server_id).stdout)
    assert [entry["name"] for entry in metadata] == ["dep1"]

    answer = hearth.http.put(
        f"{hearth.api}/software_deployments/{deployment['id']}",
        timeout=10,
        json={"status": "COMPLETE", "output_values": {"result": "hi ann"}},
    )
    assert answer.status_code == 200, answer.text
    shown = osc.json("software", "deployment", "show", "--long", deployment["id"])
    assert shown["status"] == "COMPLETE" and shown["output_values"]["result"] == "hi ann"
    assert "result: hi ann" in osc("software", "deployment", "output", "show", deployment["id"], "result").stdout

    osc("software", "deployment", "delete", deployment["id"])
    assert osc.json("software", "deployment", "list") == []
    osc("software", "config", "delete", config["id"])
    assert osc.json("software", "config", "list") == []


def test_deployments_to_a_server_id_no_server_has_answer_as_heat_did(hearth, osc):
    """What `openstack software deployment ...` printed against Heat 27.0.1 for server
    `anysrv-nowhere-2`, which no server has (recorded with the same client)."""
    config = osc.json(
        "software",
        "config",
        "create",
        "--definition-file",
        "defn.yaml",
        "--config-file",
        "run.sh",
        "--group",
        "script",
        "myconf",
    )
    made = osc.json(
        "software",
        "deployment",
        "create",
        "--config",
        config["id"],
        "--server",
        "nowhere-2",
        "--signal-transport",
        "NO_SIGNAL",
        "--input-value",
        "who=ann",
        "osdep",
    )
    assert {k: v for k, v in made.items() if k not in ("id", "config_id", "creation_time")} == {
        "action": "UPDATE",
        "input_values": {},
        "output_values": None,
        "server_id": "nowhere-2",
        "status": "IN_PROGRESS",
        "status_reason": "None",
    }
    shown = osc.json("software", "deployment", "show", "--long", made["id"])
    assert {k: v for k, v in shown.items() if k not in ("id", "config_id", "creation_time")} == {
        "server_id": "nowhere-2",
        "updated_time": "",
        "status": "IN_PROGRESS",
        "status_reason": "None",
        "input_values": {},
        "action": "UPDATE",
        "output_values": None,
    }
    assert osc.json("software", "deployment", "list", "--server", "nowhere-2") == [
        {
            "id": made["id"],
            "config_id": made["config_id"],
            "server_id": "nowhere-2",
            "action": "UPDATE",
            "status": "IN_PROGRESS",
        }
    ]
    [entry] = json.loads(osc("software", "deployment", "metadata", "show", "nowhere-2").stdout)
    assert entry["id"] == made["config_id"] and entry["name"] == "osdep"
    assert [i["name"] for i in entry["inputs"]] == [
        "who",
        "deploy_server_id",
        "deploy_action",
        "deploy_signal_transport",
    ]
    unsignalled = osc("software", "deployment", "output", "show", made["id"], "result")
    assert unsignalled.stdout.strip() == ""  # null output_values: nothing to print, as with Heat

    # The default transport (TEMP_URL_SIGNAL): the heatclient plugin asks its HTTP client for a
    # Keystone auth plugin to make a Swift temp URL, and openstackclient never gives it one, so
    # the command fails in the client before any request that creates something (with Heat too).
    refused = osc(
        "software", "deployment", "create", "--config", config["id"], "--server", "nowhere-2", "osdep2", check=False
    )
    assert refused.returncode != 0 and "'NoneType' object has no attribute 'get_token'" in refused.stderr
    assert [d["id"] for d in osc.json("software", "deployment", "list")] == [made["id"]]

    osc("software", "deployment", "delete", made["id"])
    assert json.loads(osc("software", "deployment", "metadata", "show", "nowhere-2").stdout) == []
    assert [c["name"] for c in osc.json("software", "config", "list")] == ["myconf"]  # derived one gone too


def test_auth_type_none_is_refused_without_a_real_token(hearth, osc):
    """`--os-auth-type none` sends `X-Auth-Token: notused`: Hearth has no anonymous mode."""
    result = run(
        [
            str(osc.bin / "python"),
            str(osc.bin / "openstack"),
            "--os-auth-type",
            "none",
            "--os-endpoint",
            hearth.api,
            "stack",
            "list",
        ],
        osc.cwd,
        check=False,
    )
    assert result.returncode != 0 and "the token is unknown, expired or revoked" in result.stderr


def test_the_flags_a_cloud_takes_sign_in_and_a_wrong_password_is_refused(hearth, osc):
    """The exact command a cloud's user types: auth URL, user, password, project, domains."""
    user = person(hearth)
    flags = [
        "--os-auth-url",
        user.auth_url,
        "--os-username",
        user.name,
        "--os-project-name",
        user.project,
        "--os-user-domain-name",
        "Default",
        "--os-project-domain-name",
        "Default",
    ]
    command = [str(osc.bin / "python"), str(osc.bin / "openstack"), *flags]
    osc("stack", "create", "-t", "simple.yaml", "--parameter", "foo=signed", "--wait", "mine")
    listed = json.loads(run(command + ["--os-password", user.password, "stack", "list", "-f", "json"], osc.cwd).stdout)
    assert [s["Stack Name"] for s in listed] == ["mine"]
    token = json.loads(run(command + ["--os-password", user.password, "token", "issue", "-f", "json"], osc.cwd).stdout)
    assert token["project_id"] == "admin" and token["id"].startswith("hat_")
    refused = run(command + ["--os-password", "not-" + user.password, "stack", "list"], osc.cwd, check=False)
    assert refused.returncode != 0 and "The request you have made requires authentication. (HTTP 401)" in refused.stderr
    assert user.password not in refused.stderr


def test_an_application_credential_made_by_the_client_signs_in(hearth, osc):
    made = osc.json("application", "credential", "create", "ci")
    assert made["Project ID"] == "admin" and made["Secret"]
    command = [
        str(osc.bin / "python"),
        str(osc.bin / "openstack"),
        "--os-auth-type",
        "v3applicationcredential",
        "--os-auth-url",
        osc.person.auth_url,
        "--os-application-credential-secret",
        made["Secret"],
    ]
    by_id = command + ["--os-application-credential-id", made["ID"]]
    osc("stack", "create", "-t", "simple.yaml", "--wait", "ci-stack")
    assert "ci-stack" in run(by_id + ["stack", "list"], osc.cwd).stdout
    by_name = command + [
        "--os-application-credential-name",
        "ci",
        "--os-username",
        osc.person.name,
        "--os-user-domain-name",
        "Default",
    ]
    assert "ci-stack" in run(by_name + ["stack", "list"], osc.cwd).stdout
    osc("application", "credential", "delete", "ci")
    refused = run(by_id + ["stack", "list"], osc.cwd, check=False)
    assert refused.returncode != 0 and "(HTTP 401)" in refused.stderr


def test_a_hearth_api_token_still_works_without_keystone(hearth, tmp_path):
    osc = OpenStack(hearth, write_files(tmp_path / "files", tmp_path), token=ADMIN_TOKEN)
    osc("stack", "create", "-t", "simple.yaml", "--wait", "tokened")
    assert "tokened" in osc("stack", "list").stdout
