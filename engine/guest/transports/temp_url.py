"""POLL_TEMP_URL and TEMP_URL_SIGNAL: signed capability URLs; touches the store (servers, deployment
configs, audit), wakes the scheduler; nothing of the server app.

POLL_TEMP_URL and TEMP_URL_SIGNAL: signed capability URLs, one that reads a server's metadata and
one (Swift's) that signals a deployment.

**POLL_TEMP_URL.** This is what Heat's Swift temp URL gives os-collect-config's ``request`` collector: no
credential but the URL itself, the raw metadata JSON object as the body, and a
``Last-Modified`` header the collector compares to skip a GET.

The URL is signed (engine.guest.credentials.presign) over GET, its path and its expiry; a HEAD is
accepted with the same signature. It stops working when its expiry passes, when the server is
deleted, and when the server's metadata no longer names it (the transport was switched away,
or a new URL was issued): only the URL in the current ``os-collect-config.request`` section is
served, the way Heat deletes the old temp URL.

``Last-Modified`` is kept in this process's memory (see LastModified) rather than in the
database: the metadata version is bumped by code paths this module does not own, and the
header only has to differ whenever the version differs.

**TEMP_URL_SIGNAL**, for deployments that heatclient makes: the corner of Swift's API that
`heat deployment-create` uses to build its signal URL, and that temp URL, served by Hearth.

heatclient (deployment_utils.create_temp_url) makes the signal URL itself, from the
`object-store` endpoint of its Keystone catalog (`<public URL>/v1/AUTH_<project>`, see
`endpoint`): it creates a container, reads the account's `X-Account-Meta-Temp-Url-Key` (and sets
one when there is none), signs `PUT\\n<expires>\\n/v1/AUTH_<project>/<container>/<object>` with it
(HMAC, hex), creates the object empty, and puts the URL in the derived config as
`deploy_signal_id`. heat-config-notify later PUTs the hook's JSON there.

Hearth stores no objects. The account's key is derived from the installation's signing keys
(one per key, so a rotation keeps earlier URLs working; it cannot be set); container and object
writes by a user are accepted and forgotten; a PUT to a valid temp URL is the signal of the
project's deployment whose derived config names that URL (Heat reads the object back when the
deployment is shown; Hearth applies it when it arrives). A temp URL reaches that deployment
only; any other, an expired or a forged one, is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import weakref
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from engine import secrets
from engine.errors import Forbidden, NotFound
from engine.guest import credentials, liveness, traces, urls
from engine.guest.credentials import GuestAuth
from engine.guest.transports.contract import Built, ServerPlace
from engine.store.models import Deployment, Server, SoftwareConfig

OWNS = "request"  # the os-collect-config subsection this transport fills
SIGNED_METHODS = ("GET",)  # HEAD is checked as GET: the collector sends both with one URL
ONE_SECOND = dt.timedelta(seconds=1)


def collect_url(runtime, server_id: str, now: dt.datetime, after: int = 0) -> str:
    """The signed URL for `server_id`, valid for config.presigned_url_ttl seconds from `now`.

    Its expiry is later than `after` (the latest expiry of any URL the server had): the
    signature covers only method, path and expiry, so a URL re-issued within the same second
    would otherwise be the very URL that was revoked, and bring it back to life."""
    return credentials.presign(
        runtime.keyring,
        runtime.public_url,
        "GET",
        urls.collect_path(server_id),
        now,
        runtime.config.presigned_url_ttl,
        after=after,
    )


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


def section(server: ServerPlace, current: dict) -> Built:
    """POLL_TEMP_URL's subsection: a signed collect URL, expiring after any the server had
    (`server.floor`). A live URL is kept across updates: the guest has it configured. The URL is
    its own credential: no row is added."""
    if current.get("metadata_url"):
        return Built(current)
    return Built(request_section(collect_url(server.runtime, server.server_id, server.now, after=server.floor)))


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


def collect(runtime, server_id: str, expires: str | None, signature: str | None) -> tuple[dict, str]:
    """(metadata document, Last-Modified HTTP date) for a signed collect request, or
    Forbidden (bad, expired or superseded signature) / NotFound (unknown or deleted server)."""
    now = runtime.now()
    path = urls.collect_path(server_id)
    credentials.verify_presigned(runtime.keyring, SIGNED_METHODS, path, expires, signature, now)
    with runtime.store.session() as session:
        server = session.get(Server, server_id)
        if server is None or server.deleted_at is not None:
            clock_for(runtime).forget(server_id)
            raise NotFound(f"server '{server_id}' not found: it was deleted, and its collect URL with it")
        version = server.metadata_version
        doc = traces.heat_shaped(secrets.open_document(runtime.keyring, server.metadata_doc))
        if not _names_this_url(doc, expires, signature):
            raise credentials.refusal(
                Forbidden,
                "this collect URL is no longer the server's: its "
                "software_config_transport changed or a new URL was "
                "issued; use the one in the server's "
                "os_collect_config attribute",
            )
        first_contact = liveness.seen(runtime, server, now)
        owner = (server.stack_id, server.resource_name)
    runtime.delivered(server_id, version)
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


# -- TEMP_URL_SIGNAL: the corner of Swift's API heatclient uses ----------------------------

KEY_HEADER = "X-Account-Meta-Temp-Url-Key"
# swiftclient's digests, told apart by the length of the hex signature.
DIGESTS = {40: hashlib.sha1, 64: hashlib.sha256, 128: hashlib.sha512}
OPERATOR = "swift temp URL"  # who the signal is from, for GuestAuth (authorised here)


def endpoint(runtime, project: str) -> str:
    """The `object-store` endpoint a Keystone catalog names for `project`."""
    return urls.swift_endpoint(runtime.public_url, project)


def temp_url_keys(keyring, project: str) -> list[str]:
    """The account's temp URL keys, newest first: the first is the one HEAD answers."""
    return [key[:32] for key in keyring.sign_all(f"swift temp url key\n{project}")]


