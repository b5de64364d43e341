"""agent.deployer with real hooks, real files and the guest stand-in: order, run folders, status.json, heartbeats, timeouts, components, log lines."""

import json
import logging
import stat
import sys
import threading
from pathlib import Path

import pytest

from agent.config import StateLayout
from agent.deployer import Deployer
from agent.deployments import DoneLedger, config_checksum, done_key
from agent.outbox import Outbox
from agent.runner import RUNS_KEPT
from agent.status import StatusFile, agent_version

SECRET = "s3cret-value-never-logged"


class Setup:
    """A Deployer over a fresh state dir, its hooks in ``hooks/``, its outbox on the stand-in."""

    def __init__(self, tmp_path: Path, guest, session):
        self.tmp = tmp_path
        self.guest = guest
        self.layout = StateLayout(tmp_path / "state")
        self.layout.create()
        self.hooks = tmp_path / "hooks"
        self.hooks.mkdir()
        self.stop = threading.Event()
        self.outbox = Outbox(self.layout.outbox_dir, session, guest.base_url, guest.credential, jitter=lambda: 0.0)
        self.ledger = DoneLedger(self.layout.deployed_dir)
        self.deployer = Deployer(
            self.layout, (self.hooks,), self.ledger, StatusFile(self.layout.status_file), self.outbox, self.stop
        )

    def hook(self, name: str, body: str) -> Path:
        path = self.hooks / name
        path.write_text(body)
        path.chmod(0o755)
        return path

    def recording_hook(self, name: str = "probe", extra: str = "") -> Path:
        """A Python hook that appends "<hook> <id> <config>" to ran.txt, then runs ``extra``."""
        return self.hook(
            name,
            (
                f"#!{sys.executable}\nimport json, os, sys, time\nentry = json.load(sys.stdin)\n"
                f"with open({str(self.tmp / 'ran.txt')!r}, 'a') as f:\n"
                f"    f.write(f\"{name} {{entry['id']}} {{entry['config']}}\\n\")\n{extra}"
            ),
        )

    def ran(self) -> list[str]:
        path = self.tmp / "ran.txt"
        return path.read_text().splitlines() if path.exists() else []

    def status(self) -> dict:
        return json.loads(self.layout.status_file.read_text())


@pytest.fixture
def setup(tmp_path, guest, session, monkeypatch):
    monkeypatch.delenv("HEAT_CONFIG_HOOKS", raising=False)
    monkeypatch.delenv("HEARTH_AGENT_HEARTBEAT", raising=False)
    return Setup(tmp_path, guest, session)


def entry(entry_id="dep-1", name="10_probe", group="probe", config="c", action="CREATE", options=None):
    return {
        "id": entry_id,
        "name": name,
        "group": group,
        "config": config,
        "outputs": [],
        "options": options,
        "inputs": [
            {"name": "deploy_action", "type": "String", "value": action},
            {"name": "deploy_password", "type": "String", "value": SECRET},
        ],
    }


def wait_release(path: Path) -> str:
    """Hook code: wait (at most 20 s) until the test creates ``path``."""
    return (
        f"deadline = time.monotonic() + 20\n"
        f"while not os.path.exists({str(path)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
    )


def in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_deployments_run_in_name_order_then_id(setup):
    setup.recording_hook()
    setup.deployer.deploy_all(
        {
            "deployments": [
                entry("id-z", "20_second"),
                entry("id-y", "10_first"),
                "junk",
                entry("id-x", "10_first"),
                entry("id-w", None),
            ]
        }
    )
    assert [line.split()[1] for line in setup.ran()] == ["id-w", "id-x", "id-y", "id-z"]


def test_each_run_has_its_own_folder_and_only_the_newest_are_kept(setup):
    setup.recording_hook()
    first = entry(config="v0")
    setup.deployer.deploy(first)
    folder = setup.layout.runs_dir / "dep-1" / f"CREATE-{config_checksum('v0')[:12]}"
    # hook.json, hook.lock and hook-exit.json let a restarted agent find the run (orphans.py).
    assert sorted(p.name for p in folder.iterdir()) == [
        "exit_code",
        "hook-exit.json",
        "hook.json",
        "hook.lock",
        "input.json",
        "result.json",
        "stderr",
        "stdout",
    ]
    assert stat.S_IMODE((folder / "input.json").stat().st_mode) == 0o600  # it holds credentials
    for stream in ("stdout", "stderr"):  # hooks such as heat-agents' script hook log input values
        assert stat.S_IMODE((folder / stream).stat().st_mode) == 0o600
    assert json.loads((folder / "input.json").read_text())["config"] == "v0"
    assert (folder / "exit_code").read_text() == "0\n"
    for number in range(1, RUNS_KEPT + 2):  # a new config each time: a new run, a new folder
        setup.deployer.deploy(entry(config=f"v{number}"))
    kept = sorted(p.name for p in (setup.layout.runs_dir / "dep-1").iterdir())
    assert kept == sorted(f"CREATE-{config_checksum(f'v{n}')[:12]}" for n in range(2, RUNS_KEPT + 2))
    assert len(setup.ran()) == RUNS_KEPT + 2


