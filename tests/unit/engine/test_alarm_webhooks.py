"""The alarm actions (engine/alarms/webhooks.py) against real HTTP servers on 127.0.0.1: Aodh's
body as JSON, retries of a 5xx with backoff, a timeout, a slow URL that does not hold up the
others, URLs that are not http(s) skipped, and logs that never show a URL's query."""

from __future__ import annotations

import json
import logging
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.alarms.webhooks import Webhooks, body, shown


class Receiver:
    """Answers each POST with the next status of `statuses` (200 once they run out), after
    waiting for `release` when the path says /slow; records (path, content type, body) as each
    arrives in `got`, and each path answered in `answered`."""

    def __init__(self, statuses=()):
        self.got: queue.Queue = queue.Queue()
        self.answered: queue.Queue = queue.Queue()
        self.statuses = list(statuses)
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.got.put((self.path, self.headers.get("Content-Type"), json.loads(data)))
                if self.path.startswith("/slow"):
                    outer.release.wait(10)
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.answered.put(self.path)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next(self, timeout=10):
        return self.got.get(timeout=timeout)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = body("a1", "web-high", "low", "ok", "alarm", "why", {"type": "threshold"})


@pytest.fixture
def hooks():
    found = Webhooks(timeout=2, retries=2, backoff=0.01)
    yield found
    found.stop()


def test_aodh_body_is_posted_as_json(hooks):
    receiver = Receiver()
    try:
        assert hooks.send([f"{receiver.url}/hook?signature=abc"], PAYLOAD) == 1
        path, content_type, got = receiver.next()
        assert (path, content_type, got) == ("/hook?signature=abc", "application/json", PAYLOAD)
    finally:
        receiver.close()


def test_a_5xx_is_retried_and_logs_never_show_the_query(hooks, caplog):
    caplog.set_level(logging.INFO, logger="engine.alarms")
    receiver = Receiver(statuses=[503, 500])
    try:
        hooks.send([f"{receiver.url}/hook?signature=s3cr3t"], PAYLOAD)
        assert [receiver.next()[0] for _ in range(3)] == ["/hook?signature=s3cr3t"] * 3
        # The third answer (200) is logged once the call is over.
        hooks.stop()
    finally:
        receiver.close()
    assert "s3cr3t" not in caplog.text
    assert caplog.text.count("failed (HTTP 5") == 2 and f"{receiver.url}/hook answered 200" in caplog.text


def test_a_slow_url_does_not_hold_up_the_others(hooks):
    receiver = Receiver()
    try:
        hooks.send([f"{receiver.url}/slow", f"{receiver.url}/fast"], PAYLOAD)
        assert receiver.answered.get(timeout=10) == "/fast"  # while /slow still waits
        receiver.release.set()
        assert receiver.answered.get(timeout=10) == "/slow"
    finally:
        receiver.close()


def test_a_url_that_does_not_answer_in_time_fails_after_its_retries(caplog):
    caplog.set_level(logging.WARNING, logger="engine.alarms")
    receiver = Receiver()
    hooks = Webhooks(timeout=0.2, retries=1, backoff=0.01)
    try:
        hooks.send([f"{receiver.url}/slow?signature=x"], PAYLOAD)
        # Both attempts arrive; each answer is held past the timeout.
        assert [receiver.next()[0] for _ in range(2)] == ["/slow?signature=x"] * 2
        hooks.stop()  # waits for the second attempt to time out
    finally:
        receiver.release.set()
        receiver.close()
    assert "ReadTimeout" in caplog.text and "attempt 2 of 2" in caplog.text


def test_urls_that_are_not_http_are_skipped(hooks, caplog):
    caplog.set_level(logging.WARNING, logger="engine.alarms")
    assert hooks.send(["trust+zaqar://?queue_name=q", ""], PAYLOAD) == 0
    assert "not an http(s) URL" in caplog.text


def test_shown_keeps_scheme_host_and_path():
    assert shown("https://user:pw@example.com:8443/v1/signal/x?signature=abc&expires=1") == (
        "https://example.com:8443/v1/signal/x"
    )
