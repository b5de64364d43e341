"""`hearth stack hook poll|clear`: speaks HTTP only, through the context's HearthClient; no files.

Breakpoints (the environment's `hooks: pre-create`, ...) that resources are paused at, and
clearing them with a signal so the operation goes on.
"""

from __future__ import annotations

import re

import click

from engine.cli.client import CliError
from engine.cli.formatting import emit, format_options, render_rows

HOOKS = ("pre-create", "pre-update", "pre-delete")
PAUSED = re.compile(r"paused until Hook (pre-[a-z]+) is cleared")


def pending_hooks(events: list[dict], stack: dict) -> dict[str, str]:
    """Resource name -> the hook it is paused at: a resource is paused while the last event
    it has is a `... paused until Hook pre-create is cleared` one (oldest events first)."""
    pending: dict[str, str] = {}
    for event in events:
        name = event.get("resource_name")
        if name == stack.get("stack_name") and event.get("physical_resource_id") == stack.get("id"):
            continue  # the stack's own events say nothing about one resource
        found = PAUSED.search(event.get("resource_status_reason") or "")
        if found:
            pending[name] = found.group(1)
        else:
            pending.pop(name, None)
    return pending


@click.group()
def hook():
    """Breakpoints resources are paused at."""


@hook.command("poll")
@click.argument("stack_name_or_id", metavar="STACK")
@format_options()
@click.pass_obj
def poll(conn, stack_name_or_id, fmt, columns):
    """List the resources of STACK paused at a hook, and the hook."""
    target = conn.client.get_stack(stack_name_or_id)
    pending = pending_hooks(conn.feed(target).backlog(), target)
    rows = [{"resource_name": name, "pending_hook": hook} for name, hook in pending.items()]
    emit(render_rows(rows, ["resource_name", "pending_hook"], fmt, columns))


@hook.command("clear")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("resources", nargs=-1, required=True, metavar="RESOURCE...")
@click.option("--pre-create", is_flag=True, help="Clear the pre-create hook.")
@click.option("--pre-update", is_flag=True, help="Clear the pre-update hook.")
@click.option("--pre-delete", is_flag=True, help="Clear the pre-delete hook.")
@click.pass_obj
def clear(conn, stack_name_or_id, resources, pre_create, pre_update, pre_delete):
    """Clear the hooks RESOURCE... of STACK are paused at (or the ones named), so they go on."""
    hooks = [h for h, on in zip(HOOKS, (pre_create, pre_update, pre_delete), strict=False) if on]
    target = conn.client.get_stack(stack_name_or_id)
    pending = {} if hooks else pending_hooks(conn.feed(target).backlog(), target)
    for name in resources:
        chosen = list(hooks) or ([pending[name]] if name in pending else [])
        if not chosen:
            raise CliError(
                f"resource {name} is not paused at a hook (name one with --pre-create, --pre-update or --pre-delete)"
            )
        for one in chosen:
            conn.client.signal_resource(target, name, {"unset_hook": one})
