"""OS::Heat::WaitConditionHandle and WaitCondition: the handle owns its guest credential and
HandleSignal rows; the condition reads (NO_SIGNAL: writes) them via `runtime.store`.

OS::Heat::WaitConditionHandle and OS::Heat::WaitCondition: wait for N signals from scripts.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import uuid
from urllib.parse import urlparse

from sqlalchemy import delete, select

from engine import secrets
from engine.errors import ResourceFailure
from engine.guest import credentials, signals as guest_signals, urls
from engine.resources.base import Done, Resource, Waiting
from engine.resources.schema import Prop
from engine.store.models import HandleSignal

HANDLE_TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "NO_SIGNAL", "ZAQAR_SIGNAL", "TOKEN_SIGNAL")


class WaitConditionFailure(ResourceFailure):
    """A FAILURE signal reached the handle; named as Heat names it, so that the stack's reason
    reads as it does under Heat (`WaitConditionFailure: resources.wait: <reasons>`)."""


def presigned_signal_url(runtime, handle_id: str, method: str) -> str:
    """A URL that signals the handle without a credential, valid for presigned_url_ttl."""
    return credentials.presign(
        runtime.keyring,
        runtime.public_url,
        method,
        urls.presigned_handle_path(handle_id),
        runtime.now(),
        runtime.config.presigned_url_ttl,
    )


def forget_handle(runtime, handle_id: str | None) -> None:
    """A deleted handle: its credentials revoked and its signals gone."""
    if handle_id:
        with runtime.store.session() as session:
            credentials.revoke_subject(session, handle_id, runtime.now())
            session.execute(delete(HandleSignal).where(HandleSignal.handle_id == handle_id))


class WaitConditionHandle(Resource):
    """A handle scripts signal: `curl_cli` (token) or the pre-signed URL in `signal`.

    The token is a credential scoped to this handle alone; it is stored hashed for checking
    and encrypted so that get_attr can hand it to the template. A NO_SIGNAL handle needs no
    signal: each check of its wait condition records empty SUCCESS signals, so the wait
    completes at once.
    """

    type_name = "OS::Heat::WaitConditionHandle"
    generated_name = "HeatWaitConditionHandle"
    properties_schema = {
        "signal_transport": Prop(
            "string", "how the handle is signalled", default="TOKEN_SIGNAL", allowed=HANDLE_TRANSPORTS
        ),
    }
    support_status = {"version": "2014.2"}
    attribute_types = {"token": "string", "endpoint": "string", "curl_cli": "string", "signal": "string"}
    secret_attributes = frozenset({"token", "curl_cli", "signal"})
    attributes_schema = {
        "token": "the handle's token (TOKEN_SIGNAL)",
        "endpoint": "the URL to POST signals to with the token",
        "curl_cli": "a curl command line that signals; append --data-binary '<json>'",
        "signal": "transport details for the other transports (alarm_url: a pre-signed URL)",
    }

    def create(self) -> Done:
        runtime, now = self.runtime, self.runtime.now()
        handle_id = str(uuid.uuid4())
        with runtime.store.session() as session:
            token = credentials.issue(
                session,
                kind="handle",
                subject_id=handle_id,
                stack_id=self.state.stack_id,
                now=now,
                ttl_seconds=runtime.config.credential_ttl,
            )
        # The signed URL is a credential: stored encrypted, with the token, not as an attribute.
        alarm_url = presigned_signal_url(runtime, handle_id, "POST")
        return Done(
            physical_id=handle_id,
            attributes={"endpoint": urls.handle_signal_url(runtime.public_url, handle_id)},
            data={
                "token": secrets.seal_text(runtime.keyring, token),
                "alarm_url": secrets.seal_text(runtime.keyring, alarm_url),
                "signal_transport": self.properties["signal_transport"],
            },
        )

    def delete(self) -> Done:
        forget_handle(self.runtime, self.state.physical_id)
        return Done()

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name is None:
            return {n: cls.attribute(runtime, n, physical_id, attributes, data) for n in cls.attributes_schema}
        if not physical_id:  # as Heat: nothing before the handle is made
            return None
        token = secrets.open_text(runtime.keyring, data["token"]) if "token" in data else None
        endpoint = attributes.get("endpoint")
        if name == "token":
            return token
        if name == "endpoint":
            return endpoint
        if name == "curl_cli":
            if endpoint is None or token is None:  # as Heat: no command line without both
                return None
            return (
                f"curl -i -X POST -H {shlex.quote('X-Auth-Token: ' + token)} "
                "-H 'Content-Type: application/json' -H 'Accept: application/json' "
                f"{shlex.quote(endpoint)}"
            )
        if name == "signal":
            sealed = data.get("alarm_url")
            return {"alarm_url": secrets.open_text(runtime.keyring, sealed) if sealed else attributes.get("alarm_url")}
        return None


class WaitCondition(Resource):
    """Completes when `count` SUCCESS signals reached the handle; one FAILURE or the timeout fails it."""

    type_name = "OS::Heat::WaitCondition"
    generated_name = "HeatWaitCondition"
    properties_schema = {
        "handle": Prop("string", "the handle's id (get_resource of the handle)", required=True),
        "timeout": Prop("number", "seconds to wait", required=True, min=1, max=43200),
        "count": Prop("integer", "signals needed", default=1, min=1, update_allowed=True),
    }
    attributes_schema = {"data": "JSON string mapping each signal's id to its data"}
    attribute_types = {"data": "string"}
    support_status = {"version": "2014.2"}
    # Property and attribute names, so that AWS::CloudFormation::WaitCondition shares the logic.
    names = {"handle": "handle", "timeout": "timeout", "count": "count", "data": "data"}

    def handle_id(self) -> str:
        """The id of the handle whose signals are counted. A URL-style handle (Heat's
        UpdateWaitConditionHandle is one) is referenced by its signal URL: the id ends its path."""
        handle = self.properties[self.names["handle"]]
        if "://" in handle:
            handle = urlparse(handle).path.rpartition("/")[2]
        return handle

    def create(self):
        outcome = self.check_waiting()
        if outcome is not None:
            return outcome
        deadline = self.runtime.now() + dt.timedelta(seconds=float(self.properties[self.names["timeout"]]))
        return Waiting(deadline=deadline, physical_id=self.state.physical_id or str(uuid.uuid4()))

    def update(self):
        """As Heat's: an update (of `count`, or after the handle was replaced) waits again."""
        return self.create()

    def _signals(self) -> list[HandleSignal]:
        with self.runtime.store.session() as session:
            return list(
                session.scalars(
                    select(HandleSignal).where(HandleSignal.handle_id == self.handle_id()).order_by(HandleSignal.id)
                )
            )

    def check_waiting(self):
        guest_signals.record_empty_signals(self.runtime, self.handle_id(), self.properties[self.names["count"]])
        signals = self._signals()
        failures = [s.reason for s in signals if s.status != "SUCCESS"]
        if failures:
            raise WaitConditionFailure(";".join(failures))  # joined with ';' as Heat joins them
        if len(signals) >= self.properties[self.names["count"]]:
            data = json.dumps({s.signal_id: s.data for s in signals})
            return Done(physical_id=self.state.physical_id or str(uuid.uuid4()), attributes={self.names["data"]: data})
        return None

    def timeout_reason(self) -> str:
        signals = self._signals()
        message = f"{len(signals)} of {self.properties[self.names['count']]} received"
        reasons = [s.reason for s in signals if s.status == "SUCCESS" and s.reason]
        return message + (" - " + ";".join(reasons) if reasons else "")  # as Heat's WaitConditionTimeout
