"""Tests for engine.template.sections: which resource, output and top-level keys each HOT version accepts, as in Heat."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.sections import deletion_policy


@pytest.mark.parametrize("version", ["2013-05-23", "2015-10-15", "2021-04-16"])
def test_keys_every_version_accepts(hot, fake_stack, version):
    template = hot.parse(
        version,
        """\
        parameters:
          batch: {type: number, default: 2}
        resources:
          db: {type: X}
          web:
            type: X
            description: the web server
            properties: {a: 1}
            metadata: {role: web}
            depends_on: db
            deletion_policy: Retain
            update_policy: {batch: {get_param: batch}}
        outputs:
          o: {value: 1, description: one}
        """,
    )
    web = template.resources["web"]
    assert (web.description, web.metadata, web.depends_on, web.deletion_policy) == (
        "the web server",
        {"role": "web"},
        ["db"],
        "Retain",
    )
    assert template.resolve(web.update_policy, fake_stack(params={"batch": 2})) == {"batch": 2}


@pytest.mark.parametrize("key, value", [("condition", "true"), ("external_id", "abc")])
def test_condition_and_external_id_need_2016_10_14(hot, key, value):
    body = f"resources:\n  web:\n    type: X\n    {key}: {value}\n"
    assert hot.error("2016-04-08", body) == (
        f"web.yaml:5: resources.web.{key}: Invalid keyword(s) inside a resource definition: {key}"
    )
    hot.parse("2016-10-14", body)


def test_output_condition_needs_2016_10_14(hot):
    body = "outputs:\n  o:\n    value: 1\n    condition: false\n"
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2016-04-08", body)
    assert hot.parse("2016-10-14", body).with_conditions({}, {}).outputs == {}


@pytest.mark.parametrize(
    "version, value, policy",
    [
        ("2013-05-23", "Delete", "Delete"),
        ("2013-05-23", "Snapshot", "Snapshot"),
        ("2016-10-14", "retain", "Retain"),
        ("2021-04-16", "snapshot", "Snapshot"),
        ("2016-10-14", None, None),
    ],
)
def test_deletion_policies(version, value, policy):
    assert deletion_policy(value, version, ("resources", "web", "deletion_policy")) == policy


@pytest.mark.parametrize("version, value", [("2016-04-08", "retain"), ("2016-10-14", "RETAIN"), ("2021-04-16", "Keep")])
def test_deletion_policy_spellings_heat_refuses(hot, version, value):
    assert hot.error(version, f"resources:\n  web:\n    type: X\n    deletion_policy: {value}\n") == (
        f'web.yaml:5: resources.web.deletion_policy: Invalid deletion policy "{value}"'
    )


def test_a_deletion_policy_may_be_a_function_in_every_version(hot):
    body = """\
        parameters:
          policy: {type: string}
        resources:
          web:
            type: X
            deletion_policy: {get_param: policy}
        """
    template = hot.parse("2013-05-23", body)
    assert template.resources["web"].deletion_policy == {"get_param": "policy"}
    assert template.with_conditions({"policy": "Retain"}, {}).resources["web"].deletion_policy == "Retain"
    # An undefined parameter is found when the policy is resolved, as in Heat.
    with pytest.raises(TemplateError):
        hot.parse("2013-05-23", body.replace("policy}", "polcy}")).with_conditions({"policy": "Retain"}, {})


def test_calls_in_update_policy_and_external_id_are_checked(hot):
    assert (
        hot.error(
            "2016-10-14",
            """\
        resources:
          web:
            type: X
            update_policy: {batch: {str_replace: [a]}}
        """,
        )
        == 'web.yaml:5: resources.web.update_policy.batch.str_replace: Arguments to "str_replace" must be a map'
    )
    assert (
        hot.error(
            "2016-10-14",
            """\
        resources:
          web:
            type: X
            external_id: {get_attr: [db, id]}
        """,
        )
        == 'web.yaml:5: resources.web.external_id: The specified reference "db" (in web.external_id) is incorrect.'
    )


@pytest.mark.parametrize("version", ["2013-05-23", "2021-04-16"])
def test_parameter_groups_in_every_version(hot, version):
    template = hot.parse(
        version,
        """\
        parameters:
          a: {type: string}
          b: {type: string}
        parameter_groups:
          - label: first
            description: the first
            parameters: [a, OS::stack_name]
          - parameters: [b]
            notes: Heat reads label, description and parameters, and ignores the rest
        """,
    )
    assert [group["parameters"] for group in template.parameter_groups] == [["a", "OS::stack_name"], ["b"]]


def test_parameter_groups_errors(hot):
    assert hot.error("2013-05-23", "parameter_groups:\n  - label: x\n") == (
        "web.yaml:2: Parameter Groups error: parameter_groups.x: The parameters must be provided for each parameter group."
    )
    assert hot.error("2013-05-23", "parameter_groups: {a: 1}\n") == (
        "web.yaml:2: parameter_groups: 'parameter_groups' must be a list, not a map"
    )
