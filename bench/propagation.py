"""Propagation benchmark: time from a server-metadata change to each long-polling agent seeing it.

Usage: python bench/propagation.py [--n 100,1000] [--db URL] [--processes 4] [--singles 200]

For each N a fresh process runs a real Hearth server (the Flask app on werkzeug's threaded
server, 127.0.0.1) on a fresh store, creates N servers with one credential each through the
engine library, and starts N simulated agents in separate client processes (each agent a
thread with its own requests.Session). Every agent long-polls its own server's metadata
exactly as docs/guest-api.md says (`GET /guest/v1/servers/{id}/metadata?since=V&wait=55`,
`Authorization: Bearer <credential>`) and re-polls as soon as it has an answer, as the real
agent does. Agents report when they see a new version (time.time() after the body is parsed)
to the server process over a multiprocessing queue; the clock is the same host clock.

The change is made in the server process, so t0 is exact: one store session rebuilds the
metadata with `engine.guest.metadata.push_metadata` (which bumps the version), t0 is read just before
the commit, then `runtime.publish_server` wakes the waiters.

  burst   all N servers change in one transaction, then all N are published; the latency of
          every agent is one sample.
  single  one random server changes while all N agents poll; repeated --singles times; the
          latency of that one agent is one sample.

Before every trigger the script waits until all N agents are parked in the long-poll, read from
the server's own notifier (a subclass that counts the threads inside `Notifier.wait`; it adds a
counter and nothing else). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing as mp
import os
import queue
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from machine import (
    describe,
    free_port,
    listen_overflows,
    parse_n,
    percentile,
    raise_open_file_limit,
)
from stores import temporary_store

DEFAULT_N = (100, 1000)
RUN_TIMEOUT = 240.0  # seconds; one N must finish well within the 5-minute budget


# Agents (client processes) ------------------------------------------------------------------
def agent_loop(base_url: str, server_id: str, credential: str, wait: int, out) -> None:
    """One simulated agent: fetch once, then long-poll forever, reporting each new version."""
    import requests

    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {credential}"
    url = f"{base_url}/guest/v1/servers/{server_id}/metadata"
    version = None
    while version is None:
        try:
            version = http.get(url, timeout=30).json()["version"]
        except Exception as error:  # noqa: BLE001 - a benchmark agent reports and retries
            out.put(("error", server_id, repr(error), time.time()))
            time.sleep(0.5)
    out.put(("ready", server_id, version, time.time()))
    poll = f"{url}?since=%d&wait={wait}"
    while True:
        try:
            response = http.get(poll % version, timeout=(10, wait + 20))
            if response.status_code == 200:
                body = response.json()
                seen = time.time()
                if body["version"] != version:
                    version = body["version"]
                    out.put(("seen", server_id, version, seen))
            elif response.status_code != 304:
                out.put(("error", server_id, f"HTTP {response.status_code}", time.time()))
                time.sleep(0.5)
        except Exception as error:  # noqa: BLE001
            out.put(("error", server_id, repr(error), time.time()))
            time.sleep(0.5)


def agent_process(base_url: str, agents: list[tuple[str, str]], wait: int, out, stop) -> None:
    raise_open_file_limit()
    threading.stack_size(512 * 1024)
    for server_id, credential in agents:
        threading.Thread(target=agent_loop, args=(base_url, server_id, credential, wait, out), daemon=True).start()
    parent = os.getppid()
    while not stop.wait(1.0) and os.getppid() == parent:
        pass  # also leave when the server process is gone without telling us
    os._exit(0)  # the agent threads are parked in long-polls; nothing to clean up


# Server process ----------------------------------------------------------------------------
def parked_notifier_class():
    from engine.store.notify import Notifier

    class ParkedNotifier(Notifier):
        """The engine's notifier, also counting the waiters parked in `wait` (threads) or
        `park` (the listener's parked long-polls) per topic."""

        def __init__(self) -> None:
            super().__init__()
            self._parked_lock = threading.Condition()
            self._parked: dict[str, int] = {}
            self.returned_at: dict[str, float] = {}

        @contextlib.contextmanager
        def _parking(self, topic):
            with self._parked_lock:
                self._parked[topic] = self._parked.get(topic, 0) + 1
                self._parked_lock.notify_all()
            try:
                yield
            finally:
                returned = time.time()
                with self._parked_lock:
                    self._parked[topic] -= 1
                    if not self._parked[topic]:
                        del self._parked[topic]
                    self.returned_at[topic] = returned

        def wait(self, topic, changed, timeout):
            with self._parking(topic):
                return super().wait(topic, changed, timeout)

        def park(self, topic, seen, future):
            # The listener parks long-polls here (metadata_server/longpoll.py), holding no thread.
            parked = super().park(topic, seen, future)
            if parked:
                with self._parked_lock:
                    self._parked[topic] = self._parked.get(topic, 0) + 1
                    self._parked_lock.notify_all()
            return parked

        def unpark(self, topic, future):
            super().unpark(topic, future)
            returned = time.time()
            with self._parked_lock:
                if self._parked.get(topic):
                    self._parked[topic] -= 1
                    if not self._parked[topic]:
                        del self._parked[topic]
                self.returned_at[topic] = returned

        def wait_parked(self, count: int, timeout: float) -> bool:
            """Block until `count` topics have a waiter (every agent sits in its long-poll)."""
            with self._parked_lock:
                return self._parked_lock.wait_for(lambda: len(self._parked) >= count, timeout)

        def parked(self) -> int:
            with self._parked_lock:
                return len(self._parked)

    return ParkedNotifier


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def measure(n: int, db_url: str, data_dir: str, options: dict, conn) -> None:
    """Run one N in this (fresh) process and send the result dict over `conn`."""
    try:
        conn.send(_measure(n, db_url, data_dir, options))
    except BaseException as error:  # noqa: BLE001 - report, the parent prints it
        import traceback

        conn.send({"n": n, "error": f"{error!r}\n{traceback.format_exc()}"})
    finally:
        conn.close()
        os._exit(0)  # handler threads are parked in long-polls of agents that are gone


def _measure(n: int, db_url: str, data_dir: str, options: dict) -> dict:
    from engine.config import Config
    from engine.guest import credentials, metadata as guest_metadata
    from engine.service import build_service
    from engine.store.models import Server
    from metadata_server import create_app
    from metadata_server.serving import listen

    raise_open_file_limit()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as `hearth server` does
    rng = random.Random(options["seed"])
    port = free_port()
    # No guest budget: the benchmark's agents ask in bursts no real server makes.
    config = Config.from_env({}, db_url=db_url, data_dir=data_dir, port=port, compute="deployed", guest_rate=0)
    service = build_service(config)
    notifier = parked_notifier_class()()
    service.runtime.notifier = notifier
    service.start()
    runtime, store = service.runtime, service.runtime.store
    app = create_app(config, service=service)
    httpd = listen("127.0.0.1", port, app)  # the listener `hearth server` uses
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{port}"

    # N servers, each with a credential (the secret is returned once, as to a real server).
    started = time.perf_counter()
    now = runtime.now()
    doc = {
        "os-collect-config": {"collectors": ["hearth"], "polling_interval": 30},
        "padding": "x" * options["payload_bytes"],
    }
    agents: list[tuple[str, str]] = []
    with store.session() as session:
        for i in range(n):
            server_id = str(uuid.uuid4())
            session.add(
                Server(
                    id=server_id,
                    name=f"bench-{i}",
                    project="admin",
                    driver="deployed",
                    status="ACTIVE",
                    metadata_doc=doc,
                    metadata_version=1,
                    created_at=now,
                )
            )
            agents.append(
                (
                    server_id,
                    credentials.issue(
                        session,
                        kind="server",
                        subject_id=server_id,
                        stack_id=None,
                        now=now,
                        ttl_seconds=config.credential_ttl,
                    ),
                )
            )
    ids = [a[0] for a in agents]
    versions = dict.fromkeys(ids, 1)
    setup_servers = time.perf_counter() - started

    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    overflows_before = listen_overflows()
    processes = max(1, min(options["processes"], n))
    workers = [
        ctx.Process(
            target=agent_process, args=(base_url, agents[i::processes], options["wait"], out, stop), daemon=True
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    errors: list[str] = []
    seen: dict[tuple[str, int], float] = {}

    def receive(timeout: float) -> tuple[str, str, object]:
        # Runs on the server process's main thread: one small unpickle per message (tens of
        # microseconds), negligible next to what the server does per agent.
        kind, server_id, value, moment = out.get(timeout=timeout)
        if kind == "seen":
            seen[(server_id, value)] = moment
        elif kind == "error":
            errors.append(f"{server_id[:8]}: {value}")
        return kind, server_id, value

    try:
        ready, deadline = 0, time.monotonic() + 120
        while ready < n:
            if receive(max(deadline - time.monotonic(), 0.001))[0] == "ready":
                ready += 1
        if not notifier.wait_parked(n, max(deadline - time.monotonic(), 1)):
            raise RuntimeError(f"only {notifier.parked()} of {n} agents parked within 120 s")
        setup_agents = time.perf_counter() - started - setup_servers
        overflows_after = listen_overflows()
        overflows = None if overflows_before is None or overflows_after is None else overflows_after - overflows_before

        # (a) burst: every server's metadata changes in one transaction.
        pids = [w.pid for w in workers if w.pid is not None]  # all: they are running
        cpu_before = (time.process_time(), cpu_seconds(pids))
        with store.session() as session:
            changes = {server_id: guest_metadata.push_metadata(session, server_id) for server_id in ids}
            t0 = time.time()
        committed = time.time()
        for server_id in ids:  # as the engine does: publish the new document with the change
            runtime.publish_server(server_id, changes[server_id])
        published = time.time()
        for server_id in ids:
            versions[server_id] += 1
        missing = {(s, versions[s]) for s in ids}
        deadline = time.monotonic() + 120
        while missing and time.monotonic() < deadline:
            try:
                _kind, server_id, value = receive(max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                break
            missing.discard((server_id, value))
        burst = sorted(seen[(s, versions[s])] - t0 for s in ids if (s, versions[s]) in seen)
        burst_cpu = (time.process_time() - cpu_before[0], cpu_seconds(pids) - cpu_before[1])
        burst_woke = sorted(
            notifier.returned_at[f"server:{s}"] - t0 for s in ids if f"server:{s}" in notifier.returned_at
        )
        burst_detail = {
            "commit": committed - t0,
            "publish_all": published - committed,
            "missing": len(missing),
            "server_cpu": burst_cpu[0],
            "agents_cpu": burst_cpu[1],
        }

        # (b) single: one random server changes while all N poll.
        single, single_woke, single_commit, lost = [], [], [], 0
        for _ in range(options["singles"]):
            if not notifier.wait_parked(n, 30):
                raise RuntimeError(f"only {notifier.parked()} of {n} agents parked again within 30 s")
            server_id = rng.choice(ids)
            with store.session() as session:
                change = guest_metadata.push_metadata(session, server_id)
                t0 = time.time()
            committed = time.time()
            runtime.publish_server(server_id, change)
            versions[server_id] += 1
            key, deadline = (server_id, versions[server_id]), time.monotonic() + 30
            while key not in seen and time.monotonic() < deadline:
                try:
                    receive(max(deadline - time.monotonic(), 0.001))
                except queue.Empty:
                    break
            if key not in seen:
                lost += 1
                continue
            single.append(seen[key] - t0)
            single_woke.append(notifier.returned_at[f"server:{server_id}"] - t0)
            single_commit.append(committed - t0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
        httpd.shutdown()
        service.stop()
        store.dispose()
    return {
        "n": n,
        "processes": processes,
        "setup_servers": setup_servers,
        "setup_agents": setup_agents,
        "listen_overflows": overflows,
        "burst": burst,
        "burst_woke": burst_woke,
        **{f"burst_{k}": v for k, v in burst_detail.items()},
        "single": sorted(single),
        "single_woke": sorted(single_woke),
        "single_commit": sorted(single_commit),
        "single_lost": lost,
        "errors": errors,
    }


# Orchestration and report ------------------------------------------------------------------
def summary(values: list[float]) -> str:
    if not values:
        return "      (no samples)"
    ms = [v * 1000 for v in values]
    return " ".join(f"{percentile(ms, p):8.1f}" for p in (0.5, 0.9, 0.99)) + f" {ms[-1]:8.1f}"


def report(result: dict, store_label: str) -> None:
    n = result["n"]
    if "error" in result:
        print(f"{store_label:<10} {n:>5}  FAILED: {result['error']}")
        return
    rows = [
        ("burst", "agent saw it", result["burst"]),
        ("", "server woke", result["burst_woke"]),
        ("single", "agent saw it", result["single"]),
        ("", "server woke", result["single_woke"]),
        ("", "commit done", result["single_commit"]),
    ]
    for scenario, what, values in rows:
        print(f"{store_label:<10} {n:>5}  {scenario:<7} {what:<13} {len(values):>7} {summary(values)}")
    errors = result["errors"]
    notes = [
        (
            f"burst: commit {result['burst_commit'] * 1000:.1f} ms, publishing all {n} "
            f"{result['burst_publish_all'] * 1000:.1f} ms, CPU until the last agent saw it: server "
            f"{result['burst_server_cpu']:.2f} s, agents {result['burst_agents_cpu']:.2f} s; "
            f"not seen {result['burst_missing']}"
        ),
        f"single: changes not seen {result['single_lost']}",
        (
            f"setup: {n} servers {result['setup_servers']:.1f} s, agents parked in {result['setup_agents']:.1f} s "
            f"({result['processes']} client processes; host-wide listen-queue overflows meanwhile: "
            f"{result['listen_overflows']})"
        ),
        f"agent errors: {len(errors)}" + (f" ({'; '.join(errors[:3])})" if errors else ""),
    ]
    for note in notes:
        print(f"{'':<18}{note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", action="append", help="number of agents (repeatable or comma list; default 100,1000)")
    parser.add_argument(
        "--db",
        default=None,
        help="store URL; default a SQLite file in a temp dir. A PostgreSQL "
        "URL names the server: a database of our own is created there and dropped",
    )
    parser.add_argument("--processes", type=int, default=4, help="client processes the agents are spread over")
    parser.add_argument("--singles", type=int, default=200, help="repetitions of the single-server change")
    parser.add_argument("--wait", type=int, default=55, help="the agents' long-poll wait= (seconds)")
    parser.add_argument("--payload-bytes", type=int, default=1024, help="padding in each metadata document")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    raise_open_file_limit()
    probe = args.db or "sqlite://"
    store_label = "postgresql" if probe.startswith("postgresql") else "sqlite"
    print("Hearth metadata propagation benchmark")
    for line in describe(probe):
        print("  " + line)
    print(
        f"  agents: {args.processes} client processes, one thread and requests.Session per agent; "
        f"wait={args.wait}; metadata ~{args.payload_bytes + 80} bytes"
    )
    print(
        f"\n{'store':<10} {'N':>5}  {'scenario':<7} {'measure':<13} {'samples':>7} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    ctx = mp.get_context("spawn")
    options = {
        "processes": args.processes,
        "singles": args.singles,
        "wait": args.wait,
        "payload_bytes": args.payload_bytes,
        "seed": args.seed,
    }
    for n in parse_n(args.n, DEFAULT_N):
        with temporary_store(args.db, f"prop{n}") as (db_url, data_dir):
            receiver, sender = ctx.Pipe(duplex=False)
            process = ctx.Process(target=measure, args=(n, db_url, data_dir, options, sender))
            process.start()
            sender.close()
            if receiver.poll(RUN_TIMEOUT):
                result = receiver.recv()
            else:
                result = {"n": n, "error": f"no result within {RUN_TIMEOUT:.0f} s"}
            process.join(15)
            if process.is_alive():
                process.kill()
                process.join()
        report(result, store_label)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
