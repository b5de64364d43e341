"""The POST /stacks body: get_file collection, environments, provider templates, parameters."""
from __future__ import annotations

import pytest

from engine.cli.client import CliError
from engine.cli.stack_request import get_file_references, parse_parameters, stack_body


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


TEMPLATE = """\
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      config: {get_file: scripts/boot.sh}
      inputs:
        - name: extra
          default:
            nested: [1, {get_file: data/one.txt}]
  other:
    type: OS::Heat::None
    metadata:
      same_again: {get_file: scripts/boot.sh}
"""


def test_get_file_references_finds_nested_lists_and_dicts():
    template = {"a": [{"b": {"get_file": "x"}}, {"get_file": "y"}],
                "c": {"get_file": {"get_param": "not a string"}}}
    assert list(get_file_references(template)) == [
        (("a", "0", "b", "get_file"), "x"), (("a", "1", "get_file"), "y")]


def test_body_carries_template_text_and_files_relative_to_the_template(tmp_path, monkeypatch):
    write(tmp_path / "t" / "scripts" / "boot.sh", "#!/bin/sh\necho hi\n")
    write(tmp_path / "t" / "data" / "one.txt", "one")
    template = write(tmp_path / "t" / "main.yaml", TEMPLATE)
    monkeypatch.chdir(tmp_path)  # paths are given relative to the working directory

    body = stack_body("demo", "t/main.yaml", parameters={"a": "1"}, timeout_mins=5)

    assert body == {
        "stack_name": "demo",
        "template": template.read_text(),
        "template_name": "t/main.yaml",
        "files": {"scripts/boot.sh": "#!/bin/sh\necho hi\n", "data/one.txt": "one"},
        "environment": {},
        "environment_files": [],
        "parameters": {"a": "1"},
        "timeout_mins": 5,
        "disable_rollback": True,
    }


def test_timeout_is_left_out_when_not_given(tmp_path):
    template = write(tmp_path / "t.yaml", "heat_template_version: 2018-08-31\n")
    assert "timeout_mins" not in stack_body("demo", str(template))


def test_missing_get_file_names_the_file_and_where_it_was_used(tmp_path):
    template = write(tmp_path / "main.yaml",
                     "resources:\n  c:\n    properties:\n      config: {get_file: nope.sh}\n")
    with pytest.raises(CliError) as err:
        stack_body("demo", str(template))
    message = str(err.value)
    assert "nope.sh" in message
    assert "resources.c.properties.config.get_file" in message
    assert str(tmp_path / "nope.sh") in message


def test_missing_template_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(CliError, match="template: no such file: .*missing.yaml"):
        stack_body("demo", str(tmp_path / "missing.yaml"))
    bad = write(tmp_path / "bad.yaml", "resources:\n  a: [\n")
    with pytest.raises(CliError, match=r"bad.yaml:\d+: not valid YAML"):
        stack_body("demo", str(bad))


def test_remote_get_file_is_refused(tmp_path):
    template = write(tmp_path / "t.yaml", "x: {get_file: 'http://example.com/a.sh'}\n")
    with pytest.raises(CliError, match="only local files"):
        stack_body("demo", str(template))


def test_environment_files_and_their_provider_templates(tmp_path, monkeypatch):
    write(tmp_path / "env" / "lib" / "server.yaml",
          "resources:\n  s:\n    properties:\n      user_data: {get_file: init.sh}\n")
    write(tmp_path / "env" / "lib" / "init.sh", "init")
    env_text = ("resource_registry:\n"
                "  My::Server: lib/server.yaml\n"
                "  OS::Alias: OS::Heat::None\n"
                "  resources:\n    web:\n      My::Web: lib/server.yaml\n"
                "parameters:\n  foo: baz\n")
    write(tmp_path / "env" / "prod.yaml", env_text)
    write(tmp_path / "t.yaml", "heat_template_version: 2018-08-31\n")
    monkeypatch.chdir(tmp_path)

    body = stack_body("demo", "t.yaml", ["env/prod.yaml"])

    assert body["environment_files"] == ["env/prod.yaml"]
    assert body["environment"] == {}
    assert body["files"] == {
        "env/prod.yaml": env_text,
        "lib/server.yaml": (tmp_path / "env" / "lib" / "server.yaml").read_text(),
        "init.sh": "init",  # the provider's own get_file, relative to the provider
    }


def test_nested_template_types_are_sent(tmp_path):
    write(tmp_path / "nested.yaml", "resources:\n  n:\n    type: OS::Heat::None\n")
    template = write(tmp_path / "t.yaml", "resources:\n  a:\n    type: nested.yaml\n"
                                          "  b:\n    type: OS::Heat::None\n"
                                          "  c:\n    type: absent.yaml\n")
    assert stack_body("demo", str(template))["files"] == {
        "nested.yaml": "resources:\n  n:\n    type: OS::Heat::None\n"}


def test_one_key_naming_two_different_files_is_an_error(tmp_path):
    write(tmp_path / "a.sh", "top")
    write(tmp_path / "sub" / "a.sh", "nested")
    write(tmp_path / "sub" / "n.yaml", "x: {get_file: a.sh}\n")
    template = write(tmp_path / "t.yaml", "x: {get_file: a.sh}\n"
                                          "resources:\n  n:\n    type: sub/n.yaml\n")
    with pytest.raises(CliError, match="'a.sh' names two different files"):
        stack_body("demo", str(template))


def test_missing_environment_file(tmp_path):
    template = write(tmp_path / "t.yaml", "{}\n")
    with pytest.raises(CliError, match="environment file: no such file: .*nope.yaml"):
        stack_body("demo", str(template), [str(tmp_path / "nope.yaml")])


@pytest.mark.parametrize("given, expected", [
    ((), {}),
    (("a=1",), {"a": "1"}),
    (("a=1", "b=x=y"), {"a": "1", "b": "x=y"}),          # split on the first '=' only
    (("a=1;b=2",), {"a": "1", "b": "2"}),                # openstack's K1=V1;K2=V2
    (("a=1;b=2", "c=3"), {"a": "1", "b": "2", "c": "3"}),
    (("cmd=echo a; echo b",), {"cmd": "echo a; echo b"}),  # ';' not before KEY= stays
    (("a=",), {"a": ""}),
    (("a=1", "a=2"), {"a": "2"}),                        # the later value wins
    (("a=1;",), {"a": "1;"}),
    (("a=1;b",), {"a": "1;b"}),
])
def test_parse_parameters(given, expected):
    assert parse_parameters(given) == expected


@pytest.mark.parametrize("bad", ["novalue", "=1", " =1"])
def test_malformed_parameters(bad):
    with pytest.raises(CliError, match="--parameter expects KEY=VALUE"):
        parse_parameters((bad,))
