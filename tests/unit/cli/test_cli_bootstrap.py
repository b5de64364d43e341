"""`hearth server bootstrap`: the renderers (run by a real shell, parsed as YAML), the command
against a real in-process Hearth server, the credential it issues and the errors it gives.

`sudo` and `systemctl` are stand-ins on PATH that record their arguments: the test cannot be
root nor talk to a systemd; `sh`, `base64`, `mktemp` and `mv` are the real ones.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest
import yaml
from click.testing import CliRunner

from engine.cli import bootstrap as bootstrap_cli
from engine.cli.connection import ClientOptions
from engine.cli.transport import Transport
from metadata_server import server_command
from metadata_server.cli import hearth as hearth_cli
from tests.support import ROOT, start_server, stop_server, wait_for

DOCUMENT = {
    "server_id": "0f9a5a7e-1c1e-4f7e-9a55-3c1f0d7c2b11",
    "base_url": "http://h:8004",
    "metadata_url": "http://h:8004/guest/v1/servers/0f9a5a7e-1c1e-4f7e-9a55-3c1f0d7c2b11/metadata",
    "credential": 'hgs_it\'s "quoted" $(not run) `nor this`',
    "collectors": ["hearth"],
}

DEPLOYED = """heat_template_version: 2018-08-31
resources:
  box: {type: OS::Heat::DeployedServer}
  other: {type: OS::Heat::DeployedServer}
  value: {type: OS::Heat::Value, properties: {value: 1}}
"""

LOCAL = """heat_template_version: 2018-08-31
resources:
  vm: {type: OS::Nova::Server, properties: {image: any, flavor: any}}
"""


def stand_ins(tmp_path):
    """A bin dir with a recording `systemctl` and a `sudo` that just runs its command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/systemctl.log\n')
    for tool in ("sudo", "systemctl"):
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_oneline_writes_the_document_0600_atomically_and_restarts_the_agent(tmp_path):
    target = tmp_path / "etc dir's" / "hearth" / "boot $strap.json"
    command = bootstrap_cli.render_oneline(DOCUMENT, str(target))
    assert "\n" not in command
    done = subprocess.run(["sh", "-c", command], env=stand_ins(tmp_path), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text()) == DOCUMENT
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert os.listdir(target.parent) == [target.name]  # no temporary file left behind
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "enable hearth-agent.service",
        "reload-or-restart hearth-agent.service",
    ]
    assert DOCUMENT["credential"] not in command  # carried base64-encoded only


def test_bootstrap_is_a_subcommand_of_the_server_command_which_still_runs_alone():
    context = hearth_cli.make_context("hearth", ["server"])
    assert hearth_cli.get_command(context, "server") is server_command.server
    assert server_command.server.get_command(context, "bootstrap") is bootstrap_cli.bootstrap
    assert server_command.server.invoke_without_command


def test_oneline_without_sudo_and_a_relative_path_is_refused():
    assert " sudo " not in bootstrap_cli.render_oneline(DOCUMENT, sudo=False)
    with pytest.raises(bootstrap_cli.CliError, match="--path must be an absolute path"):
        bootstrap_cli.render_oneline(DOCUMENT, "etc/bootstrap.json")


def test_cloud_init_user_data_comes_from_the_packaging_template():
    assert bootstrap_cli.template_path() == ROOT / "packaging" / "cloud-init" / "hearth-agent.yaml.tmpl"
    text = bootstrap_cli.render_cloud_init(DOCUMENT, "/etc/hearth/odd 'path\".json")
    assert text.splitlines()[0] == "#cloud-config"
    data = yaml.safe_load(text)
    (entry,) = data["write_files"]
    assert entry["path"] == "/etc/hearth/odd 'path\".json"
    assert entry["permissions"] == "0600" and entry["owner"] == "root:root"
    assert entry["encoding"] == "b64"
    assert json.loads(base64.b64decode(entry["content"])) == DOCUMENT
    assert data["runcmd"] == [
        ["systemctl", "enable", "hearth-agent.service"],
        ["systemctl", "--no-block", "reload-or-restart", "hearth-agent.service"],
    ]


def invoke(hearth, *args):
    transport = Transport()
    try:
        return CliRunner().invoke(
            hearth_cli, ["--url", hearth.url, "server", "bootstrap", *args], obj=ClientOptions(transport=transport)
        )
    finally:
        transport.close()


@pytest.fixture(scope="module")
def deployed(shared_hearth):
    """A stack with two DeployedServers (and a value that is no server)."""
    shared_hearth.create_stack("enrol", DEPLOYED)
    stack = shared_hearth.wait_stack("enrol", ("CREATE_COMPLETE",))
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    resources = shared_hearth.resources("enrol")
    return {name: r["physical_resource_id"] for name, r in resources.items()}


def metadata_status(hearth, server_id: str, credential: str) -> int:
    return hearth.http.get(
        f"{hearth.url}/guest/v1/servers/{server_id}/metadata",
        headers={"Authorization": f"Bearer {credential}"},
        timeout=30,
    ).status_code


