"""The `hearth` and `hearth-server` entry points: they import a command only when it runs and touch
nothing themselves.

The `hearth` and `hearth-server` entry points: the client's commands (engine.cli.COMMANDS) and
`hearth server`, each imported only when it runs, so that a client command loads neither Flask nor
SQLAlchemy nor the store, and `hearth --help` lists all of them without importing one.
"""

from __future__ import annotations

from engine.cli import COMMANDS, command_line

SERVER_COMMANDS = {
    "server": (
        "metadata_server.server_command:server",
        ("Run the Hearth server (orchestration API, guest API and engine) until SIGINT/SIGTERM."),
    ),
}

hearth = command_line({**COMMANDS, **SERVER_COMMANDS})


def main() -> None:
    hearth.main(prog_name="hearth")


def serve_main() -> None:
    from metadata_server.server_command import server

    server.main(prog_name="hearth-server")
