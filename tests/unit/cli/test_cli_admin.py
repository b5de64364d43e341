"""`hearth admin ...` and how the `hearth` CLI finds its token, against real servers: an
in-process one for the admin commands, real `hearth server` processes for the first-start
admin token file and `--admin-token`."""

from __future__ import annotations

import json
import stat
import uuid

import pytest
import requests
from click.testing import CliRunner

from engine.cli import cli
from engine.cli.client import discover_token
from tests.support import ADMIN_TOKEN, ServerProcess, start_server, stop_server


def hearth(url, *args, env=None):
    return CliRunner().invoke(cli, ["--url", url, *args], env=env)


def ok(result):
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def test_admin_commands_manage_projects_users_roles_tokens_and_read_the_audit(shared_hearth):
    url = shared_hearth.url
    project, user = f"team-{uuid.uuid4().hex[:6]}", f"dev-{uuid.uuid4().hex[:6]}"
    ok(hearth(url, "admin", "project", "create", project))
    listed = json.loads(ok(hearth(url, "admin", "project", "list", "-f", "json")).stdout)
    assert project in [p["name"] for p in listed]
    ok(hearth(url, "admin", "user", "create", user))
    ok(hearth(url, "admin", "role", "add", user, project, "member"))
    users = json.loads(ok(hearth(url, "admin", "user", "list", "-f", "json")).stdout)
    assert {"name": user, "roles": {project: "member"}}.items() <= {
        k: v for u in users if u["name"] == user for k, v in u.items()
    }.items()
    created = ok(hearth(url, "admin", "token", "create", user, "--name", "laptop"))
    secret = created.stdout.strip()
    assert secret.startswith("hat_") and "token id:" in created.stderr
    # The new token works for its project from the CLI, and is not shown again in lists.
    ok(hearth(url, "--project", project, "--token", secret, "stack", "list"))
    tokens = json.loads(ok(hearth(url, "admin", "token", "list", "--user", user, "-f", "json")).stdout)
    assert [t["name"] for t in tokens] == ["laptop"] and secret not in json.dumps(tokens)
    ok(hearth(url, "admin", "token", "revoke", tokens[0]["id"]))
    refused = hearth(url, "--project", project, "--token", secret, "stack", "list")
    assert refused.exit_code == 1 and "unknown, expired or revoked" in refused.stderr
    failed = json.loads(
        ok(hearth(url, "admin", "audit", "list", "--action", "auth.failed", "--limit", "1", "-f", "json")).stdout
    )
    assert len(failed) == 1 and failed[0]["action"] == "auth.failed" and secret not in json.dumps(failed)
    ok(hearth(url, "admin", "role", "remove", user, project, "member"))
    ok(hearth(url, "admin", "user", "delete", user))
    ok(hearth(url, "admin", "project", "delete", project))
    missing = hearth(url, "admin", "project", "delete", project)
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_admin_delegation_list_and_revoke(shared_hearth):
    url = shared_hearth.url
    shared_hearth.create_stack(f"d{uuid.uuid4().hex[:6]}", "heat_template_version: 2018-08-31\nresources: {}\n")
    rows = json.loads(ok(hearth(url, "admin", "delegation", "list", "-f", "json")).stdout)
    live = [d for d in rows if d["revoked_at"] is None]
    assert live and live[-1]["role"] == "admin" and live[-1]["user"] == "admin"
    ok(hearth(url, "admin", "delegation", "revoke", live[-1]["id"]))
    rows = json.loads(
        ok(hearth(url, "admin", "delegation", "list", "--stack-id", live[-1]["stack_id"], "-f", "json")).stdout
    )
    assert rows[0]["revoked_at"] is not None


def test_a_non_admin_token_gets_a_clear_refusal_from_admin_commands(shared_hearth):
    url = shared_hearth.url
    name = f"plain-{uuid.uuid4().hex[:6]}"
    ok(hearth(url, "admin", "user", "create", name))
    secret = ok(hearth(url, "admin", "token", "create", name)).stdout.strip()
    refused = hearth(url, "--token", secret, "admin", "user", "list")
    assert refused.exit_code == 1 and "only an admin of project 'admin'" in refused.stderr


