"""POLL_TEMP_URL: a signed capability URL that answers HEAD and GET with a server's whole metadata.

This is what Heat's Swift temp URL gives os-collect-config's ``request`` collector: no
credential but the URL itself, the raw metadata JSON object as the body, and a
``Last-Modified`` header the collector compares to skip a GET.

The URL is signed (engine.credentials.presign) over GET, its path and its expiry; a HEAD is
accepted with the same signature. It stops working when its expiry passes, when the server is
deleted, and when the server's metadata no longer names it (the transport was switched away,
or a new URL was issued): only the URL in the current ``os-collect-config.request`` section is
served, the way Heat deletes the old temp URL.

``Last-Modified`` is kept in this process's memory (see LastModified) rather than in the
database: the metadata version is bumped by code paths this module does not own, and the
header only has to differ whenever the version differs.
"""
from __future__ import annotations

import datetime as dt
import threading
import weakref
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

from engine import credentials, liveness, secrets
from engine.errors import Forbidden, NotFound
from engine.store.models import Server

PATH = "/guest/v1/servers/{server_id}/collect"
SIGNED_METHODS = ("GET",)  # HEAD is checked as GET: the collector sends both with one URL
ONE_SECOND = dt.timedelta(seconds=1)


def collect_path(server_id: str) -> str:
    return PATH.format(server_id=server_id)


def collect_url(runtime, server_id: str, now: dt.datetime, after: int = 0) -> str:
    """The signed URL for `server_id`, valid for config.presigned_url_ttl seconds from `now`.

    Its expiry is later than `after` (the latest expiry of any URL the server had): the
    signature covers only method, path and expiry, so a URL re-issued within the same second
    would otherwise be the very URL that was revoked, and bring it back to life."""
    epoch = now.replace(tzinfo=dt.UTC).timestamp()
    expires = max(int(epoch) + runtime.config.presigned_url_ttl, after + 1)
    return credentials.presign(runtime.keyring, runtime.public_url, "GET", collect_path(server_id),
                               expires)


def url_expiry(occ: dict | None) -> int:
    """The `expires` of the URL in an os-collect-config section; 0 when it names none."""
    url = ((occ or {}).get("request") or {}).get("metadata_url")
    if not isinstance(url, str):
        return 0
    try:
        return int(parse_qs(urlsplit(url).query).get("expires", ["0"])[0])
    except ValueError:
        return 0


def request_section(url: str) -> dict:
    """The `os-collect-config.request` subsection Heat writes for POLL_TEMP_URL."""
    return {"metadata_url": url}


class LastModified:
    """Per-process Last-Modified times: one per (server, metadata version) seen.

    A new version gets max(now, previous + 1 s) in whole seconds, so two changes within one
    second still give two different, increasing headers (HTTP dates have 1 s resolution).
    After a restart the first answer is "now": at worst a client fetches once more a document
    it already had, which the request collector does anyway on every poll. Forgotten entries
    (more than `max_servers`) behave the same way.
    """

    def __init__(self, max_servers: int = 100_000):
        self._seen: dict[str, tuple[int, dt.datetime]] = {}
        self._lock = threading.Lock()
        self._max = max_servers

    def stamp(self, server_id: str, version: int, now: dt.datetime) -> dt.datetime:
        now = now.replace(microsecond=0)
        with self._lock:
            known = self._seen.get(server_id)
            if known is not None and known[0] == version:
                return known[1]
            stamp = now if known is None else max(now, known[1] + ONE_SECOND)
            if known is None and len(self._seen) >= self._max:
                self._seen.pop(next(iter(self._seen)))  # the oldest inserted
            self._seen[server_id] = (version, stamp)
            return stamp

    def forget(self, server_id: str) -> None:
        with self._lock:
            self._seen.pop(server_id, None)


_CLOCKS: weakref.WeakKeyDictionary[object, LastModified] = weakref.WeakKeyDictionary()
_CLOCKS_LOCK = threading.Lock()


def clock_for(runtime) -> LastModified:
    """One clock per store (the runtime itself is an unhashable dataclass): every app over
    the same database in this process answers the same times."""
    with _CLOCKS_LOCK:
        return _CLOCKS.setdefault(runtime.store, LastModified())


def http_date(moment: dt.datetime) -> str:
    return format_datetime(moment.replace(tzinfo=dt.UTC), usegmt=True)


def collect(runtime, server_id: str, expires: str | None, signature: str | None
            ) -> tuple[dict, str]:
    """(metadata document, Last-Modified HTTP date) for a signed collect request, or
    Forbidden (bad, expired or superseded signature) / NotFound (unknown or deleted server)."""
    now = runtime.now()
    path = collect_path(server_id)
    credentials.verify_presigned(runtime.keyring, SIGNED_METHODS, path, expires, signature, now)
    with runtime.store.session() as session:
        server = session.get(Server, server_id)
        if server is None or server.deleted_at is not None:
            clock_for(runtime).forget(server_id)
            raise NotFound(f"server '{server_id}' not found: it was deleted, and its collect URL "
                           "with it")
        version = server.metadata_version
        doc = secrets.open_document(runtime.keyring, server.metadata_doc)
        if not _names_this_url(doc, expires, signature):
            raise credentials.refusal(Forbidden, "this collect URL is no longer the server's: its "
                                                 "software_config_transport changed or a new URL was "
                                                 "issued; use the one in the server's "
                                                 "os_collect_config attribute")
        first_contact = liveness.seen(runtime, server, now)
        owner = (server.stack_id, server.resource_name)
    if first_contact and owner[0]:  # a machine enrolled under an id alone has no stack to wake
        runtime.wake(*owner)
    return doc, http_date(clock_for(runtime).stamp(server_id, version, now))


def _names_this_url(doc: dict, expires: str | None, signature: str | None) -> bool:
    """Whether the document's os-collect-config.request.metadata_url carries this signature."""
    occ = (doc or {}).get("os-collect-config") or {}
    url = ((occ.get("request") or {}) if isinstance(occ, dict) else {}).get("metadata_url")
    if not isinstance(url, str):
        return False
    query = parse_qs(urlsplit(url).query)
    return query.get("expires") == [expires] and query.get("signature") == [signature]
