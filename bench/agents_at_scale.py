"""Agents at scale: N simulated agents parked in long-polls on real `hearth server` processes on PostgreSQL.

Usage: python bench/agents_at_scale.py [--n 1000,10000] [--replicas 1|3] [--workers 1] [--processes 4]
       [--singles 200] [--wait 55] [--idle-seconds 30] [--db URL]

For each N: a fresh PostgreSQL database; N servers with one credential each are written there
through the engine library (bench/fleet.py); `--replicas` real `hearth server` processes
(bench/replica.py: the console script, uvicorn, the production shape; `--workers` each) share
it and the data dir. N agents are spread round-robin over the replicas and over `--processes`
client processes (so client CPU is not the server's). Each agent is an asyncio task on raw
streams holding one HTTP/1.1 keep-alive connection, doing what docs/guest-api.md says: `GET
/guest/v1/servers/{id}/metadata`, then `?since=V&wait=55` with `Authorization: Bearer`, again
as soon as it has an answer. It reconnects only when the server closes the connection.

Changes are committed by this (the benchmark) process through the engine library on the same
database (`engine.guest.metadata.push_metadata`, which bumps the version) and published through
its own PgBridge, as another replica's engine would: every agent is on a replica other than the
one that committed. t0 is read just before the commit; an agent reports time.time() after
parsing the 200 that carries the new version (same host clock).

Reported, with the load average next to each figure:
  connect   time until all N have their first document and have sent their long-poll
  parked    server RSS and threads (each replica's process tree) while all N are parked
  idle CPU  server CPU (share of one core, /proc/PID/stat) over --idle-seconds with all N parked,
            right after they connected; and at the end over one whole wait period (steady: the
            connect phase long past, every agent re-polling once in the window)
  re-polls  when the agents came back over one wait period after the mass connect (histogram),
            and TCP connections the clients opened in that cycle (keep-alive: 0 expected); with
            --spread the first poll after a connect asks a random share of the wait, as the real
            agent's does, else all come back in a wave
  single    one random agent's server changes, --singles times: latency p50/p99
  burst     all N servers change in one transaction: latency p50/p99/max

Agents are "parked" when their long-poll request has been written; a change committed before
the server registered it is still seen (the server compares versions first), so the figures
include that time rather than miss a change. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import queue
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from machine import describe, parse_n, percentile, raise_open_file_limit
from stores import temporary_store

DEFAULT_N = (1000,)
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# Agents (client processes) -------------------------------------------------------------------
async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body = b""
    return status, headers, body


async def agent(index, port, server_id, credential, wait, events, spread=False) -> None:
    import json

    from agent.collectors.source import spread_wait

    reader = writer = None
    version = None
    first = True  # the first long-poll after a (re)connect: spread, as the real agent does
    path = f"/guest/v1/servers/{server_id}/metadata"
    auth = f"Authorization: Bearer {credential}\r\n"
    while True:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
                events.append(("conn", index, None, time.time()))
                first = True
            asked = wait
            if version is not None and first and spread:
                asked = spread_wait(wait, random.random)
            if version is not None:
                first = False
            target = path if version is None else f"{path}?since={version}&wait={asked:g}"
            writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n".encode())
            events.append(("sent", index, version, time.time()))
            assert reader is not None  # connected just above when it was not
            status, headers, body = await read_response(reader)
            if status == 200:
                new = json.loads(body)["version"]
                seen = time.time()
                if version is None:
                    events.append(("ready", index, new, seen))
                elif new != version:
                    events.append(("seen", index, new, seen))
                version = new
            elif status != 304:
                events.append(("error", index, f"HTTP {status}", time.time()))
                await asyncio.sleep(0.5)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            events.append(("error", index, repr(error)[:200], time.time()))
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.5 + random.random())


def agent_process(agents: list[tuple[int, int, str, str]], wait: int, out, stop, spread: bool = False) -> None:
    """Run these agents (index, port, server id, credential) in one event loop; send events in batches."""
    raise_open_file_limit()

    async def main() -> None:
        events: list = []
        tasks = set()  # the loop keeps only weak references to tasks
        for index, port, server_id, credential in agents:
            tasks.add(asyncio.create_task(agent(index, port, server_id, credential, wait, events, spread)))
            if index % 200 == 0:
                await asyncio.sleep(0)  # let the first ones connect while the rest are made
        parent = os.getppid()
        while not stop.is_set() and os.getppid() == parent:
            if events:
                batch, events[:] = list(events), []
                out.put(batch)
            await asyncio.sleep(0.005)

    asyncio.run(main())
    os._exit(0)


# The benchmark process -------------------------------------------------------------------------
class Fleet:
    """What the agents reported, per agent index (filled by a thread reading the queue)."""

    def __init__(self, n: int, out) -> None:
        self.n, self.out = n, out
        self.lock = threading.Condition()
        self.version = [None] * n  # newest version the agent has
        self.sent_since = [None] * n  # `since` of its outstanding request (None: first GET / none)
        self.outstanding = [False] * n
        self.seen: dict[tuple[int, int], float] = {}
        self.sent_times: list[float] = []
        self.connections = 0
        self.errors: list[str] = []
        self.ready = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                batch = self.out.get(timeout=1)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            with self.lock:
                for kind, index, value, moment in batch:
                    if kind == "conn":
                        self.connections += 1
                    elif kind == "sent":
                        self.outstanding[index] = value is not None
                        self.sent_since[index] = value
                        if value is not None:
                            self.sent_times.append(moment)
                    elif kind == "ready":
                        self.ready += 1
                        self.version[index] = value
                    elif kind == "seen":
                        self.version[index] = value
                        self.seen[(index, value)] = moment
                    elif kind == "error":
                        self.errors.append(f"{index}: {value}")
                self.lock.notify_all()

    def parked(self) -> int:
        return sum(
            1 for i in range(self.n) if self.outstanding[i] and self.sent_since[i] == self.version[i] is not None
        )

    def wait_for(self, predicate, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(predicate, timeout)


def latencies(fleet: Fleet, targets: dict[int, int], t0: float, timeout: float) -> tuple[list[float], int]:
    """Wait until each agent index has seen its target version; (sorted latencies, missing)."""
    keys = list(targets.items())
    fleet.wait_for(lambda: all(k in fleet.seen for k in keys), timeout)
    with fleet.lock:
        found = sorted(fleet.seen[k] - t0 for k in keys if k in fleet.seen)
    return found, len(keys) - len(found)


def ms(values: list[float]) -> str:
    if not values:
        return "(no samples)"
    v = [x * 1000 for x in values]
    return f"p50 {percentile(v, 0.5):.1f} ms, p99 {percentile(v, 0.99):.1f} ms, max {v[-1]:.1f} ms ({len(v)} samples)"


def run(n: int, db_url: str, data_dir: str, args) -> None:
    from fleet import make_servers, open_service
    from replica import cpu_seconds, cpu_share, rss_and_threads, start_replicas

    say = lambda text: print(f"  [{load_now()}] {text}", flush=True)  # noqa: E731
    service = open_service(db_url, data_dir)
    runtime = service.runtime
    if service.bridge is not None:
        service.bridge.start()
        bridge = "PgBridge (LISTEN/NOTIFY)"
    else:
        bridge = "none (no PgBridge on this store: changes reach no other process)"
    started = time.monotonic()
    agents = make_servers(service, n, args.payload_bytes)
    say(f"{n} servers and credentials written in {time.monotonic() - started:.1f} s; bridge: {bridge}")
    extra = ["--workers", str(args.workers)] if args.workers != 1 else []
    replicas = start_replicas(args.replicas, db_url, data_dir, extra)
    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    workers = []
    try:
        rss0, threads0 = rss_and_threads([p for r in replicas for p in r.pids()])
        say(
            f"{len(replicas)} hearth server process(es) ready (--workers {args.workers}); before agents: "
            f"RSS {rss0 / 2**20:.0f} MiB, {threads0} threads"
        )
        fleet = Fleet(n, out)
        assignment = [(i, replicas[i % len(replicas)].port, a.server_id, a.credential) for i, a in enumerate(agents)]
        processes = max(1, min(args.processes, n))
        started = time.monotonic()
        workers = [
            ctx.Process(
                target=agent_process, args=(assignment[i::processes], args.wait, out, stop, args.spread), daemon=True
            )
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        if not fleet.wait_for(lambda: fleet.parked() >= n, 300):
            raise RuntimeError(f"only {fleet.parked()} of {n} agents parked within 300 s ({len(fleet.errors)} errors)")
        parked_at = time.time()
        connected = time.monotonic() - started
        with fleet.lock:
            connections_at_park = fleet.connections
            first_polls = len(fleet.sent_times)
        pids = [p for r in replicas for p in r.pids()]
        rss, threads = rss_and_threads(pids)
        say(
            f"connect: all {n} parked in {connected:.1f} s ({processes} client processes; "
            f"{connections_at_park} TCP connections opened, {len(fleet.errors)} errors)"
        )
        say(f"parked: server RSS {rss / 2**20:.0f} MiB, {threads} threads (all replicas' processes)")
        share = cpu_share(pids, args.idle_seconds)
        say(f"idle: server CPU {share * 100:.1f} % of a core over {args.idle_seconds:.0f} s with {n} parked")

        # Re-polls over the rest of one wait period after the mass connect.
        window_end = parked_at + args.wait + 5
        time.sleep(max(0.0, window_end - time.time()))
        with fleet.lock:
            repolls = sorted(t - parked_at for t in fleet.sent_times[first_polls:])
            new_connections = fleet.connections - connections_at_park
        say(
            f"re-polls in the {args.wait + 5:.0f} s after the mass connect: {len(repolls)} "
            f"(expected about {n}); TCP connections opened meanwhile: {new_connections} "
            f"({new_connections / max(1, len(repolls)):.3f} per poll cycle)"
        )
        print(histogram(repolls, args.wait + 5), flush=True)

        # Single changes.
        rng = random.Random(args.seed)
        singles, lost, single_at = [], 0, []
        for index in rng.sample(range(n), min(args.singles, n)):
            fleet.wait_for(lambda i=index: fleet.outstanding[i] and fleet.sent_since[i] == fleet.version[i], 30)
            server_id = agents[index].server_id
            with runtime.store.session() as session:
                change = pushed(session, server_id)
                t0 = time.time()
            runtime.publish_server(server_id, change)
            found, missing = latencies(fleet, {index: change[0]}, t0, 30)
            single_at += [(took, t0) for took in found]
            singles += found
            lost += missing
        slowest = sorted(single_at, reverse=True)[:3]
        singles.sort()
        say(f"single: {ms(singles)}; not seen within 30 s: {lost}")
        if slowest and slowest[0][0] > 0.05:
            say("slowest singles: " + ", ".join(f"{took * 1000:.0f} ms at {when:.3f}" for took, when in slowest))

        # Burst: every server in one transaction.
        fleet.wait_for(lambda: fleet.parked() >= n, 120)
        burst_cpu = cpu_seconds(pids)
        with runtime.store.session() as session:
            changes = {i: pushed(session, a.server_id) for i, a in enumerate(agents)}
            t0 = time.time()
        committed = time.time()
        for i, agent in enumerate(agents):
            runtime.publish_server(agent.server_id, changes[i])
        published = time.time()
        burst, missing = latencies(fleet, {i: c[0] for i, c in changes.items()}, t0, 120)
        fleet.wait_for(lambda: fleet.parked() >= n, 120)  # their re-polls parked too
        burst_cpu = cpu_seconds(pids) - burst_cpu
        say(
            f"burst: {ms(burst)}; not seen within 120 s: {missing} (commit {(committed - t0) * 1000:.0f} ms, "
            f"publishing {n} {(published - committed) * 1000:.0f} ms; server CPU {burst_cpu:.2f} s, "
            f"{burst_cpu / n * 1000:.2f} ms per answer and re-poll)"
        )
        if len(replicas) > 1:
            for r, replica in enumerate(replicas):
                own = sorted(
                    fleet.seen[(i, c[0])] - t0
                    for i, c in changes.items()
                    if i % len(replicas) == r and (i, c[0]) in fleet.seen
                )
                say(f"burst, agents on {replica.name}: {ms(own)}")
        # Steady state: every agent parked again, re-polling as its waits run out, measured over
        # a whole wait period so that every agent's re-poll is in it once (the connect phase is
        # long past: this is the idle cost an operator sees, re-polls included).
        fleet.wait_for(lambda: fleet.parked() >= n, 120)
        window = args.steady_seconds or args.wait + 5
        with fleet.lock:
            before = len(fleet.sent_times)
        share = cpu_share(pids, window)
        with fleet.lock:
            repolled = len(fleet.sent_times) - before
        say(
            f"steady: server CPU {share * 100:.1f} % of a core over {window:.0f} s with {n} parked "
            f"({repolled} re-polls, {repolled / window:.0f}/s, in that window)"
        )
        if fleet.errors:
            say(f"agent errors: {len(fleet.errors)} ({'; '.join(fleet.errors[:3])})")
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
        for replica in replicas:
            replica.stop()
        if service.bridge is not None:
            service.bridge.stop()
        runtime.store.dispose()


def pushed(session, server_id: str) -> tuple[int, dict]:
    """The server's new (version, document) after a metadata push (it exists: we made it)."""
    from engine.guest import metadata as guest_metadata

    change = guest_metadata.push_metadata(session, server_id)
    assert change is not None, server_id
    return change


