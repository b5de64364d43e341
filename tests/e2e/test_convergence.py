"""Convergence tracing end to end: five servers with real local agents and the real script hook;
an update's operation id reaches each agent in its entry and comes back in its signal, and the
converge report (API and `hearth stack converge-report`) places each server's change in time."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from engine.store.models import Server
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  version: {type: string, default: one}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: version}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        echo "applying $version"
        printf '%s' "$version" > $heat_outputs_path.result
  servers:
    type: OS::Heat::ResourceGroup
    properties:
      count: 5
      resource_def:
        type: OS::Nova::Server
        properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeploymentGroup
    properties:
      config: {get_resource: config}
      servers: {get_attr: [servers, refs_map]}
      input_values: {version: {get_param: version}}
"""


def moment(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: DTZ007 - UTC, compared only


def report(hearth, stack: dict, operation: str | None = None) -> dict:
    response = hearth.http.get(
        f"{hearth.api}/stacks/{stack['stack_name']}/{stack['id']}/convergence",
        params={"operation": operation} if operation else None,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def cli(hearth, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEARTH_URL": hearth.url, "HEARTH_TOKEN": hearth.http.headers["X-Auth-Token"]}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def test_an_update_of_five_servers_is_traced_from_commit_to_each_signal(hearth):
    hearth.create_stack("fleet", TEMPLATE)
    created = hearth.wait_stack("fleet", ("CREATE_COMPLETE",), timeout=120)
    assert created["stack_status"] == "CREATE_COMPLETE", created["stack_status_reason"]
    first = report(hearth, created)
    assert first["summary"]["servers"] == 5 and first["summary"]["complete"] == 5

    response = hearth.http.patch(
        f"{hearth.api}/stacks/fleet/{created['id']}", json={"parameters": {"version": "two"}}, timeout=30
    )
    assert response.status_code == 202, response.text
    updated = hearth.wait_stack("fleet", ("UPDATE_COMPLETE",), timeout=120)
    assert updated["stack_status"] == "UPDATE_COMPLETE", updated["stack_status_reason"]

    # Delivery times are written a moment after the answer (engine/guest/traces.py Deliveries).
    def delivered():
        answer = report(hearth, updated)
        return answer if answer["summary"]["delivered"] == 5 else None

    latest = wait_for(delivered, 10, 0.05, "the update's deliveries to be recorded")
    # The update is the stack's own operation, newer than the create's: the default report.
    assert latest["operation"].startswith(created["id"] + ":") and latest["operation"] != first["operation"]
    assert [op["operation"] for op in latest["operations"][:2]] == [latest["operation"], first["operation"]]
    summary = latest["summary"]
    assert (summary["servers"], summary["complete"], summary["failed"], summary["in_progress"]) == (5, 5, 0, 0)
    assert summary["deployments"] == 5 and summary["time_to_converge"]["count"] == 5
    servers = {s["server_id"]: s for s in latest["servers"]}
    members = hearth.resources("fleet")["servers"]
    assert len(servers) == 5
    for server in servers.values():
        (entry,) = server["deployments"]
        assert entry["action"] == "UPDATE" and entry["status"] == "COMPLETE"
        # Each moment follows the one before: committed, delivered, started (the agent sent its
        # run time back, which it does only for an entry carrying the operation id), finished.
        times = [moment(entry[k]) for k in ("committed_at", "delivered_at", "started_at", "finished_at")]
        assert times == sorted(times), entry
        assert entry["run_seconds"] is not None and entry["converge_seconds"] >= entry["run_seconds"]
        assert server["converge_seconds"] == entry["converge_seconds"]
        offsets = [server[k] for k in ("delivered_seconds", "started_seconds", "finished_seconds")]
        assert offsets == sorted(offsets) and offsets[0] == entry["delivery_seconds"]
    spread = summary["time_to_converge"]
    assert spread["min"] <= spread["p50"] <= spread["p90"] <= spread["max"]
    assert sum(bucket["count"] for bucket in spread["histogram"]) == 5
    assert members["resource_status"] == "UPDATE_COMPLETE"

    # An earlier operation by its number, and an unknown one refused with a reason.
    number = first["operation"].split(":")[1]
    assert report(hearth, updated, number)["operation"] == first["operation"]
    missing = hearth.http.get(
        f"{hearth.api}/stacks/fleet/{created['id']}/convergence", params={"operation": "9999"}, timeout=30
    )
    assert missing.status_code == 404 and "wrote no deployment entry" in missing.json()["error"]["message"]

    # Each real agent named its version in its metadata requests (the console's agents page).
    with hearth.service.runtime.store.session() as session:
        versions = session.scalars(select(Server.agent_version).where(Server.id.in_(list(servers)))).all()
    assert versions == [importlib.metadata.version("hearth")] * 5

    table = cli(hearth, "stack", "converge-report", "fleet")
    assert table.returncode == 0, table.stderr
    assert f"Operation:  {latest['operation']}" in table.stdout
    assert "Servers:    5 (5 complete, 0 failed, 0 in progress; 5 delivered)" in table.stdout
    assert sum(server_name in table.stdout for server_name in (s["server_name"] for s in latest["servers"])) == 5
    as_json = cli(hearth, "stack", "converge-report", "fleet", number, "-f", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["operation"] == first["operation"]
