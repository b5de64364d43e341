"""A webhook sink gets every event of a stack's create exactly once (after dedupe by sequence)
across a kill -9 of the real `hearth server` mid-stream: a receiver on 127.0.0.1 holds one
delivery unanswered while the server is killed, the server starts again on the same database,
and the stream resumes from the sink's stored cursor, nothing lost, no gap in the sequence."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from engine.sinks import wire
from tests.support import AUTH, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

KEY = "e2e-sink-key-0123456789"
TEMPLATE = """heat_template_version: 2018-08-31
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 4
      resource_def:
        type: OS::Heat::TestResource
        properties: {value: v, action_wait_secs: {create: 1}}
  after: {type: OS::Heat::None, depends_on: group}
"""
HELD = 4  # the receiver holds the first delivery of this many-th event of the stream


class Receiver:
    """Records each delivery (headers, bytes, body); holds the first delivery of the HELD-th
    sequence until `release` (its server is killed meanwhile)."""

    def __init__(self):
        self.got: list[tuple[dict, bytes, dict]] = []
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(data)
                with outer.lock:
                    outer.got.append((dict(self.headers), data, body))
                    first_of_held = body["sequence"] == HELD and not outer.holding.is_set()
                if first_of_held:
                    outer.holding.set()
                    outer.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/events"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def by_sequence(self) -> dict[int, dict]:
        """Dedupe by sequence, as a receiver must: a repeat carries the very same event."""
        seen: dict[int, dict] = {}
        with self.lock:
            for _, _, body in self.got:
                assert seen.setdefault(body["sequence"], body) == body
        return seen

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_every_event_arrives_once_after_dedupe_across_a_kill_9_mid_stream(tmp_path):
    receiver = Receiver()
    server = ServerProcess(tmp_path, env={"HEARTH_EVENT_SINK_SWEEP_SECONDS": "0.5", "HEARTH_COMPUTE": "deployed"})
    try:
        server.start()
        sinks = [{"type": "webhook", "url": receiver.url, "secret": KEY}]
        body = {"stack_name": "streamed", "template": TEMPLATE, "environment": {"event_sinks": sinks}}
        answer = requests.post(f"{server.url}/v1/admin/stacks", json=body, headers=AUTH, timeout=30)
        assert answer.status_code == 201, answer.text
        stack_id = answer.json()["stack"]["id"]

        assert receiver.holding.wait(30), "the held delivery never came"
        assert server.stack(stack_id)["stack_status"] == "CREATE_IN_PROGRESS"  # its members still wait
        os.kill(server.process.pid, signal.SIGKILL)  # mid-stream, mid-create, a delivery unanswered
        server.process.wait()
        receiver.release.set()  # answers a dead connection: that delivery never counted
        server.start()

        stack = wait_for(
            lambda: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(server.stack(stack_id)),
            60,
            0.1,
            "the create to finish after the restart",
        )
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        url = f"{server.url}/v1/admin/stacks/streamed/{stack_id}/events?nested_depth=5&sort_dir=asc"
        events = requests.get(url, headers=AUTH, timeout=30).json()["events"]
        wait_for(lambda: len(receiver.by_sequence()) >= len(events), 30, 0.05, "every event after the restart")
        seen = receiver.by_sequence()
        assert sorted(seen) == list(range(1, len(events) + 1))  # the project's whole stream: no gap
        assert [seen[n]["id"] for n in sorted(seen)] == [e["id"] for e in events]  # each event, once
        assert [b["sequence"] for _, _, b in receiver.got].count(HELD) == 2  # sent again after the restart
        for headers, data, _ in receiver.got:
            assert wire.verify(KEY, headers, data, now=time.time())
        server.stop()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        receiver.close()
