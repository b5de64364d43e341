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
    template = {"a": [{"b": {"get_file": "x"}}, {"get_file": "y"}], "c": {"get_file": {"get_param": "not a string"}}}
    assert list(get_file_references(template)) == [(("a", "0", "b", "get_file"), "x"), (("a", "1", "get_file"), "y")]


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
    template = write(tmp_path / "main.yaml", "resources:\n  c:\n    properties:\n      config: {get_file: nope.sh}\n")
    with pytest.raises(CliError) as err:
        stack_body("demo", str(template))
    message = str(err.value)
    assert "nope.sh" in message
    assert "resources.c.properties.config.get_file" in message
    assert str(tmp_path / "nope.sh") in message


def test_missing_template_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(CliError, match=r"template: no such file: .*missing\.yaml"):
        stack_body("demo", str(tmp_path / "missing.yaml"))
    bad = write(tmp_path / "bad.yaml", "resources:\n  a: [\n")
    with pytest.raises(CliError, match=r"bad.yaml:\d+: not valid YAML"):
        stack_body("demo", str(bad))


def test_remote_get_file_is_refused(tmp_path):
    template = write(tmp_path / "t.yaml", "x: {get_file: 'http://example.com/a.sh'}\n")
    with pytest.raises(CliError, match="only local files"):
        stack_body("demo", str(template))


def test_environment_files_and_their_provider_templates(tmp_path, monkeypatch):
    write(
        tmp_path / "env" / "lib" / "server.yaml",
        "resources:\n  s:\n    properties:\n      user_data: {get_file: init.sh}\n",
    )
    write(tmp_path / "env" / "lib" / "init.sh", "init")
    env_text = (
        "resource_registry:\n"
        "  My::Server: lib/server.yaml\n"
        "  OS::Alias: OS::Heat::None\n"
        "  resources:\n    web:\n      My::Web: lib/server.yaml\n"
        "parameters:\n  foo: baz\n"
    )
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
    template = write(
        tmp_path / "t.yaml",
        "resources:\n  a:\n    type: nested.yaml\n  b:\n    type: OS::Heat::None\n  c:\n    type: absent.yaml\n",
    )
    assert stack_body("demo", str(template))["files"] == {"nested.yaml": "resources:\n  n:\n    type: OS::Heat::None\n"}


def test_one_key_naming_two_different_files_is_an_error(tmp_path):
    write(tmp_path / "a.sh", "top")
    write(tmp_path / "sub" / "a.sh", "nested")
    write(tmp_path / "sub" / "n.yaml", "x: {get_file: a.sh}\n")
    template = write(tmp_path / "t.yaml", "x: {get_file: a.sh}\nresources:\n  n:\n    type: sub/n.yaml\n")
    with pytest.raises(CliError, match=r"'a\.sh' names two different files"):
        stack_body("demo", str(template))


def test_missing_environment_file(tmp_path):
    template = write(tmp_path / "t.yaml", "{}\n")
    with pytest.raises(CliError, match=r"environment file: no such file: .*nope\.yaml"):
        stack_body("demo", str(template), [str(tmp_path / "nope.yaml")])


@pytest.mark.parametrize(
    "given, expected",
    [
        ((), {}),
        (("a=1",), {"a": "1"}),
        (("a=1", "b=x=y"), {"a": "1", "b": "x=y"}),  # split on the first '=' only
        (("a=1;b=2",), {"a": "1", "b": "2"}),  # openstack's K1=V1;K2=V2
        (("a=1;b=2", "c=3"), {"a": "1", "b": "2", "c": "3"}),
        (("cmd=echo a; echo b",), {"cmd": "echo a; echo b"}),  # ';' not before KEY= stays
        (("a=",), {"a": ""}),
        (("a=1", "a=2"), {"a": "2"}),  # the later value wins
        (("a=1;",), {"a": "1;"}),
        (("a=1;b",), {"a": "1;b"}),
    ],
)
def test_parse_parameters(given, expected):
    assert parse_parameters(given) == expected


@pytest.mark.parametrize("bad", ["novalue", "=1", " =1"])
def test_malformed_parameters(bad):
    with pytest.raises(CliError, match="--parameter expects KEY=VALUE"):
        parse_parameters((bad,))


# --- templates inside templates: what python-heatclient would send, as the engine finds it ---


