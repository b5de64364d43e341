"""Multi-replica harness: owns a PostgreSQL database of its own, three `hearth server` processes on
it (r1, r2, r3) sharing one data dir, and the file their agents' hooks append to; reads the
`leases` table, the agents' homes, logs and sockets; kills and starts the processes it made.

Each replica runs `--compute local` (every OS::Nova::Server is a real hearth-agent on this host)
with HEARTH_NODE_NAME=rN, a short HEARTH_LEASE_SECONDS, HEARTH_PUBLIC_URL its own URL and
HEARTH_GUEST_URLS the other two (so agents can fail over), and the same secret key and admin
token. Stacks are made from `template()`: servers, one script SoftwareConfig and deployments
whose runs append `start`/`end` lines (label, action, a token of the run's own) to `lines`;
an `anchor` deployment, made after all others, waits for a gate file that the test opens, so
a test knows the operation is still running until it says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.test_end_to_end import agent_pids
from tests.e2e.test_hook_exactly_once import Run, read_runs
from tests.support import ADMIN_TOKEN, AUTH, PG_URL, ServerProcess, free_port, wait_for

NAMES = ("r1", "r2", "r3")
LEASE_SECONDS = 3.0
# Each run appends a start and an end line (label, action, a token of its own, time) and
# prints `ran LABEL ACTION TOKEN`, so the signal names the run it reports. A deployment given
# a gate waits, after its start line, until the file "$gate.$deploy_action" exists.
SCRIPT = r"""#!/bin/sh
token="$$-$(date +%s%N)"
printf 'start %s %s %s %s\n' "$label" "$deploy_action" "$token" "$(date +%s.%N)" >> "$lines"
if [ -n "$gate" ]; then
  while [ ! -e "$gate.$deploy_action" ]; do sleep 0.05; done
fi
sleep "$duration"
printf 'end %s %s %s %s\n' "$label" "$deploy_action" "$token" "$(date +%s.%N)" >> "$lines"
printf 'ran %s %s %s\n' "$label" "$deploy_action" "$token"
"""


@contextlib.contextmanager
def own_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (its URL), dropped afterwards; skipped when
    PostgreSQL is unreachable, failed when CI is set (as tests/conftest.py does)."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = "hearth_replicas_" + uuid.uuid4().hex[:12]
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as error:  # noqa: BLE001 - any failure to reach it decides fail/skip
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


class Replica(ServerProcess):
    """One `hearth server` replica: launched without waiting, so that several start at once."""

    def __init__(self, name: str, port: int, tmp_path: Path, args: list[str], env: dict):
        super().__init__(tmp_path, args=args, env=env)
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp_path / f"{name}.log"
        self.http = requests.Session()
        self.http.headers.update(AUTH)

    def __repr__(self) -> str:
        return f"<replica {self.name} :{self.port} pid {self.process.pid if self.process else None}>"

    def launch(self) -> None:
        command = [str(Path(sys.executable).parent / "hearth"), "server", *self.args, "--port", str(self.port)]
        with open(self.log, "a") as handle:
            self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=handle)

    def listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, f"{self.name} exited:\n{self.log.read_text()}"
        try:
            return self.http.get(f"{self.url}/", timeout=2).status_code < 500
        except requests.RequestException:
            return False

    def wait_listening(self, timeout: float = 60) -> None:
        wait_for(self.listening, timeout, 0.05, f"replica {self.name} to listen")

    def start(self) -> None:
        self.launch()
        self.wait_listening()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no handler runs, no lease is given back."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        with open(self.log, "a") as handle:
            handle.write(f"--- killed with SIGKILL by the test at {time.time():.3f}\n")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and its exit status (the server's own graceful shutdown)."""
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=timeout)

    def discard(self) -> None:
        """At teardown: stop it whatever its state, without judging how."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.http.close()

    # -- the orchestration API, through this replica ------------------------------------------

    def api(self, method: str, path: str, expect: int | tuple[int, ...] | None = None, **kwargs) -> requests.Response:
        response = self.http.request(method, f"{self.url}/v1/admin{path}", timeout=30, **kwargs)
        if expect is not None:
            expected = (expect,) if isinstance(expect, int) else expect
            assert response.status_code in expected, f"{self.name} {method} {path}: {response.text}"
        return response

    def create_stack(self, name: str, template: str, parameters: dict) -> str:
        body = {"stack_name": name, "template": template, "parameters": parameters}
        return self.api("POST", "/stacks", 201, json=body).json()["stack"]["id"]

    def _path(self, stack_id: str) -> str:
        """/stacks/NAME/ID, which Heat's routes want (the name is checked)."""
        return f"/stacks/{self.stack(stack_id)['stack_name']}/{stack_id}"

    def update_stack(self, stack_id: str, template: str, parameters: dict) -> None:
        self.api("PUT", self._path(stack_id), 202, json={"template": template, "parameters": parameters})

    def delete_stack(self, stack_id: str) -> None:
        self.api("DELETE", self._path(stack_id), 204)

    def stack(self, stack_id: str) -> dict:
        return self.api("GET", f"/stacks/{stack_id}", 200).json()["stack"]

    def resources(self, stack_id: str) -> dict[str, dict]:
        answer = self.api("GET", f"{self._path(stack_id)}/resources", 200).json()
        return {r["resource_name"]: r for r in answer["resources"]}

    def events(self, stack_id: str) -> list[dict]:
        return self.api("GET", f"{self._path(stack_id)}/events", 200, params={"limit": 10000}).json()["events"]

    def deployment(self, deployment_id: str) -> dict | None:
        response = self.api("GET", f"/software_deployments/{deployment_id}", (200, 404))
        return response.json()["software_deployment"] if response.status_code == 200 else None


