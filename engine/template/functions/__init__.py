"""The intrinsic-function registry: for each HOT version, the functions Heat offers there, as dict
literals; pure, touches nothing.

A function is a module with two verbs:

- `validate(args, path)` checks the shape of the arguments before anything runs and raises
  TemplateError at `path` (the template path where the call stands; the template adds file
  and line). Where a literal is expected, a nested call is accepted on its shape alone.
- `resolve(args, evaluate, context)` returns the value. `evaluate(snippet, *segments)` resolves
  a nested snippet; `segments` say where it sits inside the arguments, for error paths.
  Errors raised here carry no file: the template locates them at the call. A function whose
  result or work can outgrow its arguments asks `context.budget` (engine.template.limits)
  before it builds anything; every result is measured against the limits once it returns.

It may also offer:

- `reference(args) -> (kind, name) | None`, naming the "resource", "parameter", "file" or
  "condition" the call depends on; the template uses it for dependencies and to check that
  what is named exists.
- `conditions_in(args) -> [segments, ...]`: which parts of the arguments are conditions (a
  condition name, a boolean or a call to a condition function), as the first argument of
  `if` and every item of `and`. Calls inside them are looked up in the version's
  CONDITION_FUNCTIONS; `resolve` reads their truth with `context.condition(value)`, which
  the template supplies.
- `branch(args, holds) -> index | None`: for a choice (`if`), the argument chosen when its
  condition holds or not, so that dependencies follow only the chosen value.

To add a function: write its module, import it here and add it to each version table that
offers it. A name in HEAT_ADDED that a version's table lacks is refused as "not supported by
Hearth yet"; one added after the version, as needing that later version.
"""

from __future__ import annotations

from types import ModuleType

from engine.template.functions import (
    and_conditions,
    cfn_base64,
    cfn_get_azs,
    cfn_join,
    cfn_member_list_to_map,
    cfn_ref,
    cfn_replace,
    cfn_resource_facade,
    cfn_select,
    cfn_split,
    contains,
    digest,
    equals,
    filter_values,
    get_attr,
    get_attr_named,
    get_file,
    get_param,
    get_resource,
    if_condition,
    if_condition_both,
    list_concat,
    list_concat_unique,
    list_join,
    list_join_strings,
    make_url,
    map_merge,
    map_replace,
    not_condition,
    or_conditions,
    repeat,
    repeat_lists,
    repeat_product,
    resource_facade,
    str_replace,
    str_replace_scalars,
    str_replace_strict,
    str_replace_vstrict,
    str_split,
    yaql_expression,
)

_HOT_2013_05_23 = {
    "get_attr": get_attr_named,
    "get_file": get_file,
    "get_param": get_param,
    "get_resource": get_resource,
    "list_join": list_join_strings,
    "resource_facade": resource_facade,
    "str_replace": str_replace_scalars,
}
# The first HOT version also offers CloudFormation's functions (not Fn::GetAtt nor
# Fn::FindInMap); 2014-10-16 keeps only Fn::Select of them, and 2015-10-15 drops that too.
HOT_2013_05_23 = {
    **_HOT_2013_05_23,
    "Fn::Base64": cfn_base64,
    "Fn::GetAZs": cfn_get_azs,
    "Fn::Join": cfn_join,
    "Fn::MemberListToMap": cfn_member_list_to_map,
    "Fn::Replace": cfn_replace,
    "Fn::ResourceFacade": cfn_resource_facade,
    "Fn::Select": cfn_select,
    "Fn::Split": cfn_split,
    "Ref": cfn_ref,
}
HOT_2014_10_16 = {**_HOT_2013_05_23, "Fn::Select": cfn_select}
_HOT_2015_04_30 = {**_HOT_2013_05_23, "digest": digest, "repeat": repeat_lists}
HOT_2015_04_30 = {**_HOT_2015_04_30, "Fn::Select": cfn_select}
# 2015-10-15 lets get_attr return every attribute, list_join take several lists and join maps
# and lists as JSON, and str_replace render maps and lists as JSON.
HOT_2015_10_15 = {
    **_HOT_2015_04_30,
    "get_attr": get_attr,
    "list_join": list_join,
    "str_replace": str_replace,
    "str_split": str_split,
}
HOT_2016_04_08 = {**HOT_2015_10_15, "map_merge": map_merge}
# 2016-10-14 also lets repeat iterate over the keys of maps.
HOT_2016_10_14 = {
    **HOT_2016_04_08,
    "if": if_condition_both,
    "map_replace": map_replace,
    "repeat": repeat_product,
    "yaql": yaql_expression,
}
HOT_2017_02_24 = {**HOT_2016_10_14, "filter": filter_values, "str_replace_strict": str_replace_strict}
# 2017-09-01 also lets repeat pair lists item by item (permutations: false).
HOT_2017_09_01 = {
    **HOT_2017_02_24,
    "contains": contains,
    "list_concat": list_concat,
    "list_concat_unique": list_concat_unique,
    "make_url": make_url,
    "repeat": repeat,
    "str_replace_vstrict": str_replace_vstrict,
}
# 2021-04-16 lets if leave out the value for false, and with it the key or item holding it.
HOT_2021_04_16 = {**HOT_2017_09_01, "if": if_condition}

