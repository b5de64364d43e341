"""The project's event stream as the API gives it (docs/events.md): the events numbered above a
point, oldest first, and waiting for more; owns the stream's page sizes and its wake-up topic.

The numbers are given by engine.store.event_log as each unit of work commits; `committed`,
called by the store after such a commit, publishes the topic `events:<project>` with the
project's newest number as its hint, so readers parked on any replica wake at once (and a
reader that has that number already reads nothing).
"""

from __future__ import annotations

from sqlalchemy import select

from engine import views
from engine.errors import InvalidRequest
from engine.runtime import Runtime
from engine.store import event_log
from engine.store.models import Stack

PAGE = 100  # events per answer unless `limit` says otherwise
MOST = 1000  # events per answer at most


def topic(project: str) -> str:
    """The notifier topic published when the project's events commit."""
    return "events:" + project


class Events:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def committed(self, newest: dict[str, int]) -> None:
        """Events of these projects committed (up to these numbers): wake their readers."""
        self.runtime.notifier.publish_many([(topic(project), number) for project, number in newest.items()])

    def read(self, project: str, since: int = 0, limit: int | None = None, wait: float = 0) -> dict:
        """The project's events numbered above `since`, oldest first, at most `limit`; when there
        are none and `wait` > 0, the first ones to commit within `wait` seconds (capped at
        longpoll_max_wait). `next` is the `since` to ask with next; `latest` the project's
        newest number (a reader that wants only what comes next starts from it)."""
        if since < 0:
            raise InvalidRequest(f"since must be 0 or a positive event number, not {since}")
        if limit is not None and not 1 <= limit <= MOST:
            raise InvalidRequest(f"limit must be between 1 and {MOST}, not {limit}")
        answer = self._read(project, since, limit or PAGE)
        if not answer["events"] and wait > 0:
            wait = min(float(wait), self.runtime.config.longpoll_max_wait)

            def changed() -> bool:
                with self.runtime.store.session() as session:
                    return event_log.last_number(session, project) > since

            if self.runtime.notifier.wait(topic(project), changed, wait):
                answer = self._read(project, since, limit or PAGE)
        return answer

    def _read(self, project: str, since: int, limit: int) -> dict:
        with self.runtime.store.session() as session:
            latest = event_log.last_number(session, project)
            events = event_log.read_since(session, project, since, limit) if latest > since else []
            ids = {e.stack_id for e in events}
            stacks = {s.id: s for s in session.scalars(select(Stack).where(Stack.id.in_(ids)))} if ids else {}
        base = self.runtime.api_url
        return {
            "events": [views.stream_event_view(e, stacks[e.stack_id], base) for e in events],
            "next": events[-1].project_seq if events else since,
            "latest": latest,
        }
