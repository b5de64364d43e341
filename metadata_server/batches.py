"""Batches of work the ASGI front hands to the store: owns the keys waiting for the next batch and
the batches running; reaches nothing but the function it is given, which runs in a thread.

Whatever is asked while earlier batches are running goes into the next one (group commit, batched
reads): the cost of a transaction is shared by everything that arrived together, and one request
alone still goes at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Batches(Generic[K, R]):
    """`ask(key)` on the event loop; `run(keys)` (in a thread) answers up to `size` keys at once,
    `at_once` batches at a time: while one is in the store, the next is built. A key asked again
    before its batch runs shares that batch's answer. A failed batch answers None to each key
    (logged): the caller then takes the slow way, which says why."""

    def __init__(self, run: Callable[[list[K]], Mapping[K, R | None]], size: int, at_once: int, what: str) -> None:
        self._run, self._size, self._at_once, self._what = run, size, at_once, what
        self._waiting: dict[K, list[asyncio.Future[R | None]]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def ask(self, key: K) -> R | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if len(self._running) < self._at_once:
            task = loop.create_task(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            await asyncio.sleep(0)  # what is asked in the same turn of the loop joins this batch
            batch = list(itertools.islice(self._waiting, self._size))
            if not batch:
                return
            taken = {key: self._waiting.pop(key) for key in batch}
            try:
                answers = await asyncio.to_thread(self._run, batch)
            except Exception:
                log.exception("%s: a batch of %d failed", self._what, len(batch))
                answers = {}
            for key, futures in taken.items():
                for future in futures:
                    if not future.done():
                        future.set_result(answers.get(key))
