"""agent.main.Agent in process: commit after success, and a run whose signal is already queued."""

import json

import pytest
import requests

from agent.config import build_parser, from_args
from agent.collectors import NotConfigured, make_collector
from agent.deployments import done_key
from agent.main import Agent


@pytest.fixture
def agent(tmp_path, guest, session, monkeypatch):
    monkeypatch.delenv("HEAT_CONFIG_HOOKS", raising=False)
    boot = tmp_path / "bootstrap.json"
    boot.write_text(json.dumps({"server_id": guest.server_id, "base_url": guest.base_url,
                                "credential": guest.credential}))
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    probe = hooks / "probe"
    probe.write_text(f"#!/bin/sh\necho ran >> {tmp_path / 'ran.txt'}\n")
    probe.chmod(0o755)
    args = build_parser().parse_args(["--bootstrap", str(boot), "--state-dir",
                                      str(tmp_path / "state"), "--hooks-path", str(hooks)])
    with requests.Session() as signal_session:
        yield Agent(from_args(args), session, signal_session)


ENTRY = {"id": "dep-1", "name": "10_probe", "group": "probe", "config": "", "outputs": [],
         "options": None, "inputs": [{"name": "deploy_action", "type": "String", "value": "CREATE"}]}


def test_run_signal_then_done_marker(agent, tmp_path):
    agent.deploy(ENTRY)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    [item] = agent.outbox.pending()
    assert item["payload"] == {} and item["done_key"] == done_key(ENTRY)
    assert agent.ledger.is_done(done_key(ENTRY))
    agent.deploy(ENTRY)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"


def test_queued_signal_without_marker_is_not_run_again(agent, tmp_path):
    # The agent stopped after the outbox write and before the done marker.
    agent.outbox.put("dep-1", {}, done_key=done_key(ENTRY))
    agent.deploy(ENTRY)
    assert not (tmp_path / "ran.txt").exists()
    assert agent.ledger.is_done(done_key(ENTRY))


def test_a_new_action_runs_again(agent, tmp_path):
    agent.deploy(ENTRY)
    update = dict(ENTRY, id="dep-2", inputs=[
        {"name": "deploy_action", "type": "String", "value": "UPDATE"}])
    agent.deploy(update)
    assert (tmp_path / "ran.txt").read_text() == "ran\nran\n"
    assert agent.outbox.flush() == 0


def test_broken_entry_is_reported_and_the_rest_still_run(agent, tmp_path):
    (tmp_path / "state" / "runs" / "dep-1").write_text("a file where the run folder goes")
    second = dict(ENTRY, id="dep-2", name="20_probe")
    clean = agent.deploy_all({"deployments": [ENTRY, second]})
    assert clean is False
    assert (tmp_path / "ran.txt").read_text() == "ran\n"  # dep-2 still ran
    assert not agent.ledger.is_done(done_key(ENTRY))
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["state"] == "idle" and "deployment dep-1" in status["last_error"]
    assert status["deployments"]["dep-1"]["status"] == "error"
    assert status["deployments"]["dep-2"]["status"] == "complete"


def test_unknown_collectors_are_skipped(agent, session):
    bootstrap = agent.config.bootstrap
    assert make_collector(type(bootstrap)(**{**bootstrap.__dict__,
                                             "collectors": ("ec2", "hearth")}), session)
    with pytest.raises(NotConfigured):
        make_collector(type(bootstrap)(**{**bootstrap.__dict__, "collectors": ("ec2",)}),
                       session)
