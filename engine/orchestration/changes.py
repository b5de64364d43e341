"""Change detection: owns how an update decides what changed and whether that replaces a
resource; pure, it touches nothing (the keyring signs the digests it is given).

The steps record each resource's digests as it is made and compare them at the next update;
previews ask the same questions without acting.
"""

from __future__ import annotations

import json


def type_identity(cls, declared: str) -> str:
    """The type that counts for a change: the class the declared type maps to (a change
    replaces; a new alias of the same type does not), as Heat compares classes; every provider
    template is one class (a template resource)."""
    return getattr(cls, "update_identity", None) or cls.type_name or declared


def property_digests(keyring, type_name: str, properties: dict, metadata: dict | None) -> dict[str, str]:
    """A keyed digest of each resolved property (and of the metadata and the type, whose change
    always replaces): change detection that stores nothing a hidden parameter's value could be
    read back from. `type_name` is the type the resource resolves to, so that, as in Heat, a
    new alias for the same type is no change."""
    values = {**properties, "__metadata__": metadata or {}, "__type__": type_name}
    return {k: keyring.sign(json.dumps(v, sort_keys=True, default=str)) for k, v in values.items()}


def supports_check(cls) -> bool:
    """Whether the type checks its resource (Heat: it has a handle_check)."""
    from engine.resources.base import Resource

    return cls.check is not Resource.check


def replaced_when_failed(cls, action: str, nested_exists: bool) -> bool:
    """Whether an update replaces a FAILED resource, as Heat does, except a stack resource whose
    nested stack exists: that is updated, and the nested stack's resources decide (Heat's
    StackResource._needs_update), unless the resource was marked unhealthy (CHECK_FAILED)."""
    return not (getattr(cls, "update_on_every_update", False) and nested_exists and action != "CHECK")


def changed_in_place(cls, changed: set[str], properties: dict | None = None) -> bool:
    """Whether every changed property (metadata always can) may change without a replacement,
    and the type does not ask for one for this change (`replaced_by` the new `properties`).

    A property the type's schema no longer has (a provider template that dropped a parameter)
    does not count: Heat compares only the new schema's properties."""
    schema = cls.properties_schema
    if "__type__" in changed:
        return False  # another type is another resource: Heat replaces it
    if properties is not None and cls.replaced_by(frozenset(changed), properties):
        return False
    return cls.open_properties or all(
        k in ("__metadata__", "__nested__") or k not in schema or schema[k].update_allowed for k in changed
    )
