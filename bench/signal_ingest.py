"""Signal ingest: deployment signals accepted and stored per second by real `hearth server` processes on PostgreSQL.

Usage: python bench/signal_ingest.py [--replicas 1,3] [--workers 1] [--signals 20000] [--clients 256]
       [--processes 2] [--profile 300] [--db URL]

For each replica count: a fresh PostgreSQL database; --signals software deployments
IN_PROGRESS on --signals/10 servers (bench/fleet.py: the first made through the engine's
software service as Heat's API makes one, the rest copies of its rows, then each server's
metadata rebuilt), each server with its credential. `--replicas` real `hearth server` processes
(bench/replica.py) share the database. --clients keep-alive HTTP/1.1 connections (asyncio raw
streams in --processes client processes, spread round-robin over the replicas) each send their
share of the signals one after another, as the agent's outbox does: `POST
/guest/v1/deployments/{id}/signal` with the server's bearer credential and a hook's result.

Reported: signals answered 200 per second (first request sent to last answer), other answers,
latency p50/p99, the deployments COMPLETE in the store afterwards (stored), and the server
processes' CPU seconds per signal (/proc). With --profile K, K more signals are stored in this
process as the ASGI front stores them (GuestService.signal_deployments, batches of 64, no HTTP)
under cProfile, and the top functions by cumulative and by own time are printed.
Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from machine import describe, parse_n, percentile, raise_open_file_limit
from stores import temporary_store

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULT = {"deploy_stdout": "ok\n", "deploy_stderr": "", "deploy_status_code": 0, "result": "ok"}


# Clients -------------------------------------------------------------------------------------
async def client(port: int, work: list[tuple[str, str]], results: list) -> None:
    from agents_at_scale import read_response

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps(RESULT).encode()
    for credential, config_id in work:
        started = time.time()
        writer.write(
            (
                f"POST /guest/v1/deployments/{config_id}/signal HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {credential}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        status, headers, _ = await read_response(reader)
        results.append((status, started, time.time()))
        if headers.get("connection", "").lower() == "close":
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def client_process(shares: list[tuple[int, list[tuple[str, str]]]], go, out) -> None:
    raise_open_file_limit()

    async def main() -> list:
        results: list = []
        go.wait()
        await asyncio.gather(*(client(port, work, results) for port, work in shares), return_exceptions=False)
        return results

    out.put(asyncio.run(main()))


# One run ----------------------------------------------------------------------------------------
def run(replica_count: int, db_url: str, data_dir: str, args) -> None:
    from sqlalchemy import func, select

    from engine.store.models import Deployment
    from fleet import make_deployments, make_servers, open_service
    from replica import cpu_seconds, start_replicas

    service = open_service(db_url, data_dir)
    started = time.monotonic()
    servers = make_servers(service, max(1, args.signals // 10))
    deployments = make_deployments(service, servers, 10)[: args.signals]
    print(f"  {len(deployments)} deployments IN_PROGRESS made in {time.monotonic() - started:.1f} s", flush=True)
    workers = ("--workers", str(args.workers)) if args.workers > 1 else ()
    replicas = start_replicas(replica_count, db_url, data_dir, extra_args=workers)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    try:
        work = [(agent.credential, config_id) for agent, config_id in deployments]
        shares = [(replicas[c % replica_count].port, work[c :: args.clients]) for c in range(args.clients)]
        procs = [
            ctx.Process(target=client_process, args=(shares[p :: args.processes], go, out), daemon=True)
            for p in range(args.processes)
        ]
        for proc in procs:
            proc.start()
        time.sleep(1.0)  # the client processes import and connect before the start signal
        pids = [p for r in replicas for p in r.pids()]
        cpu_before, load = cpu_seconds(pids), os.getloadavg()[0]
        go.set()
        results = [r for _ in procs for r in out.get(timeout=600)]
        cpu = cpu_seconds(pids) - cpu_before
        for proc in procs:
            proc.join(10)
        with service.runtime.store.session() as session:
            stored = session.scalar(select(func.count()).select_from(Deployment).where(Deployment.status == "COMPLETE"))
    finally:
        for replica in replicas:
            replica.stop()
    ok = [r for r in results if r[0] == 200]
    other: dict[int, int] = {}
    for status, _, _ in results:
        if status != 200:
            other[status] = other.get(status, 0) + 1
    span = max(r[2] for r in results) - min(r[1] for r in results)
    latency = sorted((r[2] - r[1]) * 1000 for r in ok)
    print(
        f"  replicas {replica_count} (workers {args.workers}): {len(ok) / span:,.0f} signals/s accepted ({len(ok)} in {span:.1f} s; "
        f"other answers {other or 'none'}); stored COMPLETE {stored}; latency p50 "
        f"{percentile(latency, 0.5):.1f} ms, p99 {percentile(latency, 0.99):.1f} ms; server CPU "
        f"{cpu / max(1, len(ok)) * 1000:.2f} ms per signal ({cpu:.1f} s in all); load at start {load:.2f}",
        flush=True,
    )
    service.runtime.store.dispose()


def profile(db_url: str, data_dir: str, count: int, top: int) -> None:
    """`count` signals through the app in this process under cProfile: the server's own cost."""
    import cProfile
    import pstats

    from fleet import make_deployments, make_servers, open_service

    service = open_service(db_url, data_dir)
    servers = make_servers(service, max(1, count // 10))
    deployments = make_deployments(service, servers, 10)[:count]
    service.start()
    guest = service.guest

    def send(pairs) -> None:
        # As the ASGI front stores them (metadata_server/ingest.py): batches of what arrived together.
        for start in range(0, len(pairs), 64):
            answers = guest.signal_deployments(
                [(agent.credential, config_id, RESULT) for agent, config_id in pairs[start : start + 64]]
            )
            assert all(answers), answers

    send(deployments[:20])  # warm up: imports, caches, pool
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    send(deployments[20:])
    profiler.disable()
    each = (time.perf_counter() - started) / max(1, len(deployments) - 20) * 1000
    service.stop()
    service.runtime.store.dispose()
    print(
        f"\n  profile: {len(deployments) - 20} signals stored in process in batches of 64 (no HTTP), "
        f"{each:.2f} ms each under cProfile"
    )
    stats = pstats.Stats(profiler)
    width = len(deployments) - 20
    root = str(Path(__file__).resolve().parent.parent)
    for order, title in (
        ("cumulative", "Hearth's own functions by cumulative time"),
        ("tottime", "all functions by own time"),
    ):
        stats.sort_stats(order)
        print(f"  top {top}, {title}:")
        shown = 0
        for func in stats.fcn_list:  # type: ignore[attr-defined]
            if order == "cumulative" and not func[0].startswith((f"{root}/engine", f"{root}/metadata_server")):
                continue
            calls, _, own, cumulative, _ = stats.stats[func]  # type: ignore[attr-defined]
            print(
                f"    {cumulative / width * 1000:7.3f} ms cum {own / width * 1000:7.3f} ms own "
                f"{calls / width:6.1f} calls/signal  {func[0].removeprefix(root + '/')}:{func[1]}({func[2]})"
            )
            shown += 1
            if shown == top:
                break


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", action="append", help="replica counts (comma list; default 1,3)")
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL URL naming the server (a database is made there)")
    parser.add_argument("--signals", type=int, default=20000, help="signals sent per run (one deployment each)")
    parser.add_argument(
        "--clients", type=int, default=256, help="concurrent keep-alive connections (agents signalling at once)"
    )
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per replica (hearth server --workers)")
    parser.add_argument("--profile", type=int, default=300, help="signals profiled in process (0: none)")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    raise_open_file_limit()
    print("Hearth deployment signal ingest (real hearth server processes, PostgreSQL)")
    for line in describe(args.db):
        print("  " + line)
    print(f"  clients: {args.clients} keep-alive connections in {args.processes} processes; {args.signals} signals\n")
    for count in parse_n(args.replicas, (1, 3)):
        with temporary_store(args.db, f"signal{count}") as (db_url, data_dir):
            run(count, db_url, data_dir, args)
    if args.profile:
        with temporary_store(args.db, "profile") as (db_url, data_dir):
            profile(db_url, data_dir, args.profile + 20, args.top)


if __name__ == "__main__":
    main()
