"""The facts of a stack tree as both doors use them (the users' API, engine/service/facts.py, and
the guests', engine/guest/facts.py): listing with a blocking read, setting and deleting, each
write one unit of work published after its commit; touches the store and the notifier alone.

Blocking reads are the guest metadata long-poll's (docs/guest-api.md): `?index=N&wait=S` holds
the request until a fact under the prefix is written or deleted after index N, or until the
wait (capped at longpoll_max_wait, less up to 10 % jitter) runs out, and then answers the
listing as it stands, with its index: any answer may be a change, and the client compares
indexes, as Consul's blocking queries do. A write publishes `facts:<root id>` with its index
as the hint, so a reader held on another replica sharing the PostgreSQL database wakes too
(engine/store/pg_notify.py).
"""

from __future__ import annotations

import random
from typing import Any

from engine.errors import NotFound
from engine.facts import keys, store
from engine.runtime import Runtime, iso
from engine.store.models import Fact, Stack

TOPIC = "facts:"  # + a root stack's id: its facts changed (payload: none; hint: the new index)


def fact_view(row: Fact) -> dict[str, Any]:
    return {
        "key": row.key,
        "value": row.value,
        "create_index": row.create_index,
        "modify_index": row.modify_index,
        "writer": row.writer,
        "bound": row.bound,
        "updated_at": iso(row.updated_at),
    }


class FactBook:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def listing(self, root_id: str, prefix: str = "", index: int | None = None, wait: float = 0) -> dict[str, Any]:
        """{"index", "prefix", "facts": [...]}: at once, or once something under the prefix
        changed after `index` (or the wait ran out)."""
        prefix = keys.check_prefix(prefix)
        if index is not None and wait > 0:
            self._block(root_id, prefix, index, wait)
        with self.runtime.store.session() as session:
            rows = store.listing(session, root_id, prefix)
            answer = {
                "index": store.last_index(session, root_id),
                "prefix": prefix,
                "facts": [fact_view(r) for r in rows],
            }
        return answer

    def one(self, root_id: str, key: str) -> dict[str, Any]:
        keys.check_key(key)
        with self.runtime.store.session() as session:
            row = session.get(Fact, (root_id, key))
            if row is None or row.deleted:
                raise NotFound(f"no fact '{key}' in this stack's facts")
            return {**fact_view(row), "index": store.last_index(session, root_id)}

    def _block(self, root_id: str, prefix: str, index: int, wait: float) -> None:
        runtime = self.runtime
        timeout = min(wait, runtime.config.longpoll_max_wait) * random.uniform(0.9, 1.0)

        def changed() -> bool:
            with runtime.store.session() as session:
                return store.changed_since(session, root_id, prefix, index)

        # Notifier.wait notes the topic's count before its first look at the store: a write
        # committed after that look wakes it.
        runtime.notifier.wait(TOPIC + root_id, changed, timeout)

    def write(
        self,
        root_id: str,
        key: str,
        value: Any,
        *,
        cas: int | None = None,
        writer: str | None = None,
        bound: bool = False,
    ) -> dict[str, Any]:
        """Set a fact; its view with the tree's new index."""
        config, now = self.runtime.config, self.runtime.now()
        keys.check_key(key)
        keys.check_value(value, config.fact_max_value_bytes)
        with self.runtime.store.session() as session:
            root = self._root(session, root_id)
            row, index = store.put(
                session,
                root,
                key,
                value,
                now=now,
                max_keys=config.fact_max_keys_per_stack,
                cas=cas,
                writer=writer,
                bound=bound,
            )
            answer = {**fact_view(row), "index": index}
        self.published(root_id, index)
        return answer

    def erase(self, root_id: str, key: str, *, cas: int | None = None) -> dict[str, Any]:
        keys.check_key(key)
        with self.runtime.store.session() as session:
            index = store.remove(session, self._root(session, root_id), key, now=self.runtime.now(), cas=cas)
        self.published(root_id, index)
        return {"key": key, "deleted": True, "index": index}

    def published(self, root_id: str, index: int) -> None:
        """After the commit: readers held on the tree's facts (here and on other replicas), and
        the re-runs (engine/facts/reruns.py), look again."""
        self.runtime.notifier.publish(TOPIC + root_id, hint=index)

    @staticmethod
    def _root(session, root_id: str) -> Stack:
        root = session.get(Stack, root_id)
        if root is None or root.deleted_at is not None:
            raise NotFound(f"stack '{root_id}' not found")
        return root
