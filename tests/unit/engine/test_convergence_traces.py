"""Convergence traces on real stacks (deployed servers, SQLite and PostgreSQL), completed as an
agent would: the operation id in the entries (and not in Heat's metadata listing), the owner's
operation for a nested stack's entries, deliveries, signals, retention and the spans exported."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import otel
from engine.guest import traces
from engine.guest.service import GuestAuth
from engine.store.models import DeploymentTrace, Server, Stack
from tests.support import create, settle, wait_for
from tests.unit.engine.agentless import entry_for, resource, signal

TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  colour: {type: string, default: blue}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\n"
      inputs: [{name: colour}]
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {colour: {get_param: colour}}
"""

NESTED = """heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: script, config: "#!/bin/sh\\n"}
  members:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def:
        type: member.yaml
        properties:
          config: {get_resource: config}
"""

MEMBER = """heat_template_version: 2018-08-31
parameters:
  config: {type: string}
resources:
  server: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_param: config}, server: {get_resource: server}}
"""


def stored(service, entry_id: str) -> DeploymentTrace:
    with service.runtime.store.session() as session:
        return session.get(DeploymentTrace, entry_id)


def operation_number(service, stack_id: str) -> int:
    with service.runtime.store.session() as session:
        return session.get(Stack, stack_id).operation


def test_an_entry_carries_its_operation_and_its_trace_follows_it_to_the_signal(service):
    stack_id = create(service, "traced", TEMPLATE)
    entry = entry_for(service, stack_id, "CREATE")
    operation = f"{stack_id}:{operation_number(service, stack_id)}"
    assert entry[traces.ENTRY_KEY] == operation
    # Heat's listing of a server's deployments shows Heat's entry, without Hearth's key.
    server_id = resource(service, stack_id, "server")["physical_resource_id"]
    listed = service.software.deployment_metadata("admin", server_id)
    assert [e["id"] for e in listed] == [entry["id"]] and traces.ENTRY_KEY not in listed[0]
    # So does the server resource's metadata (what Heat's `heat` collector polls).
    (shown,) = service.resources.resource_metadata("admin", stack_id, "server")["deployments"]
    assert shown["id"] == entry["id"] and traces.ENTRY_KEY not in shown

    trace = stored(service, entry["id"])
    assert (trace.operation, trace.action, trace.status, trace.delivered_at) == (
        operation,
        "CREATE",
        "IN_PROGRESS",
        None,
    )
    with service.runtime.store.session() as session:
        version = session.get(Server, server_id).metadata_version
    assert trace.metadata_version == version

    # An answer of that version to the server records the delivery (once, with its time).
    service.runtime.delivered(server_id, version)
    assert service.deliveries.flush() in (0, 1)  # the service's own thread may have flushed it
    delivered = stored(service, entry["id"]).delivered_at
    assert delivered is not None and delivered >= trace.committed_at
    service.runtime.delivered(server_id, version)
    assert service.deliveries.flush() == 0  # a version already noted costs nothing

    signal(service, entry, {"deploy_status_code": 0, traces.RUN_SECONDS_KEY: 0.25})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    done = stored(service, entry["id"])
    assert done.status == "COMPLETE" and done.finished_at is not None
    assert abs((done.finished_at - done.started_at).total_seconds() - 0.25) < 0.001

    report = service.convergence.report("admin", stack_id)
    assert report["operation"] == operation and report["summary"]["complete"] == 1
    (server,) = report["servers"]
    # Placed no earlier than its delivery: a run measured longer than that is cut at it.
    shown = server["deployments"][0]
    assert server["server_id"] == server_id and shown["started_at"] >= shown["delivered_at"]
    assert 0 <= shown["run_seconds"] <= 0.25


def test_a_stock_signal_without_run_time_leaves_started_unknown_and_a_failure_is_failed(service):
    stack_id = create(service, "stock", TEMPLATE)
    entry = entry_for(service, stack_id, "CREATE")
    signal(service, entry, {"deploy_status_code": 2, "deploy_stderr": "no"})
    settle(service, stack_id)
    done = stored(service, entry["id"])
    assert (done.status, done.started_at) == ("FAILED", None) and done.finished_at is not None
    report = service.convergence.report("admin", stack_id)
    assert report["summary"]["failed"] == 1 and report["summary"]["time_to_converge"]["count"] == 0


def test_nested_entries_carry_the_owner_operation_and_the_report_covers_the_tree(service):
    stack_id = create(service, "tree", NESTED, files={"member.yaml": MEMBER})
    operation = f"{stack_id}:{operation_number(service, stack_id)}"

    def member_entries():
        with service.runtime.store.session() as session:
            rows = session.scalars(select(DeploymentTrace).where(DeploymentTrace.root_id == stack_id)).all()
        return rows if len(rows) == 2 else None

    rows = wait_for(member_entries, 30, message="both members' entries")
    assert {row.operation for row in rows} == {operation}
    assert all(row.stack_id != stack_id for row in rows)  # written by the members' own stacks
    for row in rows:
        with service.runtime.store.session() as session:
            server = session.get(Server, row.server_id)
        (entry,) = [e for e in server.metadata_doc["deployments"] if e["id"] == row.id]
        assert entry[traces.ENTRY_KEY] == operation
        service.guest.signal_deployment(GuestAuth(operator="admin"), row.id, {"deploy_status_code": 0})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    report = service.convergence.report("admin", stack_id, operation)
    assert report["summary"]["servers"] == 2 and report["summary"]["complete"] == 2


