"""Every Prometheus metric a replica moves as it works, defined once; the sites that move them (the
scheduler, the guest service, the listener's long-polls, the event sinks) hold a line each.

Names follow Prometheus' conventions: `hearth_` prefix, base units in the name (`_seconds`,
`_total`), and labels from small fixed sets only: never a stack's, server's or user's name or id,
whose numbers grow without bound. The gauges read from the store at scrape time are
engine/telemetry/scrape.py's.

Under gunicorn (`hearth server --workers N`) prometheus-client's multiprocess mode is on
(PROMETHEUS_MULTIPROC_DIR, set by metadata_server/replicas.py before this module is imported):
each worker writes its values to a file of that directory and a scrape of any worker sums them,
so one scrape of the port is the whole process group. `multiprocess_mode` says how a gauge of the
workers adds up (ignored in a single process).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram

from engine.errors import HearthError

# Stack operations run from a fraction of a second (a config) to the stack timeout (an hour).
OPERATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# A change reaches a parked agent in milliseconds (docs/guest-api.md, long-poll).
WAKEUP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

OPERATION_SECONDS = Histogram(
    "hearth_stack_operation_duration_seconds",
    "Stack operations ended by this replica's scheduler, from their start (as stored) to their end",
    ["action", "outcome"],
    buckets=OPERATION_BUCKETS,
)
SCHEDULER_INBOX = Gauge(
    "hearth_scheduler_inbox_messages",
    "Messages waiting in the scheduler's inbox behind the one it is handling (its queue depth)",
    multiprocess_mode="livesum",
)
SCHEDULER_OPERATIONS = Gauge(
    "hearth_scheduler_operations",
    "Stack operations this replica's scheduler drives now",
    multiprocess_mode="livesum",
)
LEASE_TAKEOVERS = Counter(
    "hearth_lease_takeovers_total",
    "Stack operations this replica took over because their lease had expired (a replica died or stalled)",
)
LONGPOLL_WAITERS = Gauge(
    "hearth_longpoll_waiters",
    "Guest metadata long-polls parked on this replica, waiting for a change",
    multiprocess_mode="livesum",
)
LONGPOLL_WAKEUP_SECONDS = Histogram(
    "hearth_longpoll_wakeup_seconds",
    "From a server's metadata change being published here to the parked agent's answer being sent",
    buckets=WAKEUP_BUCKETS,
)
SIGNALS = Counter(
    "hearth_signals_total",
    "Signals received, by kind (deployment, handle, scaling, resource) and outcome "
    "(accepted, forbidden, not_found, conflict, invalid, too_large, rate_limited, error)",
    ["kind", "outcome"],
)
CREDENTIAL_ROTATIONS = Counter(
    "hearth_credential_rotations_total",
    "Guest credentials rotated, by the kind of credential",
    ["kind"],
)
SINK_DELIVERIES = Counter(
    "hearth_event_sink_deliveries_total",
    "Tries to deliver an event to an event sink, by sink kind and outcome (ok, failed, dead_lettered)",
    ["sink", "outcome"],
)

# The outcome of a refused signal, by the HTTP status its error answers with.
REFUSALS = {
    401: "forbidden",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}
# Every label value the counters take, at 0 from the start: a series that appears only at its first
# increment hides that increment from rate() and increase().
SIGNAL_KINDS = ("deployment", "handle", "scaling", "resource")
SIGNAL_OUTCOMES = ("accepted", "forbidden", "not_found", "conflict", "invalid", "too_large", "rate_limited", "error")
SINK_KINDS = ("webhook", "zaqar-queue")  # engine/sinks/targets.py DELIVERERS (a test keeps them equal)
SINK_OUTCOMES = ("ok", "failed", "dead_lettered")
ROTATED_KINDS = ("server", "handle")  # engine/guest/service.py ROTATABLE_KINDS (a test keeps them equal)
for _kind in SIGNAL_KINDS:
    for _outcome in SIGNAL_OUTCOMES:
        SIGNALS.labels(_kind, _outcome)
for _kind in SINK_KINDS:
    for _outcome in SINK_OUTCOMES:
        SINK_DELIVERIES.labels(_kind, _outcome)
for _kind in ROTATED_KINDS:
    CREDENTIAL_ROTATIONS.labels(_kind)


def refusal(error: BaseException) -> str:
    """The `outcome` label of a signal refused with `error`."""
    if isinstance(error, HearthError):
        return REFUSALS.get(error.status, "invalid" if 400 <= error.status < 500 else "error")
    return "error"


def count_signal(kind: str, outcome: str, count: int = 1) -> None:
    if count:
        SIGNALS.labels(kind, outcome).inc(count)


@contextlib.contextmanager
def signal_counted(kind: str) -> Iterator[None]:
    """Count the signal handled inside: accepted when it returns, else by its error (re-raised);
    also a decorator of the function that takes one signal."""
    try:
        yield
    except BaseException as error:
        count_signal(kind, refusal(error))
        raise
    count_signal(kind, "accepted")
