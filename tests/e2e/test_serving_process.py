"""`hearth server` as real processes: SIGTERM answers parked long-polls at once (304) and exits 0;
`--workers 2` on PostgreSQL runs two replicas that both answer (and whose /metrics add up), and is
refused on SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from engine.config import Config
from engine.service import build_service
from tests.support import ServerProcess, free_port, wait_for
from tests.unit.server.test_serving import poll_request, read_answer

HEARTH = str(Path(sys.executable).parent / "hearth")


class _Hearth:  # what add_servers needs of a server: its service
    def __init__(self, service):
        self.service = service


def test_sigterm_answers_parked_polls_304_and_exits_cleanly(tmp_path):
    from tests.unit.server.test_serving import add_servers

    server = ServerProcess(tmp_path, env={"HEARTH_GUEST_RATE": "0"})
    server.start()
    service = build_service(Config.from_env({}, db_url=f"sqlite:///{tmp_path}/h.db", data_dir=str(tmp_path / "data")))
    agents = add_servers(_Hearth(service), 3)
    service.runtime.store.dispose()
    socks = []
    for server_id, secret in agents:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(poll_request(server_id, secret, wait=50))
        socks.append(sock)
    health = lambda: requests.get(f"{server.url}/healthz", timeout=5).json()["parked"] == 3  # noqa: E731
    wait_for(health, 20, 0.05, "3 parked polls")
    started = time.monotonic()
    server.process.terminate()
    for sock in socks:
        status, headers, _ = read_answer(sock)
        assert status == 304 and headers["etag"] == '"1"'
        sock.close()
    assert time.monotonic() - started < 1.5
    assert server.process.wait(timeout=30) == 0, server.log.read_text()
    assert "Traceback" not in server.log.read_text()


def test_two_workers_on_postgresql_both_answer(tmp_path, postgres_server_url):
    db_url = postgres_server_url
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(
        [HEARTH, "server", "--db", db_url, "--data-dir", str(tmp_path / "data"), "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "HEARTH_SHUTDOWN_GRACE": "5"},
    )
    try:
        pids: set[int] = set()

        def both() -> bool:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with requests.Session() as fresh:  # a new connection each time: any worker may take it
                    answer = fresh.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                    pids.add(answer.json()["pid"])
                    assert fresh.get(f"http://127.0.0.1:{port}/v1/admin/stacks", timeout=10).status_code in (200, 401)
            except requests.ConnectionError:
                return False
            return len(pids) == 2

        wait_for(both, 60, 0.05, "two workers to answer")
        assert process.pid not in pids
        # /metrics sums the workers (prometheus-client's multiprocess mode): four refused signals,
        # each on a new connection whichever worker takes it, are four in every scrape.
        for _ in range(4):
            with requests.Session() as fresh:
                assert (
                    fresh.post(
                        f"http://127.0.0.1:{port}/guest/v1/deployments/x/signal", json={}, timeout=10
                    ).status_code
                    == 401
                )
        for _ in range(6):
            with requests.Session() as fresh:
                exposition = fresh.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            assert 'hearth_signals_total{kind="deployment",outcome="forbidden"} 4.0' in exposition
            assert "hearth_build_info{" in exposition and "hearth_longpoll_waiters" in exposition
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "server.log").read_text()


def test_workers_are_refused_on_sqlite(tmp_path):
    done = subprocess.run(
        [HEARTH, "server", "--db", f"sqlite:///{tmp_path}/h.db", "--data-dir", str(tmp_path / "d"), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--workers 2 needs PostgreSQL" in done.stderr and "SQLite" in done.stderr
