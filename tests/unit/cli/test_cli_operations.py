"""Stack operations after create through CliRunner against the HTTP stand-in: the requests each
command sends (Heat's methods, paths and bodies) and what it prints while and after waiting."""

from __future__ import annotations

import json

import yaml

from tests.unit.cli.test_cli_commands import paths, run, template


def bodies(fake, method, suffix=""):
    return [r["body"] for r in fake.requests if r["method"] == method and r["path"].endswith(suffix)]


def test_update_puts_the_new_template_and_follows_the_update(hearth, options, tmp_path):
    fake, url = hearth
    stack = fake.add_stack("demo")
    path = template(tmp_path)
    result = run(
        url,
        options,
        "stack",
        "update",
        "demo",
        "-t",
        str(path),
        "--parameter",
        "a=1",
        "--rollback",
        "disabled",
        "--timeout",
        "9",
        "--tags",
        "x,y",
        "--wait",
    )
    assert result.exit_code == 0, result.output
    assert bodies(fake, "PUT") == [
        {
            "template": path.read_text(),
            "template_name": str(path),
            "files": {"boot.sh": "echo hi\n"},
            "environment": {},
            "environment_files": [],
            "parameters": {"a": "1"},
            "disable_rollback": True,
            "timeout_mins": 9,
            "tags": "x,y",
        }
    ]
    assert ("PUT", f"/v1/admin/stacks/demo/{stack['id']}") in paths(fake)
    assert result.stdout.splitlines()[:3] == [
        "2026-11-22 04:30:01Z [demo]: UPDATE_IN_PROGRESS  Stack UPDATE started",
        "2026-11-22 04:30:02Z [web]: UPDATE_COMPLETE  state changed",
        "2026-11-22 04:30:03Z [demo]: UPDATE_COMPLETE  Stack UPDATE completed successfully",
    ]
    assert "| stack_status        | UPDATE_COMPLETE" in result.stdout


def test_update_existing_patches_and_may_leave_out_the_template(hearth, options):
    fake, url = hearth
    fake.add_stack("demo")
    result = run(
        url,
        options,
        "stack",
        "update",
        "demo",
        "--existing",
        "--parameter",
        "b=2",
        "--clear-parameter",
        "a",
        "--converge",
        "-f",
        "value",
        "-c",
        "stack_status",
    )
    assert (result.exit_code, result.stdout) == (0, "UPDATE_IN_PROGRESS\n")
    assert bodies(fake, "PATCH") == [
        {
            "files": {},
            "environment": {},
            "environment_files": [],
            "parameters": {"b": "2"},
            "clear_parameters": ["a"],
            "converge": True,
        }
    ]
    refused = run(url, options, "stack", "update", "demo")
    assert refused.exit_code == 2 and "-t FILE, or --existing" in refused.output


def test_update_failure_exits_1_with_the_reason(hearth, options):
    fake, url = hearth
    fake.add_stack("demo")
    fake.scripts["UPDATE"] = fake.operation_failed
    result = run(url, options, "stack", "update", "demo", "--existing", "--wait", "-f", "json")
    assert result.exit_code == 1
    assert "[web]: UPDATE_FAILED  it broke" in result.stderr  # progress goes to stderr with -f json
    assert result.stderr.endswith("ERROR: Resource UPDATE failed: it broke\n")
    assert result.stdout == ""


def test_update_failure_that_rolls_back_is_followed_to_the_rollbacks_end(hearth, options):
    fake, url = hearth
    fake.add_stack("demo")
    fake.scripts["UPDATE"] = fake.operation_rolled_back
    result = run(url, options, "stack", "update", "demo", "--existing", "--rollback", "enabled", "--wait")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-2:] == [
        "2026-11-22 04:30:05Z [web]: ROLLBACK_COMPLETE  state changed",
        "2026-11-22 04:30:06Z [demo]: ROLLBACK_COMPLETE  Stack ROLLBACK completed successfully",
    ]
    assert result.stderr == "ERROR: Resource UPDATE failed: it broke (then ROLLBACK_COMPLETE)\n"


def test_update_dry_run_prints_the_changes_and_changes_nothing(hearth, options, tmp_path):
    fake, url = hearth
    stack = fake.add_stack("demo")
    result = run(url, options, "stack", "update", "demo", "--existing", "--dry-run", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"change": "updated", "resource_name": "web", "resource_type": "OS::Heat::None"}
    ]
    assert ("PATCH", f"/v1/admin/stacks/demo/{stack['id']}/preview") in paths(fake)
    assert not bodies(fake, "PATCH", stack["id"]) and stack["stack_status"] == "CREATE_COMPLETE"


