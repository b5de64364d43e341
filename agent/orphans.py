"""Hook runs that outlive their agent: owns each run folder's ``hook.lock`` and ``hook.json`` and
the wrapper's process group (start, find, wait for, kill); reads /proc, no network.

It finds, waits for or kills the run a killed agent left behind.

Every hook is started through agent/hookwrap.py, in a session of its own, as follows:

1. the agent takes an exclusive ``flock`` on ``<run folder>/hook.lock``;
2. it writes the **launch record** ``hook.json`` (entry id, action, hook, timeout, start time;
   ``pid`` still null) atomically;
3. it forks the wrapper, which inherits the locked file description and holds it until the hook
   has ended and its end is written to ``hook-exit.json``; the agent closes its own copy;
4. it rewrites ``hook.json`` with the wrapper's ``pid`` (= its process group), the start time
   of that process from ``/proc/<pid>/stat`` and the boot id, which together name it.

So whatever happens to the agent, a later agent can tell from the run folder alone:

- lock held: the run is still going (``RUNNING``): wait for it, or kill its process group;
- lock free and ``hook-exit.json`` present: it ended (``FINISHED``); its stdout, stderr and exit
  status are in the folder, ready to be signalled;
- lock free, no ``hook-exit.json``: the run was cut short (``CUT_SHORT``: the wrapper was
  killed, the machine rebooted, or the agent died before the fork); what is left of its
  process group is killed and the hook runs again.

An agent that stops a run itself first writes why into the launch record (``stopped_by``:
``shutdown`` or ``timeout``), so that a run it interrupted for a shutdown counts as cut short
(it runs again, as documented) even when the hook managed to exit and the wrapper to record it.

Nothing here depends on the dead agent's pipes or on its being the hook's parent.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agent.fsutil import atomic_write_json, read_json

LOG = logging.getLogger("hearth.agent.runner")

LAUNCH_FILE = "hook.json"
LOCK_FILE = "hook.lock"
EXIT_FILE = "hook-exit.json"
WRAPPER = Path(__file__).resolve().with_name("hookwrap.py")
POLL = 0.05  # seconds between two looks at a run this agent did not start (as run_hook waits)

RUNNING, FINISHED, CUT_SHORT = "running", "finished", "cut short"


@dataclass
class Left:
    """What an earlier agent's run left in a run folder."""

    state: str  # RUNNING, FINISHED or CUT_SHORT
    launch: dict[str, Any]  # the launch record


def start(
    hook: Path,
    run_dir: Path,
    *,
    entry_id: str,
    action: object,
    timeout: float | None,
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: dict[str, str],
) -> subprocess.Popen[bytes]:
    """Start ``hook`` through the wrapper with the run lock held from before the fork and the
    launch record written around it (see the module docstring). OSError when it cannot start."""
    lock_fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(f"an earlier run in {run_dir} still holds {LOCK_FILE}") from None
        record = {
            "entry_id": entry_id,
            "action": action,
            "hook": str(hook),
            "run_dir": str(run_dir),
            "timeout": timeout,
            "started_at": time.time(),
            "agent_pid": os.getpid(),
            "pid": None,
            "start_ticks": None,
            "boot_id": boot_id(),
        }
        atomic_write_json(run_dir / LAUNCH_FILE, record)
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(WRAPPER), str(lock_fd), str(run_dir / EXIT_FILE), str(hook)],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=run_dir,
            pass_fds=(lock_fd,),
            start_new_session=True,
        )
    finally:
        os.close(lock_fd)  # the wrapper's copy keeps the lock
    record.update(pid=process.pid, start_ticks=start_ticks(process.pid))
    atomic_write_json(run_dir / LAUNCH_FILE, record)
    return process


def mark_stopped(run_dir: Path, why: str) -> None:
    """Record in the launch record that this agent is stopping the run (``shutdown`` or
    ``timeout``), before it signals the run's process group."""
    record = launch_record(run_dir)
    if record is not None:
        record["stopped_by"] = why
        atomic_write_json(run_dir / LAUNCH_FILE, record)


