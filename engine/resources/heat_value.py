"""OS::Heat::None, OS::Heat::Value and OS::Heat::RandomString: resources that only hold data, in
their own resource data (RandomString's sealed); no store session, no I/O."""

from __future__ import annotations

import secrets
import string
import uuid

from engine import secrets as sealing  # the module name `secrets` is the standard library's here
from engine.errors import TemplateError
from engine.resources.base import Done, Resource, UpdateReplace
from engine.resources.schema import Prop, check_value


class NoneResource(Resource):
    """Does nothing and accepts any properties; a placeholder for resources mapped away by an environment.

    As in Heat: its physical id is a UUID; every attribute is null (all of them, `[res]`, an
    empty map); a stack update never updates nor replaces it, whatever its properties or
    metadata become, unless its type changes.
    """

    type_name = "OS::Heat::None"
    support_status = {"version": "5.0.0"}
    inline = True
    open_properties = True
    dynamic_attributes = True
    ignores_changes = True

    def create(self) -> Done:
        # Heat's None notes that it stands for nothing (its abandon data shows it).
        return Done(physical_id=str(uuid.uuid4()), data={"is_placeholder": "True"})

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        return {} if name is None else None


# What each declared `type` makes of the value: Heat gives the property the schema of the
# parameter type of that name (a comma_delimited_list is a list, json a map).
VALUE_TYPES = {
    "string": Prop("string"),
    "number": Prop("number"),
    "comma_delimited_list": Prop("list"),
    "json": Prop("map"),
    "boolean": Prop("boolean"),
}


class Value(Resource):
    """Holds a value as the attribute `value`; a declared `type` is what the value must be
    readable as (as in Heat, the attribute is the value as given: "42" of type number stays "42")."""

    type_name = "OS::Heat::Value"
    support_status = {"version": "7.0.0"}
    inline = True
    properties_schema = {
        "value": Prop("any", "the value to hold", required=True, update_allowed=True),
        "type": Prop(
            "string",
            'the type the value must be readable as ("3" as a number, '
            '"true" as a boolean, "a,b" as a comma_delimited_list, JSON text as json); '
            "a value that is not is refused",
            allowed=tuple(VALUE_TYPES),
            update_allowed=True,
        ),
    }
    attributes_schema = {"value": "the value, of the declared type"}

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = super().check_properties(values, unresolved=unresolved)
        declared = checked.get("type")
        # A type or value given by a call not resolved yet is checked once it is.
        if isinstance(declared, str) and declared in VALUE_TYPES and checked.get("value") is not None:
            # Checked against the type, kept as given: Heat's attribute reads the property
            # with the type-less schema (recorded from Heat 27.0.1, basics/value-and-outputs).
            check_value(VALUE_TYPES[declared], checked["value"], ("value",), unresolved)
        return checked

    @classmethod
    def attributes_when_refused(cls, raw_properties):
        # Heat's attribute reads the type-less property: a value its type refused is still it.
        return {"value": raw_properties.get("value")}

    def create(self) -> Done:
        return Done(physical_id=self.state.physical_name, attributes={"value": self.properties["value"]})

    def update(self) -> Done:
        return Done(physical_id=self.state.physical_id, attributes={"value": self.properties["value"]})

    adopt = update

    @classmethod
    def preview_attributes(cls, properties):
        return {"value": properties.get("value")}


_CLASSES = {
    "lettersdigits": string.ascii_letters + string.digits,
    "letters": string.ascii_letters,
    "lowercase": string.ascii_lowercase,
    "uppercase": string.ascii_uppercase,
    "digits": string.digits,
    "hexdigits": string.digits + "abcdef",
    "octdigits": string.octdigits,
}


class RandomString(Resource):
    """A random string drawn with a cryptographic generator; get_resource and attribute `value` return it."""

    type_name = "OS::Heat::RandomString"
    support_status = {"version": "2014.1"}
    attribute_types = {"value": "string"}
    # Most often a password: get_attr gives it, resource show masks it (Heat shows it).
    secret_attributes = frozenset({"value"})
    inline = True
    properties_schema = {
        "length": Prop("integer", "length of the string", default=32, min=1, max=512),
        "sequence": Prop("string", "deprecated: a character class name", allowed=tuple(_CLASSES), hidden=True),
        "character_classes": Prop(
            "list",
            "classes with minimum counts",
            default=[{"class": "lettersdigits", "min": 1}],
            item=Prop(
                "map",
                fields={
                    "class": Prop("string", "a character class", default="lettersdigits", allowed=tuple(_CLASSES)),
                    "min": Prop("integer", "at least this many of the class", default=1, min=1, max=512),
                },
            ),
        ),
        "character_sequences": Prop(
            "list",
            "sequences with minimum counts",
            item=Prop(
                "map",
                fields={
                    "sequence": Prop("string", "characters to draw from", required=True),
                    "min": Prop("integer", "at least this many of them", default=1, min=1, max=512),
                },
            ),
        ),
        # Not update_allowed, as in Heat: a new salt replaces the resource (a new string).
        "salt": Prop("string", "changing it makes a new string"),
    }
    attributes_schema = {"value": "the random string"}

    @classmethod
    def check_properties(cls, values, unresolved=None):
        values = dict(values or {})
        sequence = values.get("sequence")
        if isinstance(sequence, str):
            # Heat turns the deprecated `sequence` into one more character class.
            del values["sequence"]
            values["character_classes"] = list(values.get("character_classes") or []) + [{"class": sequence, "min": 1}]
        checked = super().check_properties(values, unresolved=unresolved)
        minimums = [
            entry.get("min")
            for key in ("character_classes", "character_sequences")
            for entry in checked.get(key) or []
            if isinstance(entry, dict)
        ]
        length = checked.get("length")
        if isinstance(length, int) and all(isinstance(m, int) for m in minimums) and sum(minimums) > length:
            raise TemplateError(
                "Length property cannot be smaller than combined character class and character sequence minimums"
            )
        return checked

    def create(self) -> Done:
        value = self._generate()
        return Done(
            physical_id=self.state.physical_name, data={"value": sealing.seal_text(self.runtime.keyring, value)}
        )

    def update(self):
        # Heat's RandomString has no update of its own: a change of salt (the one property
        # that may change) is tried as an update and turns into a replacement, a new string.
        raise UpdateReplace()

    def _generate(self) -> str:
        props = self.properties
        length = props["length"]
        pools = [
            (_CLASSES[c.get("class") or "lettersdigits"], c.get("min") or 1)
            for c in props.get("character_classes") or []
        ]
        pools += [
            (s["sequence"], s.get("min") or 1) for s in props.get("character_sequences") or [] if s.get("sequence")
        ]
        if not pools:
            pools = [(_CLASSES["lettersdigits"], 1)]
        chars = [secrets.choice(pool) for pool, minimum in pools for _ in range(minimum)]
        alphabet = "".join(pool for pool, _ in pools)
        chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        return "".join(chars)

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        return sealing.open_text(runtime.keyring, data["value"]) if "value" in data else None

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        value = cls.reference_id(runtime, physical_id, data)
        return {"value": value} if name is None else (value if name == "value" else None)
