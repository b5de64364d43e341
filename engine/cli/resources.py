"""`hearth resource list|show|mark unhealthy|signal`: speaks HTTP only, through the context's
HearthClient; reads `--data-file` when given.

A stack's resources, addressed through the resolved stack (also spelled `hearth stack resource
...`, as openstack does).
"""

from __future__ import annotations

import json

import click

from engine.cli.client import CliError
from engine.cli.formatting import emit, format_options, ordered_fields, render_record, render_rows
from engine.cli.groups import LazyGroup
from engine.cli.stack_request import read_text

LIST_COLUMNS = ["resource_name", "physical_resource_id", "resource_type", "resource_status", "updated_time"]
SHOW_FIELDS = [
    "resource_name",
    "logical_resource_id",
    "physical_resource_id",
    "resource_type",
    "resource_status",
    "resource_status_reason",
    "description",
    "attributes",
    "creation_time",
    "updated_time",
    "required_by",
]


def stack_name_of(resource: dict) -> str | None:
    """The name of the stack a listed resource belongs to, from its `stack` link (as
    python-heatclient reads it): with --nested-depth, rows come from several stacks."""
    for link in resource.get("links") or []:
        if link.get("rel") == "stack":
            return link.get("href", "").rstrip("/").split("/")[-2]
    return resource.get("stack_name")


def key_values(items: tuple[str, ...], option: str) -> dict:
    found: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{option} expects KEY=VALUE, got {item!r}")
        found.setdefault(key, []).append(value)
    return found


@click.group(cls=LazyGroup, lazy_commands={"type": "engine.cli.resource_types:resource_type"})
def resource():
    """List, show, mark and signal a stack's resources."""


@resource.command("list")
@click.argument("stack_name_or_id", metavar="STACK")
@click.option(
    "-n",
    "--nested-depth",
    type=click.IntRange(min=0),
    default=0,
    help="Also list the resources of nested stacks this deep (adds a stack_name column).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only resources with this name, type, status, action, id or physical_resource_id (repeatable).",
)
@format_options()
@click.pass_obj
def list_(conn, stack_name_or_id, nested_depth, filters, fmt, columns):
    """List the resources of STACK."""
    target = conn.client.get_stack(stack_name_or_id)
    rows = conn.client.list_resources(target, nested_depth=nested_depth, filters=key_values(filters, "--filter"))
    shown = LIST_COLUMNS
    if nested_depth:
        rows = [dict(row, stack_name=stack_name_of(row)) for row in rows]
        shown = LIST_COLUMNS + ["stack_name"]
    emit(render_rows(rows, shown, fmt, columns))


@resource.command("show")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("resource_name", metavar="RESOURCE")
@format_options()
@click.pass_obj
def show(conn, stack_name_or_id, resource_name, fmt, columns):
    """Show RESOURCE of STACK, with its attributes."""
    target = conn.client.get_stack(stack_name_or_id)
    record = conn.client.get_resource(target, resource_name)
    emit(render_record(record, ordered_fields(record, SHOW_FIELDS), fmt, columns))


@resource.group("mark")
def mark():
    """Set a resource's health."""


@mark.command("unhealthy")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("resource_name", metavar="RESOURCE")
@click.argument("reason", required=False, default="")
@click.option("--reset", is_flag=True, help="Mark the resource healthy again (CHECK_COMPLETE).")
@click.pass_obj
def unhealthy(conn, stack_name_or_id, resource_name, reason, reset):
    """Mark RESOURCE of STACK unhealthy (CHECK_FAILED), so the next update replaces it."""
    target = conn.client.get_stack(stack_name_or_id)
    conn.client.mark_unhealthy(target, resource_name, not reset, reason)


@resource.command("signal")
@click.argument("stack_name_or_id", metavar="STACK")
@click.argument("resource_name", metavar="RESOURCE")
@click.option("-D", "--data", metavar="JSON", help="The signal's data, as JSON.")
@click.option("--data-file", metavar="FILE", help="The signal's data, from a JSON file.")
@click.pass_obj
def signal(conn, stack_name_or_id, resource_name, data, data_file):
    """Send a signal to RESOURCE of STACK (a wait condition handle, a deployment, ...)."""
    if data is not None and data_file is not None:
        raise click.UsageError("give either --data or --data-file, not both")
    text = read_text(data_file, "--data-file") if data_file else data
    try:
        details = None if text is None else json.loads(text)
    except ValueError as exc:
        raise CliError(f"{data_file or '--data'}: not valid JSON: {exc}") from None
    target = conn.client.get_stack(stack_name_or_id)
    conn.client.signal_resource(target, resource_name, details)
