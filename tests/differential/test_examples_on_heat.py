"""Live against real Heat (`pytest -m heat`): every example Heat can run without a cloud gives,
on the pinned reference, the outputs its sidecar expects (the same sidecar
tests/e2e/test_examples.py holds Hearth to). So an example's expected values are Heat's, not
what someone remembered.

Left out: examples with servers, deployments that signal, or wait conditions (they need Nova
or a Keystone the reference does not have); which ones is decided by the resource types their
templates use.
"""

from __future__ import annotations

import time

import pytest
import requests

from engine.cli.stack_request import stack_body
from tests.e2e.test_examples import ALL, mismatch

pytestmark = pytest.mark.heat

# Types the reference cannot run without Nova or a Keystone for stack users.
NEEDS_A_CLOUD = (
    "OS::Nova::Server",
    "OS::Heat::DeployedServer",
    "OS::Heat::WaitConditionHandle",
    "AWS::CloudFormation::WaitConditionHandle",
    "OS::Heat::UpdateWaitConditionHandle",
    "signal_transport",
    "OS::Heat::SoftwareDeploymentGroup",
    "OS::Heat::StructuredDeploymentGroup",
    "OS::Heat::SoftwareDeployment",
    "OS::Heat::StructuredDeployment",
    # Heat fetches a TemplateURL itself, where Hearth reads the files map.
    "AWS::CloudFormation::Stack",
)


def runnable(example) -> bool:
    folder = example.template.parent
    texts = [
        p.read_text()
        for p in ([example.template] if folder.name == "templates" else folder.rglob("*"))
        if p.is_file() and p.suffix in (".yaml", ".yml", ".template", ".json")
    ]
    return not any(kind in text for text in texts for kind in NEEDS_A_CLOUD)


EXAMPLES = [e for e in ALL if runnable(e)]


@pytest.fixture(scope="module")
def reference():
    from tests.heat_reference.reference import running_reference

    with running_reference() as base:
        yield base


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_heat_gives_the_outputs_the_example_expects(example, reference):
    http = requests.Session()
    http.headers["X-Auth-Token"] = "reference"
    body = stack_body(
        example.stack_name,
        str(example.template),
        [str(e) for e in example.environment],
        example.parameters,
        timeout_mins=5,
    )
    created = http.post(f"{reference}/stacks", json=body, timeout=60)
    assert created.status_code == 201, created.text
    stack_id = created.json()["stack"]["id"]
    path = f"{reference}/stacks/{example.stack_name}/{stack_id}"
    deadline = time.monotonic() + 180
    while True:
        stack = http.get(path, timeout=30).json()["stack"]
        if not stack["stack_status"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    try:
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        outputs = {o["output_key"]: o.get("output_value") for o in stack["outputs"]}
        wrong = [
            f"{key}: {why}"
            for key, want in example.expect.items()
            if (why := mismatch(want, outputs.get(key), outputs))
        ]
        assert not wrong, "\n".join(wrong)
    finally:
        http.delete(path, timeout=30)
