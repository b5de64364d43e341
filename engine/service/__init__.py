"""engine.service, the one facade the server and tools call: composes its parts; build_service makes
the data dir, key file and Store and reads the environment directory's files.

`Service` holds each part as an attribute, each given the runtime and the parts it needs in
its constructor: `stacks` (create, list, show, delete; engine.service.stacks), `operations`
(update, actions, abandon, signals), `previews`, `resources` (resources and events),
`events` (the project's event stream), `software` (software configs and deployments), `catalog` (resource types, template versions,
validation), `admin` (projects, users, tokens, delegations, audit log, authentication),
`guest` (engine.guest), `retention` (prunes the metric samples guests report, on every
replica), `facts` (a stack tree's facts), `servers` (a stack's servers, agents and deployments, read
for the web console), `fact_reruns` (re-runs what reads a changed fact),
`notifications` (Heat's notifications on a bus), `event_sinks` (a stack's sinks and their
delivery) and `metrics` (what `/metrics` answers, engine/telemetry/). `definitions` builds and checks what a request asks for; the scheduler
runs the work. The names below are re-exported for the server, which imports nothing else of
the engine but engine.errors and engine.config.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from engine.alarms.evaluator import AlarmEvaluator
from engine.errors import InvalidRequest
from engine.facts.reruns import Reruns

# The guest side's data types and constants that the server's views name (metadata_server/guest/).
from engine.guest.credentials import GuestAuth
from engine.guest.metric_samples import Retention
from engine.guest.service import GuestService
from engine.guest.traces import Deliveries
from engine.guest.transports.cfn import SignedRequest
from engine.guest.transports.temp_url import KEY_HEADER as TEMP_URL_KEY_HEADER
from engine.identity import Principal
from engine.notifications.delivery import NotificationDelivery
from engine.orchestration.definitions import Definition, Resolver
from engine.orchestration.lease import EngineLocked
from engine.orchestration.nested import Children
from engine.orchestration.scheduler import Scheduler
from engine.otel import OperationSpans
from engine.resources import types as resource_types
from engine.runtime import Runtime
from engine.secrets import LogRedactor, redact_url_signatures
from engine.service.admin import GUEST_TOKEN_PREFIX, GUEST_TOKEN_WRONG_TARGET, Admin, Caller
from engine.service.catalog import Catalog
from engine.service.convergence import Convergence
from engine.service.definitions import Definitions
from engine.service.event_sinks import EventSinks
from engine.service.events import Events
from engine.service.facts import Facts
from engine.service.operations import Operations
from engine.service.previews import Previews
from engine.service.resources import Resources
from engine.service.scaling import Scaling
from engine.service.servers import Servers
from engine.service.software import Software
from engine.service.stacks import Stacks
from engine.store.models import Stack
from engine.telemetry import instruments as telemetry  # the metrics the server's front moves
from engine.telemetry.scrape import Scrape
from engine.template import merge_environments
from engine.user_queues import UserQueues, prune as prune_user_queues

if TYPE_CHECKING:
    from engine.store.pg_notify import PgBridge

__all__ = [
    "GUEST_TOKEN_PREFIX",
    "GUEST_TOKEN_WRONG_TARGET",
    "TEMP_URL_KEY_HEADER",
    "Caller",
    "EngineLocked",
    "GuestAuth",
    "LogRedactor",
    "Principal",
    "Service",
    "SignedRequest",
    "build_service",
    "load_environment_dir",
    "redact_url_signatures",
    "telemetry",
]


class Service:
    """One installation's engine: its parts, the scheduler and the runtime they share."""

    # On PostgreSQL: carries change notifications to and from the other replicas (build_service).
    bridge: PgBridge | None = None

    def __init__(self, runtime: Runtime, base_environment=None):
        self.runtime = runtime
        self.types = resource_types()
        # The global environment directory, merged under every request's: the definitions part's alone.
        self.definitions = Definitions(runtime, self.types, base_environment)
        self.scheduler = Scheduler(runtime, self.types, self.definitions.cache, resolver_for=self._resolver_for)
        nested_lock = threading.Lock()  # engine.limits counts a tree's nested stacks in turn
        self.guest = GuestService(runtime)
        # When each deployment entry reached its server (engine/guest/traces.py), on every replica.
        self.deliveries = Deliveries(runtime.store, runtime.now)
        runtime.delivered = self.deliveries.note
        self.convergence = Convergence(runtime)
        # Spans of each finished operation, when otel_exporter names an exporter (engine/otel.py).
        self.spans = OperationSpans.configured(runtime.store, runtime.config.otel_exporter)
        if self.spans is not None:
            runtime.operation_ended = self.spans.ended
        self.stacks = Stacks(runtime, self.scheduler, self.definitions, nested_lock)
        self.operations = Operations(runtime, self.scheduler, self.guest, self.definitions, self.stacks, nested_lock)
        self.previews = Previews(runtime, self.scheduler, self.definitions, self.stacks, self.operations)
        self.resources = Resources(runtime, self.scheduler, self.definitions, self.stacks)
        self.software = Software(runtime, self.scheduler)
        self.catalog = Catalog(runtime, self.definitions)
        self.admin = Admin(runtime)
        self.events = Events(runtime)
        # Prunes metric samples and expired user-queue messages, on every replica.
        self.retention = Retention(runtime, also=(prune_user_queues,))
        self.user_queues = UserQueues(runtime)  # a project's own Zaqar queues (docs/zaqar.md)
        self.facts = Facts(runtime, self.stacks)  # a stack tree's data bag (docs/facts.md)
        self.servers = Servers(runtime, self.stacks)  # a stack's servers and deployments, for the console
        # What reads a changed fact is re-run by an update of its stack, refused while one runs.
        self.fact_reruns = Reruns(
            runtime,
            lambda project, stack_id: self.operations.update_stack(project, stack_id, {}, patch=True, if_idle=True),
        )
        self.scaling = Scaling(runtime)
        self.operations.scaling = self.scaling
        # Alarms are evaluated by the replica holding the lease `alarms`, through the
        # scheduler's leases (its heartbeat renews that one too).
        self.alarms = AlarmEvaluator(runtime, self.scheduler.leases)
        # Heat's notifications on a message bus, published by the holder of the lease
        # `notifications` (docs/notifications.md); nothing without a transport URL.
        self.notifications = NotificationDelivery(runtime, self.scheduler.leases)
        # Event sinks are delivered by the replica holding the lease `event-sinks` (the same way).
        self.event_sinks = EventSinks(runtime, self.stacks, self.scheduler.leases)
        runtime.stacks = Children(self)
        runtime.scaling = self.scaling
        self.metrics = Scrape(runtime)  # GET /metrics (docs/operations.md, Metrics)

    def _resolver_for(self, stack: Stack, definition: Definition, lookup) -> Resolver:
        # The scheduler is made before the stacks part that resolves for it (which needs it).
        return self.stacks.resolver_for(stack, definition, lookup)

    def start(self) -> None:
        self.runtime.store.migrate()
        if self.bridge is not None:  # before the scheduler, which hears other replicas through it
            self.bridge.start()
        self.scheduler.start()
        if self.scheduler.drives:
            self.alarms.start()
            self.notifications.start()
            self.fact_reruns.start()
            self.event_sinks.delivery.start()
        self.runtime.compute.start()
        self.retention.start()
        self.deliveries.start()
        if self.spans is not None:
            self.spans.start()

    def stop(self) -> None:
        self.retention.stop()
        self.deliveries.stop()
        if self.spans is not None:
            self.spans.stop()
        self.fact_reruns.stop()
        self.alarms.stop()  # before the scheduler, which releases the leases, `alarms` too
        self.notifications.stop()  # likewise
        self.event_sinks.delivery.stop()
        self.scheduler.stop()
        if self.bridge is not None:  # after the scheduler, whose last commits it still announces
            self.bridge.stop()
        self.runtime.compute.shutdown()


