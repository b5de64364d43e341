"""The hook wrapper: owns one hook process and its ``EXIT_FILE`` and holds the run's ``hook.lock``
until the hook ends; the standard library only, nothing from the agent, no network.

Runs one hook for hearth-agent and records how it ended, so that the run outlives its agent.

Invoked by agent/orphans.py as ``python -I -S hookwrap.py LOCK_FD EXIT_FILE HOOK``, in a session
(and process group) of its own, with the run folder as working directory and the hook's stdin,
stdout and stderr already pointing at the run folder's files. It imports nothing from the agent
(the standard library only, and no site packages), because it must keep working while no agent
exists at all:

- ``LOCK_FD`` is an open file description of ``hook.lock`` on which the agent took an exclusive
  ``flock`` before the fork. This process holds it until the hook has ended and ``EXIT_FILE``
  is written; the hook does not inherit it (so a daemon the hook leaves behind cannot hold it).
  "The lock is held" therefore means "the hook of this run is still running", whoever asks.
- ``EXIT_FILE`` receives ``{"returncode": N, "finished_at": T}`` (``N`` negative: killed by
  signal ``-N``; ``"error"`` when the hook could not be executed), written atomically before
  the lock is let go. A restarted agent that finds it picks up the result instead of running
  the hook again.

SIGTERM and SIGINT sent to the process group (the agent's timeout or shutdown) are left to the
hook: this process waits for the hook and records its end. They get a handler rather than
SIG_IGN, because an ignored signal would stay ignored in the hook after exec.
"""

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any


def record(path: str, document: dict[str, Any]) -> None:
    directory = os.path.dirname(path) or "."
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def main(argv: list[str]) -> int:
    lock_fd, exit_file, command = int(argv[1]), argv[2], argv[3:]
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda signum, frame: None)
    try:
        hook = subprocess.Popen(command, close_fds=True)  # same group; stdio inherited
    except OSError as exc:
        record(exit_file, {"returncode": 126, "error": str(exc), "finished_at": time.time()})
        os.close(lock_fd)
        return 126
    code = hook.wait()
    record(exit_file, {"returncode": code, "finished_at": time.time()})
    os.close(lock_fd)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
