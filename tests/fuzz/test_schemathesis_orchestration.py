"""Schemathesis against the orchestration and admin API of a real server on 127.0.0.1: every
operation in metadata_server/openapi/orchestration.yaml gets generated requests (valid and
invalid data), sent over HTTP with the admin token ($HEARTH_ADMIN_TOKEN when set). No answer may
be a 5xx or carry a stack trace, and each must conform to the description (status code,
content type, headers, body schema). Bounded: EXAMPLES per operation, derandomised for CI.
The budgets are switched off on this server so that fuzzing is not answered 429 (they have
their own tests)."""
from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)
from metadata_server.openapi_api import document
from tests.support import start_server, stop_server

pytestmark = pytest.mark.fuzz

EXAMPLES = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
UNLIMITED = {"guest_rate": 0, "api_rate": 0, "auth_failure_rate": 0}


def fuzz(spec: dict, base_url: str, headers: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """Run every operation; the number of cases sent per operation and the failures found."""
    schema = schemathesis.openapi.from_dict(spec)
    counts: dict[str, int] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            counts[label] = counts.get(label, 0) + 1
            response = case.call(base_url=base_url, headers=headers, allow_redirects=False, timeout=30)
            assert "Traceback" not in response.text, response.text
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as error:  # noqa: BLE001 - each operation's failure is collected and reported
            failures.append(f"{label}: {str(error)[:1500]}")
    return counts, failures


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("fuzz"), **UNLIMITED)
    yield server
    stop_server(server)


def test_orchestration_api_answers_every_generated_request_without_a_server_error(server):
    token = os.environ.get("HEARTH_ADMIN_TOKEN")
    headers = {"X-Auth-Token": token} if token else {}
    counts, failures = fuzz(yaml.safe_load(document("orchestration")), server.url, headers)
    print(f"orchestration: {sum(counts.values())} cases over {len(counts)} operations")
    assert not failures, "\n\n".join(failures)
    assert len(counts) >= 50 and sum(counts.values()) >= 50 * 3
