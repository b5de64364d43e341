"""Request budgets: body caps (413) and token buckets (429), kept in this process's memory with a
monotonic clock; reads settings from `service().runtime.config`, touches nothing else.

What one request may cost: a body cap per kind of route (413) and a token-bucket request budget per
principal, plus one per client address for failed authentications (429).

The buckets live behind `Budgets`, two methods that a shared store (Redis, the database) can
implement so that several server processes share them; `MemoryBudgets` keeps them in this
process. Both listeners of one server share one store, so serving the guest API on its own
listener does not double anyone's budget.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from engine.config import Config
from engine.errors import InvalidRequest, PayloadTooLarge, TooManyRequests
from engine.service import telemetry
from metadata_server.errors import envelope

# Routes whose bodies are signals or templates, by Flask endpoint; every other route gets
# `max_body_bytes`. A test checks that each name here is a registered endpoint. A signal route's
# value is the `kind` its 413 and 429 answers are counted under (hearth_signals_total).
SIGNAL_KINDS = {
    "guest.deployment_signal": "deployment",
    "guest.handle_signal": "handle",
    "guest.presigned_handle_signal": "handle",
    "orchestration.orchestration_resources.signal_resource": "resource",
    "guest_heat.resource_signal": "deployment",  # HEAT_SIGNAL with a guest Keystone token (guest/keystone.py)
    "guest_zaqar.post": "deployment",  # ZAQAR_SIGNAL: heat-config-notify posts the signal (guest/zaqar.py)
    "swift_object.put_object": "deployment",  # heatclient's TEMP_URL_SIGNAL: the object is the signal (guest/temp_url.py)
}
SIGNAL_ENDPOINTS = frozenset(SIGNAL_KINDS)
TEMPLATE_ENDPOINTS = frozenset(
    {
        "orchestration.create_stack",
        "orchestration.preview_create",
        "orchestration.update_stack",
        "orchestration.preview_update",
        "orchestration.lookup",
        "orchestration.orchestration_catalog.validate_template",
    }
)
# Routes that set a fact (docs/facts.md): a value of up to fact_max_value_bytes, in its envelope.
FACT_ENDPOINTS = frozenset({"orchestration.orchestration_facts.set_fact", "guest_facts.set_fact"})
FACT_ENVELOPE = 1024  # bytes of `{"value": ..., "bound": ...}` around the value
# The orchestration, servers and admin APIs; every other path (the guest API with whatever
# guest routes are added later, unknown paths) is charged to the guest budget.
# The web console is people's too: its pages and live stream spend the API budget of their address.
API_PREFIXES = ("/v1/", "/admin/", "/console/")


class Budgets(Protocol):
    """Token buckets by key: `rate` tokens a second, at most `burst` held, full when new."""

    def take(self, key: str, rate: float, burst: int) -> float:
        """Spend one token of `key`: 0 when there was one, else seconds until there is one."""

    def wait(self, key: str, rate: float, burst: int) -> float:
        """Seconds until `key` has a token (0: it has one now), spending nothing."""


class MemoryBudgets:
    """`Budgets` in this process's memory. A bucket that has refilled is the same as no
    bucket, so those are dropped whenever there are more than `max_keys`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock, self._max_keys = clock, max_keys
        # key -> (tokens, when counted, when full again)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> float:
        with self._lock:
            now = self._clock()
            tokens = self._level(key, rate, burst, now)
            if tokens < ONE:
                return (1 - tokens) / rate
            self._buckets[key] = (tokens - 1, now, now + (burst - tokens + 1) / rate)
            if len(self._buckets) > self._max_keys:
                self._prune(now)
            return 0.0

    def wait(self, key: str, rate: float, burst: int) -> float:
        with self._lock:
            tokens = self._level(key, rate, burst, self._clock())
            return 0.0 if tokens >= ONE else (1 - tokens) / rate

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, rate: float, burst: int, now: float) -> float:
        tokens, counted, _ = self._buckets.get(key, (burst, now, now))
        return min(float(burst), tokens + (now - counted) * rate)

    def _prune(self, now: float) -> None:
        full = [key for key, (_, _, full_at) in self._buckets.items() if full_at <= now]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) > self._max_keys:  # all busy: forget the longest-idle half
            idle = sorted(self._buckets, key=lambda key: self._buckets[key][1])
            for key in idle[: len(idle) // 2]:
                del self._buckets[key]


# A token short of one by float rounding still counts: a client that waited Retry-After
# seconds must get in.
ONE = 1 - 1e-9
_SHARED: weakref.WeakKeyDictionary[object, Budgets] = weakref.WeakKeyDictionary()


def install(app: Flask, budgets: Budgets | None = None) -> None:
    """Check caps and budgets before every request of `app`; count its 401 answers. Apps
    built over one engine service share one `MemoryBudgets` unless `budgets` is given."""
    service = app.extensions["hearth"]
    if budgets is None:
        budgets = _SHARED.setdefault(service, MemoryBudgets())
    app.extensions["hearth_budgets"] = budgets
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(RequestEntityTooLarge, _streamed_too_large)


def _config() -> Config:
    return current_app.extensions["hearth"].runtime.config


def _budgets() -> Budgets:
    return current_app.extensions["hearth_budgets"]


def _before() -> None:
    config = _config()
    try:
        _check_failures(config)
        _check_budget(config)
        _cap_body(config)
    except (TooManyRequests, PayloadTooLarge) as error:
        _count_signal(error)
        raise


def _count_signal(error: Exception) -> None:
    """A signal refused here (413, 429) never reaches the engine, which counts the others."""
    kind = SIGNAL_KINDS.get(request.endpoint or "")
    if kind is not None:
        telemetry.count_signal(kind, telemetry.refusal(error))


def _after(response: Response) -> Response:
    config = _config()
    if response.status_code == 401 and config.auth_failure_rate > 0:
        _budgets().take("failures:" + _address_key(), config.auth_failure_rate, config.auth_failure_burst)
    return response


# -- request budgets ------------------------------------------------------------------


def _check_failures(config: Config) -> None:
    if config.auth_failure_rate <= 0:
        return
    wait = _budgets().wait("failures:" + _address_key(), config.auth_failure_rate, config.auth_failure_burst)
    if wait:
        raise TooManyRequests(
            f"too many failed authentications from {request.remote_addr}: at most "
            f"{config.auth_failure_burst} at once, then {config.auth_failure_rate:g} a second "
            "(settings auth_failure_burst, auth_failure_rate)",
            retry_after=_seconds(wait),
        )


def _check_budget(config: Config) -> None:
    # A guest Keystone token (engine/guest/transports/heat.py, "hgk_...") on a /v1 route is a guest's request.
    guest_token = request.headers.get("X-Auth-Token", "").strip().startswith("hgk_")
    # `/v1/` itself is the CFN API (metadata_server/guest/cfn.py), which guests call.
    cfn = request.path in ("/v1", "/v1/")
    if request.path.startswith(API_PREFIXES) and not guest_token and not cfn:
        kind, rate, burst, names = "orchestration API", config.api_rate, config.api_burst, "api_rate, api_burst"
    else:
        kind, rate, burst, names = "guest", config.guest_rate, config.guest_burst, "guest_rate, guest_burst"
    if rate <= 0:
        return
    key, who = principal_key()
    wait = _budgets().take(f"{kind}:{key}", rate, burst)
    if wait:
        raise TooManyRequests(
            f"{kind} request budget of this {who} used up: {burst} requests at once, then "
            f"{rate:g} a second (settings {names})",
            retry_after=_seconds(wait),
        )


def principal_key() -> tuple[str, str]:
    """Who a request is charged to, before it is authenticated: its bearer token, else its
    pre-signed URL, else its client address; as (key, words for messages). Secrets appear
    only digested, so a shared store never holds one."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.headers.get("X-Auth-Token", "").strip()
    if token:
        return token_key(token), "credential"
    signature = request.args.get("signature")
    if signature:
        # The whole URL, not only its handle: a forged signature must not spend the budget of
        # the real URL's holder.
        url = f"{request.path}?{request.args.get('expires', '')}&{signature}"
        return "url:" + _digest(url), "pre-signed URL"
    return _address_key(), "client address"


def _address_key() -> str:
    return address_key(request.remote_addr)


def address_key(remote_addr: str | None) -> str:
    """The key of a client address's failed-authentication bucket (also the ASGI front's)."""
    return f"address:{remote_addr or 'unknown'}"


def token_key(token: str) -> str:
    """The key of a bearer token's request budget (also the ASGI front's), digested."""
    return "token:" + _digest(token)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _seconds(wait: float) -> int:
    """Retry-After: whole seconds until a token is there, rounded up."""
    return max(1, math.ceil(wait - 1e-9))


# -- body caps ------------------------------------------------------------------------


def body_cap(config: Config, endpoint: str | None) -> tuple[int, str, str]:
    """(limit in bytes, setting, what the route takes) for a route's request body."""
    if endpoint in SIGNAL_ENDPOINTS:
        return config.max_signal_bytes, "max_signal_bytes", "a signal"
    if endpoint in TEMPLATE_ENDPOINTS:
        return config.max_template_bytes, "max_template_bytes", "a stack or template request"
    if endpoint in FACT_ENDPOINTS:
        return max(0, config.fact_max_value_bytes) + FACT_ENVELOPE, "fact_max_value_bytes", "a fact"
    return config.max_body_bytes, "max_body_bytes", "this route"


