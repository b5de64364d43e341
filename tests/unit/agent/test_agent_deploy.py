"""agent.main.Agent in process: commit after success, the staged hand-over, a run whose signal is already queued."""

import json

import pytest
import requests

from agent.collectors import NotConfigured, make_collectors
from agent.config import build_parser, from_args
from agent.deployments import done_key
from agent.main import Agent


@pytest.fixture
def agent(tmp_path, guest, session, monkeypatch):
    monkeypatch.delenv("HEAT_CONFIG_HOOKS", raising=False)
    boot = tmp_path / "bootstrap.json"
    boot.write_text(
        json.dumps({"server_id": guest.server_id, "base_url": guest.base_url, "credential": guest.credential})
    )
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    probe = hooks / "probe"
    probe.write_text(f"#!/bin/sh\necho ran >> {tmp_path / 'ran.txt'}\n")
    probe.chmod(0o755)
    args = build_parser().parse_args(
        ["--bootstrap", str(boot), "--state-dir", str(tmp_path / "state"), "--hooks-path", str(hooks)]
    )
    with requests.Session() as signal_session:
        yield Agent(from_args(args), session, signal_session)


ENTRY = {
    "id": "dep-1",
    "name": "10_probe",
    "group": "probe",
    "config": "",
    "outputs": [],
    "options": None,
    "inputs": [{"name": "deploy_action", "type": "String", "value": "CREATE"}],
}


def test_run_signal_then_done_marker(agent, tmp_path):
    agent.deployer.deploy(ENTRY)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    [item] = agent.outbox.pending()
    assert item["payload"] == {} and item["done_key"] == done_key(ENTRY)
    assert agent.ledger.is_done(done_key(ENTRY))
    assert agent.outbox.staged_items() == []
    agent.deployer.deploy(ENTRY)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"


def break_done_markers(tmp_path):
    """Make the next done-marker write fail, as if the agent died just before it."""
    deployed = tmp_path / "state" / "deployed"
    deployed.rmdir()
    deployed.write_text("a file where the done markers go")
    return deployed


def mend_done_markers(deployed):
    deployed.unlink()
    deployed.mkdir()


def test_signal_cannot_leave_before_the_done_marker_and_a_restart_does_not_rerun(agent, tmp_path, guest, start_agent):
    guest.set_metadata({"deployments": [ENTRY]})
    deployed = break_done_markers(tmp_path)
    assert agent.deployer.deploy_all({"deployments": [ENTRY]}) is False  # "crashes" before the marker
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    # The sender's pass in that window: before staging it delivered (and deleted) the signal.
    assert agent.outbox.flush(force=True) == 0 and guest.signal_attempts == []
    mend_done_markers(deployed)
    restarted = start_agent(
        tmp_path / "bootstrap.json", tmp_path / "state", "--once", "--hooks-path", str(tmp_path / "hooks")
    )
    assert restarted.wait(30) == 0
    assert (tmp_path / "ran.txt").read_text() == "ran\n"  # the finished hook is not re-run
    assert [s["entry_id"] for s in guest.signal_attempts] == ["dep-1"]
    assert guest.signals[0]["body"] == {}
    marker = json.loads(agent.ledger.path(done_key(ENTRY)).read_text())
    assert (marker["id"], marker["group"], marker["deploy_status_code"]) == ("dep-1", "probe", 0)
    assert agent.outbox.staged_items() == [] and agent.outbox.pending() == []


def test_a_failed_done_marker_is_finished_on_the_next_pass_without_rerunning(agent, tmp_path):
    deployed = break_done_markers(tmp_path)
    assert agent.deployer.deploy_all({"deployments": [ENTRY]}) is False
    [(_, staged)] = agent.outbox.staged_items()
    assert staged["done_key"] == done_key(ENTRY) and agent.outbox.pending() == []
    mend_done_markers(deployed)
    assert agent.deployer.deploy_all({"deployments": [ENTRY]}) is True
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    assert agent.ledger.is_done(done_key(ENTRY)) and agent.outbox.staged_items() == []
    [item] = agent.outbox.pending()
    assert item["payload"] == {}
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["deployments"]["dep-1"]["status"] == "complete"


def test_a_new_action_runs_again(agent, tmp_path):
    agent.deployer.deploy(ENTRY)
    update = dict(ENTRY, id="dep-2", inputs=[{"name": "deploy_action", "type": "String", "value": "UPDATE"}])
    agent.deployer.deploy(update)
    assert (tmp_path / "ran.txt").read_text() == "ran\nran\n"
    assert agent.outbox.flush() == 0


def test_broken_entry_is_reported_and_the_rest_still_run(agent, tmp_path):
    (tmp_path / "state" / "runs" / "dep-1").write_text("a file where the run folder goes")
    second = dict(ENTRY, id="dep-2", name="20_probe")
    clean = agent.deployer.deploy_all({"deployments": [ENTRY, second]})
    assert clean is False
    assert (tmp_path / "ran.txt").read_text() == "ran\n"  # dep-2 still ran
    assert not agent.ledger.is_done(done_key(ENTRY))
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["state"] == "idle" and "deployment dep-1" in status["last_error"]
    assert status["deployments"]["dep-1"]["status"] == "error"
    assert status["deployments"]["dep-2"]["status"] == "complete"


def test_unknown_collectors_are_skipped(agent, session):
    bootstrap = agent.config.bootstrap
    made = make_collectors(type(bootstrap)(**{**bootstrap.__dict__, "collectors": ("ec2", "hearth")}), session)
    assert [collector.name for collector in made] == ["hearth"]
    with pytest.raises(NotConfigured):
        make_collectors(type(bootstrap)(**{**bootstrap.__dict__, "collectors": ("ec2",)}), session)
