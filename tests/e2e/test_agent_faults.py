"""Faults around the agent: kill -9 in the middle of hooks, a metadata server that goes away for a
while, a corrupt metadata cache. Real servers on 127.0.0.1, real agent processes, the real
`script` hook; the agents reach the server through a recording relay (tests/e2e/faults_support.py)
so a test can count what they sent and see when they sent it."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.faults_support import (
    RAN,
    RECORDING_SCRIPT,
    SIGNAL_PATH,
    RecordingProxy,
    kill_agent_and_hooks,
    live_members,
    read_runs,
    runs_in,
    runs_signalled,
)
from tests.e2e.test_end_to_end import agent_pids
from tests.support import AUTH, ServerProcess, start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e


def recording_template(deployments: dict[str, tuple[str, float]], parameters: tuple[str, ...] = ()) -> str:
    """A HOT template (as JSON, which is YAML) whose deployments run RECORDING_SCRIPT.

    `deployments` maps a label to (the server it runs on: a resource name of a server this
    template makes, or `{param}` for a server id given as a parameter; how long it sleeps).
    """
    resources: dict = {
        "config": {
            "type": "OS::Heat::SoftwareConfig",
            "properties": {
                "group": "script",
                "config": RECORDING_SCRIPT,
                "inputs": [{"name": "label"}, {"name": "duration"}, {"name": "lines"}],
            },
        }
    }
    for label, (server, duration) in deployments.items():
        if server.startswith("{"):
            target = {"get_param": server.strip("{}")}
        else:
            target = {"get_resource": server}
            resources[server] = {
                "type": "OS::Nova::Server",
                "properties": {"image": "any", "flavor": "any", "user_data_format": "SOFTWARE_CONFIG"},
            }
        resources[label] = {
            "type": "OS::Heat::SoftwareDeployment",
            "properties": {
                "config": {"get_resource": "config"},
                "server": target,
                "input_values": {"label": label, "duration": f"{duration:g}", "lines": {"get_param": "lines"}},
            },
        }
    template = {
        "heat_template_version": "2018-08-31",
        "parameters": {name: {"type": "string"} for name in ("lines", *parameters)},
        "resources": resources,
    }
    return json.dumps(template, indent=1)


def server_homes(data_dir: Path, count: int) -> list[Path]:
    """The local driver's per-server folders (bootstrap.json and state/), once all exist."""
    return wait_for(
        lambda: (lambda homes: homes if len(homes) == count else None)(
            sorted(p.parent for p in (data_dir / "servers").glob("*/bootstrap.json"))
        ),
        30,
        message=f"{count} local server folder(s)",
    )


# -- 1. kill -9 during hooks ----------------------------------------------------------------------

KILLS = 20
# The local driver's restart backoff, shortened so that a test can kill an agent many times.
QUICK_RESTARTS = {"agent_restart_delay": 0.05, "agent_restart_max_delay": 0.2}
HOOK_SECONDS = (0.15, 0.45)
RUNNING_HOOK_KILLS = 15  # kills that must land while the chosen hook still runs


@dataclass
class Kills:
    times: list = field(default_factory=list)  # when each agent was frozen and killed
    in_hook: int = 0  # kills that landed before the chosen hook's done line
    handed_over: set = field(default_factory=set)  # (label, token) seen in outbox/ or sent


