"""HOT template versions: every accepted `heat_template_version` value and the release date it
stands for; pure data, reads no clock."""

from __future__ import annotations

import datetime
from typing import Any

# Release names are accepted from Newton on, exactly as Heat accepts them; each maps to the
# date of its release, which is what the rest of the package compares against.
VERSIONS = {
    "2013-05-23": "2013-05-23",
    "2014-10-16": "2014-10-16",
    "2015-04-30": "2015-04-30",
    "2015-10-15": "2015-10-15",
    "2016-04-08": "2016-04-08",
    "2016-10-14": "2016-10-14",
    "2017-02-24": "2017-02-24",
    "2017-09-01": "2017-09-01",
    "2018-03-02": "2018-03-02",
    "2018-08-31": "2018-08-31",
    "2021-04-16": "2021-04-16",
    "newton": "2016-10-14",
    "ocata": "2017-02-24",
    "pike": "2017-09-01",
    "queens": "2018-03-02",
    "rocky": "2018-08-31",
    "wallaby": "2021-04-16",
}


def canonical_version(value: Any) -> str | None:
    """The canonical date for a `heat_template_version` value, or None if it is not one."""
    # A template parsed by a client that turns YAML dates into date objects still names a version.
    if isinstance(value, datetime.date):
        value = value.isoformat()
    if not isinstance(value, str):
        return None
    return VERSIONS.get(value)


def since(version: str, date: str) -> bool:
    """Whether canonical `version` includes what Heat added in the version dated `date`."""
    # Canonical versions are ISO dates, so string order is release order.
    return version >= date
