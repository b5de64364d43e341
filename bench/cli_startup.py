#!/usr/bin/env python3
"""How long the `hearth` command line takes to start: the median wall time of `hearth --help`
and `hearth stack list` (against a throw-away server this script starts), and what they import.

Each command runs as a fresh interpreter, exactly as the `hearth` console script runs it
(`from metadata_server.cli import main; main()`), with ``--root`` (default: this checkout) first
on the path, so another checkout (e.g. an older commit exported with ``git archive``) can be
measured with the same script. One untimed run warms the byte-code cache, then ``--runs``
(default 5) are timed. A last run under ``python -X importtime`` counts the modules each
command imports and names the heavy ones it should not need (Flask, werkzeug, SQLAlchemy,
Alembic, the engine's store, the server package).

The server is `hearth server` on a SQLite file in a temporary directory (compute `deployed`,
port picked by the kernel), holding one stack of one `OS::Heat::None`, so `stack list` renders
a row. Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from machine import code_version, cpu_model, load_average  # noqa: E402

ENTRY = "import sys; sys.argv[0] = 'hearth'; from metadata_server.cli import main; main()"
HEAVY = ("flask", "werkzeug", "sqlalchemy", "alembic", "engine.store", "metadata_server")
TOKEN = "bench-admin-token"
TEMPLATE = "heat_template_version: 2018-08-31\nresources:\n  nothing:\n    type: OS::Heat::None\n"


def hearth(root: Path, env: dict, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-c", ENTRY, *args], env={**env, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=120)


def timed(root: Path, env: dict, args: list[str], runs: int) -> list[float]:
    hearth(root, env, *args)  # warm-up: byte-code written, files in the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = hearth(root, env, *args)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"hearth {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return times


def imports(root: Path, env: dict, args: list[str]) -> tuple[int, list[str]]:
    """How many modules the command imports, and the heavy top-level packages among them."""
    stderr = hearth(root, env, *args, importtime=True).stderr
    names = [line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
             if line.startswith("import time:") and "|" in line and not line.endswith("package")]
    names = [n for n in names if n and n != "package"]
    heavy = sorted({h for h in HEAVY for n in names if n == h or n.startswith(h + ".")})
    return len(names), heavy


def start_server(root: Path, env: dict, workdir: Path) -> tuple[subprocess.Popen, str]:
    log = open(workdir / "server.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "server", "--db", f"sqlite:///{workdir / 'hearth.db'}",
         "--data-dir", str(workdir / "data"), "--port", "0", "--compute", "deployed"],
        env={**env, "PYTHONPATH": str(root)}, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        found = re.search(r"listening on (http://[\d.]+:\d+)", log.read())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    log.seek(0)
    raise SystemExit(f"hearth server did not start:\n{log.read()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    args = parser.parse_args()
    root = args.root.resolve()
    print(f"machine: {platform.uname().system} {platform.uname().release} {platform.uname().machine}, "
          f"{cpu_model()}, nproc {len(os.sched_getaffinity(0))}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"code:    {root}" + (f" at {code_version()}" if root == ROOT else ""))
    print(f"load:    {load_average()}")
    with tempfile.TemporaryDirectory(prefix="hearth-cli-bench-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "HEARTH_ADMIN_TOKEN": TOKEN, "HEARTH_DATA_DIR": str(workdir / "data")}
        env.pop("HEARTH_URL", None)
        server, url = start_server(root, env, workdir)
        try:
            env["HEARTH_URL"] = url
            (workdir / "one.yaml").write_text(TEMPLATE)
            created = hearth(root, env, "stack", "create", "one", "-t", str(workdir / "one.yaml"), "--wait")
            if created.returncode != 0:
                raise SystemExit(f"could not create the stack: {created.stderr}")
            print(f"server:  {url} (SQLite in {workdir}, one stack)")
            print(f"\n{'command':<20} {'median':>8} {'min':>8} {'max':>8} {'modules':>8}  heavy imports")
            for command in (["--help"], ["stack", "list"]):
                times = timed(root, env, command, args.runs)
                count, heavy = imports(root, env, command)
                print(f"{'hearth ' + ' '.join(command):<20} {statistics.median(times) * 1000:>6.0f}ms "
                      f"{min(times) * 1000:>6.0f}ms {max(times) * 1000:>6.0f}ms {count:>8}  "
                      f"{', '.join(heavy) or 'none'}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"\n(median of {args.runs} runs after one warm-up; bare interpreter start for scale: "
          f"{statistics.median(bare(args.runs)) * 1000:.0f}ms)")


def bare(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    main()
