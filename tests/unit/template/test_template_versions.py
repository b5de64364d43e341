"""Tests for engine.template.versions."""

from __future__ import annotations

import datetime

import pytest

from engine.template.versions import VERSIONS, canonical_version, since


@pytest.mark.parametrize(
    "value, canonical",
    [
        ("2013-05-23", "2013-05-23"),
        ("pike", "2017-09-01"),
        (datetime.date(2018, 8, 31), "2018-08-31"),
        ("2012-01-01", None),
        (2013, None),
        ("Newton", None),
    ],
)
def test_canonical_version(value, canonical):
    assert canonical_version(value) == canonical


def test_release_names_are_their_dates():
    assert {name: VERSIONS[name] for name in ("newton", "ocata", "pike", "queens", "rocky", "wallaby")} == {
        "newton": "2016-10-14",
        "ocata": "2017-02-24",
        "pike": "2017-09-01",
        "queens": "2018-03-02",
        "rocky": "2018-08-31",
        "wallaby": "2021-04-16",
    }


def test_since_compares_release_order():
    assert (
        since("2016-10-14", "2016-10-14")
        and since("2021-04-16", "2015-10-15")
        and not since("2015-04-30", "2015-10-15")
    )
