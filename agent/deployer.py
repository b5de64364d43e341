"""Deployment passes: owns the order run → stage signal → mark done → publish; writes files, runs
or kills hooks and calls the guest API only via runner, orphans, DoneLedger, StatusFile, Outbox.

Deployments go from metadata to outbox in name order, one hook run per (id, action, config
checksum). A running hook's heartbeats go out through the Outbox from a daemon thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from agent import orphans
from agent.config import StateLayout
from agent.deployments import (
    SILENT_GROUPS,
    DoneLedger,
    done_key,
    done_record,
    input_value,
    prepare,
    wants_signal,
)
from agent.fsutil import safe_name
from agent.outbox import Outbox
from agent.runner import (
    build_signal,
    entry_timeout,
    find_hook,
    finish_orphan,
    heartbeat_interval,
    hook_environment,
    hook_search_path,
    no_hook_signal,
    prune_departed,
    prune_runs,
    record_result,
    run_folder,
    run_hook,
)
from agent.status import StatusFile

LOG = logging.getLogger("hearth.agent")

# Convergence tracing (docs/convergence.md): the operation id a Hearth server puts in an entry,
# sent back in the entry's signal with the run's duration in seconds.
OPERATION_KEY = "hearth_operation"
RUN_SECONDS_KEY = "hearth_run_seconds"
# Run folders of a deployment that left the metadata are kept this long (seconds) after their
# last write, so that a failure can still be read; then they go.
RUNS_RETENTION = 7 * 86400


class Deployer:
    """Applies deployment entries; shares the agent's stop event, ledger, status file and outbox."""

    def __init__(
        self,
        layout: StateLayout,
        hooks_path: tuple[Path, ...],
        ledger: DoneLedger,
        status: StatusFile,
        outbox: Outbox,
        stop: threading.Event,
        *,
        extra_environment: Callable[[], dict[str, str]] | None = None,
    ):
        self.layout = layout
        # More variables for every hook, asked for just before it runs (the stack's facts).
        self.extra_environment = extra_environment
        self.hooks_path = hooks_path
        self.ledger = ledger
        self.status = status
        self.outbox = outbox
        self.stop = stop
        self._orphans_settled = False  # runs left by an earlier agent were looked for

    def deploy_all(self, metadata: dict[str, Any]) -> bool:
        """Apply ``metadata["deployments"]`` in Heat's order (by name, then id); False when an
        entry hit an error."""
        deployments = metadata.get("deployments")
        deployments = sorted(deployments, key=deployment_order) if isinstance(deployments, list) else []
        if not self._orphans_settled:
            deployments = self._orphans_first(deployments)
        self.status.pass_started()
        error = None
        for entry in deployments:
            if self.stop.is_set():
                break
            try:
                self.deploy(entry)
            except Exception as exc:  # one broken entry (or a full disk) must not stop the others
                entry_id = entry.get("id") if isinstance(entry, dict) else None
                LOG.exception("deployment %s: could not be applied", entry_id)
                error = f"deployment {entry_id}: {type(exc).__name__}: {exc}"
                if isinstance(entry_id, str):
                    self.status.deployment(entry_id, "error")
        self.status.pass_finished(error)
        if error is None and not self.stop.is_set():
            self._forget_departed(deployments)
        return error is None

    def _orphans_first(self, deployments: list[Any]) -> list[Any]:
        """Once per agent process, before its first pass runs anything: kill the runs an earlier
        agent left running for entries no longer in the metadata (their signal would be
        refused), and move the entries whose earlier run is still going or has ended to the
        front, so that no new hook starts while an orphan still runs."""
        self._orphans_settled = True
        current = {e["id"] for e in deployments if isinstance(e, dict) and isinstance(e.get("id"), str)}
        first: set[str] = set()
        try:
            folders = sorted(p.parent for p in self.layout.runs_dir.glob(f"*/*/{orphans.LAUNCH_FILE}"))
        except OSError:
            return deployments
        for folder in folders:
            left = orphans.probe(folder)
            if left is None or left.state == orphans.CUT_SHORT:
                continue
            entry_id = left.launch.get("entry_id")
            if isinstance(entry_id, str) and entry_id in current:
                first.add(entry_id)
            elif left.state == orphans.RUNNING:
                LOG.warning(
                    "deployment %s: its hook (pid %s) still runs from before this agent "
                    "started, but the deployment is no longer in the metadata: stopping "
                    "its process group",
                    entry_id,
                    left.launch.get("pid"),
                )
                orphans.kill(folder, left.launch, grace=2.0)
        return sorted(deployments, key=lambda e: not (isinstance(e, dict) and e.get("id") in first))

    def _forget_departed(self, deployments: list[Any]) -> None:
        current = {safe_name(e["id"]) for e in deployments if isinstance(e, dict) and isinstance(e.get("id"), str)}
        try:
            removed = prune_departed(self.layout.runs_dir, current, RUNS_RETENTION)
        except OSError as exc:  # artifacts are for people; never fail a pass over them
            LOG.warning("cannot prune old run folders in %s: %s", self.layout.runs_dir, exc)
            return
        if removed:
            LOG.info(
                "removed the run folders of %d deployment(s) gone from the metadata for over %d days",
                len(removed),
                RUNS_RETENTION // 86400,
            )

    def deploy(self, entry: Any) -> None:
        """Run one entry unless done, then hand its result over (see _hand_over)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            name = entry.get("name") if isinstance(entry, dict) else type(entry).__name__
            LOG.error("ignoring a deployment entry without an id (%r)", name)  # entries hold secrets
            return
        key, entry_id = done_key(entry), entry["id"]
        # Log lines name a deployment by id and config name, never by an input value (secrets);
        # deploy_action is the one exception, a Heat action name.
        label = f"{entry_id} ({entry.get('name')})"
        action = input_value(entry, "deploy_action")
        prepared = self._pending(entry, key, label, action)
        if prepared is None:
            return
        deployment_dir = self.layout.run_dir(entry_id)
        run_dir = run_folder(deployment_dir, entry)
        self.status.running(entry_id, entry.get("name"), action)
        started = time.monotonic()
        outcome = self._run(entry_id, label, action, str(prepared.get("group") or ""), prepared, run_dir)
        if outcome is None:
            return
        signal_data, code = outcome
        signal_data = traced(signal_data, entry, time.monotonic() - started)
        prune_runs(deployment_dir)
        status_code = signal_data.get("deploy_status_code", 0)
        if wants_signal(prepared):
            self._hand_over(entry_id, key, done_record(key, entry, status_code), signal_data)
            delivery = "signal queued"
        else:
            self.ledger.mark_done(key, entry, status_code)
            delivery = "NO_SIGNAL transport, not signalled"
        status = finished_status(status_code)
        self.status.deployment(entry_id, status)
        LOG.info(
            "deployment %s: finished %s: exit %s, deploy_status_code %s; %s", label, status, code, status_code, delivery
        )

    def _pending(self, entry: dict[str, Any], key: str, label: str, action: Any) -> dict[str, Any] | None:
        """The entry as its hook gets it, or None (logged as skipped) when it is not run now."""
        entry_id = entry["id"]
        if entry.get("group") in SILENT_GROUPS:
            LOG.debug("deployment %s: skipped: group %s is never run", label, entry.get("group"))
            return None
        staged = self.outbox.staged_item(entry_id)
        if staged is not None:  # its hook finished; the marker write failed: finish, never re-run
            self._finish_hand_over(*staged)
        if self.ledger.is_done(key):
            LOG.debug("deployment %s: skipped: already done for %s of this config", label, action)
            return None
        prepared = prepare(entry)
        if prepared is None:
            LOG.info("deployment %s: skipped: its component has no config for action %s", label, action)
            return None
        if prepared.get("group") in SILENT_GROUPS:  # a component's tool for this action
            LOG.debug("deployment %s: skipped: tool %s is never run", label, prepared["group"])
            return None
        return prepared

    def _run(
        self, entry_id: str, label: str, action: Any, group: str, prepared: dict[str, Any], run_dir: Path
    ) -> tuple[dict[str, Any], int] | None:
        """Run the group's hook (or fail for want of one); the signal and exit code, with both
        recorded in ``run_dir``; None when a shutdown stopped the hook.

        A run an earlier agent started in ``run_dir`` comes first: one still going is waited
        for and one that ended is taken as it is (neither runs again); one cut short is cleared
        away (what is left of its process group is killed) and the hook runs anew."""
        left = orphans.probe(run_dir)
        if left is not None and left.state == orphans.RUNNING and left.launch.get("stopped_by") == "shutdown":
            # An earlier agent was stopping it for a shutdown when it died: finish that off;
            # an interrupted run runs again.
            orphans.kill(run_dir, left.launch, grace=1.0)
            left = orphans.probe(run_dir)
        if left is not None and left.state != orphans.CUT_SHORT:
            return self._finish_orphan(entry_id, label, prepared, left, run_dir)
        if left is not None:
            killed = orphans.kill_remnants(left.launch)
            LOG.warning(
                "deployment %s: its run by an earlier agent (pid %s) was cut short before it ended%s; running it again",
                label,
                left.launch.get("pid"),
                f" (stopped what was left of it: pids {killed})" if killed else "",
            )
        search_path = hook_search_path(self.hooks_path)
        hook = find_hook(group, search_path)
        if hook is None:
            signal_data = no_hook_signal(group, search_path)
            LOG.error("deployment %s: failed: %s", label, signal_data["deploy_stderr"])
            record_result(run_dir, signal_data["deploy_status_code"], signal_data, entry=prepared)
            return signal_data, signal_data["deploy_status_code"]
        timeout = entry_timeout(prepared)
        LOG.info(
            "deployment %s: started: %s with hook %s, timeout %s, artifacts in %s",
            label,
            action,
            hook,
            f"{timeout:g} s" if timeout else "none",
            run_dir,
        )
        env = hook_environment(self.layout, hook.name)
        if self.extra_environment is not None:
            env.update(self.extra_environment())
        with Heartbeat(lambda: self.outbox, entry_id, label, hook.name, heartbeat_interval(prepared)):
            run = run_hook(hook, prepared, run_dir, env, timeout, self.stop)
        if run.interrupted:
            LOG.warning("deployment %s: interrupted: hook stopped by shutdown; it runs again on restart", label)
            self.status.deployment(entry_id, "interrupted")
            return None
        if run.timed_out:
            LOG.warning(
                "deployment %s: timed out after %g s: hook %s and its process group were killed",
                label,
                timeout,
                hook.name,
            )
        signal_data = build_signal(run)
        record_result(run_dir, run.status_code, signal_data)
        return signal_data, run.status_code

    def _finish_orphan(
        self, entry_id: str, label: str, prepared: dict[str, Any], left: orphans.Left, run_dir: Path
    ) -> tuple[dict[str, Any], int] | None:
        """Take over a run an earlier agent left: wait for it if it still runs, then use its
        result as if this agent had run it."""
        pid, hook = left.launch.get("pid"), Path(str(left.launch.get("hook"))).name
        if left.state == orphans.RUNNING:
            LOG.warning(
                "deployment %s: its hook %s (pid %s) still runs from before this agent "
                "started; waiting for it instead of running it again",
                label,
                hook,
                pid,
            )
            with Heartbeat(lambda: self.outbox, entry_id, label, hook, heartbeat_interval(prepared)):
                run = finish_orphan(left, run_dir, self.stop)
        else:
            LOG.warning(
                "deployment %s: its hook %s (pid %s) ended while no agent ran; using the result it left in %s",
                label,
                hook,
                pid,
                run_dir,
            )
            run = finish_orphan(left, run_dir, self.stop)
        if run.interrupted:
            LOG.warning("deployment %s: interrupted: hook stopped by shutdown; it runs again on restart", label)
            self.status.deployment(entry_id, "interrupted")
            return None
        if run.timed_out:
            LOG.warning("deployment %s: timed out: hook %s and its process group were killed", label, hook)
        signal_data = build_signal(run)
        record_result(run_dir, run.status_code, signal_data)
        return signal_data, run.status_code

    def _hand_over(self, entry_id: str, key: str, record: dict[str, Any], signal_data: dict[str, Any]) -> None:
        """Stage the signal, write the done marker, publish the signal.

        Publishing last means the sender can never deliver (and delete) the signal of a run
        that has no done marker yet, which a crash would turn into a second run. A crash before
        the staged file is complete runs the hook again (commit after success); from then on
        the staged file is the proof that the hook finished, and _finish_hand_over completes it.
        """
        staged = self.outbox.stage(entry_id, signal_data, done_key=key, done_record=record)
        self.ledger.write(key, record)
        self.outbox.publish(staged)

    def _finish_hand_over(self, path: Path, item: dict[str, Any]) -> None:
        key, entry_id = item.get("done_key"), item["entry_id"]
        if isinstance(key, str) and not self.ledger.is_done(key):
            record = item.get("done_record")
            self.ledger.write(key, record if isinstance(record, dict) else {"key": key, "id": entry_id})
        self.outbox.publish(path)
        payload = item.get("payload")
        status_code = payload.get("deploy_status_code", 0) if isinstance(payload, dict) else None
        self.status.deployment(entry_id, finished_status(status_code))
        LOG.info("deployment %s: finished the hand-over of its result (its hook is not run again)", entry_id)

    def finish_hand_overs(self) -> None:
        """At start-up: publish every signal a crash left staged, after its done marker."""
        for path, item in self.outbox.staged_items():
            try:
                self._finish_hand_over(path, item)
            except OSError as exc:  # its entry tries again when it comes up, still without a re-run
                LOG.error("cannot finish the hand-over of %s: %s", path.name, exc)


def traced(signal_data: dict[str, Any], entry: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The signal with the entry's operation id sent back and how long the run took (the server
    places the run in time from these, with its own clock: docs/convergence.md). Heat's readers
    of a signal take only the keys they know."""
    operation = entry.get(OPERATION_KEY)
    if not isinstance(operation, str):
        return signal_data
    return {**signal_data, OPERATION_KEY: operation, RUN_SECONDS_KEY: round(max(0.0, seconds), 3)}


