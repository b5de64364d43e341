"""Resource lifecycle contract: types declare schemas and verbs, the scheduler owns state and
events; no I/O here: a handler is given a Runtime for the store, nested stacks and the driver.

A handler (`create`, `update`, `delete`, `suspend`, `resume`, `check`, `check_waiting`) returns
an outcome or raises. It never sleeps or polls: a resource that waits for a signal (or for a
nested stack) returns `Waiting` and is woken by the signal (`runtime.wake`); one that waits for
a moment in time returns `Waiting(wake_at=T)` and is woken at T (the time is stored, so a
restarted engine keeps it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from engine.errors import ResourceFailure
from engine.resources.names import physical_resource_name
from engine.resources.schema import Prop, validate_properties

if TYPE_CHECKING:
    from engine.runtime import Runtime


@dataclass
class Done:
    """The action finished: the new physical id, attributes and private data to keep.

    `attributes` replace the stored ones when given (an empty map too: a provider template
    whose outputs are gone has none left); None keeps them."""

    physical_id: str | None = None
    attributes: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Waiting:
    """The action waits for a signal (or the deadline); nothing holds a thread meanwhile.

    `deadline` fails the wait when it passes; `wake_at` calls `check_waiting` at that time,
    which answers Done, a failure, or Waiting again (with the next `wake_at`). A wait for a
    time runs to its end when the operation is cancelled, unless it is `interruptible`: a pause
    with nothing in progress (a group between batches), which a cancel ends at once.
    """

    deadline: dt.datetime | None = None
    physical_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    wake_at: dt.datetime | None = None
    interruptible: bool = False


Outcome = Done | Waiting


@dataclass
class ResourceState:
    """What a handler may read about its resource and its stack."""

    stack_id: str
    stack_name: str
    project: str
    name: str
    type: str
    physical_id: str | None
    data: dict[str, Any]
    attributes: dict[str, Any]
    stack_deadline: dt.datetime | None
    action: str = "CREATE"
    metadata: dict[str, Any] = field(default_factory=dict)  # the resolved template `metadata`
    # The resource's template definition as written (update_policy, deletion_policy, ...).
    update_policy: dict[str, Any] = field(default_factory=dict)
    deletion_policy: str | None = None
    # During UPDATE: the names of properties whose resolved value changed.
    changed: frozenset[str] = frozenset()
    # Heat's physical resource name for this incarnation (`<stack>-<resource>-<short id>`).
    physical_name: str = ""
    # The property paths whose values were resolved from a secret (engine.secrets.Taint):
    # ("value",) for a whole property, ("input_values", "password") for one key of a map.
    secret_paths: frozenset[tuple] = frozenset()
    # The texts of the secrets the resolution read, to keep out of messages.
    secret_texts: tuple[str, ...] = ()
    # Whether the resolved template `metadata` was derived from a secret.
    secret_metadata: bool = False
    # During ADOPT: this resource's part of the adopt data, when it adopts by an action of its
    # own (a nested stack's owner adopts its nested stack from it).
    adopt_data: dict[str, Any] | None = None


class UpdateReplace(Exception):
    """Raised by `update` when the change cannot be made in place: the scheduler replaces the
    resource (deletes it, then creates it with the new properties)."""


class Resource:
    """Base of every resource type. Subclasses declare the class attributes and the verbs they need."""

    type_name: ClassVar[str] = ""
    properties_schema: ClassVar[dict[str, Prop]] = {}
    attributes_schema: ClassVar[dict[str, str]] = {}
    # The type an attribute's published schema names, where Heat's names one (string, map, list).
    attribute_types: ClassVar[dict[str, str]] = {}
    # Attributes that carry a credential (a handle's token, a signed URL): get_attr gives them,
    # resource show masks them.
    secret_attributes: ClassVar[frozenset[str]] = frozenset()
    # Attribute names that are patterns (`resource.<n>`, `Outputs.<name>`): documented, not
    # part of the published schema, as Heat's are not.
    attribute_patterns: ClassVar[dict[str, str]] = {}
    # Heat's support_status map: the release that brought the type ("2014.1"), or status
    # HIDDEN for a type kept working for old templates but no longer listed or shown.
    support_status: ClassVar[dict[str, Any]] = {}
    # The resource's name in the template Heat generates for the type (Heat's class name),
    # when it differs from this class's.
    generated_name: ClassVar[str | None] = None
    # Attribute names are not all known in advance (deployment outputs): skip name checks.
    dynamic_attributes: ClassVar[bool] = False
    # Cheap and side-effect free: run on the scheduler thread and re-run safely after a crash.
    inline: ClassVar[bool] = False
    # Accepts any properties without checking them (OS::Heat::None stands in for any type).
    open_properties: ClassVar[bool] = False
    # Replaced by every stack update, changed or not (OS::Heat::UpdateWaitConditionHandle).
    replace_on_every_update: ClassVar[bool] = False
    # Left alone by every stack update while its type stays the same, whatever changed
    # (OS::Heat::None: Heat never updates nor replaces it).
    ignores_changes: ClassVar[bool] = False
    # Whether the type decides itself which of its attributes derive from a secret (a nested
    # stack's outputs are tainted by the nested stack's own resolution). Otherwise every
    # attribute of a resource whose properties were resolved from a secret is stored sealed.
    seals_own_attributes: ClassVar[bool] = False

    @classmethod
    def check_properties(cls, values: Any, unresolved=None) -> dict[str, Any]:
        """Validated properties with defaults; errors carry the path inside `properties`."""
        if cls.open_properties:
            return dict(values or {})
        return validate_properties(cls.properties_schema, values, unresolved=unresolved)

    def __init__(self, runtime: Runtime, state: ResourceState, properties: dict[str, Any]):
        self.runtime = runtime
        self.state = state
        self.properties = properties

    @classmethod
    def replaced_by(cls, changed: frozenset[str], properties: dict[str, Any]) -> bool:
        """Whether this change needs a replacement although every changed property is
        `update_allowed` (Heat's needs_replace_with_prop_diff); `properties` are the new ones."""
        return False

    # Verbs -------------------------------------------------------------------------------
    def create(self) -> Outcome:
        return Done()

    def update(self) -> Outcome | None:
        """Bring the resource to `self.properties` in place; `state.changed` names what changed.

        Called only when every changed property is `update_allowed` (otherwise the scheduler
        replaces the resource). The default keeps the resource as it is; raise UpdateReplace
        to ask for a replacement after all.
        """
        return None

    def delete(self) -> Outcome | None:
        return None

    def suspend(self) -> Outcome | None:
        return None

    def adopt(self) -> Done | None:
        """Take over the resource an abandoned stack left (its id and data are in the state);
        a type whose attributes come from its properties answers them here."""
        return None

    def resume(self) -> Outcome | None:
        return None

    def check(self) -> Outcome | None:
        """Check the resource still exists and works; raise to mark it CHECK_FAILED."""
        return None

    def check_waiting(self) -> Outcome | None:
        """Called when woken by a signal: an outcome once the wait is over, else None."""
        return None

    def cancel(self) -> None:
        """The wait is abandoned (timeout, stack failure, delete): release what waits on the guest."""

    def timeout_reason(self) -> str:
        return "timed out"

    @classmethod
    def left_behind(cls, session, stack_id: str, name: str, known: set[str]) -> str | None:
        """The id of what a create interrupted by an engine's death had made before its
        physical id was stored (it is stored after the create's own unit of work); None when
        nothing was, or when this type makes nothing outside its resource row. `known` holds
        the physical ids the stack's resources already have. The failed resource keeps the
        id, so that deleting or replacing it removes what was made."""
        return None

    # Reading ----------------------------------------------------------------------------
    @classmethod
    def preview_attributes(cls, properties: dict[str, Any]) -> dict[str, Any]:
        """The attributes a preview shows before the resource exists (Heat: each unknown)."""
        return dict.fromkeys(cls.attributes_schema)

    @classmethod
    def reference_id(cls, runtime: Runtime, physical_id: str | None, data: dict[str, Any]) -> Any:
        """What get_resource returns."""
        return physical_id

    @classmethod
    def attribute(
        cls, runtime: Runtime, name: str, physical_id: str | None, attributes: dict[str, Any], data: dict[str, Any]
    ) -> Any:
        """What get_attr returns; by default the attributes recorded when the action finished."""
        if name is None:
            return dict(attributes)
        return attributes.get(name)

    def derived_from_secret(self, *path) -> bool:
        """Whether the property at `path` (any property when no path is given) was resolved,
        wholly or in part, from a secret."""
        path = tuple(path)
        return any(secret[: len(path)] == path or path[: len(secret)] == secret for secret in self.state.secret_paths)

    @classmethod
    def attributes_when_refused(cls, raw_properties: dict[str, Any]) -> dict[str, Any]:
        """The attributes a resource whose properties were refused still answers (Heat reads
        some attributes straight from the properties as given); none by default."""
        return {}

    @staticmethod
    def fail(message: str, kind: str | None = None) -> ResourceFailure:
        return ResourceFailure(message, kind)

    def physical_name(self) -> str:
        """Heat's physical resource name for this resource: `STACK-RESOURCE-SHORTID`, the same
        one for the whole incarnation (state.physical_name, kept by the scheduler)."""
        return self.state.physical_name or physical_resource_name(self.state.stack_name, self.state.name)
