"""Wait-condition and deployment signals from the stock clients, against a real server.

heat-cfntools 2.0.0's real `cfn-signal` (fetched from PyPI by tests/peers.py; it shells out to
the system curl) completes and fails `AWS::CloudFormation::WaitCondition`s; the `curl_cli` of an
`OS::Heat::WaitConditionHandle`, run by `sh` as a boot script runs it, and a plain curl on the
handle's pre-signed `signal` URL complete `OS::Heat::WaitCondition`s. Bodies of exactly Heat's
1 MiB are accepted on every signal URL and bigger ones get a JSON 413. Pre-signed URLs keep
working long after they were issued (Keystone's ec2tokens refused a Heat URL whose Timestamp
was 15 minutes old): time is moved by giving the running server's runtime another clock, the
seam the engine reads time through; nothing else is replaced.

One shim, said where it is used: cfn-signal logs to the fixed file /var/log/cfn-signal.log, so
it is started through `runpy` after its log is pointed into the test's directory; the script
itself runs unchanged with its own venv's python.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from engine.guest import credentials
from tests import peers
from tests.support import start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

MIB = 1024 * 1024
# Runs a console script with logging already configured, so that its own basicConfig (a fixed
# file under /var/log) is a no-op: argv = [-c, log file, script, args...].
RUN_WITH_LOG = (
    "import logging, runpy, sys; "
    "logging.basicConfig(filename=sys.argv.pop(1), level=logging.DEBUG); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.fixture(scope="module")
def cfntools() -> Path:
    """The bin directory of a venv holding heat-cfntools 2.0.0 (and boto)."""
    return peers.require("heat-cfntools")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    hearth = start_server(tmp_path_factory.mktemp("signals"))
    yield hearth
    stop_server(hearth)


def cfn_signal(cfntools: Path, log: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """The real cfn-signal: `cfn-signal [args] URL`; it PUTs with curl and exits with curl's code."""
    command = [str(cfntools / "python"), "-c", RUN_WITH_LOG, str(log), str(cfntools / "cfn-signal"), *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr + log.read_text()
    assert "cfn-signal called" in log.read_text()  # its own log line: the script really ran
    return done


def curl(*args: str) -> tuple[int, str]:
    """The system curl; (HTTP status, body)."""
    done = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def outputs_when(hearth, name: str, *keys: str) -> dict:
    """The stack's outputs once every one of `keys` has a value."""
    return wait_for(
        lambda: (lambda o: o if all(o.get(k) for k in keys) else None)(hearth.outputs(name)),
        30,
        message=f"outputs {keys} of {name}",
    )


def settled(hearth, name: str, status: str) -> dict:
    stack = hearth.wait_stack(name, (status,), timeout=30)
    assert stack["stack_status"] == status, stack["stack_status_reason"]
    return stack


def signal_events(hearth, name: str) -> list[str]:
    stack = hearth.stack(name)
    answer = hearth.http.get(f"{hearth.api}/stacks/{name}/{stack['id']}/events", timeout=30).json()
    return [
        e["resource_status_reason"]
        for e in answer["events"]
        if (e["resource_status_reason"] or "").startswith("Signal: ")
    ]


def resource_status(hearth, name: str, resource: str) -> str:
    return hearth.resources(name)[resource]["resource_status"]


def json_of_size(size: int, pad: str = "data", **fields) -> bytes:
    """A JSON object of exactly `size` bytes: `fields`, then a padding string under `pad`."""
    head = json.dumps({**fields, pad: ""}).encode()
    body = head[:-2] + b"x" * (size - len(head)) + b'"}'
    assert len(body) == size and json.loads(body)
    return body


# 1. cfn-signal and the AWS wait condition --------------------------------------------------

AWS_WAIT = """
heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 1}
resources:
  handle: {type: AWS::CloudFormation::WaitConditionHandle}
  wait:
    type: AWS::CloudFormation::WaitCondition
    properties: {Handle: {get_resource: handle}, Count: {get_param: count}, Timeout: 600}
outputs:
  url: {value: {get_resource: handle}}
  data: {value: {get_attr: [wait, Data]}}
"""


def test_cfn_signal_completes_an_aws_wait_condition_through_its_handle_url(server, cfntools, tmp_path):
    """get_resource of the handle is its URL, as in Heat; one cfn-signal completes a Count 1
    wait; its -d data is the `Data` attribute, keyed by its -i id."""
    server.create_stack("cfn-one", AWS_WAIT)
    url = outputs_when(server, "cfn-one", "url")["url"]
    assert urlparse(url).scheme == "http" and "signature=" in url
    started = time.monotonic()
    cfn_signal(cfntools, tmp_path / "cfn-signal.log", url, "-i", "web1", "-d", "10.0.0.1", "-r", "web1 is up")
    elapsed = time.monotonic() - started
    settled(server, "cfn-one", "CREATE_COMPLETE")
    assert json.loads(server.outputs("cfn-one")["data"]) == {"web1": "10.0.0.1"}
    assert signal_events(server, "cfn-one") == ["Signal: web1 is up"]
    print(f"cfn-signal, one signal: {elapsed:.2f} s")


def test_a_count_two_wait_needs_two_distinct_ids_and_a_repeated_id_replaces_its_data(server, cfntools, tmp_path):
    """As in Heat, signals are keyed by UniqueId: the same -i twice is one signal (the later
    data wins), so Count 2 is reached only by a second id; without -d cfn-signal sends its
    default data."""
    server.create_stack("cfn-two", AWS_WAIT, parameters={"count": 2})
    url = outputs_when(server, "cfn-two", "url")["url"]
    log = tmp_path / "cfn-signal.log"
    cfn_signal(cfntools, log, url, "-i", "web1", "-d", "first")
    cfn_signal(cfntools, log, url, "-i", "web1", "-d", "10.0.0.1")
    wait_for(lambda: len(signal_events(server, "cfn-two")) == 2, 30, message="two signal events")
    assert resource_status(server, "cfn-two", "wait") == "CREATE_IN_PROGRESS"
    cfn_signal(cfntools, log, url, "-i", "web2")
    settled(server, "cfn-two", "CREATE_COMPLETE")
    assert json.loads(server.outputs("cfn-two")["data"]) == {
        "web1": "10.0.0.1",
        "web2": "Application has completed configuration.",
    }


@pytest.mark.parametrize("flags", [["-e", "1"], ["-s", "false"]], ids=["exit-code", "success-false"])
def test_a_failure_signal_fails_the_wait_condition_with_its_reason(server, cfntools, tmp_path, flags):
    name = "cfn-fail-" + flags[0].strip("-")
    server.create_stack(name, AWS_WAIT)
    url = outputs_when(server, name, "url")["url"]
    cfn_signal(cfntools, tmp_path / "cfn-signal.log", url, *flags, "-i", "web1", "-r", "yum install failed")
    stack = settled(server, name, "CREATE_FAILED")
    # Heat's words: "Resource CREATE failed: WaitConditionFailure: resources.wait: <reason>".
    assert (
        stack["stack_status_reason"]
        == "Resource CREATE failed: WaitConditionFailure: resources.wait: yum install failed"
    )
    wait = server.resources(name)["wait"]
    assert wait["resource_status"] == "CREATE_FAILED"
    assert wait["resource_status_reason"] == "WaitConditionFailure: resources.wait: yum install failed"


# 2. curl_cli and the signal URL of OS::Heat::WaitConditionHandle ------------------------------

HEAT_WAIT = """
heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: handle}, timeout: 600}
  cfn_handle:
    type: OS::Heat::WaitConditionHandle
    properties: {signal_transport: CFN_SIGNAL}
  cfn_wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: cfn_handle}, timeout: 600}
  boot_script:
    type: OS::Heat::Value
    properties:
      value:
        str_replace:
          template: |
            #!/bin/sh
            set -e
            wc_notify --data-binary '{"status": "SUCCESS", "reason": "r", "data": "d", "id": "1"}'
          params:
            wc_notify: {get_attr: [handle, curl_cli]}
outputs:
  script: {value: {get_attr: [boot_script, value]}}
  alarm_url: {value: {get_attr: [cfn_handle, signal, alarm_url]}}
  data: {value: {get_attr: [wait, data]}}
  cfn_data: {value: {get_attr: [cfn_wait, data]}}
"""


def test_curl_cli_in_a_boot_script_and_a_curl_post_to_the_signal_url_complete_heat_wait_conditions(server):
    server.create_stack("curl", HEAT_WAIT)
    outputs = outputs_when(server, "curl", "script", "alarm_url")
    # The script as a template author writes it (Heat's documented str_replace of curl_cli),
    # run by sh with the system curl, as cloud-init runs user-data.
    done = subprocess.run(["sh", "-c", outputs["script"]], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/1.1 200"), done.stdout  # curl_cli has -i
    status, body = curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        '{"status": "SUCCESS", "data": "cfn"}',
        outputs["alarm_url"],
    )
    assert status == 200, body
    settled(server, "curl", "CREATE_COMPLETE")
    outputs = server.outputs("curl")
    assert json.loads(outputs["data"]) == {"1": "d"}
    assert json.loads(outputs["cfn_data"]) == {"1": "cfn"}  # no id: numbered, as in Heat
    assert sorted(signal_events(server, "curl")) == ["Signal: Signal 1 received", "Signal: r"]


def test_a_failure_through_curl_cli_fails_the_wait_condition_with_its_reason(server):
    server.create_stack(
        "curl-fail",
        HEAT_WAIT.replace('"status": "SUCCESS", "reason": "r"', '"status": "FAILURE", "reason": "disk full"'),
    )
    script = outputs_when(server, "curl-fail", "script")["script"]
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("HTTP/1.1 200"), done.stdout + done.stderr
    stack = settled(server, "curl-fail", "CREATE_FAILED")
    assert "disk full" in stack["stack_status_reason"]
    assert resource_status(server, "curl-fail", "wait") == "CREATE_FAILED"


# 3. Heat's 1 MiB on every signal URL; over the cap, a JSON 413 --------------------------------

DEPLOYMENTS = """
heat_template_version: 2018-08-31
resources:
  machine: {type: OS::Heat::DeployedServer}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: foo, description: a declared input}]
      outputs: [{name: result}]
      config: "#!/bin/sh\\necho hi\\n"
  cfn:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: CFN_SIGNAL
      input_values: {foo: bar, extra: x}
  temp_url:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: TEMP_URL_SIGNAL
      input_values: {foo: bar, extra: x}
  aws_handle: {type: AWS::CloudFormation::WaitConditionHandle}
  aws_wait:
    type: AWS::CloudFormation::WaitCondition
    properties: {Handle: {get_resource: aws_handle}, Timeout: 43200}
  handle: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: CFN_SIGNAL}}
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: handle}, timeout: 43200, count: 2}
outputs:
  aws_url: {value: {get_resource: aws_handle}}
  alarm_url: {value: {get_attr: [handle, signal, alarm_url]}}
  endpoint: {value: {get_attr: [handle, endpoint]}}
  token: {value: {get_attr: [handle, token]}}
  aws_data: {value: {get_attr: [aws_wait, Data]}}
  data: {value: {get_attr: [wait, data]}}
  cfn_stdout: {value: {get_attr: [cfn, deploy_stdout]}}
  temp_url_result: {value: {get_attr: [temp_url, result]}}
"""


def signal_urls(hearth, name: str) -> dict[str, str]:
    """The deployments' signal URLs (from the machine's metadata, read with its bootstrap
    credential through the guest API) and the handles' URLs and token."""
    machine = wait_for(
        lambda: hearth.resources(name)["machine"]["physical_resource_id"], 30, message="the machine's id"
    )
    answer = hearth.http.post(f"{hearth.api}/servers/{machine}/bootstrap", timeout=30)
    assert answer.status_code == 201, answer.text
    secret = answer.json()["bootstrap"]["credential"]

    def deployments():
        metadata = requests.get(
            f"{hearth.url}/guest/v1/servers/{machine}/metadata",
            timeout=30,
            headers={"Authorization": f"Bearer {secret}"},
        ).json()["metadata"]
        return metadata["deployments"] if len(metadata.get("deployments") or []) == 2 else None

    urls = {}
    for entry in wait_for(deployments, 30, message="two deployments in the machine's metadata"):
        inputs = {i["name"]: i["value"] for i in entry["inputs"]}
        urls[inputs["deploy_resource_name"]] = inputs["deploy_signal_id"]
    outputs = outputs_when(hearth, name, "aws_url", "alarm_url", "endpoint", "token")
    return {**urls, **{k: outputs[k] for k in ("aws_url", "alarm_url", "endpoint", "token")}}


def test_a_one_mebibyte_signal_is_accepted_on_every_signal_url_and_one_over_the_cap_is_a_json_413(server, tmp_path):
    server.create_stack("big", DEPLOYMENTS)
    urls = signal_urls(server, "big")
    stdout = {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}
    body = tmp_path / "body.json"
    # Each as its client sends it: heat-config-notify POSTs (CFN_SIGNAL) or PUTs (TEMP_URL) JSON;
    # cfn-signal PUTs with an empty Content-Type; curl_cli POSTs with the token; a script POSTs
    # to the handle's pre-signed URL.
    sends = [
        (
            "cfn deployment",
            ["-X", "POST", "-H", "Content-Type: application/json", urls["cfn"]],
            lambda size: json_of_size(size, "result", **{**stdout, "deploy_stdout": "1 MiB"}),
        ),
        (
            "temp_url deployment",
            ["-X", "PUT", "-H", "Content-Type: application/json", urls["temp_url"]],
            lambda size: json_of_size(size, "result", **stdout),
        ),
        (
            "AWS handle URL",
            ["-X", "PUT", "-H", "Content-Type:", urls["aws_url"]],
            lambda size: json_of_size(size, "Data", Status="SUCCESS", Reason="big", UniqueId="big"),
        ),
        (
            "handle token endpoint",
            [
                "-X",
                "POST",
                "-H",
                f"X-Auth-Token: {urls['token']}",
                "-H",
                "Content-Type: application/json",
                urls["endpoint"],
            ],
            lambda size: json_of_size(size, status="SUCCESS", id="token"),
        ),
        (
            "handle pre-signed URL",
            ["-X", "POST", "-H", "Content-Type: application/json", urls["alarm_url"]],
            lambda size: json_of_size(size, status="SUCCESS", id="url"),
        ),
    ]
    limit = server.config.max_signal_bytes
    for what, args, make in sends:
        body.write_bytes(make(limit + 1))
        status, answer = curl("--data-binary", f"@{body}", *args)
        assert status == 413, f"{what}: {answer}"
        error = json.loads(answer)["error"]
        assert error["code"] == "payload_too_large", what
        assert f"at most {limit} bytes" in error["message"] and "max_signal_bytes" in error["message"]
        body.write_bytes(make(MIB))
        started = time.monotonic()
        status, answer = curl("--data-binary", f"@{body}", *args)
        assert status == 200, f"{what}: {answer}"
        print(f"{what}: 1 MiB accepted in {time.monotonic() - started:.2f} s")
    settled(server, "big", "CREATE_COMPLETE")
    outputs = server.outputs("big")
    assert outputs["cfn_stdout"] == "1 MiB"
    assert len(outputs["temp_url_result"]) > MIB - 100 and set(outputs["temp_url_result"]) == {"x"}
    aws_data = json.loads(outputs["aws_data"])
    assert list(aws_data) == ["big"] and len(aws_data["big"]) > MIB - 100
    data = json.loads(outputs["data"])
    assert sorted(data) == ["token", "url"] and all(len(v) > MIB - 100 for v in data.values())


# 4. Pre-signed URLs and clock skew -----------------------------------------------------------


def test_presigned_urls_carry_an_expiry_not_a_timestamp_and_work_until_it(tmp_path):
    """Keystone's ec2tokens refused a Heat signal URL whose Timestamp was more than 15 minutes
    old, so a deployment that ran longer, or a Heat node whose clock ran ahead, broke signals.
    Hearth's URLs carry their own expiry (presigned_url_ttl, 7 days by default): a deployment
    URL and an AWS handle URL used 20 minutes after they were issued complete the stack, and
    used again a minute before their expiry are still accepted; only past the expiry plus the
    documented 15-minute skew allowance are they refused."""
    hearth = start_server(tmp_path)
    runtime = hearth.service.runtime
    offset = [dt.timedelta()]
    real = runtime.clock
    runtime.clock = lambda: real() + offset[0]
    try:
        hearth.create_stack("skew", DEPLOYMENTS)
        urls = signal_urls(hearth, "skew")
        issued = dt.datetime.now(dt.UTC)
        for key in ("cfn", "temp_url", "aws_url", "alarm_url"):
            query = parse_qs(urlparse(urls[key]).query)
            assert set(query) == {"expires", "signature"}, urls[key]  # no Timestamp to go stale
            expires = dt.datetime.fromtimestamp(int(query["expires"][0]), dt.UTC)
            lifetime = (expires - issued).total_seconds()
            # Issued just now for presigned_url_ttl, whatever the host's time zone (naive UTC
            # times are read as UTC, not as local time).
            assert abs(lifetime - hearth.config.presigned_url_ttl) < 60, (key, lifetime)

        def send(key: str) -> int:
            verb = "PUT" if key in ("temp_url", "aws_url") else "POST"
            if key in ("cfn", "temp_url"):
                body = {"deploy_stdout": "done", "deploy_stderr": "", "deploy_status_code": 0}
            elif key == "aws_url":
                body = {"Status": "SUCCESS", "Reason": "up", "UniqueId": "web1", "Data": "ok"}
            else:
                body = {"status": "SUCCESS", "id": "late"}
            return requests.request(
                verb, urls[key], data=json.dumps(body), timeout=30, headers={"Content-Type": ""}
            ).status_code

        offset[0] = dt.timedelta(minutes=20)  # past Keystone's 15 minutes
        for key in ("cfn", "temp_url", "aws_url", "alarm_url"):
            assert send(key) == 200, key
        # count 2 on the native handle: a second id from its token, so the stack completes.
        answer = requests.post(
            urls["endpoint"], json={"id": "second"}, timeout=30, headers={"X-Auth-Token": urls["token"]}
        )
        assert answer.status_code == 200, answer.text
        settled(hearth, "skew", "CREATE_COMPLETE")

        for key in ("cfn", "temp_url", "aws_url", "alarm_url"):
            expires = int(parse_qs(urlparse(urls[key]).query)["expires"][0])
            at_expiry = dt.datetime.fromtimestamp(expires, dt.UTC).replace(tzinfo=None)
            offset[0] = at_expiry - real() - dt.timedelta(minutes=1)
            assert offset[0] > dt.timedelta(days=6), key
            assert send(key) == 200, key  # the same signal again: harmless, and still signed
            offset[0] = at_expiry - real() + credentials.CLOCK_SKEW_ALLOWANCE + dt.timedelta(minutes=2)
            verb = "PUT" if key in ("temp_url", "aws_url") else "POST"
            answer = requests.request(verb, urls[key], data="{}", headers={"Content-Type": ""}, timeout=30)
            assert answer.status_code == 403 and "expired" in answer.json()["error"]["message"], key
    finally:
        runtime.clock = real
        stop_server(hearth)


GATED = """
heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 1}
  timeout: {type: number, default: 600}
resources:
  gate_handle: {type: OS::Heat::WaitConditionHandle}
  gate:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: gate_handle}, timeout: 600}
  handle: {type: OS::Heat::WaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    depends_on: gate
    properties:
      handle: {get_resource: handle}
      count: {get_param: count}
      timeout: {get_param: timeout}
outputs:
  gate: {value: {get_attr: [gate_handle, curl_cli]}}
  notify: {value: {get_attr: [handle, curl_cli]}}
"""


def notify(curl_cli: str, body: dict) -> None:
    done = subprocess.run(
        ["sh", "-c", f"{curl_cli} --data-binary {shlex.quote(json.dumps(body))}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("HTTP/1.1 200"), done.stdout + done.stderr


@pytest.mark.parametrize(
    "count,timeout,status,expected",
    [
        (1, 600, "FAILURE", "WaitConditionFailure: resources.wait: disk full;no network"),
        (3, 1, "SUCCESS", "resources.wait: 2 of 3 received - disk ok;network ok"),
    ],
    ids=["failure", "timeout"],
)
def test_reasons_of_several_signals_are_joined_as_heat_joins_them(server, count, timeout, status, expected):
    """Heat's WaitConditionFailure and WaitConditionTimeout join the signals' reasons with ';'.
    The wait starts only after both signals are stored (it depends on a gate signalled last),
    so both are counted whatever the timing."""
    name = f"joined-{status.lower()}"
    server.create_stack(name, GATED, parameters={"count": count, "timeout": timeout})
    outputs = outputs_when(server, name, "gate", "notify")
    words = ("disk full", "no network") if status == "FAILURE" else ("disk ok", "network ok")
    for number, reason in enumerate(words, 1):
        notify(outputs["notify"], {"status": status, "reason": reason, "id": str(number)})
    notify(outputs["gate"], {})
    stack = settled(server, name, "CREATE_FAILED")
    wait = server.resources(name)["wait"]
    assert wait["resource_status"] == "CREATE_FAILED"
    assert wait["resource_status_reason"].endswith(expected), wait["resource_status_reason"]
    assert expected in stack["stack_status_reason"], stack["stack_status_reason"]
