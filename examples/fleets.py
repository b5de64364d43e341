#!/usr/bin/env python3
"""`make demo-healing` and `make demo-autoscaling`: a fleet running itself, on a throw-away
embedded Hearth (SQLite, the local compute driver: every server is a real agent process).

    python examples/fleets.py healing      # kill one member's agent, watch the pool replace it
    python examples/fleets.py autoscaling  # push a metric over the alarm's threshold, watch the
                                           # group grow, then fall, and watch it shrink

Each step prints the `hearth` command it runs, so the same can be done by hand against any
Hearth (docs/fleets.md walks through both). The server is started with short liveness settings
(an agent counts as gone 6 s after its last poll) so that the demo takes a minute, not ten.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo import BIN, ROOT, agents_running, free_port, hearth, wait_until_listening

EXAMPLES = ROOT / "examples" / "templates"


def agent_of(data_dir: str, server_id: str) -> int:
    """The pid of the agent process the local driver runs for `server_id`."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "agent.main" in cmdline and data_dir in cmdline and server_id in cmdline:
            return int(proc.name)
    raise SystemExit(f"demo: no agent runs for server {server_id}")


def outputs(stack: str, env: dict) -> dict:
    return json.loads(hearth("output", "show", stack, "-f", "json", env=env, capture=True))


def events_of(stack: str, resource: str, env: dict) -> list[dict]:
    listed = subprocess.run(
        [str(BIN / "hearth"), "event", "list", stack, "-f", "json"], env=env, text=True, capture_output=True
    )
    if listed.returncode != 0:
        raise SystemExit(f"demo: 'hearth event list {stack}' failed: {listed.stderr.strip()}")
    return [e for e in json.loads(listed.stdout) if e.get("resource_name") == resource]


def watch(stack: str, resource: str, env: dict, until: str, seconds: float) -> float:
    """Print the resource's new events until one's reason contains `until`; the time it took."""
    start, seen = time.monotonic(), set()
    print(f"\nEvents of '{resource}' (until one says '{until}'):", flush=True)
    while time.monotonic() - start < seconds:
        for event in events_of(stack, resource, env):
            if event["id"] in seen:
                continue
            seen.add(event["id"])
            reason = event["resource_status_reason"]
            print(f"  {event['event_time']}  {event['resource_status']:<20} {reason}", flush=True)
            if until in reason:
                return time.monotonic() - start
        time.sleep(1)
    raise SystemExit(f"demo: no event of '{resource}' said '{until}' within {seconds:g} s")


def healing(env: dict, data_dir: str) -> None:
    template = EXAMPLES / "self-healing" / "self-healing.yaml"
    hearth(
        "stack", "create", "web", "-t", str(template),
        "--parameter", "check_interval=2", "--parameter", "grace_period=5", "--wait", env=env,
    )  # fmt: skip
    before = outputs("web", env)
    print(f"\n  reports: {before['reports']}\n  servers: {before['servers']}")
    victim = before["servers"][0]
    pid = agent_of(data_dir, victim)
    print(f"\n$ kill -9 {pid}    # the agent of member 0 (server {victim}); it is not restarted")
    os.kill(pid, signal.SIGKILL)
    took = watch("web", "pool", env, "replaced (it was unhealthy", 180)
    after = outputs("web", env)
    print(f"\n  reports: {after['reports']}\n  servers: {after['servers']}")
    print(f"\nMember 0 was replaced {took:.0f} s after its agent died; the others were left alone.")
    hearth("stack", "delete", "web", "--wait", env=env)


def metric_put(data_dir: str, server_id: str, name: str, value: float, quiet: bool = False) -> None:
    """What a program on the member would run: queue a sample its agent delivers."""
    state = Path(data_dir) / "servers" / server_id / "state"
    command = [str(BIN / "hearth-agent"), "metric", "put", name, str(value), "--state-dir", str(state)]
    if not quiet:
        print(f"\n$ hearth-agent metric put {name} {value}    # on server {server_id}", flush=True)
    if subprocess.run(command, stdout=subprocess.DEVNULL if quiet else None).returncode != 0:
        raise SystemExit(f"demo: 'hearth-agent metric put' failed on {server_id}")


