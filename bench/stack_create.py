"""Stack create/delete benchmark: N `OS::Heat::None` resources, fan-out and chain, engine and HTTP.

Usage: python bench/stack_create.py [--n 100,1000] [--db URL] [--repeat 3] [--no-http]

Through the engine library (`engine.service.build_service`, `service.stacks.create_stack`,
`service.stacks.delete_stack`) each stack is created --repeat times, and once more through the
HTTP API of a real server (the Flask app on werkzeug, 127.0.0.1). Shapes:

  fanout  N independent resources
  chain   r1 depends_on r0, r2 depends_on r1, ...

What is timed (all on the host clock; the engine stamps events with the same clock):

  total     from the create request to the stack's final CREATE_COMPLETE event (its created_at,
            stamped by the scheduler when it finishes the stack)
  request   the create_stack call: parse + validate + storing the stack, N resource rows and an event
  parse     the parse + validate part of it, timed on its own with the same calls create_stack makes
  schedule  from create_stack returning to the final event
  seen      when a waiter saw the stack leave IN_PROGRESS (woken by the engine's notifier, then
            one SELECT of the stack row: no fixed-interval polling in the engine runs)
  delete    from the delete request to the final DELETE_COMPLETE event

Through HTTP, completion is seen by polling `GET .../stacks/{name}/{id}?resolve_outputs=false`
every 20 ms, as a client would; the final event time is read from the store as well.
Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from machine import describe, free_port, parse_n
from stores import temporary_store

DEFAULT_N = (100, 1000)
SHAPES = ("fanout", "chain")
SETTLE_TIMEOUT = 120.0  # seconds one operation may take before the run is reported as stuck


def template(n: int, shape: str) -> str:
    lines = ["heat_template_version: 2018-08-31", f"description: {n} OS::Heat::None resources ({shape})", "resources:"]
    for i in range(n):
        lines += [f"  r{i}:", "    type: OS::Heat::None"]
        if shape == "chain" and i:
            lines.append(f"    depends_on: r{i - 1}")
    return "\n".join(lines) + "\n"


# Engine ------------------------------------------------------------------------------------
class Engine:
    """One Hearth engine on the benchmark's store, and what the measurements read from it."""

    def __init__(self, db_url: str, data_dir: str, port: int):
        from engine.config import Config
        from engine.service import build_service

        # No request budget: the poll loop below asks far faster than a person would.
        # No resource limits: Heat's default of 1,000 per stack would refuse the 10,000 of issue 14.
        self.config = Config.from_env(
            {},
            db_url=db_url,
            data_dir=data_dir,
            compute="deployed",
            port=port,
            api_rate=0,
            max_resources_per_stack=-1,
            max_resources_per_tree=-1,
        )
        self.service = build_service(self.config)
        self.service.start()
        self.runtime = self.service.runtime

    def stop(self) -> None:
        self.service.stop()
        self.runtime.store.dispose()

    def status(self, stack_id: str) -> tuple[str, str]:
        from sqlalchemy import select

        from engine.store.models import Stack

        with self.runtime.store.session() as session:
            return session.execute(select(Stack.action, Stack.status).where(Stack.id == stack_id)).one()

    def wait_settled(self, stack_id: str, action: str) -> str:
        """Block until the stack's `action` is no longer IN_PROGRESS; woken by the engine's notifier."""

        def settled() -> bool:
            current, status = self.status(stack_id)
            return current == action and status != "IN_PROGRESS"

        if not self.runtime.notifier.wait("stack:" + stack_id, settled, SETTLE_TIMEOUT):
            return "STUCK"
        return "_".join(self.status(stack_id))

    def final_event_at(self, stack_id: str, action: str):
        """created_at of the stack's own last event for `action` (what the scheduler stamped)."""
        from sqlalchemy import select

        from engine.store.models import Event

        with self.runtime.store.session() as session:
            return session.scalar(
                select(Event.created_at)
                .where(
                    Event.stack_id == stack_id,
                    Event.resource_type == "OS::Heat::Stack",
                    Event.action == action,
                    Event.status != "IN_PROGRESS",
                )
                .order_by(Event.seq.desc())
                .limit(1)
            )

    def parse_seconds(self, body: dict) -> float:
        # The private steps create_stack runs before it writes anything, called directly so the
        # split needs no patching of the engine.
        started = time.perf_counter()
        definition = self.service.definitions.build(body)
        self.service.definitions.validate_resources(definition)
        definition.template.dependencies()
        return time.perf_counter() - started


def run_engine(engine: Engine, n: int, shape: str, name: str) -> dict:
    service, runtime = engine.service, engine.runtime
    body = {"stack_name": name, "template": template(n, shape), "template_name": f"{name}.yaml"}
    parse = engine.parse_seconds(body)

    start_at, started = runtime.now(), time.perf_counter()
    stack_id = service.stacks.create_stack("admin", body)["id"]
    request = time.perf_counter() - started
    returned_at = runtime.now()
    status = engine.wait_settled(stack_id, "CREATE")
    seen = time.perf_counter() - started
    final = engine.final_event_at(stack_id, "CREATE")
    total = (final - start_at).total_seconds() if final else float("nan")
    schedule = (final - returned_at).total_seconds() if final else float("nan")

    delete_at = runtime.now()
    service.stacks.delete_stack("admin", stack_id)
    delete_status = engine.wait_settled(stack_id, "DELETE")
    final = engine.final_event_at(stack_id, "DELETE")
    delete = (final - delete_at).total_seconds() if final else float("nan")
    return {
        "status": status,
        "delete_status": delete_status,
        "total": total,
        "request": request,
        "parse": parse,
        "schedule": schedule,
        "seen": seen,
        "delete": delete,
    }


