"""Hypothesis drives the template parser with hostile input: any text or structure must give a
template or a TemplateError that names the file (and the line or path when it has them) —
never another exception, which the API would turn into a 500.

Three sources of input, each bounded so the module runs in well under 30 s:
- raw text (random characters, and YAML/JSON fragments spliced together);
- HOT and CFN structures with random sections, parameters, resources, conditions and calls of
  real intrinsic functions with random arguments, given as data and as YAML/JSON text;
- the same structures taken further: parameter validation with random values, conditions
  evaluated, and every output resolved against a context with no resources.
Nothing is mocked: the parser, loader and functions are the real ones.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.errors import TemplateError
from engine.template import parse_environment, parse_template
from engine.template.cfn import FUNCTIONS as CFN_FUNCTIONS
from engine.template.context import ParameterContext
from engine.template.functions import CONDITION_FUNCTIONS, FUNCTIONS as HOT_FUNCTIONS

pytestmark = pytest.mark.fuzz

FILENAME = "fuzz.yaml"
EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

HOT_VERSIONS = sorted(HOT_FUNCTIONS) + ["2013-05-23", "wallaby", "2099-01-01", 2016, None]
CFN_VERSIONS = sorted(CFN_FUNCTIONS) + ["1999-01-01", None]
FUNCTION_NAMES = sorted(
    {
        name
        for table in (*HOT_FUNCTIONS.values(), *CFN_FUNCTIONS.values(), *CONDITION_FUNCTIONS.values())
        for name in table
    }
    | {"Fn::If", "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"}
)
PARAMETER_TYPES = [
    "string",
    "number",
    "comma_delimited_list",
    "json",
    "boolean",
    "String",
    "Number",
    "CommaDelimitedList",
    "Json",
    "Boolean",
    "nope",
]
RESOURCE_TYPES = [
    "OS::Heat::None",
    "OS::Heat::RandomString",
    "OS::Heat::Value",
    "OS::Heat::SoftwareConfig",
    "OS::Heat::TestResource",
    "AWS::EC2::Instance",
    "nested.yaml",
    "Unknown::Type",
]
NAMES = st.sampled_from(["a", "b", "web", "db", "p", "q", "x"])

# Scalars as YAML and JSON produce them (no NaN: JSON cannot carry it).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    NAMES,
)


def calls(children):
    """A call of a real function (or a near miss) with random arguments."""
    return st.builds(lambda name, args: {name: args}, st.sampled_from(FUNCTION_NAMES), children)


snippets = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(NAMES, st.text(max_size=6)), children, max_size=4),
        calls(children),
        st.builds(lambda n: {"get_param": n}, NAMES),
        st.builds(lambda n: {"get_resource": n}, NAMES),
        st.builds(lambda n, a: {"get_attr": [n, a]}, NAMES, NAMES),
    ),
    max_leaves=12,
)


def keyed(keys, values):
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


def mostly(good):
    """Well-formed sections with random values in them, so that examples get past the shape
    checks into parameters, conditions and functions (junk structure has its own test)."""
    return good


constraints = st.lists(
    mostly(
        keyed(
            ["length", "range", "allowed_values", "allowed_pattern", "custom_constraint", "modulo", "description"],
            snippets,
        )
    ),
    max_size=2,
)
parameters = st.dictionaries(
    NAMES,
    mostly(
        st.fixed_dictionaries(
            {"type": st.sampled_from(PARAMETER_TYPES)},
            optional={
                "default": snippets,
                "description": st.text(max_size=8),
                "hidden": st.booleans(),
                "constraints": mostly(constraints),
                "label": snippets,
                "immutable": snippets,
                "tags": snippets,
            },
        )
    ),
    max_size=3,
)
resources = st.dictionaries(
    NAMES,
    mostly(
        st.fixed_dictionaries(
            {"type": mostly(st.sampled_from(RESOURCE_TYPES))},
            optional={
                "properties": mostly(st.dictionaries(NAMES, snippets, max_size=3)),
                "depends_on": mostly(st.one_of(NAMES, st.lists(NAMES, max_size=2))),
                "condition": snippets,
                "metadata": snippets,
                "deletion_policy": mostly(st.sampled_from(["Delete", "retain", "Snapshot", "nope"])),
                "update_policy": snippets,
                "external_id": snippets,
            },
        )
    ),
    max_size=3,
)
outputs = st.dictionaries(
    NAMES,
    mostly(st.fixed_dictionaries({"value": snippets}, optional={"description": snippets, "condition": snippets})),
    max_size=3,
)
conditions = st.dictionaries(NAMES, snippets, max_size=2)


# Mostly well-formed skeletons, so that most examples get past the version check and into
# the sections and functions; a few carry junk where a section or the version should be.
VALID_HOT = st.sampled_from(sorted(HOT_FUNCTIONS))
hot_templates = st.fixed_dictionaries(
    {"heat_template_version": VALID_HOT, "resources": mostly(resources)},
    optional={
        "description": st.text(max_size=10),
        "parameters": mostly(parameters),
        "outputs": mostly(outputs),
        "conditions": mostly(conditions),
        "parameter_groups": st.lists(
            keyed(["label", "description", "parameters"], st.one_of(st.text(max_size=4), st.lists(NAMES, max_size=2))),
            max_size=2,
        ),
    },
)


def cfn_case(mapping):
    """HOT sections renamed as CFN writes them (Type, Properties, Value, ...)."""
    renames = {
        "type": "Type",
        "properties": "Properties",
        "value": "Value",
        "default": "Default",
        "depends_on": "DependsOn",
        "condition": "Condition",
        "metadata": "Metadata",
        "description": "Description",
        "deletion_policy": "DeletionPolicy",
    }
    if isinstance(mapping, dict):
        return {
            name: {renames.get(k, k): v for k, v in body.items()} if isinstance(body, dict) else body
            for name, body in mapping.items()
        }
    return mapping


CFN_KEYS = {"2010-09-09": "AWSTemplateFormatVersion", "2012-12-12": "HeatTemplateFormatVersion"}


def cfn_template(version, params, res, outs, conds, mappings):
    key = CFN_KEYS.get(version, "AWSTemplateFormatVersion") if isinstance(version, str) else "AWSTemplateFormatVersion"
    template = {
        key: version,
        "Parameters": params,
        "Resources": cfn_case(res),
        "Outputs": cfn_case(outs),
        "Mappings": mappings,
    }
    if key == "AWSTemplateFormatVersion":
        template["Conditions"] = conds
    return template


cfn_parameters = st.dictionaries(
    NAMES,
    st.fixed_dictionaries(
        {
            "Type": st.sampled_from(
                ["String", "Number", "CommaDelimitedList", "Json", "Boolean", "List<Number>", "List<String>", "nope"]
            )
        },
        optional={
            "Default": snippets,
            "NoEcho": snippets,
            "AllowedValues": snippets,
            "AllowedPattern": snippets,
            "MinLength": snippets,
            "MaxLength": snippets,
            "MinValue": snippets,
            "MaxValue": snippets,
            "Description": st.text(max_size=6),
            "ConstraintDescription": snippets,
        },
    ),
    max_size=3,
)
cfn_templates = st.builds(
    cfn_template,
    st.sampled_from(sorted(CFN_KEYS)),
    cfn_parameters,
    resources,
    outputs,
    conditions,
    st.one_of(st.dictionaries(NAMES, st.dictionaries(NAMES, snippets, max_size=2), max_size=2), snippets),
)

templates = st.one_of(hot_templates, cfn_templates)
# Junk where the structure should be: random sections holding random values.
junk_templates = st.one_of(
    snippets,
    st.dictionaries(
        st.sampled_from(
            [
                "heat_template_version",
                "AWSTemplateFormatVersion",
                "HeatTemplateFormatVersion",
                "resources",
                "Resources",
                "parameters",
                "Parameters",
                "outputs",
                "Outputs",
                "conditions",
                "Conditions",
                "Mappings",
                "parameter_groups",
                "description",
                "extra",
            ]
        ),
        st.one_of(st.sampled_from(HOT_VERSIONS + CFN_VERSIONS), snippets),
        max_size=6,
    ),
)


def serialised(template, form: str) -> str | dict:
    if form == "json":
        return json.dumps(template)
    if form == "yaml":
        return yaml.safe_dump(template, sort_keys=False)
    return template


def assert_clear(error: TemplateError) -> None:
    """A clear error names the file and says what is wrong; no Python internals leak."""
    text = str(error)
    assert error.file == FILENAME, text
    assert text.startswith(FILENAME), text
    assert error.reason and "Traceback" not in text, text


def exercise(source, files=None) -> None:
    """Parse, then take the template as far as the engine does before any resource exists."""
    try:
        template = parse_template(source, filename=FILENAME, files=files)
        values = template.validate_parameters({})
        template = template.with_conditions(values, {"OS::stack_name": "fuzz", "OS::stack_id": "x"})
        context = ParameterContext(values, {"OS::stack_name": "fuzz", "OS::stack_id": "x"}, files)
        for name, output in template.outputs.items():
            template.resolve(output.value, context, ("outputs", name, "value"))
    except TemplateError as error:
        assert_clear(error)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(
            st.sampled_from(
                [
                    "heat_template_version: 2021-04-16\n",
                    "resources:\n",
                    "  a: {type: OS::Heat::None}\n",
                    "- x\n",
                    "&a [*a]\n",
                    "{",
                    "}",
                    "[",
                    "'",
                    '"',
                    ": ",
                    "!!python/object:os.system\n",
                    "<<: *a\n",
                    "\t",
                    "\x00",
                    "\ufeff",
                    "%YAML 1.1\n",
                    "---\n",
                    "outputs:\n",
                    "  o: {value: {get_param: x}}\n",
                ]
            ),
            max_size=12,
        ).map("".join),
    )
)
def test_any_text_is_a_template_or_a_clear_error(text):
    exercise(text)


@FUZZ
@given(template=templates, form=st.sampled_from(["data", "json", "yaml"]), with_files=st.booleans())
def test_random_hot_and_cfn_structures_parse_or_fail_clearly(template, form, with_files):
    exercise(
        serialised(template, form), files={"nested.yaml": "heat_template_version: 2015-04-30\n"} if with_files else None
    )


@FUZZ
@given(template=junk_templates, form=st.sampled_from(["data", "json", "yaml"]))
def test_junk_structures_fail_clearly(template, form):
    exercise(serialised(template, form))


@FUZZ
@given(template=hot_templates, values=st.dictionaries(NAMES, snippets, max_size=3))
def test_random_parameter_values_are_accepted_or_refused_clearly(template, values):
    try:
        parse_template(template, filename=FILENAME).validate_parameters(values)
    except TemplateError as error:
        assert_clear(error)


@FUZZ
@given(
    environment=st.one_of(
        st.text(max_size=120),
        keyed(
            [
                "parameters",
                "parameter_defaults",
                "resource_registry",
                "event_sinks",
                "encrypted_param_names",
                "parameter_merge_strategies",
                "other",
            ],
            snippets,
        ),
    ),
    form=st.sampled_from(["data", "yaml"]),
)
def test_random_environments_parse_or_fail_clearly(environment, form):
    try:
        parse_environment(serialised(environment, form) if isinstance(environment, dict) else environment, FILENAME)
    except TemplateError as error:
        assert_clear(error)
