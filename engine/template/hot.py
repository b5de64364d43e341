"""HOT templates: parse_template checks a whole template up front; a Template then answers questions about it and resolves snippets."""
from __future__ import annotations

import copy
from typing import Any, Mapping

from engine.errors import TemplateError
from engine.graph import Graph
from engine.template.context import ResolveContext
from engine.template.functions import functions_for, unavailable_for
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
    output_definitions,
    resource_definitions,
    section,
)
from engine.template.snippets import call_in, calls, check_calls, reference_of
from engine.template.versions import VERSIONS, canonical_version


def parse_template(source: str | dict, *, filename: str = "template",
                   files: Mapping[str, str] | None = None) -> Template:
    """Parse and validate a template given as YAML/JSON text or as already-parsed data.

    Text keeps line numbers for errors; data (as python-heatclient sends it) is located by
    file and path only. With `files`, literal get_file names must be in it. Every problem
    raises TemplateError naming file, line and path; a dependency cycle raises DependencyCycle.
    """
    if not isinstance(source, (str, dict)):
        raise TemplateError(f"expected template text or a map, not {type(source).__name__}",
                            file=filename)
    try:
        if isinstance(source, str):
            raw, lines = load_yaml(source, filename)
        else:
            # The caller keeps its dict; definitions must not change under us if it is reused.
            raw, lines = copy.deepcopy(source), {}
        return Template(raw, filename=filename, lines=lines, files=files)
    except RecursionError:
        raise TemplateError("the template is nested too deeply", file=filename) from None


class Template:
    """A validated HOT template. Build one with parse_template."""

    def __init__(self, raw: dict, *, filename: str = "template",
                 lines: Mapping[tuple, int] | None = None, files: Mapping[str, str] | None = None):
        self.raw = raw
        self.filename = filename
        self.files = dict(files or {})
        # Paths from the loader hold list indices as ints; errors carry them as text.
        self._lines = {tuple(str(segment) for segment in path): line
                       for path, line in (lines or {}).items()}
        try:
            self._parse(check_files=files is not None)
        except TemplateError as error:
            if error.file is not None:
                raise
            raise self.error(error.reason, error.path) from None

    def _parse(self, check_files: bool) -> None:
        raw = self.raw
        if not isinstance(raw, dict):
            raise TemplateError(f"a template must be a map, not {type(raw).__name__}")
        if "heat_template_version" not in raw:
            raise TemplateError("'heat_template_version' is required "
                                "(only HOT templates are supported)", path=("heat_template_version",))
        version = canonical_version(raw["heat_template_version"])
        if version is None:
            raise TemplateError(f"{raw['heat_template_version']!r} is not a supported version "
                                f"(one of: {', '.join(VERSIONS)})", path=("heat_template_version",))
        self.version: str = version
        self._functions = functions_for(version)
        self._unavailable = unavailable_for(version)
        check_top_level(raw, version)
        self.description: str = raw.get("description") or ""
        self.parameters: dict[str, ParameterSchema] = {
            name: parse_schema(name, declaration, version)
            for name, declaration in section(raw, "parameters", dict, "a map").items()}
        self.conditions: dict = section(raw, "conditions", dict, "a map")
        check_conditions(self.conditions)
        self.parameter_groups: list = section(raw, "parameter_groups", list, "a list")
        check_parameter_groups(self.parameter_groups, self.parameters)
        self.resources: dict[str, ResourceDefinition] = resource_definitions(
            section(raw, "resources", dict, "a map"), version, self.conditions, self.line_for)
        self.outputs: dict[str, OutputDefinition] = output_definitions(
            section(raw, "outputs", dict, "a map"), version, self.conditions, self.line_for)
        self._check_calls(check_files)
        self._dependencies = {name: self._requirements(resource)
                              for name, resource in self.resources.items()}
        self.graph().check_acyclic(file=self.filename)

    def _check_calls(self, check_files: bool) -> None:
        def exists(kind: str, name: str) -> bool:
            if kind == "resource":
                return name in self.resources
            if kind == "parameter":
                return name in self.parameters or name in PSEUDO_PARAMETERS
            return not check_files or name in self.files

        for name, resource in self.resources.items():
            for key in ("properties", "metadata", "external_id"):
                check_calls(getattr(resource, key), ("resources", name, key), self._functions,
                            self._unavailable, exists)
        for name, output in self.outputs.items():
            check_calls(output.value, ("outputs", name, "value"), self._functions, self._unavailable,
                        exists)

    def _requirements(self, resource: ResourceDefinition) -> list[str]:
        required: dict[str, None] = {}
        for snippet in (resource.properties, resource.metadata):
            for name, args, _ in calls(snippet, self._functions):
                named = reference_of(self._functions[name], args)
                if named is not None and named[0] == "resource":
                    required[named[1]] = None
        required.update(dict.fromkeys(resource.depends_on))
        return list(required)

    def line_for(self, path: tuple) -> int | None:
        """The line of the longest prefix of `path` whose line is known (None for parsed data).

        The empty prefix does not count: line 1 says nothing about a path the text lacks.
        """
        key = tuple(str(segment) for segment in path)
        for end in range(len(key), 0, -1):
            line = self._lines.get(key[:end])
            if line is not None:
                return line
        return None

    def error(self, message: str, path: tuple) -> TemplateError:
        """A TemplateError located in this template at `path`."""
        return TemplateError(message, path=tuple(path), file=self.filename,
                             line=self.line_for(path))

    def dependencies(self) -> dict[str, set[str]]:
        """For each resource, the resources it needs: get_resource/get_attr targets and depends_on."""
        return {name: set(required) for name, required in self._dependencies.items()}

    def graph(self) -> Graph:
        return Graph(self._dependencies)

    def hidden_parameters(self) -> set[str]:
        return {name for name, schema in self.parameters.items() if schema.hidden}

    def validate_parameters(self, values: Mapping[str, Any] | None,
                            defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A typed value for every declared parameter: the user's value, else the environment's
        default (`defaults`, its parameter_defaults), else the template's default."""
        try:
            return parameter_values(self.parameters, values or {}, defaults or {})
        except TemplateError as error:
            raise self.error(error.reason, error.path) from None

    def resolve(self, snippet: Any, context: ResolveContext, path: tuple = ()) -> Any:
        """`snippet` with every function call evaluated; `path` locates it for errors."""
        try:
            return self._resolve(snippet, context, tuple(path))
        except RecursionError:
            raise self.error("the snippet is nested too deeply to resolve", path) from None

    def _resolve(self, snippet: Any, context: ResolveContext, path: tuple) -> Any:
        call = call_in(snippet, self._functions)
        if call is not None:
            name, args = call
            function = self._functions[name]

            def evaluate(nested: Any, *segments: Any) -> Any:
                return self._resolve(nested, context, path + (name,) + segments)

            try:
                function.validate(args, ())
                return function.resolve(args, evaluate, context)
            except TemplateError as error:
                # Errors from nested calls are located already; this call's own are not.
                if error.file is not None:
                    raise
                raise self.error(error.reason, path + error.path) from None
        if isinstance(snippet, dict):
            return {key: self._resolve(value, context, path + (key,))
                    for key, value in snippet.items()}
        if isinstance(snippet, list):
            return [self._resolve(item, context, path + (index,))
                    for index, item in enumerate(snippet)]
        return snippet
