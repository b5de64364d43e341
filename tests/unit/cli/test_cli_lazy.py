"""The client apart from the server: a fresh interpreter runs `hearth` (metadata_server.cli, the
console script's entry point) and no client command loads Flask, werkzeug, SQLAlchemy or the
store; `hearth stack list` loads neither requests (the CLI speaks http.client) nor PyYAML;
`hearth --help` lists every command without importing one. And the lazy command tree:
each summary `--help` shows is its command's, each name leads to a command.

What is imported is read from the child's sys.modules, which is exact; how long start-up takes
is measured by bench/cli_startup.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
import pytest

from engine.cli import COMMANDS
from engine.cli.groups import LazyGroup
from metadata_server.cli import SERVER_COMMANDS, hearth
from tests.support import ROOT

SERVER_SIDE = ("flask", "werkzeug", "sqlalchemy", "engine.store")
# What `stack list` used to load and no longer needs: about half of its start-up (bench/cli_startup.py).
HEAVY_CLIENT_SIDE = ("requests", "urllib3", "charset_normalizer", "idna", "yaml", "logging")
COMMAND_MODULES = ("requests", "yaml", "engine.cli.stacks", "engine.cli.admin", "metadata_server.server_command")

# Runs each argument list through the entry point in turn, in one interpreter, and writes the
# modules loaded after each (a command that exits still counts) to the file named by argv[2].
PROBE = """
import json, sys
from metadata_server.cli import hearth
loaded = []
for args in json.loads(sys.argv[1]):
    try:
        hearth.main(args=args, prog_name="hearth")
    except SystemExit as done:
        code = done.code
    loaded.append({"args": args, "code": code, "modules": sorted(sys.modules)})
with open(sys.argv[2], "w") as out:
    json.dump(loaded, out)
"""

STACKS = [
    {
        "id": "6f1c",
        "stack_name": "web",
        "stack_status": "CREATE_COMPLETE",
        "creation_time": "2026-01-01T00:00:00Z",
        "updated_time": None,
    }
]


class StackList(BaseHTTPRequestHandler):
    """`GET /v1/admin/stacks` and nothing else: enough for `hearth stack list` to run to its end."""

    def do_GET(self):
        found = self.path.split("?")[0] == "/v1/admin/stacks"
        body = json.dumps({"stacks": STACKS} if found else {"error": {"message": "no"}}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StackList)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def probe(tmp_path, *commands: list[str]) -> tuple[list[dict], str]:
    """What each command loaded, and what they printed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HEARTH_")}
    env.update(PYTHONPATH=str(ROOT), HEARTH_TOKEN="t", HEARTH_DATA_DIR=str(tmp_path))
    out = tmp_path / "loaded.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def among(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_help_lists_every_command_and_imports_none_of_them(tmp_path):
    (shown,), printed = probe(tmp_path, ["--help"])
    assert shown["code"] == 0 and "server " in printed and "keys " in printed
    assert among(shown["modules"], SERVER_SIDE + COMMAND_MODULES) == []


def test_client_commands_load_no_flask_sqlalchemy_nor_the_store(tmp_path, api):
    commands = [
        ["--url", api, "stack", "list", "-f", "json"],  # a request, an answer, rendered
        ["stack", "create", "--help"],
        ["stack", "update", "--help"],
        ["stack", "resource", "list", "--help"],
        ["event", "list", "--help"],
        ["output", "show", "--help"],
        ["template", "validate", "--help"],
        ["orchestration", "resource", "type", "list", "--help"],
        ["admin", "project", "list", "--help"],
        ["server", "bootstrap", "--help"],
    ]  # over HTTP too, though under `server`
    ran, printed = probe(tmp_path, *commands)
    assert [r["code"] for r in ran] == [0] * len(commands)
    assert '"stack_name": "web"' in printed  # stack list did reach the stand-in
    loaded = {" ".join(r["args"][-3:]): among(r["modules"], SERVER_SIDE) for r in ran}
    assert loaded == {name: [] for name in loaded}
    # The first command ran alone in a fresh interpreter: what it loaded is its own.
    assert among(ran[0]["modules"], HEAVY_CLIENT_SIDE) == []


def groups(group: click.Group, path: str = "hearth"):
    """Every group in the tree below `group`, with its command path; lazy ones are loaded."""
    yield path, group
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, f"{path} {name} names no command"
        if isinstance(command, click.Group):
            yield from groups(command, f"{path} {name}")


def test_each_summary_help_shows_is_its_command_s_own():
    context = click.Context(hearth)
    for name, (_, summary) in {**COMMANDS, **SERVER_COMMANDS}.items():
        command = hearth.get_command(context, name)
        assert command is not None
        assert click.Command(name, help=summary).get_short_help_str(1000) == command.get_short_help_str(1000), name


def test_every_lazy_name_leads_to_a_command_in_the_tree_openstack_spells_too():
    found = dict(groups(hearth))
    assert sorted(found["hearth"].list_commands(click.Context(hearth))) == sorted([*COMMANDS, *SERVER_COMMANDS])
    assert {
        "hearth stack",
        "hearth stack resource",
        "hearth stack resource type",
        "hearth orchestration resource",
        "hearth server",
    } <= set(found)
    assert found["hearth stack resource type"] is found["hearth resource type"]


def test_a_lazy_name_that_is_not_a_command_fails_loudly():
    group = LazyGroup("g", lazy_commands={"x": "engine.cli:COMMANDS"})
    with pytest.raises(TypeError, match=r"engine\.cli:COMMANDS"):
        group.get_command(click.Context(group), "x")
