"""Tests for CFN Conditions: the section's checks, the condition functions and Fn::If, with file:line:path errors."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import TemplateError
from engine.template import parse_template

CONDITIONS = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Parameters:
      Env: {Type: String, Default: test}
      Size: {Type: String, Default: small}
    Mappings:
      Envs:
        prod: {Large: 'yes'}
        test: {Large: 'no'}
    Conditions:
      IsProd: {"Fn::Equals": [{Ref: Env}, prod]}
      IsLarge: {"Fn::Equals": [{"Fn::FindInMap": [Envs, {Ref: Env}, Large]}, 'yes']}
      NotProd: {"Fn::Not": [IsProd]}
      ProdAndLarge: {"Fn::And": [IsProd, IsLarge, true]}
      ProdOrSmall: {"Fn::Or": [IsProd, {"Fn::Equals": [{Ref: Size}, small]}]}
      InUs: {"Fn::Equals": [{Ref: "AWS::Region"}, us-east-1]}
      Always: true
    Resources:
      db:
        Type: OS::Heat::None
        Condition: IsProd
      web:
        Type: OS::Heat::None
        Condition: {"Fn::Not": [NotProd]}
        Properties:
          size: {"Fn::If": [IsLarge, {"Fn::GetAtt": [db, size]}, small]}
    Outputs:
      where:
        Value: {"Fn::If": [IsProd, production, {"Fn::If": [Always, testing, never]}]}
        Condition: Always
    """


def parse(text: str = CONDITIONS):
    return parse_template(textwrap.dedent(text), filename="stack.template")


def error_of(text: str) -> str:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    return str(caught.value)


def values(fake_stack, env: str, size: str = "small") -> dict:
    template = parse()
    stack = fake_stack(params={"Env": env, "Size": size, "AWS::Region": "ap-southeast-1"})
    return {name: template.condition_value(name, stack) for name in template.conditions}


def test_conditions_evaluate_from_parameter_values(fake_stack):
    assert values(fake_stack, "prod") == {
        "IsProd": True,
        "IsLarge": True,
        "NotProd": False,
        "ProdAndLarge": True,
        "ProdOrSmall": True,
        "InUs": False,
        "Always": True,
    }
    assert values(fake_stack, "test", "large") == {
        "IsProd": False,
        "IsLarge": False,
        "NotProd": True,
        "ProdAndLarge": False,
        "ProdOrSmall": False,
        "InUs": False,
        "Always": True,
    }


def test_definitions_keep_their_conditions():
    template = parse()
    assert template.resources["db"].condition == "IsProd"
    assert template.resources["web"].condition == {"Fn::Not": ["NotProd"]}
    assert template.outputs["where"].condition == "Always"
    # Both branches of Fn::If count for the order resources are created in.
    assert template.dependencies() == {"db": set(), "web": {"db"}}


def test_if_resolves_only_the_branch_its_condition_chooses(fake_stack):
    template = parse()
    stack = fake_stack(params={"Env": "test"}, attributes={"db": {"size": "huge"}})
    web = template.resolve(template.resources["web"].properties, stack, ("resources", "web", "properties"))
    assert web == {"size": "small"}
    assert ("get_attr", "db", "size") not in stack.asked
    stack = fake_stack(params={"Env": "prod"}, attributes={"db": {"size": "huge"}})
    assert template.resolve(template.resources["web"].properties, stack, ()) == {"size": "huge"}
    where = template.resolve(template.outputs["where"].value, fake_stack(params={"Env": "test"}), ())
    assert where == "testing"


def section(conditions: str, resources: str = "") -> str:
    text = (
        "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  Env: {Type: String, Default: a}\n"
        "Conditions:\n" + textwrap.indent(conditions, "  ")
    )
    return text + ("Resources:\n" + textwrap.indent(resources, "  ") if resources else "")


@pytest.mark.parametrize(
    "conditions, message",
    [
        (
            "A: yes-please\n",
            (
                "stack.template:5: Conditions.A: a condition must be true, false or a call to "
                "Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition"
            ),
        ),
        (
            "A: {Ref: Env}\n",
            (
                "stack.template:5: Conditions.A: a condition must be true, false or a call to "
                "Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition"
            ),
        ),
        (
            "A: {'Fn::Equals': [a]}\n",
            'stack.template:5: Conditions.A.Fn::Equals: Arguments to "Fn::Equals" must be of the form: [value_1, value_2]',
        ),
        ("A: {'Fn::Not': true}\n", "stack.template:5: Conditions.A.Fn::Not: Fn::Not: expected [condition]"),
        (
            "A: {'Fn::Not': [3]}\n",
            "stack.template:5: Conditions.A.Fn::Not: Fn::Not: each item must be a condition name, true, false or a condition function",
        ),
        (
            "A: {'Fn::And': [true]}\n",
            "stack.template:5: Conditions.A.Fn::And: Fn::And: expected [condition, condition, ...] (at least two)",
        ),
        ("A: {'Fn::Or': [true, B]}\n", 'stack.template:5: Conditions.A.Fn::Or: Invalid condition "B"'),
        (
            "A: {Condition: B}\n",
            "stack.template:5: Conditions.A: a condition must be true, false or a call to Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition",
        ),
        (
            "A: {'Fn::Equals': [{'Fn::Join': ['', [a]]}, a]}\n",
            "stack.template:5: Conditions.A.Fn::Equals.0.Fn::Join: function 'Fn::Join' cannot be used in a condition",
        ),
        (
            "A: {'Fn::Not': [B]}\nB: {'Fn::Not': [A]}\n",
            'stack.template: Condition validation error: Circular definition for condition "A"',
        ),
        ("A: {'Fn::Not': [A]}\n", 'stack.template: Condition validation error: Circular definition for condition "A"'),
    ],
)
def test_condition_errors(conditions, message):
    assert error_of(section(conditions)) == message


