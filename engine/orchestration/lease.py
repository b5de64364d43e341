"""Leases: owns the `leases` table (which replica drives what, until when) and this replica's
claims on it; touches the store and, on SQLite, a lock file beside the database; nothing else.

Many `hearth server` replicas may share one PostgreSQL database; each stack operation is driven
by exactly one of them, the holder of the lease `stack:<id>`. The database is the coordination
layer, through four statements:

- claim: `INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE <free, expired or ours> RETURNING
  name`: of replicas claiming one name at once, exactly one gets it back;
- renew: `UPDATE leases SET expires_at = <now + lease_seconds> WHERE owner = me AND name IN
  (held) RETURNING name`, every lease_seconds/3 on a heartbeat thread; a held name not returned
  was taken over by another replica, and this one stops driving it at once;
- guard: `SELECT name FROM leases WHERE owner = me AND name IN (...) FOR UPDATE` inside the
  transaction that writes on a stack's behalf (the journal's flush, a handler's own writes): the
  write commits only while the lease is still this replica's, and a replica taking the lease
  over waits for that commit (its claim updates the locked row);
- release: `DELETE FROM leases WHERE owner = me AND name IN (...)` once an operation's last
  writes are stored.

Time is the database's clock (PostgreSQL `clock_timestamp()`, SQLite `strftime('now')`), never
a host's: replicas compare expiry times against one clock, so their hosts' clocks may drift
(NTP is not assumed). A lease is still its owner's after it expired until another replica claims
it; the guard's row lock is what makes a late write safe, not the time.

SQLite takes one engine process: `EngineLock` holds an exclusive `flock` on `<db>.engine-lock`,
and that engine treats every lease in the file as its own to take (`exclusive`), so a restart
resumes at once. The statements are the same; only the condition of a claim differs.

Handlers write to the store in sessions of their own (a software deployment pushes its config
into the server's metadata, which makes an agent run a hook; a nested stack is created). While
the scheduler runs one on a stack's behalf it sets `acting_for(name)`, and every session that
writes and commits in that context is guarded as above (`LeaseLost` when the lease is gone).
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import and_, case, delete, exists, false, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.store.db import Store
from engine.store.models import Lease, Stack

log = logging.getLogger(__name__)

STACK = "stack:"
SWEEP_BATCH = 50  # stacks claimed per statement when taking over
SWEEP_MOST = 500  # stacks one sweep takes at most (the next sweep takes more)

_instances = itertools.count(1)


def stack_lease(stack_id: str) -> str:
    return STACK + stack_id


def node_name(explicit: str) -> str:
    """This replica's name in leases: `explicit` (HEARTH_NODE_NAME), else HOSTNAME-PID, with a
    suffix for each further engine in one process (tests run several) so that no two share one."""
    if explicit:
        return explicit
    base = f"{socket.gethostname()}-{os.getpid()}"
    number = next(_instances)
    return base if number == 1 else f"{base}-{number}"


def drives_stacks(role: str) -> bool:
    """Whether a replica of `role` (comma-separated: api, guest, engine, all) drives operations."""
    roles = {r.strip() for r in role.split(",")}
    return bool(roles & {"engine", "all"})


class LeaseLost(RuntimeError):
    """This replica no longer holds the lease it wrote under: another replica took it over."""


class EngineLocked(RuntimeError):
    """Another engine process drives this SQLite store."""


# Set while the scheduler runs code on a stack's behalf: (leases, lease name).
_acting: contextvars.ContextVar[tuple[Leases, str] | None] = contextvars.ContextVar("hearth_acting", default=None)


class Leases:
    """This replica's leases: the names it holds (each with a claim number, so that a renewal's
    verdict about an older claim is not applied to a newer one) and the statements above."""

    def __init__(self, store: Store, owner: str, seconds: float, *, exclusive: bool = False):
        self.store = store
        self.owner = owner
        self.seconds = float(seconds)
        self.exclusive = exclusive
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._claims = itertools.count(1)
        _watch_sessions()

    # What is held -------------------------------------------------------------------------
    def holds(self, name: str) -> bool:
        with self._lock:
            return name in self._held

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def forget(self, names: Iterable[str]) -> None:
        """Stop counting `names` as held, writing nothing (they were found taken over)."""
        with self._lock:
            for name in names:
                self._held.pop(name, None)

    # Statements ---------------------------------------------------------------------------
    def _now(self):
        if self.store.engine.dialect.name == "postgresql":
            return func.timezone("UTC", func.clock_timestamp())
        return func.strftime("%Y-%m-%d %H:%M:%f", "now")

    def _expiry(self):
        if self.store.engine.dialect.name == "postgresql":
            span = func.make_interval(0, 0, 0, 0, 0, 0, literal(self.seconds))
            return func.timezone("UTC", func.clock_timestamp() + span)
        return func.strftime("%Y-%m-%d %H:%M:%f", "now", f"+{self.seconds:.3f} seconds")

    def claim(self, names: Iterable[str], session: Session | None = None) -> set[str]:
        """Take the leases of `names` that are free, expired or ours (any, when exclusive); the
        names now held. One statement; with `session`, in the caller's transaction."""
        names = sorted(set(names))
        if not names:
            return set()
        dialect = postgresql if self.store.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(Lease).values(
            [{"name": n, "owner": self.owner, "expires_at": self._expiry(), "acquired_at": self._now()} for n in names]
        )
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[Lease.name],
            set_={
                "owner": excluded.owner,
                "expires_at": excluded.expires_at,
                # A renewed claim of one's own keeps the time it was first taken.
                "acquired_at": case((Lease.owner == excluded.owner, Lease.acquired_at), else_=excluded.acquired_at),
            },
            where=None if self.exclusive else or_(Lease.owner == self.owner, Lease.expires_at < self._now()),
        ).returning(Lease.name)
        if session is None:
            with self.acting_for(None), self.store.session() as own:
                won = set(own.scalars(statement))
        else:
            won = set(session.scalars(statement))
        with self._lock:
            for name in won:
                self._held[name] = next(self._claims)
        return won

    def renew(self) -> set[str]:
        """Extend every held lease (one statement); the names found taken over, now forgotten."""
        with self._lock:
            snapshot = dict(self._held)
        if not snapshot:
            return set()
        with self.acting_for(None), self.store.session() as session:
            kept = set(
                session.scalars(
                    update(Lease)
                    .where(Lease.owner == self.owner, Lease.name.in_(sorted(snapshot)))
                    .values(expires_at=self._expiry())
                    .returning(Lease.name)
                )
            )
        lost = set()
        with self._lock:
            for name, claim in snapshot.items():
                # Released or claimed again since the snapshot: that later state stands.
                if name not in kept and self._held.get(name) == claim:
                    del self._held[name]
                    lost.add(name)
        return lost

    def release(self, names: Iterable[str]) -> None:
        """Give up `names` (their operations are over and stored)."""
        names = sorted(set(names))
        if not names:
            return
        with self._lock:
            for name in names:
                self._held.pop(name, None)
        with self.acting_for(None), self.store.session() as session:
            session.execute(delete(Lease).where(Lease.owner == self.owner, Lease.name.in_(names)))

    def release_all(self) -> None:
        self.release(self.held())

    def guard(self, session: Session, names: Iterable[str]) -> set[str]:
        """Of `names`, those this replica still holds, their rows locked until `session` ends
        (PostgreSQL; SQLite's one writer at a time serialises anyway). One statement."""
        names = sorted(set(names))
        if not names:
            return set()
        found = set(
            session.scalars(
                select(Lease.name).where(Lease.owner == self.owner, Lease.name.in_(names)).with_for_update()
            )
        )
        lost = set(names) - found
        if lost:
            self.forget(lost)
        return found

    def take_over_stacks(self, reclaim_own: bool = False) -> list[str]:
        """Claim stacks whose operation is in progress and whose lease is missing or expired
        (or, when exclusive, anyone's; with `reclaim_own`, this owner's unexpired ones too: the
        same replica restarted); their ids. Per batch, one transaction: expired leases locked
        with FOR UPDATE SKIP LOCKED (another replica's sweep skips them), stacks without a
        lease, and one claim of both."""
        taken: list[str] = []
        while len(taken) < SWEEP_MOST:
            with self.acting_for(None), self.store.session() as session:
                stale = or_(Lease.expires_at < self._now(), Lease.owner != self.owner if self.exclusive else false())
                if reclaim_own:
                    stale = or_(stale, Lease.owner == self.owner)
                expired = list(
                    session.scalars(
                        select(Lease.name)
                        .join(Stack, Lease.name == literal(STACK) + Stack.id)
                        .where(Stack.status == "IN_PROGRESS", stale)
                        .limit(SWEEP_BATCH)
                        .with_for_update(of=Lease, skip_locked=True)
                    )
                )
                leased = exists().where(Lease.name == literal(STACK) + Stack.id)
                missing = list(
                    session.scalars(
                        select(Stack.id).where(and_(Stack.status == "IN_PROGRESS", ~leased)).limit(SWEEP_BATCH)
                    )
                )
                candidates = set(expired) | {stack_lease(i) for i in missing}
                won = self.claim(candidates, session) if candidates else set()
            taken += [name[len(STACK) :] for name in sorted(won)]
            if len(expired) < SWEEP_BATCH and len(missing) < SWEEP_BATCH:
                break
        return taken

    # Writes made on a lease's behalf ------------------------------------------------------
    @contextlib.contextmanager
    def acting_for(self, name: str | None) -> Iterator[None]:
        """Within: every session of this store that writes commits only while `name` is held
        (None: no such check: the journal's flush, which guards per stack itself, and the
        statements of this class, which are about leases, not on their behalf)."""
        token = _acting.set((self, name) if name else None)
        try:
            yield
        finally:
            _acting.reset(token)


