"""TEMP_URL_SIGNAL for deployments that heatclient makes: the corner of Swift's API that
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
from urllib.parse import urlsplit

from sqlalchemy import select

from engine import credentials, secrets
from engine.errors import Forbidden
from engine.guest import GuestAuth
from engine.store.models import Deployment, SoftwareConfig

ACCOUNT_PREFIX = "AUTH_"
KEY_HEADER = "X-Account-Meta-Temp-Url-Key"
# swiftclient's digests, told apart by the length of the hex signature.
DIGESTS = {40: hashlib.sha1, 64: hashlib.sha256, 128: hashlib.sha512}
OPERATOR = "swift temp URL"  # who the signal is from, for GuestAuth (authorised here)


def account(project: str) -> str:
    return ACCOUNT_PREFIX + project


def endpoint(runtime, project: str) -> str:
    """The `object-store` endpoint a Keystone catalog names for `project`."""
    return f"{runtime.public_url}/v1/{account(project)}"


def temp_url_keys(keyring, project: str) -> list[str]:
    """The account's temp URL keys, newest first: the first is the one HEAD answers."""
    return [key[:32] for key in keyring.sign_all(f"swift temp url key\n{project}")]


def verify_temp_url(keyring, project: str, method: str, path: str, signature: str | None,
                    expires: str | None, now: dt.datetime) -> None:
    """Swift's check of a temp URL (tempurl middleware): an unexpired `temp_url_expires` and
    `temp_url_sig` = HMAC(key, "METHOD\\nexpires\\npath") for one of the account's keys."""
    refused = credentials.refusal(Forbidden, "this temp URL is not valid: it is expired, forged, or "
                                  "was not made with this account's X-Account-Meta-Temp-Url-Key")
    try:
        expiry = int(expires or "")
    except ValueError:
        raise refused from None
    digest = DIGESTS.get(len(signature or ""))
    if digest is None or expiry < now.replace(tzinfo=dt.UTC).timestamp():
        raise refused
    body = f"{method.upper()}\n{expiry}\n{path}".encode()
    given = (signature or "").encode("ascii", "replace")
    if not any(hmac.compare_digest(hmac.new(key.encode(), body, digest).hexdigest().encode(), given)
               for key in temp_url_keys(keyring, project)):
        raise refused


def signal(service, project: str, path: str, body) -> dict | None:
    """The object PUT to a temp URL, as the signal of the deployment whose derived config names
    that URL (its path), if one does; None when none does (Swift would just store it)."""
    runtime = service.runtime
    with runtime.store.session() as session:
        # Only deployments made through the API get a Swift temp URL (a stack's TEMP_URL_SIGNAL
        # deployment gets a Hearth signal URL); few of them wait at once.
        rows = session.execute(
            select(SoftwareConfig).join(Deployment, Deployment.config_id == SoftwareConfig.id)
            .where(Deployment.project == project, Deployment.stack_id.is_(None))).scalars().all()
        entry_id = None
        for config in rows:
            inputs = secrets.open_inputs(runtime.keyring, config.body.get("inputs") or [])
            url = next((i.get("value") for i in inputs if i.get("name") == "deploy_signal_id"), None)
            if isinstance(url, str) and urlsplit(url).path == path:
                entry_id = config.id
                break
    if entry_id is None:
        return None
    return service.guest.signal_deployment(GuestAuth(operator=OPERATOR, method="PUT"), entry_id, body)
