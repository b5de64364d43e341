"""--wait's progress: the count and the line with literals; Live's drawing on a stream; and the real
`hearth` against a real server, once on a pseudo-terminal (one line redrawn with carriage returns)
and once piped (one plain line per event, as before)."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios

import pytest

from engine.cli.progress import Live, State, clock, colour_wanted, live_wanted, render
from tests.support import ADMIN_TOKEN, ROOT

STACK = {"id": "s-1", "stack_name": "demo"}


def ev(name, status, physical=None):
    return {"resource_name": name, "resource_status": status, "physical_resource_id": physical or f"{name}-phys"}


def stack_ev(status):
    return ev("demo", status, "s-1")


def test_done_counts_each_resource_s_latest_event_and_total_joins_listed_and_seen():
    state = State(STACK, frozenset({"a", "b", "c"}))
    assert state.counts() == (0, 3)
    for event in (stack_ev("CREATE_IN_PROGRESS"), ev("a", "CREATE_IN_PROGRESS")):
        state.observe(event)
    assert state.counts() == (0, 3) and state.current == "a: CREATE_IN_PROGRESS"
    state.observe(ev("a", "CREATE_COMPLETE"))
    state.observe(ev("b", "CREATE_FAILED"))
    assert state.counts() == (2, 3)
    state.observe(ev("a", "UPDATE_IN_PROGRESS"))  # going again: not done any more
    state.observe(ev("new", "CREATE_COMPLETE"))  # not listed when the wait began
    assert state.counts() == (2, 4)
    state.observe(stack_ev("CREATE_FAILED"))  # the stack is no resource of its own
    assert state.counts() == (2, 4) and state.current == "demo: CREATE_FAILED"


def test_the_line():
    state = State(STACK, frozenset({"web", "db"}))
    assert render(state, 0) == "[0/2] demo: waiting · 00:00"
    state.observe(ev("db", "CREATE_COMPLETE"))
    assert render(state, 41.9) == "[1/2] db: CREATE_COMPLETE · 00:41"
    assert render(state, 41, unicode=False) == "[1/2] db: CREATE_COMPLETE - 00:41"
    cut = render(state, 41, width=24)
    assert cut == "[1/2] db: CREA… · 00:41" and len(cut) == 23  # never wraps: a wrapped line is not redrawn
    assert render(state, 41, colour=True) == "[1/2] db: \x1b[32mCREATE_COMPLETE\x1b[0m · 00:41"
    state.observe(ev("web", "CREATE_FAILED"))
    assert "\x1b[31mCREATE_FAILED" in render(state, 1, colour=True)


def test_clock():
    assert [clock(s) for s in (0, 59.9, 61, 3599, 3725)] == ["00:00", "00:59", "01:01", "59:59", "1:02:05"]


def test_live_only_on_a_terminal_that_is_not_dumb_and_colour_unless_no_color():
    assert live_wanted(True, {"TERM": "xterm"}) and live_wanted(True, {})
    assert not live_wanted(True, {"TERM": "dumb"}) and not live_wanted(False, {"TERM": "xterm"})
    assert colour_wanted({}) and colour_wanted({"NO_COLOR": ""}) and not colour_wanted({"NO_COLOR": "1"})


class Resources:
    def list_resources(self, stack):
        return [{"resource_name": "web"}, {"resource_name": "db"}]


class Terminal(io.StringIO):
    encoding = "utf-8"  # StringIO has none: Live would fall back to ASCII


def test_live_redraws_in_place_keeps_failures_and_ends_with_a_newline():
    stream = Terminal()
    live = Live(stream, colour=False, now=lambda: 5.0)
    live.begin(Resources(), STACK)
    live(ev("web", "CREATE_COMPLETE"))
    live(ev("db", "CREATE_FAILED"))
    live.end()
    out = stream.getvalue()
    assert out.startswith("\r[0/2] demo: waiting · 00:00\x1b[K\r[1/2] web: CREATE_COMPLETE · 00:00\x1b[K")
    assert "\r\x1b[K [db]: CREATE_FAILED\n" in out  # the failure's own line stays
    assert out.endswith("\r[2/2] db: CREATE_FAILED · 00:00\x1b[K\n")


# The real command line against a real server --------------------------------------------

TEMPLATE = """heat_template_version: 2018-08-31
resources:
  first: {type: OS::Heat::None}
  second: {type: OS::Heat::None, depends_on: first}
  third: {type: OS::Heat::None, depends_on: second}
"""
ENTRY = "import sys; sys.argv[0] = 'hearth'; from metadata_server.cli import main; main()"


def create_with_wait(server, tmp_path, name: str, term: str = "xterm", **streams) -> subprocess.Popen:
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HEARTH_", "NO_COLOR"))}
    env.update(HEARTH_URL=server.url, HEARTH_TOKEN=ADMIN_TOKEN, TERM=term, NO_COLOR="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, "stack", "create", name, "-t", str(tmp_path / "t.yaml"), "--wait"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        **streams,
    )


@pytest.fixture(scope="module")
def server(shared_hearth):
    return shared_hearth


def on_a_terminal(server, tmp_path, name: str, term: str = "xterm") -> str:
    """What `stack create NAME --wait` wrote to a pseudo-terminal (120 columns), to its end."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = create_with_wait(server, tmp_path, name, term, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal's last open end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_on_a_terminal_one_line_is_redrawn_and_ends_complete(server, tmp_path):
    out = on_a_terminal(server, tmp_path, "on-a-tty")
    progress, _, table = out.partition("+---")
    assert "stack_status" in table and "CREATE_COMPLETE" in table  # the outcome, as before
    drawn = [part.replace("\x1b[K", "").strip() for part in progress.split("\r") if part.strip()]
    assert len(drawn) >= 2 and all(line.startswith("[") for line in drawn), drawn
    assert re.fullmatch(r"\[3/3\] on-a-tty: CREATE_COMPLETE · \d\d:\d\d", drawn[-1]), drawn
    assert "\x1b[3" not in out  # NO_COLOR
    assert "Stack CREATE started" not in out  # no event lines: the one line says it all


def test_a_dumb_terminal_gets_plain_lines(server, tmp_path):
    out = on_a_terminal(server, tmp_path, "dumb", term="dumb")
    assert "\x1b" not in out and "\r[" not in out  # the terminal adds \r before each \n, nothing else
    assert "[dumb]: CREATE_COMPLETE  Stack CREATE completed successfully\r\n" in out


def test_piped_one_plain_line_per_event(server, tmp_path):
    process = create_with_wait(server, tmp_path, "piped", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    text = out.decode()
    assert "\r" not in text and "\x1b" not in text
    events = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \[", line)]
    assert [line.split(" ", 2)[2] for line in events] == [
        "[piped]: CREATE_IN_PROGRESS  Stack CREATE started",
        "[first]: CREATE_IN_PROGRESS  state changed",
        "[first]: CREATE_COMPLETE  state changed",
        "[second]: CREATE_IN_PROGRESS  state changed",
        "[second]: CREATE_COMPLETE  state changed",
        "[third]: CREATE_IN_PROGRESS  state changed",
        "[third]: CREATE_COMPLETE  state changed",
        "[piped]: CREATE_COMPLETE  Stack CREATE completed successfully",
    ]
