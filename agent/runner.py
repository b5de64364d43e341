"""Hook search and hook runs: owns ``runs/<id>/<action>-<checksum>/`` (input, stdout, stderr,
exit code, result) and the hooks' work dirs; starts and kills hook process groups, no network.

One process group per run (started through agent.orphans); the signal is built as 55-heat-config
step 7. Old run folders are pruned here.
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agent import orphans
from agent.config import StateLayout
from agent.deployments import config_checksum, hook_name, input_value
from agent.fsutil import atomic_write_json, atomic_write_text, ensure_dir, safe_name
from agent.outbox import encode_body, json_safe

LOG = logging.getLogger("hearth.agent.runner")

OUTPUT_CAP = 1024 * 1024  # bytes of deploy_stdout / deploy_stderr kept in a signal
SIGNAL_CAP = 3584 * 1024  # bytes of a whole signal's JSON; the server accepts 4 MiB
STREAM_JSON_CAP = 1536 * 1024  # a stream's JSON in a signal over SIGNAL_CAP (control
# characters take 6 bytes each as \u00XX escapes)
STREAMS = ("deploy_stdout", "deploy_stderr")
PARSE_LIMIT = 16 * 1024 * 1024  # larger stdout is not read whole, so it cannot be the hook's JSON
TIMEOUT_STATUS = 124  # as timeout(1)
CANNOT_EXECUTE_STATUS = 126  # as the shell
SYSTEM_HOOK_DIRS = (Path("/usr/libexec/heat-config/hooks"), Path("/var/lib/heat-config/hooks"))
ARTIFACTS = ("input.json", "stdout", "stderr", "exit_code", "result.json")
RUNS_KEPT = 5  # run folders kept per deployment id, the newest


def hook_search_path(extra: Sequence[Path] = ()) -> list[Path]:
    """--hooks-path, then $HEAT_CONFIG_HOOKS, then the hooks shipped with Hearth, then heat-agents' dirs."""
    paths = list(extra)
    paths += [Path(p) for p in os.environ.get("HEAT_CONFIG_HOOKS", "").split(os.pathsep) if p]
    paths.append(Path(__file__).resolve().parent.parent / "hooks")
    paths.append(Path(sys.prefix) / "share" / "hearth" / "hooks")
    paths += SYSTEM_HOOK_DIRS
    return list(dict.fromkeys(paths))


def find_hook(group: str, search_path: Sequence[Path]) -> Path | None:
    name = hook_name(group)
    if not name:
        return None
    for directory in search_path:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def no_hook_signal(group: str, search_path: Sequence[Path]) -> dict[str, Any]:
    """The failure signalled for a group with no hook, so the deployment fails instead of waiting."""
    paths = ":".join(str(p) for p in search_path)
    return {
        "deploy_stdout": "",
        "deploy_status_code": 1,
        "deploy_stderr": f"no hook for group '{group}' in {paths}: install an executable "
        f"named '{hook_name(group)}' in one of them, or name its directory "
        "with --hooks-path or HEAT_CONFIG_HOOKS",
    }


def run_folder(deployment_dir: Path, entry: dict[str, Any]) -> Path:
    """``<deployment_dir>/<action>-<config checksum[:12]>``: one folder per done key, so a
    run cut short and run again overwrites its own artifacts and no other run's."""
    action = input_value(entry, "deploy_action")
    action = safe_name(action) if isinstance(action, str) and action else "NONE"
    return deployment_dir / f"{action}-{config_checksum(entry.get('config'))[:12]}"


