"""Scheduler: drives stack operations resource by resource, persisting every transition.

One thread owns all stack state in memory and in the store. Resources whose dependencies are
done start at once (independent ones concurrently); handlers that may block run on a small
pool; a resource that waits for a signal holds no thread and is re-checked only when woken
(`wake`) or when its deadline passes. On start, operations left in progress by a previous
engine are resumed from the store.
"""
from __future__ import annotations

import logging
import queue
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from engine.errors import HearthError, TemplateError
from engine.journal import Journal
from engine.resources.base import Done, ResourceState, Waiting
from engine.run import Run, Snap
from engine.runtime import Runtime
from engine.stacks import DefinitionCache, Resolver
from engine.store.models import Resource as ResourceRow, Server, Stack

log = logging.getLogger(__name__)
FLUSH_EVERY = 500


class Scheduler:
    def __init__(self, runtime: Runtime, types: dict):
        self.runtime = runtime
        self.types = types
        self.definitions = DefinitionCache()
        self._inbox: queue.Queue = queue.Queue()
        self._runs: dict[str, Run] = {}
        self._pool = ThreadPoolExecutor(runtime.config.engine_workers, thread_name_prefix="handler")
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.journal = Journal(runtime)
        runtime.wake = self.wake

    # Public -----------------------------------------------------------------------------
    def start(self) -> None:
        self._resume_servers()
        with self.runtime.store.session() as session:
            ids = list(session.scalars(select(Stack.id).where(Stack.status == "IN_PROGRESS")))
        for stack_id in ids:
            self._inbox.put(("resume", stack_id))
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._inbox.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, stack_id: str) -> None:
        """A new operation was recorded for this stack: load it and drive it."""
        self._inbox.put(("load", stack_id))

    def wake(self, stack_id: str, resource: str | None = None) -> None:
        """Something a waiting resource of this stack (`resource`, or any) waits for happened."""
        self._inbox.put(("wake", stack_id, resource))

    # Loop -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._inbox.get(timeout=self._seconds_to_next_deadline())
            except queue.Empty:
                message = None
            dirty: set[str] = set()
            while message is not None:
                try:
                    self._handle(message, dirty)
                except Exception:  # one bad stack must not stop the engine
                    log.error("scheduler error on %s:\n%s", message[:2], traceback.format_exc())
                try:
                    message = self._inbox.get_nowait()
                except queue.Empty:
                    message = None
            try:
                dirty |= self._sweep_deadlines()
                for stack_id in dirty:
                    run = self._runs.get(stack_id)
                    if run is not None:
                        self._advance(run)
                self._flush()
            except Exception:
                log.error("scheduler error:\n%s", traceback.format_exc())
        self._flush()  # what was decided before the stop is stored, not lost

    def _handle(self, message, dirty: set[str]) -> None:
        kind, stack_id = message[0], message[1]
        if kind == "stop":
            return
        if kind in ("load", "resume"):
            self._load(stack_id, resume=kind == "resume")
            dirty.add(stack_id)
        elif kind == "wake":
            run = self._runs.get(stack_id)
            if run is not None:
                names = [message[2]] if message[2] in run.snaps else list(run.snaps)
                for name in names:
                    snap = run.snaps[name]
                    if snap.waiting and name not in run.running:
                        self._check_waiting(run, snap)
                dirty.add(stack_id)
        elif kind == "result":
            _, stack_id, name, verb, outcome = message
            run = self._runs.get(stack_id)
            if run is not None:
                run.running.discard(name)
                self._apply(run, run.snaps[name], verb, outcome)
                run.released(name)
                dirty.add(stack_id)

    def _seconds_to_next_deadline(self) -> float:
        now = self.runtime.now()
        nearest = 1.0
        for run in self._runs.values():
            candidates = [run.stack.deadline] if not run.finished else []
            candidates += [s.deadline for s in run.snaps.values() if s.waiting]
            for deadline in candidates:
                if deadline is not None:
                    nearest = min(nearest, max((deadline - now).total_seconds(), 0.0))
        return nearest

    # Loading ----------------------------------------------------------------------------
    def _load(self, stack_id: str, resume: bool) -> None:
        previous = self._runs.get(stack_id)
        with self.runtime.store.session() as session:
            stack = session.get(Stack, stack_id)
            rows = list(session.scalars(select(ResourceRow).where(ResourceRow.stack_id == stack_id)
                                        .order_by(ResourceRow.id)))
        if stack is None or stack.status != "IN_PROGRESS":
            return
        try:
            definition = self.definitions.get(self.runtime, stack)
        except HearthError as error:
            self._fail_unloadable(stack, f"the stored template no longer loads: {error}")
            return
        snaps = {}
        for row in rows:
            try:
                cls = definition.resource_class(self.types, row.name)
            except (HearthError, KeyError):
                cls = self.types["OS::Heat::None"]
            snaps[row.name] = Snap(row, cls)
        running: set[str] = set()
        if previous is not None:  # keep in-memory truth of resources still being worked on
            self._supersede(previous, stack)
            snaps.update({n: s for n, s in previous.snaps.items() if n in snaps})
            running = previous.running
        if resume:
            self._reset_interrupted(stack, snaps)
        run = Run(stack, definition, snaps, running)
        self._runs[stack_id] = run
        if resume:
            for snap in list(snaps.values()):
                if snap.waiting:
                    self._check_waiting(run, snap)

    def _supersede(self, previous: Run, stack: Stack) -> None:
        """A new operation (a delete during a create) replaces one still running."""
        if previous.stack.operation == stack.operation or previous.finished:
            return
        previous.finished = True
        for snap in previous.snaps.values():
            if snap.waiting:
                self._cancel(previous, snap, f"{previous.action} cancelled by a new {stack.action} of the stack")
        self.journal.event(previous.stack, stack.name, "OS::Heat::Stack", stack.id, previous.action,
                           "FAILED", f"Stack {previous.action} cancelled by {stack.action}")

    def _reset_interrupted(self, stack: Stack, snaps: dict[str, Snap]) -> None:
        """An engine died during this operation: re-run what is safe, fail what is not."""
        for snap in snaps.values():
            if snap.status != "IN_PROGRESS" or snap.waiting:
                continue  # waiting resources are re-checked once the run exists
            if snap.action == "DELETE":  # delete handlers are idempotent: delete again
                snap.action, snap.status = "CREATE", "COMPLETE"
            elif snap.cls.inline:  # side-effect free: create again
                snap.action, snap.status = "INIT", "COMPLETE"
            else:
                snap.status = "FAILED"
                snap.reason = ("the engine stopped while this resource was being created; "
                               "delete the stack and create it again")
                self.journal.event(stack, snap.name, snap.type, snap.physical_id, snap.action,
                                   "FAILED", snap.reason)
            snap.dirty = True

    def _resume_servers(self) -> None:
        with self.runtime.store.session() as session:
            servers = list(session.scalars(select(Server).where(Server.deleted_at.is_(None),
                                                                Server.driver == self.runtime.compute.name)))
        for server in servers:
            try:
                data = self.runtime.compute.resume(server.id, dict(server.driver_data or {}))
            except Exception:
                log.error("could not resume server %s:\n%s", server.id, traceback.format_exc())
                continue
            if data is not None:
                with self.runtime.store.session() as session:
                    session.get(Server, server.id).driver_data = data

    # Advancing --------------------------------------------------------------------------
    def _advance(self, run: Run) -> None:
        if run.finished:
            return  # _flush forgets it once its last writes are stored
        action = run.action
        while True:
            if run.failed is not None:
                self._finish(run, "FAILED", f"Resource {action} failed: {run.failed.reason}")
                return
            ready = run.take_ready()
            if not ready:
                break
            for name in ready:
                self._start(run, run.snaps[name])
            if self.journal.backlog >= FLUSH_EVERY:
                self._flush()
        if not run.running and all(s.done_for(action) and not s.waiting for s in run.snaps.values()):
            self._finish(run, "COMPLETE", f"Stack {action} completed successfully")

    def _state(self, run: Run, snap: Snap, action: str) -> ResourceState:
        stack = run.stack
        return ResourceState(stack_id=stack.id, stack_name=stack.name, project=stack.project,
                             name=snap.name, type=snap.type, physical_id=snap.physical_id,
                             data=dict(snap.data), attributes=dict(snap.attributes),
                             stack_deadline=stack.deadline, action=action)

    def _resolver(self, run: Run) -> Resolver:
        def lookup(name: str):
            snap = run.snaps.get(name)
            if snap is None:
                return None
            return snap.cls, snap.physical_id, snap.attributes, snap.data
        return Resolver(self.runtime, run.stack, run.definition, lookup)

    def _instance(self, run: Run, snap: Snap, action: str, strict: bool = True):
        """The handler object with resolved, validated properties (best effort for delete)."""
        template = run.definition.template
        definition = template.resources.get(snap.name)
        resolver = self._resolver(run)
        path = ("resources", snap.name, "properties")
        try:
            raw = template.resolve(definition.properties, resolver, path) if definition else {}
            properties = snap.cls.check_properties(raw)
            metadata = template.resolve(definition.metadata, resolver, ("resources", snap.name, "metadata")) \
                if definition and definition.metadata else {}
        except TemplateError as error:
            if strict:
                if error.file is None:
                    raise template.error(error.reason, path + error.path) from None
                raise
            properties = {k: p.default for k, p in snap.cls.properties_schema.items()}
            metadata = {}
        state = self._state(run, snap, action)
        state.metadata = metadata or {}
        return snap.cls(self.runtime, state, properties)

    def _start(self, run: Run, snap: Snap) -> None:
        action = run.action
        if action == "DELETE" and (snap.action == "INIT" or snap.physical_id is None and not snap.data):
            self._transition(run, snap, "COMPLETE", "state changed", action="DELETE")
            return
        self._transition(run, snap, "IN_PROGRESS", "state changed", action=action)
        try:
            instance = self._instance(run, snap, action, strict=action != "DELETE")
        except Exception as error:  # noqa: BLE001 - reported as the resource's failure
            self._apply(run, snap, action, error)
            return
        verb = instance.create if action == "CREATE" else instance.delete
        if snap.cls.inline:
            self._apply(run, snap, action, _call(verb))
            return
        run.running.add(snap.name)
        stack_id = run.stack.id

        def work():
            self._inbox.put(("result", stack_id, snap.name, action, _call(verb)))
        self.journal.after_commit(lambda: self._pool.submit(work))

    def _check_waiting(self, run: Run, snap: Snap) -> None:
        try:
            instance = self._instance(run, snap, snap.action, strict=False)
            outcome = instance.check_waiting()
        except Exception as error:  # noqa: BLE001
            outcome = error
        if outcome is not None:
            self._apply(run, snap, snap.action, outcome)

    def _apply(self, run: Run, snap: Snap, action: str, outcome) -> None:
        if snap.action != action:  # a result from an operation that was superseded
            if isinstance(outcome, (Done, Waiting)) and outcome.physical_id:
                snap.physical_id = outcome.physical_id
                snap.data.update(outcome.data)
                snap.dirty = True
            return
        if isinstance(outcome, Done):
            snap.physical_id = outcome.physical_id or snap.physical_id
            if outcome.attributes:
                snap.attributes = dict(outcome.attributes)
            snap.data.update(outcome.data)
            snap.waiting, snap.deadline = False, None
            self._transition(run, snap, "COMPLETE", "state changed")
        elif isinstance(outcome, Waiting):
            snap.physical_id = outcome.physical_id or snap.physical_id
            snap.data.update(outcome.data)
            snap.waiting, snap.deadline = True, outcome.deadline
            snap.reason = "waiting for a signal"
            snap.dirty = True
            if run.finished:
                self._cancel(run, snap, f"{action} cancelled: the stack operation ended")
        else:
            snap.waiting, snap.deadline = False, None
            self._transition(run, snap, "FAILED", _reason(snap.name, outcome))

    def _cancel(self, run: Run, snap: Snap, reason: str) -> None:
        try:
            self._instance(run, snap, snap.action, strict=False).cancel()
        except Exception:  # noqa: BLE001 - cancelling is best effort
            log.warning("cancel of %s failed:\n%s", snap.name, traceback.format_exc())
        snap.waiting, snap.deadline = False, None
        self._transition(run, snap, "FAILED", reason)

    def _sweep_deadlines(self) -> set[str]:
        now = self.runtime.now()
        dirty = set()
        for stack_id, run in list(self._runs.items()):
            if run.finished:
                continue
            for snap in run.snaps.values():
                if snap.waiting and snap.deadline is not None and snap.deadline <= now:
                    try:
                        instance = self._instance(run, snap, snap.action, strict=False)
                        instance.cancel()
                        reason = instance.timeout_reason()
                    except Exception as error:  # noqa: BLE001
                        reason = f"timed out ({error})"
                    snap.waiting, snap.deadline = False, None
                    self._transition(run, snap, "FAILED", _reason(snap.name, TimeoutError(reason)))
                    dirty.add(stack_id)
            if run.stack.deadline is not None and run.stack.deadline <= now:
                for snap in run.snaps.values():
                    if snap.waiting:
                        self._cancel(run, snap, f"{run.action} timed out")
                self._finish(run, "FAILED", f"{run.action} timed out: the stack timeout passed")
                dirty.add(stack_id)
        return dirty

    # Writing ----------------------------------------------------------------------------
    def _transition(self, run: Run, snap: Snap, status: str, reason: str, action: str | None = None) -> None:
        snap.action = action or snap.action
        snap.status, snap.reason, snap.dirty = status, reason, True
        self.journal.event(run.stack, snap.name, snap.type, snap.physical_id, snap.action, status, reason)
        if status == "COMPLETE" and snap.action == run.action and not run.finished:
            run.cleared(snap.name)
        elif status == "FAILED" and snap.action == run.action and run.failed is None:
            run.failed = snap

    def _finish(self, run: Run, status: str, reason: str) -> None:
        run.finished = True
        stack = run.stack
        if status == "FAILED":
            for snap in run.snaps.values():
                if snap.waiting:
                    self._cancel(run, snap, f"{run.action} cancelled: the stack failed")
        now = self.runtime.now()
        stack.status, stack.status_reason, stack.deadline, stack.updated_at = status, reason, None, now
        if run.action == "DELETE" and status == "COMPLETE":
            stack.deleted_at = now
        self.journal.event(stack, stack.name, "OS::Heat::Stack", stack.id, run.action, status, reason)
        self.journal.stack_changed(stack)
        log.info("stack %s (%s): %s_%s: %s", stack.name, stack.id, run.action, status, reason)

    def _fail_unloadable(self, stack: Stack, reason: str) -> None:
        stack.status, stack.status_reason, stack.deadline = "FAILED", reason, None
        self.journal.event(stack, stack.name, "OS::Heat::Stack", stack.id, stack.action, "FAILED", reason)
        self.journal.stack_changed(stack)

    def _flush(self) -> None:
        runs = list(self._runs.values())
        if self.journal.flush(s for r in runs for s in r.snaps.values()):
            for run in runs:
                if run.finished and not run.running and self._runs.get(run.stack.id) is run:
                    self._runs.pop(run.stack.id, None)


def _call(verb):
    try:
        outcome = verb()
        return Done() if outcome is None else outcome
    except Exception as error:  # noqa: BLE001 - a failed handler is data, not a crash
        return error


def _reason(name: str, error: BaseException) -> str:
    if isinstance(error, HearthError):
        return f"{type(error).__name__}: resources.{name}: {error}"
    if isinstance(error, TimeoutError):
        return f"Timeout: resources.{name}: {error}"
    log.error("resource %s failed unexpectedly:\n%s", name,
              "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    return f"Error: resources.{name}: internal error ({type(error).__name__}); see the server log"


