"""Typed SQLAlchemy 2 models of everything Hearth persists: declarations only; opens no session
and does no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=False)}


class Stack(Base):
    __tablename__ = "stacks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    # Indexed: every engine replica looks for IN_PROGRESS stacks nobody drives (leases).
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[dict[str, Any]] = mapped_column(JSON)
    template_source: Mapped[str | None] = mapped_column(Text, nullable=True)
    template_name: Mapped[str] = mapped_column(String(255), default="template")
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Validated parameter values; hidden ones are Fernet tokens (see engine.store.crypto).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The operation timeout in force; `requested_timeout_mins` is what the request gave (None:
    # the default applies), which is what stack show answers, as Heat does.
    timeout_mins: Mapped[float] = mapped_column(Float)
    requested_timeout_mins: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The name of the user whose request made the stack (Heat's stack_owner).
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disable_rollback: Mapped[bool] = mapped_column(Boolean, default=True)
    deadline: Mapped[datetime | None] = mapped_column(nullable=True)
    # Bumped by every operation start, so results of a superseded operation are told apart.
    operation: Mapped[int] = mapped_column(Integer, default=0)
    # A nested stack's parent stack and the parent's resource that owns it.
    owner_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    owner_resource: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The definition before the current update (template, files, environment, parameters),
    # which a rollback returns to.
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When the rollback of its create deleted all its resources: Heat's deletion_time of a stack
    # that stays (ROLLBACK_COMPLETE).
    resources_deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Resource(Base):
    __tablename__ = "resources"
    __table_args__ = (UniqueConstraint("stack_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stack_id: Mapped[str] = mapped_column(ForeignKey("stacks.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16), default="INIT")
    status: Mapped[str] = mapped_column(String(16), default="COMPLETE")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    physical_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    requires: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Handler-private state (encrypted values under keys the handler chooses).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The scheduler's own bookkeeping: the operation that last touched the resource, property
    # digests to detect changes on update, a breakpoint it is paused on, a replacement's phase.
    engine: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Lease(Base):
    """Who drives a piece of engine work until when (engine/orchestration/lease.py): `stack:<id>`
    is a stack's operation in progress. Times are the database's clock, naive UTC."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