def prune_runs(deployment_dir: Path, keep: int = RUNS_KEPT) -> list[Path]:
    """Remove all but the ``keep`` most recently written run folders; return those removed."""
    try:
        children = list(deployment_dir.iterdir())
    except FileNotFoundError:
        return []
    folders = [p for p in children if p.is_dir() and not p.is_symlink()]
    folders.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    removed = folders[keep:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def prune_departed(runs_dir: Path, current: set[str], older_than: float, now: float | None = None) -> list[Path]:
    """Remove ``runs/<id>/`` of deployments no longer in the metadata, once untouched ``older_than`` s.

    Heat gives every action of a deployment a new entry id, so without this ``runs/`` grows for
    as long as the machine lives; the grace period keeps a recent failure's artifacts to read.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        children = list(runs_dir.iterdir())
    except FileNotFoundError:
        return []
    for child in children:
        if child.name in current or not child.is_dir() or child.is_symlink():
            continue
        newest = max((p.stat().st_mtime for p in child.iterdir()), default=child.stat().st_mtime)
        if now - newest >= older_than:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def hook_environment(layout: StateLayout, hook: str) -> dict[str, str]:
    """os.environ plus working/outputs dirs under the state dir, so a non-root agent can run hooks.

    Values already in the environment win: an operator who set HEAT_SCRIPT_WORKING meant it.
    """
    env = dict(os.environ)
    for tool in dict.fromkeys(("script", hook)):
        working, outputs = layout.hook_dirs(tool)
        ensure_dir(working.parent)
        ensure_dir(outputs.parent)
        prefix = "HEAT_" + tool.upper().replace("-", "_")
        env.setdefault(f"{prefix}_WORKING", str(working))
        env.setdefault(f"{prefix}_OUTPUTS", str(outputs))
    return env


@dataclass
class HookRun:
    status_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    interrupted: bool = False


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the hook's process group, give it ``grace`` seconds, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def _read_capture(path: Path) -> str:
    """A stream's file as text, invalid UTF-8 replaced by U+FFFD; past PARSE_LIMIT only its
    last OUTPUT_CAP bytes are read (a JSON answer that large is not parsed anyway)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= PARSE_LIMIT:
            return handle.read().decode("utf-8", errors="replace")
        handle.seek(size - OUTPUT_CAP)
        tail = handle.read(OUTPUT_CAP)
    start = 0
    while start < 3 and start < len(tail) and 0x80 <= tail[start] < 0xC0:
        start += 1  # the rest of a character cut by the seek: counted as truncated
    return cap_text(tail[start:].decode("utf-8", errors="replace"), skipped=size - len(tail) + start)


def _private(path: Path) -> IO[bytes]:
    """``path`` opened for writing with mode 0600: hooks (heat-agents' script hook) log input values."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def run_hook(
    hook: Path,
    entry: dict[str, Any],
    run_dir: Path,
    env: dict[str, str],
    timeout: float | None,
    stop: threading.Event | None = None,
) -> HookRun:
    """Run ``hook`` with ``entry`` on stdin in its own session; capture to files in ``run_dir``.

    The streams go straight to files (no pipes), so a daemon the hook leaves behind holding
    them open cannot block the agent, no output size can exhaust its memory, and a run that
    outlives a killed agent leaves its output where the next agent finds it. The hook is
    started through agent/hookwrap.py with a launch record and a run lock (agent/orphans.py).
    """
    ensure_dir(run_dir)
    os.utime(run_dir)  # the newest run folder, for prune_runs, even when it already existed
    for name in ARTIFACTS:
        (run_dir / name).unlink(missing_ok=True)
    orphans.clear(run_dir)
    atomic_write_json(run_dir / "input.json", entry)  # holds credentials: 0600
    stdout_path, stderr_path = run_dir / "stdout", run_dir / "stderr"
    with open(run_dir / "input.json", "rb") as stdin, _private(stdout_path) as out, _private(stderr_path) as err:
        try:
            proc = orphans.start(
                hook,
                run_dir,
                entry_id=str(entry.get("id")),
                action=input_value(entry, "deploy_action"),
                timeout=timeout,
                stdin=stdin,
                stdout=out,
                stderr=err,
                env=env,
            )
        except OSError as exc:
            return HookRun(CANNOT_EXECUTE_STATUS, "", f"cannot execute hook {hook}: {exc}")
        started = time.monotonic()
        timed_out = interrupted = False
        while True:
            try:
                proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop is not None and stop.is_set():
                interrupted = True
                orphans.mark_stopped(run_dir, "shutdown")
                _kill_group(proc, grace=1.0)
                break
            if timeout is not None and time.monotonic() - started >= timeout:
                timed_out = True
                orphans.mark_stopped(run_dir, "timeout")
                _kill_group(proc, grace=2.0)
                break
    return _outcome(run_dir, hook.name, proc.returncode, timeout, timed_out, interrupted)


def finish_orphan(left: orphans.Left, run_dir: Path, stop: threading.Event | None = None) -> HookRun:
    """The outcome of a run an earlier agent started in ``run_dir`` and did not see end.

    A run still going is waited for (never started again next to itself), within what is left
    of its timeout (counted from its launch) and until ``stop``; then, as for run_hook, its
    process group is killed and the run is timed out or interrupted. A finished run's result
    is read from the run folder.
    """
    launch = left.launch
    hook = Path(str(launch.get("hook") or "hook")).name
    timeout = launch.get("timeout") if isinstance(launch.get("timeout"), (int, float)) else None
    # An earlier agent that timed it out died while it killed it: it stays timed out.
    timed_out, interrupted = launch.get("stopped_by") == "timeout", False
    if left.state == orphans.RUNNING:
        started_at = launch.get("started_at")
        deadline = started_at + timeout if timeout and isinstance(started_at, (int, float)) else None
        how = "timeout" if timed_out else orphans.wait(run_dir, stop, deadline)
        if how == "stopped":
            interrupted = True
            orphans.mark_stopped(run_dir, "shutdown")
            orphans.kill(run_dir, launch, grace=1.0)
        elif how == "timeout":
            timed_out = True
            orphans.mark_stopped(run_dir, "timeout")
            orphans.kill(run_dir, launch, grace=2.0)
    # Without an exit record the wrapper itself was killed (by us, or by someone else).
    return _outcome(run_dir, hook, 128 + signal.SIGKILL, timeout, timed_out, interrupted)


def _outcome(
    run_dir: Path, hook: str, returncode: int, timeout: float | None, timed_out: bool, interrupted: bool
) -> HookRun:
    """The HookRun of a run that has ended: the hook's exit status from the wrapper's exit
    record (else ``returncode``, the wrapper's), its streams from the run folder."""
    ended = orphans.exit_record(run_dir)
    if ended is not None and ended.get("error") is not None:
        return HookRun(CANNOT_EXECUTE_STATUS, "", f"cannot execute hook {hook}: {ended['error']}")
    code = ended["returncode"] if ended is not None else returncode
    if code < 0:
        code = 128 - code  # killed by a signal, reported as the shell does
    run = HookRun(
        code,
        _read_capture(run_dir / "stdout"),
        _read_capture(run_dir / "stderr"),
        timed_out=timed_out,
        interrupted=interrupted,
    )
    if timed_out:
        run.status_code = TIMEOUT_STATUS
        run.stderr += f"\n[hearth-agent] hook {hook} timed out after {timeout or 0:g} s; its process group was killed\n"
    return run


def cap_text(text: str, cap: int = OUTPUT_CAP, skipped: int = 0) -> str:
    """Keep the last ``cap`` bytes (where errors usually are), with a marker saying how many
    bytes before them were cut (``skipped`` bytes were cut before ``text`` already)."""
    data = text.encode("utf-8")
    if len(data) <= cap and not skipped:
        return text
    room = max(0, cap - len(_cut_marker(skipped + len(data))))  # the marker only gets shorter
    kept = data[len(data) - min(room, len(data)) :].decode("utf-8", errors="ignore")
    return _cut_marker(skipped + len(data) - len(kept.encode("utf-8"))).decode() + kept


def _cut_marker(count: int) -> bytes:
    return f"[hearth-agent: first {count} bytes truncated]\n".encode()


def build_signal(run: HookRun) -> dict[str, Any]:
    """55-heat-config step 7: a JSON object on stdout is the signal; otherwise the captured streams."""
    captured = {"deploy_stdout": run.stdout, "deploy_stderr": run.stderr, "deploy_status_code": run.status_code}
    result: dict[str, Any] = captured if run.status_code else {}
    if run.stdout and not run.timed_out:
        try:
            parsed = json.loads(run.stdout)
        except (ValueError, RecursionError):
            parsed = None
        result = _valid_json(parsed) if isinstance(parsed, dict) else captured
    for key in STREAMS:
        if isinstance(result.get(key), str):
            result[key] = cap_text(result[key])
    return fit_signal(result)


def _valid_json(answer: dict[str, Any]) -> dict[str, Any]:
    """The hook's answer with NaN/Infinity as null (and lone surrogates as U+FFFD), noted at
    the end of deploy_stderr: a valid signal that says what changed beats one never sent."""
    cleaned: dict[str, Any]
    cleaned, changed = json_safe(answer)
    if not changed:
        return answer
    names = sorted(str(name) for name, value in answer.items() if json_safe(name)[1] or json_safe(value)[1])
    note = (
        "[hearth-agent: NaN/Infinity (or invalid UTF-16) in the hook's answer replaced "
        f"with null (U+FFFD in text) in: {', '.join(names)}]\n"
    )
    stderr = cleaned.get("deploy_stderr")
    stderr = "" if stderr is None else stderr if isinstance(stderr, str) else json.dumps(stderr)
    cleaned["deploy_stderr"] = stderr + ("\n" if stderr and not stderr.endswith("\n") else "") + note
    return cleaned


def encoded_size(value: object) -> int:
    """Bytes of ``value`` as the outbox sends it (encode_body: UTF-8, no ASCII escapes)."""
    return len(encode_body(value))


def fit_signal(signal: dict[str, Any], cap: int = SIGNAL_CAP) -> dict[str, Any]:
    """``signal`` with its JSON at most ``cap`` bytes, so that the server can accept it.

    Declared outputs are not capped one by one and can be large: the largest output values
    are replaced by a marker until the signal fits, each noted at the end of deploy_stderr.
    Before that, each stream is held to STREAM_JSON_CAP bytes *as JSON* (escapes can make
    1 MiB of text take 6), so that dropping outputs can always make room; an answer that still
    does not fit (thousands of outputs, giant names) is replaced by a failure that says why.
    """
    size = encoded_size(signal)
    if size <= cap:
        return signal
    result = dict(signal)
    for key in STREAMS:
        if isinstance(result.get(key), str):
            result[key] = _shrink(result[key], STREAM_JSON_CAP)
    size = encoded_size(result)
    outputs = sorted(
        ((encoded_size(value), name) for name, value in result.items() if name not in (*STREAMS, "deploy_status_code")),
        reverse=True,
    )
    notes = []
    for encoded, name in outputs:
        if size <= cap:
            break
        marker = (
            f"[hearth-agent: output '{name}' of {_length(result[name])} bytes dropped: the signal exceeded 3.5 MiB]"
        )
        result[name] = marker
        notes.append(marker + "\n")
        size += encoded_size(marker) - encoded
    if notes:
        stderr = result.get("deploy_stderr")
        stderr = "" if stderr is None else stderr if isinstance(stderr, str) else json.dumps(stderr)
        separator = "\n" if stderr and not stderr.endswith("\n") else ""
        result["deploy_stderr"] = _shrink(cap_text(stderr + separator + "".join(notes)), STREAM_JSON_CAP)
    size = encoded_size(result)
    if size > cap:
        code = result.get("deploy_status_code")
        return {
            "deploy_stdout": "",
            "deploy_stderr": f"[hearth-agent: the hook's answer was dropped: the signal "
            f"exceeded 3.5 MiB even without its outputs ({size} bytes)]",
            "deploy_status_code": code if isinstance(code, int) and code else 1,
        }
    return result


def _length(value: object) -> int:
    """An output's size as the hook gave it: UTF-8 bytes of a string, else of its JSON."""
    text = value if isinstance(value, str) else encode_body(value).decode("utf-8")
    return len(text.encode("utf-8"))


def _shrink(text: str, limit: int) -> str:
    """``text`` cut like cap_text (keeping its end) until its JSON takes at most ``limit`` bytes."""
    keep, shrunk = len(text.encode("utf-8")), text
    while (encoded := encoded_size(shrunk)) > limit and keep > 128:
        keep = max(128, min(keep - 64, keep * limit // encoded))
        shrunk = cap_text(text, keep)
    return shrunk


def record_result(
    run_dir: Path, status_code: int, signal_data: dict[str, Any], entry: dict[str, Any] | None = None
) -> None:
    """exit_code and result.json (and input.json when no hook run wrote it)."""
    ensure_dir(run_dir)
    if entry is not None:
        atomic_write_json(run_dir / "input.json", entry)
    atomic_write_text(run_dir / "exit_code", f"{status_code}\n")
    atomic_write_json(run_dir / "result.json", signal_data)


def entry_timeout(entry: dict[str, Any]) -> float | None:
    options = entry.get("options")
    value = options.get("timeout") if isinstance(options, dict) else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        LOG.warning("deployment %s: ignoring options.timeout %r (not a number)", entry.get("id"), value)
        return None
    return seconds if seconds > 0 else None


HEARTBEAT = 30.0  # seconds between progress heartbeats of a running hook
HEARTBEAT_ENV = "HEARTH_AGENT_HEARTBEAT"


def heartbeat_interval(entry: dict[str, Any]) -> float | None:
    """``options.heartbeat``, else $HEARTH_AGENT_HEARTBEAT, else HEARTBEAT; None (no
    heartbeats) when the value is 0 or negative."""
    options = entry.get("options")
    value = options.get("heartbeat") if isinstance(options, dict) else None
    source = "options.heartbeat"
    if value is None:
        value, source = os.environ.get(HEARTBEAT_ENV) or HEARTBEAT, HEARTBEAT_ENV
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        LOG.warning(
            "deployment %s: ignoring %s %r (not a number); heartbeat every %g s",
            entry.get("id"),
            source,
            value,
            HEARTBEAT,
        )
        return HEARTBEAT
    return seconds if 0 < seconds < float("inf") else None
