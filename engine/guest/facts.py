"""The guests' door to their stack tree's facts (docs/facts.md, Guest API): a server's own
credential reads every fact of its tree and writes only under its own prefix
(`servers/<server name>/`), within a budget of writes a minute; touches the store (and the
audit log for refusals) through engine/facts/.

A write may be `bound`: the fact is deleted when the server's agent is gone (the rule
engine/guest/liveness.py fails deployments by) or the server is deleted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.errors import Forbidden, InvalidRequest, NotFound, TooManyRequests
from engine.facts import keys, store
from engine.facts.book import FactBook
from engine.guest import credentials, liveness
from engine.guest.credentials import GuestAuth
from engine.runtime import Runtime

SET_KEYS = ("value", "bound")


class WriteBudget:
    """A token bucket of fact writes per server: `per_minute` held at most, refilled at that
    many a minute; in this process's memory (each replica counts its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock, self._max_keys = clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # server -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, server_id: str, per_minute: int) -> None:
        if per_minute <= 0:
            return
        rate = per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.get(server_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - counted) * rate)
            if tokens < 1 - 1e-9:
                wait = max(1, math.ceil((1 - tokens) / rate))
                raise TooManyRequests(
                    f"this server wrote more than {per_minute} facts a minute (fact_writes_per_minute); "
                    f"retry in {wait} s, or write less often (one fact can hold a JSON object)",
                    retry_after=wait,
                )
            self._buckets[server_id] = (tokens - 1, now)
            if len(self._buckets) > self._max_keys:  # forget full buckets: they hold nothing
                full = [k for k, (t, c) in self._buckets.items() if t + (self._clock() - c) * rate >= per_minute]
                for key in full:
                    del self._buckets[key]


class GuestFacts:
    """`GuestService.facts`: what the guest fact routes call (metadata_server/guest/facts.py)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.book = FactBook(runtime)
        self.budget = WriteBudget()

    def list_facts(
        self, auth: GuestAuth, server_id: str, *, prefix: str = "", index: int | None = None, wait: float = 0
    ) -> dict[str, Any]:
        """The tree's facts, with the server's own prefix (`own_prefix`)."""
        root_id, own = self._server(auth, server_id, "facts")
        return {**self.book.listing(root_id, prefix, index, wait), "own_prefix": own}

    def set_fact(
        self, auth: GuestAuth, server_id: str, key: str, body: Any, *, cas: int | None = None
    ) -> dict[str, Any]:
        """`body` is {"value": any JSON, "bound": bool (default false)}."""
        if not isinstance(body, dict) or "value" not in body:
            raise InvalidRequest('a fact is set with a JSON object: {"value": <any JSON value>, "bound": false}')
        unknown = sorted(set(body) - set(SET_KEYS))
        if unknown:
            raise InvalidRequest(f"{unknown[0]}: unknown field (known: {', '.join(SET_KEYS)})")
        bound = body.get("bound", False)
        if not isinstance(bound, bool):
            raise InvalidRequest("bound: must be true or false")
        root_id, _own = self._server(auth, server_id, "fact write", key)
        self.budget.take(server_id, self.runtime.config.fact_writes_per_minute)
        return self.book.write(root_id, key, body["value"], cas=cas, writer=server_id, bound=bound)

    def delete_fact(self, auth: GuestAuth, server_id: str, key: str, *, cas: int | None = None) -> dict[str, Any]:
        root_id, _own = self._server(auth, server_id, "fact delete", key)
        self.budget.take(server_id, self.runtime.config.fact_writes_per_minute)
        return self.book.erase(root_id, key, cas=cas)

    def _server(self, auth: GuestAuth, server_id: str, what: str, key: str | None = None) -> tuple[str, str]:
        """(root id of the server's tree, its own prefix) for the server's own credential; a
        key to write must be under that prefix (403 otherwise, recorded in the audit log)."""
        runtime, now = self.runtime, self.runtime.now()
        with credentials.refusals_audited(runtime, auth, what, server_id), runtime.store.session() as session:
            credential, server = credentials.own_server(session, auth, server_id, now, "facts")
            if not server.stack_id:
                raise NotFound(
                    f"server '{server_id}' belongs to no stack, and facts are a stack's: "
                    "only servers made by a stack have them"
                )
            own = keys.server_prefix(server.name)
            if key is not None:
                keys.check_key(key)
                if not key.startswith(own):
                    raise credentials.refusal(
                        Forbidden,
                        f"a server writes facts only under its own prefix '{own}', not '{key[:80]}': "
                        "it reads every fact of its stack, and users write the others",
                        credential.id,
                    )
            root_id = store.root_of(session, server.stack_id).id
            liveness.seen(runtime, server, now)
        return root_id, own