class Cluster:
    """Three replicas on one database and one data dir; `lines` is the hook-lines file and
    `gates` the folder of gate files."""

    def __init__(self, tmp_path: Path, db_url: str, lease_seconds: float = LEASE_SECONDS, **settings: str):
        from cryptography.fernet import Fernet

        self.tmp_path, self.db_url, self.lease_seconds = tmp_path, db_url, lease_seconds
        self.data_dir = tmp_path / "data"
        self.lines = tmp_path / "hook-lines.txt"
        self.gates = tmp_path / "gates"
        self.gates.mkdir()
        ports: list[int] = []
        while len(ports) < len(NAMES):
            port = free_port()
            if port not in ports:
                ports.append(port)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        secret_key = Fernet.generate_key().decode()
        args = ["--db", db_url, "--data-dir", str(self.data_dir), "--compute", "local"]
        self.replicas: dict[str, Replica] = {}
        for name, port, url in zip(NAMES, ports, urls, strict=True):
            env = {
                "HEARTH_NODE_NAME": name,
                "HEARTH_LEASE_SECONDS": f"{lease_seconds:g}",
                "HEARTH_PUBLIC_URL": url,
                "HEARTH_GUEST_URLS": ",".join(u for u in urls if u != url),
                "HEARTH_SECRET_KEY": secret_key,
                "HEARTH_ADMIN_TOKEN": ADMIN_TOKEN,
                # an agent killed with its replica's process group is started again at once
                "HEARTH_AGENT_RESTART_DELAY": "0.05",
                "HEARTH_AGENT_RESTART_MAX_DELAY": "0.5",
                **settings,
            }
            self.replicas[name] = Replica(name, port, tmp_path, args, env)
        import sqlalchemy

        self.db = sqlalchemy.create_engine(db_url, poolclass=sqlalchemy.pool.NullPool)

    def __getitem__(self, name: str) -> Replica:
        return self.replicas[name]

    def start(self, *names: str) -> None:
        """Start these replicas (all by default) at the same moment and wait until each listens."""
        chosen = [self.replicas[n] for n in (names or NAMES)]
        for replica in chosen:
            replica.launch()
        for replica in chosen:
            replica.wait_listening()

    def running(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.running]

    def any(self, but: Replica | None = None) -> Replica:
        return next(r for r in self.running() if r is not but)

    def close(self) -> None:
        """Stop every replica, then every agent and hook left under the data dir."""
        for replica in self.replicas.values():
            replica.discard()
        for gate in ("CREATE", "UPDATE", "DELETE"):  # release hooks still waiting
            for path in list(self.gates.iterdir()):
                if "." not in path.name:
                    (self.gates / f"{path.name}.{gate}").touch()
        for pid in processes_under(str(self.data_dir)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not agent_pids(str(self.data_dir)), 10, message="agents to be gone")
        self.db.dispose()

    # -- the store, read directly --------------------------------------------------------------

    def lease(self, stack_id: str) -> dict | None:
        """The `leases` row of the stack's operation, as a dict, or None."""
        import sqlalchemy

        query = sqlalchemy.text("SELECT * FROM leases WHERE name = :n")
        try:
            with self.db.connect() as connection:
                row = connection.execute(query, {"n": f"stack:{stack_id}"}).mappings().first()
        except sqlalchemy.exc.ProgrammingError as error:
            raise AssertionError(f"cannot read the leases table (is there one?): {error.orig}") from None
        return dict(row) if row else None

    def owner(self, stack_id: str, timeout: float = 10) -> Replica:
        """The replica that holds the lease of the stack's operation now."""

        def held():
            owner = str((self.lease(stack_id) or {}).get("owner") or "")
            # HEARTH_NODE_NAME, perhaps with something of the process after it
            return next((r for n, r in self.replicas.items() if owner == n or owner.startswith(f"{n}-")), None)

        return wait_for(held, timeout, 0.02, f"a replica to hold the lease of stack {stack_id}")  # type: ignore[return-value]

    # -- settling ------------------------------------------------------------------------------

    def read_stack(self, stack_id: str, via: Replica | None = None) -> dict | None:
        """The stack as a running replica (`via` when it runs) shows it; None while the one
        asked is stopping."""
        replica = via if via is not None and via.running else self.any()
        try:
            return replica.stack(stack_id)
        except (requests.RequestException, AssertionError):
            return None

    def settle(self, stack_id: str, action: str, timeout: float, *, via: Replica | None = None) -> dict:
        """The stack once its `action` (CREATE, UPDATE, DELETE) is no longer IN_PROGRESS."""

        def settled():
            stack = self.read_stack(stack_id, via)
            status = stack["stack_status"] if stack else ""
            return stack if status.startswith(f"{action}_") and not status.endswith("IN_PROGRESS") else None

        try:
            return wait_for(settled, timeout, 0.05, f"the {action} of stack {stack_id} to settle")  # type: ignore[return-value]
        except AssertionError as error:
            stack = self.read_stack(stack_id, via) or {}
            now = f"{stack.get('stack_status')}: {stack.get('stack_status_reason')}"
            raise AssertionError(f"{error}: it is {now}\n{self.tails()}") from None

    def tails(self, lines: int = 30) -> str:
        """The end of each replica's log, for a failure's message."""
        parts = []
        for replica in self.replicas.values():
            text = replica.log.read_text(errors="replace") if replica.log.exists() else ""
            parts.append(f"--- {replica.name} ({'running' if replica.running else 'stopped'}):")
            parts.extend(text.splitlines()[-lines:])
        return "\n".join(parts)

    def open_gate(self, label: str, action: str) -> None:
        (self.gates / f"{label}.{action}").touch()

    def runs(self) -> list[Run]:
        return read_runs(self.lines)


