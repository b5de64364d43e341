"""Event sinks (engine/sinks/, docs/webhooks.md) against real HTTP receivers on 127.0.0.1 and a
real server on both stores: every event of a stack's tree delivered once, in sequence order,
signed over its exact bytes; retries with backoff, then dead letters that do not block the
events after them, shown to the owner and replayed on request; a slow receiver that holds up
only its own sink; zaqar-queue sinks posting to the project's own queue (a full one dead-letters);
secrets sealed at rest and masked in answers; bad sinks refused with the
file and path named."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from sqlalchemy import text

from engine.errors import TemplateError
from engine.sinks import wire
from engine.template import parse_environment
from tests.conftest import _reset_postgres
from tests.support import start_server, stop_server, wait_for

KEY = "a-key-of-twenty-chars"
GROUP = """heat_template_version: 2018-08-31
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties: {count: 2, resource_def: {type: OS::Heat::None}}
  after: {type: OS::Heat::None, depends_on: group}
"""
ONE = """heat_template_version: 2018-08-31
resources:
  v: {type: OS::Heat::None}
"""
QUEUE_MOST = 12
FAST = {"event_sink_backoff": 0.02, "event_sink_backoff_most": 0.05, "event_sink_sweep_seconds": 0.5}


class Receiver:
    """Records every POST (headers, exact bytes, JSON) and answers `answer(body)` (200 by
    default); a path starting /slow waits for `release` first."""

    def __init__(self, answer: Callable[[dict], int] = lambda body: 200):
        self.answer = answer
        self.got: list[tuple[dict, bytes, dict]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(data)
                if self.path.startswith("/slow"):
                    outer.release.wait(20)
                with outer.lock:
                    outer.got.append((dict(self.headers), data, body))
                self.send_response(outer.answer(body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def sequences(self) -> list[int]:
        with self.lock:
            return [body["sequence"] for _, _, body in self.got]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hearth(request, tmp_path_factory):
    """One real server per store for the module (each test makes stacks of its own names)."""
    tmp_path = tmp_path_factory.mktemp("sinks")
    db_url = f"sqlite:///{tmp_path}/hearth.db"
    if request.param == "postgresql":
        db_url = request.getfixturevalue("postgres_server_url")
        _reset_postgres(db_url)
    # A small queue limit, so that a zaqar-queue sink's full queue is quick to reach.
    server = start_server(tmp_path, db_url, compute="deployed", user_queue_max_messages=QUEUE_MOST, **FAST)
    yield server
    stop_server(server)


def sink(url: str, **more) -> dict:
    return {"type": "webhook", "url": url, "secret": KEY, **more}


def create(hearth, name: str, sinks: list, template: str = GROUP) -> str:
    body = {"stack_name": name, "template": template, "environment": {"event_sinks": sinks}}
    answer = hearth.http.post(f"{hearth.api}/stacks", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["stack"]["id"]


def sinks_of(hearth, name: str, stack_id: str) -> list[dict]:
    answer = hearth.http.get(f"{hearth.api}/stacks/{name}/{stack_id}/event_sinks", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["event_sinks"]


def tree_events(hearth, name: str, stack_id: str) -> list[dict]:
    url = f"{hearth.api}/stacks/{name}/{stack_id}/events?nested_depth=5&sort_dir=asc"
    return hearth.http.get(url, timeout=30).json()["events"]


# Pure: the wire format --------------------------------------------------------------------
def test_the_signature_holds_for_the_exact_bytes_and_a_recent_timestamp_only():
    data = wire.encode({"sequence": 7, "id": "e"})
    headers = wire.headers(KEY, 1_000_000, data, sequence=7, event_id="e", attempt=1)
    assert headers[wire.SEQUENCE] == "7" and headers[wire.SIGNATURE].startswith("sha256=")
    assert wire.verify(KEY, headers, data, now=1_000_100)
    assert not wire.verify(KEY, headers, data + b" ", now=1_000_100)  # a changed body
    assert not wire.verify("another-key-of-twenty", headers, data, now=1_000_100)
    assert not wire.verify(KEY, headers, data, now=1_000_000 + wire.TOLERANCE + 1)  # a replay, later
    assert not wire.verify(KEY, {**headers, wire.TIMESTAMP: "1000001"}, data, now=1_000_100)


def test_backoff_doubles_up_to_its_cap_scaled_by_the_jitter():
    assert [wire.backoff(n, 1.0, 10.0, 1.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert wire.backoff(3, 1.0, 10.0, 0.5) == 2.0


@pytest.mark.parametrize(
    "sinks, message",
    [
        ("[{type: webhook, url: 'ftp://x', secret: " + KEY + "}]", "env.yaml:3: event_sinks.0.url: must be an http://"),
        ("[{type: webhook, url: 'http://x'}]", "env.yaml:3: event_sinks.0: a webhook sink needs 'secret'"),
        ("[{type: webhook, url: 'http://x', secret: short}]", "event_sinks.0.secret: the HMAC key must be at least 16"),
        (
            "[{type: webhook, url: 'http://x', secret: " + KEY + ", attempts: 0}]",
            "event_sinks.0.attempts: must be an integer from 1 to 50",
        ),
        ("[{type: zaqar-queue, target: q, queue: z}]", "event_sinks.0: unknown key 'queue'"),
        ("[{type: zaqar-queue, target: q, ttl: soon}]", "event_sinks.0.ttl: must be a number of seconds"),
    ],
)
def test_a_bad_sink_names_the_file_line_and_path(sinks, message):
    with pytest.raises(TemplateError) as caught:
        parse_environment(f"parameters: {{}}\nevent_sinks:\n  {sinks}\n", "env.yaml")
    assert message in str(caught.value)


# A real server on both stores ------------------------------------------------------------
def test_every_event_of_the_tree_arrives_once_in_order_and_signed(hearth, receiver):
    stack_id = create(hearth, "tree", [sink(f"{receiver.url}/hook?token=t0ken-in-query")])
    hearth.wait_stack("tree", ("CREATE_COMPLETE",))
    events = tree_events(hearth, "tree", stack_id)
    wait_for(lambda: len(receiver.sequences()) >= len(events), 20, message="every event delivered")
    got = receiver.sequences()
    assert got == sorted(set(got)) and len(got) == len(events)  # each once, in sequence order
    assert [body["id"] for _, _, body in receiver.got] == [e["id"] for e in events]
    nested = {body["payload"]["stack_id"] for _, _, body in receiver.got} - {stack_id}
    assert len(nested) == 1  # the group's nested stack's events came too
    for headers, data, body in receiver.got:
        assert wire.verify(KEY, headers, data, now=time.time())
        assert headers[wire.SEQUENCE] == str(body["sequence"]) and headers[wire.ATTEMPT] == "1"
        assert body["type"] == "os.heat.event" and body["project"] == "admin"
        assert body["operation"] == f"{body['payload']['stack_id']}:1"
        assert body["payload"]["resource_properties"] == {}
    # The cursor is stored once the receiver has answered: wait for it, not for the receiver.
    shown = wait_for(
        lambda: (lambda s: s if s["delivered"] == len(events) else None)(sinks_of(hearth, "tree", stack_id)[0])
    )
    assert shown["state"] == "active"
    assert shown["position"] == got[-1] == shown["latest"]
    assert shown["target"] == f"{receiver.url}/hook"  # no query: it may carry a token
    environment = hearth.http.get(f"{hearth.api}/stacks/tree/{stack_id}/environment", timeout=30).json()
    assert environment["event_sinks"] == [{"type": "webhook", "url": f"{receiver.url}/hook?******", "secret": "******"}]
    store = hearth.service.runtime.store
    with store.engine.connect() as connection:  # sealed at rest: neither the key nor the token
        for table in ("stacks", "event_sinks"):
            dump = json.dumps([list(map(str, row)) for row in connection.execute(text(f"SELECT * FROM {table}"))])
            assert KEY not in dump and "t0ken-in-query" not in dump, table


def test_failures_are_retried_then_dead_lettered_without_blocking_and_replayed(hearth):
    tries: dict[int, int] = {}  # by the event's place in the stack's stream (1: its first)
    order: list[int] = []
    broken = {3}

    def answer(body):
        if body["sequence"] not in order:
            order.append(body["sequence"])
        number = order.index(body["sequence"]) + 1
        tries[number] = tries.get(number, 0) + 1
        if number == 2 and tries[number] <= 2:
            return 503  # twice, then taken
        return 500 if number in broken else 200

    def places():
        return [order.index(n) + 1 for n in receiver.sequences()]

    receiver = Receiver(answer)
    try:
        stack_id = create(hearth, "flaky", [sink(f"{receiver.url}/hook", attempts=3)])
        hearth.wait_stack("flaky", ("CREATE_COMPLETE",))
        total = len(tree_events(hearth, "flaky", stack_id))
        wait_for(lambda: total in places(), 20, message="the last event delivered")
        assert places() == [1, 2, 2, 2, 3, 3, 3, *range(4, total + 1)]  # in order; 3 given up after 3 tries
        assert [h[wire.ATTEMPT] for h, _, b in receiver.got if b["sequence"] == order[1]] == ["1", "2", "3"]
        shown = wait_for(
            lambda: (lambda s: s if s["delivered"] == total - 1 else None)(sinks_of(hearth, "flaky", stack_id)[0])
        )
        assert shown["dead_letter_count"] == 1
        (letter,) = shown["dead_letters"]
        assert (letter["sequence"], letter["attempts"]) == (order[2], 3)
        assert letter["last_error"] == f"{receiver.url}/hook answered HTTP 500"
        assert letter["event"]["sequence"] == order[2] and shown["last_error"] == letter["last_error"]

        broken.clear()  # the receiver is mended; its owner asks for the dead letter again
        url = f"{hearth.api}/stacks/flaky/{stack_id}/event_sinks/0/replay"
        answer_ = hearth.http.post(url, json={}, timeout=30)
        assert answer_.status_code == 202 and answer_.json() == {"replaying": 1}
        wait_for(lambda: places().count(3) == 4, 20, message="the replay")
        wait_for(lambda: sinks_of(hearth, "flaky", stack_id)[0]["dead_letter_count"] == 0, 20)
        assert sinks_of(hearth, "flaky", stack_id)[0]["delivered"] == total
    finally:
        receiver.close()


def test_a_slow_receiver_holds_up_only_its_own_sink(hearth, receiver):
    slow_id = create(hearth, "slow", [sink(f"{receiver.url}/slow")])
    fast_id = create(hearth, "fast", [sink(f"{receiver.url}/fast")])
    hearth.wait_stack("fast", ("CREATE_COMPLETE",))
    fast_events = {e["id"] for e in tree_events(hearth, "fast", fast_id)}
    delivered = lambda: {b["id"] for _, _, b in receiver.got if b["payload"]["stack_id"] != slow_id}  # noqa: E731
    wait_for(lambda: fast_events <= delivered(), 20, message="the fast sink's events while the slow one waits")
    receiver.release.set()
    hearth.wait_stack("slow", ("CREATE_COMPLETE",))
    slow_count = len(tree_events(hearth, "slow", slow_id))
    wait_for(lambda: sinks_of(hearth, "slow", slow_id)[0]["delivered"] == slow_count, 20)


def queued(hearth, queue: str) -> list[dict]:
    """The messages on the admin project's queue, as a person lists them (every page)."""
    headers = {**hearth.http.headers, "X-Project-Id": "admin", "Client-ID": str(uuid.uuid4())}
    found, path = [], f"/v2/queues/{queue}/messages?echo=true&limit=20"
    while True:
        page = requests.get(f"{hearth.url}/messaging{path}", headers=headers, timeout=30).json()
        if not page["messages"]:
            return found
        found += page["messages"]
        path = page["links"][0]["href"]


