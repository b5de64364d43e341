"""The `hearth` command line: `cli` is the click group (others add commands to it), `main()` runs it."""
from __future__ import annotations

from dataclasses import dataclass

import click
import requests

from engine.cli.client import CliError, HearthClient, discover_token
from engine.cli.waiting import MIN_ROUND, EventFeed

DEFAULT_URL = "http://127.0.0.1:8004"


@dataclass
class Runtime:
    """What a caller may inject through click's `obj`: the HTTP session and the poll pacing.

    An injected session belongs to the caller, who closes it; otherwise the command makes
    one and closes it when the command ends.
    """

    session: requests.Session | None = None
    min_round: float = MIN_ROUND


class Connection:
    """The global options, and the client built from them on first use."""

    def __init__(self, ctx: click.Context, url: str, project: str, token: str | None,
                 timeout: float, runtime: Runtime):
        self.ctx = ctx
        self.url = url
        self.project = project
        self.token = token
        self.timeout = timeout
        self.runtime = runtime
        self._client: HearthClient | None = None

    @property
    def client(self) -> HearthClient:
        if self._client is None:
            session = self.runtime.session
            if session is None:
                session = requests.Session()
                self.ctx.call_on_close(session.close)
            self._client = HearthClient(self.url, self.project, session=session,
                                        token=self.token or discover_token(self.url),
                                        timeout=self.timeout)
        return self._client

    def feed(self, stack: dict) -> EventFeed:
        return EventFeed(self.client, stack, min_round=self.runtime.min_round)


class HearthGroup(click.Group):
    """Turns every CliError into `ERROR: <message>` and exit 1, and Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CliError as exc:
            click.echo(f"ERROR: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("", err=True)
            ctx.exit(130)


@click.group(cls=HearthGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="HEARTH_URL", default=DEFAULT_URL, show_default=True,
              help="Hearth server URL (env HEARTH_URL).")
@click.option("--project", envvar="HEARTH_PROJECT", default="admin", show_default=True,
              help="Project the stacks belong to (env HEARTH_PROJECT).")
@click.option("--token", envvar="HEARTH_TOKEN", default=None,
              help="Sent as X-Auth-Token (env HEARTH_TOKEN); default: the admin token of a "
                   "server on this machine (HEARTH_ADMIN_TOKEN or DATA_DIR/admin-token).")
@click.option("--timeout", "http_timeout", type=click.FloatRange(min=0, min_open=True),
              default=30.0, show_default=True, metavar="SECONDS",
              help="Seconds to wait for each HTTP answer.")
@click.pass_context
def cli(ctx: click.Context, url: str, project: str, token: str | None, http_timeout: float):
    """Hearth: Heat-compatible orchestration. Stack commands speak to a Hearth server."""
    runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    ctx.obj = Connection(ctx, url, project, token, http_timeout, runtime)


def _register() -> None:
    """The command tree; each group appears under Hearth's short name and, where openstack
    spells it differently, under openstack's too (`stack resource list`, `orchestration
    template validate`, ...)."""
    from engine.cli import (admin, events, hooks, keys, outputs, resource_types, resources,
                            stack_actions, stack_parts, stack_update, stacks, templates)

    stack = stacks.stack
    stack_commands = {
        "update": stack_update.update, "suspend": stack_actions.suspend,
        "resume": stack_actions.resume, "check": stack_actions.check,
        "cancel": stack_actions.cancel, "abandon": stack_actions.abandon,
        "environment": stack_parts.environment, "file": stack_parts.file,
        "template": stack_parts.template, "hook": hooks.hook,
        "resource": resources.resource, "event": events.event, "output": outputs.output,
    }
    for name, command in stack_commands.items():
        stack.add_command(command, name)
    resources.resource.add_command(resource_types.resource_type, "type")
    orchestration = click.Group("orchestration", help="Resource types and templates (openstack's spelling).")
    orchestration.add_command(templates.template, "template")
    orchestration.add_command(click.Group("resource", commands={"type": resource_types.resource_type},
                                          help="Resource types."), "resource")
    commands = {
        "stack": stack,
        "resource": resources.resource,
        "event": events.event,
        "output": outputs.output,
        "template": templates.template,
        "orchestration": orchestration,
        "admin": admin.admin,
        "keys": keys.keys,
    }
    for name, command in commands.items():
        cli.add_command(command, name)


_register()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="hearth")


__all__ = ["cli", "main", "Runtime", "Connection"]
