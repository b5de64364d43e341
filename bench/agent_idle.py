#!/usr/bin/env python3
"""What an idle hearth-agent costs: its RSS and how often its threads wake up, over a quiet window.

Starts a stand-in guest API on 127.0.0.1 (stdlib HTTP: ``GET .../metadata?since=V&wait=S``
held until the wait runs out, then 304, as docs/guest-api.md says; signals accepted) and one
real ``python -m agent.main`` process with ``--poll-wait`` (default 55). Once the agent has
processed its metadata, it watches the process for ``--seconds`` (default 60) without changing
anything and prints:

* VmRSS from /proc/<pid>/status at the start and the end of the window;
* context switches (voluntary + involuntary), summed over /proc/<pid>/task/*/status: each is
  a thread going to sleep or being woken, so per minute they measure idle wake-ups;
* the HTTP requests the stand-in saw in the window (long-polls and signals).

``--collectors hearth,local`` adds a watched (empty) directory; ``--agent-root DIR`` measures
another code tree (e.g. an older commit exported with ``git archive``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from machine import cpu_model  # noqa: E402

CREDENTIAL = "hgc_bench-credential"
SERVER_ID = "bench-server"


class StandIn:
    """A long-poll metadata endpoint that never changes after version 1; counts requests."""

    def __init__(self, max_wait: float = 60.0):
        self.requests: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                state.record(f"GET {parts.path}")
                since = query.get("since", [None])[0]
                wait = min(float(query.get("wait", ["0"])[0]), max_wait)
                if since == "1":
                    time.sleep(wait)  # nothing ever changes: hold the poll, then 304
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.reply(200, {"version": "1", "metadata": {"deployments": []}})

            def do_POST(self):
                state.record(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.reply(200, {"status": "COMPLETE"})

            def reply(self, status, document):
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, what: str) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), what))

    def count_since(self, since: float) -> int:
        with self.lock:
            return sum(1 for at, _ in self.requests if at >= since)


def proc_status(pid: int, task: str | None = None) -> dict[str, str]:
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    fields = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def switches(pid: int) -> dict[str, int]:
    """Context switches per thread (tid → voluntary + involuntary)."""
    counts = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            status = proc_status(pid, task)
        except FileNotFoundError:
            continue  # a thread that just ended
        counts[task] = int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])
    return counts


def rss_kib(pid: int) -> int:
    return int(proc_status(pid)["VmRSS"].split()[0])


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"agent_idle: timed out waiting for {what}")
        time.sleep(0.1)


def start_agent(workdir: Path, url: str, args) -> subprocess.Popen:
    collectors = [c for c in args.collectors.split(",") if c]
    document: dict[str, Any] = {
        "server_id": SERVER_ID,
        "base_url": url,
        "credential": CREDENTIAL,
        "collectors": collectors,
    }
    if "local" in collectors:
        local = workdir / "local-data"
        local.mkdir(mode=0o700)
        document["local"] = {"path": [str(local)]}
    boot = workdir / "bootstrap.json"
    boot.write_text(json.dumps(document))
    boot.chmod(0o600)
    env = {**os.environ, "PYTHONPATH": str(args.agent_root)}
    log = open(workdir / "agent.log", "wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.main",
            "--bootstrap",
            str(boot),
            "--state-dir",
            str(workdir / "state"),
            "--poll-wait",
            str(args.poll_wait),
            "--log-level",
            "WARNING",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def idle_status(state: Path) -> bool:
    try:
        return json.loads((state / "status.json").read_text()).get("state") == "idle"
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument("--poll-wait", type=float, default=55.0, help="the agent's --poll-wait (default 55)")
    parser.add_argument("--collectors", default="hearth", help="comma list (default hearth)")
    parser.add_argument(
        "--agent-root", type=Path, default=ROOT, help="code tree holding the agent package (default: this checkout)"
    )
    args = parser.parse_args()

    standin = StandIn()
    with tempfile.TemporaryDirectory(prefix="hearth-agent-idle-") as tmp:
        agent = start_agent(Path(tmp), standin.url, args)
        try:
            wait_until(lambda: idle_status(Path(tmp) / "state"), 30, "the first pass")
            time.sleep(1.0)  # let start-up settle (imports, first long-poll) before measuring
            began, before, rss_before = time.monotonic(), switches(agent.pid), rss_kib(agent.pid)
            time.sleep(args.seconds)
            after, rss_after = switches(agent.pid), rss_kib(agent.pid)
            minutes = (time.monotonic() - began) / 60
            requests = standin.count_since(began)
        finally:
            agent.terminate()
            agent.wait(10)
    per_thread = sorted(((after[t] - before.get(t, 0)) / minutes for t in after), reverse=True)
    total = sum(per_thread)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"agent: {args.agent_root}, collectors {args.collectors}, --poll-wait "
        f"{args.poll_wait:g}, window {minutes * 60:.0f} s"
    )
    print(f"RSS: {rss_before / 1024:.1f} MiB at the start, {rss_after / 1024:.1f} MiB at the end")
    print(
        f"wake-ups: {total:.1f}/min (context switches, all {len(after)} threads); "
        f"per thread: {', '.join(f'{x:.1f}' for x in per_thread)}"
    )
    print(f"HTTP requests seen by the stand-in: {requests / minutes:.1f}/min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
