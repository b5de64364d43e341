"""Live against real Heat (`pytest -m heat`, `make test-heat`): the pinned reference still
answers every case as recorded, so the recordings have not drifted from what Heat does.

Deselected unless `-m` names `heat`: it installs openstack-heat into its own virtualenv and runs
Heat's legacy engine, which takes minutes; CI compares Hearth with the recordings instead.
"""

from __future__ import annotations

import json

import pytest

from tests.differential.compare import run_all
from tests.differential.harness import Endpoint, canonical, dump, load_cases

pytestmark = pytest.mark.heat
CASES = load_cases()


@pytest.fixture(scope="module")
def heat_answers(request):
    from tests.heat_reference.reference import running_reference

    selected = {
        item.callspec.params["case"].name
        for item in request.session.items
        if item.originalname == "test_heat_answers_as_recorded" and hasattr(item, "callspec")
    }
    answers = {}
    for identity in (False, True):  # cases marked `identity` need the stand-in Keystone
        chosen = [c for c in CASES if c.name in selected and bool(c.spec.get("identity")) == identity]
        if chosen:
            with running_reference(identity=identity) as base:
                answers.update(run_all(chosen, Endpoint(base, {"X-Auth-Token": "reference"}), jobs=4))
    return answers


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_heat_answers_as_recorded(case, heat_answers):
    result = heat_answers[case.name]
    if isinstance(result, BaseException):
        raise result
    recorded = json.loads(case.expected_path.read_text())
    expected = recorded["heat"] if case.spec.get("difference") else recorded["observations"]
    assert dump(canonical(result)) == dump(canonical(expected))
