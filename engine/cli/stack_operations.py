"""Start an operation on one or more stacks and follow it, through the HearthClient it is given
(HTTP only; progress goes to the terminal, engine.cli.progress); no files.

The loop that delete, suspend, resume, check and cancel share (update and create follow one
stack the same way).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from engine.cli.client import ApiError, CliError
from engine.cli.formatting import emit, ordered_fields, render_record, render_rows
from engine.cli.progress import Lines, Live, progress
from engine.cli.waiting import EventFeed, wait_for

Progress = Lines | Live

LIST_COLUMNS = ["id", "stack_name", "stack_status", "creation_time", "updated_time"]
SHOW_FIELDS = [
    "id",
    "stack_name",
    "description",
    "creation_time",
    "updated_time",
    "stack_status",
    "stack_status_reason",
    "parameters",
    "outputs",
    "timeout_mins",
    "disable_rollback",
    "tags",
]


def wait_help(what: str) -> str:
    """--wait's help, the same for every command that has it."""
    return (
        f"Follow {what} to its end. On a terminal one line shows the stack's resources done/total "
        "(its own, not those of nested stacks), the latest event and the time taken; "
        "piped, one line per event."
    )


def progress_echo(fmt: str | None) -> Progress:
    """Where --wait shows events: stdout beside a table (or no output), stderr when stdout
    must parse; a live line if that is a terminal, else plain lines (engine.cli.progress)."""
    return progress(err=fmt not in (None, "table"))


def show_stack(stack: dict, fmt: str, columns: tuple[str, ...]) -> None:
    emit(render_record(stack, ordered_fields(stack, SHOW_FIELDS), fmt, columns))


def start_and_follow(conn, target: dict, start: Callable[[], None], action: str | None, echo: Progress) -> None:
    """Run `start` (the request that begins the operation); with `action`, print the events
    that follow until it ends, and raise the stack's reason if it failed."""
    feed = conn.feed(target)
    if action:
        feed.backlog()  # events up to now are history; follow only this operation's
    start()
    if action:
        until_done(feed, target, action, echo)


def until_done(
    feed: EventFeed, target: dict, action: str, echo: Progress, accept: tuple[str, ...] = ("COMPLETE",)
) -> None:
    """Follow `action` to its end; a failure the server rolls back is followed to the end of
    the rollback, and both are told."""
    outcome, reason = follow_one(feed, target, action, echo, before_status=target.get("stack_status"))
    if outcome in accept:
        return
    reason = reason or f"stack {target['stack_name']} {action}_{outcome}"
    if action in ("CREATE", "UPDATE", "ADOPT") and rolling_back(feed.client, target):
        rolled, _ = follow_one(feed, target, "ROLLBACK", echo)
        reason += f" (then ROLLBACK_{rolled})"
    raise CliError(reason)


def follow_one(
    feed: EventFeed, target: dict, action: str, echo: Progress, before_status: str | None = None
) -> tuple[str, str]:
    """wait_for, with the progress begun before and ended (its line left on screen) after."""
    echo.begin(feed.client, target)
    try:
        return wait_for(feed, action, echo, before_status=before_status)
    finally:
        echo.end()


def rolling_back(client, target: dict) -> bool:
    """Whether the server rolls the failure back: it has begun, or is about to (the stack
    failed with rollback enabled)."""
    try:
        current = client.get_stack(target["id"])
    except ApiError:
        return False
    status = current.get("stack_status", "")
    return status.startswith("ROLLBACK") or (status.endswith("_FAILED") and current.get("disable_rollback") is False)


def each_stack(
    ctx: click.Context,
    names: tuple[str, ...],
    start: Callable[[str, dict], str | None],
    wait: Callable[[dict], str | None],
    echo: Progress,
    accept: tuple[str, ...] = ("COMPLETE",),
) -> tuple[list[dict], bool]:
    """Start an operation on each stack, then (where `wait` names the action to follow)
    follow each in turn. `start` returns an error message to refuse a stack. One stack's
    failure is printed as `ERROR: ...` and does not stop the others. Returns the stacks whose
    operation went well, and whether any failed (the command then exits 1)."""
    conn = ctx.obj
    failures: list[str] = []

    def fail(name: str, message: str) -> None:
        failures.append(name)
        click.echo(f"ERROR: {name}: {message}" if len(names) > 1 else f"ERROR: {message}", err=True)

    started = []
    for name in names:
        try:
            target = conn.client.get_stack(name)
            action = wait(target)
            feed = conn.feed(target)
            if action:
                feed.backlog()
            refused = start(name, target)
        except ApiError as exc:  # one missing stack must not stop the others
            fail(name, exc.message)
            continue
        if refused:
            fail(name, refused)
            continue
        started.append((name, target, feed, action))
    done = []
    for name, target, feed, action in started:
        try:
            if action:
                until_done(feed, target, action, echo, accept)
        except CliError as exc:
            fail(name, exc.message)
            continue
        done.append(target)
    return done, bool(failures)


def show_stacks(conn, stacks: list[dict], fmt: str, columns: tuple[str, ...]) -> None:
    """Each stack as it is now, one row each (what openstack prints after suspend and the like)."""
    emit(render_rows([conn.client.get_stack(s["id"]) for s in stacks], LIST_COLUMNS, fmt, columns))
