"""Hearth answers every recorded differential case as real Heat did (expected/ was recorded
from openstack-heat 27.0.1 by `make record-heat`; cases marked `difference` hold Hearth's own
answer, for the reason docs/heat-differences.md gives).

Cases recorded ahead of the work that will make Hearth answer them are listed in pending.txt
(`CASE  reason`, one a line, `#` comments): they run and are expected to fail (xfail, not
strict, so one that starts to match shows as XPASS and should leave the list)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.differential.compare import diff, expected, run_all
from tests.differential.harness import load_cases

CASES = load_cases()
# The module's fixture runs every case (four at a time) inside the first test's setup: 4.6 min on
# a quiet 2-core host, more beside the rest of the suite; the default 300 s would cut it short.
pytestmark = pytest.mark.timeout(900)
PENDING_FILE = Path(__file__).resolve().parent / "pending.txt"


def pending() -> dict[str, str]:
    """The pending cases and why, from pending.txt."""
    listed = {}
    for line in PENDING_FILE.read_text().splitlines() if PENDING_FILE.exists() else ():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, reason = line.partition(" ")
            listed[name] = reason.strip() or "not implemented yet"
    return listed


PENDING = pending()


def _param(case):
    marks = [pytest.mark.xfail(reason=PENDING[case.name], strict=False)] if case.name in PENDING else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.fixture(scope="module")
def answers(request):
    """Every selected case, run once against one Hearth server, four at a time."""
    from tests.differential.hearth_side import running_hearth

    selected = {
        item.callspec.params["case"].name
        for item in request.session.items
        if item.originalname == "test_case" and hasattr(item, "callspec")
    }
    with running_hearth() as endpoint:
        return run_all([c for c in CASES if c.name in selected], endpoint)


def test_every_case_is_recorded():
    missing = [c.name for c in CASES if expected(c) is None]
    assert not missing, f"cases without a recording (run make record-heat): {missing}"


def test_there_are_enough_cases():
    assert len(CASES) >= 200


def test_pending_cases_exist():
    names = {c.name for c in CASES}
    assert not [n for n in PENDING if n not in names], "pending.txt names cases that do not exist"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case, answers):
    result = answers[case.name]
    if isinstance(result, BaseException):
        raise result
    text = diff(case, result)
    assert not text, f"Hearth answers differently from Heat:\n{text}"