def test_json_format_by_resource_name_gives_a_credential_for_that_server_only(shared_hearth, deployed):
    result = invoke(shared_hearth, "box", "--stack", "enrol", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["server_id"] == deployed["box"]
    assert document["base_url"] == shared_hearth.url
    assert document["metadata_url"] == f"{shared_hearth.url}/guest/v1/servers/{deployed['box']}/metadata"
    assert document["collectors"] == ["hearth"] and document["credential"].startswith("hgs_")
    assert "valid until" in result.stderr and document["credential"] not in result.stderr
    assert metadata_status(shared_hearth, deployed["box"], document["credential"]) == 200
    assert metadata_status(shared_hearth, deployed["other"], document["credential"]) == 403


def test_a_new_credential_keeps_the_old_one_unless_revoke_previous(shared_hearth, deployed):
    server = deployed["other"]
    first = json.loads(invoke(shared_hearth, server, "-f", "json").stdout)["credential"]
    second = json.loads(invoke(shared_hearth, server, "-f", "json").stdout)["credential"]
    assert first != second
    assert metadata_status(shared_hearth, server, first) == 200
    result = invoke(shared_hearth, server, "-f", "json", "--revoke-previous")
    assert result.exit_code == 0, result.output
    third = json.loads(result.stdout)["credential"]
    assert metadata_status(shared_hearth, server, first) == 401
    assert metadata_status(shared_hearth, server, second) == 401
    assert metadata_status(shared_hearth, server, third) == 200


def test_the_default_format_is_the_oneline_command(shared_hearth, deployed):
    result = invoke(shared_hearth, deployed["box"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("printf '%s' '") and "sudo sh -c" in result.stdout
    user_data = invoke(shared_hearth, deployed["box"], "-f", "cloud-init")
    assert yaml.safe_load(user_data.stdout)["write_files"][0]["path"] == "/etc/hearth/bootstrap.json"


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "server 'nope' not found in project 'admin'"),
        (["value", "--stack", "enrol"], "resource 'value' of stack 'enrol' is a OS::Heat::Value, not a server"),
        (["missing", "--stack", "enrol"], "missing"),
        (["box", "--stack", "no-such-stack"], "The Stack (no-such-stack) could not be found."),
    ],
)
def test_errors_name_what_to_fix(shared_hearth, deployed, args, message):
    result = invoke(shared_hearth, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("ERROR: ") and message in result.stderr
    assert "Traceback" not in result.output


def envelope(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "title", "explanation", "error"} and body["code"] == status
    assert fragment in body["error"]["message"]


def test_api_refuses_bad_bodies_and_servers_of_other_projects(shared_hearth, deployed):
    url = f"{shared_hearth.url}/v1/admin/servers/{deployed['box']}/bootstrap"
    envelope(shared_hearth.http.post(url, json={"revoke": True}, timeout=30), 400, "revoke_previous")
    envelope(shared_hearth.http.post(url, json={"revoke_previous": "maybe"}, timeout=30), 400, "must be a boolean")
    other_project = url.replace("/v1/admin/", "/v1/elsewhere/")
    envelope(shared_hearth.http.post(other_project, timeout=30), 404, "not found in project 'elsewhere'")
    answer = shared_hearth.http.post(url, timeout=30)
    assert answer.status_code == 201 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json()["server"]["resource_name"] == "box"


def test_new_enrols_a_machine_under_an_id_no_server_has(shared_hearth):
    """`--new`: the id deployments name becomes a server of the project, its metadata served to
    the credential; again with --new, the same server gets another credential."""
    result = invoke(shared_hearth, "rack-1-node-9", "--new", "-f", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["server_id"] == "rack-1-node-9"
    assert document["metadata_url"] == f"{shared_hearth.url}/guest/v1/servers/rack-1-node-9/metadata"
    answer = shared_hearth.http.get(
        document["metadata_url"], timeout=30, headers={"Authorization": f"Bearer {document['credential']}"}
    )
    assert answer.status_code == 200 and answer.json()["metadata"]["deployments"] == []
    again = json.loads(invoke(shared_hearth, "rack-1-node-9", "--new", "-f", "json").stdout)
    assert again["credential"] != document["credential"]
    assert metadata_status(shared_hearth, "rack-1-node-9", document["credential"]) == 200
    without = invoke(shared_hearth, "rack-1-node-10")
    assert without.exit_code == 1 and "--new" in without.stderr
    bad = invoke(shared_hearth, "no spaces", "--new")
    assert bad.exit_code == 1 and "cannot be a server id" in bad.stderr
    stacked = invoke(shared_hearth, "box", "--stack", "enrol", "--new")
    assert stacked.exit_code == 1 and "drop --stack" in stacked.stderr


@pytest.fixture
def real_hearth(tmp_path):
    """A real server of its own (this folder's `hearth` fixture is the CLI's stand-in)."""
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def test_a_server_the_local_driver_made_or_a_deleted_one_is_refused(real_hearth):
    hearth = real_hearth
    hearth.create_stack("local", LOCAL)
    assert hearth.wait_stack("local", ("CREATE_COMPLETE",), timeout=60)["stack_status"] == "CREATE_COMPLETE"
    server = hearth.resources("local")["vm"]["physical_resource_id"]
    url = f"{hearth.url}/v1/admin/servers/{server}/bootstrap"
    envelope(hearth.http.post(url, timeout=30), 409, "made by the 'local' compute driver")
    assert "OS::Nova::Server" in hearth.http.post(url, timeout=30).json()["error"]["message"]
    hearth.create_stack("gone", DEPLOYED)
    hearth.wait_stack("gone", ("CREATE_COMPLETE",))
    box = hearth.resources("gone")["box"]["physical_resource_id"]
    issued = hearth.http.post(f"{hearth.url}/v1/admin/servers/{box}/bootstrap", timeout=30).json()
    hearth.delete("gone")
    envelope(hearth.http.post(f"{hearth.url}/v1/admin/servers/{box}/bootstrap", timeout=30), 404, "was deleted")
    # The credential died with its server (revoked with it, as every server credential is).
    wait_for(
        lambda: metadata_status(hearth, box, issued["bootstrap"]["credential"]) in (401, 404),
        10,
        message="the deleted server's credential to stop working",
    )