# HTTP --------------------------------------------------------------------------------------
BENCH_TOKEN = "bench-admin-token"  # registered as the cloud admin's token of this throw-away server


def start_http(engine: Engine):
    from werkzeug.serving import make_server

    from metadata_server import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as `hearth server` does
    app = create_app(engine.config, service=engine.service, admin_token=BENCH_TOKEN)
    httpd = make_server("127.0.0.1", engine.config.port, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def run_http(engine: Engine, base: str, n: int, shape: str, name: str) -> dict:
    import requests

    http = requests.Session()
    http.headers["X-Auth-Token"] = BENCH_TOKEN
    api = f"{base}/v1/admin"
    body = {"stack_name": name, "template": template(n, shape), "template_name": f"{name}.yaml"}

    def poll(stack_id: str, action: str) -> str:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            stack = http.get(f"{api}/stacks/{name}/{stack_id}", params={"resolve_outputs": "false"}, timeout=30).json()[
                "stack"
            ]
            if stack["stack_status"] != f"{action}_IN_PROGRESS":
                return stack["stack_status"]
            time.sleep(0.02)
        return "STUCK"

    start_at, started = engine.runtime.now(), time.perf_counter()
    response = http.post(f"{api}/stacks", json=body, timeout=60)
    request = time.perf_counter() - started
    response.raise_for_status()
    stack_id = response.json()["stack"]["id"]
    status = poll(stack_id, "CREATE")
    seen = time.perf_counter() - started
    final = engine.final_event_at(stack_id, "CREATE")
    total = (final - start_at).total_seconds() if final else float("nan")

    delete_at, started = engine.runtime.now(), time.perf_counter()
    http.delete(f"{api}/stacks/{name}/{stack_id}", timeout=60).raise_for_status()
    delete_status = poll(stack_id, "DELETE")
    delete_seen = time.perf_counter() - started
    final = engine.final_event_at(stack_id, "DELETE")
    delete = (final - delete_at).total_seconds() if final else float("nan")
    http.close()
    return {
        "status": status,
        "delete_status": delete_status,
        "total": total,
        "request": request,
        "seen": seen,
        "delete": delete,
        "delete_seen": delete_seen,
    }


# Report ------------------------------------------------------------------------------------
def ms(value: float) -> str:
    return f"{value * 1000:8.0f}" if value == value else f"{'n/a':>8}"


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", action="append", help="resources per stack (repeatable or comma list; default 100,1000)")
    parser.add_argument(
        "--db",
        default=None,
        help="store URL; default a SQLite file in a temp dir. A PostgreSQL "
        "URL names the server: a database of our own is created there and dropped",
    )
    parser.add_argument("--shape", action="append", choices=SHAPES, help="fanout and/or chain (default both)")
    parser.add_argument("--repeat", type=int, default=3, help="engine runs per (shape, N); the median is shown")
    parser.add_argument("--no-http", action="store_true", help="skip the run through the HTTP API")
    args = parser.parse_args(argv)
    shapes = args.shape or list(SHAPES)
    sizes = parse_n(args.n, DEFAULT_N)
    store_label = "postgresql" if (args.db or "").startswith("postgresql") else "sqlite"

    print("Hearth stack create/delete benchmark (OS::Heat::None resources)")
    for line in describe(args.db or "sqlite://"):
        print("  " + line)
    print(f"  engine runs: median of {args.repeat}; all times in ms\n")
    header = (
        f"{'store':<10} {'path':<6} {'shape':<6} {'N':>5} {'total':>8} {'request':>8} {'parse':>8} "
        f"{'schedule':>8} {'seen':>8} {'delete':>8}  status"
    )
    print(header)
    with temporary_store(args.db, "stack") as (db_url, data_dir):
        engine = Engine(db_url, data_dir, free_port())
        try:
            serial = 0
            for n in sizes:
                for shape in shapes:
                    runs = []
                    for _ in range(args.repeat):
                        serial += 1
                        runs.append(run_engine(engine, n, shape, f"bench-{shape}-{n}-{serial}"))
                    statuses = sorted({f"{r['status']}/{r['delete_status']}" for r in runs})
                    totals = sorted(r["total"] for r in runs)
                    print(
                        f"{store_label:<10} {'engine':<6} {shape:<6} {n:>5} {ms(median(runs, 'total'))} "
                        f"{ms(median(runs, 'request'))} {ms(median(runs, 'parse'))} "
                        f"{ms(median(runs, 'schedule'))} "
                        f"{ms(median(runs, 'seen'))} {ms(median(runs, 'delete'))}  {','.join(statuses)} "
                        f"(total {totals[0] * 1000:.0f}-{totals[-1] * 1000:.0f})"
                    )
                    sys.stdout.flush()
            if not args.no_http:
                httpd = start_http(engine)
                base = f"http://127.0.0.1:{engine.config.port}"
                try:
                    for n in sizes:
                        for shape in shapes:
                            serial += 1
                            r = run_http(engine, base, n, shape, f"bench-http-{shape}-{n}-{serial}")
                            print(
                                f"{store_label:<10} {'http':<6} {shape:<6} {n:>5} {ms(r['total'])} "
                                f"{ms(r['request'])} {'':>8} {'':>8} {ms(r['seen'])} "
                                f"{ms(r['delete'])}  {r['status']}/{r['delete_status']} "
                                f"(delete seen {r['delete_seen'] * 1000:.0f})"
                            )
                            sys.stdout.flush()
                finally:
                    httpd.shutdown()
                    httpd.server_close()
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
