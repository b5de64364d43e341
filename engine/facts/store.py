"""Facts in the store: owns the rows of `fact_scopes` and `facts` and the order of a tree's
writes; works in the caller's session (one unit of work per write) and does no other I/O.

Why a row lock: a blocking reader that has index N must never be answered N+2 while N+1 is not
yet visible, or it misses N+1 for good. Every write first bumps its tree's `last_index`
(`UPDATE ... SET last_index = last_index + 1`), which locks the scope row to the commit: a
tree's writes commit in the order of their indexes, so an index seen implies every smaller
one is committed. The lock also serialises what a write checks (compare-and-set, the number of
keys), so two writers cannot both pass a check that only one of them may.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidRequest, NotFound
from engine.facts import keys
from engine.store.models import Fact, FactScope, Stack

NESTING_MAX = 20  # owner links followed to a root: deeper than any tree the limits allow
TOMBSTONE_KEPT = dt.timedelta(minutes=10)  # a deletion stays visible to blocking reads this long


def root_of(session: Session, stack_id: str) -> Stack:
    """The top-level stack of the tree `stack_id` belongs to (itself when it has no owner)."""
    stack = session.get(Stack, stack_id)
    if stack is None:
        raise NotFound(f"stack '{stack_id}' not found")
    for _ in range(NESTING_MAX):
        if not stack.owner_id:
            return stack
        owner = session.get(Stack, stack.owner_id)
        if owner is None:
            return stack
        stack = owner
    return stack


def tree(session: Session, root_id: str) -> list[Stack]:
    """The live stacks of the tree: the root, then its nested stacks level by level."""
    found = list(session.scalars(select(Stack).where(Stack.id == root_id, Stack.deleted_at.is_(None))))
    level = [s.id for s in found]
    for _ in range(NESTING_MAX):
        if not level:
            break
        children = list(session.scalars(select(Stack).where(Stack.owner_id.in_(level), Stack.deleted_at.is_(None))))
        found += children
        level = [c.id for c in children]
    return found


def last_index(session: Session, root_id: str) -> int:
    """The tree's newest index (0 before its first write)."""
    return int(session.scalar(select(FactScope.last_index).where(FactScope.root_id == root_id)) or 0)


def _advance(session: Session, root_id: str, project: str) -> tuple[FactScope, int]:
    """Take the tree's next index, its scope row locked to the commit; the scope and the index."""
    bump = (
        update(FactScope)
        .where(FactScope.root_id == root_id)
        .values(last_index=FactScope.last_index + 1)
        .returning(FactScope.last_index)
        .execution_options(synchronize_session=False)
    )
    index = session.execute(bump).scalar()
    if index is None:  # the tree's first write: its row, made once whoever races to make it
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(FactScope)
            .values(root_id=root_id, project=project, last_index=0, purged_index=0, pending_keys=[], reruns=[])
            .on_conflict_do_nothing()
        )
        index = session.execute(bump).scalar_one()
    scope = session.get(FactScope, root_id, populate_existing=True)
    assert scope is not None  # made above, and locked by this transaction
    return scope, int(index)


def listing(session: Session, root_id: str, prefix: str = "") -> list[Fact]:
    """The tree's live facts under `prefix`, by key."""
    query = select(Fact).where(Fact.root_id == root_id, Fact.deleted.is_(False))
    if prefix:
        query = query.where(Fact.key.startswith(prefix, autoescape=True))
    return list(session.scalars(query.order_by(Fact.key)))


def value_of(session: Session, root_id: str, key: str) -> Any:
    """A live fact's value, None when it has none."""
    row = session.get(Fact, (root_id, key))
    return None if row is None or row.deleted else row.value


def changed_since(session: Session, root_id: str, prefix: str, index: int) -> bool:
    """Whether a fact under `prefix` was written or deleted after `index` (a deletion whose
    tombstone is gone counts as possibly so)."""
    scope = session.get(FactScope, root_id)
    if scope is None:
        return False
    if scope.last_index < index:
        return True  # an index this tree never gave (the tree was made again): start over
    if scope.purged_index > index:
        return True
    query = select(func.max(Fact.modify_index)).where(Fact.root_id == root_id)
    if prefix:
        query = query.where(Fact.key.startswith(prefix, autoescape=True))
    return int(session.scalar(query) or 0) > index


