"""Schemathesis against the orchestration and admin API of a real server on 127.0.0.1: every
operation in metadata_server/openapi/orchestration.yaml gets generated requests (valid and
invalid data), sent over HTTP with the admin token ($HEARTH_ADMIN_TOKEN when set). No answer may
be a 5xx or carry a stack trace, and each must conform to the description (status code,
content type, headers, body schema). Bounded: EXAMPLES per operation, derandomised for CI.
The budgets are switched off on this server so that fuzzing is not answered 429 (they have
their own tests).

A second run is stateful: schemathesis chains operations by the links it infers from the
description (a created stack's id into show, update, resources, events, delete, ...) and
walks SCENARIOS sequences of up to STEPS calls, asserting only that no answer is a 5xx."""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from metadata_server.openapi_api import document
from tests.support import start_server, stop_server

pytestmark = pytest.mark.fuzz

EXAMPLES = 8
SCENARIOS, STEPS = 60, 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
UNLIMITED = {"guest_rate": 0, "api_rate": 0, "auth_failure_rate": 0}


def fuzz(spec: dict, base_url: str, headers: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """Run every operation; the number of cases sent per operation and the failures found."""
    schema = schemathesis.openapi.from_dict(spec)
    counts: dict[str, int] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case):
            counts[label] = counts.get(label, 0) + 1  # noqa: B023 - run() runs in this iteration
            response = case.call(base_url=base_url, headers=headers, allow_redirects=False, timeout=30)
            assert "Traceback" not in response.text, response.text
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as error:  # noqa: BLE001 - each operation's failure is collected and reported
            failures.append(f"{label}: {str(error)[:1500]}")
    return counts, failures


def stateful(spec: dict, base_url: str, headers: dict[str, str]) -> int:
    """Run schemathesis's state machine over the description; the number of calls made. Every
    failed check (a 5xx, a stack trace) is collected and fails the test with its request."""
    # A copy without YAML's shared nodes: links inferred for one operation are written into
    # its response objects, which an anchor (*signal_responses) would share with others.
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(spec)))
    calls: list[str] = []
    failures: list[str] = []

    class Scenarios(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": base_url, "headers": headers, "allow_redirects": False, "timeout": 30}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            calls.append(case.operation.label)
            try:
                assert "Traceback" not in response.text, response.text
                case.validate_response(response, checks=[not_a_server_error], transport_kwargs=kwargs)
            except Exception as error:
                failures.append(f"{case.operation.label} {case.path_parameters}: {str(error)[:1500]}")
                raise

    # Generation only, as schemathesis runs its state machines: a replay (to shrink, or to
    # report) meets the server in another state than the first run did.
    try:
        Scenarios.run(
            settings=settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
        )
    except Flaky:
        pass  # hypothesis noticed the server's state changed under a replay; failures are below
    except Exception:  # a failed check is reported from `failures`
        if not failures:
            raise
    assert not failures, "\n\n".join(failures)
    return len(calls)


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


def test_orchestration_api_answers_every_stateful_sequence_without_a_server_error(server):
    token = os.environ.get("HEARTH_ADMIN_TOKEN")
    calls = stateful(yaml.safe_load(document("orchestration")), server.url, {"X-Auth-Token": token} if token else {})
    print(f"orchestration, stateful: {calls} calls in {SCENARIOS} scenarios")
    assert calls >= SCENARIOS
