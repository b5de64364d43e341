"""OS::Heat::WaitConditionHandle and OS::Heat::WaitCondition: wait for N signals from scripts."""
from __future__ import annotations

import datetime as dt
import json
import shlex
import uuid

from sqlalchemy import delete, select

from engine import credentials
from engine.resources.base import Done, Resource, Waiting
from engine.resources.schema import Prop
from engine.store.models import HandleSignal

HANDLE_TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "ZAQAR_SIGNAL", "NO_SIGNAL",
                     "TOKEN_SIGNAL")


class WaitConditionHandle(Resource):
    """A handle scripts signal: `curl_cli` (token) or the pre-signed URL in `signal`.

    The token is a credential scoped to this handle alone; it is stored hashed for checking
    and encrypted so that get_attr can hand it to the template.
    """

    type_name = "OS::Heat::WaitConditionHandle"
    properties_schema = {
        "signal_transport": Prop("string", "how the handle is signalled", default="TOKEN_SIGNAL",
                                 allowed=HANDLE_TRANSPORTS),
    }
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
            token = credentials.issue(session, kind="handle", subject_id=handle_id,
                                      stack_id=self.state.stack_id, now=now,
                                      ttl_seconds=runtime.config.credential_ttl)
        alarm_url = credentials.presign(runtime.keyring, runtime.public_url, "POST",
                                        f"/signal/{handle_id}",
                                        int(now.timestamp()) + runtime.config.presigned_url_ttl)
        return Done(physical_id=handle_id,
                    attributes={"endpoint": f"{runtime.public_url}/guest/v1/handles/{handle_id}/signal",
                                "alarm_url": alarm_url},
                    data={"token": runtime.keyring.encrypt(token)})

    def delete(self) -> Done:
        if self.state.physical_id:
            with self.runtime.store.session() as session:
                credentials.revoke_subject(session, self.state.physical_id, self.runtime.now())
                session.execute(delete(HandleSignal).where(HandleSignal.handle_id == self.state.physical_id))
        return Done()

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name is None:
            return {n: cls.attribute(runtime, n, physical_id, attributes, data) for n in cls.attributes_schema}
        token = runtime.keyring.decrypt(data["token"]) if "token" in data else None
        endpoint = attributes.get("endpoint")
        if name == "token":
            return token
        if name == "endpoint":
            return endpoint
        if name == "curl_cli":
            return (f"curl -i -X POST -H {shlex.quote('X-Auth-Token: ' + (token or ''))} "
                    "-H 'Content-Type: application/json' -H 'Accept: application/json' "
                    f"{shlex.quote(endpoint or '')}")
        if name == "signal":
            return {"alarm_url": attributes.get("alarm_url")}
        return None


class WaitCondition(Resource):
    """Completes when `count` SUCCESS signals reached the handle; one FAILURE or the timeout fails it."""

    type_name = "OS::Heat::WaitCondition"
    properties_schema = {
        "handle": Prop("string", "the handle's id (get_resource of the handle)", required=True),
        "timeout": Prop("number", "seconds to wait", required=True, min=1, max=43200),
        "count": Prop("integer", "signals needed", default=1, min=1, update_allowed=True),
    }
    attributes_schema = {"data": "JSON string mapping each signal's id to its data"}

    def create(self):
        outcome = self.check_waiting()
        if outcome is not None:
            return outcome
        deadline = self.runtime.now() + dt.timedelta(seconds=float(self.properties["timeout"]))
        return Waiting(deadline=deadline, physical_id=self.state.physical_id or str(uuid.uuid4()))

    def _signals(self) -> list[HandleSignal]:
        with self.runtime.store.session() as session:
            return list(session.scalars(select(HandleSignal).where(
                HandleSignal.handle_id == self.properties["handle"]).order_by(HandleSignal.id)))

    def check_waiting(self):
        signals = self._signals()
        failures = [s.reason for s in signals if s.status != "SUCCESS"]
        if failures:
            raise self.fail("; ".join(failures))
        if len(signals) >= self.properties["count"]:
            data = json.dumps({s.signal_id: s.data for s in signals})
            return Done(physical_id=self.state.physical_id or str(uuid.uuid4()),
                        attributes={"data": data})
        return None

    def timeout_reason(self) -> str:
        signals = self._signals()
        message = f"{len(signals)} of {self.properties['count']} received"
        reasons = [s.reason for s in signals if s.status == "SUCCESS" and s.reason]
        return message + (" - " + "; ".join(reasons) if reasons else "")