@pytest.fixture
def engine_service(tmp_path):
    """A started engine on a SQLite file: proof that the keys sent are the names it looks up."""
    from engine.config import Config
    from engine.service import build_service

    service = build_service(
        Config.from_env(
            {}, db_url=f"sqlite:///{tmp_path}/hearth.db", data_dir=str(tmp_path / "data"), compute="deployed"
        )
    )
    service.start()
    yield service
    service.stop()
    service.runtime.store.dispose()


def created_outputs(service, body) -> dict:
    """Create the stack `body` describes, wait for it, and answer its outputs."""
    from tests.support import wait_for

    stack_id = service.stacks.create_stack("admin", body)["id"]

    def settled():
        stack = service.stacks.show_stack("admin", stack_id, resolve_outputs=False)
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    stack = wait_for(settled, 30, message="the stack to settle")
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    return {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}


MAIN = """\
heat_template_version: 2018-08-31
resources:
  app:
    type: OS::Heat::Stack
    properties:
      template: {get_file: tiers/app.yaml}
  settings:
    type: OS::Heat::Value
    properties:
      value: {get_file: data/settings.yaml}
outputs:
  install: {value: {get_attr: [app, outputs, install]}}
  init: {value: {get_attr: [app, outputs, init]}}
"""
APP = """\
heat_template_version: 2018-08-31
resources:
  db:
    type: OS::Heat::Stack
    properties:
      template: {get_file: db/db.yaml}
  install:
    type: OS::Heat::Value
    properties:
      value: {get_file: scripts/install.sh}
outputs:
  install: {value: {get_attr: [install, value]}}
  init: {value: {get_attr: [db, outputs, init]}}
"""
DB = """\
heat_template_version: 2018-08-31
resources:
  init: {type: OS::Heat::Value, properties: {value: {get_file: init.sql}}}
outputs:
  init: {value: {get_attr: [init, value]}}
"""
# YAML, but no template (no version key): sent as it is, and not looked into.
SETTINGS = "note: {get_file: not/sent.txt}\n"


def nested_tree(root):
    write(root / "main.yaml", MAIN)
    write(root / "data" / "settings.yaml", SETTINGS)
    write(root / "tiers" / "app.yaml", APP)
    write(root / "tiers" / "scripts" / "install.sh", "install v2")
    write(root / "tiers" / "db" / "db.yaml", DB)
    write(root / "tiers" / "db" / "init.sql", "CREATE TABLE t;")
    return root / "main.yaml"


def test_get_file_of_a_template_sends_its_own_files_two_levels_deep(tmp_path, engine_service):
    template = nested_tree(tmp_path / "t")

    body = stack_body("deep", str(template))

    # Each key as the template using it writes it: the name its get_file looks up.
    assert body["files"] == {
        "tiers/app.yaml": APP,
        "db/db.yaml": DB,
        "init.sql": "CREATE TABLE t;",
        "scripts/install.sh": "install v2",
        "data/settings.yaml": SETTINGS,
    }
    assert created_outputs(engine_service, body) == {"install": "install v2", "init": "CREATE TABLE t;"}


def test_a_file_missing_two_levels_down_names_that_template_its_line_and_path(tmp_path):
    template = nested_tree(tmp_path / "t")
    (tmp_path / "t" / "tiers" / "db" / "init.sql").unlink()
    db = tmp_path / "t" / "tiers" / "db" / "db.yaml"

    with pytest.raises(CliError) as err:
        stack_body("deep", str(template))

    assert str(err.value) == (
        f"{db}:3: resources.init.properties.value.get_file: no such file: "
        f"init.sql (looked for {tmp_path / 't' / 'tiers' / 'db' / 'init.sql'})"
    )


def test_templates_that_name_each_other_are_sent_once(tmp_path):
    ping = "heat_template_version: 2018-08-31\nx: {get_file: pong.yaml}\n"
    pong = "heat_template_version: 2018-08-31\nx: {get_file: ping.yaml}\n"
    write(tmp_path / "pong.yaml", pong)
    template = write(tmp_path / "ping.yaml", ping)
    assert stack_body("loop", str(template))["files"] == {"pong.yaml": pong, "ping.yaml": ping}