def test_kill_9_during_hooks_twenty_times_reports_each_deployment_once(tmp_path):
    """Twenty times in a row, the agent and its hook are killed with SIGKILL at a random moment
    while a hook runs, and the agent is started again on the same state directory; then it may
    finish. Each deployment must reach the server in exactly one signal, from one run, and no
    run whose result was handed over may run again (a run killed before that may).

    How "reported once" is counted: the agents' only way to the server is the relay, which
    records every signal request's body. Each hook run prints a token of its own, so a body
    names the run it reports. Per deployment, all bodies must name one run; the same body
    twice is allowed only when the agent was killed between the two attempts (it cannot know
    that the first one arrived; the server takes the same signal twice harmlessly).
    "Handed over" is seen from outside: the run's token is in a finished file under the
    agent's `outbox/`, looked at after each kill, or in a signal the relay received.
    """
    seed = int(os.environ.get("HEARTH_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"seed {seed}: HEARTH_FAULT_SEED={seed} replays the same random choices")
    rng = random.Random(seed)
    began = time.monotonic()
    durations = {f"deploy{n}": round(rng.uniform(*HOOK_SECONDS), 3) for n in range(1, 5)}
    lines = tmp_path / "hook-lines.txt"
    proxy = RecordingProxy()
    # The local driver restarts each killed agent (its supervisor), quickly for the test.
    hearth = start_server(tmp_path, public_url=proxy.url, **QUICK_RESTARTS)
    proxy.upstream_port = hearth.httpd.server_port
    try:
        template = recording_template({label: ("server", d) for label, d in durations.items()})
        hearth.create_stack("crashy", template, parameters={"lines": str(lines)})
        data_dir = Path(hearth.config.resolved_data_dir)
        (home,) = server_homes(data_dir, 1)
        first = wait_for(lambda: agent_pids(str(data_dir)), 30, message="the local driver's agent")[0]
        kills = _kill_during_hooks(rng, seed, first, home, lines, proxy, list(durations), str(data_dir))

        stack = hearth.wait_stack("crashy", ("CREATE_COMPLETE",), timeout=60)
        assert stack["stack_status"] == "CREATE_COMPLETE", f"seed {seed}: {stack['stack_status_reason']}"
        wait_for(
            lambda: not list((home / "state" / "outbox").glob("*.json")),
            30,
            message="the last agent's outbox to be empty",
        )
        agent = hearth.resources("crashy")["server"]
        shown = hearth.http.get(f"{hearth.api}/stacks/crashy/{stack['id']}/resources/server", timeout=30).json()
        assert shown["resource"]["attributes"]["agent"]["restarts"] == KILLS, shown
        assert agent["resource_status"] == "CREATE_COMPLETE"
        assert "Traceback" not in (home / "agent.log").read_text()
        kills.handed_over |= runs_signalled(proxy)

        runs = read_runs(lines)
        reported = _reported_once(proxy.signals(), kills.times, seed)
        assert sorted(reported) == sorted(durations), f"seed {seed}: signals for {sorted(reported)}"
        for label, token in reported.items():
            own = [run for run in runs if run.label == label]
            assert own[-1].token == token and own[-1].done_position is not None, (
                f"seed {seed}: {label}: the reported run {token} is not the last completed run: {own}"
            )
            handed = {t for name, t in kills.handed_over if name == label}
            assert handed == {token}, f"seed {seed}: {label}: runs handed over: {sorted(handed)}, reported {token}"
        assert kills.in_hook >= RUNNING_HOOK_KILLS, (
            f"seed {seed}: only {kills.in_hook} of {KILLS} kills landed while the hook ran: "
            "the machine is too slow for this test"
        )
        print(
            f"{KILLS} kills ({kills.in_hook} inside a running hook), {len(runs)} hook runs "
            f"({len(runs) - len(durations)} re-runs of killed runs), {len(proxy.signals())} signal "
            f"requests, {time.monotonic() - began:.1f} s"
        )
    finally:
        stop_server(hearth)
        proxy.stop()


def _kill_during_hooks(rng, seed, pid, home, lines, proxy, labels, data_dir) -> Kills:
    """KILLS times: wait for the start line of the n-th hook this agent runs (n chosen at
    random among the deployments it still has to do, mostly the first), kill the agent and its
    hooks at a random moment within that hook's sleep, and wait for the local driver to start a
    new agent on the same state directory."""
    kills, before = Kills(), 0
    for number in range(1, KILLS + 1):
        pending = [label for label in labels if label not in {name for name, _ in kills.handed_over}]
        assert pending, f"seed {seed}: every deployment was handed over before kill {number}"
        nth = 1 if len(pending) == 1 or rng.random() < 0.7 else rng.randint(2, len(pending))

        def nth_start(before=before, nth=nth):
            runs = read_runs(lines)
            return runs[before + nth - 1] if len(runs) >= before + nth else None

        target = wait_for(nth_start, 30, 0.005, f"hook start {nth} after restart {number - 1} (seed {seed})")
        pause = target.started + rng.uniform(0, target.duration) - time.time()
        if pause > 0:
            time.sleep(pause)  # the fault's random moment inside the hook, not a wait on a condition
        kills.times.append(time.time())
        groups = kill_agent_and_hooks(pid)
        wait_for(
            lambda groups=groups: not live_members(groups), 10, message="the killed agent and its hooks to be gone"
        )
        runs = read_runs(lines)
        finished = next(run for run in runs if run.token == target.token).finished
        kills.in_hook += finished is None or finished > kills.times[-1]
        kills.handed_over |= runs_in(home / "state" / "outbox") | runs_signalled(proxy)
        before = len(runs)
        killed = pid
        pid = wait_for(
            lambda killed=killed: next((p for p in agent_pids(data_dir) if p != killed), None),
            30,
            message=f"the local driver to restart the agent after kill {number}",
        )
    return kills


def _reported_once(signals, kill_times: list[float], seed: int) -> dict[str, str]:
    """label -> token of the run each deployment entry reported, checking that each entry was
    reported by one run and sent again only across a kill."""
    attempts = defaultdict(list)
    for exchange in signals:
        attempts[SIGNAL_PATH.match(exchange.path).group(1)].append(exchange)
    reported = {}
    for entry, sent in attempts.items():
        runs = {match.groups() for e in sent for match in RAN.finditer(e.body.decode(errors="replace"))}
        assert len(runs) == 1, f"seed {seed}: entry {entry} was reported by {len(runs)} runs: {sorted(runs)}"
        ((label, token),) = runs
        assert label not in reported, f"seed {seed}: {label} was reported under two entry ids"
        reported[label] = token
        for first, again in itertools.pairwise(sent):
            across_a_kill = any(first.started < t < again.started for t in kill_times)
            assert first.status is None or first.status >= 500 or across_a_kill, (
                f"seed {seed}: {label}: the signal was sent again after the server answered "
                f"{first.status}, with no crash in between"
            )
        assert any(e.status is not None and 200 <= e.status < 300 for e in sent), (
            f"seed {seed}: {label}: no attempt was accepted: {[e.status for e in sent]}"
        )
        assert json.loads(sent[-1].body)["deploy_status_code"] == 0, f"seed {seed}: {label}: {sent[-1].body!r}"
    return reported


# -- 2. the metadata server away for a while ------------------------------------------------------

RECONNECT_SPREAD = 0.1  # seconds; with full jitter three agents fall closer together ~1 run in 1000


def _cached(home: Path) -> dict | None:
    """The agent's cached metadata document, {version, metadata, ...}: the cache file under
    `cache/` that holds one (its name is the agent's business: `metadata.json`, or one file
    per collector)."""
    for path in sorted((home / "state" / "cache").glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and isinstance(document.get("metadata"), dict) and "version" in document:
            return document
    return None


def _statuses(home: Path) -> dict:
    try:
        return json.loads((home / "state" / "status.json").read_text()).get("deployments") or {}
    except (OSError, ValueError):
        return {}


def _labels(document: dict) -> list[str]:
    """The `label` inputs of the deployments in a cached metadata document."""
    return [
        i.get("value")
        for entry in document["metadata"]["deployments"]
        for i in entry.get("inputs", [])
        if i.get("name") == "label"
    ]


def _entry_ids(document: dict | None) -> set[str]:
    return {entry["id"] for entry in ((document or {}).get("metadata") or {}).get("deployments") or []}


def _outage(tmp_path: Path, outage: float) -> None:
    """Three local servers, each with one deployment done; the server process dies (SIGKILL:
    with the local driver the agents are the server's children, and a graceful stop would stop
    them with it, where real machines would live on) and comes back `outage` seconds later on
    the same port and database.

    While it is away every agent stays up and keeps its last metadata and its record of what
    it ran. When it is back the agents reconnect at jittered moments: they all lost it at the
    same instant (each was holding a long-poll), so without jitter they would come back
    together. The relay sees each agent's requests; it drops them unanswered while the server
    is down, as a dead server would.

    The new deployment is created right after the restart, before any agent has reconnected
    unless one retries at that very moment: the orchestration API and the guest API are one
    process here, so nothing can create it while that process is down short of writing the
    database behind the engine's back or running a second engine on it, both less honest than
    this. To the agents it is the same: they come back with the version they had and find a
    deployment they have not seen.
    """
    proxy = RecordingProxy()
    data_dir = tmp_path / "data"
    server = ServerProcess(
        tmp_path, args=["--db", f"sqlite:///{tmp_path}/h.db", "--data-dir", str(data_dir), "--public-url", proxy.url]
    )
    proxy.upstream_port = server.port
    lines = tmp_path / "hook-lines.txt"
    api = f"{server.url}/v1/admin/stacks"
    try:
        server.start()
        template = recording_template({label: (f"server_{label}", 0) for label in ("one", "two", "three")})
        body = {"stack_name": "steady", "template": template, "parameters": {"lines": str(lines)}}
        assert requests.post(api, json=body, headers=AUTH, timeout=10).status_code == 201
        wait_for(lambda: server.stack("steady")["stack_status"] != "CREATE_IN_PROGRESS", 90, 0.1, "the first stack")
        assert server.stack("steady")["stack_status"] == "CREATE_COMPLETE", server.stack("steady")[
            "stack_status_reason"
        ]
        homes = {home.name: home for home in server_homes(data_dir, 3)}
        before = {sid: _cached(home) for sid, home in homes.items()}
        assert all(len(_entry_ids(doc)) == 1 for doc in before.values()), before

        def holding_a_poll(sid):
            return any("since=" in e.path and e.finished is None for e in proxy.polls(sid))

        wait_for(lambda: all(map(holding_a_poll, homes)), 30, message="every agent to hold a long-poll")

        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        killed = time.time()
        ends = time.monotonic() + outage

        def unchanged():
            assert len(agent_pids(str(data_dir))) == 3, "an agent died while the server was away"
            for sid, home in homes.items():
                assert _cached(home) == before[sid], f"agent {sid} lost its cached metadata"
                (entry,) = _entry_ids(before[sid])
                assert _statuses(home).get(entry, {}).get("status") == "complete", _statuses(home)
            return True

        def failed_since_kill(sid):
            return any(e.started > killed and e.status is None for e in proxy.polls(sid))

        wait_for(lambda: unchanged() and all(map(failed_since_kill, homes)), 30, message="every agent to notice")
        wait_for(lambda: unchanged() and time.monotonic() >= ends, outage + 30, 0.25, f"{outage:g} s of outage")

        server.start()
        listening = time.time()
        one = next(sid for sid in homes if _labels(before[sid]) == ["one"])
        late = {
            "stack_name": "late",
            "template": recording_template({"late": ("{server}", 0)}, ("server",)),
            "parameters": {"lines": str(lines), "server": one},
        }
        assert requests.post(api, json=late, headers=AUTH, timeout=10).status_code == 201
        created = time.time()

        def first_reaching(sid):
            reaching = [e for e in proxy.polls(sid) if e.started > killed and e.reached is not None]
            return reaching[0] if reaching else None

        wait_for(lambda: all(map(first_reaching, homes)), 45, message="every agent to reconnect")
        back = sorted(first_reaching(sid).started for sid in homes)
        print(
            f"outage {outage:g} s (restarted after {listening - killed:.1f} s): agents back "
            f"{[round(t - listening, 2) for t in back]} s after the server listened; the new deployment "
            f"was created {created - listening:.2f} s after it"
        )
        assert back[-1] - back[0] >= RECONNECT_SPREAD, f"the agents reconnected together: {back}"

        wait_for(lambda: server.stack("late")["stack_status"] != "CREATE_IN_PROGRESS", 60, 0.1, "the new deployment")
        assert server.stack("late")["stack_status"] == "CREATE_COMPLETE", server.stack("late")["stack_status_reason"]
        runs = read_runs(lines)
        assert sorted(run.label for run in runs) == ["late", "one", "three", "two"], runs  # nothing ran twice
        assert all(run.done_position is not None for run in runs)
        assert len(agent_pids(str(data_dir))) == 3

        for name in ("late", "steady"):
            stack = server.stack(name)
            assert requests.delete(f"{api}/{name}/{stack['id']}", headers=AUTH, timeout=10).status_code == 204
            wait_for(
                lambda stack=stack: server.stack(stack["id"])["stack_status"] == "DELETE_COMPLETE",
                30,
                0.1,
                f"delete {name}",
            )
        wait_for(lambda: not agent_pids(str(data_dir)), 15, message="the agents to stop")
        server.stop()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        for pid in agent_pids(str(data_dir)):  # left running only when the test failed
            os.kill(pid, signal.SIGKILL)
        proxy.stop()


def test_server_away_five_seconds_agents_keep_metadata_and_reconnect_with_jitter(tmp_path):
    _outage(tmp_path, 5)


@pytest.mark.slow
def test_server_away_one_minute_agents_keep_metadata_and_reconnect_with_jitter(tmp_path):
    _outage(tmp_path, 60)


# -- 3. a corrupt cache ------------------------------------------------------------------------

GARBAGE = b"\x00\x9fnot json {{{"


def test_corrupt_cache_is_set_aside_and_written_again(tmp_path):
    """Garbage in every cache/*.json of a frozen agent, which is then killed; the local driver
    starts it again while the server cannot be reached (the relay drops every request), so it
    cannot simply overwrite the file: it must notice the garbage, say so, move it aside, and
    keep running without running the done deployment again. Once the server answers, it writes
    a good cache again."""
    lines = tmp_path / "hook-lines.txt"
    proxy = RecordingProxy()
    hearth = start_server(tmp_path, public_url=proxy.url, **QUICK_RESTARTS)
    proxy.upstream_port = hearth.httpd.server_port
    try:
        hearth.create_stack("cached", recording_template({"only": ("server", 0)}), parameters={"lines": str(lines)})
        assert hearth.wait_stack("cached", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
        data_dir = str(hearth.config.resolved_data_dir)
        (home,) = server_homes(Path(data_dir), 1)
        log = home / "agent.log"
        cache = home / "state" / "cache"
        good = _cached(home)
        assert _entry_ids(good), good
        (old,) = agent_pids(data_dir)
        proxy.refusing.set()
        os.kill(old, signal.SIGSTOP)  # frozen, it cannot write its cache while we spoil it
        files = sorted(cache.glob("*.json"))
        assert files, "the agent wrote no cache file"
        for path in files:
            path.write_bytes(GARBAGE)
        started = time.time()
        os.kill(old, signal.SIGKILL)
        agent = wait_for(
            lambda: next((p for p in agent_pids(data_dir) if p != old), None),
            30,
            message="the local driver to restart the agent",
        )

        def set_aside():
            assert agent in agent_pids(data_dir), log.read_text()
            return all(not path.exists() or path.read_bytes() != GARBAGE for path in files) and [
                path for path in cache.iterdir() if ".corrupt" in path.name and path.read_bytes() == GARBAGE
            ]

        moved = wait_for(set_aside, 30, message="the corrupt cache to be moved aside")
        for path in files:
            assert any(aside.name.startswith(path.name + ".corrupt") for aside in moved), (path, moved)
            # The agent logs after it moves the file: wait for the line, not one read of the log.
            complaint = wait_for(
                lambda path=path: [
                    line for line in log.read_text().splitlines() if "corrupt" in line.lower() and path.name in line
                ],
                10,
                message=f"the agent to log that {path.name} is corrupt",
            )
            assert any(level in complaint[0] for level in ("WARNING", "ERROR")), log.read_text()
        wait_for(
            lambda: len([e for e in proxy.snapshot() if e.started > started]) >= 3,
            30,
            message="the agent to try the unreachable server again",
        )
        assert agent in agent_pids(data_dir), log.read_text()

        proxy.refusing.clear()
        fresh = wait_for(
            lambda: (lambda doc: doc if _entry_ids(doc) else None)(_cached(home)),
            45,
            message="a good cache once the server answers",
        )
        assert _entry_ids(fresh) == _entry_ids(good) and fresh["version"] == good["version"]
        assert [run.label for run in read_runs(lines)] == ["only"]  # the done deployment did not run again
        assert agent_pids(data_dir) == [agent]
        assert "Traceback" not in log.read_text()
    finally:
        stop_server(hearth)
        proxy.stop()
