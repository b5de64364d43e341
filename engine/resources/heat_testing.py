"""OS::Heat::TestResource: Heat's resource for testing templates and engines; reads the runtime's
clock (a wait is a stored moment); no store session, no I/O.

It has knobs to wait, fail and replace.

Heat's functional tests lean on it: `wait_secs` and `action_wait_secs` keep a stack IN_PROGRESS
while they update, cancel or delete it; `fail` makes an action fail with Heat's reason;
`update_replace` turns an in-place update into a replacement. A wait is a stored moment in
time (`Waiting(wake_at=...)`): no thread sleeps, and a restarted engine still ends it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine import secrets
from engine.errors import TemplateError
from engine.resources.base import Done, Resource, Waiting
from engine.resources.schema import Prop

# The stored moment a wait ends, or this for a wait that never ends (wait_secs < 0).
FOREVER = "never"


def _number(description: str, **more) -> Prop:
    return Prop("number", description, update_allowed=True, **more)


class TestResource(Resource):
    """Stores `value` and answers it as its attribute `output`; waits, fails or asks to be
    replaced on demand, as Heat's own test resource does.

    Each create, update and delete ends after `wait_secs` seconds (`action_wait_secs` sets one
    action's own; a negative number waits until the stack times out or the operation is
    cancelled). An update waits only when `value` changes (to a non-empty string); otherwise it
    ends at once. With `fail: true` a create or update fails, after its wait, with Heat's reason
    `ValueError: resources.NAME: Test Resource failed NAME` (a failed create has no physical id
    and stores no value); a delete never fails. Changing `value` while `update_replace` is true,
    or changing `update_replace_value`, replaces the resource. The physical id is Heat's
    `STACK-NAME-SHORTID`. `client_name`, `entity_name`, `attr_wait_secs` and
    `constraint_prop_secs` are accepted and change nothing: in Heat they poll a cloud client or
    sleep while validating or reading attributes, and Hearth never sleeps on a request.
    A check fails when the resource was never created; `action_wait_secs` takes only the keys
    `create`, `update` and `delete`.
    """

    __test__ = False  # a resource type, not a pytest class, despite its (Heat's) name
    type_name = "OS::Heat::TestResource"
    support_status = {"version": "5.0.0"}
    inline = True
    properties_schema = {
        "value": Prop(
            "string", "the string to store; also the attribute `output`", default="test_string", update_allowed=True
        ),
        "update_replace": Prop(
            "boolean",
            "replace the resource (not update it in place) when `value` changes",
            default=False,
            update_allowed=True,
        ),
        "update_replace_value": Prop(
            "string", "a value stored that cannot change in place: changing it replaces the resource"
        ),
        "fail": Prop("boolean", "fail each create and update (after its wait)", default=False, update_allowed=True),
        "wait_secs": _number("seconds each action waits before it ends (negative: forever)", default=0),
        "action_wait_secs": Prop(
            "map",
            "seconds to wait per action, instead of `wait_secs`",
            update_allowed=True,
            fields={
                "create": _number("seconds a create waits"),
                "update": _number("seconds an update waits"),
                "delete": _number("seconds a delete waits"),
            },
        ),
        "attr_wait_secs": _number("accepted; Heat sleeps this long reading an attribute", default=0),
        "constraint_prop_secs": _number(
            "accepted; Heat sleeps this long validating it", default=0, custom_constraint="test_constr"
        ),
        "client_name": Prop(
            "string", "accepted; the cloud client Heat polls while waiting", default="", update_allowed=True
        ),
        "entity_name": Prop(
            "string", "accepted; the entity of `client_name` Heat polls", default="", update_allowed=True
        ),
    }
    attributes_schema = {"output": "the stored `value` (get_resource gives the physical id)"}

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = super().check_properties(values, unresolved=unresolved)
        waits = checked.get("action_wait_secs")
        if isinstance(waits, dict):
            for key in waits:
                if key not in ("create", "update", "delete"):
                    # Heat's words, recorded from Heat 27.0.1.
                    raise TemplateError(f"Unknown Property {key}", path=("action_wait_secs",))
        return checked

    @classmethod
    def replaced_by(cls, changed, properties) -> bool:
        return "value" in changed and bool(properties.get("update_replace"))

    # Verbs ------------------------------------------------------------------------------
    def create(self):
        if self.properties["fail"]:
            return self._after(self._wait_secs("create"), None, {})
        return self._after(self._wait_secs("create"), self.physical_name(), {"value": self._kept_value()})

    def update(self):
        value = self.properties["value"]
        if "value" not in self.state.changed or not value:
            return self._after(0, None, {})
        data = {} if self.properties["fail"] else {"value": self._kept_value()}
        return self._after(self._wait_secs("update"), None, data)

    def delete(self):
        return self._after(self._wait_secs("delete"), None, {})

    def check(self):
        if not self.state.physical_id:
            raise self.fail("Resource not created", kind="Exception")

    def check_waiting(self):
        until = self.state.data.get("wait_until")
        if until is None or until == FOREVER:
            return None
        moment = dt.datetime.fromisoformat(until)
        if self.runtime.now() < moment:
            return Waiting(wake_at=moment)
        return self._finish(self.state.data)

    # Reading ----------------------------------------------------------------------------
    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        value = data.get("value")  # sealed when derived from a secret: get_attr opens it
        if name is None:
            return {"output": value}
        return value if name == "output" else None

    # Helpers ----------------------------------------------------------------------------
    def _kept_value(self) -> Any:
        """The `value` as the resource's data keeps it: sealed when derived from a secret."""
        value = self.properties["value"]
        return secrets.seal_value(self.runtime.keyring, value) if self.derived_from_secret("value") else value

    def _wait_secs(self, action: str) -> float:
        per_action = (self.properties["action_wait_secs"] or {}).get(action)
        return self.properties["wait_secs"] if per_action is None else per_action

    def _after(self, seconds: float, physical_id: str | None, data: dict[str, Any]):
        """End the action after `seconds`: at once, at a stored moment, or never (negative)."""
        if seconds == 0:
            return self._finish({**self.state.data, **data}, physical_id)
        if seconds < 0:
            return Waiting(physical_id=physical_id, data={**data, "wait_until": FOREVER})
        moment = self.runtime.now() + dt.timedelta(seconds=seconds)
        return Waiting(physical_id=physical_id, data={**data, "wait_until": moment.isoformat()}, wake_at=moment)

    def _finish(self, data: dict[str, Any], physical_id: str | None = None) -> Done:
        if self.properties["fail"] and self.state.action != "DELETE":
            name = self.state.name
            raise self.fail(f"Test Resource failed {name}", kind="ValueError")
        kept = {k: v for k, v in data.items() if k != "wait_until"}
        return Done(
            physical_id=physical_id, attributes={"output": kept.get("value")}, data={**kept, "wait_until": None}
        )
