"""HOT templates: parse_template checks a whole template up front; a Template then answers questions
about it and resolves snippets. Pure, touches nothing."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from engine.errors import LimitExceeded, TemplateError
from engine.orchestration.graph import Graph
from engine.template.conditions import (
    VALUE,
    ConditionalContext,
    Vocabulary,
    calls_in,
    check_condition,
    check_definitions,
    check_snippet,
    condition_positions,
    part,
    undefined,
)
from engine.template.context import ParameterContext, ResolveContext
from engine.template.functions import condition_functions_for, functions_for, unavailable_for
from engine.template.functions.args import OMITTED, is_call
from engine.template.limits import Budget, Limits, budget_of, scalar_size
from engine.template.loader import load_yaml
from engine.template.parameters import (
    PSEUDO_PARAMETERS,
    ParameterSchema,
    parameter_values,
    parse_schema,
)
from engine.template.sections import (
    OutputDefinition,
    ResourceDefinition,
    check_conditions,
    check_parameter_groups,
    check_top_level,
    deletion_policy,
    output_definitions,
    resource_definitions,
    section,
)
from engine.template.snippets import Path, Snippet, call_in, reference_of
from engine.template.versions import VERSIONS, canonical_version


def parse_template(
    source: str | dict[str, Snippet], *, filename: str = "template", files: Mapping[str, str] | None = None
) -> Template:
    """Parse and validate a HOT or CFN-format template given as YAML/JSON text or as parsed data.

    Text keeps line numbers for errors; data (as python-heatclient sends it) is located by
    file and path only. With `files`, literal get_file names must be in it. Every problem
    raises TemplateError naming file, line and path; a dependency cycle raises DependencyCycle.
    """
    if not isinstance(source, (str, dict)):
        raise TemplateError(f"expected template text or a map, not {type(source).__name__}", file=filename)
    try:
        if isinstance(source, str):
            raw, lines = load_yaml(source, filename)
        else:
            # The caller keeps its dict; definitions must not change under us if it is reused.
            raw, lines = copy.deepcopy(source), {}
        if (
            isinstance(raw, dict)
            and "heat_template_version" not in raw
            and ("AWSTemplateFormatVersion" in raw or "HeatTemplateFormatVersion" in raw)
        ):
            # Imported here: the CFN format builds on this module's Template.
            from engine.template.cfn import CfnTemplate

            return CfnTemplate(raw, filename=filename, lines=lines, files=files)
        return Template(raw, filename=filename, lines=lines, files=files)
    except RecursionError:
        raise TemplateError("the template is nested too deeply", file=filename) from None


class Template:
    """A validated HOT template. Build one with parse_template.

    `conditions` holds the conditions section as written; `condition_values` their values
    once known: {} for a template without conditions, None until `with_conditions` gives a
    template with them evaluated. `disabled_resources` names the resources conditions left out.
    """

    # The functions a condition may call; a format without conditions has none.
    _condition_functions: dict[str, ModuleType] = {}

    def __init__(
        self,
        raw: dict[str, Snippet],
        *,
        filename: str = "template",
        lines: Mapping[Path, int] | None = None,
        files: Mapping[str, str] | None = None,
    ):
        self.raw = raw
        self.filename = filename
        self.files = dict(files or {})
        # Paths from the loader hold list indices as ints; errors carry them as text.
        self._lines = {tuple(str(segment) for segment in path): line for path, line in (lines or {}).items()}
        self.conditions: dict[str, Snippet] = {}
        self.condition_values: dict[str, bool] | None = None
        self.disabled_resources: frozenset[str] = frozenset()
        self._conditional = False
        self._decide: ConditionalContext | None = None  # the context an `if` is decided with, for dependencies
        try:
            self._parse(check_files=files is not None)
        except TemplateError as error:
            if error.file is not None:
                raise
            raise self.locate(error) from None
        if self.condition_values is None and not self.conditions:
            self.condition_values = {}
        self._conditional = (
            self._conditional
            or bool(self.conditions)
            or any(resource.condition is not None for resource in self.resources.values())
            or any(output.condition is not None for output in self.outputs.values())
        )
        # with_conditions always starts from the template as parsed, with all it declares.
        self._base = self
        self._all_resources = self.resources
        self._all_outputs = self.outputs

    def _parse(self, check_files: bool) -> None:
        raw = self.raw
        if not isinstance(raw, dict):
            raise TemplateError(
                "Template not in valid format: The template is not a JSON object or YAML mapping.",
                kind="HTTPBadRequest",
            )
        if "heat_template_version" not in raw:
            raise TemplateError(
                "Template not in valid format: Template format version not found.", kind="HTTPBadRequest"
            )
        others = [key for key in raw if key in ("AWSTemplateFormatVersion", "HeatTemplateFormatVersion")]
        if others:
            keys = [key for key in raw if key in ("heat_template_version", *others)]
            raise TemplateError(
                f"The template version is invalid: Ambiguous versions ({', '.join(keys)})",
                kind="InvalidTemplateVersion",
            )
        written = raw["heat_template_version"]
        version = canonical_version(written)
        if version is None:
            if not isinstance(written, str) and not hasattr(written, "isoformat"):
                raise TemplateError(
                    "The template version is invalid: Template version was not provided",
                    path=("heat_template_version",),
                    kind="InvalidTemplateVersion",
                )
            raise TemplateError(
                f'The template version is invalid: "heat_template_version: '
                f'{written}". "heat_template_version" should be one of: '
                f"{', '.join(VERSIONS)}",
                path=("heat_template_version",),
                kind="InvalidTemplateVersion",
            )
        self.version: str = version
        self._functions = functions_for(version)
        self._condition_functions = condition_functions_for(version)
        self._unavailable = unavailable_for(version)
        self._vocabulary = Vocabulary(self._functions, self._condition_functions, self._unavailable)
        check_top_level(raw, version)
        self.description: str = raw.get("description") or ""
        self.parameters: dict[str, ParameterSchema] = {
            name: parse_schema(name, declaration, version)
            for name, declaration in section(raw, "parameters", dict, "a map").items()
        }
        self.conditions = section(raw, "conditions", dict, "a map")
        check_conditions(self.conditions)
        self.parameter_groups: list[Snippet] = section(raw, "parameter_groups", list, "a list")
        check_parameter_groups(self.parameter_groups, self.parameters)
        self.resources: dict[str, ResourceDefinition] = resource_definitions(
            section(raw, "resources", dict, "a map"), version, self.conditions, self.line_for
        )
        self.outputs: dict[str, OutputDefinition] = output_definitions(
            section(raw, "outputs", dict, "a map"), version, self.conditions, self.line_for
        )
        self._check_calls(check_files)
        self._dependencies = {name: self._requirements(resource) for name, resource in self.resources.items()}
        self.graph().check_acyclic(file=self.filename)

    def function_names(self) -> set[str]:
        """The names this template evaluates as functions in Properties, Metadata and Outputs."""
        return set(self._functions)

    def _exists(self, kind: str, name: str, check_files: bool) -> bool:
        if kind == "resource":
            return name in self.resources
        if kind == "parameter":
            return name in self.parameters or name in PSEUDO_PARAMETERS
        if kind == "ref":  # Ref (HOT 2013-05-23) names a resource, or else a parameter
            return self.is_resource(name) or self._exists("parameter", name, check_files)
        if kind == "condition":
            return name in self.conditions
        return not check_files or name in self.files

    def _check_calls(self, check_files: bool) -> None:
        vocabulary = self._vocabulary

        def exists(kind: str, name: str) -> bool:
            return self._exists(kind, name, check_files)

        def check(snippet: Snippet, path: Path) -> None:
            check_snippet(snippet, path, VALUE, vocabulary, exists)
            # A choice (`if`) in a value decides which resources the value needs.
            self._conditional = self._conditional or any(
                hasattr(vocabulary.table(mode)[name], "branch")
                for name, _, _, mode in calls_in(snippet, path, VALUE, vocabulary)
            )

        check_definitions(self.conditions, vocabulary, exists)
        for name, resource in self.resources.items():
            for key in ("properties", "metadata", "update_policy", "deletion_policy", "external_id"):
                check(getattr(resource, key), ("resources", name, key))
            if resource.condition is not None:
                check_condition(resource.condition, ("resources", name, "condition"), vocabulary, exists)
            if is_call(resource.deletion_policy):
                self._conditional = True
        for name, output in self.outputs.items():
            check(output.value, ("outputs", name, "value"))
            if output.condition is not None:
                check_condition(output.condition, ("outputs", name, "condition"), vocabulary, exists)

    def _requirements(self, resource: ResourceDefinition) -> list[str]:
        required: dict[str, None] = {}
        choose = self._choose if self._decide is not None else None
        for key in ("properties", "metadata"):
            path = ("resources", resource.name, key)
            for name, args, _, mode in calls_in(getattr(resource, key), path, VALUE, self._vocabulary, choose):
                named = reference_of(self._vocabulary.table(mode)[name], args)
                if (
                    named is not None
                    and (named[0] == "resource" or (named[0] == "ref" and self.is_resource(named[1])))
                    and named[1] not in self.disabled_resources
                ):
                    required[named[1]] = None
        required.update(dict.fromkeys(resource.depends_on))
        return list(required)

    def is_resource(self, name: str) -> bool:
        """Whether `name` is a resource of the template, even one its conditions leave out."""
        return name in self.resources or name in self.disabled_resources

    def _choose(self, function: ModuleType, args: Snippet, path: Path) -> list[Path] | None:
        """For an `if` once conditions are known: only the value it chooses, as Heat expands it."""
        branch = getattr(function, "branch", None)
        if branch is None:
            return None
        (segments,) = condition_positions(function, args)
        # Only called once _derived has set _decide (calls_in is given no choose before).
        chosen = branch(
            args,
            self._holds(
                part(args, segments),
                self._decide,  # type: ignore[arg-type]
                path + segments,
            ),
        )
        return [] if chosen is None else [(chosen,)]

    def line_for(self, path: Path) -> int | None:
        """The line of the longest prefix of `path` whose line is known (None for parsed data).

        The empty prefix does not count: line 1 says nothing about a path the text lacks.
        """
        key = tuple(str(segment) for segment in path)
        for end in range(len(key), 0, -1):
            line = self._lines.get(key[:end])
            if line is not None:
                return line
        return None

    def error(self, message: str, path: Path, **kinds: Any) -> TemplateError:
        """A TemplateError located in this template at `path` (`kind`, `heading` as TemplateError's)."""
        return TemplateError(message, path=tuple(path), file=self.filename, line=self.line_for(path), **kinds)

    def locate(self, error: TemplateError, path: Path | None = None) -> TemplateError:
        """`error` (raised without a file) located in this template, at `path` if given."""
        path = error.path if path is None else tuple(path)
        return error.located(path=path, file=self.filename, line=self.line_for(path))

    def dependencies(self) -> dict[str, set[str]]:
        """For each resource, the resources it needs: get_resource/get_attr targets and depends_on."""
        return {name: set(required) for name, required in self._dependencies.items()}

    def graph(self) -> Graph:
        return Graph(self._dependencies)

    def hidden_parameters(self) -> set[str]:
        return {name for name, schema in self.parameters.items() if schema.hidden}

    def validate_parameters(
        self, values: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A typed value for every declared parameter: the user's value, else the environment's
        default (`defaults`, its parameter_defaults), else the template's default."""
        try:
            return parameter_values(self.parameters, values or {}, defaults or {})
        except TemplateError as error:
            raise self.locate(error) from None

    # Conditions ---------------------------------------------------------------------------
    def with_conditions(
        self, parameter_values: Mapping[str, Any], pseudo: Mapping[str, Any], limits: Limits | None = None
    ) -> Template:
        """This template as the given (validated) parameter values make it.

        Every condition is evaluated (`pseudo` answers OS::stack_name and the other
        pseudo-parameters); `resources` and `outputs` keep the enabled ones only; depends_on
        drops disabled resources; a deletion_policy given by a function is resolved; the
        dependencies follow only the value each `if` chooses. get_resource and get_attr of a
        disabled resource resolve to null. A template with nothing conditional is returned as
        it is. `limits` bound the evaluation (the settings' defaults without them).
        """
        base = self._base
        if not base._conditional:
            return base
        try:
            return base._derived(parameter_values, pseudo, limits)
        except TemplateError as error:
            if error.file is not None:
                raise
            raise base.locate(error) from None

    def _derived(
        self, parameter_values: Mapping[str, Any], pseudo: Mapping[str, Any], limits: Limits | None
    ) -> Template:
        context = self.context(ParameterContext(parameter_values, pseudo, self.files, limits))
        values = {name: context.condition(name) for name in self.conditions}
        derived = copy.copy(self)
        derived.condition_values = values
        derived._decide = derived.context(ParameterContext(parameter_values, pseudo, self.files, limits))
        kept = {
            name: resource
            for name, resource in self._all_resources.items()
            if self._holds(resource.condition, context, ("resources", name, "condition"))
        }
        derived.disabled_resources = frozenset(self._all_resources.keys() - kept.keys())
        derived.resources = {name: self._enabled(resource, derived) for name, resource in kept.items()}
        derived.outputs = {
            name: output
            for name, output in self._all_outputs.items()
            if self._holds(output.condition, context, ("outputs", name, "condition"))
        }
        derived._dependencies = {name: derived._requirements(resource) for name, resource in derived.resources.items()}
        derived._check_enabled_references()
        return derived

    def _check_enabled_references(self) -> None:
        """What Heat refuses once conditions are decided: a resource's properties or metadata
        naming a resource left out, and an output reading an attribute of one."""
        if not self.disabled_resources:
            return
        for name, resource in self.resources.items():
            for key in ("properties", "metadata"):
                path = ("resources", name, key)
                for call, args, where, mode in calls_in(
                    getattr(resource, key), path, VALUE, self._vocabulary, self._choose
                ):
                    named = reference_of(self._vocabulary.table(mode)[call], args)
                    if named is not None and self._names_disabled(named):
                        # Never None: kind "resource" at a resource's path (len(where) > 2).
                        raise undefined("resource", named[1], call, where)  # type: ignore[misc]
        for name, output in self.outputs.items():
            path = ("outputs", name, "value")
            for call, args, where, mode in calls_in(output.value, path, VALUE, self._vocabulary, self._choose):
                named = reference_of(self._vocabulary.table(mode)[call], args)
                if named is not None and self._names_disabled(named):
                    error = undefined("resource", named[1], call, where)
                    if error is not None:
                        raise error

    def _names_disabled(self, named: tuple[str, str]) -> bool:
        """Whether a call names a resource left out: get_resource/get_attr, or CFN's Ref (which
        Heat refuses too when a parameter shares the name). A get_param or condition named
        like a disabled resource reads something else, and Heat accepts it."""
        return named[0] in ("resource", "ref") and named[1] in self.disabled_resources

    def _enabled(self, resource: ResourceDefinition, derived: Template) -> ResourceDefinition:
        """A kept resource as the derived template holds it."""
        depends_on = [name for name in resource.depends_on if name not in derived.disabled_resources]
        policy = resource.deletion_policy
        if is_call(policy):
            path = ("resources", resource.name, "deletion_policy")
            # _derived sets the derived template's _decide before it asks for its resources.
            policy = deletion_policy(
                derived.resolve(
                    policy,
                    derived._decide,  # type: ignore[arg-type]
                    path,
                ),
                self.version,
                path,
            )
        return dataclasses.replace(resource, depends_on=depends_on, deletion_policy=policy)

    def _holds(self, condition: Snippet, context: ConditionalContext, path: Path) -> bool:
        """Whether a condition as written holds: None (none), a boolean, a name or a call."""
        if condition is None:
            return True
        value = self._resolve_with(self._condition_functions, condition, context, path)
        return value if isinstance(value, bool) else context.condition(value)

    def _evaluate_condition(self, name: str, context: ConditionalContext) -> bool:
        path = ("conditions", name)
        value = self._resolve_with(self._condition_functions, self.conditions[name], context, path)
        if not isinstance(value, bool):
            raise self.error(
                f'The definition of condition "{name}" is invalid: {value}', (), heading="Condition validation error"
            )
        return value

    def context(self, context: ResolveContext) -> ConditionalContext:
        """The engine's context as functions see it through this template (with conditions)."""
        if isinstance(context, ConditionalContext) and context.template is self:
            return context
        return ConditionalContext(context, self)

    # Resolving ----------------------------------------------------------------------------
    def resolve(self, snippet: Snippet, context: ResolveContext, path: Path = ()) -> Any:
        """`snippet` with every function call evaluated; `path` locates it for errors.

        Each call is one evaluation with a budget of its own (engine.template.limits): a
        function that would build more than the limits allow raises LimitExceeded before it
        builds it, located at the call (`resources.v.properties.value.repeat`).
        """
        conditional = self.context(context)
        context = conditional.with_budget(Budget(conditional.limits))
        try:
            value = self._resolve(snippet, context, tuple(path))
        except RecursionError:
            raise self.error("the snippet is nested too deeply to resolve", path) from None
        return None if value is OMITTED else value

    def _resolve(self, snippet: Snippet, context: ConditionalContext, path: Path) -> Any:
        return self._resolve_with(self._functions, snippet, context, path)

    def _resolve_with(
        self, functions: Mapping[str, ModuleType], snippet: Snippet, context: ConditionalContext, path: Path
    ) -> Any:
        """Resolve with `functions`; condition parts of arguments switch to condition functions.

        An omitted value (`if` without a value for false) drops the key or item holding it.
        """
        return self._resolve_sized(functions, snippet, context, path)[0]

    def _resolve_sized(
        self, functions: Mapping[str, ModuleType], snippet: Snippet, context: ConditionalContext, path: Path
    ) -> tuple[Any, int]:
        """The resolved value and its size as JSON: a map or list is refused as soon as what
        it holds passes max_resolved_value_size, before the rest of it is resolved."""
        budget = budget_of(context)
        call = call_in(snippet, functions)
        if call is not None:
            name, args = call
            function = functions[name]
            try:
                function.validate(args, ())
                conditions = condition_positions(function, args)

                def evaluate(nested: Any, *segments: Any) -> Any:
                    table = self._condition_functions if segments in conditions else functions
                    value = self._resolve_with(table, nested, context, path + (name,) + segments)
                    return None if value is OMITTED else value

                value = function.resolve(args, evaluate, context)
                return value, (0 if value is OMITTED else budget.size_of(value, name))
            except LimitExceeded as error:
                if error.file is not None:
                    raise
                # A limit is the call's own: it is named in the path.
                raise self.locate(error, path + (name,) + error.path) from None
            except TemplateError as error:
                # Errors from nested calls are located already; this call's own are not.
                if error.file is not None:
                    raise
                raise self.locate(error, path + error.path) from None
        if isinstance(snippet, dict):
            resolved: dict[Any, Snippet] = {}
            size = 1
            for key, value in snippet.items():
                item, item_size = self._resolve_sized(functions, value, context, path + (key,))
                if item is OMITTED:
                    continue
                resolved[key] = item
                size += item_size + 2 + (len(key) + 2 if isinstance(key, str) else scalar_size(key))
                self._check_size(budget, size, path)
            return resolved, size
        if isinstance(snippet, list):
            resolved_items = []
            size = 1
            for index, item in enumerate(snippet):
                value, item_size = self._resolve_sized(functions, item, context, path + (index,))
                if value is OMITTED:
                    continue
                resolved_items.append(value)
                size += item_size + 1
                self._check_size(budget, size, path)
            return resolved_items, size
        return snippet, (len(snippet) + 2 if isinstance(snippet, str) else scalar_size(snippet))

    def _check_size(self, budget: Budget, size: int, path: Path) -> None:
        try:
            budget.check_size(size, "the value")
        except LimitExceeded as error:
            raise self.locate(error, path) from None
