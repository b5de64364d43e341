#!/usr/bin/env python3
"""How fast a fleet runs itself: a real `hearth server` (SQLite, the local compute driver: every
server a real agent process), the two examples of docs/fleets.md, each measured `--repeat` times.

- scale-out: a member's agent queues a sample over the busy alarm's threshold (`hearth-agent
  metric put`) → the group has a new member whose deployment is COMPLETE (its report is in the
  group's outputs). Between repetitions the tier is brought back to one member (load under
  the idle alarm's threshold, after the cooldown), which is not timed.
- heal: the agent of one member is killed with SIGKILL and kept down (the supervisor's restart
  delay is an hour) → that member has a new server whose deployment is COMPLETE.

Settings (printed with the figures): alarms evaluated every `--evaluation` s over a `--period`
s period; an agent gone after `longpoll_max_wait` + `agent_gone_grace` (`--gone` s each);
health checks every `--check-interval` s, two in a row. Prints; asserts nothing.

    .venv/bin/python bench/fleet_response.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from local_server import BIN, hearth, local_server, until  # noqa: E402
from machine import describe, percentile  # noqa: E402

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
    raise SystemExit(f"bench: no agent runs for server {server_id}")


def outputs(env: dict, stack: str) -> dict:
    return json.loads(hearth(env, "output", "show", stack, "-f", "json"))


def metric_put(data_dir: str, server: str, value: float) -> None:
    state = Path(data_dir) / "servers" / server / "state"
    command = [str(BIN / "hearth-agent"), "metric", "put", "bench_load", str(value), "--state-dir", str(state)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def scale_out(env: dict, data_dir: str, repeat: int, cooldown: float) -> list[float]:
    template = EXAMPLES / "autoscaling-web" / "autoscaling-web.yaml"
    hearth(env, "stack", "create", "tier", "-t", str(template), "--parameter", "meter=bench_load",
        "--parameter", "period=5", "--parameter", f"cooldown={cooldown:g}", "--parameter", "max_size=2", "--wait")  # fmt: skip
    times = []
    for _ in range(repeat):
        (member,) = outputs(env, "tier")["servers"]
        start = time.monotonic()
        metric_put(data_dir, member, 90)
        until(lambda: len([r for r in outputs(env, "tier")["reports"] if r]) == 2, 120, "the tier to grow")
        times.append(time.monotonic() - start)

        def shrunk():
            out = outputs(env, "tier")
            for server in out["servers"]:
                if server:
                    metric_put(data_dir, server, 5)
            return out["size"] == 1

        until(shrunk, 120, "the tier to shrink back", every=1.0)
    hearth(env, "stack", "delete", "tier", "--wait")
    return times


def heal(env: dict, data_dir: str, repeat: int, interval: float) -> list[float]:
    template = EXAMPLES / "self-healing" / "self-healing.yaml"
    hearth(env, "stack", "create", "pool", "-t", str(template), "--parameter", f"check_interval={interval:g}",
        "--parameter", "grace_period=5", "--wait")  # fmt: skip
    times = []
    for _ in range(repeat):
        before = outputs(env, "pool")
        victim = before["servers"][0]
        os.kill(agent_of(data_dir, victim), signal.SIGKILL)
        start = time.monotonic()

        def healed(victim=victim):
            out = outputs(env, "pool")
            return out["servers"][0] not in (victim, None) and all(out["reports"])

        until(healed, 300, "the member to be replaced")
        times.append(time.monotonic() - start)
        time.sleep(6)  # let the replacement pass its grace period before the next kill
    hearth(env, "stack", "delete", "pool", "--wait")
    return times


def summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    runs = ", ".join(f"{t:.1f}" for t in times)
    return f"{name:<10} p50 {percentile(ordered, 0.5):5.1f} s  max {ordered[-1]:5.1f} s  ({len(times)} runs: {runs})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--evaluation", type=float, default=1.0, help="alarm_evaluation_interval, seconds")
    parser.add_argument("--gone", type=int, default=3, help="longpoll_max_wait and agent_gone_grace, seconds")
    parser.add_argument("--check-interval", type=float, default=2.0, help="health_check interval, seconds")
    parser.add_argument("--cooldown", type=float, default=5.0)
    args = parser.parse_args()
    settings = {
        "HEARTH_LONGPOLL_MAX_WAIT": str(args.gone),
        "HEARTH_AGENT_GONE_GRACE": str(args.gone),
        "HEARTH_AGENT_RESTART_DELAY": "3600",
        "HEARTH_ALARM_EVALUATION_INTERVAL": str(args.evaluation),
    }
    with local_server("hearth-bench-fleet-", settings) as (env, tmp, db):
        for line in describe(db):
            print(line)
        print(
            f"settings: alarm_evaluation_interval {args.evaluation:g} s, alarm period 5 s, cooldown {args.cooldown:g} s; "
            f"longpoll_max_wait {args.gone} s + agent_gone_grace {args.gone} s; health check every "
            f"{args.check_interval:g} s, 2 in a row"
        )
        print(summary("scale-out", scale_out(env, tmp, args.repeat, args.cooldown)))
        print(summary("heal", heal(env, tmp, args.repeat, args.check_interval)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