def verify_temp_url(
    keyring, project: str, method: str, path: str, signature: str | None, expires: str | None, now: dt.datetime
) -> None:
    """Swift's check of a temp URL (tempurl middleware): an unexpired `temp_url_expires` and
    `temp_url_sig` = HMAC(key, "METHOD\\nexpires\\npath") for one of the account's keys."""
    refused = credentials.refusal(
        Forbidden,
        "this temp URL is not valid: it is expired, forged, or "
        "was not made with this account's X-Account-Meta-Temp-Url-Key",
    )
    try:
        expiry = int(expires or "")
    except ValueError:
        raise refused from None
    digest = DIGESTS.get(len(signature or ""))
    if digest is None or expiry < now.replace(tzinfo=dt.UTC).timestamp():
        raise refused
    body = f"{method.upper()}\n{expiry}\n{path}".encode()
    given = (signature or "").encode("ascii", "replace")
    if not any(
        hmac.compare_digest(hmac.new(key.encode(), body, digest).hexdigest().encode(), given)
        for key in temp_url_keys(keyring, project)
    ):
        raise refused


def signal(guest, project: str, path: str, body) -> dict | None:
    """The object PUT to a temp URL, as the signal of the deployment whose derived config names
    that URL (its path), if one does; None when none does (Swift would just store it). `guest`
    is the GuestService that applies it."""
    runtime = guest.runtime
    with runtime.store.session() as session:
        # Only deployments made through the API get a Swift temp URL (a stack's TEMP_URL_SIGNAL
        # deployment gets a Hearth signal URL); few of them wait at once.
        rows = (
            session.execute(
                select(SoftwareConfig)
                .join(Deployment, Deployment.config_id == SoftwareConfig.id)
                .where(Deployment.project == project, Deployment.stack_id.is_(None))
            )
            .scalars()
            .all()
        )
        entry_id = None
        for config in rows:
            inputs = secrets.open_inputs(runtime.keyring, config.body.get("inputs") or [])
            url = next((i.get("value") for i in inputs if i.get("name") == "deploy_signal_id"), None)
            if isinstance(url, str) and urlsplit(url).path == path:
                entry_id = config.id
                break
    if entry_id is None:
        return None
    return guest.signal_deployment(GuestAuth(operator=OPERATOR, method="PUT"), entry_id, body)
