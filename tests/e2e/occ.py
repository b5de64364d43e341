"""Driving the real os-collect-config (tests/peers.py) against Hearth: one stack shape for every
metadata transport, and one `--one-time` pass of a collector configured the way a stock image
has it (os-apply-config writes the server's `os-collect-config` section into
/etc/os-collect-config.conf)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

# A server on the transport given as parameter, one deployment, and SECOND where a second one
# goes for an update (see polled()).
POLLED = """
heat_template_version: 2018-08-31
parameters:
  transport: {type: string, default: POLL_SERVER_CFN}
resources:
  server:
    type: OS::Nova::Server
    metadata: {role: web}
    properties:
      image: any
      flavor: any
      user_data_format: SOFTWARE_CONFIG
      software_config_transport: {get_param: transport}
  first_config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\necho first\\n"}
  first:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: first_config}, server: {get_resource: server},
                 signal_transport: NO_SIGNAL}
SECOND
outputs:
  occ:
    value: {get_attr: [server, os_collect_config]}
"""
SECOND = """  second_config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\necho second\\n"}
  second:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: second_config}, server: {get_resource: server},
                 signal_transport: NO_SIGNAL}
"""
FIRST_ONLY = ["#!/bin/sh\necho first\n"]
BOTH = ["#!/bin/sh\necho first\n", "#!/bin/sh\necho second\n"]


def polled(second: bool = False) -> str:
    return POLLED.replace("SECOND", SECOND if second else "")


def configs(doc: dict) -> list[str]:
    return sorted(entry["config"] for entry in doc["deployments"])


def create(hearth, name: str, transport: str) -> dict:
    hearth.create_stack(name, polled(), parameters={"transport": transport})
    stack = hearth.wait_stack(name, ("CREATE_COMPLETE",), timeout=90)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    return stack


def update(hearth, name: str, stack_id: str, transport: str, second: bool = True) -> None:
    answer = hearth.http.put(
        f"{hearth.api}/stacks/{name}/{stack_id}",
        timeout=30,
        json={"template": polled(second), "parameters": {"transport": transport}},
    )
    assert answer.status_code == 202, answer.text
    stack = hearth.wait_stack(name, ("UPDATE_COMPLETE",), timeout=90)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]


def run_occ(
    bin_dir: Path, collector: str, section: dict, workdir: Path, command: str = "true"
) -> tuple[subprocess.CompletedProcess, dict | None, float]:
    """One `--one-time` pass of `collector` with the server's subsection for it as its config
    group, running `command` when what it collected changed; (result, its cached
    `<collector>.json` or None, run time). The console script is run by the venv's python: the
    venv was built in a staging directory, so the script's shebang names a path that no longer
    exists."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "os-collect-config.conf"
    config.write_text(
        f"[DEFAULT]\ncollectors = {collector}\ncommand = {command}\n"
        f"cachedir = {workdir / 'cache'}\nbackup_cachedir = {workdir / 'backup'}\n"
        f"[{collector}]\n" + "".join(f"{key} = {value}\n" for key, value in section.items() if value is not None)
    )
    command = [str(bin_dir / "python"), str(bin_dir / "os-collect-config"), "--one-time", "--config-file", str(config)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - started
    cached = workdir / "cache" / f"{collector}.json"
    return result, (json.loads(cached.read_text()) if cached.is_file() else None), elapsed