FUNCTIONS = {
    "2013-05-23": HOT_2013_05_23,
    "2014-10-16": HOT_2014_10_16,
    "2015-04-30": HOT_2015_04_30,
    "2015-10-15": HOT_2015_10_15,
    "2016-04-08": HOT_2016_04_08,
    "2016-10-14": HOT_2016_10_14,
    "2017-02-24": HOT_2017_02_24,
    "2017-09-01": HOT_2017_09_01,
    "2018-03-02": HOT_2017_09_01,
    "2018-08-31": HOT_2017_09_01,
    "2021-04-16": HOT_2021_04_16,
}

# What conditions may call: the conditions section, a resource's or output's `condition`, and
# the condition of an `if`. Any other function there is refused, as in Heat.
HOT_CONDITIONS_2016_10_14 = {
    "and": and_conditions,
    "equals": equals,
    "get_param": get_param,
    "not": not_condition,
    "or": or_conditions,
}
HOT_CONDITIONS_2017_09_01 = {**HOT_CONDITIONS_2016_10_14, "contains": contains, "yaql": yaql_expression}

CONDITION_FUNCTIONS = {
    "2013-05-23": {},
    "2014-10-16": {},
    "2015-04-30": {},
    "2015-10-15": {},
    "2016-04-08": {},
    "2016-10-14": HOT_CONDITIONS_2016_10_14,
    "2017-02-24": HOT_CONDITIONS_2016_10_14,
    "2017-09-01": HOT_CONDITIONS_2017_09_01,
    "2018-03-02": HOT_CONDITIONS_2017_09_01,
    "2018-08-31": HOT_CONDITIONS_2017_09_01,
    "2021-04-16": HOT_CONDITIONS_2017_09_01,
}

# Every name Heat evaluates as a function, by the version that added or removed it. A call to
# one of them that Hearth does not evaluate is refused at validation: passing it on to a
# resource as if it were data would fail much later and much less clearly.
HEAT_ADDED = {
    "2013-05-23": (
        "get_attr",
        "get_file",
        "get_param",
        "get_resource",
        "list_join",
        "str_replace",
        "resource_facade",
        "Ref",
        "Fn::Base64",
        "Fn::GetAZs",
        "Fn::Join",
        "Fn::MemberListToMap",
        "Fn::Replace",
        "Fn::ResourceFacade",
        "Fn::Select",
        "Fn::Split",
    ),
    "2015-04-30": ("digest", "repeat"),
    "2015-10-15": ("str_split",),
    "2016-04-08": ("map_merge",),
    "2016-10-14": ("if", "map_replace", "yaql"),
    "2017-02-24": ("filter", "str_replace_strict"),
    "2017-09-01": ("contains", "list_concat", "list_concat_unique", "make_url", "str_replace_vstrict"),
}
HEAT_REMOVED = {
    "2014-10-16": (
        "Ref",
        "Fn::Base64",
        "Fn::GetAZs",
        "Fn::Join",
        "Fn::MemberListToMap",
        "Fn::Replace",
        "Fn::ResourceFacade",
        "Fn::Split",
    ),
    "2015-10-15": ("Fn::Select",),
}


def functions_for(version: str) -> dict[str, ModuleType]:
    """The functions a template of canonical `version` may call, by name."""
    return dict(FUNCTIONS[version])


def condition_functions_for(version: str) -> dict[str, ModuleType]:
    """The functions a condition in a template of canonical `version` may call, by name."""
    return dict(CONDITION_FUNCTIONS[version])


def unavailable_for(version: str) -> dict[str, str]:
    """Function names a template of canonical `version` may not call, each with Heat's reason.

    Those are the CloudFormation functions HOT removed. A name Heat adds in a later version is
    no function in an earlier one: a one-key map so named is data there, as in Heat.
    """
    removed: set[str] = set()
    for date, names in HEAT_REMOVED.items():
        if date <= version:
            removed |= set(names)
    reasons = {
        name: f"function '{name}' is not supported by Hearth yet"
        for name in sorted(_offered(version) - removed - FUNCTIONS[version].keys())
    }
    reasons.update(
        {
            name: f"The template version is invalid: The function {name} is not supported in this version of HOT."
            for name in sorted(removed)
        }
    )
    return reasons


def _offered(version: str) -> set[str]:
    return {name for date, names in HEAT_ADDED.items() if date <= version for name in names}
