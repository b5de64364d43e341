"""What `--wait` shows while it follows an operation: on a terminal, one line redrawn in place
(`[12/30] db: CREATE_COMPLETE · 00:41`); elsewhere, one plain line per event. Pure but for `Live`
and `Lines`, which write to the stream they are given.

The count is of the stack's own resources: those it had when the wait began, and any whose
event appears since; nested stacks' resources are not counted (their parent resource is). A
resource is done when its latest event in this operation is `*_COMPLETE` or `*_FAILED`. Resources
an update leaves alone get no event, so an update may end short of its total.

Live line only when the stream is a terminal and $TERM is not `dumb`; colour unless $NO_COLOR is
set (https://no-color.org). A failed resource's event stays on the screen as a plain line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

import click

from engine.cli.client import CliError
from engine.cli.waiting import event_line, is_stack_event

TICK = 1.0  # seconds between redraws of the elapsed time when no event comes
COLOURS = {"COMPLETE": "green", "FAILED": "red", "IN_PROGRESS": "yellow"}


# Pure ---------------------------------------------------------------------------------------


@dataclass
class State:
    """One operation on one stack, as far as its events tell."""

    stack: dict
    listed: frozenset[str] = frozenset()  # the stack's resources when the wait began
    latest: dict[str, str] = field(default_factory=dict)  # resource -> its latest status since
    current: str = ""  # the latest event, `name: STATUS`

    def observe(self, event: dict) -> None:
        name, status = str(event.get("resource_name", "")), str(event.get("resource_status", ""))
        self.current = f"{name}: {status}"
        if not is_stack_event(event, self.stack):
            self.latest[name] = status

    def counts(self) -> tuple[int, int]:
        """(done, total) of the stack's own resources."""
        done = sum(1 for status in self.latest.values() if is_finished(status))
        return done, len(self.listed | self.latest.keys())


def is_finished(status: str) -> bool:
    return status.endswith(("_COMPLETE", "_FAILED"))


def clock(seconds: float) -> str:
    """`MM:SS`, or `H:MM:SS` past an hour."""
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render(state: State, elapsed: float, width: int = 0, colour: bool = False, unicode: bool = True) -> str:
    """`[done/total] name: STATUS · MM:SS`, cut to `width` columns (0: not cut) so that it never
    wraps (a wrapped line cannot be redrawn); the status coloured by its outcome when `colour`;
    ASCII only unless `unicode`."""
    done, total = state.counts()
    current = state.current or f"{state.stack.get('stack_name', '')}: waiting"
    head, tail = f"[{done}/{total}] ", f" {'·' if unicode else '-'} {clock(elapsed)}"
    if width and len(head) + len(current) + len(tail) > width - 1:
        current = current[: max(width - 1 - len(head) - len(tail) - 1, 0)] + ("…" if unicode else "_")
    if colour and ": " in current:
        name, status = current.rsplit(": ", 1)
        tint = next((c for word, c in COLOURS.items() if status.endswith(word)), None)
        current = f"{name}: {click.style(status, fg=tint)}" if tint else current
    return head + current + tail


def live_wanted(is_terminal: bool, environ: Mapping[str, str]) -> bool:
    return is_terminal and environ.get("TERM", "") != "dumb"


def colour_wanted(environ: Mapping[str, str]) -> bool:
    return not environ.get("NO_COLOR")


# Writers ------------------------------------------------------------------------------------


class Lines:
    """One plain line per event (a pipe, a file, TERM=dumb): what --wait always printed."""

    def __init__(self, err: bool):
        self.err = err

    def begin(self, client, stack: dict) -> None:
        pass

    def __call__(self, event: dict) -> None:
        click.echo(event_line(event), err=self.err)

    def end(self) -> None:
        pass


class Live:
    """The line redrawn in place on `stream` (a terminal): on each event, and every TICK for the
    clock; `end` leaves the last one on the screen."""

    def __init__(self, stream: IO[str], *, colour: bool, now: Callable[[], float] = time.monotonic):
        import threading  # here: only a terminal's --wait needs the ticker

        self.stream = stream
        self.colour = colour
        self.now = now
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.state: State | None = None
        self.started = 0.0
        self._threading = threading

    def begin(self, client, stack: dict) -> None:
        try:
            listed = frozenset(r.get("resource_name", "") for r in client.list_resources(stack))
        except CliError:  # no count is no reason to stop following
            listed = frozenset()
        with self.lock:
            self.state, self.started = State(stack, listed), self.now()
            self.draw()
        self.stopped.clear()
        self.thread = self._threading.Thread(target=self.tick, name="hearth-progress", daemon=True)
        self.thread.start()

    def __call__(self, event: dict) -> None:
        with self.lock:
            if self.state is None:
                return
            self.state.observe(event)
            if str(event.get("resource_status", "")).endswith("_FAILED"):
                self.stream.write("\r\x1b[K" + event_line(event) + "\n")  # a failure stays readable
            self.draw()

    def end(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        with self.lock:
            if self.state is not None:
                self.draw()
                self.stream.write("\n")
                self.stream.flush()
            self.state = None

    def tick(self) -> None:
        while not self.stopped.wait(TICK):
            with self.lock:
                if self.state is not None:
                    self.draw()

    def draw(self) -> None:
        assert self.state is not None
        unicode = "utf" in (getattr(self.stream, "encoding", "") or "").lower()
        line = render(self.state, self.now() - self.started, terminal_width(self.stream), self.colour, unicode)
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()


def terminal_width(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def progress(err: bool, environ: Mapping[str, str] | None = None) -> Lines | Live:
    """What --wait writes to stderr (`err`) or stdout: a Live line on a terminal, else Lines."""
    environ = os.environ if environ is None else environ
    stream = sys.stderr if err else sys.stdout  # what click.echo writes to, CliRunner's too
    if live_wanted(stream.isatty(), environ):
        return Live(stream, colour=colour_wanted(environ))
    return Lines(err)