class Heartbeat:
    """Renews a replica's leases every lease_seconds/3 on a thread of its own (so a busy
    scheduler loop does not lose them), reports the ones taken over, and ticks the sweep."""

    def __init__(self, leases: Leases, on_lost: Callable[[str], None], on_tick: Callable[[], None]):
        self.leases, self.on_lost, self.on_tick = leases, on_lost, on_tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        every = self.leases.seconds / 3
        while not self._stop.wait(every):
            try:
                lost = self.leases.renew()
            except Exception:
                log.warning("could not renew %d leases; retrying", len(self.leases.held()), exc_info=True)
                lost = set()
            for name in sorted(lost):
                log.warning("lease %s was taken over by another replica; this one stops driving it", name)
                self.on_lost(name)
            self.on_tick()


class EngineLock:
    """One engine process per SQLite file: an exclusive `flock` on `<db file>.engine-lock`,
    holding the holder's pid (the kernel drops it when the process dies, even by kill -9)."""

    def __init__(self, store: Store):
        path = store.url.split("///", 1)[1] if store.is_sqlite and "///" in store.url else ""
        self.path = f"{os.path.abspath(path)}.engine-lock" if path and path != ":memory:" else None
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None or self._fd is not None:
            return
        # Not inherited (PEP 446): agents the local driver starts must not keep the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EngineLocked(
                f"another Hearth engine (pid {holder}) already drives the SQLite store "
                f"{self.path.removesuffix('.engine-lock')} (it holds {self.path}): SQLite takes one "
                "engine process; stop that one, or use PostgreSQL (HEARTH_DB_URL) for several replicas"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


