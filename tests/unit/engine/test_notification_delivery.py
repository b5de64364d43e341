"""Heat's notifications on a real RabbitMQ, from the engine on both stores: received by
oslo.messaging's own notification listener and by a kombu consumer, compared with what real
Heat published (tests/differential/notifications/); errors on notifications.error; a resize's
autoscaling and member events; and a bus outage (a real TCP proxy cut and restored) that loses
nothing and keeps the order."""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import uuid
import warnings

import kombu
import pytest

from engine.config import Config
from engine.service import build_service
from engine.store import event_log
from tests.support import ROOT, free_port, settle, wait_for
from tests.unit.engine.test_scaling_signals import group_template, settled_size, signal

BROKER = os.environ.get("HEARTH_TEST_AMQP_URL", "rabbit://guest:guest@127.0.0.1:5672/")
RECORDED = ROOT / "tests" / "differential" / "notifications"
TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "description": "notifications recording",
    "parameters": {"value": {"type": "string", "default": "one"}},
    "resources": {"thing": {"type": "OS::Heat::TestResource", "properties": {"value": {"get_param": "value"}}}},
}
FAILING = {
    "heat_template_version": "2018-08-31",
    "description": "a create that fails",
    "resources": {"broken": {"type": "OS::Heat::TestResource", "properties": {"fail": True}}},
}


@pytest.fixture(scope="module")
def broker() -> str:
    """RabbitMQ's URL; required when CI is set (.ci/run starts it)."""
    try:
        with kombu.Connection(BROKER.replace("rabbit://", "amqp://", 1), connect_timeout=3) as connection:
            connection.connect()
    except Exception as error:  # noqa: BLE001 - any failure to reach it decides fail/skip
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ is required in CI but unreachable: {error}")
        pytest.skip(f"RabbitMQ unreachable: {error}")
    return BROKER


@pytest.fixture
def topic(broker):
    """A topic of this test's own (tests run in parallel on one broker); its queues deleted after."""
    name = "hearth_test_" + uuid.uuid4().hex[:10]
    yield name
    with kombu.Connection(broker.replace("rabbit://", "amqp://", 1)) as connection:
        channel = connection.channel()
        for level in ("info", "error"):
            channel.queue_delete(f"{name}.{level}")


class Consumer:
    """A kombu consumer with a queue of its own bound to exchange `heat` for the topic's keys."""

    def __init__(self, url: str, topic: str):
        self.got: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        exchange = kombu.Exchange("heat", type="topic", durable=False)
        keys = (f"{topic}.info", f"{topic}.error")
        self._queue = kombu.Queue(
            bindings=[kombu.binding(exchange, routing_key=k) for k in keys], exclusive=True, auto_delete=True
        )
        self._url = url.replace("rabbit://", "amqp://", 1)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the kombu consumer could not bind its queue"

    def _run(self) -> None:
        with kombu.Connection(self._url) as connection, connection.Consumer(self._queue, callbacks=[self._take]):
            self._ready.set()
            while not self._stop.is_set():
                try:
                    connection.drain_events(timeout=0.2)
                except TimeoutError:
                    continue

    def _take(self, body, message) -> None:
        self.got.put((message.delivery_info["routing_key"], body, message.properties))
        message.ack()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Collected:
    """What a consumer received, kept in order: (routing key or priority, oslo message)."""

    def __init__(self):
        self.items: list[tuple[str, dict]] = []

    def of_stack(self, stack_id: str) -> list[dict]:
        return [m for _, m in self.items if m["payload"].get("stack_identity") == stack_id]

    def types(self, stack_id: str) -> list[str]:
        return [m["event_type"] for m in self.of_stack(stack_id)]


def drain(consumer: Consumer, into: Collected) -> Collected:
    while True:
        try:
            key, body, _properties = consumer.got.get_nowait()
        except queue.Empty:
            return into
        into.items.append((key, json.loads(body["oslo.message"])))


def engine(db_url, tmp_path, url: str, topic: str):
    config = Config.from_env(
        {},
        db_url=db_url,
        data_dir=str(tmp_path / "data"),
        compute="deployed",
        notification_transport_url=url,
        notification_topics=topic,
        notification_sweep_seconds=1.0,
    )
    service = build_service(config)
    service.start()
    return service


