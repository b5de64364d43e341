"""Settings, declared once with their default and help: reads os.environ (and $XDG_STATE_HOME, ~)
when a Config is built or a path resolved; never at import, and writes nothing."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any


def _setting(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


BOOLEAN_WORDS = {
    "yes": True,
    "true": True,
    "on": True,
    "1": True,
    "no": False,
    "false": False,
    "off": False,
    "0": False,
}


def _parse(raw: str, default: Any) -> Any:
    """A setting's text as its default's type; bool("no") would be True, so booleans are words."""
    if isinstance(default, bool):
        if raw.strip().lower() not in BOOLEAN_WORDS:
            raise ValueError(raw)
        return BOOLEAN_WORDS[raw.strip().lower()]
    return raw if isinstance(default, str) else type(default)(raw)


@dataclass(frozen=True)
class Config:
    """Everything an installation can set. `HEARTH_<NAME>` in the environment overrides a default."""

    db_url: str = _setting("", "SQLAlchemy URL of the store; empty means sqlite in data_dir")
    data_dir: str = _setting(
        "",
        "directory for the SQLite file, keys and local servers; "
        "empty means $XDG_STATE_HOME/hearth (~/.local/state/hearth)",
    )
    host: str = _setting("127.0.0.1", "address the server listens on")
    port: int = _setting(8004, "port the server listens on (Heat's orchestration port)")
    public_url: str = _setting(
        "", "base URL guests use to reach this server; empty means http://guest_listen, else http://host:port"
    )
    compute: str = _setting("local", "compute driver for OS::Nova::Server and AWS::EC2::Instance: local or deployed")
    secret_key: str = _setting(
        "",
        "keys for encrypting stored secrets and signing pre-signed URLs, "
        "comma-separated, newest first: the first encrypts and signs, all "
        "decrypt and verify (key rotation); empty means the key file "
        "data_dir/secret.key (one key per line, newest first)",
    )
    environment_dir: str = _setting(
        "",
        "directory of environment files merged, in name order, "
        "under every stack's own environment (Heat's environment.d)",
    )
    hidden_stack_tags: str = _setting(
        "data-processing-cluster",
        "comma-separated stack tags that hide a stack from lists unless show_hidden is asked for",
    )
    hooks_dir: str = _setting("", "extra directory the local driver's agents search for hooks")
    stack_timeout_mins: int = _setting(60, "default stack operation timeout in minutes")
    server_boot_timeout: int = _setting(300, "seconds a local server may take to contact the server after start")
    agent_restart_delay: float = _setting(
        1.0,
        "seconds the local driver waits before restarting an agent that exited; doubled after each exit that came sooner than agent_restart_max_delay after its start",
    )
    agent_restart_max_delay: float = _setting(
        60.0, "longest wait, in seconds, before the local driver restarts an agent that exited"
    )
    agent_gone_grace: int = _setting(
        300,
        "seconds a server's agent may go unseen (no metadata request, no signal; counted from the end of its longest possible long-poll) while a deployment to it waits, before that deployment fails; 0 turns this off",
    )
    longpoll_max_wait: int = _setting(60, "longest a guest long-poll is held, in seconds")
    credential_ttl: int = _setting(365 * 24 * 3600, "lifetime of guest credentials, in seconds")
    token_ttl: int = _setting(
        3600,
        "lifetime of the tokens people get by signing in at /identity/v3 "
        "(password or application credential), in seconds (Keystone's default: one hour)",
    )
    credential_rotation_overlap: int = _setting(
        600, "seconds a rotated guest credential keeps working after its replacement is issued"
    )
    presigned_url_ttl: int = _setting(7 * 24 * 3600, "lifetime of pre-signed signal URLs, in seconds")
    max_signal_bytes: int = _setting(
        4 * 1024 * 1024,
        "largest accepted signal body (Heat: 1 MiB; an agent result carries up to 1 MiB of stdout plus 1 MiB of stderr)",
    )
    max_template_bytes: int = _setting(
        4 * 1024 * 1024, "largest accepted body of a stack create, update, preview or template validation"
    )
    max_body_bytes: int = _setting(
        64 * 1024, "largest accepted body on every other route (actions, progress, enrolment, credentials)"
    )
    guest_rate: float = _setting(
        10.0, "guest requests per second each credential or pre-signed URL may make on average; 0 turns the budget off"
    )
    guest_burst: int = _setting(
        100, "guest requests a credential or pre-signed URL may make at once before guest_rate applies"
    )
    api_rate: float = _setting(
        50.0, "orchestration API requests per second per token (per client address without one); 0 turns the budget off"
    )
    api_burst: int = _setting(
        200, "orchestration API requests a token (or address) may make at once before api_rate applies"
    )
    auth_failure_rate: float = _setting(
        1.0,
        "401 answers per second a client address may collect on average before it is answered 429; 0 turns this off",
    )
    auth_failure_burst: int = _setting(
        100, "401 answers a client address may collect at once before auth_failure_rate applies"
    )
    guest_listen: str = _setting("", "HOST:PORT of a second listener that serves only the guest API; empty means none")
    console: bool = _setting(
        True,
        "whether the orchestration listener serves the web console at /console/ (docs/console.md): yes or no",
    )
    guest_on_main: bool = _setting(
        True, "whether the main listener serves the guest API too: yes or no (no needs guest_listen)"
    )
    metrics_enabled: bool = _setting(
        True,
        "whether GET /metrics answers Prometheus' text format on the main listener (never on a guest-only one): yes or no (docs/operations.md, Metrics)",
    )
    metrics_token: str = _setting(
        "", "bearer token a scrape of /metrics must send (Authorization: Bearer ...); empty means none is asked"
    )
    engine_workers: int = _setting(8, "threads that run resource handlers that may block")
    # Serving and scale-out (docs/operations.md, Topologies).
    role: str = _setting(
        "all",
        "what this replica does, comma-separated: api (the orchestration API), guest (the guest API), engine (drives stack operations), or all",
    )
    workers: int = _setting(
        1,
        "server processes on this host, each a full replica (gunicorn's master keeps them; more than 1 needs PostgreSQL)",
    )
    node_name: str = _setting("", "this replica's name in leases and logs; empty means HOSTNAME-PID")
    lease_seconds: float = _setting(
        10.0,
        "how long a replica owns a stack operation without renewing its lease; a replica that dies loses its operations to the others this long after its last renewal (renewed every third of it)",
    )
    guest_urls: str = _setting(
        "",
        "comma-separated base URLs of the other replicas' guest APIs, given to agents after public_url so that they fail over (empty: public_url alone)",
    )
    keepalive_seconds: float = _setting(
        75.0, "how long an idle HTTP/1.1 connection is kept open between requests (agents re-poll on it)"
    )
    gc_full_seconds: float = _setting(
        300.0,
        "seconds between full garbage collections in a serving process, which otherwise collects only young objects (docs/operations.md, Serving); 0 keeps CPython's own policy",
    )
    head_read_timeout: float = _setting(
        30.0,
        "seconds a client may take to send a request's line and headers, counted from its connection or from the request's first byte, before it is answered 408 and its connection closed (0: no limit)",
    )
    body_read_timeout: float = _setting(
        30.0, "seconds a client may take to send a request body before it is answered 408 and its connection closed"
    )
    shutdown_grace: float = _setting(
        30.0,
        "seconds a stopping replica gives requests in flight to finish; parked long-polls are answered at once (nothing new) so agents re-poll elsewhere",
    )
    max_json_depth: int = _setting(
        100,
        "deepest nesting of arrays and objects accepted in a JSON request body; "
        "a deeper one is answered 400 before it is parsed",
    )
    # Metrics guests report (docs/guest-api.md, Metrics; docs/operations.md, Metric samples).
    metric_max_samples_per_request: int = _setting(
        100, "most samples one metrics request (native or CloudWatch PutMetricData) may carry; more is answered 400"
    )
    metric_samples_per_minute: int = _setting(
        600,
        "samples each server may report per minute on average, in bursts of up to as many, counted by this replica; beyond, 429 with Retry-After (0 turns the budget off)",
    )
    metric_max_name_length: int = _setting(
        255, "longest metric name and namespace, in characters (at most 255, the column's size)"
    )
    metric_max_dimensions: int = _setting(10, "most dimensions one sample may carry")
    metric_max_dimension_length: int = _setting(255, "longest dimension name and dimension value, in characters")
    metric_max_future_seconds: int = _setting(
        300, "how far ahead of the server's clock a sample's timestamp may be before it is refused (400)"
    )
    metric_retention_seconds: int = _setting(
        3600,
        "how long metric samples are kept, counted from their timestamp; older ones are pruned, and ones older on arrival are not stored",
    )
    metric_max_samples_per_server: int = _setting(
        10000, "most metric samples kept per server; the oldest beyond it are pruned"
    )
    metric_prune_seconds: float = _setting(
        60.0, "seconds between two prunings of old metric samples by each replica (0 turns pruning off)"
    )
    # Facts, a stack tree's data bag (docs/facts.md).
    fact_max_value_bytes: int = _setting(
        65536, "largest fact value, in bytes of its JSON text; a larger one is answered 413"
    )
    fact_max_keys_per_stack: int = _setting(
        1000,
        "most fact keys one stack tree (a top-level stack and its nested stacks) may hold; a write of one more is answered 400",
    )
    fact_writes_per_minute: int = _setting(
        60,
        "fact writes (set and delete) each server may make per minute on average, in bursts of up to as many, counted by this replica; beyond, 429 with Retry-After (0 turns the budget off)",
    )
    fact_rerun_delay: float = _setting(
        2.0,
        "seconds a stack tree's facts must stay unchanged before the deployments that read a changed fact are re-run, so a burst of writes makes one re-run (at most ten times this after the burst's first write)",
    )
    fact_reruns_per_hour: int = _setting(
        20,
        "most re-runs (updates started because a fact a resource reads changed) one stack tree may have in an hour; beyond, the change waits and an event says why (0 turns re-runs off)",
    )
    # Alarms Hearth evaluates itself (docs/operations.md, Alarms; engine/alarms/).
    alarm_evaluation_interval: float = _setting(
        10.0,
        "seconds between evaluations of the alarms (OS::Aodh::Alarm, AWS::CloudWatch::Alarm), made by one engine replica at a time (the holder of the lease `alarms`); 0 turns evaluation off",
    )
    alarm_evaluation_most: int = _setting(
        1000,
        "most alarms one evaluation round looks at (one aggregate query each), the longest unevaluated first; the others wait for the next round",
    )
    alarm_action_timeout: float = _setting(
        10.0, "seconds an alarm action (a webhook POST) may take before it counts as failed"
    )
    alarm_action_retries: int = _setting(
        2, "times a failed alarm action (no answer, or a 5xx) is tried again, after 0.5 s, then twice as long each time"
    )
    # Heat's notifications on a message bus (docs/notifications.md).
    notification_transport_url: str = field(
        default="",
        repr=False,  # it holds the bus password: never in a repr, a log or a settings dump
        metadata={
            "help": "oslo.messaging transport URL of the bus Heat's notifications are published on (rabbit://USER:PASSWORD@HOST:PORT/VHOST, several hosts comma-separated); empty publishes none. Secret: shown with its password redacted",
            "secret": True,
        },
    )
    notification_topics: str = _setting(
        "notifications",
        "comma-separated oslo.messaging notification topics; each message goes to routing key TOPIC.info or TOPIC.error on exchange `heat`",
    )
    notification_publisher_id: str = _setting(
        "", "publisher_id of the notifications; empty means orchestration.<this host's name>, as in Heat"
    )
    notification_batch_size: int = _setting(
        100, "most events the notifier reads and publishes before it records how far it got"
    )
    notification_sweep_seconds: float = _setting(
        5.0,
        "seconds between the notifier's looks for events it was not told of (it is woken as events commit; this is the safety net)",
    )
    # OpenTelemetry (docs/convergence.md): spans of each finished operation, its resources and
    # its deployments, when the SDK is installed.
    otel_exporter: str = _setting(
        "",
        "where spans of finished operations go: `otlp` (opentelemetry-exporter-otlp-proto-http; endpoint and headers from OTEL_EXPORTER_OTLP_* variables), `console`, or empty for none; needs opentelemetry-sdk",
    )
    # Event sinks: a stack environment's event_sinks, delivered by engine/sinks/ (docs/webhooks.md).
    event_sink_attempts: int = _setting(
        8,
        "tries of one event to a sink (the first and the retries) before it goes to the sink's dead letters; a webhook sink's own `attempts` overrides it",
    )
    event_sink_backoff: float = _setting(
        1.0,
        "seconds before a sink's first retry of an event, doubled for each next one up to event_sink_backoff_most, each scaled by a random 50-100 % (jitter)",
    )
    event_sink_backoff_most: float = _setting(300.0, "longest wait in seconds between two tries of one event to a sink")
    event_sink_timeout: float = _setting(
        10.0, "seconds a webhook sink may take to answer one delivery before the try counts as failed"
    )
    event_sink_concurrency: int = _setting(
        4,
        "sinks one replica delivers to at once, each on a thread of its own (a slow receiver holds up only its own sink)",
    )
    event_sink_sweep_seconds: float = _setting(
        5.0,
        "seconds between two sweeps for sink work nobody announced (a retry come due, a missed notification); new events are delivered at once, by the one engine replica holding the lease `event-sinks`; 0 turns delivery off",
    )
    # User queues: a project's own Zaqar queues, which zaqar-queue event sinks fill (docs/zaqar.md).
    user_queue_max_messages: int = _setting(
        10000,
        "most unexpired messages one user queue holds; a post beyond it is refused (409), and a zaqar-queue event sink retries it, then dead-letters it",
    )
    user_queue_max_message_bytes: int = _setting(
        65536,
        "largest message a user queue takes, in bytes of its body as compact JSON (Zaqar's limit is on a whole post)",
    )
    # Bounded evaluation (docs/operations.md, Limits). -1 turns a limit off, as in Heat.
    max_resources_per_stack: int = _setting(
        1000,
        "most resources one stack may have, counted as Heat counts them: a template's own at the request, a provider template's too when the request is validated, and each nested stack's own when it is made or updated (Heat's default; -1: no limit)",
    )
    max_resources_per_tree: int = _setting(
        10000,
        "most resources a top-level stack and all its nested stacks may have together, checked whenever a nested stack is made or updated (Hearth's own: Heat checks each stack alone, so nested groups could multiply without end; -1: no limit)",
    )
    max_nested_stack_depth: int = _setting(
        5,
        "most levels of nested stacks below a top-level stack (provider templates, groups, OS::Heat::Stack; Heat's default; -1: no limit)",
    )
    max_template_size: int = _setting(
        524288,
        "largest template a request may send, in characters: the template itself and each provider template in its files (Heat's default; -1: no limit)",
    )
    max_resolved_value_size: int = _setting(
        4 * 1024 * 1024,
        "largest value evaluating a template may make, in bytes of JSON: one function's result, a resource's properties or metadata, an output (as large as max_signal_bytes and max_template_bytes, so nothing a request or an agent sends is refused; -1: no limit)",
    )
    max_resolved_template_size: int = _setting(
        16 * 1024 * 1024,
        "largest template Hearth builds for a group's nested stack from resolved values, in bytes of JSON: the member definition times the members, checked before they are built (-1: no limit)",
    )
    max_function_work: int = _setting(
        1_000_000,
        "most items the intrinsic functions of one evaluation (a resource's properties, its metadata, an output) may build or visit: repeat's combinations, items concatenated, joined, split, merged or filtered, text pieces substituted, values measured (-1: no limit)",
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Config:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = "HEARTH_" + f.name.upper()
            raw = environ.get(name)
            if raw is not None and raw != "":
                try:
                    values[f.name] = _parse(raw, f.default)
                except ValueError:
                    raise ValueError(f"{name} must be {type(f.default).__name__}, not '{raw}'") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def resolved_data_dir(self) -> str:
        if self.data_dir:
            return os.path.abspath(self.data_dir)
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        return os.path.join(base, "hearth")

    @property
    def resolved_db_url(self) -> str:
        return self.db_url or "sqlite:///" + os.path.join(self.resolved_data_dir, "hearth.db")

    @property
    def resolved_public_url(self) -> str:
        # Guests are given the guest listener's address when there is one: that is the only
        # address an instance network should be able to reach.
        default = f"http://{self.guest_listen}" if self.guest_listen else f"http://{self.host}:{self.port}"
        return (self.public_url or default).rstrip("/")

    @property
    def resolved_api_url(self) -> str:
        """Base of the `links` in orchestration answers: the main listener when the guest API
        has its own (public_url then names the guest listener, which serves only the guests'
        few /v1 routes: the CFN API and the two calls a guest Keystone token may make)."""
        if self.guest_listen:
            return f"http://{self.host}:{self.port}"
        return self.resolved_public_url


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for docs/operations.md."""
    return [(f.name, f.default, f.metadata["help"]) for f in dataclasses.fields(Config)]
