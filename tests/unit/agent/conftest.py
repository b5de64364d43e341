"""Fixtures for agent tests: a stand-in guest API on 127.0.0.1 (Flask + werkzeug), sessions, agent processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from tests.support import wait_for as shared_wait_for

REPO = Path(__file__).resolve().parents[3]
CREDENTIAL = "hgc_test-credential-0123456789"
SERVER_ID = "srv-1"


def error_envelope(status: int, message: str):
    """The server's one JSON error envelope (metadata_server/errors.py)."""
    return jsonify(
        code=status,
        title="Error",
        explanation=message,
        error={"type": "Scripted", "code": f"http_{status}", "message": message, "traceback": None},
    )


class GuestStandIn:
    """Records what an agent sends and answers as docs/guest-api.md says, with scripted failures."""

    def __init__(self):
        self.cond = threading.Condition()
        self.version = 1
        self.metadata: dict = {"deployments": []}
        self.metadata_requests: list[dict] = []
        self.metadata_statuses: list[int] = []  # answered (in order) before normal service
        self.signal_attempts: list[dict] = []  # every POST, whatever the answer
        self.signals: list[dict] = []  # the ones answered 200
        # entry id → statuses (or (status, message) pairs) to answer first
        self.signal_statuses: dict[str, list] = {}
        self.max_signal_bytes = 4 * 1024 * 1024  # the real server's default max_signal_bytes
        self.retry_after = "7"  # the Retry-After sent with these statuses
        self.retry_after_statuses = {429}
        self.progress: list[dict] = []  # every progress POST, whatever the answer
        self.progress_statuses: list[int] = []  # answered (in order) before 202
        self.closing = False
        self.base_url = ""
        self.credential = CREDENTIAL
        self.server_id = SERVER_ID

    def set_metadata(self, metadata: dict) -> None:
        with self.cond:
            self.version += 1
            self.metadata = metadata
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()

    def app(self) -> Flask:
        app = Flask("guest-stand-in")

        def authorised() -> bool:
            return request.headers.get("Authorization") == f"Bearer {CREDENTIAL}"

        @app.get("/guest/v1/servers/<server>/metadata")
        def metadata(server):
            if not authorised() or server != SERVER_ID:
                return jsonify(error={"code": "unauthorized"}), 401
            since, wait = request.args.get("since"), float(request.args.get("wait", 0))
            deadline = time.monotonic() + min(wait, 60)
            with self.cond:
                self.metadata_requests.append({"since": since, "wait": wait})
                if self.metadata_statuses:
                    status = self.metadata_statuses.pop(0)
                    return jsonify(error={"code": "scripted"}), status, {"Retry-After": "2"}
                while str(self.version) == since and not self.closing and time.monotonic() < deadline:
                    self.cond.wait(deadline - time.monotonic())
                if str(self.version) == since:
                    return "", 304
                return (jsonify(version=str(self.version), metadata=self.metadata), 200, {"ETag": f'"{self.version}"'})

        @app.post("/guest/v1/deployments/<entry_id>/signal")
        def deployment_signal(entry_id):
            raw = request.get_data()
            record = {
                "entry_id": entry_id,
                "size": len(raw),
                "body": json.loads(raw) if len(raw) <= self.max_signal_bytes else None,
                "authorization": request.headers.get("Authorization"),
                "content_type": request.headers.get("Content-Type"),
                "at": time.monotonic(),
            }
            with self.cond:
                self.signal_attempts.append(record)
                scripted = self.signal_statuses.get(entry_id) or []
                status = scripted.pop(0) if scripted else 200
                status, message = status if isinstance(status, tuple) else (status, f"scripted {status}")
                if len(raw) > self.max_signal_bytes:  # as metadata_server.requests_.json_body
                    status, message = 413, (f"the body is larger than the {self.max_signal_bytes} bytes accepted here")
                if status == 200:
                    self.signals.append(record)
                self.cond.notify_all()
            if status == 200:
                return jsonify(status="COMPLETE")
            headers = {"Retry-After": self.retry_after} if status in self.retry_after_statuses else {}
            return error_envelope(status, message), status, headers

        @app.post("/guest/v1/deployments/<entry_id>/progress")
        def deployment_progress(entry_id):
            # As engine/guest/service.py progress: a {"message": str, "percent": number|null} object.
            body = json.loads(request.get_data())
            with self.cond:
                self.progress.append(
                    {
                        "entry_id": entry_id,
                        "body": body,
                        "at": time.monotonic(),
                        "authorization": request.headers.get("Authorization"),
                    }
                )
                status = self.progress_statuses.pop(0) if self.progress_statuses else 202
                self.cond.notify_all()
            if status != 202:
                return error_envelope(status, f"scripted {status}"), status
            ok = (
                isinstance(body, dict)
                and isinstance(body.get("message"), str)
                and (body.get("percent") is None or isinstance(body["percent"], (int, float)))
            )
            if not ok:
                return error_envelope(400, "'message' must be a string and 'percent' a number"), 400
            return jsonify(accepted=True), 202

        return app


@contextlib.contextmanager
def running_guest():
    """A GuestStandIn listening on a port of its own until the block ends."""
    standin = GuestStandIn()
    server = make_server("127.0.0.1", 0, standin.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    standin.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield standin
    finally:
        standin.close()
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def guest():
    with running_guest() as standin:
        yield standin


@pytest.fixture
def other_guest():
    """A second replica of the guest API (another stand-in on another port)."""
    with running_guest() as standin:
        yield standin


@pytest.fixture
def session():
    with requests.Session() as sess:
        yield sess


@pytest.fixture
def wait_for():
    """The suite's deadline-bounded condition wait (tests/support.py), as a fixture."""
    return shared_wait_for


def write_bootstrap(path: Path, base_url: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "server_id": SERVER_ID,
                "base_url": base_url,
                "metadata_url": f"{base_url}/guest/v1/servers/{SERVER_ID}/metadata",
                "credential": CREDENTIAL,
                "collectors": ["hearth"],
            }
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def bootstrap_file(tmp_path):
    return lambda base_url: write_bootstrap(tmp_path / "bootstrap.json", base_url)


@pytest.fixture
def start_agent(tmp_path):
    """Start ``python -m agent.main`` as a real process; stopped (SIGTERM, then SIGKILL) at teardown."""
    started: list[subprocess.Popen] = []
    logs: list = []

    def start(bootstrap: Path, state_dir: Path, *extra: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEAT_CONFIG_", "HEAT_SCRIPT_"))}
        env["PYTHONPATH"] = str(REPO)
        log = open(tmp_path / f"agent-{len(started)}.log", "wb")
        logs.append(log)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.main",
                "--bootstrap",
                str(bootstrap),
                "--state-dir",
                str(state_dir),
                "--log-level",
                "DEBUG",
                *extra,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = Path(log.name)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for log in logs:
        log.close()
