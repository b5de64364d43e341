"""The project event stream over HTTP on a real server (docs/events.md): pages after a number,
a long-poll the ASGI front holds and wakes when events commit, Server-Sent Events that resume
from Last-Event-ID with no gap and no repeat, and JSON errors for what it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import requests

from tests.support import wait_for

BIN = Path(sys.executable).parent

TEMPLATE = """heat_template_version: 2018-08-31
resources:
  first: {type: OS::Heat::Value, properties: {value: one}}
  second: {type: OS::Heat::Value, properties: {value: {get_attr: [first, value]}}}
"""


def stream(hearth, **params) -> dict:
    response = hearth.http.get(f"{hearth.api}/events", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_follow_the_numbers_and_carry_the_operation(hearth):
    stack_id = hearth.create_stack("paged", TEMPLATE).json()["stack"]["id"]
    hearth.wait_stack("paged", ("CREATE_COMPLETE",))
    everything = stream(hearth)
    numbers = [e["sequence"] for e in everything["events"]]
    assert numbers == list(range(1, len(numbers) + 1)) and everything["latest"] == numbers[-1]
    assert everything["next"] == numbers[-1]
    first = everything["events"][0]
    assert (first["stack_id"], first["stack_name"], first["resource_status"]) == (
        stack_id,
        "paged",
        "CREATE_IN_PROGRESS",
    )
    assert {e["operation"] for e in everything["events"]} == {f"{stack_id}:1"}
    assert {e["resource_type"] for e in everything["events"]} == {"OS::Heat::Stack", "OS::Heat::Value"}
    # the same events as the stack's own list (Heat's), in the same order
    listed = hearth.http.get(f"{hearth.api}/stacks/paged/{stack_id}/events?sort_dir=asc", timeout=30).json()["events"]
    assert [e["id"] for e in everything["events"]] == [e["id"] for e in listed]
    page = stream(hearth, since=2, limit=2)
    assert [e["sequence"] for e in page["events"]] == [3, 4] and page["next"] == 4


def test_a_long_poll_wakes_when_events_commit(hearth):
    hearth.create_stack("before", TEMPLATE)
    hearth.wait_stack("before", ("CREATE_COMPLETE",))
    latest = stream(hearth)["latest"]
    answers: list[dict] = []
    poll = threading.Thread(target=lambda: answers.append(stream(hearth, since=latest, wait=50)))
    poll.start()
    wait_for(lambda: hearth.app.extensions["hearth"].runtime.notifier.waiting() >= 1, 10, 0.02, "the poll to park")
    hearth.create_stack("after", TEMPLATE)
    poll.join(timeout=20)
    assert not poll.is_alive(), "the long-poll was not woken by the stack's events"
    [answer] = answers
    assert answer["events"] and answer["events"][0]["sequence"] == latest + 1
    assert answer["events"][0]["stack_name"] == "after"


def test_server_sent_events_stream_and_resume_without_gap_or_repeat(hearth):
    headers = {"Accept": "text/event-stream"}
    received: list[int] = []

    def read(lines, until: int) -> None:
        event: dict = {}
        for line in lines:
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and event:
                assert event["data"]["sequence"] == event["id"]
                received.append(event["id"])
                event = {}
                if len(received) >= until:
                    return

    hearth.create_stack("one", TEMPLATE)
    hearth.wait_stack("one", ("CREATE_COMPLETE",))
    total = stream(hearth)["latest"]
    with hearth.http.get(f"{hearth.api}/events", headers=headers, stream=True, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        read(lines_of(response), total - 2)  # go away before the end of the backlog
    with hearth.http.get(
        f"{hearth.api}/events", headers={**headers, "Last-Event-ID": str(received[-1])}, stream=True, timeout=30
    ) as response:
        lines = lines_of(response)
        read(lines, total)  # the rest of the backlog
        hearth.create_stack("two", TEMPLATE)  # then, on the open stream, what happens next
        hearth.wait_stack("two", ("CREATE_COMPLETE",))
        read(lines, stream(hearth)["latest"])
    assert received == list(range(1, len(received) + 1)), "a number was skipped or repeated"
    assert len(received) > total  # the second stack's events arrived on the open stream


def lines_of(response: requests.Response):
    """The stream's lines as they come (one generator per connection: each buffers what it read)."""
    return response.iter_lines(chunk_size=1, decode_unicode=True)


def test_refusals_are_json_a_person_can_act_on(hearth):
    for params, word in (({"since": -1}, "since"), ({"limit": 0}, "limit"), ({"limit": 5000}, "limit")):
        response = hearth.http.get(f"{hearth.api}/events", params=params, timeout=30)
        assert response.status_code == 400, response.text
        assert word in json.dumps(response.json())
    refused = requests.get(f"{hearth.api}/events", headers={"Accept": "text/event-stream"}, timeout=30)
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/json")


def test_the_cli_lists_and_follows_the_project_stream(hearth):
    """`hearth event list` without a stack reads the stream; `--follow` prints what comes next."""
    hearth.create_stack("listed", TEMPLATE)
    hearth.wait_stack("listed", ("CREATE_COMPLETE",))
    env = {**os.environ, "HEARTH_URL": hearth.url}
    listed = subprocess.run(
        [str(BIN / "hearth"), "event", "list", "-f", "json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["sequence"] for r in rows] == list(range(1, len(rows) + 1)) and rows[-1]["stack_name"] == "listed"
    with subprocess.Popen(
        [str(BIN / "hearth"), "event", "list", "--follow", "-f", "json", "-c", "sequence", "-c", "stack_name"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            wait_for(lambda: hearth.service.runtime.notifier.waiting() >= 1, 20, 0.02, "the CLI's long-poll to park")
            hearth.create_stack("followed", TEMPLATE)
            assert follower.stdout is not None
            first = json.loads(follower.stdout.readline())
            assert first == {"sequence": len(rows) + 1, "stack_name": "followed"}  # only what came next
        finally:
            follower.terminate()


def test_a_long_poll_on_one_replica_wakes_for_events_committed_on_another(postgres_server_url, tmp_path):
    """Two replicas on one PostgreSQL: a reader parked on the first hears, within moments, the
    events a create through the second commits, numbered after what it had."""
    from tests.conftest import _reset_postgres
    from tests.support import start_server, stop_server

    _reset_postgres(postgres_server_url)
    first = start_server(tmp_path / "a", postgres_server_url)
    second = start_server(tmp_path / "b", postgres_server_url)
    try:
        latest = stream(first)["latest"]
        answers: list[dict] = []
        poll = threading.Thread(target=lambda: answers.append(stream(first, since=latest, wait=50)))
        poll.start()
        wait_for(lambda: first.service.runtime.notifier.waiting() >= 1, 10, 0.02, "the poll to park on the first")
        second.create_stack("elsewhere", TEMPLATE)
        poll.join(timeout=20)
        assert not poll.is_alive(), "the first replica's long-poll did not hear the second's events"
        [answer] = answers
        assert answer["events"][0]["sequence"] == latest + 1 and answer["events"][0]["stack_name"] == "elsewhere"
    finally:
        stop_server(second)
        stop_server(first)