def test_the_cli_finds_the_first_start_token_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("HEARTH_ADMIN_TOKEN")
    server = start_server(tmp_path)  # no admin token given: the first start writes one
    try:
        path = tmp_path / "data" / "admin-token"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        env = {"HEARTH_TOKEN": None, "HEARTH_ADMIN_TOKEN": None, "HEARTH_DATA_DIR": str(tmp_path / "data")}
        ok(hearth(server.url, "stack", "list", env=env))
        lost = hearth(server.url, "stack", "list", env={**env, "HEARTH_DATA_DIR": str(tmp_path / "elsewhere")})
        assert lost.exit_code == 1 and "token is required" in lost.stderr
    finally:
        stop_server(server)


def test_the_local_admin_token_is_never_sent_to_another_host(tmp_path, monkeypatch):
    (tmp_path / "admin-token").write_text("hat_local\n")
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HEARTH_ADMIN_TOKEN")
    assert discover_token("http://127.0.0.1:8004") == "hat_local"
    assert discover_token("http://localhost:8004") == "hat_local"
    assert discover_token("https://hearth.example.com") is None


def server_env():
    return {"HEARTH_ADMIN_TOKEN": "", "HEARTH_TOKEN": "", "HEARTH_DATA_DIR": ""}


def test_first_start_of_hearth_server_stores_the_token_and_logs_only_its_path(tmp_path):
    process = ServerProcess(tmp_path, env=server_env())
    process.start()
    try:
        path = tmp_path / "data" / "admin-token"
        token = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        log = process.log.read_text()
        assert str(path) in log and token not in log
        answer = requests.get(f"{process.url}/v1/admin/stacks", headers={"X-Auth-Token": token}, timeout=30)
        assert answer.status_code == 200
    finally:
        process.stop()
    process.start()  # a restart keeps the token and does not announce a new one
    try:
        assert path.read_text().strip() == token
        assert process.log.read_text().count(str(path)) == 1
        answer = requests.get(f"{process.url}/v1/admin/stacks", headers={"X-Auth-Token": token}, timeout=30)
        assert answer.status_code == 200
    finally:
        process.stop()


@pytest.mark.parametrize("how", ["option", "environment"])
def test_admin_token_option_or_environment_sets_the_token(tmp_path, how):
    given = "hat_automation-" + uuid.uuid4().hex
    env = server_env()
    args = ["--db", f"sqlite:///{tmp_path}/h.db", "--data-dir", str(tmp_path / "data")]
    if how == "option":
        args += ["--admin-token", given]
    else:
        env["HEARTH_ADMIN_TOKEN"] = given
    process = ServerProcess(tmp_path, args=args, env=env)
    for _ in range(2):  # idempotent across restarts
        process.start()
        try:
            answer = requests.get(f"{process.url}/v1/admin/stacks", headers={"X-Auth-Token": given}, timeout=30)
            assert answer.status_code == 200
            other = requests.get(f"{process.url}/v1/admin/stacks", headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=30)
            assert other.status_code == 401
        finally:
            process.stop()
    assert not (tmp_path / "data" / "admin-token").exists()
    assert given not in process.log.read_text()


def test_admin_user_passwords_from_stdin_or_the_prompt_then_sign_in(shared_hearth):
    url, user = shared_hearth.url, f"pw-{uuid.uuid4().hex[:6]}"

    def signs_in(password):
        return requests.post(
            f"{url}/identity/v3/auth/tokens",
            timeout=30,
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}},
                    },
                    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
                }
            },
        ).status_code

    created = ok(
        CliRunner().invoke(
            cli,
            ["--url", url, "admin", "user", "create", user, "--password-stdin", "-f", "json"],
            input="first-password\n",
        )
    )
    assert json.loads(created.stdout)["password"] == "set" and "first-password" not in created.output
    ok(hearth(url, "admin", "role", "add", user, "admin", "reader"))
    assert signs_in("first-password") == 201
    prompted = CliRunner().invoke(
        cli, ["--url", url, "admin", "user", "set-password", user], input="second-password\nsecond-password\n"
    )
    ok(prompted)
    assert signs_in("first-password") == 401 and signs_in("second-password") == 201
    ok(hearth(url, "admin", "user", "set-password", user, "--clear"))
    assert signs_in("second-password") == 401
    short = CliRunner().invoke(
        cli, ["--url", url, "admin", "user", "set-password", user, "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "8 to 1024 characters" in short.stderr and "short\n" not in short.stderr
