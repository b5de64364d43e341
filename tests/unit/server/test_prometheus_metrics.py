"""GET /metrics (engine/telemetry/, docs/operations.md, Metrics) over real HTTP on SQLite and
PostgreSQL: a stack with a server and two chained software deployments is created, its agent's
part played over the guest API (a parked metadata long-poll woken by the second deployment, a
signal for each, refused ones beside them), and the exposition is parsed with prometheus-client's
own parser to check the values that must have moved, not only the names.

The instruments are per process (every server a test starts in this process adds to them), so
their checks compare a scrape before with one after; the store's gauges are the test's own
database's and are checked as they are.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ROOT, start_server, stop_server, wait_for

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any}}
  config: {type: OS::Heat::SoftwareConfig, properties: {group: script, config: "true"}}
  first:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: server}}
  second:
    type: OS::Heat::SoftwareDeployment
    depends_on: first
    properties: {config: {get_resource: config}, server: {get_resource: server}}
"""
RESULT = {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}
SIGNAL_CAP = 4096  # max_signal_bytes here, so that a too large signal is cheap to send


Samples = dict[tuple[str, frozenset], float]


def scrape(hearth, **headers) -> Samples:
    answer = requests.get(f"{hearth.url}/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return parse(answer.text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


class Agent:
    """The guest side of one server, over the guest API with the server's own credential."""

    def __init__(self, hearth, server_id: str):
        self.hearth, self.server_id = hearth, server_id
        enrolled = hearth.http.post(f"{hearth.api}/servers/{server_id}/bootstrap", timeout=30)
        assert enrolled.status_code == 201, enrolled.text
        self.auth = {"Authorization": f"Bearer {enrolled.json()['bootstrap']['credential']}"}
        self.http = requests.Session()
        self.metadata_url = f"{hearth.url}/guest/v1/servers/{server_id}/metadata"

    def metadata(self, **params) -> requests.Response:
        return self.http.get(self.metadata_url, params=params, headers=self.auth, timeout=30)

    def entry(self, document: dict, *done: str) -> str:
        """The id of the one deployment entry of the document not among `done`."""
        (entry,) = [d["id"] for d in document["metadata"]["deployments"] if d["id"] not in done]
        return entry

    def signal(self, entry_id: str, body, headers=None) -> requests.Response:
        url = f"{self.hearth.url}/guest/v1/deployments/{entry_id}/signal"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = self.auth if headers is None else headers
        return self.http.post(url, data=data, headers={**headers, "Content-Type": "application/json"}, timeout=30)


@pytest.fixture
def hearth(db_url, tmp_path):
    server = start_server(tmp_path, db_url, compute="deployed", longpoll_max_wait=20, max_signal_bytes=SIGNAL_CAP)
    server.service.metrics.store_gauges.cache_seconds = 0  # each scrape reads the store: checked below
    yield server
    stop_server(server)


def deployment_waiting(hearth, name: str) -> None:
    wait_for(
        lambda: hearth.resources("metered")[name]["resource_status"] == "CREATE_IN_PROGRESS",
        20,
        0.05,
        f"{name} to wait",
    )


def test_a_create_with_deployments_and_signals_moves_the_metrics(hearth):
    before = scrape(hearth)
    hearth.create_stack("metered", TEMPLATE)
    deployment_waiting(hearth, "first")
    agent = Agent(hearth, hearth.resources("metered")["server"]["physical_resource_id"])
    document = agent.metadata().json()
    first = agent.entry(document)

    # Refused signals, each under its reason (the deployment is still waiting after them).
    assert agent.signal(first, RESULT, headers={}).status_code == 401
    assert agent.signal(first, [1, 2]).status_code == 400
    assert agent.signal(first, b"x" * (SIGNAL_CAP + 1)).status_code == 413
    assert agent.signal("no-such-entry", RESULT).status_code == 403  # not another server's to probe

    # The agent parks a long-poll; the first signal starts the second deployment, whose metadata
    # change wakes it.
    polled: list[requests.Response] = []
    poll = threading.Thread(target=lambda: polled.append(agent.metadata(since=document["version"], wait=20)))
    poll.start()
    parked = wait_for(
        lambda: (lambda s: s if value(s, "hearth_longpoll_waiters") >= 1 else None)(scrape(hearth)),
        10,
        0.02,
        "the long-poll to park",
    )
    assert agent.signal(first, RESULT).status_code == 200
    poll.join(30)
    assert polled and polled[0].status_code == 200, polled
    assert agent.signal(agent.entry(polled[0].json(), first), RESULT).status_code == 200
    assert hearth.wait_stack("metered", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
    after = wait_for(
        lambda: (lambda s: s if value(s, "hearth_stacks", action="CREATE", status="COMPLETE") == 1 else None)(
            scrape(hearth)
        ),
        10,
        0.05,
        "the scrape to see the stack complete",
    )

    # The store's gauges: this database's stack, resources and server.
    assert value(after, "hearth_stacks", action="CREATE", status="COMPLETE") == 1
    assert value(after, "hearth_resources", action="CREATE", status="COMPLETE") == 4
    assert value(after, "hearth_agents", health="healthy") == 1
    assert value(after, "hearth_agents", health="never_seen") == 0
    assert value(after, "hearth_event_delivery_lag_seconds", sink="webhook") == 0
    # The instruments: one create ended, two signals accepted, four refused by reason.
    assert (
        moved(before, after, "hearth_stack_operation_duration_seconds_count", action="CREATE", outcome="COMPLETE") == 1
    )
    assert moved(before, after, "hearth_stack_operation_duration_seconds_sum", action="CREATE", outcome="COMPLETE") > 0
    assert moved(before, after, "hearth_signals_total", kind="deployment", outcome="accepted") == 2
    assert moved(before, after, "hearth_signals_total", kind="deployment", outcome="forbidden") == 2
    for outcome in ("invalid", "too_large"):
        assert moved(before, after, "hearth_signals_total", kind="deployment", outcome=outcome) == 1, outcome
    assert moved(before, after, "hearth_signals_total", kind="deployment", outcome="conflict") == 0
    # The parked poll was counted while it waited and observed when the change woke it.
    assert value(parked, "hearth_longpoll_waiters") >= 1
    assert moved(before, after, "hearth_longpoll_wakeup_seconds_count") == 1
    assert 0 < moved(before, after, "hearth_longpoll_wakeup_seconds_sum") < 5
    assert value(after, "hearth_longpoll_waiters") == value(before, "hearth_longpoll_waiters")
    # A signal for a finished deployment that says otherwise is a conflict.
    refused = agent.signal(first, {**RESULT, "deploy_status_code": 1})
    assert refused.status_code == 409, refused.text
    assert moved(after, scrape(hearth), "hearth_signals_total", kind="deployment", outcome="conflict") == 1
    # Unseen past agent_gone_grace after its longest long-poll, the agent counts as gone.
    real = hearth.service.runtime.clock
    hearth.service.runtime.clock = lambda: real() + dt.timedelta(seconds=300 + 20 + 1)
    later = scrape(hearth)
    assert (value(later, "hearth_agents", health="gone"), value(later, "hearth_agents", health="healthy")) == (1, 0)
    # Process metrics and what runs, per replica.
    assert value(after, "process_cpu_seconds_total") > 0
    assert any(name == "hearth_build_info" for name, _ in after)


def test_a_handle_signal_and_a_credential_rotation_are_counted(hearth):
    template = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any}}
  handle: {type: OS::Heat::WaitConditionHandle}
