"""Running the real `heat` and `openstack` CLIs (python-heatclient, python-openstackclient from
PyPI, via tests/peers.py) against a test server, and the files of a stack they ship."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests import peers
from tests.support import ADMIN_TOKEN

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
    for name, text in {"main.yaml": MAIN, "hello.sh": HELLO, "thing.yaml": THING, "env.yaml": ENV,
                       "simple.yaml": SIMPLE, "hooks.yaml": HOOKS, "defn.yaml": DEFINITION,
                       "run.sh": f'#!/bin/sh\nprintf "hi %s" "$who" > "{marker_dir}/ran.$who"\n'}.items():
        (folder / name).write_text(text)
    return folder


def run(command: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                            check=False)
    if check:
        assert result.returncode == 0, f"{command[2:]} exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


class Heat:
    """`heat --os-no-client-auth --heat-url <api> --os-auth-token <token> ...`."""

    def __init__(self, server, cwd: Path, token: str = ADMIN_TOKEN):
        self.bin = peers.require("python-heatclient")
        self.base = [str(self.bin / "python"), str(self.bin / "heat"), "--os-no-client-auth",
                     "--heat-url", server.api, "--os-auth-token", token]
        self.cwd = cwd

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(self.base + list(args), self.cwd, check)

    def json(self, *args: str):
        return json.loads(self(*args).stdout)


class OpenStack:
    """`openstack --os-auth-type admin_token --os-token <token> --os-endpoint <api> ...`."""

    def __init__(self, server, cwd: Path, token: str = ADMIN_TOKEN):
        self.bin = peers.require("python-openstackclient")
        self.base = [str(self.bin / "python"), str(self.bin / "openstack"), "--os-auth-type", "admin_token",
                     "--os-token", token, "--os-endpoint", server.api]
        self.cwd = cwd

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(self.base + list(args), self.cwd, check)

    def json(self, *args: str):
        """The command's JSON answer (-f json); with --wait the events it printed come first."""
        out = self(*args, "-f", "json").stdout
        start = min((i for i in (out.find("\n{"), out.find("\n[")) if i >= 0), default=-1) + 1
        return json.loads(out if out[:1] in "{[" else out[start:])

    def value(self, *args: str) -> str:
        return self(*args, "-f", "value").stdout.strip()
