"""Schemathesis against the guest API of a real server on 127.0.0.1: every operation in
metadata_server/openapi/guest.yaml gets generated requests (paths, queries, headers and bodies,
valid and invalid), sent over HTTP. Requests carry no valid guest credential (generated
tokens are random), so this exercises parsing and authentication of hostile input; the
credential matrix has its own tests. No answer may be a 5xx or carry a stack trace, and each
must conform to the description. Bounded like the orchestration run; the stateful run chains
operations by the links schemathesis infers and asserts only that no answer is a 5xx."""

from __future__ import annotations

import pytest
import yaml

from metadata_server.openapi_api import document
from tests.fuzz.test_schemathesis_orchestration import SCENARIOS, UNLIMITED, fuzz, stateful
from tests.support import start_server, stop_server

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("fuzz"), **UNLIMITED)
    yield server
    stop_server(server)


def test_guest_api_answers_every_generated_request_without_a_server_error(server):
    counts, failures = fuzz(yaml.safe_load(document("guest")), server.url, {})
    print(f"guest: {sum(counts.values())} cases over {len(counts)} operations")
    assert not failures, "\n\n".join(failures)
    assert len(counts) >= 9 and sum(counts.values()) >= 9 * 3


def test_guest_api_answers_every_stateful_sequence_without_a_server_error(server):
    calls = stateful(yaml.safe_load(document("guest")), server.url, {})
    print(f"guest, stateful: {calls} calls in {SCENARIOS} scenarios")
    assert calls >= SCENARIOS
