"""Alarms end to end: a real Hearth server on 127.0.0.1 evaluating every 0.2 s, a real HTTP
receiver on 127.0.0.1 as every action, samples written to the store as the metric endpoints
write them. Above the threshold the receiver gets Aodh's body with current "alarm", below it
the ok action fires, with no samples insufficient data; two engine replicas on one PostgreSQL
fire one action per transition, and the second takes over when the first dies."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, select

from engine.store.models import Alarm, Lease, MetricSample
from tests.support import start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST (path with query, headers, JSON body)."""

    def __init__(self):
        self.requests: queue.Queue = queue.Queue()
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                received.put((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 15) -> tuple[str, dict, dict]:
        """The next request, waiting at most `timeout` seconds for it."""
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no action arrived within {timeout} s") from None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def template(url: str) -> str:
    return f"""heat_template_version: 2018-08-31
resources:
  cpu_high:
    type: OS::Aodh::Alarm
    properties:
      meter_name: cpu_util
      statistic: avg
      period: 60
      evaluation_periods: 1
      threshold: 50
      comparison_operator: gt
      repeat_actions: false
      severity: critical
      matching_metadata: {{group: web}}
      alarm_actions: ["{url}/alarm?signature=s3cr3t-signature"]
      ok_actions: ["{url}/ok"]
      insufficient_data_actions: ["{url}/insufficient"]
"""


def samples(store, *values: float, group: str = "web") -> None:
    """Replace every sample with `values` (cpu_util, 30 s old, dimension group)."""
    with store.session() as session:
        session.execute(delete(MetricSample))
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for value in values:
            session.add(
                MetricSample(
                    project="admin",
                    server_id=None,
                    namespace="",
                    name="cpu_util",
                    value=value,
                    unit="%",
                    dimensions={"group": group},
                    timestamp=now - dt.timedelta(seconds=30),
                )
            )


def test_actions_fire_on_each_transition(tmp_path, receiver, caplog):
    caplog.set_level(logging.INFO, logger="engine.alarms")
    server = start_server(tmp_path, alarm_evaluation_interval=0.2)
    try:
        server.create_stack("alarmed", template(receiver.url))
        server.wait_stack("alarmed", ("CREATE_COMPLETE",))
        alarm_id = server.resources("alarmed")["cpu_high"]["physical_resource_id"]
        store = server.service.runtime.store

        samples(store, 70.0, 90.0, group="web")
        with store.session() as session:  # another group's sample is not read
            session.add(
                MetricSample(
                    project="admin",
                    name="cpu_util",
                    namespace="",
                    value=1.0,
                    dimensions={"group": "db"},
                    timestamp=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=30),
                )
            )
        path, headers, body = receiver.next()
        assert path == "/alarm?signature=s3cr3t-signature"
        assert headers["Content-Type"] == "application/json"
        assert body == {
            "alarm_id": alarm_id,
            "alarm_name": body["alarm_name"],
            "severity": "critical",
            "previous": "insufficient data",
            "current": "alarm",
            "reason": "Transition to alarm due to 1 samples outside threshold, most recent: 80.0",
            "reason_data": {"type": "threshold", "disposition": "outside", "count": 1, "most_recent": 80.0},
        }
        assert body["alarm_name"].startswith("alarmed-cpu_high-")

        samples(store, 10.0)
        path, _, body = receiver.next()
        assert (path, body["previous"], body["current"]) == ("/ok", "alarm", "ok")

        samples(store)  # none left in the window
        path, _, body = receiver.next()
        assert (path, body["previous"], body["current"]) == ("/insufficient", "ok", "insufficient data")
        assert body["reason"] == "1 datapoints are unknown"
        assert body["reason_data"]["disposition"] == "unknown"

        # The API lists events newest first, as Heat does.
        reasons = [r for r in reversed(server.event_reasons("alarmed")) if r.startswith("alarm state")]
        assert reasons == [
            (
                "alarm state insufficient data -> alarm: Transition to alarm due to 1 samples outside threshold, "
                "most recent: 80.0 (avg of cpu_util over 1 period of 60 s > 50)"
            ),
            (
                "alarm state alarm -> ok: Transition to ok due to 1 samples inside threshold, "
                "most recent: 10.0 (avg of cpu_util over 1 period of 60 s > 50)"
            ),
            "alarm state ok -> insufficient data: 1 datapoints are unknown (avg of cpu_util over 1 period of 60 s > 50)",
        ]
        with store.session() as session:
            assert session.scalars(select(Alarm.state)).one() == "insufficient data"
    finally:
        stop_server(server)
    assert "s3cr3t-signature" not in caplog.text  # logs show scheme, host and path only
    assert f"{receiver.url}/alarm answered 200" in caplog.text
    assert receiver.requests.empty()  # repeat_actions false: one call per transition


@contextlib.contextmanager
def replica(tmp_path, db_url: str, name: str):
    from engine.config import Config
    from engine.service import build_service

    config = Config.from_env(
        {},
        db_url=db_url,
        data_dir=str(tmp_path / "data"),
        compute="deployed",
        node_name=name,
        lease_seconds=1.5,
        alarm_evaluation_interval=0.2,
    )
    service = build_service(config)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        service.runtime.store.dispose()


def test_two_replicas_fire_once_per_transition_and_one_takes_over(tmp_path, receiver, postgres_server_url):
    from tests.conftest import _reset_postgres

    _reset_postgres(postgres_server_url)
    with (
        replica(tmp_path, postgres_server_url, "one") as one,
        replica(tmp_path, postgres_server_url, "two") as two,
    ):
        from tests.support import create, settle

        stack_id = create(one, "alarmed", template(receiver.url))
        assert settle(one, stack_id)["stack_status"] == "CREATE_COMPLETE"
        store = one.runtime.store

        def holder() -> str | None:
            with store.session() as session:
                return session.scalars(select(Lease.owner).where(Lease.name == "alarms")).first()

        def rounds() -> dt.datetime | None:
            with store.session() as session:
                return session.scalars(select(Alarm.evaluated_at)).one()

        samples(store, 90.0)
        path, _, body = receiver.next()
        assert (path.split("?")[0], body["current"]) == ("/alarm", "alarm")
        # Several more rounds go by (each sets evaluated_at): nobody fires again.
        seen = {rounds()}
        wait_for(lambda: seen.add(rounds()) or len(seen) >= 5, 15, 0.05, "five more evaluation rounds")
        assert receiver.requests.empty()

        # The holder dies (its leases kept, as by kill -9): the other takes the lease over.
        first = holder()
        dying, other = (one, two) if first == "one" else (two, one)
        dying.alarms.stop()
        dying.scheduler.stop(release=False)
        samples(store, 10.0)
        path, _, body = receiver.next()
        assert (path, body["previous"], body["current"]) == ("/ok", "alarm", "ok")
        assert holder() == ("two" if first == "one" else "one")
        seen = {rounds()}
        wait_for(lambda: seen.add(rounds()) or len(seen) >= 5, 15, 0.05, "five more evaluation rounds")
        assert receiver.requests.empty()
        assert other.alarms.leases.holds("alarms")
