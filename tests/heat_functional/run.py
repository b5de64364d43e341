"""Run Heat's own functional tests (heat_integrationtests.functional, openstack-heat 27.0.1)
against a real Hearth server that they sign in to through Hearth's own /identity/v3.

    python tests/heat_functional/run.py [--only FILE] [--pattern REGEX] [--jobs N]
        [--expect FILE] [--json FILE] [--work DIR] [--timeout S] [--build-timeout S] [--list]

What it does, in order:
1. the pinned test venv (PINS below): $HEARTH_HEAT_FUNCTIONAL_VENV when set (it must hold
   exactly these versions), else `.venv/heat-functional`, built with pip on first use;
2. `hearth server` (the one beside this python) on SQLite in the work directory, on a free
   loopback port, with an admin token of its own;
3. per lane (--jobs, default 4): a project `hf-N` with a `member` and an `admin` user,
   each with a password, made with `hearth admin ...`; a tempest.conf whose auth_url is the
   server's `/identity/v3` (no stand-in Keystone: the tests sign in as a cloud's users do);
4. the selected tests (lane.py's modules; --only a file of ids, e.g. yardstick.txt, and/or
   --pattern) spread over the lanes, each lane a process of the test venv running its tests
   one at a time. Lanes are independent (own project, own users, own stacks), so running
   them side by side changes no test's meaning;
5. one line per test, `PASS|FAIL|SKIP <id>: <reason> [secs]`, in the order they finish, and
   `N passed, M failed, K skipped in S s (J lanes)`; --json writes every result; per-test logs
   (tempest's client log and the traceback) are in <work>/logs/.

Exit status: with --expect FILE, 0 when every test id in FILE passed (others may fail);
without, 0 when nothing failed. Standard library only; needs the network (PyPI) only to build
the venv.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PINS = (
    "openstack-heat==27.0.1",
    "tempest==47.0.0",
    "heat-tempest-plugin==3.0.0",
    "python-heatclient==5.3.0",
    "keystoneauth1==5.18.1",
)
DEFAULT_JOBS = 4
INSTALL_TIMEOUT = 1800
SERVER_START_TIMEOUT = 60


class Unavailable(RuntimeError):
    """The test venv cannot be built or the server cannot start: nothing was tested."""


# The test venv --------------------------------------------------------------------------------


def venv_matches(venv: Path) -> bool:
    python = venv / "bin" / "python"
    if not python.exists():
        return False
    check = (
        "import importlib.metadata as m, sys\n"
        f"pins = {list(PINS)!r}\n"
        "sys.exit(0 if all(m.version(p.split('==')[0]) == p.split('==')[1] for p in pins) else 1)"
    )
    return subprocess.run([str(python), "-c", check], capture_output=True, timeout=120).returncode == 0


def ensure_venv(configured: str | None) -> Path:
    """The pinned test venv: the configured one (checked), or ours, built once under a lock."""
    if configured:
        venv = Path(configured)
        if not venv_matches(venv):
            raise Unavailable(f"{venv} does not hold exactly {' '.join(PINS)}")
        return venv
    venv = ROOT / ".venv" / "heat-functional"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".heat-functional.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if venv_matches(venv):
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        print(f"# building {venv} ({' '.join(PINS)}); a few minutes", file=sys.stderr, flush=True)
        log = venv.parent / "heat-functional-install.log"
        with open(log, "w") as out:
            steps = (
                [sys.executable, "-m", "venv", str(venv)],
                [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", *PINS],
            )
            for step in steps:
                try:
                    code = subprocess.run(
                        step, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT
                    ).returncode
                except subprocess.TimeoutExpired:
                    code = "timeout"
                if code != 0:
                    shutil.rmtree(venv, ignore_errors=True)
                    raise Unavailable(f"building the test venv failed ({code}); see {log}")
        return venv


def list_tests(venv: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    """(selected test ids, {left-out id or module: why})."""
    conf = work / "list"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "tempest.conf").write_text("[heat_plugin]\nauth_url = http://127.0.0.1:9/identity/v3\n")
    answer = subprocess.run(
        [str(venv / "bin" / "python"), str(HERE / "lane.py"), "--list"],
        env=lane_environment(conf),
        cwd=conf,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if answer.returncode != 0:
        raise Unavailable("listing the tests failed:\n" + answer.stderr[-3000:])
    selected, left_out = [], {}
    for line in answer.stdout.splitlines():
        if not line.startswith("{"):  # tempest may log to stdout while the tests are imported
            continue
        entry = json.loads(line)
        key = entry.get("id") or entry["module"]
        if entry["left_out"]:
            left_out[key] = entry["left_out"]
        else:
            selected.append(key)
    return selected, left_out


def lane_environment(conf_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "HEARTH_", "TEMPEST_")) and k not in ("HEAT_URL", "PYTHONPATH")
    }
    env.update(TEMPEST_CONFIG_DIR=str(conf_dir), TEMPEST_CONFIG="tempest.conf", PYTHONDONTWRITEBYTECODE="1")
    return env


# The Hearth server and its people --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hearth:
    """`hearth server` on SQLite in `work`, on a free loopback port, with a token of its own."""

    def __init__(self, work: Path):
        self.hearth = Path(sys.executable).parent / "hearth"
        if not self.hearth.exists():
            raise Unavailable(f"no `hearth` beside {sys.executable}: run this with Hearth's venv python")
        self.port, self.token = free_port(), "hat_" + secrets.token_urlsafe(32)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "server.log"
        env = {**os.environ, "HEARTH_ADMIN_TOKEN": self.token}
        command = [
            str(self.hearth),
            "server",
            "--db",
            f"sqlite:///{work}/hearth.db",
            "--data-dir",
            str(work / "data"),
            "--port",
            str(self.port),
        ]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise Unavailable(f"hearth server exited {self.process.returncode}; see {self.log}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            if time.monotonic() > deadline:
                self.stop()
                raise Unavailable(f"hearth server did not listen within {SERVER_START_TIMEOUT} s; see {self.log}")
            time.sleep(0.1)

    def admin(self, *args: str, stdin: str | None = None) -> None:
        """One `hearth admin ...` command, as an operator types it."""
        env = {**os.environ, "HEARTH_URL": self.url, "HEARTH_TOKEN": self.token}
        done = subprocess.run(
            [str(self.hearth), "admin", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise Unavailable(f"hearth admin {' '.join(args[:3])} failed: {done.stderr.strip()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def tempest_conf(hearth: Hearth, lane: int, password: str, build_timeout: int) -> str:
    """Lane `lane`'s project with a member and an admin, and the tempest.conf naming them."""
    project = f"hf-{lane}"
    hearth.admin("project", "create", project)
    for user, role in ((f"{project}-demo", "member"), (f"{project}-admin", "admin")):
        hearth.admin("user", "create", user, "--password-stdin", stdin=password + "\n")
        hearth.admin("role", "add", user, project, role)
    # Placeholders only: the selected tests that read the image and flavor options put them in
    # templates whose servers are provider templates, never in a real Nova call.
    return f"""[DEFAULT]
use_stderr = true

[heat_plugin]
auth_url = {hearth.url}/identity/v3
username = {project}-demo
password = {password}
project_name = {project}
admin_username = {project}-admin
admin_password = {password}
admin_project_name = {project}
user_domain_name = Default
project_domain_name = Default
region = RegionOne
endpoint_type = public
build_interval = 1
build_timeout = {build_timeout}
minimal_image_ref = fake-image
image_ref = fake-image
instance_type = fake-flavor
minimal_instance_type = fake-flavor
convergence_engine_enabled = true

[heat_features_enabled]
stack_cancel = true
"""


