"""Running the real `heat` and `openstack` CLIs (python-heatclient, python-openstackclient from
PyPI, via tests/peers.py) against a test server, and the files of a stack they ship.

By default both sign in as a cloud's users do: a Hearth user with a password (made through
the admin API, as `hearth admin user create --password-prompt` does), the auth URL
`<server>/identity/v3`, a project and domain `Default`; `heat` reads them from OS_*
variables, `openstack` from a clouds.yaml. `token=` gives the Keystone-less way instead
(`--os-no-client-auth` / `--os-auth-type admin_token` with a Hearth API token)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from tests import peers
from tests.support import AUTH

CLI_TIMEOUT = 120

MAIN = """\
heat_template_version: 2018-08-31
parameters:
  foo: {type: string, default: dflt}
  greeting: {type: string, default: hi}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: foo}]
      outputs: [{name: result}]
      config: {get_file: hello.sh}
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {foo: {get_param: foo}}
  thing:
    type: My::Thing
    properties: {greeting: {get_param: greeting}}
outputs:
  result:
    description: the script's result
    value: {get_attr: [deploy, result]}
  foo:
    value: {get_param: foo}
  thing:
    value: {get_attr: [thing, message]}
"""
HELLO = '#!/bin/sh\nprintf "hello %s" "$foo" > "$heat_outputs_path.result"\n'
THING = """\
heat_template_version: 2018-08-31
parameters:
  greeting: {type: string}
resources:
  value:
    type: OS::Heat::Value
    properties: {value: {list_join: [" ", [{get_param: greeting}, world]]}}
outputs:
  message:
    value: {get_attr: [value, value]}
"""
# Heat's rule under test: these parameters, re-merged on the server, win over -P.
ENV = "parameters:\n  foo: baz\nresource_registry:\n  My::Thing: thing.yaml\n"
SIMPLE = """\
heat_template_version: 2018-08-31
parameters:
  foo: {type: string, default: dflt}
resources:
  gate:
    type: OS::Heat::Value
    properties: {value: {get_param: foo}}
outputs:
  foo: {value: {get_attr: [gate, value]}}
"""
HOOKS = "resource_registry:\n  resources:\n    gate:\n      hooks: pre-create\n"
DEFINITION = "inputs: [{name: who, default: world}]\noutputs: [{name: result}]\n"


def write_files(folder: Path, marker_dir: Path) -> Path:
    """The templates, environments and scripts the tests hand the CLIs; `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {
        "main.yaml": MAIN,
        "hello.sh": HELLO,
        "thing.yaml": THING,
        "env.yaml": ENV,
        "simple.yaml": SIMPLE,
        "hooks.yaml": HOOKS,
        "defn.yaml": DEFINITION,
        "run.sh": f'#!/bin/sh\nprintf "hi %s" "$who" > "{marker_dir}/ran.$who"\n',
    }.items():
        (folder / name).write_text(text)
    return folder


@dataclass(frozen=True)
class Person:
    """A Hearth user with a password and a role in a project, as a cloud's user would have."""

    auth_url: str
    name: str
    password: str
    project: str

    def environment(self) -> dict[str, str]:
        return {
            "OS_AUTH_URL": self.auth_url,
            "OS_USERNAME": self.name,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": "RegionOne",
        }

    def clouds_yaml(self, cloud: str = "hearth") -> str:
        return (
            f"clouds:\n  {cloud}:\n    auth:\n      auth_url: {self.auth_url}\n"
            f"      username: {self.name}\n      password: {self.password}\n"
            f"      project_name: {self.project}\n      user_domain_name: Default\n"
            f"      project_domain_name: Default\n    region_name: RegionOne\n"
        )


def person(server, role: str = "member", project: str = "admin") -> Person:
    """A new user with a password and `role` in `project`, made with the admin API."""
    name, password = f"person-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    for method, path, body in (
        ("POST", "users", {"name": name, "password": password}),
        ("PUT", f"projects/{project}/users/{name}/roles/{role}", None),
    ):
        answer = requests.request(method, f"{server.url}/admin/v1/{path}", json=body, headers=AUTH, timeout=30)
        assert answer.status_code in (201, 204), answer.text
    return Person(f"{server.url}/identity/v3", name, password, project)


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OS_* or HEAT_URL a developer may have set."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k != "HEAT_URL"}
    return {**kept, **(extra or {})}


def run(
    command: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
        env=env if env is not None else clean_environment(),
    )
    if check:
        assert result.returncode == 0, f"{command[2:]} exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


class Heat:
    """`heat <cmd>` signed in through OS_AUTH_URL, OS_USERNAME, ... (a new user with a password);
    with `token`, `heat --os-no-client-auth --heat-url <api> --os-auth-token <token> <cmd>`."""

    def __init__(self, server, cwd: Path, token: str | None = None):
        self.bin = peers.require("python-heatclient")
        self.base = [str(self.bin / "python"), str(self.bin / "heat")]
        self.env = clean_environment()
        if token:
            self.base += ["--os-no-client-auth", "--heat-url", server.api, "--os-auth-token", token]
        else:
            self.person = person(server)
            self.env.update(self.person.environment())
        self.cwd = cwd

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(self.base + list(args), self.cwd, check, self.env)

    def json(self, *args: str):
        return json.loads(self(*args).stdout)


class OpenStack:
    """`openstack --os-cloud hearth <cmd>` with a clouds.yaml for a new user with a password
    (found through OS_CLIENT_CONFIG_FILE: one in the working directory would be read by every
    other `openstack` run there too); with `token`, `openstack --os-auth-type admin_token
    --os-token <token> --os-endpoint <api> <cmd>`."""

    def __init__(self, server, cwd: Path, token: str | None = None):
        self.bin = peers.require("python-openstackclient")
        self.base = [str(self.bin / "python"), str(self.bin / "openstack")]
        self.env = clean_environment()
        if token:
            self.base += ["--os-auth-type", "admin_token", "--os-token", token, "--os-endpoint", server.api]
        else:
            self.person = person(server)
            config = cwd.parent / f"openstack-{self.person.name}" / "clouds.yaml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(self.person.clouds_yaml())
            self.env["OS_CLIENT_CONFIG_FILE"] = str(config)
            self.base += ["--os-cloud", "hearth"]
        self.cwd = cwd

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(self.base + list(args), self.cwd, check, self.env)

    def json(self, *args: str):
        """The command's JSON answer (-f json); with --wait the events it printed come first."""
        out = self(*args, "-f", "json").stdout
        start = min((i for i in (out.find("\n{"), out.find("\n[")) if i >= 0), default=-1) + 1
        return json.loads(out if out[:1] in "{[" else out[start:])

    def value(self, *args: str) -> str:
        return self(*args, "-f", "value").stdout.strip()
