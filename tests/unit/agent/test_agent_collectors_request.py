"""agent.collectors.request against a real HTTP server on 127.0.0.1: HEAD first, GET only when Last-Modified moved."""

import email.utils
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from agent.collectors import NotConfigured, Unavailable
from agent.collectors.request import RequestCollector

SIGNED_PATH = "/collect?expires=99&signature=s3cr3t-signature"


class MetadataURL:
    """Answers HEAD/GET with ``document`` and (when set) ``last_modified``; records each request."""

    def __init__(self):
        self.document: object = {"deployments": []}
        self.last_modified: float | None = 1_700_000_000.0
        self.status = 200
        self.headers: dict = {}
        self.requests: list[tuple[str, dict]] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                self._answer(with_body=False)

            def do_GET(self):
                self._answer(with_body=True)

            def _answer(self, with_body):
                state.requests.append((self.command, dict(self.headers)))
                body = state.document if isinstance(state.document, bytes) else json.dumps(state.document).encode()
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if state.last_modified is not None:
                    self.send_header("Last-Modified", email.utils.formatdate(state.last_modified, usegmt=True))
                for key, value in state.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{SIGNED_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def methods(self):
        return [method for method, _ in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def url():
    server = MetadataURL()
    yield server
    server.close()


def collector(url, session, **section):
    bootstrap = SimpleNamespace(sections={"request": {"metadata_url": url.url, **section}})
    return RequestCollector(session, bootstrap)


def test_not_configured_without_a_url(session):
    with pytest.raises(NotConfigured):
        RequestCollector(session, SimpleNamespace(sections={"request": {}}))
    with pytest.raises(NotConfigured):
        RequestCollector(session, SimpleNamespace(sections={}))


def test_settings_and_their_defaults(url, session):
    assert (collector(url, session).polling_interval, collector(url, session).timeout) == (30, 10)
    tuned = collector(url, session, polling_interval=2, timeout=3)
    assert (tuned.polling_interval, tuned.timeout) == (2, 3)


def test_first_look_is_a_get_of_the_whole_document_without_credentials(url, session):
    url.document = {"deployments": [{"id": "a"}], "os-collect-config": {"x": 1}}
    answer = collector(url, session).fetch(None, 0)
    assert answer.changed and answer.metadata == url.document
    assert url.methods() == ["GET"]
    assert "Authorization" not in url.requests[0][1]


def test_unchanged_last_modified_costs_one_head(url, session):
    source = collector(url, session)
    first = source.fetch(None, 0)
    again = source.fetch(first.version, 0)
    assert not again.changed and again.version == first.version
    assert url.methods() == ["GET", "HEAD"]
    url.last_modified += 60
    url.document = {"deployments": [{"id": "b"}]}
    newer = source.fetch(first.version, 0)
    assert newer.changed and newer.metadata == url.document and newer.version != first.version
    assert url.methods() == ["GET", "HEAD", "HEAD", "GET"]


def test_older_last_modified_counts_as_unchanged_and_is_warned_once(url, session, caplog):
    source = collector(url, session)
    first = source.fetch(None, 0)
    url.last_modified -= 3600
    assert not source.fetch(first.version, 0).changed
    assert not source.fetch(first.version, 0).changed
    assert caplog.text.count("went back in time") == 1


def test_without_last_modified_every_look_is_head_and_get(url, session):
    url.last_modified = None
    source = collector(url, session)
    first = source.fetch(None, 0)
    second = source.fetch(first.version, 0)
    assert url.methods() == ["GET", "HEAD", "GET"]
    assert second.metadata == first.metadata and second.version == first.version


def test_a_head_the_server_refuses_falls_back_to_get(url, session):
    source = collector(url, session)
    first = source.fetch(None, 0)
    url.status = 405  # HEAD and GET alike here, so the GET fails: the answer is Unavailable
    with pytest.raises(Unavailable):
        source.fetch(first.version, 0)
    assert url.methods() == ["GET", "HEAD", "GET"]


@pytest.mark.parametrize("document, message", [(b"<html>", "not JSON"), ([1, 2], "not a JSON object")])
def test_answers_that_are_not_a_json_object_are_unavailable(url, session, document, message):
    url.document = document
    with pytest.raises(Unavailable, match=message) as caught:
        collector(url, session).fetch(None, 0)
    assert caught.value.kind == "server"


@pytest.mark.parametrize(
    "status, kind, retry_after", [(503, "server", None), (403, "auth", None), (429, "rate-limited", 3.0)]
)
def test_refusals(url, session, status, kind, retry_after):
    url.status, url.headers = status, {"Retry-After": "3"}
    with pytest.raises(Unavailable) as caught:
        collector(url, session).fetch(None, 0)
    assert (caught.value.kind, caught.value.retry_after) == (kind, retry_after)
    assert "s3cr3t" not in str(caught.value)


def test_unreachable_url_does_not_leak_the_signature(session):
    bootstrap = SimpleNamespace(
        sections={"request": {"metadata_url": f"http://127.0.0.1:9{SIGNED_PATH}", "timeout": 2}}
    )
    with pytest.raises(Unavailable) as caught:
        RequestCollector(session, bootstrap).fetch(None, 0)
    assert caught.value.kind == "network" and "s3cr3t" not in str(caught.value)


def test_wait_for_change_is_the_polling_interval(url, session):
    source = collector(url, session, polling_interval=0.2)
    stop = threading.Event()
    waiter = threading.Thread(target=source.wait_for_change, args=(stop, 0))
    waiter.start()
    waiter.join(5)
    assert not waiter.is_alive()
    stop.set()
    slow = collector(url, session, polling_interval=600)
    waiter = threading.Thread(target=slow.wait_for_change, args=(stop, 0))
    waiter.start()
    waiter.join(5)  # a set stop event ends the wait at once
    assert not waiter.is_alive()
