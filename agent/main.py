"""hearth-agent's entry point: owns the process (signal handlers, threads, ``agent.lock`` in the
state dir), its two requests.Sessions and the Replicas they share (the guest API base in use);
all other I/O goes through the modules it wires.

The CLI (and `hearth-agent metric put`, agent.metrics; `hearth-agent fact ...`, agent.facts), the collect → merge → deploy → signal
loop, the host metrics' thread, SIGHUP reload, and a supervisor that stops promptly on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from agent.cache import MetadataCache
from agent.collectors import NotConfigured, make_collectors
from agent.collectors.merge import merge_documents
from agent.collectors.source import Source
from agent.config import AgentConfig, ConfigError, build_parser, from_args
from agent.deployer import Deployer
from agent.deployments import DoneLedger
from agent.facts import HOOK_TIMEOUT, FactsClient, HookFacts, fact_command
from agent.fsutil import ensure_dir
from agent.metrics import HostReporter, metric_command
from agent.outbox import Outbox
from agent.replicas import Replicas
from agent.rotation import Rotation
from agent.sdnotify import Notifier
from agent.status import StatusFile, agent_version

LOG = logging.getLogger("hearth.agent")

ONCE_FLUSH_SECONDS = 30.0
STOP_GRACE = 4.0  # the local compute driver expects an exit within ~5 s of SIGTERM
RETRY_FAILED_PASS = 30.0  # a pass that hit an error runs again after this, or on news
WORKER_DONE = b"\0"  # written to the supervisor's pipe when the work ends (no signal is 0)


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        poll_session: requests.Session,
        signal_session: requests.Session,
        jitter: Callable[[], float] = random.random,
        *,
        reload_config: Callable[[], AgentConfig] | None = None,
        notifier: Notifier | None = None,
    ):
        self.config = config
        self.layout = config.state
        self.layout.create()
        self.stop = threading.Event()
        self.wake = threading.Event()  # set by sources, SIGHUP and stop: the loop looks again
        self.notifier = notifier or Notifier(None)
        self._reload_config = reload_config
        self._reload_requested = False
        self._new_credential: str | None = None  # set by the rotation; applied by the loop
        self._poll_session = poll_session
        self._signal_session = signal_session
        self._jitter = jitter
        self._lock = threading.Lock()  # shared by the sources; see Source
        # One choice of guest API base for polls, signals, heartbeats and rotation alike.
        self.replicas = Replicas(config.bootstrap.base_urls)
        self.ledger = DoneLedger(self.layout.deployed_dir)
        self.status = StatusFile(self.layout.status_file)
        self.outbox = self._make_outbox(config)
        self._sender: threading.Thread | None = None
        self._sender_stop = threading.Event()
        self.sources = self._make_sources(config, {})
        # The stack's facts, given to every hook (a file and variables; agent/facts.py).
        self.facts = FactsClient(
            signal_session,
            self.replicas,
            config.bootstrap.server_id,
            config.bootstrap.credential,
            timeout=HOOK_TIMEOUT,
        )
        hook_facts = HookFacts(self.facts, self.layout.root / "facts.json", config.bootstrap_path)
        self.deployer = Deployer(
            self.layout,
            config.hooks_path,
            self.ledger,
            self.status,
            self.outbox,
            self.stop,
            extra_environment=hook_facts.environment,
        )
        self.deployer.finish_hand_overs()
        self.rotation = self._make_rotation(config)
        self.host_metrics: HostReporter | None = None  # started by run_forever

    # -- the two modes -----------------------------------------------------------------------
    def run_once(self) -> int:
        """One look at every source, pending deployments, signals delivered for up to 30 s."""
        for source in self.sources:
            source.start_once()
        self._wait_until_settled()
        if self.stop.is_set():
            return 0
        merged = self.merged()
        if merged is None:
            LOG.error("cannot fetch metadata from any source and there is no cached copy")
            return 1
        self.deployer.deploy_all(merged)
        if self.rotation is not None:
            self.rotation.step()  # rotates only if the credential is near its expiry
            self._apply_new_credential()
        remaining = self.outbox.flush(deadline=time.monotonic() + ONCE_FLUSH_SECONDS, stop=self.stop, force=True)
        if remaining:
            LOG.warning(
                "%d signal(s) not delivered yet; they stay in %s for the next run", remaining, self.outbox.directory
            )
        return 0

    def run_forever(self) -> int:
        """Sources report into ``wake``; each time, merge and deploy if anything changed."""
        self._start_sender()
        for source in self.sources:
            source.start()
        if self.rotation is not None:
            self.rotation.start()
        if self.config.metrics_interval > 0:
            self.host_metrics = HostReporter(self.config.metrics_interval, self.outbox.put_host_metrics)
            self.host_metrics.start()
        self.notifier.start_watchdog(self.stop)
        processed: dict[str, Any] | None = None
        dirty = False  # the last pass hit an error: run it again
        ready = False
        while True:
            self.wake.clear()
            if self.stop.is_set():
                break
            if self._reload_requested:
                self._reload()
            self._apply_new_credential()
            if all(source.settled for source in self.sources):
                merged = self.merged()
                if not ready:
                    # Every source had its say (fresh or cached metadata is in hand): ready
                    # before its hooks run, which can take longer than systemd's start timeout.
                    ready = True
                    self.notifier.ready(self._status_line(merged, False))
                if merged is not None and (merged != processed or dirty):
                    processed = merged
                    dirty = not self._pass(merged)
            # Idle means blocked here with no timeout: only a source, a signal or a
            # failed pass's retry wakes the loop.
            self.wake.wait(RETRY_FAILED_PASS if dirty else None)
        return 0

    def shutdown(self) -> None:
        """Called from the supervisor (main thread) on SIGTERM/SIGINT."""
        self.stop.set()
        self._sender_stop.set()
        self.outbox.wake()
        self.wake.set()
        for source in self.sources:
            source.stop()
        if self.rotation is not None:
            self.rotation.stop()
        if self.host_metrics is not None:
            self.host_metrics.stop()

    def request_reload(self) -> None:
        """Called from the supervisor on SIGHUP; the loop reloads between passes."""
        if self.config.once:
            LOG.info("SIGHUP ignored: --once does not reload")
            return
        self._reload_requested = True
        self.wake.set()

    # -- merging and deploying ---------------------------------------------------------------
    def merged(self) -> dict[str, Any] | None:
        """The sources' documents merged in the bootstrap's order; None when none has one."""
        documents = [s.current.metadata for s in self.sources if s.current is not None]
        return merge_documents(documents) if documents else None

    def _pass(self, merged: dict[str, Any]) -> bool:
        count = len(merged.get("deployments") or [])
        self.notifier.status(f"applying metadata with {count} deployment(s)")
        clean = self.deployer.deploy_all(merged)
        self.notifier.status(self._status_line(merged, not clean))
        return clean

    def _status_line(self, merged: dict[str, Any] | None, dirty: bool) -> str:
        names = ", ".join(s.name for s in self.sources if s.current is not None) or "no source"
        if merged is None:
            return "waiting: no metadata from any source yet and no cached copy"
        count = len(merged.get("deployments") or [])
        state = "last pass had an error, retrying" if dirty else "idle"
        return f"{state}; {count} deployment(s) from {names}"

    def _wait_until_settled(self) -> None:
        while True:
            self.wake.clear()
            if self.stop.is_set() or all(s.settled for s in self.sources):
                return
            self.wake.wait()

    # -- building and rebuilding -------------------------------------------------------------
    def _make_sources(self, config: AgentConfig, previous: dict[str, Any]) -> list[Source]:
        """One Source per usable collector; ``previous`` (name → document) survives a reload."""
        return [
            Source(
                collector,
                MetadataCache(self.layout.cache_dir, collector.name),
                self.wake.set,
                poll_wait=config.poll_wait,
                lock=self._lock,
                jitter=self._jitter,
                previous=previous.get(collector.name),
            )
            for collector in make_collectors(config.bootstrap, self._poll_session, self.replicas)
        ]

    def _make_outbox(self, config: AgentConfig) -> Outbox:
        return Outbox(
            self.layout.outbox_dir,
            self._signal_session,
            self.replicas,
            config.bootstrap.credential,
            server_id=config.bootstrap.server_id,
        )

    def _make_rotation(self, config: AgentConfig) -> Rotation | None:
        """Rotation watches the collectors' answers for the credential's expiry (a response
        hook on their session) and rotates before it; off without a bootstrap file to update."""
        if config.bootstrap_path is None or config.rotate_remaining <= 0:
            return None
        rotation = Rotation(
            self._poll_session,
            config.bootstrap_path,
            base_url=self.replicas,
            credential=config.bootstrap.credential,
            on_rotated=self._credential_rotated,
            remaining_fraction=config.rotate_remaining,
            jitter=self._jitter,
        )
        self._poll_session.hooks["response"].append(rotation.observe)
        return rotation

    def _credential_rotated(self, credential: str) -> None:
        """Called by the rotation (its own thread); the loop switches over between passes."""
        self._new_credential = credential
        self.wake.set()

    def _apply_new_credential(self) -> None:
        """Sources and outbox use the rotated credential from now on, without a restart."""
        credential, self._new_credential = self._new_credential, None
        if credential is None or credential == self.config.bootstrap.credential:
            return
        config = dataclasses.replace(
            self.config, bootstrap=dataclasses.replace(self.config.bootstrap, credential=credential)
        )
        self._swap_sources(config)
        self.outbox.retarget(self.replicas, credential)
        self.facts.retarget(credential)
        self.config = config
        LOG.info("switched to the rotated credential")

    def _swap_sources(self, config: AgentConfig) -> None:
        sources = self._make_sources(config, {s.name: s.current for s in self.sources if s.current is not None})
        for source in self.sources:
            source.stop()
        self.sources = sources
        if not config.once:
            for source in sources:
                source.start()

    def _start_sender(self) -> None:
        self._sender = self.outbox.start_sender(self._sender_stop)

    def _reload(self) -> None:
        """Re-read the bootstrap, rebuild the sources (and the outbox if its target moved)."""
        self._reload_requested = False
        self.notifier.reloading()
        try:
            if self._reload_config is None:
                raise ConfigError("this agent was started without a way to reload")
            config = self._reload_config()
            sources = self._make_sources(config, {s.name: s.current for s in self.sources if s.current is not None})
        except (ConfigError, NotConfigured, OSError) as exc:
            LOG.error("SIGHUP: keeping the current configuration: %s", exc)
            self.notifier.ready(self._status_line(self.merged(), False))
            return
        self.replicas.use(config.bootstrap.base_urls)  # the base in use stays if still listed
        for source in self.sources:
            source.stop()
        self.sources = sources
        for source in sources:
            source.start()
        old = self.config.bootstrap
        if (config.bootstrap.base_urls, config.bootstrap.credential) != (old.base_urls, old.credential):
            self._replace_outbox(config)
        if self.rotation is not None:
            self.rotation.use(config.bootstrap.credential)
        self.outbox.server_id = config.bootstrap.server_id  # metric items go to the server named now
        self.facts.server_id = config.bootstrap.server_id
        self.config = config
        LOG.info("SIGHUP: reloaded the bootstrap document; collectors %s", ", ".join(s.name for s in sources))
        self.notifier.ready(self._status_line(self.merged(), False))

    def _replace_outbox(self, config: AgentConfig) -> None:
        """Signals (and heartbeats) go to the new base URLs with the new credential."""
        self.outbox.retarget(self.replicas, config.bootstrap.credential)
        self.facts.retarget(config.bootstrap.credential)


def supervise(agent: Agent, work: Callable[[], int]) -> int:
    """Run ``work`` in a thread; the main thread blocks on a pipe until it ends or a signal comes.

    The signal handlers do nothing themselves: ``signal.set_wakeup_fd`` writes each signal's
    number into the pipe, and the main thread acts on it outside any handler (setting an Event
    from a handler can deadlock if the main thread was inside that Event's lock). SIGHUP asks
    for a reload; SIGTERM/SIGINT set agent.stop and give the work STOP_GRACE seconds.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in handled}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["code"] = work()
        except Exception:
            LOG.exception("hearth-agent stopped by an unexpected error")
            outcome["code"] = 1
        finally:
            try:
                os.write(write_fd, WORKER_DONE)
            except OSError:  # the supervisor gave up on us and closed the pipe
                pass

    worker = threading.Thread(target=target, name="hearth-agent", daemon=True)
    worker.start()
    stopped_by = None
    try:
        stopped_by = _wait_for_end(read_fd, agent)
        if stopped_by is not None:
            LOG.info("received %s; finishing the current step", signal.Signals(stopped_by).name)
            agent.notifier.stopping()
            agent.shutdown()
            worker.join(STOP_GRACE)
            if worker.is_alive():
                LOG.warning("current step did not finish within %.0f s; exiting anyway", STOP_GRACE)
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read_fd)
        os.close(write_fd)
    return 0 if stopped_by is not None else outcome.get("code", 1)


