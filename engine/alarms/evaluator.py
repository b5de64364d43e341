"""The alarm evaluator: every alarm_evaluation_interval seconds, on the one replica holding the
lease `alarms`, evaluates the enabled alarms (at most alarm_evaluation_most per round, the
longest unevaluated first), stores each change of state with an event on the alarm's resource,
and hands the actions to the webhooks; touches the store, the notifier (stack events) and,
through engine.alarms.webhooks, the network.

Replicas: the lease is claimed (or extended) at the start of every round, and the scheduler's
heartbeat renews it in between (the evaluator shares the scheduler's `Leases`), so one replica
evaluates while it lives and another takes over one lease period after it dies. The round's
writes commit only while the lease is still this replica's (`Leases.acting_for`), and each
change of state is conditional on the state it was decided from: a transition is stored, and
its actions fired, by one replica only. On SQLite there is one engine process.

Cost per round: with no enabled alarm, one read and nothing else (no lease is taken); else the
lease's claim, one query for the alarms to evaluate, one aggregate query per alarm
(engine/alarms/matching.py), and one transaction for the round's changes and events.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select, update

from engine import secrets
from engine.alarms import matching, rule as rules, schedule, webhooks
from engine.orchestration.events import resource_event
from engine.orchestration.lease import LeaseLost, Leases
from engine.store.models import Alarm

if TYPE_CHECKING:
    from engine.runtime import Runtime

log = logging.getLogger(__name__)

LEASE = "alarms"
# The state each action list belongs to.
ACTION_KEYS = {rules.ALARM: "alarm_actions", rules.OK: "ok_actions", rules.UNKNOWN: "insufficient_data_actions"}


class AlarmEvaluator:
    """Evaluates alarms on a thread of its own while this replica holds the lease `alarms`."""

    def __init__(self, runtime: Runtime, leases: Leases, hooks: webhooks.Webhooks | None = None):
        self.runtime = runtime
        self.leases = leases
        config = runtime.config
        self.hooks = hooks or webhooks.Webhooks(
            timeout=config.alarm_action_timeout, retries=config.alarm_action_retries
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.runtime.config.alarm_evaluation_interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.hooks.stop()

    def _run(self) -> None:
        interval = float(self.runtime.config.alarm_evaluation_interval)
        began = time.monotonic()
        # The first round comes one interval after start, as every other: a starting replica
        # has other work first, and nothing was due while it was down.
        while not self._stop.wait(max(interval - (time.monotonic() - began), 0.0)):
            began = time.monotonic()
            try:
                self.round()
            except Exception:  # the next round tries again
                log.exception("alarm evaluation failed; trying again in %s s", interval)

    def round(self) -> int:
        """One evaluation of the alarms due, if this replica holds the lease; the number of
        changes and repeats recorded."""
        runtime = self.runtime
        with runtime.store.session() as session:
            if not session.scalar(select(exists().where(Alarm.enabled.is_(True)))):
                return 0  # one read, no lease: an installation without alarms writes nothing for them
        if not self.leases.claim([LEASE]):
            return 0
        now = runtime.now()
        most = max(int(runtime.config.alarm_evaluation_most), 1)
        decided: list[tuple[Alarm, rules.Decision]] = []
        with runtime.store.session() as session:
            alarms = list(
                session.scalars(
                    select(Alarm)
                    .where(Alarm.enabled.is_(True))
                    .order_by(Alarm.evaluated_at.is_not(None), Alarm.evaluated_at, Alarm.id)
                    .limit(most)
                )
            )
            session.expunge_all()  # plain values from here on, whatever the queries below do
            for alarm in alarms:
                try:
                    if not schedule.within(alarm.rule.get("time_constraints") or [], now):
                        continue  # outside its time constraints: not evaluated, as in Aodh
                    found = matching.statistics(session, alarm.project, alarm.rule, now)
                    decision = rules.decide(rules.Rule.from_dict(alarm.rule), found, alarm.state, alarm.repeat_actions)
                except Exception:  # one broken alarm must not stop the others
                    log.exception("alarm %s: evaluation failed", alarm.id)
                    session.rollback()  # PostgreSQL refuses further statements in a failed transaction
                    continue
                if decision is not None:
                    decided.append((alarm, decision))
        if not alarms:
            return 0
        try:
            fired = self._store(alarms, decided, now)
        except LeaseLost:
            log.info("the lease %s was taken over during a round; its results are left to the new holder", LEASE)
            return 0
        for alarm, decision, previous in fired:
            self._fire(alarm, decision, previous)
        return len(fired)

    def _store(self, alarms: list[Alarm], decided: list[tuple[Alarm, rules.Decision]], now) -> list:
        """The round's changes, events and evaluation times in one transaction, committed only
        while the lease is ours; what was stored, with each alarm's previous state."""
        stored = []
        stacks = set()
        with self.leases.acting_for(LEASE), self.runtime.store.session() as session:
            session.execute(update(Alarm).where(Alarm.id.in_([a.id for a in alarms])).values(evaluated_at=now))
            for alarm, decision in decided:
                previous = alarm.state
                values: dict[str, Any] = {"state": decision.state, "state_reason": decision.reason}
                if decision.changed:
                    values["state_changed_at"] = now
                done = session.execute(
                    update(Alarm).where(Alarm.id == alarm.id, Alarm.state == previous).values(**values)
                )
                if not done.rowcount:
                    continue  # changed meanwhile (an update of the alarm): the next round decides
                if decision.changed:
                    reason = self._event_reason(alarm, previous, decision)
                    session.add(
                        resource_event(
                            alarm.stack_id,
                            alarm.resource_name,
                            alarm.resource_type,
                            alarm.id,
                            "SIGNAL",
                            "COMPLETE",
                            reason[:2000],
                            now,
                        )
                    )
                    stacks.add(alarm.stack_id)
                    log.info("alarm %s (%s): %s", alarm.id, alarm.name, reason)
                stored.append((alarm, decision, previous))
        for stack_id in stacks:
            self.runtime.publish_stack(stack_id)
        return stored

    @staticmethod
    def _event_reason(alarm: Alarm, previous: str, decision: rules.Decision) -> str:
        described = rules.Rule.from_dict(alarm.rule).describe()
        return f"alarm state {previous} -> {decision.state}: {decision.reason} ({described})"

    def _fire(self, alarm: Alarm, decision: rules.Decision, previous: str) -> None:
        actions = secrets.open_value(self.runtime.keyring, alarm.actions) or {}
        urls = [u for u in actions.get(ACTION_KEYS[decision.state]) or [] if u]
        if not urls:
            return
        payload = webhooks.body(
            alarm.id, alarm.name, alarm.severity, previous, decision.state, decision.reason, decision.reason_data
        )
        self.hooks.send(urls, payload)
