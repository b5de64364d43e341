"""Re-runs on changed facts, and facts that outlive their writer: owns the thread that, on every
replica that drives stacks, starts an update of each stack whose resources read a fact that
changed (so a deployment whose input_values read `get_attr: [<OS::Hearth::Facts>, KEY]` runs
again with the new value), deletes the facts bound to a server whose agent is gone or that was
deleted, and forgets the facts of deleted stacks. Touches the store, the notifier (it is woken
by `facts:` publishes, from this replica or another) and the update it is given.

A re-run is an update of the stack with its own definition: the update resolves every
resource's properties again and, as any update, changes only the resources whose resolved
properties changed, so only the deployments whose inputs read a changed fact run again, with
the action UPDATE. It cannot loop for ever or storm:
- only a write that changes a value (or deletes one) makes a change to re-run for;
- a tree's changes wait until its facts have been quiet for `fact_rerun_delay` seconds (at
  most ten times that after the first), so a burst of writes is one re-run, with every key it
  changed;
- only stacks whose template reads a changed key (keys.keys_read) are updated, and never while
  any stack of the tree has an operation in progress (the change waits for it to end);
- a tree has at most `fact_reruns_per_hour` re-runs an hour; beyond, the change waits, and an
  event on the root stack says why.
Replicas sharing one PostgreSQL database take a tree's pending change under its scope row's
lock (`FOR UPDATE SKIP LOCKED`), so one replica starts its re-run; a replica that dies between
taking the change and starting the update loses that re-run (the next change makes another).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import or_, select

from engine.errors import HearthError
from engine.facts import keys, store
from engine.facts.book import TOPIC
from engine.orchestration.events import stack_event
from engine.runtime import Runtime
from engine.store.models import Fact, FactScope, Server, Stack

log = logging.getLogger(__name__)
IDLE = 5.0  # seconds between two looks when nothing was published (changes missed, agents gone)
BUSY_RETRY = 1.0  # seconds before a change that waits for an operation in progress is looked at again
BURST_LONGEST = 10  # times fact_rerun_delay a burst of writes may hold its re-run back
HOUR = dt.timedelta(hours=1)

# Starts an update of a stack with its own definition, refusing (ActionInProgress) if one runs.
Update = Callable[[str, str], None]


class Reruns:
    def __init__(self, runtime: Runtime, update: Update):
        self.runtime = runtime
        self.update = update
        self.started_at = runtime.now()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._over_budget: set[str] = set()  # trees whose waiting change has its event already
        self._next_unbind = 0.0  # monotonic time of the next look for gone writers and trees

    def start(self) -> None:
        if self._thread is not None:
            return
        self.runtime.notifier.subscribe(TOPIC, lambda _topic: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="fact-reruns", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                pause = self.sweep()
            except Exception:  # the next turn tries again; the changes only wait
                log.warning("could not look at changed facts; retrying in %s s", IDLE, exc_info=True)
                pause = IDLE
            self._wake.wait(pause)

    def sweep(self) -> float:
        """Unbind the facts of gone writers, forget deleted trees, re-run what is due; the
        seconds until the next look is due."""
        # At most every IDLE seconds, however many writes wake the thread: gone agents are
        # judged to the nearest few seconds anyway.
        if time.monotonic() >= self._next_unbind:
            self._next_unbind = time.monotonic() + IDLE
            self.unbind()
        config, now = self.runtime.config, self.runtime.now()
        delay = dt.timedelta(seconds=max(0.0, config.fact_rerun_delay))
        with self.runtime.store.session() as session:
            pending = session.execute(
                select(FactScope.root_id, FactScope.changed_at, FactScope.pending_since).where(
                    FactScope.changed_at.is_not(None)
                )
            ).all()
        pause = IDLE
        for root_id, changed_at, since in pending:
            due = min(changed_at + delay, since + delay * BURST_LONGEST)
            if due > now:
                pause = min(pause, (due - now).total_seconds())
                continue
            if config.fact_reruns_per_hour <= 0:
                continue
            try:
                waiting = self.rerun(root_id)
            except Exception:  # one tree's trouble must not hold the others' re-runs
                log.exception("re-running what reads the facts of stack %s failed", root_id)
                waiting = True
            if waiting:
                pause = min(pause, BUSY_RETRY)
        return max(pause, 0.05)

    def rerun(self, root_id: str) -> bool:
        """Start the re-runs a tree's pending change calls for; True when the change still
        waits (an operation in progress, the hourly budget spent, an update refused)."""
        now, budget = self.runtime.now(), self.runtime.config.fact_reruns_per_hour
        with self.runtime.store.session() as session:
            scope = session.scalar(
                select(FactScope).where(FactScope.root_id == root_id).with_for_update(skip_locked=True)
            )
            if scope is None or scope.changed_at is None:
                return False  # another replica took it
            root = session.get(Stack, root_id)
            if root is None or root.deleted_at is not None:
                store.drop(session, root_id)
                return False
            stacks = store.tree(session, root_id)
            if any(s.status == "IN_PROGRESS" for s in stacks):
                return True
            changed = list(scope.pending_keys or [])
            # A stack whose last operation failed (or that is suspended) is left to its user:
            # their next update reads the facts as they are then.
            targets = [
                (s.project, s.id)
                for s in stacks
                if s.status == "COMPLETE"
                and s.action not in ("SUSPEND", "DELETE")
                and keys.concerns(changed, keys.keys_read(s.template))
            ]
            recent = [t for t in scope.reruns or [] if now - dt.datetime.fromisoformat(t) < HOUR]
            if targets and len(recent) >= budget:
                if root_id not in self._over_budget:
                    self._over_budget.add(root_id)
                    session.add(stack_event(root, root.action, root.status, _budget_reason(changed, budget), now))
                scope.reruns = recent
                return True
            self._over_budget.discard(root_id)
            scope.pending_keys, scope.changed_at, scope.pending_since = [], None, None
            scope.reruns = recent + ([now.isoformat()] * bool(targets))
        if targets:
            self.runtime.publish_stack(root_id)  # the budget event, if any, and the update to come
        refused = []
        for project, stack_id in targets:
            try:
                self.update(project, stack_id)
                log.info("facts %s of stack %s changed: re-running stack %s", _shown(changed), root_id, stack_id)
            except HearthError as error:
                log.warning(
                    "facts of stack %s changed, but stack %s could not be updated: %s", root_id, stack_id, error
                )
                refused.append(stack_id)
        if refused:
            self._put_back(root_id, changed)
        return bool(refused)

    def _put_back(self, root_id: str, changed: list[str]) -> None:
        """A re-run that could not start waits for the next look, with its keys."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            scope = session.get(FactScope, root_id, with_for_update=True)
            if scope is not None:
                scope.pending_keys = keys.remember(list(scope.pending_keys or []), changed)
                scope.changed_at = scope.changed_at or now
                scope.pending_since = scope.pending_since or now

    def unbind(self) -> None:
        """Delete the facts bound to servers deleted, or whose agent is gone (as long as
        engine/guest/liveness.py's GoneAgents takes to fail their deployments); forget the facts
        of deleted root stacks."""
        config, now = self.runtime.config, self.runtime.now()
        gone = Server.deleted_at.is_not(None)
        if config.agent_gone_grace > 0:
            patience = dt.timedelta(seconds=config.agent_gone_grace + config.longpoll_max_wait)
            if now - self.started_at >= patience:  # nobody could reach us while we were down
                gone = or_(gone, Server.last_seen_at < now - patience)
        with self.runtime.store.session() as session:
            writers = list(
                session.scalars(
                    select(Fact.writer)
                    .join(Server, Server.id == Fact.writer)
                    .where(Fact.bound.is_(True), Fact.deleted.is_(False), gone)
                    .distinct()
                )
            )
            dead_roots = list(
                session.scalars(
                    select(FactScope.root_id)
                    .outerjoin(Stack, Stack.id == FactScope.root_id)
                    .where(or_(Stack.id.is_(None), Stack.deleted_at.is_not(None)))
                )
            )
            for root_id in dead_roots:
                store.drop(session, root_id)
        for writer in writers:
            with self.runtime.store.session() as session:
                indexes = store.forget_writer(session, writer, now)
            for root_id, index in indexes.items():
                log.info("facts bound to server %s deleted: it is deleted or its agent is gone", writer)
                self.runtime.notifier.publish(TOPIC + root_id, hint=index)


def _shown(changed: list[str]) -> str:
    return "(any)" if keys.EVERY_KEY in changed else ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")


def _budget_reason(changed: list[str], budget: int) -> str:
    return (
        f"Facts {_shown(changed)} changed, but this stack's resources that read them were re-run "
        f"{budget} times in the last hour already (fact_reruns_per_hour): the re-run waits until "
        "the hour allows one; update the stack to re-run them now"
    )
