"""`hearth resource list|show`: a stack's resources, addressed through the resolved stack."""
from __future__ import annotations

import click

from engine.cli.output import emit, format_options, ordered_fields, render_record, render_rows

LIST_COLUMNS = ["resource_name", "physical_resource_id", "resource_type", "resource_status",
                "updated_time"]
SHOW_FIELDS = ["resource_name", "logical_resource_id", "physical_resource_id", "resource_type",
               "resource_status", "resource_status_reason", "description", "attributes",
               "creation_time", "updated_time", "required_by"]


@click.group()
def resource():
    """List and show a stack's resources."""


@resource.command("list")
@click.argument("stack_name_or_id", metavar="STACK")
@format_options()
@click.pass_obj
def list_(conn, stack_name_or_id, fmt, columns):
    """List the resources of STACK."""
    target = conn.client.get_stack(stack_name_or_id)
    emit(render_rows(conn.client.list_resources(target), LIST_COLUMNS, fmt, columns))


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
