"""Event delivery to webhook sinks: latency from an event's commit to the webhook receiving it
(p50/p99), and throughput, on the embedded default store (SQLite) unless --db says otherwise.

Usage: python bench/event_delivery.py [--singles 200] [--burst 2000] [--batch 50] [--sinks 1,4] [--db URL]

One process runs a real Hearth engine (engine.service.build_service, compute `deployed`, its
delivery loop as `hearth server` runs it) on a fresh store, and a real HTTP receiver on
127.0.0.1 (http.server, one thread per connection) that answers 200 and reads time.time() as
each POST's body has been read. For each sink count K: K stacks are created, each with one
`webhook` sink pointing at the receiver, and their create events are delivered first.

* **latency**: --singles times, one event is added to one stack (taking turns) in a
  transaction of its own, as a signal's event is; t0 is read just after the commit returns,
  then `runtime.publish_stack` is called as every writer does after committing. The next event
  waits until the receiver has this one. Sample = received - t0.
* **throughput**: --burst events spread over the K stacks, committed --batch per transaction
  (the scheduler's journal flushes its events so), one publish per stack per transaction. From
  the first commit to the last event received: events per second, and the latency p50/p99 of
  each event (receive time - its transaction's commit).

Each delivery is a signed POST (HMAC-SHA256) with the sink's cursor committed after the 200;
one sink delivers one event at a time, sinks in parallel (event_sink_concurrency, 4). Figures
are printed, not asserted; the machine is printed with them.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from machine import describe, parse_n, percentile
from stores import temporary_store

KEY = "bench-sink-key-0123456789"
TEMPLATE = "heat_template_version: 2018-08-31\nresources:\n  v: {type: OS::Heat::None}\n"


class Receiver:
    """Answers every POST 200; records (event id -> time received)."""

    def __init__(self):
        self.received: dict[str, float] = {}
        self.lock = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the engine's requests.Session uses it

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                event_id = json.loads(data)["id"]
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with outer.lock:
                    outer.received.setdefault(event_id, at)
                    outer.lock.notify_all()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/events"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, ids, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not all(i in self.received for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(1 for i in ids if i not in self.received)
                    raise SystemExit(f"{missing} events not received within {timeout} s")
                self.lock.wait(left)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def add_events(service, stack_ids: list[str], count: int, tag: str) -> tuple[list[str], float]:
    """`count` events in one transaction, spread over the stacks; their ids and the commit time."""
    from engine.orchestration.events import resource_event

    runtime = service.runtime
    ids = []
    with runtime.store.session() as session:
        for n in range(count):
            event = resource_event(
                stack_ids[n % len(stack_ids)],
                "v",
                "OS::Heat::None",
                None,
                "SIGNAL",
                "COMPLETE",
                f"{tag} {n}",
                runtime.now(),
            )
            session.add(event)
            ids.append(event.id)
    committed = time.time()
    for stack_id in stack_ids[:count]:
        runtime.publish_stack(stack_id)
    return ids, committed


def run(db_url: str, data_dir: str, sinks: int, singles: int, burst: int, batch: int) -> None:
    from engine.config import Config
    from engine.service import build_service

    receiver = Receiver()
    service = build_service(Config.from_env({}, db_url=db_url, data_dir=data_dir, compute="deployed"))
    service.start()
    try:
        environment = {"event_sinks": [{"type": "webhook", "url": receiver.url, "secret": KEY}]}
        stack_ids = [
            service.stacks.create_stack(
                "admin", {"stack_name": f"s{k}", "template": TEMPLATE, "environment": environment}
            )["id"]
            for k in range(sinks)
        ]
        for stack_id in stack_ids:  # their create events delivered first
            events = [e["id"] for e in _events(service, stack_id)]
            receiver.wait(events)

        latencies = []
        for n in range(singles):
            ids, committed = add_events(service, [stack_ids[n % sinks]], 1, "single")
            receiver.wait(ids)
            latencies.append(receiver.received[ids[0]] - committed)

        per_event: list[float] = []
        started = time.time()
        pending: list[tuple[list[str], float]] = []
        for first in range(0, burst, batch):
            pending.append(add_events(service, stack_ids, min(batch, burst - first), "burst"))
        all_ids = [i for ids, _ in pending for i in ids]
        receiver.wait(all_ids, timeout=600)
        ended = max(receiver.received[i] for i in all_ids)
        for ids, committed in pending:
            per_event += [receiver.received[i] - committed for i in ids]
        _report(sinks, latencies, per_event, burst, ended - started)
    finally:
        service.stop()
        service.runtime.store.dispose()
        receiver.close()


def _events(service, stack_id: str) -> list[dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stack = service.stacks.show_stack("admin", stack_id, resolve_outputs=False)
        if not stack["stack_status"].endswith("IN_PROGRESS"):
            return service.resources.list_events("admin", stack_id, sort_dir="asc")
        time.sleep(0.05)
    raise SystemExit(f"stack {stack_id} did not finish")


def _ms(values: list[float], fraction: float) -> str:
    return f"{percentile(sorted(values), fraction) * 1000:.1f} ms"


def _report(sinks: int, latencies: list[float], per_event: list[float], burst: int, seconds: float) -> None:
    print(f"\n{sinks} sink(s):")
    if latencies:
        print(
            f"  latency, one event at a time ({len(latencies)}): p50 {_ms(latencies, 0.5)}, "
            f"p99 {_ms(latencies, 0.99)}, max {_ms(latencies, 1.0)}"
        )
    if burst:
        print(
            f"  throughput, {burst} events committed in batches: {burst / seconds:.0f} events/s "
            f"({seconds:.2f} s); commit -> received p50 {_ms(per_event, 0.5)}, p99 {_ms(per_event, 0.99)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--sinks", action="append")
    parser.add_argument("--db", default=None, help="a store URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    counts = parse_n(args.sinks, (1, 4))
    for count in counts:
        with temporary_store(args.db, f"sinks{count}") as (db_url, data_dir):
            if count == counts[0]:
                print("event delivery to webhook sinks (bench/event_delivery.py)")
                for line in describe(db_url):
                    print(line)
            run(db_url, data_dir, count, args.singles, args.burst, args.batch)


if __name__ == "__main__":
    main()
