"""The intrinsic-function registry: for each HOT version, the functions Hearth evaluates, as dict literals.

A function is a module with two verbs:

- `validate(args, path)` checks the shape of the arguments before anything runs and raises
  TemplateError at `path` (the template path where the call stands; the template adds file
  and line). Where a literal is expected, a nested call is accepted on its shape alone.
- `resolve(args, evaluate, context)` returns the value. `evaluate(snippet, *segments)` resolves
  a nested snippet; `segments` say where it sits inside the arguments, for error paths.
  Errors raised here carry no file: the template locates them at the call.

It may also offer `reference(args) -> (kind, name) | None`, naming the "resource",
"parameter" or "file" the call depends on; the template uses it for dependencies and to
check that what is named exists.

To add a function (yaql, repeat, if, ...): write its module, import it here and add a line to
each version table that offers it. Until then a template calling it is refused as "not
supported by Hearth yet", because its name is in HEAT_ADDED.
"""
from __future__ import annotations

from types import ModuleType

from engine.template.functions import (
    get_attr,
    get_attr_named,
    get_file,
    get_param,
    get_resource,
    list_join,
    list_join_strings,
    str_replace,
    str_replace_scalars,
)

HOT_2013_05_23 = {
    "get_attr": get_attr_named,
    "get_file": get_file,
    "get_param": get_param,
    "get_resource": get_resource,
    "list_join": list_join_strings,
    "str_replace": str_replace_scalars,
}

# 2015-10-15 lets get_attr return every attribute, list_join take several lists and join maps
# and lists as JSON, and str_replace render maps and lists as JSON.
HOT_2015_10_15 = {
    "get_attr": get_attr,
    "get_file": get_file,
    "get_param": get_param,
    "get_resource": get_resource,
    "list_join": list_join,
    "str_replace": str_replace,
}

FUNCTIONS = {
    "2013-05-23": HOT_2013_05_23,
    "2014-10-16": HOT_2013_05_23,
    "2015-04-30": HOT_2013_05_23,
    "2015-10-15": HOT_2015_10_15,
    "2016-04-08": HOT_2015_10_15,
    "2016-10-14": HOT_2015_10_15,
    "2017-02-24": HOT_2015_10_15,
    "2017-09-01": HOT_2015_10_15,
    "2018-03-02": HOT_2015_10_15,
    "2018-08-31": HOT_2015_10_15,
    "2021-04-16": HOT_2015_10_15,
}

# Every name Heat evaluates as a function, by the version that added or removed it. A call to
# one of them that Hearth does not evaluate is refused at validation: passing it on to a
# resource as if it were data would fail much later and much less clearly.
HEAT_ADDED = {
    "2013-05-23": ("get_attr", "get_file", "get_param", "get_resource", "list_join",
                   "str_replace", "resource_facade", "Ref", "Fn::Base64", "Fn::GetAZs",
                   "Fn::Join", "Fn::MemberListToMap", "Fn::Replace", "Fn::ResourceFacade",
                   "Fn::Select", "Fn::Split"),
    "2015-04-30": ("digest", "repeat"),
    "2015-10-15": ("str_split",),
    "2016-04-08": ("map_merge",),
    "2016-10-14": ("if", "map_replace", "yaql"),
    "2017-02-24": ("filter", "str_replace_strict"),
    "2017-09-01": ("contains", "list_concat", "list_concat_unique", "make_url",
                   "str_replace_vstrict"),
}
HEAT_REMOVED = {
    "2014-10-16": ("Ref", "Fn::Base64", "Fn::GetAZs", "Fn::Join", "Fn::MemberListToMap",
                   "Fn::Replace", "Fn::ResourceFacade", "Fn::Split"),
    "2015-10-15": ("Fn::Select",),
}


def functions_for(version: str) -> dict[str, ModuleType]:
    """The functions a template of canonical `version` may call, by name."""
    return dict(FUNCTIONS[version])


def unavailable_for(version: str) -> dict[str, str]:
    """Function names a template of canonical `version` may not call, each with the reason."""
    offered: set[str] = set()
    removed: set[str] = set()
    for date in sorted(HEAT_ADDED.keys() | HEAT_REMOVED.keys()):
        if date > version:
            break
        offered |= set(HEAT_ADDED.get(date, ()))
        removed |= set(HEAT_REMOVED.get(date, ()))
    reasons = {name: f"function '{name}' is not supported by Hearth yet"
               for name in sorted(offered - removed - FUNCTIONS[version].keys())}
    reasons.update({name: f"function '{name}' is not available in heat_template_version {version}"
                    for name in sorted(removed)})
    return reasons
