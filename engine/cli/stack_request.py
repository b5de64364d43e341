"""Build the POST /stacks body from local files: template text, the `files` map, parameters."""
from __future__ import annotations

import os
import re
from urllib.parse import urlparse

import yaml

from engine.cli.client import CliError

# A `type:` in a template names a nested template only when it looks like a template file.
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template", ".json")
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


def local_path(reference: str, base_dir: str) -> str | None:
    """Where `reference` (as written in a template) lives on disk, or None if it is a URL."""
    scheme = urlparse(reference).scheme
    if scheme == "file":
        return urlparse(reference).path
    if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        return None
    return os.path.join(base_dir, reference)


def get_file_references(node, path: tuple = ()):
    """Yield (template path, value) for every `get_file: <string>` anywhere in `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "get_file" and isinstance(value, str):
                yield path + (key,), value
            else:
                yield from get_file_references(value, path + (str(key),))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from get_file_references(value, path + (str(index),))


def nested_template_types(template) -> list[str]:
    """The `type:` values of resources that name a template file rather than a plugin."""
    resources = template.get("resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return []
    types = (r.get("type") for r in resources.values() if isinstance(r, dict))
    return [t for t in types if isinstance(t, str) and t.endswith(TEMPLATE_SUFFIXES)]


def registry_values(node):
    """Every string value in an environment's `resource_registry`, however deep."""
    if isinstance(node, dict):
        for value in node.values():
            yield from registry_values(value)
    elif isinstance(node, str):
        yield node


class FilesMap:
    """The `files` map under construction: key as written → file text, one text per key."""

    def __init__(self):
        self.files: dict[str, str] = {}
        self.origin: dict[str, str] = {}
        self.scanned: set[str] = set()

    def add(self, key: str, path: str, text: str) -> None:
        if key in self.files and self.files[key] != text:
            raise CliError(f"files: {key!r} names two different files: "
                           f"{self.origin[key]} and {path}")
        self.files[key] = text
        self.origin.setdefault(key, path)

    def add_template(self, template_path: str, template) -> None:
        """Add what `template` (already read from `template_path`) refers to, recursively."""
        real = os.path.realpath(template_path)
        if real in self.scanned:
            return
        self.scanned.add(real)
        base = os.path.dirname(template_path)
        for where, reference in get_file_references(template):
            path = local_path(reference, base)
            if path is None:
                raise CliError(f"{template_path}: {'.'.join(where)}: only local files can be "
                               f"sent with get_file, not {reference!r}")
            if not os.path.isfile(path):
                raise CliError(f"{template_path}: {'.'.join(where)}: no such file: "
                               f"{reference} (looked for {path})")
            self.add(reference, path, read_text(path, template_path))
        for reference in nested_template_types(template):
            path = local_path(reference, base)
            if path is not None and os.path.isfile(path):
                self.add_provider(reference, path)

    def add_provider(self, key: str, path: str) -> None:
        """A nested or provider template: its text, and the files it refers to in turn."""
        text = read_text(path, key)
        self.add(key, path, text)
        self.add_template(path, parse_yaml(text, path))

    def add_environment(self, env_path: str) -> None:
        text = read_text(env_path, "environment file")
        self.add(env_path, env_path, text)
        environment = parse_yaml(text, env_path) or {}
        if not isinstance(environment, dict):
            raise CliError(f"{env_path}: an environment must be a mapping")
        base = os.path.dirname(env_path)
        for reference in registry_values(environment.get("resource_registry") or {}):
            path = local_path(reference, base)
            if path is not None and os.path.isfile(path):
                self.add_provider(reference, path)


def template_fields(template_file: str | None, env_files: tuple[str, ...] | list[str] = (),
                    parameters: dict[str, str] | None = None) -> dict:
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
        files.add_template(template_file, template)
        fields = {"template": text, "template_name": template_file}
    for env_file in env_files:
        files.add_environment(env_file)
    fields.update({"files": files.files, "environment": {}, "environment_files": list(env_files),
                   "parameters": dict(parameters or {})})
    return fields


def stack_body(name: str, template_file: str, env_files: tuple[str, ...] | list[str] = (),
               parameters: dict[str, str] | None = None,
               timeout_mins: int | None = None) -> dict:
    """The JSON body of POST /stacks; reads the template, its files and the environments."""
    body = {"stack_name": name, **template_fields(template_file, env_files, parameters),
            "disable_rollback": True}
    if timeout_mins is not None:
        body["timeout_mins"] = timeout_mins
    return body
