"""engine.resources.rolling, with literals: Heat's batch formulas (the scenarios of Heat's own
heat/tests/autoscaling/test_rolling_update.py and test_instance_group.py TestGetBatches), the
member definitions of each batch, the pause refusal and the health gate's arithmetic."""

from __future__ import annotations

import pytest

from engine.resources.rolling import (
    member_definitions,
    needs_update,
    next_batch,
    pauses_refused,
    restored,
    scaling_batches,
    step,
    tolerated,
)

OLD, NEW = {"type": "T", "properties": {"v": 1}}, {"type": "T", "properties": {"v": 2}}


@pytest.mark.parametrize(
    "target, capacity, updated, result",
    [(4, 4, 0, True), (4, 4, 3, True), (4, 4, 4, False), (4, 4, 5, False), (4, 5, 4, True), (4, 3, 4, True)],
)
def test_needs_update_as_heat(target, capacity, updated, result):
    assert needs_update(target, capacity, updated) is result


@pytest.mark.parametrize(
    "target, capacity, updated, size, minimum, batch",
    [
        (4, 4, 0, 1, 0, (4, 1)),
        (4, 4, 0, 1, 4, (5, 1)),
        (4, 5, 4, 1, 4, (4, 0)),
        (4, 4, 0, 2, 4, (6, 2)),
        (5, 6, 4, 2, 4, (5, 1)),
        (3, 5, 2, 2, 4, (4, 1)),
        (4, 4, 0, 5, 6, (8, 4)),
        (6, 4, 0, 1, 0, (5, 1)),
    ],
)
def test_next_batch_as_heat(target, capacity, updated, size, minimum, batch):
    assert next_batch(target, capacity, updated, size, minimum) == batch


def names():
    counter = iter(range(100))
    return lambda n: [f"new{next(counter)}" for _ in range(n)]


@pytest.mark.parametrize(
    "target, capacity, size, minimum, sizes",
    [
        # Heat's TestGetBatches: the group's size after each batch.
        (4, 4, 1, 0, [4, 4, 4, 4]),
        (3, 4, 1, 0, [3, 3, 3]),
        (4, 4, 1, 4, [5, 5, 5, 5, 4]),
        (4, 4, 2, 4, [6, 6, 4]),
        (5, 5, 2, 0, [5, 5, 5]),
        (3, 3, 2, 4, [5, 4, 3]),
        (4, 4, 6, 1, [5, 4]),
    ],
)
def test_scaling_batches_follow_heats_instance_group(target, capacity, size, minimum, sizes):
    current = [(f"m{i}", OLD) for i in range(capacity)]
    plans = scaling_batches(current, NEW, target, size, minimum, names())
    assert [len(plan) for plan in plans] == sizes
    # In the end every member has the new definition, and never fewer than min_in_service
    # members were in service (at least min(minimum, target) kept their place in each batch).
    assert all(d == NEW for _, d in plans[-1])
    assert all(len(plan) >= min(minimum, target) for plan in plans)


def test_scaling_batches_replace_the_oldest_first_and_add_new_members_last():
    current = [("a", OLD), ("b", OLD), ("c", OLD)]
    plans = scaling_batches(current, NEW, 3, 2, 0, names())
    assert plans[0] == [("a", NEW), ("b", NEW), ("c", OLD)]
    assert plans[1] == [("c", NEW), ("a", NEW), ("b", NEW)]
    # min_in_service 3: one more member first, with the new definition; the oldest goes last.
    plans = scaling_batches(current, NEW, 3, 1, 3, names())
    assert plans[0] == [("a", OLD), ("b", OLD), ("c", OLD), ("new0", NEW)]
    assert [n for n, _ in plans[-1]] == ["new0", "a", "b"] and all(d == NEW for _, d in plans[-1])


def test_member_definitions_as_heats_template_module():
    old = [("a", OLD), ("b", OLD), ("c", NEW)]
    # Shrinking drops the first; num_new counts the members created first.
    assert member_definitions(old, NEW, 2, 1, names()) == [("b", NEW), ("c", NEW)]
    assert member_definitions(old, NEW, 4, 1, names()) == [("a", OLD), ("b", OLD), ("c", NEW), ("new0", NEW)]
    assert member_definitions(old, NEW, 3, 2, names()) == [("a", NEW), ("b", NEW), ("c", NEW)]


def test_pauses_refused_when_they_alone_reach_the_timeout():
    # Heat's _update_timeout: pause * (batches - 1) >= the stack's timeout in seconds.
    assert pauses_refused(3, 30, 60) and not pauses_refused(3, 29.9, 60)
    assert not pauses_refused(1, 3600, 60) and not pauses_refused(5, 30, None)


def test_tolerated_counts_max_errors_or_a_percentage_of_the_members_changed():
    assert tolerated(0, 6, {}) and not tolerated(1, 6, {})
    assert tolerated(1, 6, {"max_errors": 1}) and not tolerated(2, 6, {"max_errors": 1})
    assert tolerated(1, 6, {"max_error_percent": 20}) and not tolerated(2, 6, {"max_error_percent": 20})
    assert tolerated(3, 6, {"max_errors": 1, "max_error_percent": 50})


def test_a_step_names_what_it_changes_and_restored_gives_definitions_back():
    template = {"resources": {"a": NEW, "b": OLD, "c": NEW}}
    made = step(template, {"a": OLD, "b": OLD}, 2, 5)
    assert made["changed"] == ["a", "c"] and made["index"] == 2 and made["pause"] == 5
    assert restored(template, {"a": OLD})["resources"] == {"a": OLD, "b": OLD, "c": NEW}
