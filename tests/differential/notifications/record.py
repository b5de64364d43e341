"""Record the oslo.messaging notifications real Heat publishes (tests/differential/notifications).

    python -m tests.differential.notifications.record [--amqp rabbit://guest:guest@127.0.0.1:5672/]

Starts the pinned reference Heat (tests/heat_reference/reference.py, with its stand-in Keystone
so that scaling policies can be signalled) with `[oslo_messaging_notifications] driver =
messagingv2` and a RabbitMQ transport, binds a queue of its own to exchange `heat` with routing
keys `notifications.info` and `notifications.error`, runs each scenario of SCENARIOS through
Heat's API and writes what arrived, in order, to <scenario>.json beside this file, normalised
by `normalise` (ids and times only). Takes a few minutes (Heat's legacy engine is slow).
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import kombu
import requests

from tests.heat_reference import reference

HERE = Path(__file__).resolve().parent
AMQP = "rabbit://guest:guest@127.0.0.1:5672/"

TEMPLATE = """heat_template_version: 2018-08-31
description: notifications recording
parameters:
  value: {type: string, default: one}
resources:
  thing:
    type: OS::Heat::TestResource
    properties: {value: {get_param: value}}
"""

FAILING = """heat_template_version: 2018-08-31
description: a create that fails
resources:
  broken:
    type: OS::Heat::TestResource
    properties: {fail: true}
"""

SCALING = """heat_template_version: 2018-08-31
description: a group scaled by a policy
parameters:
  fail: {type: boolean, default: false}
  min: {type: number, default: 1}
resources:
  group:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: {get_param: min}
      max_size: 3
      resource:
        type: OS::Heat::TestResource
        properties: {fail: {get_param: fail}}
  up:
    type: OS::Heat::ScalingPolicy
    properties:
      auto_scaling_group_id: {get_resource: group}
      adjustment_type: change_in_capacity
      scaling_adjustment: 1
      cooldown: 0
"""


class Consumer(threading.Thread):
    """Every message published to exchange `heat` with the two notification keys, in order."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        # The exchange as oslo.messaging declares it (topic, not durable, not auto-deleted): a
        # declaration that differs is refused by RabbitMQ.
        exchange = kombu.Exchange("heat", type="topic", durable=False)
        bindings = [kombu.binding(exchange, routing_key=k) for k in ("notifications.info", "notifications.error")]
        # kombu names the scheme amqp; oslo.messaging, rabbit.
        with kombu.Connection(self.url.replace("rabbit://", "amqp://", 1)) as connection:
            own = kombu.Queue("hearth-recorder", bindings=bindings, exclusive=True, auto_delete=True)
            with connection.Consumer(own, callbacks=[self._take], accept=["json"]):
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        connection.drain_events(timeout=0.5)
                    except TimeoutError:
                        continue

    def _take(self, body: Any, message: kombu.Message) -> None:
        properties = {k: v for k, v in message.properties.items() if k != "delivery_info"}
        self.messages.put(
            {
                "exchange": message.delivery_info.get("exchange"),
                "routing_key": message.delivery_info.get("routing_key"),
                "content_type": message.content_type,
                "content_encoding": message.content_encoding,
                "properties": properties,
                "headers": message.headers,
                "body": body,
            }
        )
        message.ack()

    def until(self, event_type: str, stack_name: str, timeout: float = 180) -> list[dict[str, Any]]:
        """The messages received until `event_type` has arrived for the stack `stack_name`."""
        wanted, got = [(event_type, stack_name)], []
        deadline = time.monotonic() + timeout
        while wanted:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"still waiting for {wanted}; got {[_key(m) for m in got]}")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            got.append(message)
            if _key(message) in wanted:
                wanted.remove(_key(message))
        return got


def _key(message: dict[str, Any]) -> tuple[str, str]:
    notification = json.loads(message["body"]["oslo.message"])
    return notification["event_type"], notification["payload"]["stack_name"]


class Heat:
    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.http.headers["X-Auth-Token"] = "x"

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        response = self.http.request(method, self.base + path, json=body, timeout=120)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
        return response

    def create(self, name: str, template: str, **extra: Any) -> str:
        body = {"stack_name": name, "template": template, "timeout_mins": 5, **extra}
        return self.call("POST", "/stacks", body).json()["stack"]["id"]

    def wait(self, name: str, stack_id: str, states: tuple[str, ...]) -> dict[str, Any]:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            stack = self.call("GET", f"/stacks/{name}/{stack_id}").json()["stack"]
            if stack["stack_status"] in states:
                return stack
            time.sleep(0.5)  # Heat offers nothing to wait on: its API is polled, as heatclient does
        raise SystemExit(f"{name} never reached {states}")

    def action(self, name: str, stack_id: str, verb: str) -> None:
        self.call("POST", f"/stacks/{name}/{stack_id}/actions", {verb: None})


