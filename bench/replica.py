"""A real `hearth server` process for a benchmark: starts it (the console script's entry point, in a
fresh interpreter), waits until it answers, reads its process tree's RSS, threads and CPU from
/proc, and stops it. Touches nothing of the store itself.

Every replica of one run shares the database and the data dir (so the secret key): that is what
makes them replicas of one installation. Their log goes to a file in the data dir.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Replica:
    """One `hearth server` subprocess on 127.0.0.1:`port`."""

    def __init__(self, db_url: str, data_dir: str, port: int, *, extra_args=(), env: dict | None = None, name="r0"):
        self.port, self.name, self.data_dir = port, name, data_dir
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = Path(data_dir) / f"server-{name}-{port}.log"
        environ = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            # The benchmark's clients ask far faster than one real guest would: no per-credential budget.
            "HEARTH_GUEST_RATE": "0",
            "HEARTH_API_RATE": "0",
            "HEARTH_NODE_NAME": name,
            **(env or {}),
        }
        command = [
            sys.executable,
            "-c",
            "import sys; from metadata_server.cli import main; sys.argv[0] = 'hearth'; main()",
            "server",
            "--db",
            db_url,
            "--data-dir",
            data_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--compute",
            "deployed",
            "--admin-token",
            "bench-admin-token",
            *extra_args,
        ]
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=environ, cwd=ROOT)
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the port accepts a connection and answers an HTTP request (any status)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"hearth server {self.name} exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    if sock.recv(16).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hearth server {self.name} did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """This server and its descendants (a server with --workers runs children)."""
        return process_tree(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in reversed(self.pids()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.process.wait(10)
        self._log.close()


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICK
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_and_threads(pids: list[int]) -> tuple[int, int]:
    """(resident bytes, threads) summed over the processes."""
    rss = threads = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            threads += int(fields[17])
            rss += int(fields[21]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return rss, threads


def cpu_share(pids: list[int], seconds: float) -> float:
    """Share of one core the processes used over the next `seconds` (1.0 = a whole core)."""
    before, started = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / (time.monotonic() - started)


def start_replicas(count: int, db_url: str, data_dir: str, extra_args=()) -> list[Replica]:
    """`count` replicas, ready. The first starts alone: replicas started together on a fresh
    database race to create the admin project, and the losers exit (bench/README.md)."""
    from machine import free_port

    replicas = [Replica(db_url, data_dir, free_port(), name="r0", extra_args=extra_args)]
    try:
        replicas[0].wait_ready()
        replicas += [
            Replica(db_url, data_dir, free_port(), name=f"r{i}", extra_args=extra_args) for i in range(1, count)
        ]
        for replica in replicas[1:]:
            replica.wait_ready()
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    return replicas
