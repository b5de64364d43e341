"""SQL work per resource action: statements and round trips counted on the real engine's SQLAlchemy engine.

Usage: python bench/sql_counts.py [--db URL ...] [--n 1000] [--signals 50] [--waiters 50]

One process runs a real Hearth engine and the real HTTP app (metadata_server.serving.listen on
127.0.0.1) on a throw-away store, with a `before_cursor_execute` listener on the store's
SQLAlchemy engine. Each action is counted from its start until the store has been quiet for
QUIET seconds (the scheduler's last flush comes after the stack's status is visible):

  create      one stack of --n `OS::Heat::None` (fan-out) through the engine library, until
              CREATE_COMPLETE; then its delete. Per resource.
  signal      a deployment signal through the HTTP API (POST /guest/v1/deployments/{id}/signal
              with the server's bearer credential, keep-alive session), --signals times, each
              a different IN_PROGRESS deployment (bench/fleet.py). Per signal.
  poll        a metadata request that finds nothing new and does not wait (`?since=V&wait=0`,
              answered 304): the fixed cost of every long-poll cycle. Per request.
  idle wake   --waiters agents parked in `?since=V&wait=60`; each topic is published as a
              replica's bridge delivers it (no document, version hint = V, the version the
              waiter has). Nothing is new: target 0. Per wake-up.
  new wake    the same waiters after their servers' metadata changed (one transaction; not
              counted) and was published with the new version hint only (as from another
              replica), then as this process publishes it (with the document). Counted until
              every waiter has its answer. Per wake-up.

Counted: *statements* (each parameter set of an executemany is one), *executes* (cursor calls:
one round trip each), *transactions* (commits and rollbacks: one round trip each; on
PostgreSQL psycopg also sends BEGIN before a transaction's first statement, one more), and
*checkouts* (each a `SELECT 1` pre-ping round trip on PostgreSQL, which SQLAlchemy sends
without the cursor events). Round trips = executes + commits + rollbacks, + BEGINs and
pre-pings on PostgreSQL. Statements by background threads (the scheduler's sweeps) land in the
same window; the idle baseline line shows how many there are when nothing happens.
Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import collections
import logging
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from machine import describe, free_port, raise_open_file_limit
from stores import is_postgres, temporary_store

DEFAULT_DBS = ("sqlite", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
QUIET = 0.5  # seconds without a statement that end a counting window
BENCH_TOKEN = "bench-admin-token"


class Counter:
    """Cursor executes, statements, transactions and pool checkouts of one SQLAlchemy engine."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self._lock = threading.Lock()
        self.reset()
        event.listen(engine, "before_cursor_execute", self._execute)
        event.listen(engine, "commit", lambda conn: self._bump("commits"))
        event.listen(engine, "rollback", lambda conn: self._bump("rollbacks"))
        event.listen(engine, "begin", lambda conn: self._bump("begins"))
        event.listen(engine.pool, "checkout", lambda *args: self._bump("checkouts"))

    def reset(self) -> None:
        with self._lock:
            self.counts: collections.Counter[str] = collections.Counter()
            self.shapes: collections.Counter[str] = collections.Counter()
            self.last = time.monotonic()

    def _bump(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1
            self.last = time.monotonic()

    def _execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        rows = len(parameters) if executemany and parameters is not None else 1
        with self._lock:
            self.counts["executes"] += 1
            self.counts["statements"] += rows
            self.shapes[shape(statement)] += rows
            self.last = time.monotonic()

    def quiet(self, seconds: float = QUIET, timeout: float = 30.0) -> None:
        """Until no statement, transaction or checkout has happened for `seconds`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - self.last
            if idle >= seconds:
                return
            time.sleep(seconds - idle + 0.01)

    def snapshot(self) -> tuple[collections.Counter[str], collections.Counter[str]]:
        with self._lock:
            return collections.Counter(self.counts), collections.Counter(self.shapes)


def shape(statement: str) -> str:
    """`SELECT credentials` / `UPDATE servers`: the verb and the first table, for the top list."""
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", text, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else ''}".strip()


def round_trips(counts: collections.Counter[str], postgres: bool) -> int:
    trips = counts["executes"] + counts["commits"] + counts["rollbacks"]
    if postgres:
        trips += counts["begins"] + counts["checkouts"]
    return trips


def pushed(session, server_id: str) -> tuple[int, dict]:
    """The server's new (version, document) after a metadata push (it exists: we made it)."""
    from engine.guest import metadata as guest_metadata

    change = guest_metadata.push_metadata(session, server_id)
    assert change is not None, server_id
    return change


# Scenarios ----------------------------------------------------------------------------------
def count_parked(notifier) -> None:
    """Make the service's notifier also count the threads inside `wait` (it counts its asyncio
    waiters itself). Its class is swapped rather than the object replaced: the service wired this
    very object into its scheduler and bridge when it was built."""

    class ParkedNotifier(type(notifier)):  # type: ignore[misc]  # the object's own class, known at run time
        def wait(self, topic, changed, timeout):
            with self._threads_lock:
                self._threads += 1
            try:
                return super().wait(topic, changed, timeout)
            finally:
                with self._threads_lock:
                    self._threads -= 1

        def parked(self) -> int:
            with self._threads_lock:
                return self._threads + self.waiting()

    notifier._threads, notifier._threads_lock = 0, threading.Lock()
    notifier.__class__ = ParkedNotifier


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def measure(
    db_url: str, data_dir: str, options: dict
) -> list[tuple[str, int, collections.Counter, collections.Counter]]:
    import requests
    from sqlalchemy import select

    from engine.config import Config
    from engine.service import build_service
    from engine.store.models import Server, Stack
    from fleet import make_deployments, make_servers
    from metadata_server import create_app
    from metadata_server.serving import listen
    from stack_create import template

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as `hearth server` does
    port = free_port()
    config = Config.from_env(
        {},
        db_url=db_url,
        data_dir=data_dir,
        port=port,
        compute="deployed",
        guest_rate=0,
        api_rate=0,
        max_resources_per_stack=-1,
        max_resources_per_tree=-1,
    )
    service = build_service(config)
    notifier: Any = service.runtime.notifier  # counts parked waiters too (count_parked)
    count_parked(notifier)
    service.start()
    app = create_app(config, service=service, admin_token=BENCH_TOKEN)
    httpd = listen("127.0.0.1", port, app)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    runtime, store = service.runtime, service.runtime.store
    counter = Counter(store.engine)
    results = []

    def window(label: str, units: int, action) -> None:
        counter.quiet()
        counter.reset()
        action()
        counter.quiet()
        counts, shapes = counter.snapshot()
        results.append((label, units, counts, shapes))

    try:
        # Background: nothing asked of the server.
        window("idle baseline (2 s, per second)", 2, lambda: time.sleep(2.0))

        # Create and delete of N OS::Heat::None.
        n = options["n"]
        stack_id: list[str] = []

        def settled(action: str):
            def check() -> bool:
                with store.session() as session:
                    row = session.execute(select(Stack.action, Stack.status).where(Stack.id == stack_id[0])).one()
                return row[0] == action and row[1] != "IN_PROGRESS"

            return check

        def create() -> None:
            body = {"stack_name": "sqlcount", "template": template(n, "fanout"), "template_name": "sqlcount.yaml"}
            stack_id.append(service.stacks.create_stack("admin", body)["id"])
            runtime.notifier.wait("stack:" + stack_id[0], settled("CREATE"), 300)

        def delete() -> None:
            service.stacks.delete_stack("admin", stack_id[0])
            runtime.notifier.wait("stack:" + stack_id[0], settled("DELETE"), 300)

        window(f"create of {n} OS::Heat::None, per resource", n, create)
        window(f"delete of {n} OS::Heat::None, per resource", n, delete)

        # Deployment signals through the HTTP API.
        signals = options["signals"]
        agents = make_servers(service, max(1, signals // 5))
        deployments = make_deployments(service, agents, 5)[:signals]
        base = f"http://127.0.0.1:{port}"
        http = requests.Session()

        def signal_all() -> None:
            for agent, config_id in deployments:
                response = http.post(
                    f"{base}/guest/v1/deployments/{config_id}/signal",
                    json={"deploy_stdout": "ok", "deploy_stderr": "", "deploy_status_code": 0, "result": "ok"},
                    headers={"Authorization": f"Bearer {agent.credential}"},
                    timeout=30,
                )
                response.raise_for_status()

        window("deployment signal (HTTP), per signal", len(deployments), signal_all)

        # Long-polls.
        waiters = make_servers(service, options["waiters"])
        with store.session() as session:
            for agent in waiters:
                row = session.get(Server, agent.server_id)
                assert row is not None
                agent.version = row.metadata_version

        def poll_once() -> None:
            for agent in waiters:
                response = http.get(
                    f"{base}/guest/v1/servers/{agent.server_id}/metadata",
                    params={"since": agent.version, "wait": 0},
                    headers={"Authorization": f"Bearer {agent.credential}"},
                    timeout=30,
                )
                assert response.status_code == 304, response.status_code

        window("poll finding nothing (wait=0 → 304), per request", len(waiters), poll_once)

        answers: dict[str, int] = {}

        def park(agent) -> None:
            session = requests.Session()
            response = session.get(
                f"{base}/guest/v1/servers/{agent.server_id}/metadata",
                params={"since": agent.version, "wait": 60},
                headers={"Authorization": f"Bearer {agent.credential}"},
                timeout=90,
            )
            answers[agent.server_id] = response.status_code

        def park_all() -> list[threading.Thread]:
            answers.clear()
            threads = [threading.Thread(target=park, args=(agent,), daemon=True) for agent in waiters]
            for thread in threads:
                thread.start()
            wait_until(lambda: notifier.parked() >= len(waiters), 60, f"{len(waiters)} parked long-polls")
            return threads

        park_all()

        def idle_wake() -> None:
            for agent in waiters:
                notifier.publish("server:" + agent.server_id, hint=agent.version, remote=True)

        window("idle long-poll wake-up (hint = version held), per wake-up", len(waiters), idle_wake)
        still = notifier.parked()

        with store.session() as session:
            changes = {a.server_id: pushed(session, a.server_id) for a in waiters}
        for agent in waiters:
            agent.version = changes[agent.server_id][0]

        def new_wake_remote() -> None:
            for agent in waiters:
                notifier.publish("server:" + agent.server_id, hint=agent.version, remote=True)
            wait_until(lambda: len(answers) >= len(waiters), 60, "every waiter's answer")

        counter.quiet()
        window("long-poll wake-up, new version (hint only), per wake-up", len(waiters), new_wake_remote)
        results[-1][2]["answers_200"] = sum(1 for code in answers.values() if code == 200)

        park_all()
        with store.session() as session:
            changes = {a.server_id: pushed(session, a.server_id) for a in waiters}
        for agent in waiters:
            agent.version = changes[agent.server_id][0]

        def new_wake_local() -> None:
            for agent in waiters:
                runtime.publish_server(agent.server_id, changes[agent.server_id])
            wait_until(lambda: len(answers) >= len(waiters), 60, "every waiter's answer")

        window("long-poll wake-up, new version (with document), per wake-up", len(waiters), new_wake_local)
        results[-1][2]["answers_200"] = sum(1 for code in answers.values() if code == 200)
        results[-3][2]["still_parked"] = still
    finally:
        httpd.shutdown()
        service.stop()
        store.dispose()
    return results


def report(label: str, results, postgres: bool, top: int) -> None:
    print(f"\n{label}")
    print(f"  {'action':<62} {'units':>6} {'statements':>11} {'round trips':>12} {'stmts/unit':>11} {'trips/unit':>11}")
    for action, units, counts, shapes in results:
        trips = round_trips(counts, postgres)
        print(
            f"  {action:<62} {units:>6} {counts['statements']:>11} {trips:>12} "
            f"{counts['statements'] / units:>11.2f} {trips / units:>11.2f}"
        )
        extra = [
            f"executes {counts['executes']}",
            f"commits {counts['commits']}",
            f"rollbacks {counts['rollbacks']}",
            f"begins {counts['begins']}",
            f"checkouts {counts['checkouts']}",
        ]
        for key in ("still_parked", "answers_200"):
            if key in counts:
                extra.append(f"{key.replace('_', ' ')} {counts[key]}")
        print(f"  {'':<4}{', '.join(extra)}")
        if shapes and top:
            print(f"  {'':<4}top: " + ", ".join(f"{name} ×{count}" for name, count in shapes.most_common(top)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        help="store URL (repeatable; 'sqlite' is a temp file; a PostgreSQL URL names the server, a database "
        "of our own is made there); default: sqlite and the local PostgreSQL",
    )
    parser.add_argument("--n", type=int, default=1000, help="resources in the created stack")
    parser.add_argument("--signals", type=int, default=50, help="deployment signals sent")
    parser.add_argument("--waiters", type=int, default=50, help="long-polls parked for the wake-up counts")
    parser.add_argument("--top", type=int, default=6, help="statement shapes listed per action")
    args = parser.parse_args(argv)
    raise_open_file_limit()
    print("Hearth SQL statements and round trips per action")
    dbs = args.db or list(DEFAULT_DBS)
    for line in describe(next((d for d in dbs if is_postgres(d)), "sqlite://")):
        print("  " + line)
    for db in dbs:
        given = None if db == "sqlite" else db
        with temporary_store(given, "sql") as (db_url, data_dir):
            label = "PostgreSQL" if is_postgres(db_url) else "SQLite"
            results = measure(db_url, data_dir, vars(args))
            report(
                f"{label} ({db_url.split('@')[-1] if is_postgres(db_url) else 'temp file'})",
                results,
                is_postgres(db_url),
                args.top,
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