def _cap_body(config: Config) -> None:
    """Refuse a declared length over the cap before reading anything, and a chunked body as
    soon as it passes the cap; either way before authentication and never held whole."""
    limit, setting, what = body_cap(config, request.endpoint)
    g.body_cap = (limit, setting, what)
    request.max_content_length = limit  # werkzeug's own check, behind ours
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"the body is {length} bytes; {_cap_words(limit, setting, what)}")
    if length is None and request.environ.get("wsgi.input_terminated"):
        _read_chunked(limit, setting, what)


def _read_chunked(limit: int, setting: str, what: str) -> None:
    """Read a body of undeclared length (the server de-chunks and ends it) up to one byte past
    the cap, then hand it on as a body of known length. werkzeug's own capped stream would
    silently cut such a body at the cap instead of refusing it."""
    stream = request.environ["wsgi.input"]
    body = bytearray()
    while len(body) <= limit:
        try:
            piece = stream.read(min(64 * 1024, limit + 1 - len(body)))
        except OSError as error:  # werkzeug's de-chunking: a chunk header that is no hex size
            raise InvalidRequest(
                f"the chunked body is malformed ({error}): each chunk is its "
                "size in hexadecimal, CRLF, the data, CRLF; a chunk of size 0 ends it"
            ) from None
        if not piece:
            break
        body += piece
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is larger than allowed; {_cap_words(limit, setting, what)}")
    request.environ["wsgi.input"] = io.BytesIO(bytes(body))
    request.environ["CONTENT_LENGTH"] = str(len(body))
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)


def _cap_words(limit: int, setting: str, what: str) -> str:
    return f"{what} takes at most {limit} bytes (setting {setting}, environment variable HEARTH_{setting.upper()})"


def _streamed_too_large(error: RequestEntityTooLarge):
    _count_signal(PayloadTooLarge("streamed"))
    limit, setting, what = g.get("body_cap") or body_cap(_config(), request.endpoint)
    return envelope(
        413,
        PayloadTooLarge.code,
        PayloadTooLarge.__name__,
        f"the body is larger than allowed; {_cap_words(limit, setting, what)}",
    )
