"""Three collectors feeding one real agent process: hearth (long-poll), request (HEAD/GET) and local (watched files).

The guest API and the request URL are stand-ins on 127.0.0.1 (the unit tests' GuestStandIn and
a stdlib HTTP server): Hearth's server has no os-collect-config URL to point ``request`` at yet.
Everything else is real: the agent process, watchdog on a real directory, the script hook.
"""

from __future__ import annotations

import email.utils
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from tests.support import ROOT, wait_for
from tests.unit.agent.conftest import GuestStandIn

pytestmark = pytest.mark.e2e

SCRIPT = '#!/bin/sh\necho "$label" >> "$order_file"\n'


def entry(entry_id, name, order_file, label, transport="NO_SIGNAL", note=""):
    return {
        "id": entry_id,
        "name": name,
        "group": "script",
        "options": {},
        "outputs": [],
        "config": SCRIPT + note,
        "creation_time": "2026-01-02T03:04:05Z",
        "inputs": [
            {"name": "label", "type": "String", "value": label},
            {"name": "order_file", "type": "String", "value": str(order_file)},
            {"name": "deploy_action", "type": "String", "value": "CREATE"},
            {"name": "deploy_signal_transport", "type": "String", "value": transport},
        ],
    }


class RequestURL:
    """HEAD/GET of one JSON document with Last-Modified, as os-collect-config expects."""

    def __init__(self, document):
        self.document, self.stamp, self.methods = document, 1_700_000_000, []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                self.answer(False)

            def do_GET(self):
                self.answer(True)

            def answer(self, body):
                state.methods.append(self.command)
                data = json.dumps(state.document).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Last-Modified", email.utils.formatdate(state.stamp, usegmt=True))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/collect?signature=abc"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def guest():
    standin = GuestStandIn()
    server = make_server("127.0.0.1", 0, standin.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    standin.base_url = f"http://127.0.0.1:{server.server_port}"
    yield standin
    standin.close()
    server.shutdown()
    server.server_close()


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_three_sources_merged_and_a_source_down_keeps_its_last_good_data(tmp_path, guest):
    order, state, local = tmp_path / "order.txt", tmp_path / "state", tmp_path / "local"
    local.mkdir()
    # hearth and request both carry id-shared; request comes later in `collectors`, so its
    # version (a different config, so a different done key) is the one that runs.
    guest.set_metadata(
        {
            "role": "hearth",
            "deployments": [
                entry("id-h", "10_hearth", order, "hearth", transport="HEARTH"),
                entry("id-shared", "40_shared", order, "shared-from-hearth", note="# hearth\n"),
            ],
        }
    )
    request = RequestURL(
        {
            "role": "request",
            "deployments": [
                entry("id-r", "20_request", order, "request"),
                entry("id-shared", "40_shared", order, "shared-from-request"),
            ],
        }
    )
    (local / "a.json").write_text(json.dumps({"deployments": [entry("id-l", "30_local", order, "local")]}))
    (local / "b.json").write_text("{ not json")
    boot = tmp_path / "bootstrap.json"
    boot.write_text(
        json.dumps(
            {
                "server_id": guest.server_id,
                "base_url": guest.base_url,
                "credential": guest.credential,
                "collectors": ["hearth", "request", "local"],
                "request": {"metadata_url": request.url, "polling_interval": 0.5},
                "local": {"path": [str(local)]},
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log_path = tmp_path / "agent.log"
    with open(log_path, "wb") as log:
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.main",
                "--bootstrap",
                str(boot),
                "--state-dir",
                str(state),
                "--poll-wait",
                "30",
                "--hooks-path",
                str(ROOT / "hooks"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: len(lines(order)) == 4, message="four deployments")
            assert lines(order) == ["hearth", "request", "local", "shared-from-request"]
            wait_for(lambda: guest.signals, message="hearth's signal")
            assert [s["entry_id"] for s in guest.signals] == ["id-h"]
            assert {p.name for p in (state / "cache").glob("*.json")} == {"hearth.json", "request.json", "local.json"}
            wait_for(lambda: request.methods.count("HEAD") >= 2, message="HEAD polls")
            assert request.methods.count("GET") == 1  # Last-Modified unchanged: no GET

            # The request URL goes away; its last good document stays in the merge. Were it
            # dropped, hearth's id-shared (another config) would run on the next change.
            request.close()
            wait_for(lambda: "request: source unavailable" in log_path.read_text(), message="request down")
            guest.set_metadata(
                {
                    "role": "hearth",
                    "deployments": [
                        entry("id-h", "10_hearth", order, "hearth", transport="HEARTH"),
                        entry("id-h2", "15_hearth", order, "hearth-2"),
                        entry("id-shared", "40_shared", order, "shared-from-hearth", note="# hearth\n"),
                    ],
                }
            )
            wait_for(lambda: "hearth-2" in lines(order), message="hearth's change")
            (local / "c.json").write_text(json.dumps({"deployments": [entry("id-l2", "50_local", order, "local-2")]}))
            wait_for(lambda: "local-2" in lines(order), message="local change within seconds")
            assert lines(order) == ["hearth", "request", "local", "shared-from-request", "hearth-2", "local-2"]
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(10)
    assert code == 0
    text = log_path.read_text()
    assert text.count("b.json is not valid JSON") == 1
    assert "signature=abc" not in text and guest.credential not in text
