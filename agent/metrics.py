"""Metric samples the agent reports: the host's own (load average, memory and CPU utilisation, read
from /proc) every ``--metrics-interval`` seconds, and ``hearth-agent metric put``'s; reads /proc
alone and hands samples to the outbox (agent.outbox.queue_metrics), which delivers them to
``/guest/v1/servers/<server_id>/metrics``.

Each sample carries the time it was measured (UTC, ISO 8601), so a sample delivered late (the
server was unreachable) still lands at its own time; the server keeps samples for its
retention and counts older ones as expired.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.outbox import queue_metrics

LOG = logging.getLogger("hearth.agent.metrics")

PROC = Path("/proc")
NAME_MAX = 255  # the server's default metric_max_name_length


def utc_iso(moment: dt.datetime | None = None) -> str:
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sample(
    name: str, value: float, unit: str | None = None, dimensions: dict[str, str] | None = None
) -> dict[str, Any]:
    """One sample as the metrics route takes it, stamped now; ValueError for what it refuses."""
    if not name or len(name) > NAME_MAX or not name.isprintable() or name != name.strip():
        raise ValueError(f"metric name {name!r}: 1 to {NAME_MAX} printable characters, no surrounding spaces")
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"metric value {value!r}: must be a finite number")
    item: dict[str, Any] = {"name": name, "value": float(value), "timestamp": utc_iso()}
    if unit:
        item["unit"] = unit
    if dimensions:
        item["dimensions"] = dict(dimensions)
    return item


def load_average(proc: Path = PROC) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in (proc / "loadavg").read_text().split()[:3])
    return one, five, fifteen


def memory_util(proc: Path = PROC) -> float:
    """Percent of memory in use: (MemTotal - MemAvailable) / MemTotal, as `free` counts it."""
    fields = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.split():
            fields[key] = float(rest.split()[0])
    total = fields["MemTotal"]
    available = fields.get("MemAvailable", fields.get("MemFree", 0.0) + fields.get("Cached", 0.0))
    return 100.0 * (total - available) / total if total > 0 else 0.0


def cpu_times(proc: Path = PROC) -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from the `cpu` line of /proc/stat."""
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("cpu "):
            values = [float(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
            # guest and guest_nice (9th, 10th) are already counted in user and nice
            total = sum(values[:8])
            return total - idle, total
    raise ValueError("/proc/stat has no cpu line")


class HostMetrics:
    """Measures the host: cpu_util over the time since the previous measurement (the first one
    since this object was made), memory_util, load_avg_1m, load_avg_5m, load_avg_15m."""

    def __init__(self, proc: Path = PROC):
        self.proc = proc
        self._last_cpu: tuple[float, float] | None = self._cpu()

    def _cpu(self) -> tuple[float, float] | None:
        try:
            return cpu_times(self.proc)
        except (OSError, ValueError, IndexError):
            return None

    def measure(self) -> list[dict[str, Any]]:
        """The samples readable now; one that cannot be read is left out (logged at debug)."""
        samples = []
        cpu, last = self._cpu(), self._last_cpu
        self._last_cpu = cpu
        if cpu is not None and last is not None and cpu[1] > last[1]:
            samples.append(sample("cpu_util", 100.0 * (cpu[0] - last[0]) / (cpu[1] - last[1]), "%"))
        try:
            samples.append(sample("memory_util", memory_util(self.proc), "%"))
        except (OSError, ValueError, KeyError, ZeroDivisionError) as exc:
            LOG.debug("memory_util not measured: %s", exc)
        try:
            for name, value in zip(
                ("load_avg_1m", "load_avg_5m", "load_avg_15m"), load_average(self.proc), strict=True
            ):
                samples.append(sample(name, value))
        except (OSError, ValueError) as exc:
            LOG.debug("load average not measured: %s", exc)
        return samples


class HostReporter:
    """Every `interval` seconds, the host's samples into the outbox (`put`) on a daemon thread."""

    def __init__(self, interval: float, put: Callable[[list[dict[str, Any]]], object], proc: Path = PROC):
        self.interval, self.put = interval, put
        self.host = HostMetrics(proc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hearth-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                samples = self.host.measure()
                if samples:
                    self.put(samples)
            except Exception:  # a full disk must not end reporting for good
                LOG.exception("host metrics not queued; trying again in %.0f s", self.interval)


DEFAULT_STATE_DIR = "/var/lib/hearth-agent"  # packaging/systemd/hearth-agent.service's


def build_metric_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth-agent metric",
        description="Queue a metric sample in the agent's outbox; the running agent delivers it to Hearth.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("put", help="queue one sample, stamped now")
    put.add_argument("name", help="the metric's name (1 to 255 printable characters)")
    put.add_argument("value", help="a finite number, in the unit given")
    put.add_argument("--unit", default=None, help="the value's unit (at most 32 characters), e.g. %% or Count")
    put.add_argument(
        "--dimension",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dimension of the sample; repeat for more (alarms can select on them)",
    )
    put.add_argument(
        "--state-dir",
        default=os.environ.get("HEARTH_AGENT_STATE_DIR") or DEFAULT_STATE_DIR,
        metavar="DIR",
        help="the agent's state directory (default: $HEARTH_AGENT_STATE_DIR, else %(default)s)",
    )
    return parser


def metric_command(argv: list[str]) -> int:
    """`hearth-agent metric put NAME VALUE [--unit U] [--dimension K=V]...`: 0 once queued."""
    parser = build_metric_parser()
    args = parser.parse_args(argv)
    dimensions = {}
    for pair in args.dimension:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            parser.error(f"--dimension {pair!r}: must be KEY=VALUE")
        dimensions[key] = value
    try:
        value = float(args.value)
        item = sample(args.name, value, args.unit, dimensions)
    except ValueError as exc:
        parser.error(str(exc))
    if args.unit is not None and len(args.unit) > 32:
        parser.error("--unit: at most 32 characters")
    state = Path(args.state_dir)
    if not state.is_dir():
        parser.error(f"--state-dir {state}: no such directory (is hearth-agent set up here?)")
    path = queue_metrics(state / "outbox", [item])
    print(f"queued {args.name}={value:g} in {path}")
    return 0
