#!/usr/bin/env python3
"""How long the `hearth` command line takes to start: the wall time (median and p90) of `hearth
--help` and `hearth stack list` (against a throw-away server this script starts), how long their
imports take, and what they import.

Each command runs as a fresh interpreter, exactly as the `hearth` console script runs it
(`from metadata_server.cli import main; main()`), with ``--root`` (default: this checkout) first
on the path, so another checkout (e.g. an older commit exported with ``git archive``) can be
measured with the same script. One untimed run warms the byte-code cache (PYTHONDONTWRITEBYTECODE
is removed from the commands' environment: an installed hearth has its byte code), then ``--runs``
(default 20) are timed. Five more runs under ``python -X importtime`` give the time spent
importing (the median of the sum of the top-level imports' cumulative times, a little more than
without -X importtime), count the modules each command imports and name the heavy ones a client
command should not need (Flask, werkzeug, SQLAlchemy, Alembic, the engine's store and service,
requests).

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
from machine import code_version, cpu_model, load_average, percentile  # noqa: E402

ENTRY = "import sys; sys.argv[0] = 'hearth'; from metadata_server.cli import main; main()"
HEAVY = ("flask", "werkzeug", "sqlalchemy", "alembic", "engine.store", "engine.service", "requests")
IMPORT_RUNS = 5  # under -X importtime, the median of these
TOKEN = "bench-admin-token"
TEMPLATE = "heat_template_version: 2018-08-31\nresources:\n  nothing:\n    type: OS::Heat::None\n"


class Hearth:
    """Runs `hearth ARGS` as the console script does, with `root` first on the path."""

    def __init__(self, root: Path, env: dict, workdir: Path):
        self.env = {**env, "PYTHONPATH": str(root)}
        self.workdir = workdir  # the cwd: `python -c` puts it first on sys.path, ahead of root

    def argv(self, *args: str, importtime: bool = False) -> list[str]:
        return [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", ENTRY, *args]

    def run(self, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
        done = subprocess.run(
            self.argv(*args, importtime=importtime),
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise SystemExit(f"hearth {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def timed(self, args: list[str], runs: int) -> list[float]:
        self.run(*args)  # warm-up: byte-code written, files in the page cache
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.run(*args)
            times.append(time.perf_counter() - start)
        return times

    def imports(self, args: list[str]) -> tuple[float, int, list[str]]:
        """Milliseconds spent importing, how many modules the command imports, and the heavy
        packages among them."""
        totals = []
        for _ in range(IMPORT_RUNS):
            rows = [line.split("|") for line in self.run(*args, importtime=True).stderr.splitlines()[1:]]
            rows = [row for row in rows if row[0].startswith("import time:") and len(row) == 3]
            names = [row[2].strip() for row in rows]
            # A top-level import's name is not indented; its cumulative time holds its children's.
            totals.append(sum(int(row[1]) for row in rows if row[2][1:2] != " ") / 1000)
        heavy = sorted({h for h in HEAVY for n in names if n == h or n.startswith(h + ".")})
        return statistics.median(totals), len(names), heavy

    def server(self) -> tuple[subprocess.Popen, str]:
        """`hearth server` on a SQLite file in the work dir; its process and URL."""
        log = open(self.workdir / "server.log", "w+")
        process = subprocess.Popen(
            self.argv(
                "server", "--db", f"sqlite:///{self.workdir / 'hearth.db'}", "--port", "0", "--compute", "deployed"
            ),
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            log.seek(0)
            found = re.search(r"listening on (http://[\d.]+:\d+)", log.read())
            if found:
                return process, found.group(1)
            time.sleep(0.1)
        process.kill()
        log.seek(0)
        raise SystemExit(f"hearth server did not start:\n{log.read()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    args = parser.parse_args()
    root = args.root.resolve()
    uname = platform.uname()
    print(
        f"machine: {uname.system} {uname.release} {uname.machine}, {cpu_model()}, nproc {len(os.sched_getaffinity(0))}"
    )
    print(f"python:  {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"code:    {root}" + (f" at {code_version()}" if root == ROOT else ""))
    print(f"load:    {load_average()}")
    with tempfile.TemporaryDirectory(prefix="hearth-cli-bench-") as tmp:
        workdir = Path(tmp)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HEARTH_") and key != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(HEARTH_ADMIN_TOKEN=TOKEN, HEARTH_DATA_DIR=str(workdir / "data"))
        hearth = Hearth(root, env, workdir)
        server, url = hearth.server()
        try:
            hearth.env["HEARTH_URL"] = url
            (workdir / "one.yaml").write_text(TEMPLATE)
            hearth.run("stack", "create", "one", "-t", str(workdir / "one.yaml"), "--wait")
            print(f"server:  {url} (SQLite in {workdir}, one stack)")
            print(
                f"\n{'command':<20} {'median':>8} {'p90':>8} {'min':>8} {'max':>8} {'imports':>8} {'modules':>8}"
                "  heavy imports"
            )
            for command in (["--help"], ["stack", "list"]):
                ms = sorted(t * 1000 for t in hearth.timed(command, args.runs))
                import_ms, count, heavy = hearth.imports(command)
                print(
                    f"{'hearth ' + ' '.join(command):<20} {statistics.median(ms):>6.0f}ms "
                    f"{percentile(ms, 0.9):>6.0f}ms {min(ms):>6.0f}ms {max(ms):>6.0f}ms {import_ms:>6.0f}ms "
                    f"{count:>8}  {', '.join(heavy) or 'none'}"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"\n(wall: {args.runs} runs after one warm-up; imports: median of {IMPORT_RUNS} runs under -X importtime; "
        "bare interpreter start for scale: "
        f"{statistics.median(bare(args.runs)) * 1000:.0f}ms)"
    )


def bare(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    main()