def scenarios(heat: Heat, consumer: Consumer) -> dict[str, list[dict[str, Any]]]:
    recorded: dict[str, list[dict[str, Any]]] = {}
    sid = heat.create("notify-lifecycle", TEMPLATE, tags="a,b")
    recorded["stack-create"] = consumer.until("orchestration.stack.create.end", "notify-lifecycle")
    heat.wait("notify-lifecycle", sid, ("CREATE_COMPLETE",))
    heat.call("PATCH", f"/stacks/notify-lifecycle/{sid}", {"parameters": {"value": "two"}})
    recorded["stack-update"] = consumer.until("orchestration.stack.update.end", "notify-lifecycle")
    heat.wait("notify-lifecycle", sid, ("UPDATE_COMPLETE",))
    for verb in ("suspend", "resume", "check"):
        heat.action("notify-lifecycle", sid, verb)
        recorded[f"stack-{verb}"] = consumer.until(f"orchestration.stack.{verb}.end", "notify-lifecycle")
        heat.wait("notify-lifecycle", sid, (f"{verb.upper()}_COMPLETE",))
    heat.call("DELETE", f"/stacks/notify-lifecycle/{sid}")
    recorded["stack-delete"] = consumer.until("orchestration.stack.delete.end", "notify-lifecycle")

    heat.create("notify-failing", FAILING, disable_rollback=True)
    recorded["stack-create-failed"] = consumer.until("orchestration.stack.create.error", "notify-failing")
    heat.create("notify-rollback", FAILING, disable_rollback=False)
    recorded["stack-rollback"] = consumer.until("orchestration.stack.rollback.end", "notify-rollback")

    sid = heat.create("notify-scaling", SCALING)
    consumer.until("orchestration.stack.create.end", "notify-scaling")
    heat.wait("notify-scaling", sid, ("CREATE_COMPLETE",))
    heat.call("POST", f"/stacks/notify-scaling/{sid}/resources/up/signal")
    recorded["autoscaling"] = consumer.until("orchestration.autoscaling.end", "notify-scaling")

    sid = heat.create("notify-scaling-fails", SCALING, parameters={"fail": True, "min": 0})
    consumer.until("orchestration.stack.create.end", "notify-scaling-fails")
    heat.wait("notify-scaling-fails", sid, ("CREATE_COMPLETE",))
    heat.call("POST", f"/stacks/notify-scaling-fails/{sid}/resources/up/signal")
    recorded["autoscaling-failed"] = consumer.until("orchestration.autoscaling.error", "notify-scaling-fails")
    return recorded


UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
EMBEDDED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}")
TIMES = [
    (re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"), "<time %Y-%m-%dT%H:%M:%SZ>"),
    (re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$"), "<time %Y-%m-%d %H:%M:%S.%f>"),
    (re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$"), "<time %Y-%m-%dT%H:%M:%S.%f>"),
    (re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$"), "<time %Y-%m-%dT%H:%M:%S.%f+00:00>"),
]


def normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and times only: each distinct uuid (or 32-hex id) becomes <id-N> in order of first
    appearance within the scenario (so equal ids stay equal), each time (a whole value, or one
    inside a text such as "Stack DELETE started at ...") its format; the
    envelope's `oslo.message`, a JSON string on the wire, is shown parsed."""
    names: dict[str, str] = {}

    def ident(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<id-{len(names) + 1}>")

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for pattern, shape in TIMES:
                if pattern.match(value):
                    return shape
            value = EMBEDDED_TIME.sub("<time %Y-%m-%dT%H:%M:%S.%f>", value)  # "Stack DELETE started at ..."
            return HEX32.sub(ident, UUID.sub(ident, value))
        return value

    out = []
    for message in messages:
        body = dict(message["body"])
        body["oslo.message"] = json.loads(body["oslo.message"])
        out.append(walk({**message, "body": body}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp", default=AMQP)
    args = parser.parse_args(argv)
    consumer = Consumer(args.amqp)
    consumer.start()
    if not consumer.ready.wait(30):
        raise SystemExit(f"could not bind a queue on {args.amqp.split('@')[-1]}")
    extra = f"[oslo_messaging_notifications]\ndriver = messagingv2\ntransport_url = {args.amqp}\n"
    with reference.running_reference(identity=True, extra_config=extra) as base:
        recorded = scenarios(Heat(base), consumer)
    consumer.stop.set()
    for name, messages in recorded.items():
        document = {"scenario": name, "recorded_from": reference.HEAT_SPEC[0], "messages": normalise(messages)}
        (HERE / f"{name}.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        print(f"recorded {name}: {[_key(m)[0] for m in messages]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