def template(
    durations: dict[str, float],
    servers: int = 2,
    gate: str = "",
    actions: tuple[str, ...] = ("CREATE", "UPDATE"),
    gated: str = "anchor",
    chain: bool = False,
) -> str:
    """Servers server0.., one script config and a deployment per name (spread over the
    servers, its runs labelled `label(name, generation, stack name)`), then `anchor`, made after all of them on server0; the
    deployment `gated` waits for the gate file `<gate>.<action>` when `gate` is given; with
    `chain` each deployment is made after the one before it. `durations` maps deployment
    names (anchor included when wanted) to the seconds each run sleeps; the parameter
    `generation` goes into every label, so that an update that changes it runs them all again."""
    resources: dict = {
        f"server{n}": {
            "type": "OS::Nova::Server",
            "properties": {"image": "any", "flavor": "any", "user_data_format": "SOFTWARE_CONFIG"},
        }
        for n in range(servers)
    }
    resources["config"] = {
        "type": "OS::Heat::SoftwareConfig",
        "properties": {
            "group": "script",
            "config": SCRIPT,
            "inputs": [{"name": n} for n in ("label", "duration", "lines", "gate")],
        },
    }
    names = [n for n in durations if n != "anchor"]
    for index, name in enumerate([*names, "anchor"]):
        if name not in durations:
            continue
        resources[name] = {
            "type": "OS::Heat::SoftwareDeployment",
            "properties": {
                "config": {"get_resource": "config"},
                "server": {"get_resource": f"server{0 if name == 'anchor' else index % servers}"},
                "actions": list(actions),
                "input_values": {
                    "label": {
                        "str_replace": {
                            "template": f"{name}@GEN:STACK",
                            "params": {"GEN": {"get_param": "generation"}, "STACK": {"get_param": "OS::stack_name"}},
                        }
                    },
                    "duration": f"{durations[name]:g}",
                    "lines": {"get_param": "lines"},
                    "gate": gate if name == gated else "",
                },
            },
        }
        if name == "anchor":
            resources[name]["depends_on"] = names
        elif chain and index:
            resources[name]["depends_on"] = [names[index - 1]]
    return json.dumps(
        {
            "heat_template_version": "2018-08-31",
            "parameters": {"lines": {"type": "string"}, "generation": {"type": "string", "default": "0"}},
            "resources": resources,
        }
    )


