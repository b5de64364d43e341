"""Build the POST /stacks body from local files: reads (never writes) the template, environment,
parameter files and every file they name; no network.

As python-heatclient does, the client sends every local file a stack needs, recursively: what
`get_file` names (and, when that file is itself a template, what it names in turn), `type:`
values that name template files, provider templates in an environment's resource_registry, and
the template an AWS::CloudFormation::Stack names by `TemplateURL` (Heat's engine fetches that URL
itself; Hearth's reads only the files map). python-heatclient keys the map by absolute file://
URL and rewrites the template to match; Hearth sends every template's text as written (errors
keep their lines), so a key is the name exactly as the template using it writes it, which is the
name the engine looks up first. One key naming two different files is therefore an error.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import urlparse

import yaml

from engine.cli.client import CliError

# A `type:` in a template names a nested template only when it looks like a template file.
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template", ".json")
# A file is a template when it is a mapping with one of these (python-heatclient's test).
VERSION_KEYS = ("heat_template_version", "HeatTemplateFormatVersion", "AWSTemplateFormatVersion")
NESTED_CFN_STACK = "AWS::CloudFormation::Stack"
# resource_registry entries that are settings, not type mappings (python-heatclient skips them).
REGISTRY_SETTINGS = ("base_url", "hooks", "restricted_actions")
# `K1=V1;K2=V2`: a `;` separates parameters only when what follows it starts a new `KEY=`.
NEXT_PARAMETER = re.compile(r";(?=\s*[^\s=;]+=)")


def parse_parameters(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--parameter K=V` values (each may hold `K1=V1;K2=V2`) as a dict; a later key wins."""
    parameters: dict[str, str] = {}
    for value in values:
        for item in NEXT_PARAMETER.split(value):
            if not item.strip():
                continue
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise CliError(f"--parameter expects KEY=VALUE, got {item!r}")
            parameters[key] = text
    return parameters


def read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise CliError(f"{what}: no such file: {path}") from None
    except IsADirectoryError:
        raise CliError(f"{what}: is a directory, not a file: {path}") from None
    except UnicodeDecodeError:
        raise CliError(f"{what}: not UTF-8 text: {path}") from None
    except OSError as exc:
        raise CliError(f"{what}: cannot read {path}: {exc.strerror}") from None