TOP_CFN = """{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Resources": {
    "Mid": {"Type": "AWS::CloudFormation::Stack",
            "Properties": {"TemplateURL": "stacks/mid.yaml", "Parameters": {"Word": "deep"}}}
  },
  "Outputs": {"Said": {"Value": {"Fn::GetAtt": ["Mid", "Outputs.said"]}}}
}
"""
MID_HOT = """\
heat_template_version: 2018-08-31
parameters:
  Word: {type: string}
resources:
  leaf:
    type: AWS::CloudFormation::Stack
    properties:
      TemplateURL: leaf/leaf.template
      Parameters: {Word: {get_param: Word}}
outputs:
  said: {value: {get_attr: [leaf, Outputs.Said]}}
"""
LEAF_CFN = """{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {"Word": {"Type": "String"}},
  "Resources": {"Echo": {"Type": "OS::Heat::Value",
                         "Properties": {"value": {"Fn::Join": [" ", ["said", {"Ref": "Word"}]]}}}},
  "Outputs": {"Said": {"Value": {"Fn::GetAtt": ["Echo", "value"]}}}
}
"""


def test_template_url_is_sent_for_cfn_stacks_nested_twice(tmp_path, engine_service, monkeypatch):
    write(tmp_path / "stacks" / "mid.yaml", MID_HOT)
    write(tmp_path / "stacks" / "leaf" / "leaf.template", LEAF_CFN)
    write(tmp_path / "top.template", TOP_CFN)
    monkeypatch.chdir(tmp_path)

    body = stack_body("cfn", "top.template")

    # The leaf's URL is relative to mid.yaml's folder, and sent as mid.yaml writes it.
    assert body["files"] == {"stacks/mid.yaml": MID_HOT, "leaf/leaf.template": LEAF_CFN}
    assert created_outputs(engine_service, body) == {"Said": "said deep"}


def test_template_url_as_a_file_url(tmp_path):
    url = (tmp_path / "lib" / "leaf.template").as_uri()
    write(tmp_path / "lib" / "leaf.template", LEAF_CFN)
    template = write(tmp_path / "t.template", TOP_CFN.replace("stacks/mid.yaml", url))
    assert stack_body("cfn", str(template))["files"] == {url: LEAF_CFN}


def test_template_url_that_cannot_be_sent_names_the_template_and_the_path(tmp_path):
    template = write(tmp_path / "top.template", TOP_CFN)
    with pytest.raises(CliError) as err:
        stack_body("cfn", str(template))
    assert str(err.value) == (
        f"{template}:5: Resources.Mid.Properties.TemplateURL: no such file: "
        f"stacks/mid.yaml (looked for {tmp_path / 'stacks' / 'mid.yaml'})"
    )

    remote = write(tmp_path / "remote.template", TOP_CFN.replace("stacks/mid.yaml", "https://example.com/mid.yaml"))
    with pytest.raises(
        CliError,
        match=r"remote.template:5: Resources.Mid.Properties.TemplateURL: "
        r"only local files can be sent with TemplateURL",
    ):
        stack_body("cfn", str(remote))


def test_template_types_inside_a_group_definition_are_sent(tmp_path):
    write(tmp_path / "member.yaml", "heat_template_version: 2018-08-31\n")
    template = write(
        tmp_path / "t.yaml",
        "resources:\n  group:\n    type: OS::Heat::ResourceGroup\n"
        "    properties:\n      resource_def:\n"
        "        type: member.yaml\n",
    )
    assert stack_body("g", str(template))["files"] == {"member.yaml": "heat_template_version: 2018-08-31\n"}


def test_registry_base_url_hooks_and_a_missing_provider(tmp_path):
    write(tmp_path / "lib" / "node.yaml", "resources: {}\n")
    write(tmp_path / "env" / "web.yaml", "resources: {}\n")
    env_text = (
        "resource_registry:\n"
        f"  base_url: {(tmp_path / 'lib').as_uri()}\n"
        "  My::Node: node.yaml\n"
        "  resources:\n"
        f"    web: {{base_url: {(tmp_path / 'env').as_uri()}, My::Web: web.yaml, hooks: pre-create}}\n"
    )
    env = write(tmp_path / "env" / "prod.yaml", env_text)
    template = write(tmp_path / "t.yaml", "heat_template_version: 2018-08-31\n")
    # base_url moves where a value is read from, not its key (the engine reads no base_url).
    assert stack_body("e", str(template), [str(env)])["files"] == {
        str(env): env_text,
        "node.yaml": "resources: {}\n",
        "web.yaml": "resources: {}\n",
    }

    missing = write(tmp_path / "bad.yaml", "resource_registry:\n  My::Node: lib/gone.yaml\n")
    with pytest.raises(CliError) as err:
        stack_body("e", str(template), [str(missing)])
    assert str(err.value) == (
        f"{missing}:2: resource_registry.My::Node: no such provider template: "
        f"lib/gone.yaml (looked for {tmp_path / 'lib' / 'gone.yaml'})"
    )