# Session events: guard the commits of sessions that wrote while acting for a lease ---------
_watching = threading.Lock()
_watched = False


def _watch_sessions() -> None:
    global _watched
    with _watching:
        if _watched:
            return
        from sqlalchemy import event

        event.listen(Session, "do_orm_execute", _noted_execute)
        event.listen(Session, "after_flush", _noted_flush)
        # First, before the event stream stamps its numbers (engine/store/event_log.py): that
        # lock must be the unit of work's last, taken after the lease row's as the journal takes them.
        event.listen(Session, "before_commit", _guarded_commit, insert=True)
        _watched = True


def _noted_execute(state) -> None:
    if _acting.get() is not None and (state.is_insert or state.is_update or state.is_delete):
        state.session.info["hearth_wrote"] = True


def _noted_flush(session: Session, _context) -> None:
    if _acting.get() is not None:
        session.info["hearth_wrote"] = True


def _guarded_commit(session: Session) -> None:
    acting = _acting.get()
    if acting is None:
        return
    leases, name = acting
    wrote = session.info.pop("hearth_wrote", False) or session.new or session.dirty or session.deleted
    if not wrote or session.get_bind() is not leases.store.engine:
        return
    if not leases.guard(session, [name]):
        raise LeaseLost(f"{name} is driven by another replica now; this one's write is not stored")
