"""Test support shared by all suites: waiting on conditions, a real Hearth server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("HEARTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The cloud admin's token of every test server (tests/conftest.py exports it as
# HEARTH_ADMIN_TOKEN and HEARTH_TOKEN); AUTH is the header that sends it.
ADMIN_TOKEN = "hat_test-admin-token-0123456789abcdefghijklmnopqrstuv"
AUTH = {"X-Auth-Token": ADMIN_TOKEN}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.02, message: str = "condition"
) -> object:
    """Poll `condition` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


class RunningServer:
    """A real Hearth server (engine, orchestration and guest API) on 127.0.0.1 in this process."""

    def __init__(self, config, app, httpd, thread):
        self.config, self.app, self.httpd, self.thread = config, app, httpd, thread
        self.service = app.extensions["hearth"]
        self.url = f"http://127.0.0.1:{httpd.server_port}"
        self.api = f"{self.url}/v1/admin"
        self.http = requests.Session()
        self.http.headers.update(AUTH)

    def create_stack(
        self,
        name: str,
        template: str | Path,
        *,
        parameters=None,
        files=None,
        template_name: str | None = None,
        expect: int = 201,
    ) -> requests.Response:
        text = Path(template).read_text() if isinstance(template, Path) else template
        body = {
            "stack_name": name,
            "template": text,
            "files": files or {},
            "parameters": parameters or {},
            "template_name": template_name or (Path(template).name if isinstance(template, Path) else "template.yaml"),
        }
        response = self.http.post(f"{self.api}/stacks", json=body, timeout=30)
        assert response.status_code == expect, response.text
        return response

    def stack(self, name_or_id: str) -> dict:
        response = self.http.get(f"{self.api}/stacks/{name_or_id}", timeout=30)
        response.raise_for_status()
        return response.json()["stack"]

    def wait_stack(self, name_or_id: str, statuses: tuple[str, ...], timeout: float = 60) -> dict:
        def settled():
            stack = self.stack(name_or_id)
            return stack if stack["stack_status"] in statuses or stack["stack_status"].endswith("FAILED") else None

        return wait_for(settled, timeout, 0.05, f"stack {name_or_id} to reach {statuses}")

    def resources(self, name: str) -> dict[str, dict]:
        stack = self.stack(name)
        response = self.http.get(f"{self.api}/stacks/{name}/{stack['id']}/resources", timeout=30)
        return {r["resource_name"]: r for r in response.json()["resources"]}

    def outputs(self, name: str) -> dict:
        return {o["output_key"]: o.get("output_value") for o in self.stack(name)["outputs"]}

    def event_reasons(self, name: str) -> list[str]:
        """The stack's event reasons, oldest first (a hook's pause is only an event, as in Heat)."""
        stack = self.stack(name)
        response = self.http.get(f"{self.api}/stacks/{name}/{stack['id']}/events", timeout=30)
        return [e["resource_status_reason"] for e in response.json()["events"]]

    def delete(self, name: str, timeout: float = 60) -> dict:
        stack = self.stack(name)
        response = self.http.delete(f"{self.api}/stacks/{name}/{stack['id']}", timeout=30)
        assert response.status_code == 204, response.text
        return wait_for(
            lambda: (lambda s: s if s["stack_status"] in ("DELETE_COMPLETE", "DELETE_FAILED") else None)(
                self.stack(stack["id"])
            ),
            timeout,
            0.05,
            f"stack {name} to be deleted",
        )


def create(service, name: str, template, **body) -> str:
    """Create a stack through the engine service (project admin); its id."""
    return service.stacks.create_stack(
        "admin", {"stack_name": name, "template": template, "template_name": f"{name}.yaml", **body}
    )["id"]


def settle(service, stack_id: str, timeout: float = 30) -> dict:
    """The stack once its operation is over (whatever the outcome)."""

    def done():
        stack = service.stacks.show_stack("admin", stack_id, resolve_outputs=False)
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    return wait_for(done, timeout, message="the stack to settle")


def start_server(tmp_path: Path, db_url: str | None = None, **settings) -> RunningServer:
    from engine.config import Config
    from metadata_server import create_app
    from metadata_server.serving import listen

    port = free_port()
    config = Config.from_env(
        {}, db_url=db_url or f"sqlite:///{tmp_path}/hearth.db", data_dir=str(tmp_path / "data"), port=port, **settings
    )
    app = create_app(config)
    httpd = listen("127.0.0.1", port, app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return RunningServer(config, app, httpd, thread)


def stop_server(server: RunningServer) -> None:
    server.http.close()
    server.httpd.shutdown()
    server.httpd.server_close()
    server.service.stop()
    server.service.runtime.store.dispose()
    # On PostgreSQL a stopping replica leaves its local agents running for the others to adopt
    # (engine/compute/local.py); a test's server has no others: its agents go with it.
    stop_local_agents(server.config.resolved_data_dir)


def stop_local_agents(data_dir: str) -> None:
    """SIGKILL the process group of every local-driver agent running from `data_dir`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "agent.main" in cmdline and f"{data_dir}/servers/" in cmdline:
            try:
                os.killpg(int(proc.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class ServerProcess:
    """`hearth server` as a real process on 127.0.0.1 that a test can kill and start again on
    the same port (its agents keep that address). Its stderr goes to `log`."""

    def __init__(self, tmp_path: Path, *, args: list[str] | None = None, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "server.log"
        self.env = {**os.environ, **(env or {})}
        self.args = (
            args if args is not None else ["--db", f"sqlite:///{tmp_path}/h.db", "--data-dir", str(tmp_path / "data")]
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [str(Path(sys.executable).parent / "hearth"), "server", *self.args, "--port", str(self.port)]
        with open(self.log, "a") as handle:
            self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=handle)

        def listening():
            assert self.process.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, 30, 0.05, "hearth server to listen")

    def stop(self) -> None:
        """SIGTERM, and the server must exit cleanly without a traceback in its log."""
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0, self.log.read_text()
        assert "Traceback" not in self.log.read_text()

    def stack(self, name_or_id: str) -> dict:
        return requests.get(f"{self.url}/v1/admin/stacks/{name_or_id}", headers=AUTH, timeout=10).json()["stack"]
