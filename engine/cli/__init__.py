"""The `hearth` command line, owning the root group and COMMANDS: no I/O and no import beyond click
until a command runs; the global options become a Connection, whose HTTP client is made on use.

`command_line(commands)` builds a root group (the global options, then `commands` imported only
when they run); `cli` is the client's, `main()` runs it.

Nothing here imports more than click: `hearth --help` lists every command from COMMANDS without
importing one, and a command imports only its own modules, so a client command (which speaks
HTTP) never loads Flask, SQLAlchemy or the store. metadata_server.cli adds `hearth server`.
"""

from __future__ import annotations

from collections.abc import Mapping

import click

from engine.cli.groups import HearthGroup, LazyCommand

DEFAULT_URL = "http://127.0.0.1:8004"

# Each command with the summary `hearth --help` shows for it (tests/unit/cli/test_cli_lazy.py
# checks that it is the command's own). openstack's spellings live in the groups that hold them:
# `stack resource list` (engine.cli.stacks), `orchestration template validate` (.templates).
COMMANDS: dict[str, LazyCommand] = {
    "stack": ("engine.cli.stacks:stack", "Create, update, act on, list, show and delete stacks."),
    "resource": ("engine.cli.resources:resource", "List, show, mark and signal a stack's resources."),
    "event": ("engine.cli.events:event", "List and follow a stack's events, or the project's event stream."),
    "output": ("engine.cli.outputs:output", "List and show stack outputs."),
    "fact": ("engine.cli.facts:fact", "List, show, set and delete a stack's facts."),
    "template": ("engine.cli.templates:template", "Template versions, functions and validation."),
    "orchestration": ("engine.cli.templates:orchestration", "Resource types and templates (openstack's spelling)."),
    "admin": (
        "engine.cli.admin:admin",
        ("Manage projects, users, roles, tokens and delegations; read the audit log (cloud admin)."),
    ),
    # On the server's host, on its key file and database: the one command here that imports
    # the store, which is why it is loaded only when it runs.
    "keys": ("engine.cli.keys:keys", "Rotate the keys that encrypt stored secrets and sign pre-signed URLs."),
}


def command_line(commands: Mapping[str, LazyCommand]) -> HearthGroup:
    """A `hearth` root group with the global options and `commands`."""

    @click.group(
        "hearth", cls=HearthGroup, lazy_commands=commands, context_settings={"help_option_names": ["-h", "--help"]}
    )
    @click.option(
        "--url", envvar="HEARTH_URL", default=DEFAULT_URL, show_default=True, help="Hearth server URL (env HEARTH_URL)."
    )
    @click.option(
        "--project",
        envvar="HEARTH_PROJECT",
        default="admin",
        show_default=True,
        help="Project the stacks belong to (env HEARTH_PROJECT).",
    )
    @click.option(
        "--token",
        envvar="HEARTH_TOKEN",
        default=None,
        help="Sent as X-Auth-Token (env HEARTH_TOKEN); default: the admin token of a "
        "server on this machine (HEARTH_ADMIN_TOKEN or DATA_DIR/admin-token).",
    )
    @click.option(
        "--timeout",
        "http_timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="Seconds to wait for each HTTP answer.",
    )
    @click.pass_context
    def hearth(ctx: click.Context, url: str, project: str, token: str | None, http_timeout: float):
        """Hearth: Heat-compatible orchestration. Stack commands speak to a Hearth server."""
        # Here, not at the top: the HTTP client is for the commands that run, not for `--help`.
        from engine.cli.connection import ClientOptions, Connection

        options = ctx.obj if isinstance(ctx.obj, ClientOptions) else ClientOptions()
        ctx.obj = Connection(ctx, url, project, token, http_timeout, options)

    return hearth


cli = command_line(COMMANDS)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="hearth")


__all__ = ["COMMANDS", "cli", "command_line", "main"]
