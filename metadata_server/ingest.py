"""Deployment signals taken by the ASGI front: owns the queue of signals waiting for the next
batch and the batch in flight; reaches the engine only through `service.guest` and the app's
request budgets.

The agent's signal (`POST /guest/v1/deployments/<id>/signal` with `Authorization: Bearer`) is the
guest API's hottest write: every hook run ends with one, and a fleet's update ends with thousands
at once. Through the full route each costs a pool thread, Flask's request and its own transaction
(about a dozen database round trips). Here the front checks what the route checks before it
reads the store (the failed-authentication and request budgets, the body cap, strict JSON) and
queues the signal; batches are stored by `service.guest.signal_deployments`, each in one transaction (IN_FLIGHT
at once), and every signal that arrived while they were being stored goes into the next: a group
commit. Each answer is sent only once its batch has committed, so an accepted signal is
never lost, and it is the route's answer, byte for byte.

Whatever the batch does not accept as it stands (an unknown, dead or foreign credential, a
conflict, an unknown deployment, a database error) is handed to the full route with its body:
nothing of it was stored, and the route answers it with its reason, its audit record and its
budget accounting (such a signal is charged to its credential's request budget twice: once here,
once by the route).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from metadata_server import strict
from metadata_server.batches import Batches
from metadata_server.budget import address_key, token_key

if TYPE_CHECKING:
    from metadata_server.asgi import Front

Message = dict[str, Any]
SIGNAL = re.compile(r"/guest/v1/deployments/([^/]+)/signal")
BATCH = 500  # signals stored by one transaction at most
# Batches stored at once: while one waits for the database (its round trips, its commit's WAL
# flush), the next is built; distinct deployments, so they do not wait on each other's locks.
IN_FLIGHT = 2


class Signal:
    """One queued signal (its own key in the batches: two equal signals are two signals)."""

    __slots__ = ("bearer", "body", "entry_id")

    def __init__(self, bearer: str, entry_id: str, body: Any) -> None:
        self.bearer, self.entry_id, self.body = bearer, entry_id, body


class SignalIngest:
    def __init__(self, front: Front) -> None:
        self.front = front
        self.guest = front.service.guest
        self.config = front.config
        self._batches: Batches[Signal, dict] = Batches(self._store, BATCH, IN_FLIGHT, "storing deployment signals")

    def claim(self, scope: Message, body: bytes, budgets: Any) -> tuple[str, str, Any] | None:
        """(bearer, entry id, parsed body) of a deployment signal this front stores itself; None
        for every other request, and for one the route must refuse (it says why)."""
        if scope["method"] not in ("POST", "PUT") or scope["query_string"]:
            return None  # a signed URL's signal (?expires=&signature=) is the route's
        match = SIGNAL.fullmatch(scope["path"])
        if match is None or len(body) > self.config.max_signal_bytes:
            return None
        bearer = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                bearer = credential.strip() if scheme.lower() == "bearer" else None
            elif name == b"x-auth-token":
                return None  # the route decides which of the two counts
        if not bearer:
            return None
        try:
            document = strict.json_document(body, self.config.max_json_depth) if body.strip() else None
        except Exception:  # noqa: BLE001 - the route answers it with the reason
            return None
        if document is not None and not isinstance(document, dict):
            return None
        config = self.config
        if config.auth_failure_rate > 0:
            client = (scope.get("client") or ("unknown", 0))[0]
            if budgets.wait("failures:" + address_key(client), config.auth_failure_rate, config.auth_failure_burst):
                return None
        if config.guest_rate > 0 and budgets.take("guest:" + token_key(bearer), config.guest_rate, config.guest_burst):
            return None  # over budget: the route answers 429 with Retry-After
        return bearer, match.group(1), document

    async def store(self, claimed: tuple[str, str, Any]) -> dict | None:
        """The route's answer for the signal once its batch has committed; None when the batch
        did not take it (the caller asks the route)."""
        return await self._batches.ask(Signal(*claimed))

    def _store(self, batch: list[Signal]) -> dict[Signal, dict | None]:
        answers = self.guest.signal_deployments([(s.bearer, s.entry_id, s.body) for s in batch])
        return dict(zip(batch, answers, strict=True))
