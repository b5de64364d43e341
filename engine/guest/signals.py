"""What a guest's signal means: touches the store (handle signals, signal events) in the caller's
session, or its own in record_empty_signals; nothing of the server app.

Heat's rules for a deployment signal, and how a wait condition handle's signals are read,
numbered and recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from engine.errors import InvalidRequest
from engine.orchestration.events import resource_event
from engine.software_formats import OUTPUT_KEYS
from engine.store.models import Event, HandleSignal, Resource, SoftwareConfig

HANDLE_KEYS = {"status", "reason", "data", "id"}
CFN_KEYS = {"Status", "Reason", "UniqueId", "Data"}


def evaluate_signal(config: SoftwareConfig, details: Any) -> tuple[str, str, dict]:
    """Heat's signal rules: (status, reason, output_values) for a deployment signal body."""
    details = details if isinstance(details, dict) else {}
    failed = []
    code = details.get("deploy_status_code")
    if code and str(code) != "0":
        failed.append(f"deploy_status_code : Deployment exited with non-zero status code: {code}")
    outputs: dict[str, Any] = {}
    for output in (config.body.get("outputs") or []) if config else []:
        name = output.get("name")
        if name in details:
            outputs[name] = details[name]
            if output.get("error_output"):
                failed.append(f"{name} : {details[name]}")
    for key in OUTPUT_KEYS:
        outputs[key] = details.get(key)
    if failed:
        stderr = (details.get("deploy_stderr") or "").strip()
        if stderr:
            # Heat leaves stderr out of the reason; an operator reading `stack show` wants it.
            failed.append("deploy_stderr : " + stderr[-2000:])
        return "FAILED", ", ".join(failed), outputs
    return "COMPLETE", "Outputs received", outputs


def normalize_handle_signal(body: Any) -> dict:
    """Native `{status, reason, data, id}` or cfn-signal's `{Status, Reason, UniqueId, Data}`."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidRequest("a wait condition signal must be a JSON object")
    if body and set(body) <= CFN_KEYS and set(body) & {"Status", "UniqueId"}:
        body = {
            "status": body.get("Status"),
            "reason": body.get("Reason"),
            "id": body.get("UniqueId"),
            "data": body.get("Data"),
        }
    unknown = set(body) - HANDLE_KEYS
    if unknown:
        raise InvalidRequest(
            f"unexpected keys in the signal: {', '.join(sorted(unknown))}; allowed are status, reason, data and id"
        )
    status = body.get("status") or "SUCCESS"
    if status not in ("SUCCESS", "FAILURE"):
        raise InvalidRequest(f"status must be SUCCESS or FAILURE, not '{status}'")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        reason = str(reason)
    return {"status": status, "reason": reason, "data": body.get("data"), "id": body.get("id")}


# Handle signals ------------------------------------------------------------------------------
# A handle's signals are numbered 1, 2, ... in arrival order; a signal that names its own id keeps
# it, and a number already taken by such an id is skipped, never overwritten. Both who number
# (a guest's signal, and a NO_SIGNAL handle's empty signals) lock the handle row first.


def taken_signal_ids(session, handle: Resource, now: dt.datetime) -> set[str]:
    """Lock the handle (its row's write lock, so that concurrent signals are numbered one after
    another) and return the ids its signals already have."""
    session.execute(update(Resource).where(Resource.id == handle.id).values(updated_at=now))
    return set(session.scalars(select(HandleSignal.signal_id).where(HandleSignal.handle_id == handle.physical_id)))


def next_signal_number(taken: set[str], after: int) -> int:
    """The first number after `after` that no signal's id holds."""
    number = after + 1
    while str(number) in taken:  # never overwrite a signal that chose a numeric id
        number += 1
    return number


def record_handle_signal(session, handle: Resource, signal: dict, now: dt.datetime) -> tuple[str, str]:
    """Store a guest's signal (normalize_handle_signal's form) on the handle: (signal id, reason).
    A signal without an id gets the next free number; a repeated id replaces the earlier signal,
    as in Heat."""
    taken = taken_signal_ids(session, handle, now)
    if signal.get("id") is not None:
        number, signal_id = len(taken) + 1, str(signal["id"])
    else:
        number = next_signal_number(taken, len(taken))
        signal_id = str(number)
    reason = signal.get("reason") or f"Signal {number} received"
    row = session.scalar(
        select(HandleSignal).where(HandleSignal.handle_id == handle.physical_id, HandleSignal.signal_id == signal_id)
    )
    if row is None:  # a repeated id replaces the earlier signal, as in Heat
        row = HandleSignal(handle_id=handle.physical_id, signal_id=signal_id, created_at=now)
        session.add(row)
    row.status, row.reason, row.data = signal["status"], reason, signal.get("data")
    return signal_id, reason


def record_empty_signals(runtime, handle_id: str, count: int) -> None:
    """A NO_SIGNAL handle checked by its wait condition: as Heat, record an empty SUCCESS signal.

    Heat records one on each poll of the wait condition until it has `count`; Hearth does not
    poll, so one check records them all at once (and at least one, as each of Heat's polls does).
    """
    now = runtime.now()
    with runtime.store.session() as session:
        handle = session.scalar(select(Resource).where(Resource.physical_id == handle_id))
        if handle is None or (handle.data or {}).get("signal_transport") != "NO_SIGNAL":
            return
        taken = taken_signal_ids(session, handle, now)  # numbered as a guest's signal is
        number = len(taken)
        for _ in range(max(1, count - len(taken))):
            number = next_signal_number(taken, number)
            reason = f"Signal {number} received"
            session.add(
                HandleSignal(
                    handle_id=handle_id,
                    signal_id=str(number),
                    status="SUCCESS",
                    reason=reason,
                    data=None,
                    created_at=now,
                )
            )
            session.add(signal_event(handle.stack_id, handle.name, handle_id, f"Signal: {reason}", now))


def signal_event(stack_id: str, resource_name: str | None, physical_id: str, reason: str, now: dt.datetime) -> Event:
    """The stack event a guest's signal leaves (a deployment's or a handle's)."""
    return resource_event(
        stack_id, resource_name or "", "signal", physical_id, "SIGNAL", "COMPLETE", reason[:2000], now
    )
