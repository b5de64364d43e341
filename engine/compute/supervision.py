"""Supervision of the local driver's agents: owns one thread and each agent's
`agent-supervision.json`; restarts agents through the spawn it is given, never the database.

One thread for all of them restarts an agent that exits, with exponential backoff, and keeps
each one's record; it also appends its warnings to the agent's `agent.log`.

The thread blocks in one `select` on a pidfd per agent (readable when that process exits) and
on a wake-up pipe; its timeout is the next restart that is due. Nothing polls and no thread is
held per agent. An agent adopted from an earlier Hearth process (not our child) is watched the
same way; only its exit status cannot be known.

Each agent's record — pid, start time, restarts, last exit, next restart — is kept in memory
and in `<server folder>/agent-supervision.json` (0600), so that a Hearth restart re-adopts the
agent that is running now (not the one its driver data named at create time) and keeps
counting restarts.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runtime import iso_epoch
from engine.store.files import write_private

log = logging.getLogger("engine.compute.local")
RECORD = "agent-supervision.json"
NO_PIDFD_CHECK = 1.0  # seconds between looks at an agent whose exit cannot be waited on (no pidfd)


@dataclass
class Watched:
    """One supervised agent."""

    server_id: str
    home: Path
    pid: int | None = None
    process: subprocess.Popen[bytes] | None = None  # None: adopted, or waiting to be restarted
    pidfd: int | None = None
    started_at: float = 0.0  # time.time() of the current process's start
    started_mono: float = 0.0
    restarts: int = 0  # restarts after an exit, over the server's life
    failures: int = 0  # exits in a row that came sooner than the backoff cap
    last_exit: dict[str, Any] | None = None
    next_start: float | None = None  # time.monotonic() of the pending restart
    stopping: bool = False
    registered: bool = field(default=False, repr=False)
    lock_fd: int | None = field(default=None, repr=False)  # the flock that makes this replica its one supervisor

    def release(self) -> None:
        """Let another replica supervise this agent (closing the fd drops the flock)."""
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def view(self) -> dict[str, Any]:
        """What the server resource shows (`show.agent`) and what is kept on disk."""
        due = None
        if self.next_start is not None:
            due = iso_epoch(time.time() + max(0.0, self.next_start - time.monotonic()))
        state = "running" if self.pid else "restarting" if self.next_start is not None else "stopped"
        return {
            "state": state,
            "pid": self.pid,
            "started_at": iso_epoch(self.started_at) if self.pid else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "next_restart_at": due,
        }


class Supervisor:
    """Restarts agents that exit while their server lives. `spawn(server_id)` starts one."""

    def __init__(
        self,
        spawn: Callable[[str], subprocess.Popen[bytes] | None],
        delay: float,
        max_delay: float,
        adopt: Callable[[], None] | None = None,
        adopt_every: float = 5.0,
    ):
        self.spawn = spawn  # None: the server was deleted meanwhile (by another replica)
        # Called every adopt_every seconds on the supervisor's thread: take over the agents of a
        # replica that died (their flocks are free again).
        self.adopt, self.adopt_every = adopt, adopt_every
        self._next_adopt = time.monotonic() + adopt_every
        self.delay, self.max_delay = max(delay, 0.0), max(max_delay, delay, 0.0)
        self._agents: dict[str, Watched] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake_r = self._wake_w = -1  # made with the thread: a driver never used holds none

    # Called from other threads ------------------------------------------------------------
    def watch(
        self,
        server_id: str,
        home: Path,
        *,
        process: subprocess.Popen[bytes] | None = None,
        pid: int | None = None,
        lock_fd: int | None = None,
    ) -> Watched:
        """Supervise the agent `process` (our child) or `pid` (adopted), carrying the restart
        count and last exit over from the server folder's record; `lock_fd` is the flock that
        makes this replica its only supervisor, released when supervision ends."""
        kept = read_record(home)
        agent = Watched(server_id, home, restarts=int(kept.get("restarts") or 0), last_exit=kept.get("last_exit"))
        agent.lock_fd = lock_fd
        agent.process, agent.pid = process, process.pid if process is not None else pid
        agent.started_at = time.time() if process is not None else float(kept.get("started_at_epoch") or time.time())
        agent.started_mono = time.monotonic() - (time.time() - agent.started_at)
        agent.pidfd = _pidfd(agent.pid)
        with self._lock:
            if self._stopping:
                if agent.pidfd is not None:
                    os.close(agent.pidfd)
                agent.release()
                raise RuntimeError("the local driver is shutting down")
            self._agents[server_id] = agent
            self._save(agent)
            self._start_thread()
        self._wake()
        return agent

    def start(self) -> None:
        """Start the thread now (it starts with the first agent watched otherwise): adoption
        runs on it even while this replica supervises nothing."""
        with self._lock:
            if not self._stopping:
                self._start_thread()

    def forget(self, server_id: str) -> Watched | None:
        """Stop supervising (the server is being deleted): no restart happens after this."""
        with self._lock:
            agent = self._agents.pop(server_id, None)
            if agent is not None:
                agent.stopping = True
                agent.release()
        self._wake()
        return agent

    def watching(self, server_id: str) -> bool:
        with self._lock:
            return server_id in self._agents

    def status(self, server_id: str, home: Path) -> dict[str, Any] | None:
        with self._lock:
            agent = self._agents.get(server_id)
            if agent is not None:
                return agent.view()
        kept = read_record(home)
        return kept.get("view") if kept else None

    def stop(self) -> list[Watched]:
        """The server stops: no more restarts; the agents, for the caller to stop or leave
        running (each still holds its flock until the caller releases it)."""
        with self._lock:
            self._stopping = True
            agents = list(self._agents.values())
            self._agents.clear()
            for agent in agents:
                agent.stopping = True
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        return agents

    # The thread ---------------------------------------------------------------------------
    def _start_thread(self) -> None:
        if self._thread is None:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
            self._thread = threading.Thread(target=self._loop, name="agent-supervisor", daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        with self._lock:  # the thread closes the pipe under the lock when it ends
            if self._wake_w < 0:
                return  # no thread to wake
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:  # already awake
                pass

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while True:
                with self._lock:
                    if self._stopping:
                        return
                    self._register(selector)
                    timeout = self._timeout()
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        os.read(self._wake_r, 512)
                    else:
                        self._exited(selector, key.data)
                with self._lock:
                    for agent in list(self._agents.values()):
                        if agent.pidfd is None and agent.pid and not _alive(agent):
                            self._exited_locked(selector, agent)
                    self._restart_due(selector)
                if self.adopt is not None and time.monotonic() >= self._next_adopt:
                    self._next_adopt = time.monotonic() + self.adopt_every
                    try:
                        self.adopt()
                    except Exception:
                        log.exception("adopting agents failed")
        except Exception:
            log.exception("the agent supervisor stopped")
        finally:
            for key in list(selector.get_map().values()):
                if key.data is not None and key.data.pidfd is not None:
                    os.close(key.data.pidfd)
            selector.close()
            with self._lock:
                os.close(self._wake_r)
                os.close(self._wake_w)
                self._wake_r = self._wake_w = -1

    def _register(self, selector: selectors.BaseSelector) -> None:
        for agent in self._agents.values():
            if agent.pidfd is not None and not agent.registered:
                selector.register(agent.pidfd, selectors.EVENT_READ, agent)
                agent.registered = True

    def _timeout(self) -> float | None:
        now = time.monotonic()
        due = [a.next_start - now for a in self._agents.values() if a.next_start is not None]
        if any(a.pidfd is None and a.pid for a in self._agents.values()):
            due.append(NO_PIDFD_CHECK)
        if self.adopt is not None:
            due.append(self._next_adopt - now)
        return max(0.0, min(due)) if due else None

    def _exited(self, selector: selectors.BaseSelector, agent: Watched) -> None:
        with self._lock:
            self._exited_locked(selector, agent)

    def _exited_locked(self, selector: selectors.BaseSelector, agent: Watched) -> None:
        if agent.pidfd is not None:
            if agent.registered:
                selector.unregister(agent.pidfd)
            os.close(agent.pidfd)
            agent.pidfd, agent.registered = None, False
        code = None
        if agent.process is not None:
            code = agent.process.wait()  # reaps it; delete() may be waiting on it too
        if agent.stopping or self._agents.get(agent.server_id) is not agent:
            return  # being deleted, or the server stops: not ours to restart
        now = time.monotonic()
        ran = now - agent.started_mono
        agent.failures = 0 if ran >= self.max_delay else agent.failures + 1
        wait = self._backoff(agent)
        agent.last_exit = {
            "status": describe_exit(code),
            "code": code,
            "at": iso_epoch(time.time()),
            "pid": agent.pid,
            "ran_seconds": round(ran, 3),
        }
        message = (
            f"agent (pid {agent.pid}) exited ({agent.last_exit['status']}) after {ran:.1f} s;"
            f" restart {agent.restarts + 1} in {wait:g} s"
        )
        log.warning("server %s: %s", agent.server_id, message)
        _append_log(agent.home, message)
        agent.pid, agent.process, agent.next_start = None, None, now + wait
        self._save(agent)

    def _backoff(self, agent: Watched) -> float:
        """agent_restart_delay, doubled for each quick exit in a row, at most the cap."""
        # 2 ** int is Any to mypy (a negative power is a float); this one is an int.
        wait: float = min(self.max_delay, self.delay * 2 ** min(agent.failures, 32))
        return wait

    def _restart_due(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for agent in list(self._agents.values()):
            if agent.next_start is None or agent.next_start > now or agent.stopping:
                continue
            agent.next_start = None
            agent.restarts += 1
            try:
                process = self.spawn(agent.server_id)
                if process is None:  # deleted meanwhile (through another replica): not restarted
                    self._agents.pop(agent.server_id, None)
                    agent.release()
                    continue
            except OSError as error:
                agent.failures += 1
                wait = self._backoff(agent)
                agent.next_start = now + wait
                message = f"agent could not be started ({error}); next try in {wait:g} s"
                log.error("server %s: %s", agent.server_id, message)
                _append_log(agent.home, message)
                self._save(agent)
                continue
            agent.process, agent.pid = process, process.pid
            agent.started_at, agent.started_mono = time.time(), now
            agent.pidfd = _pidfd(process.pid)
            self._register(selector)
            log.info("server %s: agent restarted (pid %s, restart %s)", agent.server_id, process.pid, agent.restarts)
            _append_log(agent.home, f"agent restarted (pid {process.pid}, restart {agent.restarts})")
            self._save(agent)

    def _save(self, agent: Watched) -> None:
        """Keep the record on disk (the caller holds the lock). A server folder already
        removed (the server was deleted meanwhile) is not recreated."""
        if not agent.home.is_dir():
            return
        record = {
            "pid": agent.pid,
            "started_at_epoch": agent.started_at,
            "restarts": agent.restarts,
            "last_exit": agent.last_exit,
            "view": agent.view(),
        }
        write_private(agent.home / RECORD, json.dumps(record).encode())


def read_record(home: Path) -> dict[str, Any]:
    try:
        record = json.loads((home / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown: it was started by an earlier Hearth process"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _pidfd(pid: int | None) -> int | None:
    """A pidfd for `pid` (readable once it exits); None where the kernel has none."""
    if not pid or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    except OSError:
        return None


def _alive(agent: Watched) -> bool:
    if agent.process is not None:
        return agent.process.poll() is None
    try:
        with open(f"/proc/{agent.pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _append_log(home: Path, message: str) -> None:
    """The same line in the agent's own log, where an operator reading it looks first."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    try:
        with open(home / "agent.log", "a") as handle:
            handle.write(f"{stamp} WARNING hearth.server: {message}\n")
    except OSError:
        pass
