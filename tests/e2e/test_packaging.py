"""packaging/: the systemd units (parsed, and verified by systemd-analyze when it is installed),
`hearth server`'s sd_notify, the agent-only distribution in a fresh venv, the
diskimage-builder element's install script against a temporary root, and the server's
container file (linted; built when a Docker daemon answers).

Needs PyPI for the agent's dependencies (requests, PyYAML, watchdog and theirs).
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

pytestmark = pytest.mark.e2e
PACKAGING = ROOT / "packaging"
BIN = Path(sys.executable).parent
AGENT_DEPENDENCIES = {
    "hearth-agent",
    "requests",
    "pyyaml",
    "watchdog",
    "urllib3",
    "idna",
    "certifi",
    "charset-normalizer",
}
VENV_TOOLS = {"pip", "setuptools", "wheel"}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(PACKAGING / "systemd" / name)
    return parser


def test_units_restart_always_notify_and_are_hardened_as_documented():
    server, agent = unit("hearth-server.service"), unit("hearth-agent.service")
    replica = unit("hearth-server@.service")
    for parsed in (server, agent, replica):
        service = parsed["Service"]
        assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
        assert service["Restart"] == "always"
        assert parsed["Install"]["WantedBy"] == "multi-user.target"
        for key in ("LockPersonality", "RestrictRealtime", "ProtectKernelLogs"):
            assert service[key] == "yes", key
        assert service["SystemCallArchitectures"] == "native"
    assert server["Service"]["ExecStart"].split()[1:2] == ["server"]
    assert server["Service"]["User"] == "hearth" and server["Service"]["NoNewPrivileges"] == "yes"
    assert server["Service"]["ProtectSystem"] == "strict"
    assert "WatchdogSec" not in server["Service"]  # the server does not send WATCHDOG=1
    # The replica template: the instance name is the role; the sandbox is the server's.
    assert replica["Service"]["ExecStart"].split()[1:2] == ["server"]
    assert replica["Service"]["ExecStart"].endswith("--role %i")
    for key, value in server["Service"].items():
        if key.startswith(("Protect", "Restrict", "Private", "NoNewPrivileges", "Capability")):
            assert replica["Service"].get(key) == value, key
    agent_service = agent["Service"]
    assert agent_service["ExecStart"].startswith(
        "/opt/hearth-agent/bin/hearth-agent --bootstrap /etc/hearth/bootstrap.json --state-dir /var/lib/hearth-agent"
    )
    assert int(agent_service["WatchdogSec"]) > 0  # agent/sdnotify.py pings WATCHDOG=1
    assert agent_service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # re-reads the bootstrap
    assert agent["Unit"]["ConditionPathExists"] == "/etc/hearth/bootstrap.json"
    # systemd restarts a dead agent whatever the cause, a few seconds apart, and never gives up.
    assert agent["Unit"]["StartLimitIntervalSec"] == "0"
    assert 1 <= int(agent_service["RestartSec"]) <= 30
    # Hooks run sudo, install setuid binaries and write the whole system: these must stay off.
    for key in ("NoNewPrivileges", "RestrictSUIDSGID", "ProtectSystem", "PrivateDevices", "ProtectClock"):
        assert key not in agent_service, key
    text = (PACKAGING / "systemd" / "hearth-agent.service").read_text()
    for key in ("NoNewPrivileges", "RestrictSUIDSGID", "ProtectClock", "ProtectKernelModules"):
        assert re.search(rf"^#\s+{key}\s+\S", text, re.M), f"why {key} is off is not explained"


@pytest.mark.parametrize("name", ["hearth-server.service", "hearth-agent.service", "hearth-server@.service"])
def test_systemd_analyze_verify_accepts_the_units(name, tmp_path):
    """ExecStart is pointed at /bin/true: verify refuses a unit whose binary is not installed.
    The replica template is verified as an instance (`hearth-server@engine.service`)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = (PACKAGING / "systemd" / name).read_text()
    name = name.replace("@.", "@engine.")
    (tmp_path / name).write_text(re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", text, flags=re.M))
    done = subprocess.run(
        ["systemd-analyze", "verify", f"./{name}"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Unknown" not in output and "ignoring" not in output, output


def test_server_sends_ready_once_listening_and_stopping_on_sigterm(tmp_path):
    address = str(tmp_path / "notify")
    port = free_port()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(60)  # the deadline for the server to start
        env = {**os.environ, "NOTIFY_SOCKET": address}
        process = subprocess.Popen(
            [
                str(BIN / "hearth"),
                "server",
                "--db",
                f"sqlite:///{tmp_path}/h.db",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            ready = sock.recv(4096).decode()
            assert ready.splitlines()[0] == "READY=1"
            assert f"STATUS=listening on 127.0.0.1:{port}" in ready
            # READY means listening: a connection succeeds at once, without retrying.
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            process.send_signal(signal.SIGTERM)
            assert sock.recv(4096).decode() == "STOPPING=1"
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()


def test_sd_notify_reaches_an_abstract_socket_and_is_silent_without_systemd(monkeypatch):
    from metadata_server.server_command import sd_notify

    name = f"hearth-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("READY=1") is True
        assert sock.recv(64) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sd_notify("READY=1") is False


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done


def installed_names(python: Path) -> set[str]:
    import json

    listed = run([str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"])
    return {p["name"].lower() for p in json.loads(listed.stdout)}


def test_agent_only_distribution_installs_with_its_own_dependencies_and_finds_its_hooks(tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--disable-pip-version-check", str(PACKAGING / "agent")])
    assert installed_names(python) - VENV_TOOLS == AGENT_DEPENDENCIES
    helped = run([str(venv / "bin" / "hearth-agent"), "--help"], cwd=tmp_path)
    assert "--bootstrap" in helped.stdout
    # cwd outside the checkout, so only what the venv holds can be imported.
    flask = subprocess.run([str(python), "-c", "import flask"], cwd=tmp_path, capture_output=True)
    assert flask.returncode != 0
    hooks = venv / "share" / "hearth" / "hooks"
    assert (hooks / "script").is_file() and os.access(hooks / "script", os.X_OK)
    found = run(
        [
            str(python),
            "-c",
            ("import agent.runner as r; print(r.__file__); print(r.find_hook('script', r.hook_search_path()))"),
        ],
        cwd=tmp_path,
    )
    module, hook = found.stdout.split()
    assert module.startswith(str(venv)) and hook == str(hooks / "script")
    assert (venv / "share" / "hearth" / "systemd" / "hearth-agent.service").read_text() == (
        PACKAGING / "systemd" / "hearth-agent.service"
    ).read_text()


def test_diskimage_builder_element_installs_the_agent_layout_into_a_root(tmp_path):
    """DIB runs install.d in the image chroot; TARGET_ROOT points it at a folder instead."""
    wheels = tmp_path / "wheels"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(wheels),
            str(PACKAGING / "agent"),
        ]
    )
    (_wheel,) = wheels.glob("hearth_agent-*.whl")  # exactly one
    root = tmp_path / "root"
    element = PACKAGING / "diskimage-builder" / "hearth-agent"
    env = {
        **os.environ,
        "TARGET_ROOT": str(root),
        "DIB_HEARTH_AGENT_STAGED": str(wheels),
        "DIB_HEARTH_AGENT_PYTHON": sys.executable,
    }
    run([str(element / "install.d" / "75-hearth-agent")], env=env)
    venv = root / "opt" / "hearth-agent"
    assert os.access(venv / "share" / "hearth" / "hooks" / "script", os.X_OK)
    assert installed_names(venv / "bin" / "python") - VENV_TOOLS == AGENT_DEPENDENCIES
    assert "--state-dir" in run([str(venv / "bin" / "hearth-agent"), "--help"], cwd=tmp_path).stdout
    installed = (root / "etc" / "systemd" / "system" / "hearth-agent.service").read_text()
    assert installed == (PACKAGING / "systemd" / "hearth-agent.service").read_text()
    assert "ExecStart=/opt/hearth-agent/bin/hearth-agent " in installed
    wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants" / "hearth-agent.service"
    assert os.readlink(wants) == "/etc/systemd/system/hearth-agent.service"
    link = root / "usr" / "local" / "bin" / "hearth-agent"
    assert os.readlink(link) == "/opt/hearth-agent/bin/hearth-agent"
    assert (root / "etc" / "hearth").stat().st_mode & 0o777 == 0o700
    assert (element / "element-deps").read_text().split() == ["package-installs"]
    assert os.access(element / "extra-data.d" / "50-hearth-agent", os.X_OK)


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (PACKAGING / "container" / "Containerfile").read_text()
    lines, joined = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        joined += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            lines.append(tuple(joined.strip().split(None, 1)) + ("",))
            joined = ""
    return [(parts[0].upper(), parts[1]) for parts in lines]


def test_containerfile_is_well_formed_non_root_and_its_healthcheck_answers(shared_hearth):
    known = {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD"}
    instructions = containerfile()
    assert {kind for kind, _ in instructions} <= known
    assert instructions[0] == ("FROM", "python:3.11-slim")
    values = dict(instructions)
    assert values["USER"].split(":")[0] not in ("", "0", "root")
    assert values["EXPOSE"] == "8004" and "/var/lib/hearth" in values["VOLUME"]
    for kind, args in instructions:
        if kind == "COPY":
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    found = re.search(r"'(/[^']+)', timeout", values["HEALTHCHECK"])
    assert found is not None, values["HEALTHCHECK"]
    answer = shared_hearth.http.get(shared_hearth.url + found.group(1), timeout=30)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"  # /healthz


@pytest.mark.slow
def test_container_image_builds(tmp_path):
    """Needs a Docker daemon, which CI machines here do not run (only the docker CLI is
    installed): it skips without one, unless HEARTH_TEST_CONTAINER=1 asks for it, and then
    fails. test_containerfile_is_well_formed_non_root_and_its_healthcheck_answers covers the file meanwhile."""
    docker = shutil.which("docker")
    daemon = docker and subprocess.run([docker, "info"], capture_output=True, timeout=60).returncode == 0
    if not daemon:
        if os.environ.get("HEARTH_TEST_CONTAINER") == "1":
            pytest.fail("HEARTH_TEST_CONTAINER=1 but no Docker daemon answers `docker info`")
        pytest.skip("no Docker daemon answers `docker info` (set HEARTH_TEST_CONTAINER=1 to require one)")
    tag = f"hearth-server-test:{os.getpid()}"
    run([docker, "build", "-f", str(PACKAGING / "container" / "Containerfile"), "-t", tag, str(ROOT)])
    try:
        user = run([docker, "image", "inspect", "--format", "{{.Config.User}}", tag]).stdout.strip()
        assert user == "10001:10001"
    finally:
        subprocess.run([docker, "image", "rm", "-f", tag], capture_output=True, timeout=120)