def histogram(times: list[float], span: float, bins: int = 12) -> str:
    if not times:
        return "    (no re-polls)"
    width = span / bins
    counts = [0] * bins
    for t in times:
        counts[min(bins - 1, max(0, int(t / width)))] += 1
    top = max(counts)
    lines = []
    for b, count in enumerate(counts):
        bar = "#" * round(40 * count / top) if top else ""
        lines.append(f"    {b * width:5.1f}-{(b + 1) * width:5.1f} s {count:>7} {bar}")
    per_second: dict[int, int] = {}
    for t in times:
        per_second[int(t)] = per_second.get(int(t), 0) + 1
    peak = max(per_second.values())
    lines.append(f"    peak {peak} re-polls in one second; {len(times) / span:.0f}/s on average over the window")
    return "\n".join(lines)


def load_now() -> str:
    return "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", action="append", help="agents (repeatable or comma list; default 1000)")
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL URL naming the server (a database is made there)")
    parser.add_argument("--replicas", type=int, default=1, help="hearth server processes on the one database")
    parser.add_argument("--workers", type=int, default=1, help="hearth server --workers of each replica")
    parser.add_argument("--processes", type=int, default=4, help="client processes the agents are spread over")
    parser.add_argument("--singles", type=int, default=200, help="single-server changes")
    parser.add_argument("--wait", type=int, default=55, help="the agents' long-poll wait= (seconds)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="window of the idle CPU figure")
    parser.add_argument(
        "--steady-seconds", type=float, default=0, help="window of the steady CPU figure (default: --wait + 5)"
    )
    parser.add_argument(
        "--spread",
        action="store_true",
        help="the first long-poll after a (re)connect waits wait x uniform(0.05, 1), as the real agent's does "
        "(agent/collectors/source.py: spread_wait); default: every poll asks the full wait",
    )
    parser.add_argument("--payload-bytes", type=int, default=1024, help="padding in each metadata document")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    limit = raise_open_file_limit()
    print("Hearth agents at scale (real hearth server processes, PostgreSQL)")
    for line in describe(args.db):
        print("  " + line)
    sizes = parse_n(args.n, DEFAULT_N)
    need = max(sizes) // max(1, args.processes) + 200
    print(
        f"  open files: soft limit {limit} in this process and each client process (a client process with "
        f"{need} agents needs about {need}; each server process needs about N/replicas + 200)"
    )
    print(
        f"  agents: {args.processes} client processes, asyncio streams, keep-alive; wait={args.wait}"
        f"{' (first poll after a connect spread)' if args.spread else ''}; "
        f"replicas {args.replicas} x --workers {args.workers}"
    )
    for n in sizes:
        print(f"\nN = {n}", flush=True)
        with temporary_store(args.db, f"scale{n}") as (db_url, data_dir):
            run(n, db_url, data_dir, args)


if __name__ == "__main__":
    main()
