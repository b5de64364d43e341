"""Environment files merged into the request's environment in order, with Heat's
parameter_merge_strategies; pure: the files' text comes in the request, none is read from disk.

Heat (heat.common.environment_util) merges each file's sections into the environment the
request gave: `parameters` and `parameter_defaults` parameter by parameter, by the strategy
named for it (`overwrite`, the default; `merge`; `deep_merge`), the other sections one level
deep (a later file's `resource_registry.resources` replaces the earlier one whole). Its quirks
are kept, as clients see them: the first strategy a parameter gets holds for every later file
(another named one is refused); a section met for the first time is taken as it is, later ones
keep only the parameters some template in the request declares; lists met twice are refused.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from engine.errors import TemplateError
from engine.template.environment import check_event_sinks, check_sections, line_for
from engine.template.loader import load_yaml
from engine.template.snippets import Snippet

STRATEGIES = ("overwrite", "merge", "deep_merge")
_PARAMETER_SECTIONS = ("parameters", "parameter_defaults")


def merge_files(
    environment: dict[str, Any], names: list[str], files: dict[str, str], types: dict[str, str]
) -> dict[str, Any]:
    """`environment` (Heat's sections, all present) with each file of `names` merged in.

    `types` are the declared parameters' types (the template's and every template in `files`,
    the template's winning), by name.
    """
    merged = copy.deepcopy(environment)
    chosen: dict[str, str] = {}  # the strategy each parameter got first
    for name in names:
        if name not in files:
            raise TemplateError(f"environment file '{name}' is not in the files map", file=name)
        raw, lines = load_yaml(files[name], name, allow_empty=True)
        raw = raw or {}
        if not isinstance(raw, dict):
            raise TemplateError("The environment is not a valid YAML mapping data type.", file=name, kind="ValueError")
        try:
            check_sections(raw)
        except TemplateError as error:
            raise TemplateError(error.reason, path=error.path, file=name, kind="ValueError") from None
        if isinstance(raw.get("event_sinks"), list):
            try:
                check_event_sinks(raw["event_sinks"])
            except TemplateError as error:  # named by the file and line it is written at
                raise error.located(path=error.path, file=name, line=line_for(lines, error.path)) from None
        strategies = raw.pop("parameter_merge_strategies", {}) or {}
        for section, value in raw.items():
            if not value:
                continue
            if section in _PARAMETER_SECTIONS:
                merged[section] = _merge_parameters(merged.get(section) or {}, value, types, strategies, chosen, name)
            else:
                merged[section] = _merge_map(merged.get(section), value, section)
    return merged


def strategy_for(strategies: dict[str, Snippet] | None, key: str, chosen: dict[str, str]) -> str:
    """Heat's get_param_merge_strategy: the file's own for the parameter, else the one the
    parameter already has, else the file's default; a name Heat does not know is the default."""
    if strategies is None:
        return "overwrite"
    default = strategies.get("default", "overwrite")
    strategy = strategies.get(key, chosen.get(key, default))
    # The file's default is passed on unchecked, as Heat does (it is then merged as "merge"
    # would): a str for any file that names a known strategy or none, data otherwise.
    return strategy if strategy in STRATEGIES else default  # type: ignore[no-any-return]


def _merge_parameters(
    old: dict[str, Snippet],
    new: dict[str, Snippet],
    types: dict[str, str],
    strategies: dict[str, Snippet],
    chosen: dict[str, str],
    filename: str,
) -> dict[str, Snippet]:
    for key, value in new.items():
        if key in types and value is not None:
            strategy = strategy_for(strategies, key, chosen)
            if key not in chosen:
                chosen[key] = strategy
            elif strategy != chosen[key]:
                raise TemplateError(
                    f"Conflicting merge strategy '{strategy}' for parameter '{key}' in file '{filename}'.",
                    file=filename,
                    kind="ConflictingMergeStrategyForParam",
                    status=500,
                )
    if not old:
        return copy.deepcopy(new)
    for key, value in new.items():
        if key not in types or value is None:
            continue
        strategy = chosen[key]
        if strategy == "overwrite":
            old[key] = copy.deepcopy(value)
        else:
            old[key] = _merge_value(old, key, value, types[key], strategy == "deep_merge", filename)
    return old


def _merge_value(old: dict[str, Snippet], key: str, value: Any, kind: str, deep: bool, filename: str) -> Any:
    value = _parsed(value, kind, filename)
    if kind == "json":
        return _merge_map(old.get(key) or {}, value, key, deep)
    if kind == "comma_delimited_list":
        return _merge_list(old.get(key), value)
    if kind == "string":
        return _joined(old.get(key, ""), value, filename)
    if kind == "number":
        return _joined(old.get(key, 0), value, filename)
    raise TemplateError(
        f"Invalid merge strategy 'merge' for parameter '{key}'.", file=filename, kind="InvalidMergeStrategyForParam"
    )


def _parsed(value: Any, kind: str, filename: str) -> Any:
    """Heat's parse_param: a json value as data; any other kind must come as text or a list."""
    try:
        if kind == "json":
            return json.loads(value if isinstance(value, str) else json.dumps(value)) if value != "" else value
        if not isinstance(value, (str, list)):
            raise ValueError()
    except (TypeError, ValueError) as error:
        raise TemplateError(f"Invalid parameter in environment {error}.", file=filename, kind="ValueError") from None
    return value


def _joined(old: Any, value: Any, filename: str) -> Any:
    if type(old) is not type(value):
        raise TemplateError(f"cannot join {old!r} and {value!r}", file=filename, kind="TypeError", status=500)
    return old + value


def _merge_list(old: Any, new: Any) -> Any:
    if not old:
        return new
    if isinstance(new, list):
        return list(old) + new if isinstance(old, list) else ",".join([old, *new])
    return ",".join([old if isinstance(old, str) else ",".join(old), new])


def _merge_map(old: Any, new: Any, section: str, deep: bool = False) -> Any:
    if not old:
        return copy.deepcopy(new)
    if not isinstance(new, dict) or not isinstance(old, dict):
        raise TemplateError(
            f"'{section}' given twice cannot be merged: 'list' object has no attribute 'items'", kind="AttributeError"
        )
    for key, value in new.items():
        if value is None:
            continue
        if not deep:
            old[key] = copy.deepcopy(value)
        elif isinstance(value, dict):
            old[key] = _merge_map(old.get(key), value, key, True) if old.get(key) else copy.deepcopy(value)
        elif isinstance(value, list):
            old[key] = _merge_list(old.get(key), value) if old.get(key) else list(value)
        elif isinstance(value, str):
            old[key] = "".join([old.get(key, ""), value])
        else:
            old[key] = value
    return old
