"""The CLI against a real Hearth server on 127.0.0.1: resource types, template versions and
functions, validate (as `hearth template ...` and `hearth orchestration template ...`), and
breakpoints polled and cleared on a real stack."""

from __future__ import annotations

import json

import pytest
import yaml

from engine.resources import types
from engine.template.functions import condition_functions_for, functions_for
from tests.support import start_server, stop_server, wait_for
from tests.unit.cli.test_cli_commands import run

GOOD = """heat_template_version: 2018-08-31
description: A greeting.
parameters:
  word: {type: string, default: hi}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
"""


def test_resource_types(shared_hearth, options):
    url = shared_hearth.url
    listed = run(url, options, "resource", "type", "list", "-f", "value")
    hidden = {n for n, cls in types().items() if cls.support_status.get("status") == "HIDDEN"}
    assert listed.stdout.splitlines() == sorted(set(types()) - hidden)
    waits = run(
        url,
        options,
        "orchestration",
        "resource",
        "type",
        "list",
        "--filter",
        "name=OS::Heat::Wait",
        "--long",
        "-f",
        "json",
    )
    assert [(t["resource_type"], bool(t["description"])) for t in json.loads(waits.stdout)] == [
        ("OS::Heat::WaitCondition", True),
        ("OS::Heat::WaitConditionHandle", True),
    ]
    refused = run(url, options, "resource", "type", "list", "--filter", "colour=red")
    assert refused.exit_code == 2 and "name, version, support_status" in refused.output
    schema = yaml.safe_load(run(url, options, "resource", "type", "show", "OS::Heat::Value").stdout)
    assert schema["resource_type"] == "OS::Heat::Value" and schema["properties"]["value"]["required"]
    generated = run(
        url,
        options,
        "orchestration",
        "resource",
        "type",
        "show",
        "OS::Heat::Value",
        "--template-type",
        "hot",
        "-f",
        "json",
    )
    assert json.loads(generated.stdout)["outputs"]["value"]["value"] == {"get_attr": ["Value", "value"]}
    missing = run(url, options, "resource", "type", "show", "OS::Nova::Flavor")
    assert missing.exit_code == 1 and "OS::Nova::Flavor" in missing.stderr


def test_template_versions_and_functions(shared_hearth, options):
    url = shared_hearth.url
    versions = json.loads(run(url, options, "template", "version", "list", "-f", "json").stdout)
    assert {
        "version": "heat_template_version.2016-10-14",
        "type": "hot",
        "aliases": ["heat_template_version.newton"],
    } in versions
    plain = run(
        url,
        options,
        "template",
        "function",
        "list",
        "heat_template_version.2016-10-14",
        "-f",
        "value",
        "-c",
        "functions",
    )
    assert sorted(plain.stdout.split()) == sorted(functions_for("2016-10-14"))
    both = run(
        url,
        options,
        "orchestration",
        "template",
        "function",
        "list",
        "heat_template_version.newton",
        "--with_conditions",
        "-f",
        "value",
        "-c",
        "functions",
    )
    assert set(both.stdout.split()) == set(functions_for("2016-10-14")) | set(condition_functions_for("2016-10-14"))
    missing = run(url, options, "template", "function", "list", "heat_template_version.1999")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_validate_prints_the_parameters_or_the_located_error(shared_hearth, options, tmp_path):
    url = shared_hearth.url
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    env = tmp_path / "env.yaml"
    env.write_text("parameter_defaults: {word: hello}\n")
    for spelling in (["template"], ["orchestration", "template"]):
        answer = run(url, options, *spelling, "validate", "-t", str(good), "-e", str(env), "--parameter", "word=hey")
        assert answer.exit_code == 0, answer.output
        shown = yaml.safe_load(answer.stdout)
        assert shown["Description"] == "A greeting."
        assert shown["Parameters"]["word"] == {
            "Type": "String",
            "Description": "",
            "NoEcho": "false",
            "Label": "word",
            "Default": "hello",
            "Value": "hey",
        }
    bad = tmp_path / "web.yaml"
    bad.write_text(GOOD.replace("{value: {get_param: word}}", "{valu: 1}"))
    refused = run(url, options, "template", "validate", "-t", str(bad))
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"ERROR: {bad}:6: Property error: resources.value.properties: Unknown Property")
    assert shared_hearth.http.get(f"{shared_hearth.api}/stacks", timeout=10).json()["stacks"] == []


@pytest.fixture
def real_hearth(tmp_path):
    """A real server (this directory's `hearth` fixture is the stand-in)."""
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def test_hooks_are_polled_and_cleared(real_hearth, options, tmp_path):
    hearth, url = real_hearth, real_hearth.url
    template = tmp_path / "t.yaml"
    template.write_text(GOOD)
    env = tmp_path / "hooks.yaml"
    env.write_text("resource_registry:\n  resources:\n    value: {hooks: pre-create}\n")
    assert run(url, options, "stack", "create", "held", "-t", str(template), "-e", str(env)).exit_code == 0
    wait_for(
        lambda: run(url, options, "stack", "hook", "poll", "held", "-f", "json").stdout.strip() not in ("", "[]"),
        20,
        0.05,
        "the pause",
    )
    polled = json.loads(run(url, options, "stack", "hook", "poll", "held", "-f", "json").stdout)
    assert polled == [{"resource_name": "value", "pending_hook": "pre-create"}]
    wrong = run(url, options, "stack", "hook", "clear", "held", "value", "--pre-delete")
    assert wrong.exit_code == 1 and "not paused on hook pre-delete" in wrong.stderr
    assert run(url, options, "stack", "hook", "clear", "held", "value").exit_code == 0
    stack = hearth.wait_stack("held", ("CREATE_COMPLETE",))
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert run(url, options, "stack", "hook", "poll", "held", "-f", "json").stdout.strip() == "[]"
    idle = run(url, options, "stack", "hook", "clear", "held", "value")
    assert idle.exit_code == 1 and "resource value is not paused at a hook" in idle.stderr
    environment = yaml.safe_load(run(url, options, "stack", "environment", "show", "held").stdout)
    assert environment["resource_registry"]["resources"] == {"value": {"hooks": "pre-create"}}