def test_a_condition_ref_is_left_to_evaluation():
    # Heat checks what a Ref in Conditions names when it evaluates the condition, not before.
    parse(section("A: {'Fn::Equals': [{Ref: web}, a]}\n", "web: {Type: X}\n"))


@pytest.mark.parametrize(
    "condition, message",
    [
        ("3", "stack.template:9: Resources.web.Condition: 'Condition' must be a condition name, true or false"),
        ("B", 'stack.template:9: Resources.web.Condition: Invalid condition "B"'),
        ("{'Fn::Not': [B]}", 'stack.template:9: Resources.web.Condition.Fn::Not: Invalid condition "B"'),
        (
            "{'Fn::Join': [a, [b]]}",
            ("stack.template:9: Resources.web.Condition: 'Condition' must be a condition name, true or false"),
        ),
    ],
)
def test_resource_condition_errors(condition, message):
    text = section("A: true\n", f"web:\n  Type: X\n  Condition: {condition}\n")
    assert error_of(text) == message


def test_a_condition_that_resolves_to_a_non_boolean_is_reported(fake_stack):
    # Fn::Not reads a string as a condition name, so a parameter holding one is followed.
    template = parse(section("A: {'Fn::Not': [{Ref: Env}]}\nB: true\n"))
    assert template.condition_value("A", fake_stack(params={"Env": "B"})) is False
    with pytest.raises(TemplateError) as caught:
        template.condition_value("A", fake_stack(params={"Env": "C"}))
    assert str(caught.value) == ('stack.template: conditions.A: Invalid condition "C"')


DECIDED = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Parameters:
      Env: {Type: String, Default: test}
    Conditions:
      IsProd: {"Fn::Equals": [{Ref: Env}, prod]}
    Resources:
      db: {Type: X, Condition: IsProd}
      web:
        Type: X
        Properties:
          size: {"Fn::If": [IsProd, {"Fn::GetAtt": [db, size]}, small]}
      cache: {Type: X, Condition: {"Fn::Not": [IsProd]}}
    Outputs:
      db: {Value: {"Fn::GetAtt": [db, size]}, Condition: IsProd}
      mode: {Value: {"Fn::If": [IsProd, production, testing]}}
    """


def test_with_conditions_leaves_out_what_is_false_and_follows_each_if(fake_stack):
    template = parse(DECIDED)
    test = template.with_conditions({"Env": "test"}, {"AWS::StackName": "s"})
    assert (list(test.resources), test.disabled_resources, test.condition_values) == (
        ["web", "cache"],
        frozenset({"db"}),
        {"IsProd": False},
    )
    # Dependencies follow only the value each Fn::If chooses.
    assert test.dependencies() == {"web": set(), "cache": set()}
    stack = fake_stack(params={"Env": "test"})
    assert test.resolve(test.resources["web"].properties, stack, ()) == {"size": "small"}
    assert list(test.outputs) == ["mode"]
    assert test.resolve(test.outputs["mode"].value, stack, ()) == "testing"
    prod = template.with_conditions({"Env": "prod"}, {})
    assert list(prod.resources) == ["db", "web"]
    assert prod.dependencies() == {"db": set(), "web": {"db"}}
    assert list(prod.outputs) == ["db", "mode"]
    # The parsed template itself is left as it was, for the next stack.
    assert list(template.resources) == ["db", "web", "cache"] and template.condition_values is None


def test_a_left_out_resource_is_dropped_from_depends_on_and_may_not_be_referred_to(fake_stack):
    text = DECIDED.replace("      cache: {Type: X,", "      cache: {Type: X, DependsOn: db,")
    test = parse(text).with_conditions({"Env": "test"}, {})
    assert test.resources["cache"].depends_on == [] and test.dependencies()["cache"] == set()
    # Heat refuses a property naming a resource its condition leaves out.
    text = DECIDED.replace("      cache: {Type: X,", "      cache: {Type: X, Properties: {db: {Ref: db}},")
    with pytest.raises(TemplateError) as caught:
        parse(text).with_conditions({"Env": "test"}, {})
    assert 'The specified reference "db" (in cache.Properties.db) is incorrect.' in str(caught.value)


def test_with_conditions_reports_a_condition_that_is_not_a_boolean():
    text = DECIDED.replace('{"Fn::Not": [IsProd]}', '{"Fn::Not": [{Ref: Env}]}')
    with pytest.raises(TemplateError) as caught:
        parse(text).with_conditions({"Env": "staging"}, {})
    assert str(caught.value) == ('stack.template: resources.cache.condition: Invalid condition "staging"')
