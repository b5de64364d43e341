"""Fault-injection tools for the agent's end-to-end tests: a recording HTTP relay between agents
and the server, SIGKILL of an agent with its hooks, agent processes started by the test, and the
lines the test hooks append to a file outside the agent's state directory."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

AGENT = Path(sys.executable).parent / "hearth-agent"
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
UPSTREAM_TIMEOUT = 120.0  # longer than any long-poll the server holds (60 s + jitter)


# -- the relay --------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request an agent made through the relay. `reached` is when the server took it
    (a long-poll is then held there until `finished`); `status` stays None when the relay could
    not get an answer from the server (down, or refused by the test)."""

    started: float
    method: str
    path: str
    body: bytes
    reached: float | None = None
    status: int | None = None
    finished: float | None = None
    error: str = ""


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the agent's requests.Session expects
    proxy: RecordingProxy

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        exchange = self.proxy.record(self.command, self.path, body)
        answer = self.proxy.forward(exchange, dict(self.headers.items()))
        if answer is None:
            # Close without a word: the agent sees what a dead server gives it, a connection
            # that ends with no answer, not a 502 from a relay it does not know about.
            self.close_connection = True
            return
        status, headers, payload = answer
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP | {"server", "date"}:
                    self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD" and status not in (204, 304):
                self.wfile.write(payload)
        except OSError:  # the agent was killed while the server answered
            self.close_connection = True

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET


class RecordingProxy:
    """An HTTP relay on 127.0.0.1 that the agents use as their server (the server's `public_url`
    points at it). It records every request with its time, path, body and answer, so a test
    counts what reached the server; `refusing` makes it drop every connection unanswered, as an
    unreachable server would, while the real server stays up."""

    def __init__(self) -> None:
        self.upstream_port: int | None = None
        self.refusing = threading.Event()
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        handler = type("Relay", (_Relay,), {"proxy": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a killed agent's socket
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="relay", daemon=True)
        self._thread.start()

    def record(self, method: str, path: str, body: bytes) -> Exchange:
        exchange = Exchange(time.time(), method, path, body)
        with self._lock:
            self.exchanges.append(exchange)
        return exchange

    def forward(self, exchange: Exchange, headers: dict) -> tuple[int, list, bytes] | None:
        if self.refusing.is_set() or self.upstream_port is None:
            exchange.error, exchange.finished = "refused by the test", time.time()
            return None
        headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            connection.request(exchange.method, exchange.path, body=exchange.body or None, headers=headers)
            exchange.reached = time.time()
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            exchange.error, exchange.finished = f"{type(error).__name__}: {error}", time.time()
            return None
        finally:
            connection.close()
        exchange.status, exchange.finished = response.status, time.time()
        return response.status, response.getheaders(), payload

    def snapshot(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    def signals(self) -> list[Exchange]:
        """Every deployment signal the agents sent, in the order they arrived."""
        return [e for e in self.snapshot() if e.method in ("POST", "PUT") and SIGNAL_PATH.match(e.path)]

    def polls(self, server_id: str) -> list[Exchange]:
        """The metadata requests of one server's agent, in the order they arrived."""
        return [
            e
            for e in self.snapshot()
            if e.method == "GET" and e.path.startswith(f"/guest/v1/servers/{server_id}/metadata")
        ]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SIGNAL_PATH = re.compile(r"^/guest/v1/deployments/([^/?]+)/signal")


# -- agent processes --------------------------------------------------------------------------


def start_agent(home: Path, log: Path) -> subprocess.Popen:
    """`hearth-agent` on a local server's bootstrap and state directory, in a session of its
    own (as the local driver starts it), without the test's HEARTH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    with open(log, "ab") as output:
        return subprocess.Popen(
            [str(AGENT), "--bootstrap", str(home / "bootstrap.json"), "--state-dir", str(home / "state")],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=str(home),
        )


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                table[int(entry.name)] = fields
    return table


def _stat(pid: int) -> tuple[int, int, str] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), fields[0]


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (the agent starts hooks from its threads): a few
    small reads, so the frozen agent's hook runs on for as short a time as possible."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN: scan every process
            return [p for p, (ppid, _, _) in _process_table().items() if ppid == pid]
        except OSError:
            continue
    return found


def kill_agent_and_hooks(pid: int) -> set[int]:
    """SIGKILL an agent and every process it started (its hooks run in groups of their own), as
    a machine that loses power or a cgroup that is killed would. The agent is frozen first so
    it cannot start a hook, or see its hook die and report that, in between. The process
    groups killed, for `live_members`."""
    os.kill(pid, signal.SIGSTOP)
    family, frontier = {pid}, [pid]
    while frontier:
        children = [child for child in _children(frontier.pop()) if child not in family]
        family.update(children)
        frontier.extend(children)
    groups = {stat[1] for stat in map(_stat, family) if stat} - {0, 1, os.getpgrp()}
    os.kill(pid, signal.SIGKILL)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return groups


def live_members(groups: set[int]) -> list[int]:
    """Processes of these groups that still run (zombies waiting to be reaped do not)."""
    return [p for p, (_, group, state) in _process_table().items() if group in groups and state != "Z"]


def stop_agent(process: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM and the exit status; SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


# -- what the test hooks write ------------------------------------------------------------------

# A `script` config that records each run, outside the agent's state directory: a start line
# before its work and a done line after it, with a token unique to the run that it also prints,
# so the signal the server receives names the run it reports.
RECORDING_SCRIPT = r"""#!/bin/sh
token="$$-$(date +%s%N)"
printf 'start %s %s %s %s\n' "$label" "$token" "$(date +%s.%N)" "$duration" >> "$lines"
sleep "$duration"
printf 'done %s %s %s\n' "$label" "$token" "$(date +%s.%N)" >> "$lines"
printf 'ran %s %s\n' "$label" "$token"
"""
RAN = re.compile(r"ran (\S+) (\d+-\d+)")


@dataclass
class HookRun:
    label: str
    token: str
    started: float
    duration: float
    position: int  # of its start line in the file
    done_position: int | None = None
    finished: float | None = None  # the time in its done line


def read_runs(path: Path) -> list[HookRun]:
    """The runs recorded in `path`, in the order they started (a line still being written is
    left out)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    runs: dict[str, HookRun] = {}
    for position, line in enumerate(text.splitlines(keepends=True)):
        words = line.split()
        if not line.endswith("\n") or not words:
            continue
        if words[0] == "start" and len(words) == 5:
            runs[words[2]] = HookRun(words[1], words[2], float(words[3]), float(words[4]), position)
        elif words[0] == "done" and len(words) == 4 and words[2] in runs:
            runs[words[2]].done_position, runs[words[2]].finished = position, float(words[3])
    return sorted(runs.values(), key=lambda run: run.position)


def runs_in(directory: Path) -> set[tuple[str, str]]:
    """(label, token) of the runs named in the finished files under `directory` (atomic
    writes' temporary files start with a dot and are left out: the agent ignores them too)."""
    found = set()
    for path in directory.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            try:
                found.update(match.groups() for match in RAN.finditer(path.read_text(errors="replace")))
            except OSError:
                continue
    return found


def runs_signalled(proxy: RecordingProxy) -> set[tuple[str, str]]:
    """(label, token) of the runs named in the signals that reached the relay."""
    return {match.groups() for e in proxy.signals() for match in RAN.finditer(e.body.decode(errors="replace"))}