def test_a_run_cut_short_is_run_again_in_its_own_folder(setup, wait_for):
    release = setup.tmp / "release"
    setup.recording_hook(extra=wait_release(release) + "print('second try')\n")
    thread = in_thread(lambda: setup.deployer.deploy(entry()))
    wait_for(lambda: len(setup.ran()) == 1, 10, message="the hook to start")
    setup.stop.set()  # a shutdown while the hook runs
    thread.join(10)
    folder = setup.layout.runs_dir / "dep-1" / f"CREATE-{config_checksum('c')[:12]}"
    assert not (folder / "exit_code").exists() and setup.outbox.pending() == []
    assert setup.status()["deployments"]["dep-1"]["status"] == "interrupted"
    setup.stop.clear()
    release.touch()
    setup.deployer.deploy(entry())
    assert len(setup.ran()) == 2
    assert [p.name for p in (setup.layout.runs_dir / "dep-1").iterdir()] == [folder.name]
    assert (folder / "stdout").read_text() == "second try\n"
    assert (folder / "exit_code").read_text() == "0\n"


def test_status_json_names_the_running_deployment_and_counts_passes(setup, wait_for):
    release = setup.tmp / "release"
    setup.recording_hook(extra=wait_release(release))
    thread = in_thread(lambda: setup.deployer.deploy_all({"deployments": [entry()]}))
    running = wait_for(
        lambda: setup.layout.status_file.exists() and (lambda s: s["current"] and s)(setup.status()),
        10,
        message="a current deployment in status.json",
    )
    assert running["state"] == "running" and running["passes"] == 1
    assert running["agent_version"] == agent_version() != ""
    assert {k: v for k, v in running["current"].items() if k != "started_at"} == {
        "id": "dep-1",
        "name": "10_probe",
        "action": "CREATE",
    }
    assert running["deployments"]["dep-1"] == {"status": "running", "finished_at": None}
    release.touch()
    thread.join(10)
    setup.deployer.deploy_all({"deployments": [entry()]})
    after = setup.status()
    assert (after["state"], after["passes"], after["current"]) == ("idle", 2, None)
    assert after["deployments"]["dep-1"]["status"] == "complete"
    assert SECRET not in setup.layout.status_file.read_text()
    assert stat.S_IMODE(setup.layout.status_file.stat().st_mode) == 0o644


def test_a_long_hook_sends_heartbeats_until_it_ends(setup, wait_for):
    release = setup.tmp / "release"
    setup.recording_hook(extra=wait_release(release))
    thread = in_thread(lambda: setup.deployer.deploy(entry(options={"heartbeat": 0.1})))
    wait_for(lambda: len(setup.guest.progress) >= 3, 10, message="three heartbeats")
    release.touch()
    thread.join(10)
    beats = list(setup.guest.progress)
    assert {(b["entry_id"], b["authorization"]) for b in beats} == {("dep-1", f"Bearer {setup.guest.credential}")}
    assert all(
        b["body"]["percent"] is None and b["body"]["message"].startswith("hook probe running for ") for b in beats
    )
    assert setup.outbox.flush() == 0 and setup.guest.signals[0]["entry_id"] == "dep-1"
    count = len(setup.guest.progress)
    setup.deployer.deploy(entry(entry_id="dep-2", options={"heartbeat": 5}))  # a quick hook
    # None from dep-1 once its run ended (dep-2's run took a while), none for a quick run.
    assert len(setup.guest.progress) == count


def test_heartbeat_failures_are_logged_once_and_do_not_touch_the_run(setup, wait_for, caplog):
    release = setup.tmp / "release"
    setup.recording_hook(extra=wait_release(release))
    setup.guest.progress_statuses = [500] * 1000
    with caplog.at_level(logging.DEBUG, logger="hearth.agent"):
        thread = in_thread(lambda: setup.deployer.deploy(entry(options={"heartbeat": 0.05})))
        wait_for(lambda: len(setup.guest.progress) >= 4, 10, message="four failed heartbeats")
        release.touch()
        thread.join(10)
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "heartbeat" in r.getMessage()
    ]
    assert len(warnings) == 1 and "HTTP 500" in warnings[0]
    assert setup.status()["deployments"]["dep-1"]["status"] == "complete"
    assert setup.outbox.flush() == 0 and setup.guest.signals[0]["body"] == {}


