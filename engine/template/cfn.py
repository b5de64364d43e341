"""CloudFormation-format templates (AWSTemplateFormatVersion 2010-09-09, HeatTemplateFormatVersion
2012-12-12) parsed into the Template the engine runs; pure, touches nothing."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from engine.errors import TemplateError
from engine.template import cfn_sections
from engine.template.cfn_parameters import PSEUDO_PARAMETERS, check_numbers, parse_cfn_schema
from engine.template.cfn_sections import CONDITION_CALLS, cfn_path
from engine.template.conditions import (
    VALUE,
    ConditionalContext,
    Vocabulary,
    calls_in,
    check_no_loop,
    undefined,
)
from engine.template.context import ResolveContext
from engine.template.functions import (
    cfn_and,
    cfn_base64,
    cfn_equals,
    cfn_find_in_map,
    cfn_get_att,
    cfn_get_azs,
    cfn_if,
    cfn_join,
    cfn_member_list_to_map,
    cfn_not,
    cfn_or,
    cfn_ref,
    cfn_replace,
    cfn_resource_facade,
    cfn_select,
    cfn_split,
)
from engine.template.hot import Template
from engine.template.parameters import ParameterSchema
from engine.template.sections import ResourceDefinition, section
from engine.template.snippets import Path, Snippet, call_in, calls, reference_of

HEAT_2012_12_12 = {
    "Fn::Base64": cfn_base64,
    "Fn::FindInMap": cfn_find_in_map,
    "Fn::GetAZs": cfn_get_azs,
    "Fn::GetAtt": cfn_get_att,
    "Fn::Join": cfn_join,
    "Fn::MemberListToMap": cfn_member_list_to_map,
    "Fn::Replace": cfn_replace,
    "Fn::ResourceFacade": cfn_resource_facade,
    "Fn::Select": cfn_select,
    "Fn::Split": cfn_split,
    "Ref": cfn_ref,
}
AWS_2010_09_09 = {**HEAT_2012_12_12, "Fn::If": cfn_if}
FUNCTIONS = {"2010-09-09": AWS_2010_09_09, "2012-12-12": HEAT_2012_12_12}
# What Conditions (and a resource's or output's Condition) may call; Ref there names
# parameters only, as conditions are decided before any resource exists.
AWS_CONDITIONS_2010_09_09 = {
    "Fn::And": cfn_and,
    "Fn::Equals": cfn_equals,
    "Fn::FindInMap": cfn_find_in_map,
    "Fn::Not": cfn_not,
    "Fn::Or": cfn_or,
    "Ref": cfn_ref,
}
CONDITION_FUNCTIONS = {"2010-09-09": AWS_CONDITIONS_2010_09_09, "2012-12-12": {}}
_OPERATORS = ("Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or")
UNAVAILABLE = {
    "2010-09-09": {name: f"function '{name}' may only be used in Conditions" for name in _OPERATORS},
    "2012-12-12": {
        name: f"function '{name}' needs AWSTemplateFormatVersion 2010-09-09" for name in _OPERATORS + ("Fn::If",)
    },
}
_UNDEFINED = {
    "ref": "Ref refers to '{name}', which is neither a resource nor a parameter",
    "parameter": "{function} refers to undefined parameter '{name}'",
    "resource": "{function} refers to undefined resource '{name}'",
    "mapping": "{function} refers to undefined mapping '{name}'",
    "condition": "{function} refers to undefined condition '{name}'",
}


class CfnTemplate(Template):
    """A validated CFN template; the engine uses it exactly as a HOT Template. Build it with parse_template.

    Conditions work as in HOT (Template.with_conditions), with the CFN condition functions.
    """

    def _parse(self, check_files: bool) -> None:
        raw = self.raw
        if not isinstance(raw, dict):
            raise TemplateError(
                "Template not in valid format: The template is not a JSON object or YAML mapping.",
                kind="HTTPBadRequest",
            )
        self.format_key, self.version = cfn_sections.format_version(raw)
        self._functions: dict[str, ModuleType] = dict(FUNCTIONS[self.version])
        self._condition_functions = dict(CONDITION_FUNCTIONS[self.version])
        self._unavailable: dict[str, str] = dict(UNAVAILABLE[self.version])
        self._vocabulary = Vocabulary(self._functions, self._condition_functions, self._unavailable)
        cfn_sections.check_sections(raw, self.version)
        self.description: str = raw.get("Description") or ""
        self.parameters: dict[str, ParameterSchema] = {}
        self._number_lists: set[str] = set()
        for name, declaration in section(raw, "Parameters", dict, "a map").items():
            self.parameters[name], numbers = parse_cfn_schema(name, declaration)
            if numbers:
                self._number_lists.add(name)
        self.mappings: dict[str, Snippet] = cfn_sections.mappings(raw)
        self.conditions = section(raw, "Conditions", dict, "a map")
        self.parameter_groups: list[Snippet] = []
        self.resources = cfn_sections.resource_definitions(raw, self.version, self.conditions, self.line_for)
        self.outputs = cfn_sections.output_definitions(raw, self.version, self.conditions, self.line_for)
        self._check_all_calls()
        self._dependencies = {name: self._requirements(resource) for name, resource in self.resources.items()}
        self.graph().check_acyclic(file=self.filename)

    # Calls ---------------------------------------------------------------------------------
    def _check_all_calls(self) -> None:
        main, unavailable = self._functions, self._unavailable
        for name, resource in self.resources.items():
            for key, snippet in (("Properties", resource.properties), ("Metadata", resource.metadata)):
                self._check(snippet, ("Resources", name, key), main, unavailable)
        for name, output in self.outputs.items():
            self._check(output.value, ("Outputs", name, "Value"), main, unavailable)
        # What only resolves outside Conditions is refused inside them, with the reason.
        refused = {
            name: f"function '{name}' cannot be used in a condition"
            for name in main
            if name not in self._condition_functions
        }
        needs = {}
        for name, expression in self.conditions.items():
            path = ("Conditions", name)
            if not isinstance(name, str) or not name:
                raise TemplateError("condition names must be non-empty strings", path=path)
            if not (isinstance(expression, bool) or call_in(expression, CONDITION_CALLS)):
                raise TemplateError(
                    "a condition must be true, false or a call to Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition",
                    path=path,
                )
            needs[name] = self._check(expression, path, self._condition_functions, refused)
        for kind, definitions in (("Resources", self.resources), ("Outputs", self.outputs)):
            for name, definition in definitions.items():
                if isinstance(definition.condition, dict):
                    self._check(definition.condition, (kind, name, "Condition"), self._condition_functions, refused)
        check_no_loop(needs, "Conditions")
        # Whether with_conditions has anything to decide.
        self._conditional = (
            bool(self.conditions)
            or any(resource.condition is not None for resource in self.resources.values())
            or any(output.condition is not None for output in self.outputs.values())
        )

    def _check(
        self, snippet: Any, path: Path, functions: Mapping[str, ModuleType], unavailable: Mapping[str, str]
    ) -> list[str]:
        """Validate every call in `snippet` and what it names; return the conditions it reads."""
        in_condition = functions is self._condition_functions
        conditions = []
        for name, args, where in calls(snippet, functions.keys() | unavailable.keys(), path):
            if name in unavailable:
                raise TemplateError(unavailable[name], path=where + (name,))
            function = functions[name]
            function.validate(args, where + (name,))
            if name == "Fn::If" and isinstance(args[0], str) and args[0] in self.conditions:
                # Heat evaluates the condition an Fn::If names as it reads the template.
                bad = self._bad_condition_item(args[0], set())
                if bad is not None:
                    raise TemplateError(f'Invalid condition "{bad}"', path=where + (name,))
            for kind, target in self._references(function, name, args):
                if kind == "ref" and in_condition:
                    kind = "parameter"
                if not self._exists(kind, target):
                    if kind == "condition":
                        raise TemplateError(f'Invalid condition "{target}"', path=where + (name,))
                    if kind == "mapping":
                        raise TemplateError(_UNDEFINED[kind].format(function=name, name=target), path=where + (name,))
                    error = undefined(kind, target, name, where)
                    if error is not None:
                        raise error
                if kind == "condition":
                    conditions.append(target)
        return conditions

    def _bad_condition_item(self, condition: str, seen: set[str]) -> Any:
        """An item of a boolean (Fn::Not, Fn::And, Fn::Or) under `condition` that is neither a
        condition name, a boolean nor a condition function; None when there is none."""
        if condition in seen:
            return None
        seen.add(condition)
        pending = [self.conditions.get(condition)]
        while pending:
            value = pending.pop()
            call = call_in(value, ("Fn::Not", "Fn::And", "Fn::Or"))
            if call is None:
                continue
            for item in call[1] if isinstance(call[1], list) else []:
                if isinstance(item, str) and item in self.conditions:
                    found = self._bad_condition_item(item, seen)
                    if found is not None:
                        return found
                elif isinstance(item, dict) and not call_in(item, CONDITION_CALLS):
                    return item
                elif isinstance(item, dict):
                    pending.append(item)
        return None

    @staticmethod
    def _references(function: ModuleType, name: str, args: Any) -> list[tuple[str, str]]:
        """What a validated call names: its own reference, and the condition names among a boolean's items."""
        named = reference_of(function, args)
        found = [named] if named is not None else []
        if name in ("Fn::Not", "Fn::And", "Fn::Or"):
            found.extend(("condition", item) for item in args if isinstance(item, str))
        return found

    def _exists(self, kind: str, name: str, check_files: bool = False) -> bool:
        parameter = name in self.parameters or name in PSEUDO_PARAMETERS
        return {
            "ref": self.is_resource(name) or parameter,
            "parameter": parameter,
            "resource": self.is_resource(name),
            "mapping": name in self.mappings,
            "condition": name in self.conditions,
        }[kind]

    def _requirements(self, resource: ResourceDefinition) -> list[str]:
        """Ref and Fn::GetAtt targets and DependsOn; once conditions are decided, only through
        the value each Fn::If chooses, and never a resource they leave out."""
        required: dict[str, None] = {}
        choose = self._choose if self._decide is not None else None
        for key in ("properties", "metadata"):
            path = ("Resources", resource.name, key)
            for name, args, _, mode in calls_in(getattr(resource, key), path, VALUE, self._vocabulary, choose):
                function = self._vocabulary.table(mode).get(name)
                for kind, target in self._references(function, name, args) if function else ():
                    if (
                        kind == "resource" or (kind == "ref" and self.is_resource(target))
                    ) and target not in self.disabled_resources:
                        required[target] = None
        required.update(dict.fromkeys(resource.depends_on))
        return list(required)

    # Answers -------------------------------------------------------------------------------
    def error(self, message: str, path: Path, **kinds: Any) -> TemplateError:
        path = self._spelt(path)
        return TemplateError(message, path=path, file=self.filename, line=self.line_for(path), **kinds)

    def _spelt(self, path: Path) -> Path:
        """`path` in CFN spelling, unless it names what the template really has (`resources:`)."""
        return tuple(path) if path and path[0] in self.raw else cfn_path(path)

    def validate_parameters(
        self, values: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        typed = super().validate_parameters(values, defaults)
        for name in self._number_lists:
            try:
                check_numbers(name, typed[name], ("Parameters", name))
            except TemplateError as error:
                raise self.locate(error) from None
        return typed

    def condition_value(self, name: str, context: ResolveContext) -> bool:
        """Whether the named condition holds for the parameter values `context` answers."""
        return self.context(context).condition(name)

    def context(self, context: ResolveContext) -> CfnContext:
        if isinstance(context, CfnContext) and context.template is self:
            return context
        return CfnContext(context, self)

    def resolve(self, snippet: Any, context: ResolveContext, path: Path = ()) -> Any:
        return super().resolve(snippet, context, self._spelt(path))


class CfnContext(ConditionalContext):
    """The engine's context seen through a CFN template: conditions, resources and zones as in
    HOT, plus the Mappings."""

    template: CfnTemplate

    @property
    def mappings(self) -> Mapping[str, Any]:
        return self.template.mappings

    def resource_facade(self, kind: str) -> Any:
        facade = getattr(self.inner, "resource_facade", None)
        if facade is None:
            raise TemplateError(
                "Fn::ResourceFacade: this stack is not a nested stack, so it has no parent resource to read from"
            )
        # The engine names what it answers as HOT does (metadata, deletion_policy, update_policy).
        return facade(
            {"Metadata": "metadata", "DeletionPolicy": "deletion_policy", "UpdatePolicy": "update_policy"}[kind]
        )
