"""Event lines, the terminal-state decision, and the feed's marker and pacing, with literals."""

from __future__ import annotations

import pytest

from engine.cli.client import ApiError
from engine.cli.waiting import (
    EventFeed,
    event_line,
    fallback_outcome,
    is_stack_event,
    status_outcome,
    terminal_event,
    wait_for,
)

STACK = {"id": "s-1", "stack_name": "demo"}


def ev(name, status, reason="state changed", phys=None, event_id=None):
    return {
        "id": event_id or f"{name}-{status}",
        "event_time": "2026-11-22T04:30:01Z",
        "resource_name": name,
        "physical_resource_id": phys or f"{name}-phys",
        "resource_status": status,
        "resource_status_reason": reason,
    }


def stack_ev(status, reason=""):
    return ev("demo", status, reason, phys="s-1")


def test_event_line_is_openstack_log_format():
    assert event_line(ev("web", "CREATE_IN_PROGRESS")) == (
        "2026-11-22 04:30:01Z [web]: CREATE_IN_PROGRESS  state changed"
    )
    assert event_line(dict(ev("web", "CREATE_COMPLETE"), resource_status_reason=None)) == (
        "2026-11-22 04:30:01Z [web]: CREATE_COMPLETE"
    )


def test_stack_events_need_the_name_and_the_id():
    assert is_stack_event(stack_ev("CREATE_COMPLETE"), STACK)
    # a resource that happens to share the stack's name is not the stack
    assert not is_stack_event(ev("demo", "CREATE_COMPLETE"), STACK)
    assert not is_stack_event(ev("web", "CREATE_COMPLETE", phys="s-1"), STACK)


@pytest.mark.parametrize(
    "action, status, outcome",
    [
        ("CREATE", "CREATE_COMPLETE", "COMPLETE"),
        ("CREATE", "CREATE_FAILED", "FAILED"),
        ("CREATE", "CREATE_IN_PROGRESS", None),
        ("DELETE", "CREATE_COMPLETE", None),
        ("DELETE", "DELETE_COMPLETE", "COMPLETE"),
        ("DELETE", "DELETE_FAILED", "FAILED"),
        ("CREATE", None, None),
    ],
)
def test_status_outcome(action, status, outcome):
    assert status_outcome(action, status) == outcome


def test_terminal_event_is_the_stack_level_end_of_the_action():
    events = [
        stack_ev("CREATE_IN_PROGRESS"),
        ev("web", "CREATE_FAILED"),
        ev("demo", "CREATE_FAILED"),  # a resource named like the stack: ignored
        stack_ev("CREATE_FAILED", "Resource CREATE failed: boom"),
    ]
    assert terminal_event(events, STACK, "CREATE") is events[3]
    assert terminal_event(events[:3], STACK, "CREATE") is None
    assert terminal_event([stack_ev("CREATE_COMPLETE")], STACK, "DELETE") is None
    assert terminal_event([], STACK, "CREATE") is None


def test_fallback_ignores_a_status_left_from_before_the_operation():
    # a retried delete: the stack still shows the previous DELETE_FAILED
    assert fallback_outcome("DELETE", "DELETE_FAILED", before_status="DELETE_FAILED", seen_events=False) is None
    assert fallback_outcome("DELETE", "DELETE_FAILED", before_status="DELETE_FAILED", seen_events=True) == "FAILED"
    assert (
        fallback_outcome("DELETE", "DELETE_COMPLETE", before_status="CREATE_COMPLETE", seen_events=False) == "COMPLETE"
    )
    assert fallback_outcome("CREATE", "CREATE_IN_PROGRESS", before_status=None, seen_events=True) is None


