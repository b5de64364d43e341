"""AWS::CloudFormation::WaitConditionHandle and WaitCondition: the handle owns a sealed pre-signed
URL and its HandleSignal rows; the condition reads rows via `runtime.store`.

AWS::CloudFormation::WaitConditionHandle and AWS::CloudFormation::WaitCondition: wait for N
cfn-signal calls.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from sqlalchemy import select

from engine import secrets
from engine.resources.base import Done, Resource
from engine.resources.heat_wait import WaitCondition, forget_handle, presigned_signal_url
from engine.resources.schema import Prop
from engine.store.models import Resource as ResourceRow

HANDLE_TYPE = "AWS::CloudFormation::WaitConditionHandle"


class CfnWaitConditionHandle(Resource):
    """A handle whose reference (`Ref`) is a pre-signed URL that `cfn-signal` PUTs to.

    The URL needs no credential: it is signed for this handle alone and stops working when the
    handle or its stack is deleted. It accepts cfn-signal's body
    (`{"Status": "SUCCESS"|"FAILURE", "Reason", "UniqueId", "Data"}`, sent with an empty
    Content-Type) as well as Hearth's native `{status, reason, data, id}`.
    """

    type_name = HANDLE_TYPE
    generated_name = "WaitConditionHandle"
    support_status = {"version": "2014.1"}

    def create(self) -> Done:
        handle_id = str(uuid.uuid4())
        # The signed URL is a credential: stored encrypted.
        url = presigned_signal_url(self.runtime, handle_id, "PUT")
        return Done(physical_id=handle_id, data={"sealed_url": secrets.seal_text(self.runtime.keyring, url)})

    def delete(self) -> Done:
        forget_handle(self.runtime, self.state.physical_id)
        return Done()

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        if data.get("sealed_url"):
            return secrets.open_text(runtime.keyring, data["sealed_url"])
        return data.get("url")  # a handle made before URLs were sealed


class CfnWaitCondition(WaitCondition):
    """Completes when `Count` SUCCESS signals reached the handle; one FAILURE or the `Timeout` fails it.

    `Handle` is the handle's URL (`{Ref: <handle>}`); the handle must belong to the same stack.
    """

    type_name = "AWS::CloudFormation::WaitCondition"
    generated_name = "WaitCondition"
    properties_schema = {
        "Handle": Prop("string", "the handle's URL: Ref of an AWS::CloudFormation::WaitConditionHandle", required=True),
        "Timeout": Prop("integer", "seconds to wait", required=True, min=1, max=43200),
        "Count": Prop("integer", "signals needed", default=1, min=1, update_allowed=True),
    }
    attributes_schema = {"Data": "JSON string mapping each signal's UniqueId to its Data"}
    attribute_types = {"Data": "string"}
    support_status = {"version": "2014.1"}
    names = {"handle": "Handle", "timeout": "Timeout", "count": "Count", "data": "Data"}

    def handle_id(self) -> str:
        head, _, handle_id = urlparse(self.properties["Handle"]).path.rpartition("/")
        return handle_id if head.endswith("/signal") else ""

    def create(self):
        handle_id = self.handle_id()
        with self.runtime.store.session() as session:
            row = session.scalar(
                select(ResourceRow).where(
                    ResourceRow.stack_id == self.state.stack_id, ResourceRow.physical_id == handle_id
                )
            )
        # As in Heat: a URL of another stack's handle (or no handle's URL at all) is refused.
        if not handle_id or row is None:
            raise self.fail(
                f"Handle: {self.properties['Handle']!r} is not the URL of a wait "
                "condition handle of this stack (use {Ref: <handle>})"
            )
        return super().create()
