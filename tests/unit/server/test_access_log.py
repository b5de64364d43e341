"""The access log never shows a pre-signed URL's signature (a log reader could replay it)."""

from __future__ import annotations

import logging

import requests


def test_signatures_are_redacted_from_the_access_log(hearth, caplog):
    caplog.set_level(logging.INFO, logger="hearth.access")
    secret = "s1gnatureThatMustNotBeLogged"
    answer = requests.post(
        f"{hearth.url}/signal/nothing?expires=99999999999&signature={secret}", json={"status": "SUCCESS"}, timeout=10
    )
    assert answer.status_code in (403, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == "hearth.access"]
    assert any("/signal/nothing" in line and "signature=<redacted>" in line for line in lines), lines
    assert not any(secret in line for line in lines)