def test_create_dry_run_tags_and_rollback(hearth, options, tmp_path):
    fake, url = hearth
    path = str(template(tmp_path))
    preview = run(url, options, "stack", "create", "demo", "-t", path, "--dry-run", "-f", "yaml")
    assert preview.exit_code == 0, preview.output
    assert yaml.safe_load(preview.stdout)["resources"] == [{"resource_name": "web"}]
    assert fake.stacks == {} and paths(fake) == [("POST", "/v1/admin/stacks/preview")]
    made = run(url, options, "stack", "create", "demo", "-t", path, "--tags", "a,b", "--enable-rollback")
    assert made.exit_code == 0, made.output
    assert fake.bodies[-1]["tags"] == "a,b" and fake.bodies[-1]["disable_rollback"] is False


def test_suspend_each_stack_and_go_on_past_a_missing_one(hearth, options):
    fake, url = hearth
    one, two = fake.add_stack("one"), fake.add_stack("two")
    result = run(
        url,
        options,
        "stack",
        "suspend",
        "one",
        "nope",
        "two",
        "--wait",
        "-f",
        "value",
        "-c",
        "stack_name",
        "-c",
        "stack_status",
    )
    assert result.exit_code == 1
    assert result.stdout == "one SUSPEND_COMPLETE\ntwo SUSPEND_COMPLETE\n"
    assert "ERROR: nope: The Stack (nope) could not be found." in result.stderr
    assert "[one]: SUSPEND_COMPLETE  Stack SUSPEND completed successfully" in result.stderr
    assert bodies(fake, "POST", "/actions") == [{"suspend": None}, {"suspend": None}]
    assert [p for m, p in paths(fake, "POST")] == [
        f"/v1/admin/stacks/one/{one['id']}/actions",
        f"/v1/admin/stacks/two/{two['id']}/actions",
    ]


def test_resume_and_check_without_wait_print_the_stacks(hearth, options):
    fake, url = hearth
    fake.add_stack("demo")
    for verb in ("resume", "check"):
        result = run(url, options, "stack", verb, "demo", "-f", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)[0]["stack_status"] == f"{verb.upper()}_IN_PROGRESS"
    assert bodies(fake, "POST", "/actions") == [{"resume": None}, {"check": None}]


def test_cancel_follows_the_rollback_or_the_stopped_action(hearth, options):
    fake, url = hearth
    fake.add_stack("demo", status="UPDATE_IN_PROGRESS")
    rolled = run(url, options, "stack", "cancel", "demo", "--wait")
    assert rolled.exit_code == 0, rolled.output
    assert "[demo]: ROLLBACK_COMPLETE" in rolled.stdout
    fake.add_stack("other", status="UPDATE_IN_PROGRESS")
    fake.scripts["UPDATE"] = fake.operation_failed
    stopped = run(url, options, "stack", "cancel", "other", "--no-rollback", "--wait")
    assert stopped.exit_code == 0, stopped.output  # a stopped update ends UPDATE_FAILED: that is the point
    assert bodies(fake, "POST", "/actions") == [{"cancel_update": None}, {"cancel_without_rollback": None}]


def test_abandon_prints_json_or_writes_a_file_and_adopt_sends_it_back(hearth, options, tmp_path):
    fake, url = hearth
    stack = fake.add_stack("old")
    shown = run(url, options, "stack", "abandon", "old")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {"id": stack["id"], "name": "old", "resources": {}}
    fake.add_stack("older")
    saved = tmp_path / "data.json"
    assert run(url, options, "stack", "abandon", "older", "--output-file", str(saved)).stdout == ""
    assert json.loads(saved.read_text())["name"] == "older"
    (tmp_path / "t.json").write_text('{"resources": {}}')
    saved.write_text(
        json.dumps(
            {"name": "older", "template": {"resources": {}}, "resources": {}, "files": {"get_file.txt": "text\n"}}
        )
    )
    adopted = run(url, options, "stack", "adopt", "new", "--adopt-file", str(saved), "--wait")
    assert adopted.exit_code == 0, adopted.output
    assert fake.bodies[-1]["adopt_stack_data"] == saved.read_text()
    assert fake.bodies[-1]["template"] == {"resources": {}}  # from the adopt data
    assert fake.bodies[-1]["files"] == {"get_file.txt": "text\n"}
    assert fake.bodies[-1]["disable_rollback"] is True
    assert "'template'" in run(url, options, "stack", "adopt", "x", "--adopt-file", str(tmp_path / "t.json")).stderr


