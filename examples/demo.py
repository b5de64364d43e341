#!/usr/bin/env python3
"""`make demo`: run hello-world end to end on a throw-away embedded Hearth, then clean up.

Starts `hearth server` on SQLite in a temporary directory with the local compute driver,
creates examples/hello-world.yaml (streaming its events), prints both servers' outputs and when
the create reached each of them (converge-report), deletes the stack, stops the server and
checks that no agent process is left.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("demo: the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("demo: the server did not start listening in time")


def hearth(*args: str, env: dict, capture: bool = False) -> str:
    print(f"\n$ hearth {' '.join(args)}", flush=True)
    result = subprocess.run(
        [str(BIN / "hearth"), *args], env=env, text=True, stdout=subprocess.PIPE if capture else None
    )
    if result.returncode != 0:
        raise SystemExit(f"demo: 'hearth {' '.join(args)}' failed with exit code {result.returncode}")
    return result.stdout or ""


def agents_running(data_dir: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "agent.main" in cmdline and data_dir in cmdline:
            found.append(proc.name)
    return found


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hearth-demo-") as tmp:
        port = free_port()
        # HEARTH_DATA_DIR tells the CLI where the server's first start left the admin token.
        env = {**os.environ, "HEARTH_URL": f"http://127.0.0.1:{port}", "HEARTH_DATA_DIR": tmp}
        server = subprocess.Popen(
            [
                str(BIN / "hearth"),
                "server",
                "--db",
                f"sqlite:///{tmp}/hearth.db",
                "--data-dir",
                tmp,
                "--port",
                str(port),
                "--compute",
                "local",
                "--log-level",
                "WARNING",
            ],
            env=env,
        )
        try:
            wait_until_listening(port, server)
            hearth("stack", "create", "hello", "-t", str(ROOT / "examples" / "hello-world.yaml"), "--wait", env=env)
            outputs = json.loads(hearth("output", "show", "hello", "-f", "json", env=env, capture=True))
            print("\nOutputs of both servers:")
            for key in ("server_one_result", "server_two_result"):
                print(f"  {key}: {outputs[key]}")
            print(f"  ready_data: {outputs['ready_data']}")
            # When the create's deployments reached each server (docs/convergence.md).
            hearth("stack", "converge-report", "hello", env=env)
            hearth("stack", "delete", "hello", "--wait", env=env)
        finally:
            server.terminate()
            server.wait(timeout=30)
        left = agents_running(tmp)
        if left:
            raise SystemExit(f"demo: agent processes left running: {left}")
        print("\nDemo finished: the stack was created and deleted, the server stopped, no agent is left.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