def test_a_zaqar_queue_sink_posts_every_event_in_order_and_a_full_queue_dead_letters(hearth):
    stack_id = create(hearth, "queued", [{"type": "zaqar-queue", "target": "stack-events", "ttl": 30}], template=ONE)
    hearth.wait_stack("queued", ("CREATE_COMPLETE",))
    events = tree_events(hearth, "queued", stack_id)
    wait_for(lambda: sinks_of(hearth, "queued", stack_id)[0]["delivered"] == len(events), 20)
    messages = queued(hearth, "stack-events")
    assert [m["body"]["id"] for m in messages] == [e["id"] for e in events]
    sequences = [m["body"]["sequence"] for m in messages]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert {m["ttl"] for m in messages} == {60}  # Zaqar's least ttl: Heat's sink would be refused
    assert messages[0]["body"]["payload"]["stack_id"] == stack_id and messages[0]["body"]["type"] == "os.heat.event"
    assert sinks_of(hearth, "queued", stack_id)[0]["state"] == "active"

    # A full queue: each try fails, then the event is a dead letter and the next one goes on.
    for n in range(QUEUE_MOST - 1):
        hearth.service.user_queues.post_event("admin", "nearly-full", {"body": {"n": n}, "ttl": 600})
    full_id = create(hearth, "full", [{"type": "zaqar-queue", "target": "nearly-full"}], template=ONE)
    hearth.wait_stack("full", ("CREATE_COMPLETE",))
    count = len(tree_events(hearth, "full", full_id))
    shown = wait_for(
        lambda: (lambda s: s if s["delivered"] + s["dead_letter_count"] == count else None)(
            sinks_of(hearth, "full", full_id)[0]
        ),
        30,
    )
    assert shown["delivered"] == 1 and shown["dead_letter_count"] == count - 1
    assert "user_queue_max_messages" in shown["dead_letters"][0]["last_error"]
    assert shown["dead_letters"][0]["attempts"] == hearth.config.event_sink_attempts