def put(
    session: Session,
    root: Stack,
    key: str,
    value: Any,
    *,
    now: dt.datetime,
    max_keys: int,
    cas: int | None = None,
    writer: str | None = None,
    bound: bool = False,
) -> tuple[Fact, int]:
    """Set a fact (compare-and-set when `cas` is given: 0 means "only if absent", N "only if its
    modify_index is N", else 409); the row and the tree's new index."""
    scope, index = _advance(session, root.id, root.project)
    row = session.get(Fact, (root.id, key), populate_existing=True)
    live = row is not None and not row.deleted
    _check_cas(key, row if live else None, cas)
    if not live and max_keys >= 0:
        count = session.scalar(
            select(func.count()).select_from(Fact).where(Fact.root_id == root.id, Fact.deleted.is_(False))
        )
        if int(count or 0) >= max_keys:
            raise InvalidRequest(
                f"this stack already holds {count} facts, the most one stack tree may "
                f"(fact_max_keys_per_stack): delete some before adding '{key}'"
            )
    changed = not live or row is None or row.value != value
    if row is None:
        row = Fact(root_id=root.id, key=key, create_index=index)
        session.add(row)
    elif not live:
        row.create_index = index
    row.value, row.modify_index, row.deleted = value, index, False
    row.writer, row.bound, row.updated_at = writer, bound, now
    if changed:
        _note_change(scope, [key], now)
    return row, index


def remove(session: Session, root: Stack, key: str, *, now: dt.datetime, cas: int | None = None) -> int:
    """Delete a fact (compare-and-set as `put`), leaving a tombstone; the tree's new index."""
    scope, index = _advance(session, root.id, root.project)
    row = session.get(Fact, (root.id, key), populate_existing=True)
    if row is None or row.deleted:
        raise NotFound(f"no fact '{key}' in this stack's facts")
    _check_cas(key, row, cas)
    _bury(row, index, now)
    _note_change(scope, [key], now)
    _purge_tombstones(session, scope, now)
    return index


def forget_writer(session: Session, server_id: str, now: dt.datetime) -> dict[str, int]:
    """Delete the facts bound to the server's liveness (its agent is gone, or it was deleted);
    {root id: its new index} of the trees that changed."""
    rows = list(
        session.scalars(
            select(Fact)
            .where(Fact.writer == server_id, Fact.bound.is_(True), Fact.deleted.is_(False))
            .order_by(Fact.root_id, Fact.key)
        )
    )
    indexes: dict[str, int] = {}
    for root_id in dict.fromkeys(row.root_id for row in rows):
        stack = session.get(Stack, root_id)
        scope, index = _advance(session, root_id, stack.project if stack is not None else "")
        gone = [row for row in rows if row.root_id == root_id]
        for row in gone:
            _bury(row, index, now)
        _note_change(scope, [row.key for row in gone], now)
        indexes[root_id] = index
    return indexes


def drop(session: Session, root_id: str) -> None:
    """Forget a tree's facts (its root stack is deleted)."""
    session.execute(delete(Fact).where(Fact.root_id == root_id))
    session.execute(delete(FactScope).where(FactScope.root_id == root_id))


def _check_cas(key: str, live: Fact | None, cas: int | None) -> None:
    if cas is None:
        return
    current = live.modify_index if live is not None else 0
    if cas != current:
        held = f"its modify_index is {current}" if live is not None else "it does not exist"
        raise Conflict(
            f"compare-and-set refused for fact '{key}': cas={cas} but {held}; read it again and retry with that index"
        )


def _bury(row: Fact, index: int, now: dt.datetime) -> None:
    row.value, row.deleted, row.modify_index, row.updated_at = None, True, index, now


def _note_change(scope: FactScope, changed: list[str], now: dt.datetime) -> None:
    """The keys changed: the deployments reading them are due for a re-run (engine/facts/reruns.py)."""
    scope.pending_keys = keys.remember(list(scope.pending_keys or []), changed)
    scope.changed_at = now
    scope.pending_since = scope.pending_since or now


def _purge_tombstones(session: Session, scope: FactScope, now: dt.datetime) -> None:
    """Drop tombstones older than TOMBSTONE_KEPT; a blocking read from before them is answered
    at once (purged_index), as one that may have missed a deletion."""
    old = (Fact.root_id == scope.root_id) & Fact.deleted.is_(True) & (Fact.updated_at < now - TOMBSTONE_KEPT)
    newest = session.scalar(select(func.max(Fact.modify_index)).where(old))
    if newest is not None:
        session.execute(delete(Fact).where(old))
        scope.purged_index = max(scope.purged_index or 0, int(newest))