def parse_yaml(text: str, path: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise CliError(f"{where}: not valid YAML: {problem}") from None


def as_template(text: str):
    """`text` parsed when it is a template (a mapping with a format version key), else None."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        try:
            data = json.loads(text)  # JSON that YAML refuses (tabs), as Heat reads both
        except ValueError:
            return None
    return data if isinstance(data, dict) and any(k in data for k in VERSION_KEYS) else None


def line_of(text: str, path: tuple) -> int | None:
    """The 1-based line of the last key or item of `path` found in YAML/JSON `text`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for segment in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == segment), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and segment.isdigit() and int(segment) < len(node.value):
            node = node.value[int(segment)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def located(path: str, text: str, where: tuple) -> str:
    """`file:line: dotted.path`, the prefix of an error about `where` in template `path`."""
    line = line_of(text, where)
    return f"{path}:{line}: {'.'.join(where)}" if line else f"{path}: {'.'.join(where)}"


def local_path(reference: str, base_dir: str | None) -> str | None:
    """Where `reference` (as written in a template) lives on disk, or None if it is a URL (or
    relative to a remote `base_dir`, given as None)."""
    scheme = urlparse(reference).scheme
    if scheme == "file":
        return urlparse(reference).path
    if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        return None
    return os.path.join(base_dir, reference) if base_dir is not None else None


def keyed_strings(node, keys: tuple[str, ...], path: tuple = ()):
    """Yield (path, value) for every string value under one of `keys` anywhere in `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield path + (key,), value
            else:
                yield from keyed_strings(value, keys, path + (str(key),))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from keyed_strings(value, keys, path + (str(index),))


def get_file_references(node, path: tuple = ()):
    """Yield (template path, value) for every `get_file: <string>` anywhere in `node`."""
    yield from keyed_strings(node, ("get_file",), path)


def template_types(template) -> list[tuple[tuple, str]]:
    """(path, value) of every `type:` (CFN `Type:`) that names a template file, anywhere: a
    resource's, and also one inside a group's resource_def, as python-heatclient finds them."""
    return [
        (where, value)
        for where, value in keyed_strings(template, ("type", "Type"))
        if value.endswith(TEMPLATE_SUFFIXES)
    ]


def template_urls(template):
    """Yield (path, value) for the literal TemplateURL of each AWS::CloudFormation::Stack."""
    for section, type_key, properties_key in (("resources", "type", "properties"), ("Resources", "Type", "Properties")):
        resources = template.get(section) if isinstance(template, dict) else None
        for name, resource in resources.items() if isinstance(resources, dict) else ():
            if not isinstance(resource, dict) or resource.get(type_key) != NESTED_CFN_STACK:
                continue
            properties = resource.get(properties_key)
            url = properties.get("TemplateURL") if isinstance(properties, dict) else None
            if isinstance(url, str):
                yield (section, str(name), properties_key, "TemplateURL"), url


def registry_entries(registry: dict, base_dir: str | None, path: tuple):
    """Yield (path, value, folder it is relative to) for each mapping in a resource_registry
    that may name a file: not a setting, not a type (`::`); `base_url` moves the folder, in the
    registry and in each per-resource section, as python-heatclient reads it."""
    if isinstance(registry.get("base_url"), str):
        base_dir = local_path(registry["base_url"], base_dir)
    for key, value in registry.items():
        if key in REGISTRY_SETTINGS:
            continue
        if isinstance(value, dict):
            yield from registry_entries(value, base_dir, path + (str(key),))
        elif isinstance(value, str) and "::" not in value:
            yield path + (str(key),), value, base_dir


class FilesMap:
    """The `files` map under construction: key as written → file text, one text per key."""

    def __init__(self):
        self.files: dict[str, str] = {}
        self.origin: dict[str, str] = {}
        self.scanned: set[str] = set()

    def add(self, key: str, path: str, text: str) -> None:
        if key in self.files and self.files[key] != text:
            raise CliError(f"files: {key!r} names two different files: {self.origin[key]} and {path}")
        self.files[key] = text
        self.origin.setdefault(key, path)

    def add_template(self, path: str, text: str, template) -> None:
        """Add what `template` (read from `path` as `text`) names, and so on recursively."""
        real = os.path.realpath(path)
        if real in self.scanned:
            return
        self.scanned.add(real)
        for where, reference in get_file_references(template):
            found = required_file(path, text, where, reference, "get_file")
            content = read_text(found, path)
            self.add(reference, found, content)
            nested = as_template(content)
            if nested is not None:  # e.g. an OS::Heat::Stack's template: its own files too
                self.add_template(found, content, nested)
        for _, reference in template_types(template):
            # A missing one may still be a name the environment maps to a type.
            found = local_path(reference, os.path.dirname(path))
            if found is not None and os.path.isfile(found):
                self.add_nested(reference, found)
        for where, reference in template_urls(template):
            self.add_nested(reference, required_file(path, text, where, reference, "TemplateURL"))

    def add_nested(self, key: str, path: str) -> None:
        """A nested or provider template: its text, and the files it names in turn."""
        text = read_text(path, key)
        self.add(key, path, text)
        self.add_template(path, text, parse_yaml(text, path))

    def add_environment(self, env_path: str) -> None:
        text = read_text(env_path, "environment file")
        self.add(env_path, env_path, text)
        environment = parse_yaml(text, env_path) or {}
        if not isinstance(environment, dict):
            raise CliError(f"{env_path}: an environment must be a mapping")
        registry = environment.get("resource_registry")
        if not isinstance(registry, dict):
            return  # the engine names what is wrong with one that is not a mapping
        for where, reference, base_dir in registry_entries(registry, os.path.dirname(env_path), ("resource_registry",)):
            found = local_path(reference, base_dir)
            if found is not None and os.path.isfile(found):
                self.add_nested(reference, found)
            elif found is not None and (reference.endswith(TEMPLATE_SUFFIXES) or "/" in reference):
                raise CliError(
                    f"{located(env_path, text, where)}: no such provider template: {reference} (looked for {found})"
                )


def required_file(path: str, text: str, where: tuple, reference: str, what: str) -> str:
    """Where the file that template `path` names at `where` lives; a CliError if it cannot be sent."""
    found = local_path(reference, os.path.dirname(path))
    if found is None:
        raise CliError(f"{located(path, text, where)}: only local files can be sent with {what}, not {reference!r}")
    if not os.path.isfile(found):
        raise CliError(f"{located(path, text, where)}: no such file: {reference} (looked for {found})")
    return found


def template_fields(
    template_file: str | None, env_files: tuple[str, ...] | list[str] = (), parameters: dict[str, str] | None = None
) -> dict:
    """template, template_name, files, environment, environment_files and parameters of a
    create, update, preview or validate body; without a template file, the files of the
    environments only (an update that keeps the stack's template)."""
    files = FilesMap()
    fields: dict = {}
    if template_file is not None:
        text = read_text(template_file, "template")
        template = parse_yaml(text, template_file)
        if not isinstance(template, dict):
            raise CliError(f"{template_file}: a template must be a mapping")
        files.add_template(template_file, text, template)
        fields = {"template": text, "template_name": template_file}
    for env_file in env_files:
        files.add_environment(env_file)
    fields.update(
        {
            "files": files.files,
            "environment": {},
            "environment_files": list(env_files),
            "parameters": dict(parameters or {}),
        }
    )
    return fields


def stack_body(
    name: str,
    template_file: str,
    env_files: tuple[str, ...] | list[str] = (),
    parameters: dict[str, str] | None = None,
    timeout_mins: int | None = None,
) -> dict:
    """The JSON body of POST /stacks; reads the template, its files and the environments."""
    body = {"stack_name": name, **template_fields(template_file, env_files, parameters), "disable_rollback": True}
    if timeout_mins is not None:
        body["timeout_mins"] = timeout_mins
    return body