def test_sink_requests_refused_with_json_a_person_can_act_on(hearth, receiver):
    stack_id = create(hearth, "asked", [sink(f"{receiver.url}/hook")], template=ONE)
    base = f"{hearth.api}/stacks/asked/{stack_id}/event_sinks"
    missing = hearth.http.post(f"{base}/4/replay", json={}, timeout=30)
    assert missing.status_code == 404 and "no event sink 4" in missing.json()["error"]["message"]
    bad = hearth.http.post(f"{base}/0/replay", json={"sequences": "all"}, timeout=30)
    assert bad.status_code == 400 and "'sequences' must be a list" in bad.json()["error"]["message"]
    by_name = hearth.http.get(f"{hearth.api}/stacks/asked/event_sinks", timeout=30)
    assert by_name.status_code == 200 and by_name.json()["event_sinks"][0]["index"] == 0  # redirected
    files = {"sinks.yaml": f"event_sinks:\n  - type: webhook\n    url: gopher://x\n    secret: {KEY}\n"}
    body = {"stack_name": "refused", "template": GROUP, "files": files, "environment_files": ["sinks.yaml"]}
    refused = hearth.http.post(f"{hearth.api}/stacks", json=body, timeout=30)
    assert refused.status_code == 400
    assert "sinks.yaml:3: event_sinks.0.url: must be an http:// or https:// URL" in refused.text
