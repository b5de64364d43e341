"""Compute driver `local`: owns each server's hearth-agent process group and its
`<data_dir>/servers/<id>/` home; spawns and kills processes, writes files, never the database.

Each server is a real hearth-agent process on this host, supervised.

Each server gets `<data_dir>/servers/<id>/` with `bootstrap.json` (0600), `user-data` (0600, the
boot user data a cloud would get, kept only to be inspected: the agent does not read it) and the
agent's state directory; an agent that exits while its server lives is restarted with backoff
(engine/compute/supervision.py); deleting the server stops supervising it, stops the process
group and removes the directory.

Several replicas on one host (one PostgreSQL store) share the data directory: each agent has
exactly one supervisor, the replica holding the flock on `<home>/supervisor.lock`. A replica
that stops or dies leaves its agents running (they are the "machines"; a rolling restart must
not reboot them) and its flocks free; the others adopt them within ADOPT_EVERY seconds. A
server deleted through any replica loses its `bootstrap.json` first, so its supervisor, wherever
it is, does not restart the agent it sees exit. With SQLite (one process) stopping the server
stops its agents, as it always did, and the next start restarts them.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine.compute.base import ComputeDriver, ServerSpec
from engine.compute.supervision import Supervisor, read_record
from engine.store.files import write_private

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 5.0
ADOPT_EVERY = 5.0  # seconds between looks for agents whose supervisor (another replica) is gone
LOCK = "supervisor.lock"


class LocalDriver(ComputeDriver):
    name = "local"
    waits_for_contact = True

    def __init__(
        self,
        data_dir: str,
        hooks_dir: str = "",
        python: str = sys.executable,
        restart_delay: float = 1.0,
        restart_max_delay: float = 60.0,
        shared: bool = False,
    ):
        """`shared`: other replicas may run on this host with the same data directory (the
        store is PostgreSQL): agents outlive this process and are adopted by the others."""
        self.root = Path(data_dir) / "servers"
        self.hooks_dir = hooks_dir
        self.python = python
        self.shared = shared
        self.supervisor = Supervisor(
            self._spawn,
            restart_delay,
            restart_max_delay,
            adopt=self._adopt if shared else None,
            adopt_every=ADOPT_EVERY,
        )

    def _dir(self, server_id: str) -> Path:
        return self.root / server_id

    def create(self, spec: ServerSpec) -> dict[str, Any]:
        home = self._dir(spec.server_id)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.mkdir(mode=0o700, exist_ok=True)
        (home / "state").mkdir(mode=0o700, exist_ok=True)
        bootstrap = home / "bootstrap.json"
        write_private(bootstrap, json.dumps(spec.bootstrap))
        write_private(home / "user-data", spec.user_data)
        lock_fd = self._claim(home)
        process = self._spawn(spec.server_id)
        if process is None:  # cannot be: bootstrap.json was just written
            raise RuntimeError(f"server {spec.server_id}: its bootstrap file vanished")
        self.supervisor.watch(spec.server_id, home, process=process, lock_fd=lock_fd)
        return {"home": str(home), "pid": process.pid}

    @staticmethod
    def _claim(home: Path) -> int | None:
        """The flock that makes this replica the agent's one supervisor; None when another
        live replica holds it."""
        fd = os.open(home / LOCK, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _spawn(self, server_id: str) -> subprocess.Popen[bytes] | None:
        """Start the server's agent; None when the server was deleted (no bootstrap.json)."""
        home = self._dir(server_id)
        if not (home / "bootstrap.json").exists():
            return None
        command = [
            self.python,
            "-m",
            "agent.main",
            "--bootstrap",
            str(home / "bootstrap.json"),
            "--state-dir",
            str(home / "state"),
        ]
        if self.hooks_dir:
            command += ["--hooks-path", self.hooks_dir]
        # Agents (and the hooks they run) never see the server's settings: HEARTH_SECRET_KEY
        # and a HEARTH_DB_URL with a password would otherwise reach every guest script.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        # The agent must import from the same code tree as this engine, installed or not.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        with open(home / "agent.log", "ab") as logfile:
            process = subprocess.Popen(
                command,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=str(home),
            )
        log.info("server %s: agent started (pid %s)", server_id, process.pid)
        return process

    def delete(self, server_id: str, driver_data: dict[str, Any]) -> None:
        home = self._dir(server_id)
        # First, so that whichever replica supervises the agent does not restart it.
        (home / "bootstrap.json").unlink(missing_ok=True)
        # The record names the agent running now (perhaps restarted by another replica).
        self._stop(server_id, read_record(home).get("pid") or driver_data.get("pid"))
        # The replica supervising the agent may be writing its last record or log line about
        # the agent's exit while the folder goes (a file made during the removal leaves the
        # folder behind); it writes only into a folder that exists, so once gone it stays gone.
        for _attempt in range(5):
            shutil.rmtree(home, ignore_errors=True)
            if not home.exists():
                break

    def agent_status(self, server_id: str) -> dict[str, Any] | None:
        """The supervised agent of a local server: state, pid, restarts, last exit."""
        return self.supervisor.status(server_id, self._dir(server_id))

    def _is_our_agent(self, pid: int, server_id: str) -> bool:
        """A recorded pid may have been reused by an unrelated process since."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return "agent.main" in cmdline and str(self._dir(server_id)) in cmdline

    def _stop(self, server_id: str, pid: int | None) -> None:
        """Stop supervising the server's agent, then stop the agent: SIGTERM to its process
        group, SIGKILL after STOP_GRACE_SECONDS."""
        watched = self.supervisor.forget(server_id)
        self._stop_process(server_id, watched.process if watched else None, (watched.pid if watched else None) or pid)

    def _stop_process(self, server_id: str, process: subprocess.Popen[bytes] | None, pid: int | None) -> None:
        if process is None and pid and not self._is_our_agent(pid, server_id):
            return
        if process is not None:
            pid = process.pid
        if not pid or not _alive(pid, process):
            if process is not None:
                process.wait()
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and _alive(pid, process):
            time.sleep(0.02)
        if _alive(pid, process):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process is not None:
            process.wait()
        log.info("server %s: agent stopped", server_id)

    def resume(self, server_id: str, driver_data: dict[str, Any]) -> dict[str, Any] | None:
        """At engine start: adopt the server's agent if it still runs (left by a Hearth process
        that was killed), else start it again; either way it is supervised from now on. The
        pid is the supervision record's (the agent running now, perhaps restarted since the
        server was created), else the one in the driver data."""
        home = self._dir(server_id)
        if self.supervisor.watching(server_id) or not (home / "bootstrap.json").exists():
            return None
        lock_fd = self._claim(home)
        if lock_fd is None:
            return None  # another replica on this host supervises it
        pid = read_record(home).get("pid") or driver_data.get("pid")
        if pid and _alive(pid, None) and self._is_our_agent(pid, server_id):
            self.supervisor.watch(server_id, home, pid=pid, lock_fd=lock_fd)
            return None
        process = self._spawn(server_id)
        if process is None:
            os.close(lock_fd)
            return None
        self.supervisor.watch(server_id, home, process=process, lock_fd=lock_fd)
        return {**driver_data, "pid": process.pid}

    def start(self) -> None:
        if self.shared:
            self.supervisor.start()  # adopts, every ADOPT_EVERY seconds, agents left by a replica gone

    def _adopt(self) -> None:
        """Supervise every server on this host that no live replica supervises (its flock is
        free): agents of a replica that stopped or died."""
        try:
            homes = [home for home in self.root.iterdir() if (home / "bootstrap.json").exists()]
        except FileNotFoundError:
            return
        for home in homes:
            if not self.supervisor.watching(home.name):
                try:
                    self.resume(home.name, {})
                except RuntimeError:  # shutting down
                    return

    def shutdown(self) -> None:
        for watched in self.supervisor.stop():
            if not self.shared:
                self._stop_process(watched.server_id, watched.process, watched.pid)
            elif watched.process is not None:
                # Left running; still our child while this process lives: reaped when it exits.
                threading.Thread(target=watched.process.wait, name="reap", daemon=True).start()
            watched.release()


def _alive(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