def test_a_deployment_keeps_its_last_traces_and_its_traces_go_with_it(service, monkeypatch):
    monkeypatch.setattr(traces, "TRACES_KEPT", 2)  # the rule, without a dozen updates
    stack_id = create(service, "kept", TEMPLATE)
    ids = []
    for n in range(traces.TRACES_KEPT + 2):
        entry = entry_for(service, stack_id, "CREATE" if n == 0 else "UPDATE", exclude=ids)
        ids.append(entry["id"])
        signal(service, entry, {"deploy_status_code": 0})
        settle(service, stack_id)
        service.operations.update_stack("admin", stack_id, {"parameters": {"colour": f"c{n}"}}, patch=True)
    entry = entry_for(service, stack_id, "UPDATE", exclude=ids)
    signal(service, entry, {"deploy_status_code": 0})
    settle(service, stack_id)
    deployment_id = resource(service, stack_id, "deploy")["physical_resource_id"]
    with service.runtime.store.session() as session:
        kept = session.scalars(select(DeploymentTrace.id).where(DeploymentTrace.deployment_id == deployment_id)).all()
    assert len(kept) == traces.TRACES_KEPT and entry["id"] in kept and ids[0] not in kept
    assert len(service.convergence.report("admin", stack_id)["operations"]) == traces.TRACES_KEPT

    service.stacks.delete_stack("admin", stack_id)
    settle(service, stack_id)
    with service.runtime.store.session() as session:
        assert (
            session.scalars(select(DeploymentTrace.id).where(DeploymentTrace.deployment_id == deployment_id)).all()
            == []
        )


@pytest.mark.parametrize("given", ["nope", "12:x:y"])
def test_an_operation_that_wrote_nothing_is_refused_with_a_reason(service, given):
    from engine.errors import InvalidRequest, NotFound

    stack_id = create(service, "asked", TEMPLATE)
    entry_for(service, stack_id, "CREATE")
    with pytest.raises((InvalidRequest, NotFound), match="operation"):
        service.convergence.report("admin", stack_id, given)


def test_operation_spans_nest_resources_and_deployments_with_the_moments_as_events(service):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    stack_id = create(service, "spanned", TEMPLATE)
    entry = entry_for(service, stack_id, "CREATE")
    server_id = resource(service, stack_id, "server")["physical_resource_id"]
    service.runtime.delivered(server_id, stored(service, entry["id"]).metadata_version)
    service.deliveries.flush()
    signal(service, entry, {"deploy_status_code": 0, traces.RUN_SECONDS_KEY: 0.01})
    settle(service, stack_id)

    exporter = InMemorySpanExporter()
    spans = otel.OperationSpans(service.runtime.store, exporter).spans(stack_id, operation_number(service, stack_id))
    by_name = {span.name: span for span in spans}
    root = by_name["CREATE spanned"]
    assert root.parent is None and root.attributes["hearth.stack.status"] == "CREATE_COMPLETE"
    deploy = by_name["CREATE deploy"]
    assert deploy.parent.span_id == root.context.span_id
    assert {span.context.trace_id for span in spans} == {root.context.trace_id}
    deployment = by_name["deployment CREATE deploy"]
    assert deployment.parent.span_id == deploy.context.span_id
    assert [event.name for event in deployment.events] == ["delivered", "started"]
    assert deployment.start_time <= deployment.events[0].timestamp <= deployment.end_time
    exporter.export(spans)
    # The operation, its three resources (config, server, deploy) and the one deployment entry.
    assert len(exporter.get_finished_spans()) == len(spans) == 5


def test_a_finished_operation_is_exported_by_the_span_thread(service):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    spans = otel.OperationSpans(service.runtime.store, exporter)
    service.runtime.operation_ended = spans.ended  # as the service wires it when otel_exporter is set
    spans.start()
    try:
        stack_id = create(service, "exported", TEMPLATE)
        signal(service, entry_for(service, stack_id, "CREATE"), {"deploy_status_code": 0})
        assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
        names = wait_for(
            lambda: {s.name for s in exporter.get_finished_spans()} or None, 30, message="the create's spans"
        )
    finally:
        spans.stop()
    assert {"CREATE exported", "CREATE deploy", "deployment CREATE deploy"} <= names


def test_an_exporter_named_without_its_package_exports_nothing_and_says_so(service, caplog):
    import sys

    sys.modules["opentelemetry.exporter.otlp.proto.http.trace_exporter"] = None  # as if not installed
    try:
        assert otel.OperationSpans.configured(service.runtime.store, "otlp") is None
    finally:
        del sys.modules["opentelemetry.exporter.otlp.proto.http.trace_exporter"]
    assert "OpenTelemetry is not installed" in caplog.text
    assert otel.OperationSpans.configured(service.runtime.store, "") is None