outputs:
  token: {value: {get_attr: [handle, token]}}
"""
    hearth.create_stack("rotated", template)
    stack = hearth.wait_stack("rotated", ("CREATE_COMPLETE",))
    resources = hearth.resources("rotated")
    agent = Agent(hearth, resources["server"]["physical_resource_id"])
    token = hearth.service.stacks.show_output("admin", stack["id"], "token")["output_value"]
    before = scrape(hearth)
    url = f"{hearth.url}/guest/v1/handles/{resources['handle']['physical_resource_id']}/signal"
    assert requests.post(url, json={"status": "SUCCESS"}, headers={"X-Auth-Token": token}, timeout=30).ok
    assert (
        requests.post(url, json={"status": "SUCCESS"}, headers={"X-Auth-Token": "hgh_forged"}, timeout=30).status_code
        == 401
    )
    rotate = requests.post(f"{hearth.url}/guest/v1/credentials/rotate", headers=agent.auth, timeout=30)
    assert rotate.status_code == 200, rotate.text
    after = scrape(hearth)
    assert moved(before, after, "hearth_signals_total", kind="handle", outcome="accepted") == 1
    assert moved(before, after, "hearth_signals_total", kind="handle", outcome="forbidden") == 1
    assert moved(before, after, "hearth_credential_rotations_total", kind="server") == 1
    assert moved(before, after, "hearth_credential_rotations_total", kind="handle") == 0


def test_event_delivery_lag_and_deliveries_follow_a_failing_then_mended_sink(db_url, tmp_path):
    """A webhook sink whose receiver fails: its events age (the lag grows) and the failed tries
    are counted; mended, it catches up (lag 0) and the deliveries are counted ok. The
    notifications publisher, its broker unreachable, lags too."""
    from tests.unit.engine.test_event_sinks import ONE, Receiver, create as create_with_sinks, sink

    broken = [True]
    receiver = Receiver(lambda body: 503 if broken[0] else 200)
    hearth = start_server(
        tmp_path,
        db_url,
        compute="deployed",
        event_sink_backoff=0.05,
        event_sink_backoff_most=0.2,
        event_sink_sweep_seconds=0.2,
        notification_transport_url="rabbit://guest:guest@127.0.0.1:1/",  # nobody listens there
    )
    hearth.service.metrics.store_gauges.cache_seconds = 0
    try:
        before = scrape(hearth)
        create_with_sinks(hearth, "sunk", [sink(f"{receiver.url}/hook", attempts=50)], template=ONE)
        hearth.wait_stack("sunk", ("CREATE_COMPLETE",))

        def lagging():
            now = scrape(hearth)
            late = value(now, "hearth_event_delivery_lag_seconds", sink="webhook") > 0.3
            failed = moved(before, now, "hearth_event_sink_deliveries_total", sink="webhook", outcome="failed") >= 2
            return now if late and failed else None

        late = wait_for(lagging, 20, 0.05, "the failing sink to lag")
        assert value(late, "hearth_event_delivery_lag_seconds", sink="notifications") > 0.3
        assert value(late, "hearth_event_delivery_lag_seconds", sink="zaqar-queue") == 0
        assert moved(before, late, "hearth_event_sink_deliveries_total", sink="webhook", outcome="ok") == 0
        broken[0] = False
        caught_up = wait_for(
            lambda: (lambda s: s if value(s, "hearth_event_delivery_lag_seconds", sink="webhook") == 0 else None)(
                scrape(hearth)
            ),
            20,
            0.05,
            "the mended sink to catch up",
        )
        assert moved(before, caught_up, "hearth_event_sink_deliveries_total", sink="webhook", outcome="ok") == len(
            {body["sequence"] for _, _, body in receiver.got}
        )
    finally:
        stop_server(hearth)
        receiver.close()


def test_scaling_signals_are_counted_by_outcome(tmp_path):
    from tests.unit.server.test_scaling_api import AODH_BODY, TEMPLATE as SCALED

    hearth = start_server(tmp_path, compute="deployed")
    try:
        hearth.create_stack("scaled", json.dumps(SCALED))
        hearth.wait_stack("scaled", ("CREATE_COMPLETE",))
        alarm_url = hearth.outputs("scaled")["alarm_url"]
        before = scrape(hearth)
        assert requests.post(alarm_url, json=AODH_BODY, timeout=30).status_code == 200
        assert requests.post(alarm_url, json=AODH_BODY, timeout=30).status_code == 409  # scaling, or cooling down
        tampered = alarm_url.replace("Signature=", "Signature=x")
        assert requests.post(tampered, json=AODH_BODY, timeout=30).status_code == 403
        after = scrape(hearth)
        for outcome in ("accepted", "conflict", "forbidden"):
            assert moved(before, after, "hearth_signals_total", kind="scaling", outcome=outcome) == 1, outcome
    finally:
        stop_server(hearth)


def test_the_store_gauges_are_read_once_per_cache_period(hearth):
    gauges = hearth.service.metrics.store_gauges
    reads: list[int] = []
    read = gauges._read
    gauges._read = lambda: reads.append(1) or read()  # counts the reads; the real one answers
    gauges.cache_seconds = 60
    for _ in range(5):
        scrape(hearth)
    assert len(reads) == 1


def test_a_metrics_token_is_asked_when_set_and_the_guest_listener_never_serves_metrics(tmp_path):
    from tests.support import free_port

    guest_port = free_port()
    hearth = start_server(tmp_path, metrics_token="s3cret", guest_listen=f"127.0.0.1:{guest_port}", compute="deployed")
    try:
        refused = requests.get(f"{hearth.url}/metrics", timeout=30)
        assert refused.status_code == 401 and "metrics_token" in refused.json()["error"]["message"]
        assert (
            requests.get(f"{hearth.url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=30).status_code
            == 401
        )
        assert (
            "hearth_build_info"
            in requests.get(f"{hearth.url}/metrics", headers={"Authorization": "Bearer s3cret"}, timeout=30).text
        )
    finally:
        stop_server(hearth)
    from metadata_server.replicas import build_replica

    config = hearth.config
    _service, front, guest_front = build_replica(config, ("api", "engine", "guest"), None, ("127.0.0.1", guest_port))
    try:
        assert front.metrics and guest_front is not None and not guest_front.metrics
    finally:
        _service.stop()
        _service.runtime.store.dispose()


def test_a_signal_over_its_request_budget_is_counted_rate_limited(tmp_path):
    hearth = start_server(tmp_path, compute="deployed", guest_rate=0.001, guest_burst=1)
    try:
        before = scrape(hearth)
        url = f"{hearth.url}/guest/v1/deployments/x/signal"
        answers = [requests.post(url, json={}, timeout=30).status_code for _ in range(2)]
        assert answers == [401, 429]
        after = scrape(hearth)
        assert moved(before, after, "hearth_signals_total", kind="deployment", outcome="forbidden") == 1
        assert moved(before, after, "hearth_signals_total", kind="deployment", outcome="rate_limited") == 1
    finally:
        stop_server(hearth)


def test_metrics_can_be_turned_off(tmp_path):
    hearth = start_server(tmp_path, metrics_enabled=False, compute="deployed")
    try:
        assert requests.get(f"{hearth.url}/metrics", timeout=30).status_code == 404
    finally:
        stop_server(hearth)


def test_the_lease_taken_over_at_a_restart_is_counted(db_url, tmp_path):
    """A replica that died mid-operation: the next one with its node name takes its lease over
    (on SQLite the one engine of the file takes every lease)."""
    from engine.config import Config
    from engine.service import build_service, telemetry
    from tests.support import create

    waiting = """
heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, timeout: 600}}
"""

    def replica():
        config = Config.from_env(
            # A short lease: if the restart's own reclaim misses it (its row locked a moment), the
            # sweeps take it once it has expired.
            {},
            db_url=db_url,
            data_dir=str(tmp_path / "data"),
            compute="deployed",
            node_name="metered",
            lease_seconds=1.5,
        )
        service = build_service(config)
        service.start()
        return service

    died = replica()
    stack_id = create(died, "taken", waiting)
    wait_for(lambda: stack_id in died.scheduler.driving(), 10, message="the stack to be driven")
    died.scheduler.stop(release=False)  # it dies holding the lease
    before = telemetry.LEASE_TAKEOVERS._value.get()
    heir = replica()
    try:
        taken = lambda: telemetry.LEASE_TAKEOVERS._value.get() - before  # noqa: E731
        wait_for(taken, 10, message="the heir to take the stack over")
        time.sleep(0.3)  # nothing more is taken: one operation was left
        assert taken() == 1
    finally:
        heir.stop()
        heir.runtime.store.dispose()
        died.stop()
        died.runtime.store.dispose()


def test_the_label_sets_match_the_engine_s():
    from engine.guest.service import ROTATABLE_KINDS
    from engine.sinks.targets import DELIVERERS
    from engine.telemetry import instruments

    assert set(instruments.SINK_KINDS) == set(DELIVERERS)
    assert set(instruments.ROTATED_KINDS) == set(ROTATABLE_KINDS)
    assert set(instruments.REFUSALS.values()) <= set(instruments.SIGNAL_OUTCOMES)
    from metadata_server.budget import SIGNAL_KINDS

    assert set(SIGNAL_KINDS.values()) <= set(instruments.SIGNAL_KINDS)


DASHBOARD = ROOT / "packaging" / "grafana" / "hearth-dashboard.json"


def test_the_grafana_dashboard_uses_only_metrics_hearth_exposes(tmp_path):
    """Every metric name a panel's expression names is in the exposition after a create (one
    store is enough: the names do not depend on it)."""
    import re

    hearth = start_server(tmp_path, compute="deployed")
    try:
        hearth.create_stack("dashboarded", TEMPLATE.split("  first:")[0])
        hearth.wait_stack("dashboarded", ("CREATE_COMPLETE",))
        exposed = {name for name, _ in scrape(hearth)}
    finally:
        stop_server(hearth)
    dashboard = json.loads(Path(DASHBOARD).read_text())
    assert dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS"
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert expressions
    used = set()
    for expression in expressions:
        used |= {n for n in re.findall(r"\b([a-z_]+)\b", expression) if n.startswith(("hearth_", "process_"))}
    assert used and used <= exposed, sorted(used - exposed)
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
