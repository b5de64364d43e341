"""Tests for engine.orchestration.lifecycle: how a stack row starts and ends an operation, from
literals (a list stands in for the session: lifecycle only adds to it)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import NotSupported
from engine.orchestration.lifecycle import (
    abandon,
    check_cancel,
    end_operation,
    start_delete,
    start_operation,
)
from engine.store.models import Stack

NOW = dt.datetime(2026, 12, 6, 5, 30, 33)  # noqa: DTZ001 - naive UTC, as stored


class Session(list):
    add = list.append


def stack(action: str = "CREATE", status: str = "COMPLETE") -> Stack:
    return Stack(
        id="s",
        name="web",
        action=action,
        status=status,
        status_reason="",
        operation=3,
        timeout_mins=60,
        deadline=None,
        updated_at=None,
        deleted_at=None,
    )


def test_an_update_starts_with_a_new_operation_number_deadline_updated_time_and_event():
    row, session = stack(), Session()
    start_operation(session, row, "UPDATE", NOW)
    assert (row.action, row.status, row.status_reason) == ("UPDATE", "IN_PROGRESS", "Stack UPDATE started")
    assert row.operation == 4 and row.deadline == NOW + dt.timedelta(minutes=60) and row.updated_at == NOW
    [event] = session
    assert (event.stack_id, event.resource_name, event.resource_type, event.physical_id) == (
        "s",
        "web",
        "OS::Heat::Stack",
        "s",
    )
    assert (event.action, event.status, event.reason, event.created_at) == (
        "UPDATE",
        "IN_PROGRESS",
        "Stack UPDATE started",
        NOW,
    )


def test_a_delete_says_when_it_started_and_keeps_the_updated_time():
    row, session = stack(), Session()
    start_delete(session, row, NOW)
    assert row.status_reason == "Stack DELETE started at 2026-12-06T05:30:33"
    assert row.updated_at is None and session[0].reason == row.status_reason


@pytest.mark.parametrize(
    "action, rollback, allowed",
    [
        ("UPDATE", True, True),
        ("UPDATE", False, True),
        ("CREATE", False, True),
        ("CREATE", True, False),
        ("DELETE", False, False),
    ],
)
def test_only_a_create_or_update_in_progress_may_be_cancelled(action, rollback, allowed):
    row = stack(action, "IN_PROGRESS")
    if allowed:
        check_cancel(row, rollback)
    else:
        with pytest.raises(NotSupported, match=f"Cancelling update when stack is {action}_IN_PROGRESS"):
            check_cancel(row, rollback)
    with pytest.raises(NotSupported):
        check_cancel(stack(action, "COMPLETE"), rollback)


def test_an_operation_ends_without_a_deadline_and_a_completed_delete_deletes():
    row = stack("DELETE", "IN_PROGRESS")
    row.deadline = NOW
    end_operation(row, "FAILED", "no", NOW)
    assert (row.status, row.status_reason, row.deadline, row.deleted_at) == ("FAILED", "no", None, None)
    end_operation(row, "COMPLETE", "gone", NOW)
    assert row.deleted_at == NOW


def test_abandon_forgets_the_stack_under_a_new_operation_number():
    row = stack()
    abandon(row, NOW)
    assert (row.action, row.status, row.status_reason, row.operation) == ("ABANDON", "COMPLETE", "Stack abandoned", 4)
    assert row.deleted_at == row.updated_at == NOW