def label(name: str, generation: int | str, stack: str) -> str:
    """How the runs of deployment `name` of `stack` at `generation` are labelled in the lines."""
    return f"{name}@{generation}:{stack}"


def hook_counts(runs: list[Run]) -> Counter:
    """How many runs started per (label, action)."""
    return Counter((run.label, run.action) for run in runs)


def twice(runs: list[Run]) -> dict:
    """(label, action) pairs that started more than once, with their runs."""
    counts = hook_counts(runs)
    return {key: [r for r in runs if (r.label, r.action) == key] for key, n in counts.items() if n > 1}


def processes_under(path: str) -> list[int]:
    """Live processes whose command line or working directory lies under `path`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if path in cmdline or cwd.startswith(path):
            found.append(int(proc.name))
    return found


def connected_ports(pid: int) -> set[int]:
    """Remote ports on 127.0.0.1 of the process's ESTABLISHED TCP connections (its sockets
    matched by inode in /proc/net/tcp): which replica an agent talks to, whatever it logs."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and fields[9] in inodes:
                    ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def server_homes(data_dir: Path) -> list[Path]:
    return sorted(p.parent for p in (data_dir / "servers").glob("*/bootstrap.json"))


def agent_errors(data_dir: Path) -> list[str]:
    """ERROR lines and tracebacks in every agent log, and signals given up in outbox/dead: the
    errors an agent did not retry (a retried failure is logged as a WARNING)."""
    found = []
    for log in (data_dir / "servers").glob("*/agent.log"):
        for line in log.read_text(errors="replace").splitlines():
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback"):
                found.append(f"{log.parent.name}: {line}")
    for dead in (data_dir / "servers").glob("*/state/outbox/dead/*"):
        found.append(f"{dead}: a signal given up")
    return found


def delivered(data_dir: Path) -> Counter:
    """How many signals each deployment's agent logged as delivered (accepted by a replica)."""
    counts: Counter = Counter()
    for log in (data_dir / "servers").glob("*/agent.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "signal for deployment " in line and " delivered (" in line:
                counts[line.split("signal for deployment ", 1)[1].split()[0]] += 1
    return counts
