"""hearth-agent: the CLI, the collect → deploy → signal loop, and a supervisor that stops promptly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests

from agent.cache import CachedMetadata, MetadataCache
from agent.collectors import NotConfigured, Unavailable, make_collector
from agent.collectors.hearth import Fetch
from agent.config import AgentConfig, ConfigError, build_parser, from_args
from agent.deployments import (SILENT_GROUPS, DoneLedger, done_key, done_record, input_value,
                               prepare, wants_signal)
from agent.outbox import Outbox
from agent.runner import (build_signal, entry_timeout, find_hook, hook_environment,
                          hook_search_path, no_hook_signal, record_result, run_hook)
from agent.status import StatusFile

LOG = logging.getLogger("hearth.agent")

BACKOFF_BASE, BACKOFF_CAP, AUTH_BACKOFF_CAP = 0.5, 30.0, 60.0
ONCE_FLUSH_SECONDS = 30.0
STOP_GRACE = 4.0  # the local compute driver expects an exit within ~5 s of SIGTERM


class Agent:
    def __init__(self, config: AgentConfig, poll_session: requests.Session,
                 signal_session: requests.Session, jitter: Callable[[], float] = random.random):
        self.config = config
        self.layout = config.state
        self.layout.create()
        self.stop = threading.Event()
        self._jitter = jitter
        self.cache = MetadataCache(self.layout.cache_dir)
        self.ledger = DoneLedger(self.layout.deployed_dir)
        self.status = StatusFile(self.layout.status_file)
        self.outbox = Outbox(self.layout.outbox_dir, signal_session, config.bootstrap.base_url,
                             config.bootstrap.credential)
        self.collector = make_collector(config.bootstrap, poll_session)
        self._cached = self.cache.load()
        self._failures = 0
        self._finish_hand_overs()

    # -- the two modes -----------------------------------------------------------------------
    def run_once(self) -> int:
        """One non-waiting fetch, pending deployments, signals delivered for up to 30 s."""
        try:
            answer = self._fetch(None, 0.0)
        except Unavailable as exc:
            LOG.warning("metadata server unavailable: %s", exc)
            answer = None
        if self.stop.is_set():
            return 0
        if answer is not None:
            self._remember(answer)
        elif self._cached is not None:
            LOG.warning("using cached metadata version %s", self._cached.version)
        else:
            LOG.error("cannot fetch metadata and there is no cached copy")
            return 1
        self.deploy_all(self._cached.metadata)
        remaining = self.outbox.flush(deadline=time.monotonic() + ONCE_FLUSH_SECONDS,
                                      stop=self.stop, force=True)
        if remaining:
            LOG.warning("%d signal(s) not delivered yet; they stay in %s for the next run",
                        remaining, self.outbox.directory)
        return 0

    def run_forever(self) -> int:
        """Long-poll for changes and apply them until stopped; signals go from a sender thread."""
        self.outbox.start_sender(self.stop)
        version: Any = None  # the first request asks for the whole document, without waiting
        processed: dict | None = None
        dirty = False  # the last pass hit an error: run it again after the next answer
        while not self.stop.is_set():
            wait = 0.0 if version is None else self.config.poll_wait
            asked_at = time.monotonic()
            try:
                answer = self._fetch(version, wait)
            except Unavailable as exc:
                if processed is None and self._cached is not None:
                    LOG.info("working from cached metadata version %s", self._cached.version)
                    processed = self._cached.metadata
                    dirty = not self.deploy_all(processed)
                self._back_off(exc)
                continue
            if answer is None:
                break
            self._recovered()
            if answer.changed:
                version = answer.version
                self._remember(answer)
                if answer.metadata == processed and not dirty:
                    continue  # any 200 is only "maybe changed"
                processed = answer.metadata
                dirty = not self.deploy_all(processed)
            else:
                if dirty and processed is not None:
                    dirty = not self.deploy_all(processed)
                # A 304 long before the wait ran out means something ignores ``wait``
                # (a proxy, an old server): do not turn that into a busy loop.
                self.stop.wait(max(0.0, min(wait, 1.0) - (time.monotonic() - asked_at)))
        return 0

    # -- collecting ----------------------------------------------------------------------------
    def _fetch(self, since: Any, wait: float) -> Fetch | None:
        """collector.fetch in a helper thread, so a held long-poll never delays a stop (None)."""
        outcome: dict = {}

        def call() -> None:
            try:
                outcome["answer"] = self.collector.fetch(since, wait)
            except BaseException as exc:  # handed to the caller below
                outcome["error"] = exc

        thread = threading.Thread(target=call, name="hearth-poll", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.05)
            if self.stop.is_set() and thread.is_alive():
                return None
        if "error" in outcome:
            raise outcome["error"]
        return outcome["answer"]

    def _remember(self, answer: Fetch) -> None:
        cached = self._cached
        if cached is None or cached.version != answer.version or cached.metadata != answer.metadata:
            LOG.info("metadata version %s received", answer.version)
            try:
                self._cached = self.cache.store(answer.version, answer.metadata)
            except OSError as exc:  # still act on what we received; the cache is a fallback
                LOG.error("cannot write the metadata cache: %s", exc)
                self._cached = CachedMetadata(answer.version, answer.metadata, time.time())

    def _back_off(self, exc: Unavailable) -> None:
        self._failures += 1
        if exc.kind == "auth":
            if self._failures == 1 or self._failures % 20 == 0:
                LOG.error("metadata server refused this server's credential (%s); check the "
                          "bootstrap document; retrying with backoff", exc)
        elif self._failures == 1:
            LOG.warning("metadata server unavailable (%s); keeping the last good metadata", exc)
        cap = AUTH_BACKOFF_CAP if exc.kind == "auth" else BACKOFF_CAP
        delay = exc.retry_after if exc.retry_after is not None else (
            min(cap, BACKOFF_BASE * 2 ** (self._failures - 1)) * self._jitter())
        LOG.debug("metadata fetch failed (%s); retrying in %.1f s", exc, delay)
        self.stop.wait(delay)

    def _recovered(self) -> None:
        if self._failures:
            LOG.info("metadata server reachable again after %d failed attempt(s)", self._failures)
            self._failures = 0

    # -- deploying -----------------------------------------------------------------------------
    def deploy_all(self, metadata: dict) -> bool:
        """Apply ``metadata["deployments"]`` in the order given; False when an entry hit an error."""
        deployments = metadata.get("deployments")
        deployments = deployments if isinstance(deployments, list) else []
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
        return error is None

    def deploy(self, entry: Any) -> None:
        """Run one entry unless done, then hand its result over (see _hand_over)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            name = entry.get("name") if isinstance(entry, dict) else type(entry).__name__
            LOG.error("ignoring a deployment entry without an id (%r)", name)  # entries hold secrets
            return
        if entry.get("group") in SILENT_GROUPS:
            return
        key, entry_id = done_key(entry), entry["id"]
        staged = self.outbox.staged_item(entry_id)
        if staged is not None:  # its hook finished; the marker write failed: finish, never re-run
            self._finish_hand_over(*staged)
        if self.ledger.is_done(key):
            return
        if self.outbox.holds(entry_id, key):  # left by an agent from before staging: never re-run
            self.ledger.mark_done(key, entry, None)
            return
        prepared = prepare(entry)
        label = f"{entry_id} ({entry.get('name')})"
        if prepared is None:
            LOG.info("deployment %s: component has no config for action %s; skipping", label,
                     input_value(entry, "deploy_action"))
            return
        group = str(prepared.get("group") or "")
        if group in SILENT_GROUPS:  # a component whose tool for this action is one of them
            return
        run_dir = self.layout.run_dir(entry_id)
        search_path = hook_search_path(self.config.hooks_path)
        hook = find_hook(group, search_path)
        self.status.deployment(entry_id, "running", finished=False)
        if hook is None:
            LOG.error("deployment %s: no hook for group %r", label, group)
            signal_data = no_hook_signal(group, search_path)
            code = signal_data["deploy_status_code"]
            record_result(run_dir, code, signal_data, entry=prepared)
        else:
            LOG.info("deployment %s: running hook %s", label, hook)
            run = run_hook(hook, prepared, run_dir, hook_environment(self.layout, hook.name),
                           entry_timeout(prepared), self.stop)
            if run.interrupted:
                LOG.warning("deployment %s: hook stopped by shutdown; it runs again on restart",
                            label)
                self.status.deployment(entry_id, "interrupted")
                return
            signal_data, code = build_signal(run), run.status_code
            record_result(run_dir, code, signal_data)
        status_code = signal_data.get("deploy_status_code", 0)
        if wants_signal(prepared):
            self._hand_over(entry_id, key, done_record(key, entry, status_code), signal_data)
        else:
            LOG.info("deployment %s: NO_SIGNAL transport; not signalling", label)
            self.ledger.mark_done(key, entry, status_code)
        self.status.deployment(entry_id, finished_status(status_code))
        LOG.info("deployment %s finished: exit %s, deploy_status_code %s", label, code,
                 status_code)

    def _hand_over(self, entry_id: str, key: str, record: dict, signal_data: dict) -> None:
        """Stage the signal, write the done marker, publish the signal.

        Publishing last means the sender can never deliver (and delete) the signal of a run
        that has no done marker yet, which a crash would turn into a second run. A crash before
        the staged file is complete runs the hook again (commit after success); from then on
        the staged file is the proof that the hook finished, and _finish_hand_over completes it.
        """
        staged = self.outbox.stage(entry_id, signal_data, done_key=key, done_record=record)
        self.ledger.write(key, record)
        self.outbox.publish(staged)

    def _finish_hand_over(self, path: Path, item: dict) -> None:
        key, entry_id = item.get("done_key"), item["entry_id"]
        if isinstance(key, str) and not self.ledger.is_done(key):
            record = item.get("done_record")
            self.ledger.write(key, record if isinstance(record, dict) else {"key": key,
                                                                            "id": entry_id})
        self.outbox.publish(path)
        payload = item.get("payload")
        status_code = payload.get("deploy_status_code", 0) if isinstance(payload, dict) else None
        self.status.deployment(entry_id, finished_status(status_code))
        LOG.info("deployment %s: finished the hand-over of its result (its hook is not run again)",
                 entry_id)

    def _finish_hand_overs(self) -> None:
        """At start-up: publish every signal a crash left staged, after its done marker."""
        for path, item in self.outbox.staged_items():
            try:
                self._finish_hand_over(path, item)
            except OSError as exc:  # its entry tries again when it comes up, still without a re-run
                LOG.error("cannot finish the hand-over of %s: %s", path.name, exc)