def _wait_for_end(read_fd: int, agent: Agent) -> int | None:
    """Block on the pipe: the stopping signal's number, or None when the work ended itself."""
    while True:
        for byte in os.read(read_fd, 64):
            if byte == WORKER_DONE[0]:
                return None
            if byte == signal.SIGHUP:
                agent.request_reload()
            elif byte in (signal.SIGTERM, signal.SIGINT):
                return byte


def hold_state_dir(root: Path) -> int:
    """Take ``<state dir>/agent.lock`` for the life of this process (the fd is returned and
    never closed): two agents on one state directory would run the same deployment twice. An
    agent that finds it taken waits for the other one to exit, saying so once."""
    ensure_dir(root)
    fd = os.open(root / "agent.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        LOG.warning(
            "state directory %s is in use by another hearth-agent (pid %s); waiting for it to exit", root, holder
        )
        fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["metric"]:  # `hearth-agent metric put ...`: queue a sample and exit
        return metric_command(argv[1:])
    if argv[:1] == ["fact"]:  # `hearth-agent fact set KEY VALUE`, ...: one request and exit
        return fact_command(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not isinstance(logging.getLevelName(args.log_level), int):
        parser.error(f"--log-level: unknown level {args.log_level!r}")
    logging.basicConfig(
        stream=sys.stdout, level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = from_args(args)
    except ConfigError as exc:
        LOG.error("%s", exc)
        return 2
    try:
        hold_state_dir(config.state.root)
    except OSError as exc:
        LOG.error("cannot start: state directory %s: %s", config.state.root, exc)
        return 2
    with requests.Session() as poll_session, requests.Session() as signal_session:
        # The server shows which agent version each server runs (its console's agents page).
        for session in (poll_session, signal_session):
            session.headers["User-Agent"] = f"hearth-agent/{agent_version()}"
        try:
            agent = Agent(
                config,
                poll_session,
                signal_session,
                reload_config=lambda: from_args(args),
                notifier=Notifier.from_environment(),
            )
        except (NotConfigured, OSError) as exc:
            LOG.error("cannot start: %s", exc)
            return 2
        LOG.info(
            "hearth-agent for server %s, state in %s, collectors %s, %s",
            config.bootstrap.server_id or "(no server_id)",
            config.state.root,
            ", ".join(s.name for s in agent.sources),
            "once" if config.once else f"long-poll wait {config.poll_wait:g} s",
        )
        return supervise(agent, agent.run_once if config.once else agent.run_forever)


if __name__ == "__main__":
    sys.exit(main())
