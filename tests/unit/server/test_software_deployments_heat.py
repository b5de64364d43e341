"""Heat's software_deployments API and deployments to server ids no server has: Hearth answers
what real Heat 27.0.1 answered (tests/heat_recorded/software_deployments.json, recorded from the
reference with `python -m tests.heat_recorded.software_deployments URL`)."""

from __future__ import annotations

import json

import pytest

from tests.heat_recorded.software_deployments import RECORDING, run

RECORDED = json.loads(RECORDING.read_text())["cases"]


@pytest.fixture(scope="module")
def answers(shared_hearth):
    return run(shared_hearth.http, shared_hearth.api, deadline=60)


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_hearth_answers_as_heat_did(answers, case):
    assert answers[case] == RECORDED[case]
