"""Recording stand-ins for the tools hooks drive, and a way to run a hook as a process.

A stand-in is a real executable written into a test's tmp dir. Each time it runs it appends one
record to a JSON file — its argv, a chosen subset of its environment, its cwd, its stdin, and the
text and mode of chosen files (by default every argument naming a file, ``@file`` included) —
then writes the files it was told to write, prints the given stdout/stderr and exits with the
given code. Hooks find it through their HEAT_<TOOL>_CMD variable or PATH, like the real tool.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HOOKS = Path(__file__).resolve().parents[3] / "hooks"

_RECORDER = r"""#!{python}
import json, os, sys
SPEC = json.loads({spec!r})

def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return {{"text": handle.read(), "mode": os.stat(path).st_mode & 0o777}}
    except OSError as exc:
        return {{"error": str(exc)}}

argv = sys.argv[1:]
named = list(SPEC["files"])
if SPEC["argv_files"]:
    named += [a[1:] if a.startswith("@") else a for a in argv
              if os.path.isfile(a[1:] if a.startswith("@") else a)]
env = {{k: v for k, v in os.environ.items()
       if k in SPEC["env_names"] or any(k.startswith(p) for p in SPEC["env_prefixes"])}}
record = {{"argv0": sys.argv[0], "argv": argv, "cwd": os.getcwd(), "env": env,
          "stdin": "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read(),
          "files": {{path: read(path) for path in dict.fromkeys(named)}}}}
log = SPEC["record"]
calls = json.load(open(log)) if os.path.exists(log) else []
calls.append(record)
with open(log + ".tmp", "w") as handle:
    json.dump(calls, handle)
os.replace(log + ".tmp", log)
for path, text in SPEC["write_files"].items():
    with open(path, "w") as handle:
        handle.write(text)
sys.stdout.write(SPEC["stdout"])
sys.stderr.write(SPEC["stderr"])
sys.exit(SPEC["exit_code"])
"""


@dataclass
class Standin:
    path: Path
    record: Path

    def calls(self) -> list[dict]:
        """Every run so far, oldest first; [] when it never ran."""
        return json.loads(self.record.read_text()) if self.record.exists() else []

    def call(self) -> dict:
        """The one run there must have been."""
        calls = self.calls()
        assert len(calls) == 1, f"{self.path.name} ran {len(calls)} times, expected once"
        return calls[0]


def make_standin(
    directory: Path,
    name: str,
    *,
    exit_code: int = 0,
    stdout: str = "",
    stderr: str = "",
    env_names=(),
    env_prefixes=(),
    files=(),
    argv_files: bool = True,
    write_files: dict | None = None,
) -> Standin:
    """Write executable ``directory/name`` that records each run into ``directory/name.calls.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    record = directory / f"{name}.calls.json"
    spec = {
        "record": str(record),
        "exit_code": exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "env_names": list(env_names),
        "env_prefixes": list(env_prefixes),
        "files": [str(f) for f in files],
        "argv_files": argv_files,
        "write_files": {str(k): v for k, v in (write_files or {}).items()},
    }
    path.write_text(_RECORDER.format(python=sys.executable, spec=json.dumps(spec)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return Standin(path, record)


def run_hook(
    hook: str | Path, entry: dict | None, env: dict, raw: str | None = None, timeout: float = 60
) -> tuple[dict, str]:
    """Run a hook as a process with ``entry`` as JSON on stdin; its JSON answer and its log.

    ``hook`` is a name in hooks/ or a path. The hook must exit 0 and print one JSON object.
    """
    path = Path(hook) if os.sep in str(hook) else HOOKS / hook
    proc = subprocess.run(
        [str(path)],
        input=raw if raw is not None else json.dumps(entry),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr
