"""What a sink receives, and how it is signed: the event body (Heat's event as its zaqar-queue
sink posts it, plus Hearth's stream fields), its exact bytes, the headers with an HMAC-SHA256
signature over timestamp and bytes, its check on the receiving side, and the retry backoff;
pure: no clock, no I/O (the caller gives times and randomness).

Signature: `X-Hearth-Signature: sha256=<hex of HMAC-SHA256(key, "<timestamp>." + body)>`, where
`<timestamp>` is the `X-Hearth-Timestamp` header (Unix seconds). A receiver recomputes it over
the bytes it received and refuses a timestamp further than a few minutes from its clock: a
recorded delivery cannot be replayed later, and the body cannot be changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGNATURE = "X-Hearth-Signature"
TIMESTAMP = "X-Hearth-Timestamp"
SEQUENCE = "X-Hearth-Event-Sequence"
EVENT_ID = "X-Hearth-Event-Id"
ATTEMPT = "X-Hearth-Delivery-Attempt"
TOLERANCE = 300  # seconds a receiver should accept between a timestamp and its clock


def event_body(
    *,
    event_id: str,
    stack_id: str,
    resource_name: str,
    resource_type: str,
    physical_id: str | None,
    action: str,
    status: str,
    reason: str,
    created_at: str,
    sequence: int,
    project: str,
    operation: str | None,
) -> dict[str, Any]:
    """Heat's Event.as_dict (heat/engine/event.py), which its sinks receive, and Hearth's
    `sequence`, `project` and `operation`. `resource_properties` is always empty: Hearth's
    events do not keep properties, and properties may hold secrets."""
    return {
        "timestamp": created_at,
        "version": "0.1",
        "type": "os.heat.event",
        "id": event_id,
        "payload": {
            "resource_name": resource_name,
            "physical_resource_id": physical_id,
            "stack_id": stack_id,
            "resource_action": action,
            "resource_status": status,
            "resource_status_reason": reason,
            "resource_type": resource_type,
            "resource_properties": {},
            "version": "0.1",
        },
        "sequence": sequence,
        "project": project,
        "operation": operation,
    }


def encode(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys sorted."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(key: str, timestamp: int, data: bytes) -> str:
    digest = hmac.new(key.encode(), str(timestamp).encode() + b"." + data, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(key: str, timestamp: int, data: bytes, *, sequence: int, event_id: str, attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE: signature(key, timestamp, data),
        TIMESTAMP: str(timestamp),
        SEQUENCE: str(sequence),
        EVENT_ID: event_id,
        ATTEMPT: str(attempt),
    }


def verify(key: str, received: Mapping[str, str], data: bytes, now: float, tolerance: float = TOLERANCE) -> bool:
    """A receiver's check: the signature matches these bytes and the timestamp is recent."""
    try:
        timestamp = int(received[TIMESTAMP])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(key, timestamp, data), received.get(SIGNATURE, ""))


def backoff(failed: int, base: float, most: float, fraction: float) -> float:
    """Seconds to wait after the `failed`-th failed try of an event: base, doubled each time,
    at most `most`, scaled by `fraction` (random, 0.5 to 1: jitter keeps sinks failing
    together from retrying together)."""
    return min(most, base * 2 ** max(failed - 1, 0)) * fraction