@pytest.fixture
def notifying(db_url, tmp_path, broker, topic):
    service = engine(db_url, tmp_path, broker, topic)
    yield service
    service.stop()
    service.runtime.store.dispose()


def oslo():
    """oslo.messaging and oslo.config. Importing them imports eventlet and dnspython, which
    warn (deprecations of their own, and of DSA in cryptography) and the suite makes warnings
    errors: those, at import only, are not this test's business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import oslo_messaging
        from oslo_config import cfg
    return oslo_messaging, cfg


def recorded(scenario: str) -> list[dict]:
    return [m["body"]["oslo.message"] for m in json.loads((RECORDED / f"{scenario}.json").read_text())["messages"]]


def normalised(payload: dict, stack_id: str) -> dict:
    shown = dict(payload, stack_identity="<id-2>")
    for key in ("create_at", "updated_at"):
        if shown[key] is not None:
            shown[key] = "<time %Y-%m-%dT%H:%M:%SZ>"
    return shown


def test_a_create_reaches_oslo_listener_and_kombu_as_heat_sends_it(notifying, broker, topic):
    oslo_messaging, cfg = oslo()

    heard: queue.Queue = queue.Queue()

    class Endpoint:  # oslo.messaging calls a notification endpoint's method named after the priority
        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            heard.put(("INFO", event_type, payload, metadata, ctxt))

        def error(self, ctxt, publisher_id, event_type, payload, metadata):
            heard.put(("ERROR", event_type, payload, metadata, ctxt))

    transport = oslo_messaging.get_notification_transport(cfg.ConfigOpts(), url=broker)
    target = oslo_messaging.Target(topic=topic, exchange="heat")
    listener = oslo_messaging.get_notification_listener(transport, [target], [Endpoint()], executor="threading")
    listener.start()
    consumer = Consumer(broker, topic)
    try:
        stack_id = notifying.stacks.create_stack(
            "admin",
            {"stack_name": "notify-lifecycle", "template": TEMPLATE, "tags": "a,b"},
            username="admin",
        )["id"]
        settle(notifying, stack_id)
        failed_id = notifying.stacks.create_stack(
            "admin", {"stack_name": "notify-failing", "template": FAILING, "disable_rollback": True}, username="admin"
        )["id"]
        settle(notifying, failed_id)

        by_oslo: list = []

        def oslo_heard():
            while not heard.empty():
                by_oslo.append(heard.get_nowait())
            return len([h for h in by_oslo if h[2]["stack_identity"] in (stack_id, failed_id)]) >= 4

        wait_for(oslo_heard, 20, message="oslo.messaging's listener to hear both stacks' notifications")
        collected = Collected()
        wait_for(lambda: len(drain(consumer, collected).of_stack(failed_id)) >= 2, 20, message="kombu's copies")
    finally:
        consumer.stop()
        listener.stop()
        listener.wait()
        transport.cleanup()

    # oslo.messaging's listener: Heat's event types, priorities and payloads (ids and times aside).
    mine = [h for h in by_oslo if h[2]["stack_identity"] == stack_id]
    heat = recorded("stack-create")
    assert [(h[0], h[1]) for h in mine] == [(m["priority"], m["event_type"]) for m in heat]
    assert [normalised(h[2], stack_id) for h in mine] == [m["payload"] for m in heat]
    assert all(h[4]["project_id"] == "admin" and h[3]["message_id"] for h in mine)
    # kombu: the same messages, Heat's envelope, the failure on notifications.error.
    assert [m["event_type"] for m in collected.of_stack(stack_id)] == [m["event_type"] for m in heat]
    assert {m["message_id"] for m in collected.of_stack(stack_id)} == {h[3]["message_id"] for h in mine}
    failing = [
        (k, m["event_type"], m["priority"]) for k, m in collected.items if m["payload"]["stack_identity"] == failed_id
    ]
    assert failing == [
        (f"{topic}.info", "orchestration.stack.create.start", "INFO"),
        (f"{topic}.error", "orchestration.stack.create.error", "ERROR"),
    ]
    heat_error = recorded("stack-create-failed")[-1]["payload"]
    error = collected.of_stack(failed_id)[-1]["payload"]
    assert set(error) == set(heat_error) and error["state"] == "CREATE_FAILED"


def test_a_policy_resize_gives_autoscaling_and_member_events(notifying, broker, topic):
    consumer = Consumer(broker, topic)
    try:
        stack_id = notifying.stacks.create_stack(
            "admin", {"stack_name": "notify-scaling", "template": group_template()}, username="admin"
        )["id"]
        settle(notifying, stack_id)
        signal(notifying, stack_id)
        settled_size(notifying, stack_id, 2)
        collected = Collected()
        wait_for(
            lambda: "orchestration.autoscaling.end" in drain(consumer, collected).types(stack_id),
            20,
            message="the resize's notifications",
        )
    finally:
        consumer.stop()
    scaling = [m for m in collected.of_stack(stack_id) if m["event_type"].startswith("orchestration.autoscaling")]
    assert [m["event_type"] for m in scaling] == [
        "orchestration.autoscaling.start",
        "orchestration.autoscaling.member.launch",
        "orchestration.autoscaling.end",
    ]
    start, launch, end = (m["payload"] for m in scaling)
    heat_start, heat_end = (m["payload"] for m in recorded("autoscaling") if "groupname" in m["payload"])
    assert set(start) == set(heat_start) and set(end) == set(heat_end)
    assert (start["capacity"], end["capacity"], start["adjustment"], start["adjustment_type"]) == (
        1,
        2,
        1,
        "change_in_capacity",
    )
    assert start["message"] == f"Start resizing the group {start['groupname']}"
    assert end["message"] == f"End resizing the group {start['groupname']}"
    assert (start["user_id"], start["state"]) == (None, "CREATE_COMPLETE")
    assert launch["member"] and launch["member_id"] and launch["groupname"] == start["groupname"]
    # The group's nested stack's own update is notified too, as in Heat.
    nested = [m for _, m in collected.items if m["payload"]["stack_identity"] == start["groupname"]]
    assert [m["event_type"] for m in nested][-2:] == [
        "orchestration.stack.update.start",
        "orchestration.stack.update.end",
    ]


class Proxy:
    """A TCP proxy on loopback in front of RabbitMQ that a test can cut (listener and every
    connection closed) and restore (listening again on the same port)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it (Linux)
        except OSError:
            pass
        self._listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_a_bus_outage_loses_nothing_and_keeps_the_order(db_url, tmp_path, broker, topic):
    proxy = Proxy(("127.0.0.1", 5672))
    consumer = Consumer(broker, topic)  # straight to RabbitMQ: only the publisher's path is cut
    service = engine(db_url, tmp_path, f"rabbit://guest:guest@127.0.0.1:{proxy.port}/", topic)
    try:
        first = service.stacks.create_stack("admin", {"stack_name": "before", "template": TEMPLATE})["id"]
        settle(service, first)
        collected = Collected()
        wait_for(lambda: len(drain(consumer, collected).of_stack(first)) == 2, 20, message="the first stack's")

        proxy.cut()
        during = service.stacks.create_stack("admin", {"stack_name": "during", "template": TEMPLATE})["id"]
        settle(service, during)
        service.operations.update_stack("admin", during, {"parameters": {"value": "two"}}, patch=True)
        settle(service, during)
        with service.runtime.store.session() as session:
            assert event_log.behind(session, "notifications"), "the outage left the events undelivered"
        assert not drain(consumer, collected).of_stack(during)

        proxy.restore()
        expected = [
            "orchestration.stack.create.start",
            "orchestration.stack.create.end",
            "orchestration.stack.update.start",
            "orchestration.stack.update.end",
        ]
        wait_for(lambda: len(drain(consumer, collected).of_stack(during)) >= 4, 30, message="delivery after the outage")
    finally:
        consumer.stop()
        service.stop()
        service.runtime.store.dispose()
        proxy.cut()
    seen: dict[str, dict] = {}
    for message in collected.of_stack(during):  # at least once: a repeat has the same message_id
        seen.setdefault(message["message_id"], message)
    delivered = list(seen.values())
    assert [m["event_type"] for m in delivered] == expected
    numbers = [m["hearth_sequence"] for m in delivered]
    assert numbers == sorted(numbers) and numbers[0] > max(m["hearth_sequence"] for m in collected.of_stack(first))