def autoscaling(env: dict, data_dir: str) -> None:
    template = EXAMPLES / "autoscaling-web" / "autoscaling-web.yaml"
    hearth(
        "stack", "create", "tier", "-t", str(template), "--parameter", "meter=demo_load",
        "--parameter", "period=5", "--parameter", "cooldown=10", "--parameter", "max_size=3", "--wait", env=env,
    )  # fmt: skip
    first = outputs("tier", env)
    print(f"\n  size: {first['size']}\n  reports: {first['reports']}")
    crossed = time.monotonic()
    metric_put(data_dir, first["servers"][0], "demo_load", 90)
    watch("tier", "web", env, "Scaled from 1 to 2", 120)
    grown = outputs("tier", env)
    print(f"\n  size: {grown['size']}\n  reports: {grown['reports']}")
    print(f"\nThreshold crossed to a second member serving: {time.monotonic() - crossed:.0f} s.")
    print("\nLoad falls on both members; the idle alarm asks to scale down, refused until the cooldown ends:")
    deadline = time.monotonic() + 120
    while outputs_quiet("tier", env)["size"] != 1:
        if time.monotonic() > deadline:
            raise SystemExit("demo: the tier did not shrink within 120 s")
        for server in outputs_quiet("tier", env)["servers"]:
            if server:
                metric_put(data_dir, server, "demo_load", 5, quiet=True)
        time.sleep(1)
    for event in events_of("tier", "web", env) + events_of("tier", "scale_down", env):
        print(
            f"  {event['event_time']}  {event['resource_name']:<11} {event['resource_status']:<18} {event['resource_status_reason']}"
        )
    print(f"\n  size: {outputs_quiet('tier', env)['size']}")
    hearth("stack", "delete", "tier", "--wait", env=env)


def outputs_quiet(stack: str, env: dict) -> dict:
    shown = subprocess.run(
        [str(BIN / "hearth"), "output", "show", stack, "-f", "json"], env=env, text=True, capture_output=True
    )
    if shown.returncode != 0:
        raise SystemExit(f"demo: 'hearth output show {stack}' failed: {shown.stderr.strip()}")
    return json.loads(shown.stdout)


def main(argv: list[str]) -> int:
    walks = {"healing": healing, "autoscaling": autoscaling}
    if len(argv) != 1 or argv[0] not in walks:
        print(f"usage: {Path(__file__).name} {'|'.join(walks)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hearth-fleet-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "HEARTH_URL": f"http://127.0.0.1:{port}",
            "HEARTH_DATA_DIR": tmp,
            # Agents poll for 3 s at most and count as gone 3 s after that; a killed agent is
            # restarted by its supervisor only after an hour: the demo's victim stays down.
            "HEARTH_LONGPOLL_MAX_WAIT": "3",
            "HEARTH_AGENT_GONE_GRACE": "3",
            "HEARTH_AGENT_RESTART_DELAY": "3600",
            # Alarms evaluated every second (10 by default).
            "HEARTH_ALARM_EVALUATION_INTERVAL": "1",
        }
        command = [
            str(BIN / "hearth"), "server", "--db", f"sqlite:///{tmp}/hearth.db", "--data-dir", tmp,
            "--port", str(port), "--compute", "local", "--log-level", "WARNING",
        ]  # fmt: skip
        server = subprocess.Popen(command, env=env)
        try:
            wait_until_listening(port, server)
            walks[argv[0]](env, tmp)
        finally:
            server.terminate()
            server.wait(timeout=30)
        left = agents_running(tmp)
        if left:
            raise SystemExit(f"demo: agent processes left running: {left}")
    print("\nDemo finished: the stack was deleted, the server stopped, no agent is left.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
