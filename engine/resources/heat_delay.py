"""OS::Heat::Delay: a pause at a point of the dependency graph, as a stored moment to wake at;
reads the runtime's clock (and draws a random jitter), never sleeps, does no I/O."""

from __future__ import annotations

import datetime as dt
import random

from engine.resources.base import Done, Resource, Waiting
from engine.resources.schema import Prop

ACTIONS = ("CREATE", "DELETE", "SUSPEND", "RESUME")


class Delay(Resource):
    """Pauses for `min_wait` seconds plus a random jitter during the actions it lists.

    Placed in the dependency graph, the pause comes after what it depends on and before what
    depends on it during CREATE and SUSPEND, and the other way round during DELETE and RESUME.
    The jitter is drawn uniformly between 0 and `max_jitter` × `jitter_multiplier` seconds.
    Nothing sleeps: the resource waits for a stored moment, which a restarted engine keeps.
    As in Heat it has no physical id (get_resource gives its name) and no attributes, an update
    changes it in place at once, and a check does nothing. A maximum delay longer than the
    stack's timeout fails the create (Heat refuses the stack with the same words). Unlike Heat
    27, whose resume of a Delay always fails (`'Delay' object has no attribute
    '_check_status_complete'`), a resume waits when RESUME is listed and completes.
    """

    type_name = "OS::Heat::Delay"
    inline = True
    properties_schema = {
        "min_wait": Prop(
            "number", "minimum seconds to wait during the listed actions", default=0, min=0, update_allowed=True
        ),
        "max_jitter": Prop(
            "number",
            "maximum jitter added to the minimum wait, in units of `jitter_multiplier` seconds",
            default=0,
            min=0,
            update_allowed=True,
        ),
        "jitter_multiplier": Prop(
            "number", "seconds `max_jitter` is multiplied by", default=1.0, min=0, update_allowed=True
        ),
        "actions": Prop(
            "list",
            "the actions during which the delay happens",
            default=["CREATE"],
            update_allowed=True,
            allowed=ACTIONS,
        ),
    }
    attributes_schema = {}
    support_status = {"version": "11.0.0"}

    def create(self):
        maximum = self.properties["min_wait"] + self._jitter_range()
        deadline = self.state.stack_deadline
        if deadline is not None and self.runtime.now() + dt.timedelta(seconds=maximum) > deadline:
            raise self.fail(
                f"{self.type_name} maximum delay {float(maximum)}s exceeds stack timeout.", kind="StackValidationFailed"
            )
        return self._pause("CREATE")

    def delete(self):
        return self._pause("DELETE")

    def suspend(self):
        return self._pause("SUSPEND")

    def resume(self):
        return self._pause("RESUME")

    def check_waiting(self):
        until = self.state.data.get("wait_until")
        if not until:
            return None
        moment = dt.datetime.fromisoformat(until)
        if self.runtime.now() < moment:
            return Waiting(wake_at=moment)
        return Done(data={"wait_until": None})

    def _jitter_range(self) -> float:
        return self.properties["max_jitter"] * self.properties["jitter_multiplier"]

    def _pause(self, action: str):
        if action not in self.properties["actions"]:
            return Done()
        seconds = self.properties["min_wait"] + self._jitter_range() * random.random()
        if not seconds:
            return Done()
        moment = self.runtime.now() + dt.timedelta(seconds=seconds)
        return Waiting(data={"wait_until": moment.isoformat()}, wake_at=moment)
