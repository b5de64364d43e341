"""`hearth stack suspend|resume|check|cancel|abandon`: speaks HTTP only, through the context's
HearthClient; writes only abandon's `--output-file` when given.

Heat's stack actions, each on one or more stacks, followed to their end with --wait; abandon
prints what `stack adopt` takes.
"""

from __future__ import annotations

import json

import click

from engine.cli.client import CliError
from engine.cli.formatting import emit, format_options, ordered_fields, render_record
from engine.cli.stack_operations import each_stack, progress_echo, show_stacks, wait_help


def action_command(name: str, action: str, doc: str) -> click.Command:
    """`stack NAME STACK... [--wait]`: POST the action; with --wait follow ACTION to its end."""

    @click.command(name, help=doc)
    @click.argument("names", nargs=-1, required=True, metavar="STACK...")
    @click.option("--wait", is_flag=True, help=wait_help(f"each {name}"))
    @format_options()
    @click.pass_context
    def command(ctx, names, wait, fmt, columns):
        def start(given: str, target: dict) -> None:
            ctx.obj.client.stack_action(target, name)

        done, failed = each_stack(
            ctx, names, start, lambda target: action.upper() if wait else None, progress_echo(fmt)
        )
        show_stacks(ctx.obj, done, fmt, columns)
        if failed:
            ctx.exit(1)

    return command


suspend = action_command("suspend", "suspend", "Suspend stacks: each resource that can pause does.")
resume = action_command("resume", "resume", "Resume suspended stacks.")
check = action_command("check", "check", "Check that each resource of the stacks still exists and works.")


@click.command("cancel")
@click.argument("names", nargs=-1, required=True, metavar="STACK...")
@click.option("--no-rollback", is_flag=True, help="Stop the update (or create) where it is, without rolling back.")
@click.option("--wait", is_flag=True, help=wait_help("the rollback (or the stop)"))
@format_options()
@click.pass_context
def cancel(ctx, names, no_rollback, wait, fmt, columns):
    """Cancel the update in progress on stacks: roll back to the previous definition."""

    def start(given: str, target: dict) -> None:
        ctx.obj.client.stack_action(target, "cancel_without_rollback" if no_rollback else "cancel_update")

    def followed(target: dict) -> str | None:
        # A rollback ends ROLLBACK_*; a plain stop ends the running action, which fails.
        return None if not wait else (target["stack_status"].split("_")[0] if no_rollback else "ROLLBACK")

    done, failed = each_stack(
        ctx, names, start, followed, progress_echo(fmt), accept=("COMPLETE", "FAILED") if no_rollback else ("COMPLETE",)
    )
    show_stacks(ctx.obj, done, fmt, columns)
    if failed:
        ctx.exit(1)


@click.command("abandon")
@click.argument("stack_name_or_id", metavar="STACK")
@click.option(
    "--output-file",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write the data to FILE (JSON) instead of printing it.",
)
@format_options(default="json")
@click.pass_obj
def abandon(conn, stack_name_or_id, output_file, fmt, columns):
    """Delete STACK from Hearth but leave its resources: print what `stack adopt` takes back."""
    data = conn.client.abandon_stack(conn.client.get_stack(stack_name_or_id))
    if output_file:
        try:
            with open(output_file, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
        except OSError as exc:
            raise CliError(f"cannot write {output_file}: {exc.strerror}") from None
        return
    emit(
        render_record(
            data, ordered_fields(data, ["id", "name", "action", "status", "template", "resources"]), fmt, columns
        )
    )