class StackRequest(Base):
    """What a user asked of a stack's operation in progress that only its driving replica can
    do: cancel it (`cancel`, detail {"rollback": bool}) or clear a breakpoint (`hook`, detail
    {"resource": name, "hook": hook}). Published to the replicas as well; stored so that the
    replica that drives the operation next (after a node loss, or after missed messages) still
    does it. One row per (stack, operation, key); rows of earlier operations are dropped when a
    later one's request is stored."""

    __tablename__ = "stack_requests"
    __table_args__ = (UniqueConstraint("stack_id", "operation", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stack_id: Mapped[str] = mapped_column(String(36), index=True)
    operation: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(600))  # "cancel", or "hook:<hook>:<resource>"
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_stack_seq", "stack_id", "seq"),
        Index("ux_events_project_seq", "project", "project_seq", unique=True),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    stack_id: Mapped[str] = mapped_column(String(36))
    resource_name: Mapped[str] = mapped_column(String(255))
    resource_type: Mapped[str] = mapped_column(String(255))
    physical_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    # The event stream (engine.store.event_log, docs/events.md): the stack's project, the
    # event's place in that project's sequence and the operation it belongs to
    # ("<stack id>:<operation number>"), stamped as its transaction commits, in commit order.
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    operation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What a consumer of the stream needs that the row does not say, captured as it happened:
    # a resize's notification and its figures (engine.service.scaling, engine.notifications).
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class EventSequence(Base):
    """A project's last event sequence number; its row lock orders the project's commits."""

    __tablename__ = "event_sequences"

    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class EventCursor(Base):
    """How far a consumer of the event stream (a notifier, an event sink) has delivered a
    project's events: its next event is the first with a greater `position`."""

    __tablename__ = "event_cursors"

    consumer: Mapped[str] = mapped_column(String(255), primary_key=True)
    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class EventSink(Base):
    """One entry of a top-level stack's `event_sinks` (engine/sinks/, docs/webhooks.md): what it
    delivers to (its settings sealed), and the state of the event at the head of its stream.
    How far it has delivered is its cursor in `event_cursors` (consumer = this row's key)."""

    __tablename__ = "event_sinks"

    consumer: Mapped[str] = mapped_column(String(255), primary_key=True)  # "sink:<stack id>:<index>"
    stack_id: Mapped[str] = mapped_column(String(36), index=True)
    project: Mapped[str] = mapped_column(String(64))
    index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    # What logs and answers name: a webhook's scheme, host and path; a queue's name.
    target: Mapped[str] = mapped_column(Text)
    # The sink as the environment gives it, its secrets sealed (engine.secrets.seal_sinks).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    # active | removed (an update left it out) | finished (its stack is deleted, all delivered)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed tries of the head event
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class EventDeadLetter(Base):
    """An event a sink gave up on after its attempts: kept, with the body it was sent, until
    a replay delivers it (the owner asks for one through the API)."""

    __tablename__ = "event_dead_letters"
    __table_args__ = (UniqueConstraint("consumer", "sequence", name="uq_event_dead_letters_consumer_sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(255), index=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[datetime]
    replay: Mapped[bool] = mapped_column(Boolean, default=False)  # asked to be delivered again


class SoftwareConfig(Base):
    __tablename__ = "software_configs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # None for a config made through the API without one (a deployment derives Heat::Ungrouped).
    group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # {"config": ..., "inputs": [...], "outputs": [...], "options": {...}}
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    project: Mapped[str] = mapped_column(String(64))
    # Set on derived configs: the deployment (and action) this config was built for.
    deployment_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    created_at: Mapped[datetime]


class Deployment(Base):
    __tablename__ = "software_deployments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    config_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    server_id: Mapped[str] = mapped_column(String(36), index=True)
    stack_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    resource_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    input_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DeploymentTrace(Base):
    """How one deployment entry (a derived config: one action of one deployment) reached its
    server (engine/guest/traces.py): `operation` is the id of the stack operation that wrote it
    ("<stack id>:<operation number>", the entry's `hearth_operation`), `metadata_version` the
    server document's version that first held it; then when it was committed, first delivered to
    the server (any channel), started (the agent's run time, measured back from its signal) and
    finished (its signal). Kept for the deployment's last TRACES_KEPT actions; gone with it."""

    __tablename__ = "deployment_traces"
    __table_args__ = (Index("ix_deployment_traces_server_pending", "server_id", "delivered_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the entry's (derived config's) id
    deployment_id: Mapped[str] = mapped_column(String(36), index=True)
    server_id: Mapped[str] = mapped_column(String(36))
    project: Mapped[str] = mapped_column(String(64))
    stack_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    root_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    resource_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    metadata_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    committed_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Server(Base):
    __tablename__ = "servers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    stack_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    resource_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project: Mapped[str] = mapped_column(String(64))
    driver: Mapped[str] = mapped_column(String(32))
    driver_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="BUILD")
    metadata_doc: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metadata_version: Mapped[int] = mapped_column(Integer, default=1)
    first_contact_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When the server's agent last reached the guest API (metadata, signal, progress), to the
    # nearest few seconds (engine/guest/liveness.py).
    last_seen_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The version of Hearth's agent, as its metadata requests last named it (None: not known,
    # or another client such as os-collect-config).
    agent_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The `metering.KEY: VALUE` pairs of the server's Nova `metadata` property, as {KEY: VALUE}
    # (Ceilometer's metadata.user_metadata.KEY): what alarms match group members by.
    metering: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class MetricSample(Base):
    """One measurement a server (or a user) reported: the native guest endpoint's samples and
    CloudWatch PutMetricData's datums. `name` is the meter (Aodh's meter_name, CloudWatch's
    MetricName), `dimensions` CloudWatch's Name/Value pairs as a map. Kept for a bounded time
    (metric_retention_seconds) and a bounded count per server; alarms read them."""

    __tablename__ = "metric_samples"
    __table_args__ = (Index("ix_metric_samples_project_name_time", "project", "name", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(64))
    server_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    namespace: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dimensions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timestamp: Mapped[datetime] = mapped_column(index=True)


class Alarm(Base):
    """An alarm Hearth evaluates itself (OS::Aodh::Alarm, AWS::CloudWatch::Alarm;
    engine/alarms/): written by its resource's handlers, its `state` by the evaluator alone.
    `rule` is the threshold rule and what samples it matches; `actions` the URLs of each state,
    sealed (a pre-signed URL is a credential)."""

    __tablename__ = "alarms"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stack_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_name: Mapped[str] = mapped_column(String(255))
    resource_type: Mapped[str] = mapped_column(String(255))
    project: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    repeat_actions: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str] = mapped_column(String(16), default="low")
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32), default="insufficient data")
    state_reason: Mapped[str] = mapped_column(Text, default="")
    state_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # server | handle
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    stack_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class HandleSignal(Base):
    __tablename__ = "handle_signals"
    __table_args__ = (UniqueConstraint("handle_id", "signal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handle_id: Mapped[str] = mapped_column(String(36), index=True)
    signal_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]


class Project(Base):
    """A tenant: stacks, configs and deployments belong to exactly one project."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]


class User(Base):
    """A person. `password_hash` (engine/passwords.py: scrypt, never the password) lets them
    sign in at /identity/v3; without one only API tokens reach the API."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_set_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Membership(Base):
    """A user's role in a project: admin | member | reader."""

    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))


class ApiToken(Base):
    """An orchestration API token; only the hash of its secret is kept.

    A token issued at /identity/v3 is scoped, as Keystone's are: `project_id` is the one
    project it reaches and `role` the most it may do there (an application credential's role);
    a token made with `hearth admin token create` has neither and carries all its user's roles."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ApplicationCredential(Base):
    """Keystone's application credential: a user's secret (hashed as a password) that signs
    in to one project with at most one role, without the user's password."""

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[str] = mapped_column(String(36))
    project_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Delegation(Base):
    """Heat's trust: the right to act later on a user's behalf, limited to one stack and role."""

    __tablename__ = "delegations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    project_id: Mapped[str] = mapped_column(String(64))
    stack_id: Mapped[str] = mapped_column(String(36), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEvent(Base):
    """Who did what and when, for authentication failures and credential life cycles.

    Never holds a secret (see engine.audit)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ZaqarQueue(Base):
    """A server's ZAQAR_MESSAGE queue (engine/guest/transports/zaqar.py): the metadata version its
    collector last popped, so the `popped` progress event of each version is written once,
    whichever replica answers the pop (a conditional UPDATE, not a read-then-write)."""

    __tablename__ = "zaqar_queues"

    server_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    popped_version: Mapped[int] = mapped_column(Integer, default=0)
    popped_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class UserQueue(Base):
    """A project's own Zaqar queue (engine/user_queues.py, docs/zaqar.md): made by a person's
    PUT or by the first post to its name (an event sink's included). Its row lock orders the
    posts to it, so its message count never passes user_queue_max_messages."""

    __tablename__ = "user_queues"

    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class UserQueueMessage(Base):
    """A message on a user queue: its body, who posted it (the Client-ID: `echo` hides a
    client's own), and when it expires (it is never answered after, and pruned). `seq` orders
    a queue's messages and is the listing's marker; `id` is what Zaqar's clients see."""

    __tablename__ = "user_queue_messages"
    __table_args__ = (Index("ix_user_queue_messages_queue", "project", "queue", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    project: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    body: Mapped[Any] = mapped_column(JSON)
    ttl: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # None: Hearth posted it
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class FactScope(Base):
    """The facts of one stack tree, kept with its root stack (engine/facts/): `last_index` is
    bumped by every write (its row lock orders a tree's writes, so an index seen implies every
    smaller one is committed); `pending_keys` are the keys changed since the deployments reading
    them were last re-run (["*"]: too many to list), `changed_at` the last such change and
    `pending_since` the first; `reruns` the times of the tree's recent re-runs (the hourly
    budget); `purged_index` the newest index of a deletion whose tombstone is gone."""

    __tablename__ = "fact_scopes"

    root_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project: Mapped[str] = mapped_column(String(64))
    last_index: Mapped[int] = mapped_column(BigInteger, default=0)
    purged_index: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    changed_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    pending_since: Mapped[datetime | None] = mapped_column(nullable=True)
    reruns: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Fact(Base):
    """One key of a stack tree's facts and its JSON value; a deleted key stays a while as a
    tombstone (`deleted`, value null) so that a blocking read on its prefix sees the deletion.
    `writer` is the server whose credential wrote it (null: a user); `bound` deletes it when
    that server's agent is gone or the server is deleted."""

    __tablename__ = "facts"

    root_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    create_index: Mapped[int] = mapped_column(BigInteger)
    modify_index: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    writer: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    bound: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