# Lanes ------------------------------------------------------------------------------------------


class Lane:
    """One process of the test venv running tests one at a time (lane.py --serve)."""

    def __init__(self, venv: Path, conf_dir: Path, timeout: int, grace: int):
        self.venv, self.conf_dir, self.timeout, self.grace = venv, conf_dir, timeout, grace
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.venv / "bin" / "python"),
                str(HERE / "lane.py"),
                "--serve",
                "--timeout",
                str(self.timeout),
                "--grace",
                str(self.grace),
            ],
            env=lane_environment(self.conf_dir),
            cwd=self.conf_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.conf_dir / "lane.log", "a"),
            text=True,
            start_new_session=True,
        )

    def run(self, test_id: str, log: Path) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
        started = time.monotonic()
        self.process.stdin.write(f"{test_id}\t{log}\n")
        self.process.stdin.flush()
        answers: queue.Queue = queue.Queue()

        def read():
            for line in self.process.stdout:
                if line.startswith("@@RESULT "):
                    answers.put(json.loads(line[len("@@RESULT ") :]))
                    return
            answers.put(None)

        threading.Thread(target=read, daemon=True).start()
        limit = self.timeout + self.grace + 60
        try:
            result = answers.get(timeout=limit)
        except queue.Empty:
            self.kill()
            return {
                "id": test_id,
                "status": "FAIL",
                "secs": round(time.monotonic() - started, 1),
                "reason": f"HARD TIMEOUT: the lane was killed after {limit} s",
            }
        if result is None:
            code = self.process.wait()
            self.process = None
            return {
                "id": test_id,
                "status": "FAIL",
                "secs": round(time.monotonic() - started, 1),
                "reason": f"the lane exited {code} while running it (see {self.conf_dir}/lane.log)",
            }
        return result

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def read_ids(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()]