def test_heartbeats_to_an_unreachable_server_do_not_touch_the_run(setup, session, caplog):
    setup.deployer.outbox = Outbox(setup.layout.outbox_dir, session, "http://127.0.0.1:9", "cred", jitter=lambda: 0.0)
    setup.recording_hook(extra="time.sleep(0.6)\n")
    with caplog.at_level(logging.WARNING, logger="hearth.agent"):
        setup.deployer.deploy(entry(options={"heartbeat": 0.1}))
    assert setup.status()["deployments"]["dep-1"]["status"] == "complete"
    assert [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()] == [
        (
            "deployment dep-1 (10_probe): heartbeat not accepted (ConnectionError); the hook goes "
            "on, and further heartbeat failures of this run are not logged"
        )
    ]


def test_timeout_from_options_fails_the_deployment_and_says_so(setup, caplog):
    setup.hook("probe", "#!/bin/sh\ntrap '' TERM\nsleep 300 &\nwait\n")
    with caplog.at_level(logging.INFO, logger="hearth.agent"):
        setup.deployer.deploy(entry(options={"timeout": 0.3, "heartbeat": 0}))
    [item] = setup.outbox.pending()
    assert item["payload"]["deploy_status_code"] == 124
    assert "timed out after 0.3 s" in item["payload"]["deploy_stderr"]
    assert setup.status()["deployments"]["dep-1"]["status"] == "failed"
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "deployment dep-1 (10_probe): timed out after 0.3 s: hook probe and its process group were killed"
    ) in messages
    assert setup.guest.progress == []  # heartbeat 0: none


def test_component_runs_the_tool_and_config_of_each_action(setup):
    setup.recording_hook("tool-a")
    setup.recording_hook("tool-b")
    component = {
        "configs": [
            {"actions": ["CREATE"], "tool": "tool-a", "config": "create-config"},
            {"actions": ["UPDATE", "SUSPEND"], "tool": "tool-b", "config": "update-config"},
        ]
    }
    setup.deployer.deploy_all({"deployments": [entry("c-1", group="component", config=component, action="CREATE")]})
    setup.deployer.deploy_all(
        {
            "deployments": [
                entry("c-2", group="component", config=component, action="UPDATE"),
                entry("c-3", "20_x", group="component", config=component, action="DELETE"),
            ]
        }
    )
    assert setup.ran() == ["tool-a c-1 create-config", "tool-b c-2 update-config"]
    assert setup.outbox.flush() == 0
    assert [s["entry_id"] for s in setup.guest.signals] == ["c-1", "c-2"]  # DELETE: no config
    folder = next((setup.layout.runs_dir / "c-2").iterdir())
    assert json.loads((folder / "input.json").read_text())["group"] == "tool-b"


def test_a_group_without_a_hook_fails_at_once_naming_group_and_path(setup, caplog):
    with caplog.at_level(logging.INFO, logger="hearth.agent"):
        setup.deployer.deploy(entry(group="no-such-tool"))
    assert setup.outbox.flush() == 0
    body = setup.guest.signals[0]["body"]
    assert body["deploy_status_code"] == 1
    assert body["deploy_stderr"].startswith(f"no hook for group 'no-such-tool' in {setup.hooks}:")
    assert "named 'no-such-tool'" in body["deploy_stderr"]
    assert setup.ledger.is_done(done_key(entry(group="no-such-tool")))
    assert setup.status()["deployments"]["dep-1"]["status"] == "failed"
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "no-such-tool" in line and str(setup.hooks) in line


def test_nan_from_a_hook_is_signalled_as_null_once(setup):
    setup.hook("probe", '#!/bin/sh\necho \'{"deploy_status_code": 0, "ratio": NaN}\'\n')
    setup.deployer.deploy(entry())
    assert setup.outbox.flush() == 0 and len(setup.guest.signal_attempts) == 1
    body = setup.guest.signals[0]["body"]
    assert body["ratio"] is None and "NaN/Infinity" in body["deploy_stderr"]


def test_one_log_line_per_event_and_no_input_values(setup, caplog):
    setup.recording_hook(extra="print('x' * 10, file=sys.stderr)\nsys.exit(3)\n")
    with caplog.at_level(logging.DEBUG, logger="hearth.agent"):
        setup.deployer.deploy_all({"deployments": [entry()]})
        setup.outbox.flush()
        setup.deployer.deploy_all({"deployments": [entry()]})
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("hearth.agent")]
    label = "deployment dep-1 (10_probe): "
    folder = setup.layout.runs_dir / "dep-1" / f"CREATE-{config_checksum('c')[:12]}"
    assert lines == [
        (f"{label}started: CREATE with hook {setup.hooks / 'probe'}, timeout none, artifacts in {folder}"),
        f"{label}finished failed: exit 3, deploy_status_code 3; signal queued",
        "signal for deployment dep-1 delivered (200)",
        f"{label}skipped: already done for CREATE of this config",
    ]
    assert not any(SECRET in line for line in caplog.text.splitlines())
