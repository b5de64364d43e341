"""AWS::CloudFormation::WaitConditionHandle and WaitCondition on a real server: cfn-signal's PUT completes the wait."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import urlparse, urlunparse

from tests.support import wait_for

WAIT = """\
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Count: {Type: Number, Default: 2}
Resources:
  handle: {Type: AWS::CloudFormation::WaitConditionHandle}
  wait:
    Type: AWS::CloudFormation::WaitCondition
    Properties:
      Handle: {Ref: handle}
      Count: {Ref: Count}
      Timeout: 600
  after:
    Type: OS::Heat::Value
    Properties: {value: {"Fn::GetAtt": [wait, Data]}}
Outputs:
  url: {Value: {Ref: handle}}
  data: {Value: {"Fn::GetAtt": [after, value]}}
"""


def handle_url(hearth, name: str) -> str:
    return wait_for(lambda: hearth.outputs(name).get("url"), 20, message="the handle's URL")


def cfn_signal(url: str, body: dict) -> dict:
    """What cfn-signal runs: curl PUTs the JSON with its Content-Type header removed."""
    done = subprocess.run(
        ["curl", "-sS", "-X", "PUT", "-H", "Content-Type:", "--data-binary", json.dumps(body), url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def test_cfn_signal_puts_complete_the_wait_and_fill_data(hearth):
    hearth.create_stack("waiting", WAIT, template_name="waiting.template")
    url = handle_url(hearth, "waiting")
    assert urlparse(url).path.startswith("/signal/") and "signature=" in url
    answer = cfn_signal(url, {"Status": "SUCCESS", "Reason": "web1 is up", "UniqueId": "web1", "Data": "10.0.0.1"})
    assert answer == {"id": "web1", "status": "SUCCESS", "reason": "web1 is up"}
    assert hearth.stack("waiting")["stack_status"] == "CREATE_IN_PROGRESS"  # one of two signals
    # An empty Content-Type header (rather than none) is accepted too.
    response = hearth.http.put(
        url,
        data=json.dumps({"Status": "SUCCESS", "Reason": "web2 is up", "UniqueId": "web2", "Data": "10.0.0.2"}),
        headers={"Content-Type": ""},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    stack = hearth.wait_stack("waiting", ("CREATE_COMPLETE",))
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert json.loads(hearth.outputs("waiting")["data"]) == {"web1": "10.0.0.1", "web2": "10.0.0.2"}


def test_a_bad_signature_is_refused_with_a_json_error(hearth):
    hearth.create_stack("forged", WAIT, template_name="forged.template")
    url = urlparse(handle_url(hearth, "forged"))
    forged = urlunparse(url._replace(query=url.query.replace("signature=", "signature=x")))
    response = hearth.http.put(forged, data='{"Status": "SUCCESS", "UniqueId": "1"}', timeout=30)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "signature does not match" in response.json()["error"]["message"]
    assert hearth.stack("forged")["stack_status"] == "CREATE_IN_PROGRESS"


def test_a_failure_signal_fails_the_wait_with_its_reason(hearth):
    hearth.create_stack("failing", WAIT, template_name="failing.template")
    url = handle_url(hearth, "failing")
    cfn_signal(url, {"Status": "FAILURE", "Reason": "disk full", "UniqueId": "web1", "Data": ""})
    stack = hearth.wait_stack("failing", ("CREATE_FAILED",))
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "disk full" in stack["stack_status_reason"]
    resources = hearth.resources("failing")
    assert (resources["wait"]["resource_status"], resources["after"]["resource_status"]) == (
        "CREATE_FAILED",
        "INIT_COMPLETE",
    )


def test_a_handle_url_that_is_not_this_stacks_is_refused(hearth):
    template = WAIT.replace("Handle: {Ref: handle}", "Handle: http://elsewhere.example/signal/abc?signature=x")
    hearth.create_stack("stray", template, template_name="stray.template")
    stack = hearth.wait_stack("stray", ("CREATE_FAILED",))
    assert stack["stack_status"] == "CREATE_FAILED"
    assert "is not the URL of a wait condition handle of this stack" in stack["stack_status_reason"]