def clear(run_dir: Path) -> None:
    """Forget the launch and exit records of an earlier run of this folder (before a new run)."""
    for name in (LAUNCH_FILE, EXIT_FILE):
        (run_dir / name).unlink(missing_ok=True)


def launch_record(run_dir: Path) -> dict[str, Any] | None:
    try:
        record = read_json(run_dir / LAUNCH_FILE)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def exit_record(run_dir: Path) -> dict[str, Any] | None:
    """``{"returncode", "finished_at"[, "error"]}`` written by the wrapper, or None."""
    try:
        record = read_json(run_dir / EXIT_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("returncode"), int):
        return None
    return record


def probe(run_dir: Path) -> Left | None:
    """What an earlier run left in ``run_dir``; None when no run was ever launched there."""
    launch = launch_record(run_dir)
    if launch is None:
        return None
    if lock_held(run_dir):
        return Left(RUNNING, launch)
    if launch.get("stopped_by") == "shutdown":
        return Left(CUT_SHORT, launch)  # interrupted on purpose: runs again, whatever it wrote
    # The wrapper writes its exit record before it lets the lock go: read after the lock.
    return Left(FINISHED if exit_record(run_dir) is not None else CUT_SHORT, launch)


def lock_held(run_dir: Path) -> bool:
    """Whether a wrapper (so its hook) of this run folder is still running."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock if we just took it
    return False


def wait(run_dir: Path, stop: threading.Event | None, deadline: float | None) -> str:
    """Wait for a run this agent did not start: "exited", "stopped" (``stop`` set) or
    "timeout" (``deadline``, a time.time() value, passed)."""
    while lock_held(run_dir):
        if stop is not None and stop.is_set():
            return "stopped"
        if deadline is not None and time.time() >= deadline:
            return "timeout"
        time.sleep(POLL)
    return "exited"


def kill(run_dir: Path, launch: dict[str, Any], grace: float) -> None:
    """SIGTERM the running run's process group, SIGKILL it after ``grace`` seconds; return once
    its wrapper is gone (the lock is free), or after 5 s more."""
    pid = launch.get("pid") or find_wrapper(run_dir)
    if not isinstance(pid, int):
        LOG.error("cannot find the process of the run in %s to stop it", run_dir)
        return
    for number, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not lock_held(run_dir):
            return
        # The lock is held, so the wrapper lives and `pid` still names it (and its group).
        try:
            os.killpg(pid, number)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + patience
        while lock_held(run_dir) and time.monotonic() < deadline:
            time.sleep(POLL)


def kill_remnants(launch: dict[str, Any], grace: float = 2.0) -> list[int]:
    """Kill what is left of a cut-short run's process group (a hook whose wrapper was killed
    alone goes on running); the pids found. Only on the same boot, and only while no live
    process bears the group's number: the wrapper is dead, so a live one would be another
    process that was given the number since, and its group is not ours."""
    pgid = launch.get("pid")
    if not isinstance(pgid, int) or pgid <= 1 or launch.get("boot_id") != boot_id() or alive(pgid):
        return []
    members = group_members(pgid)
    for number, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not group_members(pgid):
            break
        try:
            os.killpg(pgid, number)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + patience
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(POLL)
    return members


# -- /proc -------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (field 22): with the pid and the boot
    id, it names one process for good."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def find_wrapper(run_dir: Path) -> int | None:
    """The pid of the wrapper of ``run_dir``, found by its command line (for an agent that died
    between the fork and the launch record's pid)."""
    wanted = str(run_dir / EXIT_FILE).encode()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    arguments = handle.read().split(b"\0")
            except OSError:
                continue
            if wanted in arguments and str(WRAPPER).encode() in arguments:
                return int(entry.name)
    return None


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None