class ScriptedClient:
    """Answers list_events and get_stack from literal lists; records what was asked."""

    def __init__(self, answers, stacks=()):
        self.answers = list(answers)
        self.stacks = list(stacks)
        self.calls = []

    def list_events(self, stack, *, marker=None, limit=None, wait=None):
        self.calls.append({"marker": marker, "limit": limit, "wait": wait})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get_stack(self, name_or_id):
        answer = self.stacks.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_feed_moves_the_marker_and_gives_each_event_once():
    a, b, c = (ev("web", "A", event_id="1"), ev("web", "B", event_id="2"), ev("web", "C", event_id="3"))
    client = ScriptedClient([[a, b], [b, c], []])
    clock = FakeClock()
    feed = EventFeed(client, STACK, clock=clock, sleep=clock.sleep)
    assert feed.next() == [a, b]
    assert feed.next() == [c]  # the server repeated b: not given twice
    assert feed.next() == []
    assert [c["marker"] for c in client.calls] == [None, "2", "3"]
    assert {c["wait"] for c in client.calls} == {20}


def test_feed_paces_a_server_that_ignores_wait():
    clock = FakeClock()
    feed = EventFeed(ScriptedClient([[], [ev("web", "A")]]), STACK, min_round=1.0, clock=clock, sleep=clock.sleep)
    assert feed.next() == []
    assert clock.slept == [1.0]
    feed.next()
    assert clock.slept == [1.0]  # an answer with events is never delayed


def test_backlog_reads_pages_until_a_short_one():
    page = [ev("web", str(n), event_id=str(n)) for n in range(100)]
    client = ScriptedClient([page, [ev("web", "last", event_id="last")]])
    feed = EventFeed(client, STACK)
    assert len(feed.backlog()) == 101
    assert client.calls == [{"marker": None, "limit": 100, "wait": None}, {"marker": "99", "limit": 100, "wait": None}]
    assert feed.marker == "last"


def test_wait_for_stops_on_the_stack_event_and_prints_lines():
    client = ScriptedClient(
        [[stack_ev("CREATE_IN_PROGRESS")], [ev("web", "CREATE_COMPLETE"), stack_ev("CREATE_COMPLETE", "done")]],
        stacks=[{"stack_status": "CREATE_IN_PROGRESS"}],
    )
    lines: list[str] = []
    assert wait_for(EventFeed(client, STACK, min_round=0), "CREATE", lambda e: lines.append(event_line(e))) == (
        "COMPLETE",
        "done",
    )
    assert lines == [
        "2026-11-22 04:30:01Z [demo]: CREATE_IN_PROGRESS",
        "2026-11-22 04:30:01Z [web]: CREATE_COMPLETE  state changed",
        "2026-11-22 04:30:01Z [demo]: CREATE_COMPLETE  done",
    ]


def test_wait_for_failure_reports_the_stacks_reason():
    client = ScriptedClient(
        [[stack_ev("CREATE_FAILED", "event reason")]],
        stacks=[{"stack_status": "CREATE_FAILED", "stack_status_reason": "Resource CREATE failed: boom"}],
    )
    assert wait_for(EventFeed(client, STACK, min_round=0), "CREATE", lambda event: None) == (
        "FAILED",
        "Resource CREATE failed: boom",
    )


def test_wait_for_falls_back_to_the_status_then_prints_late_events():
    client = ScriptedClient(
        [
            [ev("web", "CREATE_COMPLETE")],
            [],
            [ev("late", "CREATE_COMPLETE", "written after the last poll")],
        ],  # the drain
        stacks=[
            {"stack_status": "CREATE_IN_PROGRESS"},
            {"stack_status": "CREATE_COMPLETE", "stack_status_reason": "done"},
        ],
    )
    lines: list[str] = []
    assert wait_for(EventFeed(client, STACK, min_round=0), "CREATE", lambda e: lines.append(event_line(e))) == (
        "COMPLETE",
        "done",
    )
    assert [line.split(" ")[2] for line in lines] == ["[web]:", "[late]:"]
    assert client.calls[-1] == {"marker": "web-CREATE_COMPLETE", "limit": 100, "wait": None}


def test_delete_ends_when_the_stack_is_gone():
    gone = ApiError(404, "The Stack (demo) could not be found.")
    client = ScriptedClient([gone], stacks=[gone])
    assert wait_for(EventFeed(client, STACK, min_round=0), "DELETE", lambda event: None) == ("COMPLETE", "")


def test_create_does_not_swallow_a_404():
    client = ScriptedClient([ApiError(404, "gone")])
    with pytest.raises(ApiError):
        wait_for(EventFeed(client, STACK, min_round=0), "CREATE", lambda event: None)
