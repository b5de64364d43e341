"""`hearth stack update`: speaks HTTP through the context's HearthClient; reads the local template,
environment and parameter files (engine.cli.stack_request).

A new template, environment or parameters for a stack (PUT), or changes on top of what it has
(`--existing`, PATCH); `--dry-run` shows what would change.
"""

from __future__ import annotations

import click

from engine.cli.formatting import emit, format_options, render_rows
from engine.cli.stack_operations import progress_echo, show_stack, start_and_follow, wait_help
from engine.cli.stack_request import parse_parameters, template_fields
from engine.cli.stacks import environment_options

CHANGES = ("added", "deleted", "replaced", "updated", "unchanged")
CHANGE_COLUMNS = ["change", "resource_name", "resource_type"]


def change_rows(changes: dict) -> list[dict]:
    """The preview's resource_changes as one row per resource, in Heat's order of kinds."""
    return [{"change": kind, **resource} for kind in CHANGES for resource in changes.get(kind) or []]


@click.command("update")
@click.argument("stack_name_or_id", metavar="STACK")
@click.option(
    "-t",
    "--template",
    "template_file",
    metavar="FILE",
    help="New template file (with --existing, optional: the current one is kept).",
)
@environment_options
@click.option(
    "--existing", is_flag=True, help="Keep the stack's template, parameters and environment; change only what is given."
)
@click.option(
    "--clear-parameter",
    "clear",
    multiple=True,
    metavar="NAME",
    help="With --existing: forget this parameter's value, back to its default (repeatable).",
)
@click.option(
    "--rollback",
    type=click.Choice(["enabled", "disabled", "keep"]),
    default="keep",
    show_default=True,
    help="Roll back to the previous definition if the update fails.",
)
@click.option(
    "--timeout", "timeout_mins", type=click.IntRange(min=1), metavar="MINUTES", help="Stack update timeout in minutes."
)
@click.option("--tags", metavar="TAG1,TAG2", help="New tags for the stack.")
@click.option("--converge", is_flag=True, help="Check every resource against reality, not only changed ones.")
@click.option("--dry-run", is_flag=True, help="Only show which resources would change, and how.")
@click.option("--wait", is_flag=True, help=wait_help("the update"))
@format_options()
@click.pass_obj
def update(
    conn,
    stack_name_or_id,
    template_file,
    env_files,
    parameters,
    existing,
    clear,
    rollback,
    timeout_mins,
    tags,
    converge,
    dry_run,
    wait,
    fmt,
    columns,
):
    """Update STACK with a new template, environment or parameter values."""
    if template_file is None and not existing:
        raise click.UsageError("give the new template with -t FILE, or --existing to keep the current one")
    body = template_fields(template_file, env_files, parse_parameters(parameters))
    if clear:
        body["clear_parameters"] = list(clear)
    if rollback != "keep":
        body["disable_rollback"] = rollback == "disabled"
    body.update({key: value for key, value in (("timeout_mins", timeout_mins), ("tags", tags)) if value is not None})
    if converge:
        body["converge"] = True
    target = conn.client.get_stack(stack_name_or_id)
    if dry_run:
        changes = conn.client.preview_update(target, body, patch=existing)
        emit(render_rows(change_rows(changes), CHANGE_COLUMNS, fmt, columns))
        return
    start_and_follow(
        conn,
        target,
        lambda: conn.client.update_stack(target, body, patch=existing),
        "UPDATE" if wait else None,
        progress_echo(fmt),
    )
    show_stack(conn.client.get_stack(target["id"]), fmt, columns)
