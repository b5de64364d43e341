"""`hearth stack create|adopt|list|show|delete`: speaks HTTP through the context's HearthClient;
reads the local template, environment and parameter files (engine.cli.stack_request, imported by
create and adopt only).

One request shape per verb; waits by long-poll.
"""

from __future__ import annotations

import click

from engine.cli.client import CliError
from engine.cli.formatting import emit, format_options, ordered_fields, render_record, render_rows
from engine.cli.groups import LazyGroup
from engine.cli.stack_operations import (
    LIST_COLUMNS,
    each_stack,
    progress_echo,
    show_stack,
    until_done,
    wait_help,
)

CREATED_FIELDS = ["id", "stack_name", "stack_status", "creation_time"]
PREVIEW_FIELDS = [
    "id",
    "stack_name",
    "description",
    "parameters",
    "resources",
    "timeout_mins",
    "disable_rollback",
    "tags",
]


def environment_options(command):
    """-e and --parameter, as create, adopt, update and validate take them."""
    command = click.option(
        "--parameter",
        "parameters",
        multiple=True,
        metavar="KEY=VALUE",
        help="Parameter value (repeatable; 'K1=V1;K2=V2' also works).",
    )(command)
    return click.option(
        "-e",
        "--environment",
        "env_files",
        multiple=True,
        metavar="ENV",
        help="Environment file (repeatable, applied in order).",
    )(command)


def created(conn, body: dict, action: str, wait: bool, fmt: str, columns) -> None:
    """POST /stacks, then show the new stack, or follow `action` to its end and show it."""
    new = conn.client.create_stack(body)
    target = {"id": new["id"], "stack_name": body["stack_name"]}
    if not wait:
        emit(render_record(conn.client.get_stack(new["id"]), CREATED_FIELDS, fmt, columns))
        return
    until_done(conn.feed(target), target, action, progress_echo(fmt))
    show_stack(conn.client.get_stack(new["id"]), fmt, columns)


@click.group(
    cls=LazyGroup,
    lazy_commands={
        # The verbs that live in modules of their own, imported when they run.
        "update": "engine.cli.stack_update:update",
        "suspend": "engine.cli.stack_actions:suspend",
        "resume": "engine.cli.stack_actions:resume",
        "check": "engine.cli.stack_actions:check",
        "cancel": "engine.cli.stack_actions:cancel",
        "abandon": "engine.cli.stack_actions:abandon",
        "environment": "engine.cli.stack_parts:environment",
        "file": "engine.cli.stack_parts:file",
        "template": "engine.cli.stack_parts:template",
        "hook": "engine.cli.breakpoints:hook",
        "converge-report": "engine.cli.convergence:converge_report",
        # openstack's spelling: `stack resource list`, `stack event list`, `stack output show`
        "resource": "engine.cli.resources:resource",
        "event": "engine.cli.events:event",
        "output": "engine.cli.outputs:output",
    },
)
def stack():
    """Create, update, act on, list, show and delete stacks."""


@stack.command("create")
@click.argument("name")
@click.option(
    "-t",
    "--template",
    "template_file",
    required=True,
    metavar="FILE",
    help="Template file; its get_file references are sent with it.",
)
@environment_options
@click.option(
    "--timeout",
    "timeout_mins",
    type=click.IntRange(min=1),
    metavar="MINUTES",
    help="Stack creation timeout in minutes.",
)
@click.option("--tags", metavar="TAG1,TAG2", help="Tags to give the stack.")
@click.option("--enable-rollback", is_flag=True, help="Roll back (delete) the stack if the create fails.")
@click.option("--dry-run", is_flag=True, help="Only show what the create would make.")
@click.option("--wait", is_flag=True, help=wait_help("the create"))
@format_options()
@click.pass_obj
def create(
    conn, name, template_file, env_files, parameters, timeout_mins, tags, enable_rollback, dry_run, wait, fmt, columns
):
    """Create stack NAME from a template file."""
    # Here, not at the top: reading templates needs PyYAML, which `stack list` and `show` do not.
    from engine.cli.stack_request import parse_parameters, stack_body

    body = stack_body(name, template_file, env_files, parse_parameters(parameters), timeout_mins)
    if enable_rollback:
        body["disable_rollback"] = False
    if tags:
        body["tags"] = tags
    if dry_run:
        preview = conn.client.preview_create(body)
        emit(render_record(preview, ordered_fields(preview, PREVIEW_FIELDS), fmt, columns))
        return
    created(conn, body, "CREATE", wait, fmt, columns)


