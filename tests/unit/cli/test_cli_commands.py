"""The commands through CliRunner against a real HTTP stand-in of the API on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading

import click
from click.testing import CliRunner

from engine.cli import cli
from engine.cli.connection import ClientOptions
from engine.cli.transport import Transport


def run(url, options, *args, env=None):
    result = CliRunner().invoke(cli, ["--url", url, *args], obj=options, env=env)
    assert "Traceback" not in result.output
    return result


def template(tmp_path):
    (tmp_path / "boot.sh").write_text("echo hi\n")
    path = tmp_path / "t.yaml"
    path.write_text(
        "heat_template_version: 2018-08-31\n"
        "resources:\n  web:\n    type: OS::Heat::SoftwareConfig\n"
        "    properties:\n      config: {get_file: boot.sh}\n"
    )
    return path


def paths(fake, method=None):
    return [(r["method"], r["path"]) for r in fake.requests if method is None or r["method"] == method]


def test_cli_is_a_group_others_can_extend(hearth, options):
    _fake, url = hearth

    @click.command()
    def probe():
        click.echo("probed")

    assert isinstance(cli, click.Group)
    cli.add_command(probe, "probe")
    try:
        assert run(url, options, "probe").output == "probed\n"
    finally:
        cli.commands.pop("probe")


def test_create_sends_the_heat_body_and_prints_the_new_stack(hearth, options, tmp_path):
    fake, url = hearth
    path = template(tmp_path)
    result = run(
        url,
        options,
        "stack",
        "create",
        "demo",
        "-t",
        str(path),
        "--parameter",
        "a=1;b=2",
        "--parameter",
        "c=x=y",
        "--timeout",
        "7",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert fake.bodies == [
        {
            "stack_name": "demo",
            "template": path.read_text(),
            "template_name": str(path),
            "files": {"boot.sh": "echo hi\n"},
            "environment": {},
            "environment_files": [],
            "parameters": {"a": "1", "b": "2", "c": "x=y"},
            "timeout_mins": 7,
            "disable_rollback": True,
        }
    ]
    shown = json.loads(result.stdout)
    assert shown["stack_name"] == "demo"
    assert shown["stack_status"] == "CREATE_IN_PROGRESS"
    assert set(shown) == {"id", "stack_name", "stack_status", "creation_time"}
    assert ("GET", f"/v1/admin/stacks/demo/{shown['id']}") in paths(fake)


def test_create_wait_streams_events_with_the_long_poll(hearth, options, tmp_path):
    fake, url = hearth
    result = run(url, options, "stack", "create", "demo", "-t", str(template(tmp_path)), "--wait")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "2026-11-22 04:30:01Z [demo]: CREATE_IN_PROGRESS  Stack CREATE started",
        "2026-11-22 04:30:02Z [web]: CREATE_IN_PROGRESS  state changed",
        "2026-11-22 04:30:03Z [web]: CREATE_COMPLETE  state changed",
        "2026-11-22 04:30:04Z [demo]: CREATE_COMPLETE  Stack CREATE completed successfully",
    ]
    assert "| stack_status        | CREATE_COMPLETE" in result.stdout  # then `stack show`
    polls = [r["args"] for r in fake.requests if r["path"].endswith("/events")]
    stack_id = next(iter(fake.stacks))
    ids = [e["id"] for e in fake.events[stack_id]]
    assert [p.get("marker") for p in polls] == [None] + ids[:3]
    assert all(p["wait"] == "20" and p["sort_dir"] == "asc" for p in polls)


def test_create_wait_json_keeps_stdout_parseable(hearth, options, tmp_path):
    _fake, url = hearth
    result = run(url, options, "stack", "create", "demo", "-t", str(template(tmp_path)), "--wait", "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["stack_status"] == "CREATE_COMPLETE"
    assert "[web]: CREATE_COMPLETE" in result.stderr


def test_create_wait_failure_is_an_error_with_the_stacks_reason(hearth, options, tmp_path):
    fake, url = hearth
    fake.create_script = fake.create_failed
    result = run(url, options, "stack", "create", "demo", "-t", str(template(tmp_path)), "--wait")
    assert result.exit_code == 1
    assert "[web]: CREATE_FAILED  boom" in result.stdout
    assert result.stderr == "ERROR: Resource CREATE failed: boom\n"


def test_create_wait_falls_back_to_the_stack_status(hearth, options, tmp_path):
    fake, url = hearth
    fake.create_script = fake.create_without_stack_events
    result = run(url, options, "stack", "create", "demo", "-t", str(template(tmp_path)), "--wait")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith("[web]: CREATE_COMPLETE  state changed")
    assert "| stack_status_reason | done" in result.stdout


def test_missing_get_file_fails_before_any_request(hearth, options, tmp_path):
    fake, url = hearth
    path = tmp_path / "t.yaml"
    path.write_text("x: {get_file: gone.sh}\n")
    result = run(url, options, "stack", "create", "demo", "-t", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("ERROR: ") and "gone.sh" in result.stderr
    assert fake.requests == []


def test_api_error_envelope_message_is_shown(hearth, options, tmp_path):
    fake, url = hearth
    fake.add_stack("demo")
    result = run(url, options, "stack", "create", "demo", "-t", str(template(tmp_path)))
    assert (result.exit_code, result.stderr) == (1, "ERROR: The Stack (demo) already exists.\n")
    result = run(url, options, "stack", "show", "nope")
    assert (result.exit_code, result.stderr) == (1, "ERROR: The Stack (nope) could not be found.\n")


def test_show_follows_the_302_and_sends_the_token(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo", parameters={"flavor": "m1"})
    result = run(
        url, options, "stack", "show", "demo", "-f", "yaml", env={"HEARTH_TOKEN": "s3cret", "HEARTH_PROJECT": "p1"}
    )
    assert result.exit_code == 0, result.output
    assert "stack_status: CREATE_COMPLETE" in result.stdout
    assert paths(fake) == [("GET", "/v1/p1/stacks/demo"), ("GET", f"/v1/p1/stacks/demo/{stack['id']}")]
    assert {r["token"] for r in fake.requests} == {"s3cret"}


def test_list_table_and_value(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo")
    table = run(url, options, "stack", "list").stdout.splitlines()
    assert table[1].split("|")[1:3] == [" id" + " " * 35, " stack_name "]
    assert f"| {stack['id']} | demo       | CREATE_COMPLETE |" in table[3]
    value = run(url, options, "stack", "list", "-f", "value", "-c", "stack_name", "-c", "id")
    assert value.stdout == f"demo {stack['id']}\n"
    assert run(url, options, "--token", "t", "stack", "list").exit_code == 0
    assert fake.requests[-1]["token"] == "t"


def test_resources(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo")
    listed = run(url, options, "resource", "list", "demo", "-f", "json")
    assert json.loads(listed.stdout) == [
        {
            "resource_name": "web",
            "physical_resource_id": "web-phys",
            "resource_type": "OS::Heat::None",
            "resource_status": "CREATE_COMPLETE",
            "updated_time": None,
        }
    ]
    shown = run(url, options, "resource", "show", "demo", "web")
    assert "| attributes      | ip: 10.0.0.5 " in shown.stdout
    assert ("GET", f"/v1/admin/stacks/demo/{stack['id']}/resources/web") in paths(fake)
    missing = run(url, options, "resource", "show", "demo", "db")
    assert (missing.exit_code, missing.stderr) == (1, "ERROR: The Resource (db) could not be found.\n")


def test_delete_waits_for_this_delete_only(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo")
    fake.steps[stack["id"]] = fake.create_ok(stack)
    while fake.advance(stack["id"]):
        pass  # an old create history, which --wait must not replay
    result = run(url, options, "stack", "delete", "demo", "--wait", "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "2026-11-22 04:30:05Z [demo]: DELETE_IN_PROGRESS  Stack DELETE started",
        "2026-11-22 04:30:06Z [web]: DELETE_COMPLETE  state changed",
        "2026-11-22 04:30:07Z [demo]: DELETE_COMPLETE  Stack DELETE completed successfully",
    ]
    assert ("DELETE", f"/v1/admin/stacks/demo/{stack['id']}") in paths(fake)
    # gone by name, still shown by id
    assert run(url, options, "stack", "show", "demo").exit_code == 1
    shown = run(url, options, "stack", "show", stack["id"], "-f", "value", "-c", "stack_status")
    assert shown.stdout == "DELETE_COMPLETE\n"
    again = run(url, options, "stack", "delete", stack["id"])
    assert (again.exit_code, again.stderr) == (1, f"ERROR: stack {stack['id']} is already deleted\n")


def test_delete_wait_ends_when_the_stack_is_purged(hearth, options):
    fake, url = hearth
    fake.add_stack("demo")
    fake.delete_script = fake.delete_purged
    result = run(url, options, "stack", "delete", "demo", "--wait")
    assert result.exit_code == 0, result.output
    assert "[demo]: DELETE_IN_PROGRESS" in result.stdout


def test_delete_without_wait_and_with_a_missing_stack(hearth, options):
    fake, url = hearth
    one = fake.add_stack("one")
    result = run(url, options, "stack", "delete", "nope", "one")
    assert result.exit_code == 1
    assert result.stderr == "ERROR: nope: The Stack (nope) could not be found.\n"
    assert paths(fake, "DELETE") == [("DELETE", f"/v1/admin/stacks/one/{one['id']}")]
    assert result.stdout == ""


OUTPUTS = [
    {"output_key": "server_one", "output_value": "10.0.0.5", "description": "IP"},
    {"output_key": "all", "output_value": {"a": [1]}, "description": "", "output_error": None},
]


def test_output_show_one_and_all(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo", outputs=OUTPUTS)
    one = run(url, options, "output", "show", "demo", "server_one", "-f", "json")
    assert json.loads(one.stdout) == {"output_key": "server_one", "output_value": "10.0.0.5", "description": "IP"}
    assert ("GET", f"/v1/admin/stacks/demo/{stack['id']}/outputs/server_one") in paths(fake)
    assert (
        run(url, options, "output", "show", "demo", "server_one", "-f", "value", "-c", "output_value").stdout
        == "10.0.0.5\n"
    )
    every = run(url, options, "output", "show", "demo", "-f", "json")
    assert json.loads(every.stdout) == {"server_one": "10.0.0.5", "all": {"a": [1]}}
    assert run(url, options, "output", "show", "demo", "--all", "-f", "json").stdout == every.stdout
    table = run(url, options, "output", "show", "demo").stdout
    assert "| output_key | output_value | description |" in table
    assert '| all        | {"a": [1]}   |             |' in table
    listed = run(url, options, "output", "list", "demo", "-f", "value")
    assert listed.stdout == "server_one IP\nall \n"
    missing = run(url, options, "output", "show", "demo", "nope")
    assert missing.stderr == "ERROR: The Output (nope) could not be found.\n"


def test_output_error_is_shown(hearth, options):
    fake, url = hearth
    fake.add_stack(
        "demo", outputs=[{"output_key": "x", "output_value": None, "description": "", "output_error": "bad attr"}]
    )
    shown = run(url, options, "output", "show", "demo", "x", "-f", "json")
    assert json.loads(shown.stdout)["output_error"] == "bad attr"


def test_event_list_formats(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo")
    fake.steps[stack["id"]] = fake.create_ok(stack)
    while fake.advance(stack["id"]):
        pass
    log = run(url, options, "event", "list", "demo")
    assert log.stdout.splitlines()[1] == "2026-11-22 04:30:02Z [web]: CREATE_IN_PROGRESS  state changed"
    rows = json.loads(run(url, options, "event", "list", "demo", "-f", "json").stdout)
    assert [r["resource_status"] for r in rows] == [
        "CREATE_IN_PROGRESS",
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
        "CREATE_COMPLETE",
    ]
    assert set(rows[0]) == {"id", "resource_name", "resource_status", "resource_status_reason", "event_time"}
    refused = run(url, options, "event", "list", "demo", "--follow", "-f", "table")
    assert refused.exit_code == 2


def test_event_follow_is_held_by_the_server_until_the_stack_is_gone(hearth, options):
    fake, url = hearth
    fake.auto_advance = False
    fake.wait_cap = 30  # the server really holds each poll; the engine thread releases it
    stack = fake.add_stack("demo")
    fake.steps[stack["id"]] = fake.create_ok(stack)[-1:] + fake.delete_ok(stack)
    fake.advance(stack["id"])  # history before following

    def engine():
        while fake.steps[stack["id"]]:
            assert fake.parked.wait(timeout=10)
            fake.parked.clear()
            fake.advance(stack["id"])

    thread = threading.Thread(target=engine)
    thread.start()
    try:
        result = run(
            url,
            options,
            "event",
            "list",
            "demo",
            "--follow",
            "-f",
            "value",
            "-c",
            "resource_name",
            "-c",
            "resource_status",
        )
    finally:
        thread.join()
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "demo CREATE_COMPLETE",
        "demo DELETE_IN_PROGRESS",
        "web DELETE_COMPLETE",
        "demo DELETE_COMPLETE",
    ]


def test_unreachable_server(options):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        result = run(f"http://127.0.0.1:{port}", options, "stack", "list")
    assert result.exit_code == 1
    assert result.stderr == (f"ERROR: cannot reach Hearth at http://127.0.0.1:{port}: is 'hearth server' running?\n")


class Interrupted(Transport):
    """Stands for the user pressing Ctrl-C while a request is in flight."""

    def send(self, *args, **kwargs):
        raise KeyboardInterrupt


def test_ctrl_c_exits_130_without_a_traceback():
    result = CliRunner().invoke(cli, ["stack", "list"], obj=ClientOptions(transport=Interrupted()))
    assert result.exit_code == 130
    assert "Traceback" not in result.output and "Aborted" not in result.output


def test_output_show_all_asks_each_key_when_the_stack_has_no_values(hearth, options):
    fake, url = hearth
    stack = fake.add_stack("demo", outputs=[{"output_key": "k", "description": "d"}])
    shown = run(url, options, "output", "show", "demo", "-f", "json")
    assert json.loads(shown.stdout) == {"k": None}
    base = f"/v1/admin/stacks/demo/{stack['id']}"
    assert paths(fake)[-2:] == [("GET", f"{base}/outputs"), ("GET", f"{base}/outputs/k")]
