"""service.event_sinks, what a stack's owner sees of its event sinks and asks of them: each
sink's state, position, last error and dead letters, and replays of dead letters; finds stacks
through `stacks`, reads and marks rows through engine.sinks.records, and owns the delivery
loop (engine.sinks.delivery) that `Service.start` starts on replicas that drive stacks."""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidRequest
from engine.orchestration.lease import Leases
from engine.runtime import Runtime
from engine.service.stacks import Stacks
from engine.sinks import records
from engine.sinks.delivery import SinkDelivery


class EventSinks:
    """`service.event_sinks`: GET and POST .../stacks/<name>/<id>/event_sinks (docs/webhooks.md)."""

    def __init__(self, runtime: Runtime, stacks: Stacks, leases: Leases):
        self.runtime = runtime
        self.stacks = stacks
        self.delivery = SinkDelivery(runtime, leases)

    def list_sinks(self, project: str, stack_id: str) -> list[dict[str, Any]]:
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            return records.describe(session, stack.id)

    def replay(self, project: str, stack_id: str, index: Any, sequences: Any = None) -> int:
        """Deliver the sink's dead letters again (those numbered `sequences`, or all); how many."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidRequest("the sink's index must be an integer (its place in event_sinks, from 0)")
        if sequences is not None and (
            not isinstance(sequences, list)
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in sequences)
        ):
            raise InvalidRequest("'sequences' must be a list of event sequence numbers (omit it to replay them all)")
        stack = self.stacks.find_stack(project, stack_id, by_id_only=True)
        with self.runtime.store.session() as session:
            marked = records.ask_replay(session, stack.id, index, sequences)
        if marked:
            self.runtime.publish_stack(stack.id)  # wakes the delivering replica's loop
        return marked
