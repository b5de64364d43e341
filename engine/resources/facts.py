"""OS::Hearth::Facts: a template's window on its stack tree's facts (docs/facts.md); reads the
facts from the store when an attribute is asked for, and holds nothing itself."""

from __future__ import annotations

from engine.facts import store
from engine.resources.base import Done, Resource


class Facts(Resource):
    """Reads the facts of its stack tree: `get_attr: [facts, KEY]` is the current value of fact KEY
    (null while it has none), and `get_attr: [facts]` every fact as a map of key to value.

    The facts are the stack tree's, kept with the top-level stack: every OS::Hearth::Facts of
    the tree, in any nested stack or group member, reads the same ones. Servers write them (under
    `servers/<server name>/`) with `hearth-agent fact set`, users with `hearth fact set` or the
    API. When a fact that a resource reads this way changes, the stack is updated with its own
    definition once the facts are quiet (`fact_rerun_delay`): a deployment whose input_values
    read it runs again with the new value (docs/facts.md, Re-runs). Creating, updating or
    deleting this resource writes no fact.
    """

    type_name = "OS::Hearth::Facts"
    inline = True
    dynamic_attributes = True  # every fact key is an attribute
    attribute_patterns = {"<key>": "the value of fact <key> (null while it has none)"}

    def create(self) -> Done:
        with self.runtime.store.session() as session:
            root_id = store.root_of(session, self.state.stack_id).id
        return Done(physical_id=self.state.physical_name, data={"root": root_id})

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        root_id = (data or {}).get("root")
        if not root_id:
            return None if name is not None else {}
        with runtime.store.session() as session:
            if name is None:
                return {row.key: row.value for row in store.listing(session, root_id)}
            return store.value_of(session, root_id, name)

    @classmethod
    def preview_attributes(cls, properties):
        return {}