def build_service(config) -> Service:
    """Wire the store, keys, notification and compute driver of one installation."""
    from engine.compute import make_driver
    from engine.store.crypto import Keyring, load_or_create_key
    from engine.store.db import Store
    from engine.store.notify import Notifier

    # The data dir holds the SQLite file, the key and the servers' bootstrap files: ours alone.
    os.makedirs(config.resolved_data_dir, mode=0o700, exist_ok=True)
    secret = config.secret_key or load_or_create_key(config.resolved_data_dir)
    runtime = Runtime(
        config=config,
        store=Store(config.resolved_db_url),
        keyring=Keyring(secret),
        notifier=Notifier(),
        compute=make_driver(config.compute, config),
    )
    service = Service(runtime, base_environment=load_environment_dir(config.environment_dir))
    runtime.store.on_events = service.events.committed
    if not runtime.store.is_sqlite:  # SQLite is one process: nobody else to tell
        from engine.store.pg_notify import PgBridge

        service.bridge = PgBridge(config.resolved_db_url, service.scheduler.node, runtime.notifier)
    return service


def load_environment_dir(directory: str):
    """The global environment: every *.yaml/*.yml/*.json file of the directory, merged in name
    order (Heat's /etc/heat/environment.d). None when no directory is set."""
    if not directory:
        return None
    from engine.template import parse_environment

    if not os.path.isdir(directory):
        raise InvalidRequest(f"HEARTH_ENVIRONMENT_DIR '{directory}' is not a directory")
    names = sorted(n for n in os.listdir(directory) if n.endswith((".yaml", ".yml", ".json")))
    environments = []
    for name in names:
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as handle:
            environments.append(parse_environment(handle.read(), path))
    return merge_environments(environments) if environments else None
