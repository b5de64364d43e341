"""Real ``python -m agent.main`` processes whose bootstrap lists several guest API bases: the first
one down (a port where nothing listens), the agent still gets its metadata, runs a real hook and
delivers the signal through the next; against the stand-in guest API and against a real Hearth
server whose `guest_urls` setting puts itself second. And the first parked poll after start
asks for a spread wait, also with a bootstrap that has only `base_url`."""

from __future__ import annotations

import json
import threading

import pytest

from tests.support import RunningServer, free_port, stop_server
from tests.unit.agent.conftest import CREDENTIAL, SERVER_ID, running_guest

SCRIPT = """#!/bin/sh
printf 'out-%s' "$label" > "$heat_outputs_path.result"
"""


def entry(entry_id, label):
    return {
        "id": entry_id,
        "name": f"10_{label}",
        "group": "script",
        "creation_time": "2026-01-02T03:04:05Z",
        "config": SCRIPT,
        "options": None,
        "outputs": [{"name": "result", "type": "String", "error_output": False}],
        "inputs": [
            {"name": "label", "type": "String", "value": label},
            {"name": "deploy_server_id", "type": "String", "value": SERVER_ID},
            {"name": "deploy_action", "type": "String", "value": "CREATE"},
            {"name": "deploy_signal_transport", "type": "String", "value": "HEARTH"},
        ],
    }


def test_an_agent_whose_first_base_is_down_deploys_and_signals_through_the_second(
    tmp_path, guest, start_agent, wait_for
):
    dead = f"http://127.0.0.1:{free_port()}"
    boot = tmp_path / "bootstrap.json"
    boot.write_text(
        json.dumps(
            {
                "server_id": SERVER_ID,
                "base_url": dead,
                "base_urls": [dead, guest.base_url],
                # Absolute, under the first base, as the server writes it: moved onto the second.
                "metadata_url": f"{dead}/guest/v1/servers/{SERVER_ID}/metadata",
                "credential": CREDENTIAL,
                "collectors": ["hearth"],
            }
        )
    )
    guest.set_metadata({"deployments": [entry("id-a", "a")]})
    agent = start_agent(boot, tmp_path / "state", "--poll-wait", "30")
    [signal] = wait_for(lambda: guest.signals, message="the signal through the second base")
    assert signal["entry_id"] == "id-a" and signal["body"]["result"] == "out-a"
    assert signal["body"]["deploy_status_code"] == 0
    log = agent.log_path.read_text()
    assert f"guest API at {dead} did not answer (ConnectionError); switching to {guest.base_url}" in log
    assert log.count("switching to") == 1  # sticky: the base that answers keeps being used


def test_an_agent_whose_replica_stops_mid_test_moves_to_the_other_and_signals_there(
    tmp_path, guest, start_agent, wait_for
):
    with running_guest() as first:
        boot = tmp_path / "bootstrap.json"
        boot.write_text(
            json.dumps(
                {
                    "server_id": SERVER_ID,
                    "base_url": first.base_url,
                    "base_urls": [first.base_url, guest.base_url],
                    "metadata_url": f"{first.base_url}/guest/v1/servers/{SERVER_ID}/metadata",
                    "credential": CREDENTIAL,
                    "collectors": ["hearth"],
                }
            )
        )
        agent = start_agent(boot, tmp_path / "state", "--poll-wait", "30")
        wait_for(lambda: first.metadata_requests[1:], message="a poll parked on the first replica")
    # The first replica answered its parked poll and stopped; the deployment is on the other.
    guest.set_metadata({"deployments": [entry("id-b", "b")]})
    [signal] = wait_for(lambda: guest.signals, message="the signal through the other replica")
    assert signal["entry_id"] == "id-b" and signal["body"]["result"] == "out-b"
    assert first.signals == []
    log = agent.log_path.read_text()
    assert f"switching to {guest.base_url}" in log
    assert "source unavailable" not in log  # a replica stopping is not a failure to report


def test_an_agent_with_only_base_url_spreads_its_first_parked_poll(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    boot = bootstrap_file(guest.base_url)
    assert "base_urls" not in json.loads(boot.read_text())
    start_agent(boot, tmp_path / "state", "--poll-wait", "2")
    wait_for(lambda: len(guest.metadata_requests) >= 3, 15, message="two parked polls")
    first_look, spread, full = (r["wait"] for r in guest.metadata_requests[:3])
    assert first_look == 0.0
    assert 2 * 0.05 <= spread < 2  # wait × uniform(0.05, 1)
    assert full == 2


SERVER_AND_DEPLOYMENT = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: said}]
      config: |
        #!/bin/sh
        printf 'through the second base' > "$heat_outputs_path.said"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
outputs:
  said: {value: {get_attr: [deploy, said]}}
"""


@pytest.fixture
def hearth_second(tmp_path):
    """A real server (local compute driver: real agent processes) whose public_url is a port
    where nothing listens and whose guest_urls names the server itself."""
    from engine.config import Config
    from metadata_server import create_app
    from metadata_server.serving import listen

    port = free_port()
    config = Config.from_env(
        {},
        db_url=f"sqlite:///{tmp_path}/hearth.db",
        data_dir=str(tmp_path / "data"),
        port=port,
        public_url=f"http://127.0.0.1:{free_port()}",
        guest_urls=f"http://127.0.0.1:{port}",
    )
    app = create_app(config)
    httpd = listen("127.0.0.1", port, app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server = RunningServer(config, app, httpd, thread)
    yield server
    stop_server(server)


@pytest.mark.e2e
def test_a_real_server_hands_out_both_bases_and_its_agent_completes_through_the_second(hearth_second, tmp_path):
    hearth_second.create_stack("two", SERVER_AND_DEPLOYMENT)
    stack = hearth_second.wait_stack("two", ("CREATE_COMPLETE",), timeout=60)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert hearth_second.outputs("two")["said"] == "through the second base"
    [home] = (tmp_path / "data" / "servers").iterdir()
    document = json.loads((home / "bootstrap.json").read_text())
    assert document["base_urls"] == [hearth_second.config.public_url, hearth_second.url]
    assert document["base_url"] == hearth_second.config.public_url
    assert f"switching to {hearth_second.url}" in (home / "agent.log").read_text()
    hearth_second.delete("two")
