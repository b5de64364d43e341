"""Compute driver `local`: each server is a real hearth-agent process on this host.

Each server gets `<data_dir>/servers/<id>/` with `bootstrap.json` (0600), `user-data` (0600, the
boot user data a cloud would get, kept only to be inspected: the agent does not read it) and the
agent's state directory; deleting the server stops the process group and removes the directory.
"""
from __future__ import annotations

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

from engine.compute.base import ComputeDriver, ServerSpec

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 5.0


class LocalDriver(ComputeDriver):
    name = "local"
    waits_for_contact = True

    def __init__(self, data_dir: str, hooks_dir: str = "", python: str = sys.executable):
        self.root = Path(data_dir) / "servers"
        self.hooks_dir = hooks_dir
        self.python = python
        self._processes: dict[str, subprocess.Popen] = {}
        self._adopted: dict[str, int] = {}
        self._lock = threading.Lock()

    def _dir(self, server_id: str) -> Path:
        return self.root / server_id

    def create(self, spec: ServerSpec) -> dict:
        home = self._dir(spec.server_id)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.mkdir(mode=0o700, exist_ok=True)
        (home / "state").mkdir(mode=0o700, exist_ok=True)
        bootstrap = home / "bootstrap.json"
        fd = os.open(bootstrap, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(spec.bootstrap, handle)
        _write_private(home / "user-data", spec.user_data)
        pid = self._start(spec.server_id)
        return {"home": str(home), "pid": pid}

    def _start(self, server_id: str) -> int:
        home = self._dir(server_id)
        command = [self.python, "-m", "agent.main", "--bootstrap", str(home / "bootstrap.json"),
                   "--state-dir", str(home / "state")]
        if self.hooks_dir:
            command += ["--hooks-path", self.hooks_dir]
        # Agents (and the hooks they run) never see the server's settings: HEARTH_SECRET_KEY
        # and a HEARTH_DB_URL with a password would otherwise reach every guest script.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        # The agent must import from the same code tree as this engine, installed or not.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        with open(home / "agent.log", "ab") as logfile:
            process = subprocess.Popen(command, stdout=logfile, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                       cwd=str(home))
        with self._lock:
            self._processes[server_id] = process
        log.info("server %s: agent started (pid %s)", server_id, process.pid)
        return process.pid

    def delete(self, server_id: str, driver_data: dict) -> None:
        self._stop(server_id, driver_data.get("pid"))
        shutil.rmtree(self._dir(server_id), ignore_errors=True)

    def _is_our_agent(self, pid: int, server_id: str) -> bool:
        """A recorded pid may have been reused by an unrelated process since."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return "agent.main" in cmdline and str(self._dir(server_id)) in cmdline

    def _stop(self, server_id: str, pid: int | None) -> None:
        with self._lock:
            process = self._processes.pop(server_id, None)
            adopted = self._adopted.pop(server_id, None)
        pid = pid or adopted
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

    def resume(self, server_id: str, driver_data: dict) -> dict | None:
        pid = driver_data.get("pid")
        if pid and _alive(pid, None) and self._is_our_agent(pid, server_id):
            with self._lock:  # left running by a server that died: ours to stop on shutdown
                self._adopted[server_id] = pid
            return None
        if not (self._dir(server_id) / "bootstrap.json").exists():
            return None
        return {**driver_data, "pid": self._start(server_id)}

    def shutdown(self) -> None:
        with self._lock:
            ids = list(self._processes) + list(self._adopted)
        for server_id in ids:
            self._stop(server_id, None)


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, mode 0600, atomically (temp file in the same directory, then rename)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _alive(pid: int, process: subprocess.Popen | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
