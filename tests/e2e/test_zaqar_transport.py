"""ZAQAR_MESSAGE and ZAQAR_SIGNAL with the stock clients, end to end: os-collect-config 14.1.0's
`zaqar` collector (keystoneclient + zaqarclient 4.x v2 pop, from its own venv) reads the
server's queue, heat-agents 13.0.0's 55-heat-config runs Hearth's `script` hook, and its
heat-config-notify posts each result on the deployment's queue (zaqarclient v1.1, which only
python-zaqarclient < 4 has: a venv of 3.0.1 with keystoneclient, tests/peers.py). All three
come from PyPI; without them this fails under CI and skips elsewhere. Nothing is mocked: a real
Hearth server on 127.0.0.1, a DeployedServer (no Hearth agent, so only the stock clients act),
the clients as processes.

The collector's command fails first: Heat's queue would then be empty and the deployment never
run; Hearth's still holds the document, so the next pass runs it. The second deployment
depends on the first: it reaches the queue only after the first is signalled, and each step
(queued, popped, signalled) is an event on the stack's stream, in that order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import peers
from tests.e2e.occ import run_occ
from tests.support import ROOT, start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

QUEUED = """
heat_template_version: 2018-08-31
resources:
  machine:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: ZAQAR_MESSAGE}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: who}]
      outputs: [{name: greeting}]
      config: |
        #!/bin/sh
        printf 'hello %s via %s' "$who" "$deploy_signal_transport" > "$heat_outputs_path.greeting"
  first:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: machine},
                 signal_transport: ZAQAR_SIGNAL, input_values: {who: first}}
  second:
    type: OS::Heat::SoftwareDeployment
    depends_on: first
    properties: {config: {get_resource: config}, server: {get_resource: machine},
                 signal_transport: ZAQAR_SIGNAL, input_values: {who: second}}
outputs:
  occ: {value: {get_attr: [machine, os_collect_config]}}
  first: {value: {get_attr: [first, greeting]}}
  second: {value: {get_attr: [second, greeting]}}
"""


def heat_config(heat_agents: Path, notify_bin: Path, doc: dict, work: Path) -> subprocess.CompletedProcess:
    """Their 55-heat-config over the popped document's deployments, as os-refresh-config runs it
    after os-apply-config wrote {{deployments}}; notify runs with the zaqarclient 3 venv's
    python3 (its shebang is `/usr/bin/env python3`)."""
    shell_config = work / "heat-config"
    shell_config.write_text(json.dumps(doc["deployments"]))
    env = {
        **os.environ,
        "PATH": str(notify_bin) + os.pathsep + os.environ.get("PATH", ""),
        "HEAT_SHELL_CONFIG": str(shell_config),
        "HEAT_CONFIG_HOOKS": str(ROOT / "hooks"),
        "HEAT_CONFIG_DEPLOYED": str(work / "deployed"),
        "HEAT_CONFIG_NOTIFY": str(heat_agents / "heat-config" / "bin" / "heat-config-notify"),
    }
    dispatcher = heat_agents / "heat-config" / "os-refresh-config" / "configure.d" / "55-heat-config"
    return subprocess.run(
        [sys.executable, str(dispatcher)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_stock_zaqar_collector_and_heat_config_notify_complete_a_deployment(tmp_path):
    occ_bin = peers.require("os-collect-config")
    heat_agents = peers.require("heat-agents")
    notify_bin = peers.require("python-zaqarclient")
    hearth = start_server(tmp_path / "hearth")
    try:
        hearth.create_stack("queued", QUEUED)
        wait_for(lambda: hearth.resources("queued")["first"]["resource_status"] == "CREATE_IN_PROGRESS", 30)
        occ = hearth.outputs("queued")["occ"]
        assert occ["collectors"] == ["zaqar", "local"]
        section = occ["zaqar"]
        work = tmp_path / "guest"
        started = time.monotonic()

        # A failing command: os-collect-config keeps the popped document uncommitted.
        failed, doc, _ = run_occ(occ_bin, "zaqar", section, work / "occ", command="false")
        assert failed.returncode != 0 and doc is not None, failed.stderr[-3000:]
        # The next pass pops the same document and runs the command again.
        marker = work / "ran"
        result, doc, _ = run_occ(occ_bin, "zaqar", section, work / "occ", command=f"touch {marker}")
        assert result.returncode == 0 and marker.exists(), result.stderr[-3000:]
        assert len(doc["deployments"]) == 1  # the second waits for the first
        assert section["password"] not in result.stderr + result.stdout

        dispatched = heat_config(heat_agents, notify_bin, doc, work)
        assert dispatched.returncode == 0 and "Error running" not in dispatched.stderr, dispatched.stderr[-3000:]
        assert "Signaling to queue" in dispatched.stderr, dispatched.stderr[-3000:]
        wait_for(lambda: hearth.resources("queued")["first"]["resource_status"] == "CREATE_COMPLETE", 30)

        # The second deployment reached the queue only now; a plain pass picks it up.
        def both():
            _, doc, _ = run_occ(occ_bin, "zaqar", section, work / "occ")
            return doc if doc and len(doc["deployments"]) == 2 else None

        doc = wait_for(both, 60, message="both deployments on the queue")
        dispatched = heat_config(heat_agents, notify_bin, doc, work)
        assert dispatched.returncode == 0 and "Error running" not in dispatched.stderr, dispatched.stderr[-3000:]
        stack = hearth.wait_stack("queued", ("CREATE_COMPLETE", "CREATE_FAILED"), timeout=60)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        outputs = hearth.outputs("queued")
        assert outputs["first"] == "hello first via ZAQAR_SIGNAL"
        assert outputs["second"] == "hello second via ZAQAR_SIGNAL"
        print(f"zaqar collector + heat-config-notify, two deployments: {time.monotonic() - started:.2f} s")

        # Each step is an event, in order: queued, popped, signalled; the second after the first.
        events = hearth.http.get(
            f"{hearth.api}/stacks/queued/{stack['id']}/events", params={"sort_dir": "asc"}, timeout=30
        ).json()["events"]
        steps = [
            (e["resource_name"], e["resource_status_reason"].split(":")[0])
            for e in events
            if e["resource_name"] in ("first", "second")
            and e["resource_status_reason"].startswith(("Queued", "Popped", "Signal"))
        ]
        assert steps == [
            ("first", "Queued"),
            ("first", "Popped"),
            ("first", "Signal"),
            ("second", "Queued"),
            ("second", "Popped"),
            ("second", "Signal"),
        ], steps
    finally:
        stop_server(hearth)