@stack.command("adopt")
@click.argument("name")
@click.option(
    "--adopt-file",
    required=True,
    metavar="FILE",
    help="The data `stack abandon` printed (template, resources and their ids).",
)
@environment_options
@click.option(
    "--timeout", "timeout_mins", type=click.IntRange(min=1), metavar="MINUTES", help="Stack adopt timeout in minutes."
)
@click.option("--enable-rollback", is_flag=True, help="Roll back the stack if the adopt fails.")
@click.option("--wait", is_flag=True, help=wait_help("the adopt"))
@format_options()
@click.pass_obj
def adopt(conn, name, adopt_file, env_files, parameters, timeout_mins, enable_rollback, wait, fmt, columns):
    """Adopt stack NAME: take over the resources an abandoned stack left behind."""
    from engine.cli.stack_request import parse_parameters, parse_yaml, read_text, template_fields  # as in create

    text = read_text(adopt_file, "adopt file")
    data = parse_yaml(text, adopt_file)
    if not isinstance(data, dict) or not isinstance(data.get("template"), dict):
        raise CliError(f"{adopt_file}: not what `stack abandon` prints (it has no 'template')")
    fields = template_fields(None, env_files, parse_parameters(parameters))
    # Heat reads the template from the adopt data; it is sent on its own too, as a server
    # that wants a template in every create then finds it. The data's files come along.
    fields["files"] = {**(data.get("files") or {}), **fields["files"]}
    body = {
        "stack_name": name,
        "template": data["template"],
        **fields,
        "adopt_stack_data": text,
        "disable_rollback": not enable_rollback,
    }
    if timeout_mins is not None:
        body["timeout_mins"] = timeout_mins
    created(conn, body, "ADOPT", wait, fmt, columns)


@stack.command("list")
@click.option("--tags", metavar="TAG1,TAG2", help="Only stacks with these tags (see --tag-mode).")
@click.option(
    "--tag-mode",
    type=click.Choice(["any", "not", "not-any"]),
    help="Match any of the tags, none of them, or not all of them (default: all).",
)
@click.option("--nested", is_flag=True, help="Include nested stacks (adds a parent column).")
@click.option("--hidden", is_flag=True, help="Include hidden stacks.")
@click.option("--deleted", is_flag=True, help="Include deleted stacks (adds a deletion_time column).")
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="KEY=VALUE",
    help="Filter on a stack property, such as status=CREATE_COMPLETE (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=0), help="At most this many stacks.")
@click.option("--marker", metavar="ID", help="Start after the stack with this id.")
@click.option("--sort", metavar="KEY[:DIR][,KEY...]", help="Sort keys, with asc or desc.")
@format_options()
@click.pass_obj
def list_(conn, tags, tag_mode, nested, hidden, deleted, properties, limit, marker, sort, fmt, columns):
    """List stacks."""
    params: dict = {}
    for item in properties:
        key, _, value = item.partition("=")
        if not key or not value:
            raise CliError(f"--property expects KEY=VALUE, got {item!r}")
        params.setdefault(key, []).append(value)
    if tags:
        params[{"any": "tags_any", "not": "not_tags", "not-any": "not_tags_any"}.get(tag_mode, "tags")] = tags
    params.update(
        {k: "true" for k, on in (("show_nested", nested), ("show_hidden", hidden), ("show_deleted", deleted)) if on}
    )
    params.update({k: v for k, v in (("limit", limit), ("marker", marker)) if v is not None})
    if sort:
        keys = [part.split(":")[0] for part in sort.split(",")]
        params["sort_keys"] = ",".join(keys)
        directions = [part.split(":")[1] for part in sort.split(",") if ":" in part]
        if directions:  # the last direction given is the one sent
            params["sort_dir"] = directions[-1]
    shown = LIST_COLUMNS + ["parent"] * nested + ["deletion_time"] * deleted
    emit(render_rows(conn.client.list_stacks(params), shown, fmt, columns))


@stack.command("show")
@click.argument("name_or_id")
@format_options()
@click.pass_obj
def show(conn, name_or_id, fmt, columns):
    """Show one stack, by name or id (a deleted stack only by id)."""
    show_stack(conn.client.get_stack(name_or_id), fmt, columns)


@stack.command("delete")
@click.argument("names", nargs=-1, required=True, metavar="NAME_OR_ID...")
@click.option("--wait", is_flag=True, help=wait_help("each delete"))
@click.option("-y", "--yes", is_flag=True, help="Accepted for compatibility; never prompts.")
@click.pass_context
def delete(ctx, names, wait, yes):
    """Delete stacks; the server deletes in the background unless --wait follows it."""

    def start(name: str, target: dict) -> str | None:
        if target.get("stack_status") == "DELETE_COMPLETE":
            return f"stack {name} is already deleted"
        ctx.obj.client.delete_stack(target)
        return None

    _, failed = each_stack(ctx, names, start, lambda target: "DELETE" if wait else None, progress_echo(None))
    if failed:
        ctx.exit(1)
