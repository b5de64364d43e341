"""`hearth stack environment show`, `stack file list`, `stack template show`: speaks HTTP only,
through the context's HearthClient; no files.

What a stack was made from, as stored (YAML by default, as openstack prints them).
"""

from __future__ import annotations

import click

from engine.cli.formatting import emit, format_options, ordered_fields, render_record

TEMPLATE_SECTIONS = [
    "heat_template_version",
    "description",
    "parameter_groups",
    "parameters",
    "conditions",
    "resources",
    "outputs",
]
ENVIRONMENT_SECTIONS = ["parameters", "parameter_defaults", "resource_registry"]


def part_command(part: str, verb: str, first: list[str], doc: str) -> click.Command:
    @click.command(verb, help=doc)
    @click.argument("stack_name_or_id", metavar="STACK")
    @format_options(default="yaml")
    @click.pass_obj
    def command(conn, stack_name_or_id, fmt, columns):
        record = conn.client.stack_part(conn.client.get_stack(stack_name_or_id), part) or {}
        emit(render_record(record, ordered_fields(record, first), fmt, columns))

    return command


environment_show = part_command(
    "environment", "show", ENVIRONMENT_SECTIONS, "Show the environment STACK was made with."
)
file_list = part_command("files", "list", [], "Show the files map STACK was made with (name: text).")
template_show = part_command("template", "show", TEMPLATE_SECTIONS, "Show the template of STACK.")


@click.group("environment")
def environment():
    """A stack's environment."""


@click.group("file")
def file():
    """A stack's files map."""


@click.group("template")
def template():
    """A stack's template."""


environment.add_command(environment_show)
file.add_command(file_list)
template.add_command(template_show)
