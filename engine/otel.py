"""OpenTelemetry export of finished operations (docs/convergence.md): reads the store (stacks,
events, deployment traces) and hands spans to the OpenTelemetry SDK's exporter on a thread of
its own; nothing when `otel_exporter` is empty or the SDK is not installed.

When a stack's operation ends, one span for the operation, one per resource it acted on (from
its events) and one per deployment entry it wrote (committed to finished, with `delivered` and
`started` as span events). Ids are derived from the operation ids, so that a nested stack's
operation (a group member's), which ends on its own and maybe on another replica, lands in its
parent's trace under the resource that owns it: the trace id comes from the operation at the top
of the tree, a span id from its operation and resource name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import threading
from typing import Any

from sqlalchemy import select

from engine.guest.traces import operation_of
from engine.store.db import Store
from engine.store.models import DeploymentTrace, Event, Stack

log = logging.getLogger(__name__)

SERVICE_NAME = "hearth"
QUEUE_MOST = 1000  # finished operations waiting for export; more are dropped (and logged)


def trace_id(operation: str) -> int:
    return int.from_bytes(hashlib.sha256(b"trace:" + operation.encode()).digest()[:16], "big") or 1


def span_id(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("span:".join(parts).encode()).digest()[:8], "big") or 1


def nanos(moment: dt.datetime) -> int:
    """Naive UTC, as stored, in nanoseconds since the epoch."""
    return int(moment.replace(tzinfo=dt.UTC).timestamp() * 1_000_000_000)


def make_exporter(kind: str) -> Any:
    """The SDK exporter the setting names; ImportError when the SDK (or OTLP's) is missing."""
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # the endpoint and headers come from OTEL_EXPORTER_OTLP_* variables
    raise ValueError(f"otel_exporter must be 'otlp', 'console' or empty, not {kind!r}")


class OperationSpans:
    """Exports a finished operation's spans, from a queue its own daemon thread drains."""

    def __init__(self, store: Store, exporter: Any):
        from opentelemetry.sdk.resources import Resource as OtelResource

        self.store, self.exporter = store, exporter
        self.resource = OtelResource.create({"service.name": SERVICE_NAME})
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue(QUEUE_MOST)
        self._thread: threading.Thread | None = None

    @classmethod
    def configured(cls, store: Store, kind: str) -> OperationSpans | None:
        if not kind:
            return None
        try:
            return cls(store, make_exporter(kind))
        except ImportError as exc:
            log.error("otel_exporter is %r but OpenTelemetry is not installed (%s): no spans are exported", kind, exc)
            return None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hearth-otel", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None
        self.exporter.shutdown()

    def ended(self, stack_id: str, operation: int) -> None:
        """A stack's operation ended (called after its commit): its spans are exported soon."""
        try:
            self._queue.put_nowait((stack_id, operation))
        except queue.Full:
            log.warning("OpenTelemetry export is behind: the spans of %s:%s are dropped", stack_id, operation)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                spans = self.spans(*item)
                if spans:
                    self.exporter.export(spans)
            except Exception:  # an exporter's failure must not stop the next operations'
                log.exception("could not export the spans of operation %s:%s", *item)

    def spans(self, stack_id: str, number: int) -> list[Any]:
        """The operation's spans (ReadableSpan), or none when it left no events."""
        from opentelemetry.sdk.trace import Event as SpanEvent, ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        operation = f"{stack_id}:{number}"
        with self.store.session() as session:
            stack = session.get(Stack, stack_id)
            if stack is None:
                return []
            top, _root = operation_of(session, stack_id)
            events = session.scalars(
                select(Event).where(Event.stack_id == stack_id, Event.operation == operation).order_by(Event.seq)
            ).all()
            if not events:
                return []
            began = events[0].created_at
            deployments = session.scalars(
                select(DeploymentTrace).where(
                    DeploymentTrace.stack_id == stack_id, DeploymentTrace.committed_at >= began
                )
            ).all()
            owner = session.get(Stack, stack.owner_id) if stack.owner_id else None
        tid = trace_id(top or operation)
        flags = TraceFlags(TraceFlags.SAMPLED)

        def context(sid: int) -> Any:
            return SpanContext(tid, sid, is_remote=False, trace_flags=flags)

        # A nested stack's operation inside its owner's: under the owner's resource span.
        parent = None
        if owner is not None and top and top != operation and owner.status == "IN_PROGRESS":
            parent = context(span_id(f"{owner.id}:{owner.operation}", stack.owner_resource or ""))
        elif top and top != operation:
            parent = context(span_id(top, ""))

        def status_of(text: str) -> Any:
            return Status(StatusCode.ERROR, text) if text.endswith("FAILED") else Status(StatusCode.OK)

        def span(name, sid, parent_ctx, start, end, attributes, outcome, span_events=()) -> Any:
            return ReadableSpan(
                name=name,
                context=context(sid),
                parent=parent_ctx,
                resource=self.resource,
                attributes=attributes,
                events=list(span_events),
                kind=SpanKind.INTERNAL,
                status=status_of(outcome),
                start_time=nanos(start),
                end_time=nanos(max(end, start)),
            )

        last = events[-1]
        root_sid = span_id(operation, "")
        stack_attributes = {"hearth.operation": operation, "hearth.stack.id": stack.id, "hearth.project": stack.project}
        spans = [
            span(
                f"{last.action} {stack.name}",
                root_sid,
                parent,
                began,
                last.created_at,
                {**stack_attributes, "hearth.stack.status": f"{last.action}_{last.status}"},
                last.status,
            )
        ]
        by_resource: dict[str, list[Event]] = {}
        for event in events:
            if event.resource_name != stack.name or event.physical_id != stack.id:
                by_resource.setdefault(event.resource_name, []).append(event)
        for name, mine in by_resource.items():
            end = mine[-1]
            spans.append(
                span(
                    f"{end.action} {name}",
                    span_id(operation, name),
                    context(root_sid),
                    mine[0].created_at,
                    end.created_at,
                    {
                        **stack_attributes,
                        "hearth.resource.name": name,
                        "hearth.resource.type": end.resource_type or "",
                        "hearth.resource.status": f"{end.action}_{end.status}",
                    },
                    end.status,
                )
            )
        for trace in deployments:
            moments = [("delivered", trace.delivered_at), ("started", trace.started_at)]
            spans.append(
                span(
                    f"deployment {trace.action} {trace.resource_name}",
                    span_id(operation, "deployment", trace.id),
                    context(span_id(operation, trace.resource_name or "")),
                    trace.committed_at,
                    trace.finished_at or last.created_at,
                    {
                        **stack_attributes,
                        "hearth.deployment.id": trace.deployment_id,
                        "hearth.server.id": trace.server_id,
                        "hearth.deployment.status": trace.status,
                    },
                    trace.status,
                    [SpanEvent(label, attributes={}, timestamp=nanos(at)) for label, at in moments if at is not None],
                )
            )
        return spans