def finished_status(status_code: Any) -> str:
    return "complete" if status_code in (0, None) else "failed"


def deployment_order(entry: Any) -> tuple[str, str]:
    """Heat applies a server's deployments sorted by config name; the id breaks ties, so the
    order never depends on how the list arrived."""
    if not isinstance(entry, dict):
        return ("", "")
    return (str(entry.get("name") or ""), str(entry.get("id") or ""))


class Heartbeat:
    """While a hook runs, POST progress for its deployment every ``interval`` seconds.

    A daemon thread, so a slow guest API never delays the run; not durable and never retried
    (the next beat supersedes a lost one). The first failure of a run is logged, the rest
    only at debug level: heartbeats never change a run's outcome. ``outbox`` is asked for at
    each beat, so a credential replaced by a reload (SIGHUP) is used at once.
    """

    def __init__(self, outbox: Callable[[], Outbox], entry_id: str, label: str, hook: str, interval: float | None):
        self.outbox, self.entry_id, self.label, self.hook = outbox, entry_id, label, hook
        self.interval = interval
        self.sent = self.failed = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.interval is not None:
            self._thread = threading.Thread(target=self._beat, name="hearth-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(1.0)  # a beat stuck on the network finishes on its own

    def _beat(self) -> None:
        started = time.monotonic()
        while not self._done.wait(self.interval):
            self.send(f"hook {self.hook} running for {time.monotonic() - started:.0f} s")

    def send(self, message: str) -> None:
        try:
            status = self.outbox().progress(self.entry_id, message)
        except requests.RequestException as exc:
            problem = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - whatever it is, it must not reach the run
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                self.sent += 1
                return
            problem = f"HTTP {status}"
        self.failed += 1
        level = logging.WARNING if self.failed == 1 else logging.DEBUG
        LOG.log(
            level,
            "deployment %s: heartbeat not accepted (%s); the hook goes on, and "
            "further heartbeat failures of this run are not logged",
            self.label,
            problem,
        )