def test_list_filters_map_to_heats_query_parameters(hearth, options):
    fake, url = hearth
    fake.add_stack("demo", parent=None)
    result = run(
        url,
        options,
        "stack",
        "list",
        "--tags",
        "a,b",
        "--tag-mode",
        "not-any",
        "--nested",
        "--hidden",
        "--property",
        "status=CREATE_COMPLETE",
        "--property",
        "status=X",
        "--sort",
        "stack_name:desc",
        "--limit",
        "5",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert fake.requests[-1]["arglists"] == {
        "not_tags_any": ["a,b"],
        "show_nested": ["true"],
        "show_hidden": ["true"],
        "status": ["CREATE_COMPLETE", "X"],
        "sort_keys": ["stack_name"],
        "sort_dir": ["desc"],
        "limit": ["5"],
    }
    assert list(json.loads(result.stdout)[0]) == [
        "id",
        "stack_name",
        "stack_status",
        "creation_time",
        "updated_time",
        "parent",
    ]


def test_stored_parts_print_yaml_by_default(hearth, options):
    fake, url = hearth
    fake.add_stack(
        "demo",
        environment={"parameters": {"a": 1}},
        files={"boot.sh": "echo hi\n"},
        template={"heat_template_version": "2018-08-31", "resources": {}},
    )
    environment = run(url, options, "stack", "environment", "show", "demo")
    assert yaml.safe_load(environment.stdout) == {"parameters": {"a": 1}}
    files = run(url, options, "stack", "file", "list", "demo", "-f", "json")
    assert json.loads(files.stdout) == {"boot.sh": "echo hi\n"}
    shown = run(url, options, "stack", "template", "show", "demo", "-f", "table")
    assert "| heat_template_version | 2018-08-31 |" in shown.stdout


def test_resource_list_nested_depth_adds_the_stack_name(hearth, options):
    fake, url = hearth
    fake.add_stack("demo")
    for spelling in (["resource"], ["stack", "resource"]):
        rows = json.loads(run(url, options, *spelling, "list", "demo", "-n", "1", "-f", "json").stdout)
        assert [(r["resource_name"], r["stack_name"]) for r in rows] == [("web", "demo"), ("inner", "demo-web-x1")]
        assert fake.requests[-1]["args"] == {"nested_depth": "1"}
    flat = json.loads(run(url, options, "resource", "list", "demo", "--filter", "type=A", "-f", "json").stdout)
    assert "stack_name" not in flat[0] and fake.requests[-1]["args"] == {"type": "A"}


def test_mark_unhealthy_and_signal_send_heats_bodies(hearth, options, tmp_path):
    fake, url = hearth
    stack = fake.add_stack("demo")
    base = f"/v1/admin/stacks/demo/{stack['id']}/resources/web"
    assert run(url, options, "resource", "mark", "unhealthy", "demo", "web", "disk died").exit_code == 0
    assert run(url, options, "resource", "mark", "unhealthy", "demo", "web", "--reset").exit_code == 0
    assert bodies(fake, "PATCH", "/web") == [
        {"mark_unhealthy": True, "resource_status_reason": "disk died"},
        {"mark_unhealthy": False, "resource_status_reason": ""},
    ]
    data = tmp_path / "signal.json"
    data.write_text('{"status": "SUCCESS"}')
    assert run(url, options, "resource", "signal", "demo", "web", "--data", '{"a": 1}').exit_code == 0
    assert run(url, options, "resource", "signal", "demo", "web", "--data-file", str(data)).exit_code == 0
    assert run(url, options, "resource", "signal", "demo", "web").exit_code == 0
    assert bodies(fake, "POST", "/signal") == [{"a": 1}, {"status": "SUCCESS"}, None]
    assert ("POST", f"{base}/signal") in paths(fake)
    bad = run(url, options, "resource", "signal", "demo", "web", "--data", "{nope")
    assert bad.exit_code == 1 and bad.stderr.startswith("ERROR: --data: not valid JSON")
