"""The click groups `hearth` is made of: they import click alone and touch nothing but stderr (the
error line) and the exit status.

LazyGroup imports a subcommand only when it is used; HearthGroup also shows a CliError as
`ERROR: <message>` (exit 1) and Ctrl-C as exit 130.

This module imports click alone: it is on the path of every command, `hearth --help` included.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import click

# "module:attr" of a command; or ("module:attr", its one-line summary), which `--help` shows
# without importing the module.
LazyCommand = str | tuple[str, str]


class CliError(Exception):
    """A failure the command line shows as `ERROR: <message>` and exits 1 on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LazyGroup(click.Group):
    """A group whose `lazy_commands` (name → LazyCommand) are imported when one of them runs,
    so that a client command never loads the server's modules (Flask, SQLAlchemy, the store)
    and the server's commands cost nothing until they run.

    `--help` imports the commands it lists, except those given with a summary: the root group
    gives one for each of its commands, so that `hearth --help` imports none of them.
    """

    def __init__(self, *args, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, name: str) -> click.Command:
        target = self.lazy_commands[name]
        path = target if isinstance(target, str) else target[0]
        module, _, attr = path.partition(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{path} (the command {name!r}) is not a click command")
        return command

    def summary(self, name: str) -> str | None:
        """The one-line help of a command that is not imported yet, when it was given."""
        target = self.lazy_commands.get(name)
        return target[1] if isinstance(target, tuple) and name not in self.commands else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but a command with a summary is listed by it, unimported."""
        listed: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            summary = self.summary(name)
            command = click.Command(name, help=summary) if summary is not None else self.get_command(ctx, name)
            if command is not None and not command.hidden:
                listed.append((name, command))
        if listed:
            limit = formatter.width - 6 - max(len(name) for name, _ in listed)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in listed])


class HearthGroup(LazyGroup):
    """The root of a command line (`hearth`, `hearth-server`): a LazyGroup that turns every
    CliError into `ERROR: <message>` and exit 1, and Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CliError as exc:
            click.echo(f"ERROR: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("", err=True)
            ctx.exit(130)
