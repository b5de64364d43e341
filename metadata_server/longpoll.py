"""Guest long-polls held by the ASGI front: owns the parked polls' cache of accepted credentials
and known versions, the batched reads that answer many woken polls at once and the batched
marks of agents seen; reaches the engine only through `service.guest` and the notifier.

The full route (metadata_server/guest/native.py, asked with `wait=0`) answers a poll's first
request: authentication, audit, first contact, errors. What it accepted is remembered here
(`Known`: the server, the version it answered, the notifier's counter then, the credential's
expiry), keyed by the SHA-256 of the bearer credential (memory only), for AUTH_REUSE seconds:

- a re-poll (same credential, same server, `since` = the version known, nothing published on
  the server's topic since) parks at once, without the route and without a database read; its
  agent is marked seen with the others every SEEN_EVERY seconds, in one statement;
- a poll woken by a publish asks `service.guest.documents` for the new document, batched with
  every other poll woken in the same moment (two statements per batch, however many): the
  credential is checked there again, so a revoked one gets no document (the route then answers
  why). A burst of 10,000 changed servers costs a few dozen reads, not 10,000 requests through
  the app.

Only a credential the route accepted within AUTH_REUSE seconds parks without it; a revoked one
may at most keep parking (and be answered 304) for the rest of that time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.service import telemetry
from metadata_server.batches import Batches

if TYPE_CHECKING:
    from metadata_server.asgi import Front

log = logging.getLogger(__name__)

Message = dict[str, Any]
AUTH_REUSE = 900.0  # seconds a credential the full route accepted parks re-polls without it (the route then runs for one re-poll in about 16 of a 55 s agent)
SEEN_EVERY = 5.0  # seconds between the batched marks of agents seen (liveness.SEEN_RESOLUTION)
BATCH = 1000  # woken polls answered by one read
READERS = 2  # reads at once: one is answered on the loop while the next is read
KNOWN_MOST = 500_000  # entries kept at most (a fleet's agents, and the credentials they rotate to)
EXPIRES = b"hearth-credential-expires"
EXPIRES_IN = b"hearth-credential-expires-in"
LIFETIME = b"hearth-credential-lifetime"


class Answer:
    """An answer of the app, held whole (a long-poll's answers are small)."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.at = time.monotonic()

    async def receive(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    async def send_to(self, send: Callable[[Message], Awaitable[None]]) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": bytes(self.body)})

    def aged(self) -> Answer:
        """This answer with its credential expiry counted down by the time it was held."""
        held = int(time.monotonic() - self.at)
        if held > 0:
            self.headers = [
                (name, str(max(0, int(value) - held)).encode())
                if name == EXPIRES_IN and value.isdigit()
                else (name, value)
                for name, value in self.headers
            ]
        return self


@dataclass
class Known:
    """What the full route last accepted for one credential."""

    server_id: str
    version: int
    counter: int  # the notifier's counter of the server's topic when `version` was read
    learned: float  # time.monotonic() of the route's acceptance
    expires: float  # time.monotonic() at which the credential expires
    credential: list[tuple[bytes, bytes]]  # the route's Hearth-Credential-* headers


@dataclass
class Poll:
    server_id: str
    topic: str
    wait: float
    since: int | None
    key: str | None  # SHA-256 hex of the bearer credential, if one was sent


def parse(scope: Message, server_id: str, wait: float, args: list[tuple[str, str]]) -> Poll:
    """The parts of a metadata long-poll the cache needs (`since` as the route reads it), from
    its head and its parsed query arguments."""
    raw = next((value for name, value in args if name == "since"), None)
    since = _version(raw) if raw is not None else None
    key = None
    for name, value in scope["headers"]:
        if name == b"if-none-match" and raw is None:
            since = _version(value.decode("latin-1").strip().removeprefix("W/").strip('"'))
        elif name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                key = hashlib.sha256(credential.strip().encode()).hexdigest()
    return Poll(server_id, "server:" + server_id, wait, since, key)


def _version(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


class LongPolls:
    def __init__(self, front: Front) -> None:
        self.front = front
        self.guest = front.service.guest
        self.notifier = front.notifier
        self.config = front.config
        self.known: dict[str, Known] = {}
        self._documents: Batches[tuple[str, str], tuple[int, dict]] = Batches(
            self.guest.documents, BATCH, READERS, "reading woken polls' documents"
        )
        self._seen: set[str] = set()
        self._marking: asyncio.Task[None] | None = None

    # One poll ---------------------------------------------------------------------------------
    async def serve(
        self,
        call: Callable[[Answer], Awaitable[None]],
        poll: Poll,
        receive,
        send,
        lost: asyncio.Future[Any] | None = None,
    ) -> None:
        """Answer one long-poll: `call(answer)` asks the full route with wait=0. `lost` is the
        connection's future that the listener resolves when the client goes (serving.py);
        without one, a task waiting on receive() stands in for it."""
        deadline = time.monotonic() + min(poll.wait, self.config.longpoll_max_wait) * random.uniform(0.9, 1.0)
        gone = lost if lost is not None else asyncio.ensure_future(receive())
        try:
            known = self._reusable(poll)
            answer: Answer | None = None  # from the cache: its 304 is made only if it is sent
            published: float | None = None  # when the change that woke this poll was published
            if known is not None:
                seen = known.counter
                self._mark_seen(poll.server_id)
            else:
                seen = self.notifier.counter(poll.topic)  # before asking: nothing published since is missed
                answer = Answer()
                await call(answer)
                self._learn(poll, answer, seen)
            while True:
                remaining = deadline - time.monotonic()
                if (answer is not None and answer.status != 304) or remaining <= 0 or self.front.stopping:
                    await self._held(poll, answer, known).send_to(send)
                    if published is not None and answer is not None and answer.status == 200:
                        telemetry.LONGPOLL_WAKEUP_SECONDS.observe(time.monotonic() - published)
                    return
                woken = await self._park(poll.topic, seen, remaining, gone)
                if gone.done():
                    return  # nobody to answer
                if not woken:  # stopping, or nothing was published
                    await self._held(poll, answer, known).send_to(send)
                    return
                before, seen = seen, self.notifier.counter(poll.topic)
                published = self.notifier.published_at(poll.topic)
                if poll.since is not None and not self.notifier.newer(poll.topic, before, poll.since):
                    continue  # the version announced is the one the agent has: no read
                document = await self._document(poll) if poll.key is not None else None
                if document is None:  # no cached credential, or the route must say why
                    answer = Answer()
                    await call(answer)
                    self._learn(poll, answer, seen)
                elif document[0] != poll.since:
                    await self._changed(poll, answer, document, seen, known).send_to(send)
                    if published is not None:
                        telemetry.LONGPOLL_WAKEUP_SECONDS.observe(time.monotonic() - published)
                    return
        finally:
            if lost is None:
                gone.cancel()

    async def _park(self, topic: str, seen: int, timeout: float, gone: asyncio.Future[Any]) -> bool:
        """Wait until the topic is published past `seen` (True), or the time runs out, the
        replica stops or the client goes (False): one future and one timer, no task of its own
        (a fleet's re-polls spend their server time here)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.notifier.park(topic, seen, future):
            return True
        timer = loop.call_later(timeout, _settle, future)

        def client_gone(_: asyncio.Future[Any]) -> None:
            _settle(future)

        gone.add_done_callback(client_gone)
        self.front.parked.add(future)
        telemetry.LONGPOLL_WAITERS.inc()
        try:
            return await future is None  # a publish resolves it with None, the rest with False
        finally:
            telemetry.LONGPOLL_WAITERS.dec()
            self.front.parked.discard(future)
            gone.remove_done_callback(client_gone)
            timer.cancel()
            self.notifier.unpark(topic, future)

    # The cache ----------------------------------------------------------------------------------
    def _reusable(self, poll: Poll) -> Known | None:
        if poll.key is None or poll.since is None or self.front.stopping:
            return None
        known = self.known.get(poll.key)
        now = time.monotonic()
        if (
            known is None
            or known.server_id != poll.server_id
            or known.version != poll.since
            or now - known.learned > AUTH_REUSE
            or known.expires - now < min(poll.wait, self.config.longpoll_max_wait) + 5
            or self.notifier.counter(poll.topic) != known.counter
        ):
            return None
        return known

    def _learn(self, poll: Poll, answer: Answer, seen: int) -> None:
        """Remember what the route accepted (a 200 or 304 to a bearer credential)."""
        if poll.key is None or answer.status not in (200, 304):
            return
        headers = dict(answer.headers)
        left, etag = headers.get(EXPIRES_IN, b""), headers.get(b"etag", b"").strip(b'"')
        if not left.isdigit() or not etag.isdigit():
            return
        if len(self.known) >= KNOWN_MOST:
            self.known.clear()  # a fleet this large rotating: start again rather than grow
        now = time.monotonic()
        credential = [(n, v) for n, v in answer.headers if n in (EXPIRES, EXPIRES_IN, LIFETIME)]
        self.known[poll.key] = Known(poll.server_id, int(etag), seen, now, now + int(left), credential)

    def _held(self, poll: Poll, answer: Answer | None, known: Known | None) -> Answer:
        """What a poll answers when its wait ends unchanged: the route's answer, aged, or the
        cache's 304."""
        if answer is not None:
            return answer.aged()
        assert known is not None
        return self._not_modified(poll, known)

    def _not_modified(self, poll: Poll, known: Known) -> Answer:
        answer = Answer()
        answer.status = 304
        answer.headers = [
            (b"content-type", b"application/json"),
            (b"etag", f'"{poll.since}"'.encode()),
            *self._credential(known),
        ]
        return answer

    def _changed(
        self, poll: Poll, parked: Answer | None, document: tuple[int, dict], seen: int, cached: Known | None
    ) -> Answer:
        """The 200 the route would give for the new document (its JSON, its headers)."""
        version, metadata = document
        known = self.known.get(poll.key or "") or cached
        answer = Answer()
        answer.status = 200
        answer.body = bytearray((self.front.json_dumps({"metadata": metadata, "version": version}) + "\n").encode())
        if known is not None:
            credential = self._credential(known)
        else:
            assert parked is not None  # a poll without a cached credential was asked of the route
            credential = [(n, v) for n, v in parked.aged().headers if n in (EXPIRES, EXPIRES_IN, LIFETIME)]
        answer.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer.body)).encode()),
            (b"etag", f'"{version}"'.encode()),
            (b"cache-control", b"no-store"),
            *credential,
        ]
        if known is not None:
            known.version, known.counter = version, seen
        return answer

    @staticmethod
    def _credential(known: Known) -> list[tuple[bytes, bytes]]:
        left = str(max(0, int(known.expires - time.monotonic()))).encode()
        return [(n, left if n == EXPIRES_IN else v) for n, v in known.credential]

    # Batched reads and marks ----------------------------------------------------------------------
    async def _document(self, poll: Poll) -> tuple[int, dict] | None:
        """The server's document for this credential, read with every other poll woken now
        (None: no longer this credential's, or the read failed; the route then says why)."""
        assert poll.key is not None
        return await self._documents.ask((poll.server_id, poll.key))

    def _mark_seen(self, server_id: str) -> None:
        self._seen.add(server_id)
        if self._marking is None or self._marking.done():
            self._marking = asyncio.get_running_loop().create_task(self._mark())

    async def _mark(self) -> None:
        while self._seen:
            # As often as the route would record it (liveness.seen): a short agent_gone_grace
            # must not see a polling agent as gone.
            grace = self.config.agent_gone_grace
            await asyncio.sleep(min(SEEN_EVERY, grace / 4) if grace > 0 else SEEN_EVERY)
            servers, self._seen = sorted(self._seen), set()
            try:
                await asyncio.to_thread(self.guest.seen, servers)
            except Exception:
                log.exception("marking %d agents seen failed", len(servers))
                self._seen.update(servers)
            now = time.monotonic()
            stale = [key for key, known in self.known.items() if now - known.learned > AUTH_REUSE]
            for key in stale:
                del self.known[key]


def _settle(future: asyncio.Future[Any]) -> None:
    """End a parked wait without a publish (time out, stop, client gone)."""
    if not future.done():
        future.set_result(False)
