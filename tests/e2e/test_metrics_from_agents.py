"""The agent reports metrics, end to end: a real Hearth server on 127.0.0.1, a stack with a local
server (the local driver's real agent process) and a pre-provisioned server enrolled through
the API, real `hearth-agent` processes. `hearth-agent metric put` queues a sample in the
agent's outbox and the running agent delivers it; a sample queued while no agent runs is
delivered once one starts (the outbox is durable); an agent started with a short
`--metrics-interval` reports the host's cpu_util, memory_util and load averages. Each lands in
metric_samples for its own server, read back from the store with a deadline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.store.models import MetricSample
from tests.support import start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  web: {type: OS::Nova::Server, properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}}
  spare: {type: OS::Heat::DeployedServer}
"""


def metric_put(state_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "hearth-agent"), "metric", "put", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def samples(hearth, server_id: str) -> list[MetricSample]:
    with hearth.service.runtime.store.session() as session:
        rows = list(
            session.scalars(select(MetricSample).where(MetricSample.server_id == server_id).order_by(MetricSample.id))
        )
        session.expunge_all()
        return rows


def test_agents_deliver_queued_and_host_metrics_to_their_own_server(tmp_path):
    hearth = start_server(tmp_path)
    agent = None
    try:
        hearth.create_stack("fleet", TEMPLATE)
        stack = hearth.wait_stack("fleet", ("CREATE_COMPLETE",), timeout=90)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        resources = hearth.resources("fleet")
        web, spare = (resources[n]["physical_resource_id"] for n in ("web", "spare"))

        # The local server's agent is running: `metric put` queues, the agent delivers.
        web_state = Path(hearth.config.resolved_data_dir) / "servers" / web / "state"
        done = metric_put(web_state, "queue_depth", "17", "--unit", "Count", "--dimension", "queue=jobs")
        assert done.returncode == 0, done.stderr
        [row] = wait_for(lambda: samples(hearth, web), 30, 0.1, "the agent to deliver the queued sample")
        assert (row.project, row.namespace, row.name, row.value, row.unit, row.dimensions) == (
            "admin",
            "hearth",
            "queue_depth",
            17.0,
            "Count",
            {"queue": "jobs"},
        )
        wait_for(lambda: not list((web_state / "outbox").glob("*.json")), 30, 0.1, "the outbox to empty")

        refused = metric_put(web_state, "queue_depth", "nan")
        assert refused.returncode == 2 and "finite" in refused.stderr

        # Queued before any agent runs for `spare`: delivered once its agent starts.
        answer = hearth.http.post(f"{hearth.api}/servers/{spare}/bootstrap", json={}, timeout=30)
        assert answer.status_code == 201, answer.text
        bootstrap = tmp_path / "spare-bootstrap.json"
        bootstrap.write_text(json.dumps(answer.json()["bootstrap"]))
        bootstrap.chmod(0o600)
        spare_state = tmp_path / "spare-state"
        spare_state.mkdir()
        assert metric_put(spare_state, "backlog", "3.5").returncode == 0
        with open(tmp_path / "spare-agent.log", "w") as log:
            agent = subprocess.Popen(
                [
                    str(BIN / "hearth-agent"),
                    "--bootstrap",
                    str(bootstrap),
                    "--state-dir",
                    str(spare_state),
                    "--metrics-interval",
                    "0.5",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def host_reported():
            names = {r.name for r in samples(hearth, spare)}
            wanted = {"backlog", "cpu_util", "memory_util", "load_avg_1m", "load_avg_5m", "load_avg_15m"}
            return wanted <= names

        wait_for(host_reported, 60, 0.1, "the spare agent's queued and host metrics")
        rows = samples(hearth, spare)
        assert [r.value for r in rows if r.name == "backlog"] == [3.5]
        for row in rows:
            if row.name in ("cpu_util", "memory_util"):
                assert row.unit == "%" and 0.0 <= row.value <= 100.0, (row.name, row.value)
        assert all(r.server_id != spare for r in samples(hearth, web))
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=30)
        stop_server(hearth)
