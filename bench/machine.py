"""What a benchmark ran on: CPU, cores, memory, Python and the store, as lines to print with the figures."""

from __future__ import annotations

import math
import os
import platform
import resource
import sqlite3
import subprocess
from pathlib import Path


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def store_version(db_url: str) -> str:
    """`SQLite 3.x` or `PostgreSQL 15.x` for the store the figures were measured on."""
    if db_url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version} (file, WAL)"
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version} at {db_url.split('@')[-1]}"


def code_version() -> str:
    """The commit the figures were measured on, and whether tracked files differed from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"{commit or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    averages = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{averages} (1/5/15 min, at start; other work on the host skews the figures)"


def describe(db_url: str) -> list[str]:
    mem = memory_gib()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"cpu:    {cpu_model()} ({cores} cores usable, {os.cpu_count()} online)",
        f"memory: {mem:.1f} GiB" if mem else "memory: unknown",
        (
            f"python: {platform.python_implementation()} {platform.python_version()} "
            f"on {platform.system()} {platform.release()}"
        ),
        f"store:  {store_version(db_url)}",
        f"code:   {code_version()}",
        f"load:   {load_average()}",
    ]


def raise_open_file_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit: 1,000 agents hold 1,000 sockets each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (p99 of 100 samples is the 99th value)."""
    if not sorted_values:
        return float("nan")
    rank = min(max(1, math.ceil(round(len(sorted_values) * fraction, 9))), len(sorted_values))
    return sorted_values[rank - 1]


def listen_overflows() -> int | None:
    """Linux's system-wide count of connections dropped because a listen queue was full."""
    try:
        with open("/proc/net/netstat") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):  # header, values
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table["ListenOverflows"]) if "ListenOverflows" in table else None
    return None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_n(values: list[str] | None, default: tuple[int, ...]) -> list[int]:
    """`--n` given several times and/or as comma lists; `default` when not given."""
    if not values:
        return list(default)
    return [int(part) for value in values for part in value.split(",") if part.strip()]
