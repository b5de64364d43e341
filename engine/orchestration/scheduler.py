"""Scheduler: owns the inbox, its loop thread, the handler pool, runs in memory and deadlines, and
this replica's leases on the operations it drives; touches the store, the notifier (its messages
to and from the other replicas), and at start the compute driver (resuming servers).

It loads stacks and rollbacks from the store, and acts on resources only through its Steps.

One thread owns all stack state in memory and in the store. Resources whose dependencies are
done start at once (independent ones concurrently); handlers that may block run on a small
pool; a resource that waits for a signal holds no thread and is re-checked only when woken
(`wake`) or when its deadline passes.

Replicas: every replica's `submit`, `wake`, `cancel` and `unset_hook` are published through the
notifier (`load:<stack>`, `wake:<stack>:<resource>`, `cancel:<stack>:<rollback|stop>`,
`hook:<stack>:<hook>:<resource>`), which reaches every replica; only the holder of the stack's
lease (engine/orchestration/lease.py) acts on them, and a `load:` of a stack nobody holds is
claimed (one replica wins). A cancel or a cleared breakpoint is also stored (asked.py) before
it is published, and read again whenever a stack's operation is loaded (taken over after a node
loss too) and after missed messages, so that neither is lost with a message or a replica.
Every lease_seconds/3 the engine renews its leases (a heartbeat thread) and takes over
operations in progress whose lease is missing or expired; start() is such a take-over, so
operations left in progress by a stopped engine are resumed from the store. A run whose lease
was taken over is dropped at once, and nothing more is written for it.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from engine import secrets
from engine.errors import HearthError
from engine.guest.liveness import GoneAgents
from engine.identity import delegation_revoked
from engine.orchestration import asked, lease
from engine.orchestration.changes import supports_check
from engine.orchestration.definitions import DefinitionCache, Resolver
from engine.orchestration.journal import Journal
from engine.orchestration.lifecycle import begin_rollback, end_operation
from engine.orchestration.run import Run, Snap
from engine.orchestration.steps import Steps
from engine.runtime import Runtime
from engine.store.models import Resource as ResourceRow, Server, Stack
from engine.store.notify import EVERYTHING
from engine.telemetry import instruments as telemetry

log = logging.getLogger(__name__)
FLUSH_EVERY = 500


class Scheduler:
    def __init__(self, runtime: Runtime, types: dict, definitions: DefinitionCache, resolver_for=None):
        self.runtime = runtime
        self.types = types
        self._definitions = definitions  # the service's: it puts each operation's definition
        self._inbox: queue.Queue = queue.Queue()
        self._runs: dict[str, Run] = {}
        self._pool = ThreadPoolExecutor(runtime.config.engine_workers, thread_name_prefix="handler")
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # A graceful stop first drains: nothing new starts, handlers in flight finish and their
        # results are stored, so the replica taking over finds no half-done step to fail.
        self._draining = False
        self._drained = threading.Event()
        config = runtime.config
        self.node = lease.node_name(config.node_name)
        self.drives = lease.drives_stacks(config.role)  # an API-only replica drives nothing
        # SQLite has one engine process (EngineLock): every lease in the file is its own to take.
        self.leases = lease.Leases(runtime.store, self.node, config.lease_seconds, exclusive=runtime.store.is_sqlite)
        self._engine_lock = lease.EngineLock(runtime.store)
        self._heartbeat: lease.Heartbeat | None = None
        self._sweep_due = threading.Event()  # a take-over sweep is in the inbox already
        # Per stack, how many times a run of it was dropped: a handler's result from before is stale.
        self._epochs: dict[str, int] = {}
        self.journal = Journal(runtime, self.leases)
        self.gone_agents = GoneAgents(runtime)  # deployments of servers whose agent is gone fail
        self._rollbacks: list[Run] = []
        # How handlers' snippets are resolved (the service adds nested-stack facades).
        resolver_for = resolver_for or (lambda stack, definition, lookup: Resolver(runtime, stack, definition, lookup))
        self._steps = Steps(runtime, types, self.journal, resolver_for, self._handoff)
        runtime.wake = self.wake

    # Public -----------------------------------------------------------------------------
    def start(self) -> None:
        """Drive operations (unless this replica's role leaves that to others): take the SQLite
        store's engine lock, hear the replicas' messages, take over what nobody drives."""
        if not self.drives:
            return
        self._engine_lock.acquire()  # raises EngineLocked when another engine has the file
        self._resume_servers()
        notifier = self.runtime.notifier
        for prefix in ("load:", "wake:", "cancel:", "hook:"):
            notifier.subscribe(prefix, self._heard)
        # A replica named explicitly (HEARTH_NODE_NAME) takes back what it held before a restart.
        self._inbox.put(("sweep", bool(self.runtime.config.node_name)))
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()
        self._heartbeat = lease.Heartbeat(self.leases, lambda name: self._inbox.put(("lost", name)), self._tick)
        self._heartbeat.start()

    def stop(self, release: bool = True) -> None:
        """Stop driving; with `release`, give up the leases at once (another replica resumes
        their operations now, not a lease period later). `release=False` is how a test stands
        in for a replica that died.

        Releasing, it drains first (for at most shutdown_grace seconds): no resource starts,
        what handlers are running finish and their results are stored, with the leases still
        renewed; then nothing of its operations is left half-done in a handler, and the replica
        that takes them over goes on where this one stopped instead of failing those steps."""
        if release and self._thread is not None and self._thread.is_alive():
            self._draining = True
            self._inbox.put(("drain", None))
            if not self._drained.wait(self.runtime.config.shutdown_grace):
                log.warning(
                    "handlers still running after %s s of shutdown_grace: the replica that takes"
                    " their operations over fails those steps",
                    self.runtime.config.shutdown_grace,
                )
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._stopping.set()
        self._inbox.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if release and self._thread is not None:
            try:
                self.leases.release_all()  # after the handlers in flight wrote what they write
            except Exception:  # noqa: BLE001 - they expire by themselves
                log.warning("could not release leases at stop; they expire in %s s", self.leases.seconds)
        self.leases.forget(self.leases.held())
        self._engine_lock.release()

    def driving(self) -> set[str]:
        """The stacks whose operation this replica drives now."""
        return set(self._runs)

    def submit(self, stack_id: str) -> None:
        """A new operation was recorded for this stack: its driver (or, if none, whichever
        replica claims it first) loads and drives it."""
        self.runtime.notifier.publish(f"load:{stack_id}")

    def wake(self, stack_id: str, resource: str | None = None) -> None:
        """Something a waiting resource of this stack (`resource`, or any) waits for happened;
        heard by the replica that drives the stack, wherever it happened."""
        self.runtime.notifier.publish(f"wake:{stack_id}:{resource or ''}")

    def cancel(self, stack_id: str, rollback: bool) -> None:
        """A user cancelled the stack's create or update (Heat's cancel_update, or
        cancel_without_rollback): nothing new starts, and once what runs has finished the
        operation fails with "Operation cancelled" (an update then rolls back if asked to, or
        if the stack has rollback enabled)."""
        self.runtime.notifier.publish(f"cancel:{stack_id}:{'rollback' if rollback else 'stop'}")

    def unset_hook(self, stack_id: str, resource: str, hook: str) -> None:
        """A user cleared the breakpoint `hook` of `resource`."""
        self.runtime.notifier.publish(f"hook:{stack_id}:{hook}:{resource}")

    def _heard(self, topic: str) -> None:
        """A message from any replica (this one too): into the inbox, nothing more (the
        notifier calls this on the publishing thread)."""
        if topic == EVERYTHING:
            self._inbox.put(("everything", None))
            return
        kind, _, rest = topic.partition(":")
        if kind == "load":
            self._inbox.put(("load", rest))
        elif kind == "wake":
            stack_id, _, resource = rest.partition(":")
            self._inbox.put(("wake", stack_id, resource or None))
        elif kind == "cancel":
            stack_id, _, how = rest.partition(":")
            self._inbox.put(("cancel", stack_id, how == "rollback"))
        elif kind == "hook":
            stack_id, hook, resource = rest.split(":", 2)
            self._inbox.put(("hook", stack_id, resource, hook))

    def _tick(self) -> None:
        """Heartbeat: time for a take-over sweep (one in the inbox at a time)."""
        if not self._sweep_due.is_set():
            self._sweep_due.set()
            self._inbox.put(("sweep", False))

    def _handoff(self, stack_id: str, name: str, action: str, operation: int, call) -> None:
        """Run a handler's `call` on the pool once what was recorded so far is stored; its
        outcome comes back to the loop as a "result" message. What it writes itself is stored
        only while this replica holds the stack's lease."""
        epoch = self._epochs.get(stack_id, 0)

        def work():
            with self.leases.acting_for(lease.stack_lease(stack_id)):
                outcome = call()
            self._inbox.put(("result", stack_id, name, action, outcome, operation, epoch))

        self.journal.after_commit(lambda: self._pool.submit(work), stack_id)

    # Loop -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._inbox.get(timeout=self._seconds_to_next_deadline())
            except queue.Empty:
                message = None
            dirty: set[str] = set()
            while message is not None:
                telemetry.SCHEDULER_INBOX.set(self._inbox.qsize())
                try:
                    with self.leases.acting_for(_lease_of(message)):
                        self._handle(message, dirty)
                except Exception:  # noqa: BLE001 - one bad stack must not stop the engine
                    log.error("scheduler error on %s:\n%s", message[:2], traceback.format_exc())
                try:
                    message = self._inbox.get_nowait()
                except queue.Empty:
                    message = None
            try:
                dirty |= self._sweep_deadlines()
                self.gone_agents.sweep()  # wakes what it fails: handled on the next turn
                for stack_id in dirty:
                    run = self._runs.get(stack_id)
                    if run is not None:
                        with self.leases.acting_for(lease.stack_lease(stack_id)):
                            self._advance(run)
                self._flush()
                while self._rollbacks and self._flush():
                    self._roll_back(self._rollbacks.pop(0))
            except Exception:  # noqa: BLE001 - the loop outlives any error, logged
                log.error("scheduler error:\n%s", traceback.format_exc())
            telemetry.SCHEDULER_INBOX.set(self._inbox.qsize())
            telemetry.SCHEDULER_OPERATIONS.set(len(self._runs))
            if self._draining and not self.journal.backlog and not any(r.running for r in self._runs.values()):
                self._drained.set()
        self._flush()  # what was decided before the stop is stored, not lost

    def _handle(self, message, dirty: set[str]) -> None:
        kind, stack_id = message[0], message[1]
        if kind in ("stop", "drain"):
            return
        if self._draining and (kind == "sweep" or (kind == "load" and stack_id not in self._runs)):
            return  # stopping: what nobody drives is for the other replicas to take
        if kind == "sweep":
            self._sweep_due.clear()
            dirty |= self._take_over(reclaim=stack_id)
            if self.runtime.scaling is not None:
                self.runtime.scaling.sweep()  # scalings whose end was not heard
        elif kind == "everything":
            self._recheck(dirty)
        elif kind == "lost":
            held_by_other = stack_id.removeprefix(lease.STACK)
            if not self.leases.holds(stack_id) and held_by_other in self._runs:
                self._drop(held_by_other)
        elif kind == "load":
            fresh = not self.leases.holds(lease.stack_lease(stack_id))
            if fresh:
                self._drop(stack_id)  # whatever ran of it here before is stale now
                if not self.leases.claim([lease.stack_lease(stack_id)]):
                    return  # another replica drives it, and hears this too
            # Nothing of it in memory here: what the store says is in progress was interrupted.
            self._load(stack_id, resume=stack_id not in self._runs)
            dirty.add(stack_id)
        elif kind == "wake":
            run = self._runs.get(stack_id)
            if run is not None:
                names = [message[2]] if message[2] in run.snaps else list(run.snaps)
                for name in names:
                    snap = run.snaps[name]
                    if name in run.running:
                        # What it waits for may have happened before its handler returned
                        # Waiting: check again once the result is in.
                        run.woken.add(name)
                    elif snap.waiting:
                        self._steps.check_waiting(run, snap)
                dirty.add(stack_id)
        elif kind == "result":
            _, stack_id, name, action, outcome, operation, epoch = message
            run = self._runs.get(stack_id)
            if run is not None and name in run.snaps and epoch == self._epochs.get(stack_id, 0):
                run.running.discard(name)
                snap = run.snaps[name]
                self._steps.apply(run, snap, action, outcome, operation)
                if name in run.woken:
                    run.woken.discard(name)
                    if snap.waiting and name not in run.running:
                        self._steps.check_waiting(run, snap)
                run.released(name)
                dirty.add(stack_id)
        elif kind == "cancel":
            run = self._runs.get(stack_id)
            if run is not None and not run.finished:
                run.cancelled = "rollback" if message[2] else "stop"
                for snap in run.snaps.values():
                    if snap.waiting and not getattr(snap, "runs_to_end", False):
                        # A wait for a signal would never end by itself soon, and a pause has
                        # nothing in progress: either ends here.
                        self._steps.cancel(run, snap, f"{snap.action} cancelled")
                dirty.add(stack_id)
        elif kind == "hook":
            run = self._runs.get(stack_id)
            if run is not None and message[2] in run.snaps and not run.finished:
                self._steps.clear_hook(run, run.snaps[message[2]], message[3])
                dirty.add(stack_id)

    def _seconds_to_next_deadline(self) -> float:
        now = self.runtime.now()
        nearest = 1.0
        for run in self._runs.values():
            candidates = [run.stack.deadline] if not run.finished else []
            candidates += [s.deadline for s in run.snaps.values() if s.waiting]
            candidates += [s.wake_at for s in run.snaps.values() if s.waiting]
            for deadline in candidates:
                if deadline is not None:
                    nearest = min(nearest, max((deadline - now).total_seconds(), 0.0))
        return nearest

    # Leases -----------------------------------------------------------------------------
    def _take_over(self, reclaim: bool) -> set[str]:
        """Claim the operations in progress that nobody drives (their lease is missing or
        expired) and resume them, as a restarted engine resumes its own."""
        taken = set()
        for stack_id in self.leases.take_over_stacks(reclaim_own=reclaim):
            if stack_id in self._runs:
                continue  # ours already (its lease was renewed late)
            log.info("stack %s: taking over its operation in progress", stack_id)
            telemetry.LEASE_TAKEOVERS.inc()
            with self.leases.acting_for(lease.stack_lease(stack_id)):
                self._load(stack_id, resume=True, taken_over=True)
            taken.add(stack_id)
        return taken

    def _recheck(self, dirty: set[str]) -> None:
        """Messages may have been missed (the replicas' bridge reconnected): look again at every
        waiting resource and at each driven stack's operation, and sweep."""
        if self._runs:
            with self.runtime.store.session() as session:
                query = select(Stack.id, Stack.operation).where(Stack.id.in_(list(self._runs)))
                # .all(): dict() takes a Result itself for a mapping (it has keys()) and fails on it.
                stored = dict(session.execute(query).all())
            for stack_id, run in list(self._runs.items()):
                if stored.get(stack_id, run.operation) != run.operation:
                    self._inbox.put(("load", stack_id))  # a new operation we did not hear of
                self._inbox.put(("wake", stack_id, None))
            self._asked({stack_id: run.operation for stack_id, run in self._runs.items()})
        dirty |= self._take_over(reclaim=False)

    def _drop(self, stack_id: str) -> None:
        """Another replica drives the stack now: forget its run, write nothing more for it."""
        run = self._runs.pop(stack_id, None)
        rollbacks = [r for r in self._rollbacks if r.stack.id != stack_id]
        if run is None and len(rollbacks) == len(self._rollbacks):
            return
        self._rollbacks = rollbacks
        self._epochs[stack_id] = self._epochs.get(stack_id, 0) + 1
        self.journal.drop(stack_id)
        log.warning("stack %s: its lease was taken over by another replica; this one stops driving it", stack_id)

    def _release_idle(self) -> None:
        """Give up the leases of stacks whose operations are over and stored."""
        pending = {r.stack.id for r in self._rollbacks}
        idle = [
            name
            for name in self.leases.held()
            if name.startswith(lease.STACK) and name[len(lease.STACK) :] not in self._runs
            if name[len(lease.STACK) :] not in pending
        ]
        if idle:
            try:
                self.leases.release(idle)
            except Exception:  # noqa: BLE001 - they expire by themselves; next turn tries again
                log.warning("could not release %d leases:\n%s", len(idle), traceback.format_exc())

    # Loading ----------------------------------------------------------------------------
    def _load(self, stack_id: str, resume: bool, taken_over: bool = False) -> None:
        previous = self._runs.get(stack_id)
        with self.runtime.store.session() as session:
            stack = session.get(Stack, stack_id)
            rows = list(
                session.scalars(select(ResourceRow).where(ResourceRow.stack_id == stack_id).order_by(ResourceRow.id))
            )
        if stack is None:
            return
        if previous is not None and previous.operation == stack.operation:
            return  # the operation driven already (a message heard twice)
        if previous is not None:
            self._supersede(previous, stack)
        if stack.status != "IN_PROGRESS":
            return
        if taken_over and self._delegation_revoked(stack):
            self._fail_unloadable(stack, "delegation revoked")
            return
        try:
            definition = self._definitions.get(stack)
        except HearthError as error:
            self._fail_unloadable(stack, f"the stored template no longer loads: {error}")
            return
        # The stack's secret parameters (and its ancestors', which its own may derive from, and
        # which a nested failure's reason may quote) are never quoted in its events and reasons.
        self.journal.keep_out(stack_id, self._secret_texts(stack, definition))
        snaps = {}
        for row in rows:
            kept = previous.snaps.get(row.name) if previous is not None else None
            if kept is not None:  # in-memory truth of resources still being worked on
                kept.requires = list(row.requires or [])
                snaps[row.name] = kept
            else:
                snaps[row.name] = Snap(row, None)
            snaps[row.name].cls = definition.class_for(self.types, row.name, row.type)
        running = previous.running if previous is not None else set()
        if resume:
            self._reset_interrupted(stack, snaps)
        run = Run(stack, definition, snaps, running)
        self._runs[stack_id] = run
        if resume:
            for snap in list(snaps.values()):
                if snap.waiting:
                    self._steps.check_waiting(run, snap)
        self._asked({stack_id: run.operation})

    def _asked(self, operations: dict[str, int]) -> None:
        """What users asked of these operations (cancel, clear a breakpoint) and this replica may
        not have heard: into the inbox, as if heard (doing one twice is harmless)."""
        with self.runtime.store.session() as session:
            for message in asked.messages(session, operations):
                self._inbox.put(message)

    def _secret_texts(self, stack: Stack, definition) -> list[str]:
        texts = secrets.secret_texts(
            definition.parameters[k] for k in definition.secret_parameters if k in definition.parameters
        )
        owner, seen = stack.owner_id, {stack.id}
        while owner and owner not in seen:
            seen.add(owner)
            with self.runtime.store.session() as session:
                parent = session.get(Stack, owner)
            if parent is None:
                break
            texts += secrets.sealed_texts(self.runtime.keyring, parent.parameters or {})
            owner = parent.owner_id
        secrets.remember(texts)
        return texts

    def _delegation_revoked(self, stack: Stack) -> bool:
        """An operation taken over with no user present runs under the stack's delegation; once
        that was revoked the engine must not act. A delete is exempt: the user asked for it
        (and deleting the stack is what revoked the delegation)."""
        if stack.action == "DELETE":
            return False
        with self.runtime.store.session() as session:
            return delegation_revoked(session, stack)

    def _supersede(self, previous: Run, stack: Stack) -> None:
        """A new operation (a delete during a create, an update during an update, a cancel)
        replaces one still running."""
        if previous.operation == stack.operation or previous.finished:
            return
        previous.finished = True
        # A cancel without rollback stops what has not started, and an update goes on from
        # where the one it takes over is: an action that ends by itself at a set time is left
        # to finish, as Heat leaves it (its convergence engine, for an update).
        updating = stack.action == "UPDATE"
        leaves_timed = stack.status != "IN_PROGRESS" or updating
        cancelled: list[str] = []
        for snap in previous.snaps.values():
            if snap.waiting:
                if leaves_timed and snap.runs_to_end:
                    continue
                reason = f"{previous.action} cancelled by {stack.action} of the stack"
                if updating and getattr(snap.cls, "update_on_every_update", False):
                    # Heat's words: the nested stack's operation was cancelled.
                    reason = f"resources.{snap.name}: Stack {previous.action} cancelled"
                self._steps.cancel(previous, snap, reason)
                cancelled.append(reason)
        if not updating:
            self.journal.event(
                previous.stack,
                stack.name,
                "OS::Heat::Stack",
                stack.id,
                previous.action,
                "FAILED",
                f"Stack {previous.action} cancelled by {stack.action}",
            )
        elif cancelled:  # an update takes over silently, unless it cancelled something
            self.journal.event(
                previous.stack,
                stack.name,
                "OS::Heat::Stack",
                stack.id,
                previous.action,
                "FAILED",
                f"Resource {previous.action} failed: {cancelled[0]}",
            )

    def _reset_interrupted(self, stack: Stack, snaps: dict[str, Snap]) -> None:
        """An engine died during this operation: re-run what is safe, fail what is not."""
        known: set[str] | None = None
        for snap in snaps.values():
            if snap.status != "IN_PROGRESS" or snap.waiting:
                continue  # waiting resources are re-checked once the run exists
            # Deleting, suspending, resuming and checking are safe to repeat, and so is an
            # inline handler; a create or update that may have half-happened is not.
            if (
                snap.action in ("CREATE", "UPDATE")
                and not snap.cls.inline
                and snap.engine.get("phase") not in ("replace-delete", "cleanup")
            ):
                if snap.action == "CREATE" and not snap.physical_id:
                    # What the create made before the engine died (a server and its agent, a
                    # deployment the agent runs) stays the resource's, so a delete removes it.
                    with self.runtime.store.session() as session:
                        if known is None:
                            ids = select(ResourceRow.physical_id).where(ResourceRow.stack_id == stack.id)
                            known = {i for i in session.scalars(ids) if i}
                        snap.physical_id = snap.cls.left_behind(session, stack.id, snap.name, known)
                snap.status = "FAILED"
                snap.reason = (
                    f"the engine stopped while this resource was in {snap.action}; "
                    "update the stack to replace it, or delete the stack"
                )
                snap.engine["op"] = stack.operation
                self.journal.event(stack, snap.name, snap.type, snap.physical_id, snap.action, "FAILED", snap.reason)
            else:
                snap.engine.pop("op", None)
            snap.dirty = True

    def _resume_servers(self) -> None:
        with self.runtime.store.session() as session:
            servers = list(
                session.scalars(
                    select(Server).where(Server.deleted_at.is_(None), Server.driver == self.runtime.compute.name)
                )
            )
        for server in servers:
            try:
                data = self.runtime.compute.resume(server.id, dict(server.driver_data or {}))
            except Exception:  # noqa: BLE001 - a driver's failure for one server is logged, the rest resume
                log.error("could not resume server %s:\n%s", server.id, traceback.format_exc())
                continue
            if data is not None:
                with self.runtime.store.session() as session:
                    session.get(Server, server.id).driver_data = data

    # Advancing --------------------------------------------------------------------------
    def _advance(self, run: Run) -> None:
        if run.finished:
            return  # _flush forgets it once its last writes are stored
        while True:
            if run.cancelled is not None:
                if not run.running and not any(s.waiting for s in run.snaps.values()):
                    reason = "Operation cancelled"
                    if run.action == "CREATE":
                        reason = f"Resource CREATE failed: {reason}"
                    self._finish(
                        run, "FAILED", reason, rollback=run.cancelled == "rollback" or not run.stack.disable_rollback
                    )
                return
            if run.failed is not None or run.failure is not None:
                if not run.running:
                    self._finish(run, "FAILED", run.failure or run.failure_reason or self._failure_reason(run))
                return
            if self._draining:
                break  # stopping: nothing new starts here (the replica taking over starts it)
            ready = run.take_ready()
            if not ready:
                break
            for name in ready:
                if run.failed is not None:
                    break
                self._steps.start(run, run.snaps[name])
            if self.journal.backlog >= FLUSH_EVERY:
                self._flush()
        if not run.running and run.complete and not any(s.waiting for s in run.snaps.values()):
            if run.check_failures:
                self._finish(run, "FAILED", f"Resource CHECK failed: {run.check_failures}")
            else:
                self._finish(run, "COMPLETE", f"Stack {run.action} completed successfully")

    def _sweep_deadlines(self) -> set[str]:
        now = self.runtime.now()
        dirty = set()
        for stack_id, run in list(self._runs.items()):
            with self.leases.acting_for(lease.stack_lease(stack_id)):
                if self._sweep_run(run, now):
                    dirty.add(stack_id)
        return dirty

    def _sweep_run(self, run: Run, now) -> bool:
        """Its timed moments and deadlines that came; whether anything changed."""
        changed = False
        for snap in run.snaps.values():
            if snap.waiting and snap.name not in run.running and _due(snap.wake_at, now):
                # Its moment came: ask it (it answers, or names its next moment). This
                # holds in a cancelled operation too: its timed actions run to their end.
                snap.wake_at = None
                self._steps.check_waiting(run, snap)
                changed = True
        if run.finished:
            return changed
        for snap in run.snaps.values():
            if snap.waiting and snap.deadline is not None and snap.deadline <= now:
                self._steps.time_out(run, snap)
                changed = True
        if run.stack.deadline is not None and run.stack.deadline <= now:
            for snap in run.snaps.values():
                if snap.waiting:
                    self._steps.cancel(run, snap, f"{run.action} timed out")
            self._finish(run, "FAILED", f"{run.action} timed out: the stack timeout passed")
            changed = True
        return changed

    # Writing ----------------------------------------------------------------------------
    def _finish(self, run: Run, status: str, reason: str, rollback: bool | None = None) -> None:
        run.finished = True
        stack = run.stack
        if rollback is None:
            rollback = not stack.disable_rollback and not run.failure
        rollback = rollback and status == "FAILED" and run.action in ("CREATE", "UPDATE")
        if run.action == "CHECK" and not self._checks_everything(run):
            reason += ". 'CHECK' not fully supported (see resources)"
        if status == "FAILED":
            for snap in run.snaps.values():
                if snap.waiting:
                    self._steps.cancel(run, snap, f"{run.action} cancelled: the stack failed")
        now = self.runtime.now()
        if stack.deadline is not None:  # the operation started its timeout before the deadline
            started = stack.deadline - dt.timedelta(minutes=stack.timeout_mins)
            telemetry.OPERATION_SECONDS.labels(run.action, status).observe(max(0.0, (now - started).total_seconds()))
        end_operation(stack, status, reason, now)
        if status == "COMPLETE" and run.action in ("UPDATE", "ROLLBACK"):
            # A rolled back create lists no resources any more, as in Heat.
            undone = (stack.previous or {}).get("rollback") == "create"
            if undone and run.action == "ROLLBACK":
                stack.resources_deleted_at = now
            gone = [
                n
                for n, s in run.snaps.items()
                if (undone or n not in run.definition.template.resources) and not s.exists
            ]
            self.journal.remove_resources(stack.id, [run.snaps.pop(n).row_id for n in gone])
            stack.previous = None
        log.info(
            "stack %s (%s): %s_%s: %s",
            stack.name,
            stack.id,
            run.action,
            status,
            self.journal.redacted(stack.id, reason),
        )
        ended, stack_id, number = self.runtime.operation_ended, stack.id, run.operation
        self.journal.after_commit(lambda: ended(stack_id, number), stack.id)  # its spans (engine/otel.py)
        if rollback:
            # The row goes straight from IN_PROGRESS to ROLLBACK_IN_PROGRESS, so nobody waiting
            # on the stack mistakes the failure for the end; Heat writes no event of the failure.
            self._rollbacks.append(run)
            return
        self.journal.event(stack, stack.name, "OS::Heat::Stack", stack.id, run.action, status, reason)
        self.journal.stack_changed(stack)
        if stack.owner_id and stack.owner_resource:
            owner, resource = stack.owner_id, stack.owner_resource
            self.journal.after_commit(lambda: self.runtime.wake(owner, resource), stack.id)
            if self.runtime.scaling is not None:
                # A scaling group's resize (a signal's, outside any operation of the owner) ends here.
                scaling = self.runtime.scaling
                self.journal.after_commit(lambda: scaling.finished(owner, resource), stack.id)

    @staticmethod
    def _failure_reason(run: Run) -> str:
        """Heat's reason for a stack whose resource failed: an update (and its rollback) says
        the resource's failure as it is; other actions say which action failed."""
        updating = run.action == "UPDATE" or (
            run.action == "ROLLBACK" and (run.stack.previous or {}).get("rollback") == "update"
        )
        if updating:
            return run.failed.reason
        return f"Resource {run.failed.action} failed: {run.failed.reason}"

    def _checks_everything(self, run: Run) -> bool:
        """Whether every resource (and every nested stack's, all the way down) has a check of
        its own; Heat says when not."""
        from engine.resources.stack_resource import StackResource

        for snap in run.snaps.values():
            if snap.cls is None or not supports_check(snap.cls):
                return False
            if issubclass(snap.cls, StackResource) and snap.physical_id:
                state = self.runtime.stacks.state(snap.physical_id)
                if state is not None and "not fully supported" in (state[2] or ""):
                    return False
        return True

    def _roll_back(self, run: Run) -> None:
        """Start rolling back a failed create or update (its failure is stored already)."""
        key = lease.stack_lease(run.stack.id)
        with self.runtime.store.session() as session:
            if not self.leases.guard(session, [key]):
                lost = True  # another replica drives the stack now (and rolls it back)
            else:
                lost = False
                stack = session.get(Stack, run.stack.id, with_for_update=True)
                if stack is None or stack.operation != run.operation:
                    return  # a newer operation (a delete) took over
                template = None
                if stack.action == "UPDATE" and stack.previous:
                    template = self._definitions.previous_template(stack)
                begin_rollback(session, stack, template, self.runtime.now())
        if lost:
            self._drop(run.stack.id)
            return
        with self.leases.acting_for(key):
            self._load(run.stack.id, resume=False)
            new = self._runs.get(run.stack.id)
            if new is not None:
                self._advance(new)

    def _fail_unloadable(self, stack: Stack, reason: str) -> None:
        end_operation(stack, "FAILED", reason, self.runtime.now())
        self.journal.event(stack, stack.name, "OS::Heat::Stack", stack.id, stack.action, "FAILED", reason)
        self.journal.stack_changed(stack)

    def _flush(self) -> bool:
        runs = list(self._runs.values())
        if not self.journal.flush(s for r in runs for s in r.snaps.values()):
            return False
        lost, self.journal.lost = self.journal.lost, set()
        for stack_id in lost:
            self._drop(stack_id)
        for run in runs:
            if run.finished and not run.running and not run.draining and self._runs.get(run.stack.id) is run:
                self._runs.pop(run.stack.id, None)
                self.journal.forget(run.stack.id)
        self._release_idle()
        return True


def _lease_of(message) -> str | None:
    """The lease of the stack a message is about, whose writes it may make (None: no stack's)."""
    if message[0] in ("stop", "sweep", "everything", "lost") or not message[1]:
        return None
    return lease.stack_lease(message[1])


def _due(moment, now) -> bool:
    """Whether a stored moment (a wake-up time) has come."""
    return moment is not None and moment <= now