def finished_status(status_code: Any) -> str:
    return "complete" if status_code in (0, None) else "failed"


def supervise(agent: Agent, work: Callable[[], int]) -> int:
    """Run ``work`` in a thread; on SIGTERM/SIGINT set agent.stop and give it STOP_GRACE seconds.

    The handler only records the signal: setting an Event from a handler can deadlock if the
    main thread was inside that Event's lock.
    """
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["code"] = work()
        except Exception:
            LOG.exception("hearth-agent stopped by an unexpected error")
            outcome["code"] = 1

    worker = threading.Thread(target=target, name="hearth-agent", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
            if received and not agent.stop.is_set():
                LOG.info("received %s; finishing the current step", signal.Signals(received[0]).name)
                agent.stop.set()
                agent.outbox.wake()
                worker.join(STOP_GRACE)
                if worker.is_alive():
                    LOG.warning("current step did not finish within %.0f s; exiting anyway",
                                STOP_GRACE)
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if received else outcome.get("code", 1)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not isinstance(logging.getLevelName(args.log_level), int):
        parser.error(f"--log-level: unknown level {args.log_level!r}")
    logging.basicConfig(stream=sys.stdout, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = from_args(args)
    except ConfigError as exc:
        LOG.error("%s", exc)
        return 2
    with requests.Session() as poll_session, requests.Session() as signal_session:
        try:
            agent = Agent(config, poll_session, signal_session)
        except (NotConfigured, OSError) as exc:
            LOG.error("cannot start: %s", exc)
            return 2
        LOG.info("hearth-agent for server %s, state in %s, %s", config.bootstrap.server_id,
                 config.state.root,
                 "once" if config.once else f"long-poll wait {config.poll_wait:g} s")
        return supervise(agent, agent.run_once if config.once else agent.run_forever)


if __name__ == "__main__":
    sys.exit(main())
