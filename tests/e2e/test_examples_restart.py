"""Examples survive a restart of the Hearth server while their hooks signal.

Every example whose scripts signal with curl (examples/hello-world.yaml and those under
examples/templates/) is created on a real `hearth server` process. Each script run is held at a
gate (a `script` hook on the local driver's hook path that waits, then runs the real one) until
the test has killed the server (SIGKILL: its agents and their hooks live on, as machines
would). While the server is down, its port is held by a stand-in that takes each connection and
closes it unanswered, as a server dying mid-request does, and records what was asked for. The
gate opens; once every example's script has tried to signal one of its handles and been
dropped, the stand-in goes and the real server starts again on the same port and database. Every
stack must then complete with its expected outputs: the scripts' curl retried, and the
deployments' own signals waited in their agents' outboxes.
"""

from __future__ import annotations

import os
import re
import signal
import socketserver
import threading
from pathlib import Path

import pytest
import requests

from engine.cli.stack_request import stack_body
from tests.e2e.test_end_to_end import agent_pids
from tests.e2e.test_examples import ALL, mismatch
from tests.support import AUTH, ROOT, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

HANDLE_TYPES = (
    "OS::Heat::WaitConditionHandle",
    "AWS::CloudFormation::WaitConditionHandle",
    "OS::Heat::UpdateWaitConditionHandle",
)
HELLO = ROOT / "examples" / "hello-world.yaml"
CURL = re.compile(r"curl(_cli\b|\s+-)")  # a curl command line, or a handle's curl_cli


def signalling_examples() -> dict[str, tuple[Path, list[str], dict, dict]]:
    """stack name -> (template, environments, parameters, expected outputs) of every example
    whose scripts signal with curl."""
    found = {
        "ex-hello-world": (
            HELLO,
            [],
            {},
            {"server_one_result": "Hello from server_one", "server_two_result": "Hello from server_two"},
        )
    }
    for example in ALL:
        if CURL.search(example.template.read_text()):
            found[example.stack_name] = (
                example.template,
                [str(e) for e in example.environment],
                example.parameters,
                example.expect,
            )
    return found


def test_every_curl_in_the_examples_retries_on_any_error():
    """Static: each curl a template runs (and each curl_cli it calls) has --retry and
    --retry-all-errors, so a server that is restarting does not fail the stack."""
    templates = [HELLO, *(e.template for e in ALL)]
    assert len(signalling_examples()) >= 6
    for template in templates:
        text = template.read_text()
        calls = len(re.findall(r"curl\s+-", text)) + len(
            re.findall(r"curl_cli\s*\]", text)
        )  # get_attr: [handle, curl_cli]
        retrying = len(re.findall(r"--retry \d+ --retry-delay \d+ --retry-all-errors", text))
        assert retrying >= calls, f"{template}: {calls} curl calls, {retrying} with retries"


class _Dropping(socketserver.BaseRequestHandler):
    """Reads a request's head, records its first line, closes without an answer."""

    def handle(self) -> None:
        self.request.settimeout(2)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
        with self.server.lock:
            self.server.seen.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))


class DownServer(socketserver.ThreadingTCPServer):
    """What a dead server's clients get: a connection that ends with no answer."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int):
        self.lock = threading.Lock()
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", port), _Dropping)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def requests(self) -> list[str]:
        with self.lock:
            return list(self.seen)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def gate_hook(directory: Path) -> Path:
    """A `script` hook that notes its run folder, waits for `open`, then runs the real one."""
    directory.mkdir()
    hook = directory / "script"
    hook.write_text(f"""#!/bin/sh
pwd >> {directory}/arrived
while [ ! -e {directory}/open ]; do sleep 0.05; done
exec {ROOT / "hooks" / "script"}
""")
    hook.chmod(0o755)
    return directory


def test_signalling_examples_complete_across_a_server_restart_while_their_hooks_signal(tmp_path):
    examples = signalling_examples()
    gate = gate_hook(tmp_path / "gate")
    server = ServerProcess(tmp_path, env={"HEARTH_HOOKS_DIR": str(gate)})
    api = f"{server.url}/v1/admin"
    data_dir = str(tmp_path / "data")
    down = None
    try:
        server.start()
        for name, (template, environments, parameters, _) in examples.items():
            body = stack_body(name, str(template), environments, parameters, timeout_mins=10)
            created = requests.post(f"{api}/stacks", json=body, headers=AUTH, timeout=30)
            assert created.status_code == 201, created.text

        def resources(name: str) -> list[dict]:
            return requests.get(f"{api}/stacks/{name}/resources", headers=AUTH, timeout=30).json()["resources"]

        def held(name: str) -> bool:
            """One of the stack's servers has a script run waiting at the gate."""
            servers = {
                r["physical_resource_id"]
                for r in resources(name)
                if r["resource_type"] == "OS::Nova::Server" and r["physical_resource_id"]
            }
            arrived = (gate / "arrived").read_text() if (gate / "arrived").exists() else ""
            return any(f"/servers/{sid}/" in arrived for sid in servers)

        wait_for(
            lambda: all(held(name) for name in examples), 180, 0.2, "a script run of every example to reach the gate"
        )
        handles = {
            name: {r["physical_resource_id"] for r in resources(name) if r["resource_type"] in HANDLE_TYPES}
            for name in examples
        }
        assert all(handles.values()), handles

        os.kill(server.process.pid, signal.SIGKILL)  # mid-stack; the agents and hooks live on
        server.process.wait()
        down = DownServer(server.port)
        (gate / "open").touch()

        def tried(name: str) -> bool:
            return any(handle in line for line in down.requests() for handle in handles[name])

        wait_for(
            lambda: all(tried(name) for name in examples),
            120,
            0.1,
            "every example's script to try to signal while the server is down",
        )
        dropped = len(down.requests())
        down.stop()
        down = None
        server.start()

        problems = []
        for name, (_, _, _, expect) in examples.items():
            stack = wait_for(
                lambda name=name: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(
                    server.stack(name)
                ),
                180,
                0.2,
                f"{name} to finish after the restart",
            )
            if stack["stack_status"] != "CREATE_COMPLETE":
                problems.append(f"{name}: {stack['stack_status']}: {stack['stack_status_reason']}")
                continue
            values = {o["output_key"]: o.get("output_value") for o in stack.get("outputs") or []}
            for key, want in expect.items():
                why = mismatch(want, values.get(key), values)
                if why:
                    problems.append(f"{name}: output {key}: {why}")
        assert not problems, "\n".join(problems)
        print(
            f"{len(examples)} examples; {dropped} requests dropped while the server was down; "
            f"all complete after the restart"
        )

        ids = {name: server.stack(name)["id"] for name in examples}
        for name, stack_id in ids.items():
            requests.delete(f"{api}/stacks/{name}/{stack_id}", headers=AUTH, timeout=30)
        for name, stack_id in ids.items():
            wait_for(
                lambda stack_id=stack_id: server.stack(stack_id)["stack_status"] == "DELETE_COMPLETE",
                90,
                0.2,
                f"{name} to be deleted",
            )
        wait_for(lambda: not agent_pids(data_dir), 30, message="the agents to stop")
        server.stop()
    finally:
        if down is not None:
            down.stop()
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        for pid in agent_pids(data_dir):  # left running only when the test failed
            os.kill(pid, signal.SIGKILL)