def log_name(test_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", test_id) + ".log"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=Path, help="a file of test ids (e.g. tests/heat_functional/yardstick.txt)")
    parser.add_argument("--pattern", help="a regular expression searched in each test id")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("HEARTH_HEAT_FUNCTIONAL_JOBS", DEFAULT_JOBS)))
    parser.add_argument("--expect", type=Path, help="test ids that must pass (exit 1 when one does not)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    parser.add_argument("--timeout", type=int, default=300, help="soft per-test timeout, s")
    parser.add_argument("--grace", type=int, default=60, help="extra s for a timed-out test's cleanups")
    parser.add_argument("--build-timeout", type=int, default=120, help="tempest's build_timeout, s")
    parser.add_argument("--list", action="store_true", help="print the selected and left-out tests and stop")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="heat-functional-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    try:
        venv = ensure_venv(os.environ.get("HEARTH_HEAT_FUNCTIONAL_VENV"))
        selected, left_out = list_tests(venv, work)
    except Unavailable as error:
        print(f"UNAVAILABLE: {error}", file=sys.stderr)
        return 3
    if args.list:
        for key, why in sorted(left_out.items()):
            print(f"# left out {key}: {why}")
        print("\n".join(selected))
        print(f"# {len(selected)} selected")
        return 0
    wanted = selected
    if args.only:
        listed = read_ids(args.only)
        unknown = sorted(set(listed) - set(selected))
        if unknown:
            print(f"UNAVAILABLE: {args.only} names tests that are not selected: {unknown[:5]}", file=sys.stderr)
            return 3
        wanted = [t for t in selected if t in set(listed)]
    if args.pattern:
        wanted = [t for t in wanted if re.search(args.pattern, t)]
    expected = read_ids(args.expect) if args.expect else []

    started = time.monotonic()
    try:
        hearth = Hearth(work)
    except Unavailable as error:
        print(f"UNAVAILABLE: {error}", file=sys.stderr)
        return 3
    lanes = []
    try:
        password = secrets.token_urlsafe(16)
        jobs = max(1, min(args.jobs, len(wanted) or 1))
        for number in range(1, jobs + 1):
            conf_dir = work / f"lane-{number}"
            conf_dir.mkdir(exist_ok=True)
            (conf_dir / "tempest.conf").write_text(tempest_conf(hearth, number, password, args.build_timeout))
            lanes.append(Lane(venv, conf_dir, args.timeout, args.grace))
        print(
            f"# {len(wanted)} tests on {hearth.url} (sign-in at {hearth.url}/identity/v3), "
            f"{jobs} lanes, per-test timeout {args.timeout} s, work dir {work}",
            flush=True,
        )
        results = run_all(lanes, wanted, work)
    except Unavailable as error:
        print(f"UNAVAILABLE: {error}", file=sys.stderr)
        return 3
    finally:
        for lane in lanes:
            lane.close()
        hearth.stop()
    seconds = round(time.monotonic() - started)
    counts = {status: sum(1 for r in results if r["status"] == status) for status in ("PASS", "FAIL", "SKIP")}
    print(
        f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped in {seconds} s "
        f"({len(lanes)} lanes)",
        flush=True,
    )
    passed = {r["id"] for r in results if r["status"] == "PASS"}
    missing = [t for t in expected if t not in passed]
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "selection": {"only": str(args.only) if args.only else None, "pattern": args.pattern},
                    "lanes": len(lanes),
                    "seconds": seconds,
                    "counts": counts,
                    "expected_not_passed": missing,
                    "results": sorted(results, key=lambda r: r["id"]),
                },
                indent=1,
            )
            + "\n"
        )
    if args.expect:
        for test_id in missing:
            print(f"EXPECTED TO PASS, DID NOT: {test_id}")
        return 1 if missing else 0
    return 1 if counts["FAIL"] else 0


def run_all(lanes: list[Lane], wanted: list[str], work: Path) -> list[dict]:
    """Every wanted test through the lanes, each lane taking the next test when it is free."""
    todo: queue.Queue = queue.Queue()
    for test_id in wanted:
        todo.put(test_id)
    results, lock = [], threading.Lock()

    def drive(lane: Lane) -> None:
        while True:
            try:
                test_id = todo.get_nowait()
            except queue.Empty:
                return
            log = work / "logs" / log_name(test_id)
            result = lane.run(test_id, log)
            result["log"] = str(log)
            line = f"{result['status']} {test_id}"
            if result["status"] != "PASS" and result.get("reason"):
                line += f": {result['reason'][:300]}"
            with lock:
                results.append(result)
                print(f"{line}  [{result.get('secs', '?')}s]", flush=True)

    threads = [threading.Thread(target=drive, args=(lane,)) for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


if __name__ == "__main__":
    sys.exit(main())
