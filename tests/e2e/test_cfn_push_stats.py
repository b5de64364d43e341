"""CloudWatch PutMetricData with the real client: heat-cfntools 2.0.0's `cfn-push-stats` (boto
2.49's CloudWatchConnection, signature version 4 over a POSTed form), from PyPI into a venv of
its own (tests/peers.py), against a real Hearth server on 127.0.0.1 and a real stack whose
server has the POLL_SERVER_CFN key pair, written as /etc/cfn/cfn-credentials would hold it.
A second test runs the chain alarms are for: `--watch <an AWS::CloudWatch::Alarm's Ref>` trips
that alarm, evaluated by Hearth, whose action a real HTTP receiver gets. Nothing is mocked;
without the peer this fails under CI and skips elsewhere.

cfn-push-stats hard-codes port 8003 and path /v1 (Heat's heat-api-cloudwatch) and takes the
host from the boto config (`cloudwatch_region_endpoint`). Port 8003 cannot be counted on in a
test, so the boto config names Hearth's port as its HTTP proxy (`proxy`, `proxy_port`): boto
then sends `POST http://127.0.0.1:8003/v1/` to Hearth, signed for host 127.0.0.1:8003, path
/v1/, as it would send it to a Hearth guest listener on port 8003 (docs/guest-api.md, Metrics).
Its other hard-coded paths (BOTO_CONFIG=/var/lib/heat-cfntools/cfn-boto-cfg, the log in
/var/log, Nova's meta_data.json cached in /var/lib/heat-cfntools) are moved under a temp
directory by a small `python -c` wrapper that then runs the unchanged console script.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.store.models import AuditEvent, MetricSample
from tests import peers
from tests.support import start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

# Runs the unchanged cfn-push-stats script with its hard-coded paths moved under argv[1].
WRAPPER = """
import logging, os, runpy, sys
root, script = sys.argv[1], sys.argv[2]
os.environ["BOTO_CONFIG"] = os.path.join(root, "cfn-boto-cfg")
import boto  # reads BOTO_CONFIG now, before the script overrides it
from heat_cfntools.cfntools import cfn_helper
cfn_helper.Metadata.get_nova_meta.__defaults__ = (os.path.join(root, "nova_meta.json"),)
_file_handler = logging.FileHandler
logging.FileHandler = lambda name, *a, **k: _file_handler(
    os.path.join(root, os.path.basename(name)) if name.startswith("/var/log/") else name, *a, **k)
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
"""

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  web:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  db:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
outputs:
  web_cfn: {value: {get_attr: [web, os_collect_config, cfn]}}
  db_cfn: {value: {get_attr: [db, os_collect_config, cfn]}}
"""


@pytest.fixture(scope="module")
def cfntools_bin() -> Path:
    return peers.require("heat-cfntools")


def run_cfn_push_stats(
    bin_dir: Path, port: int, key: dict, instance_id: str, workdir: Path, *args: str
) -> subprocess.CompletedProcess:
    """cfn-push-stats as a guest runs it, its /var and /etc paths under `workdir` (see WRAPPER)."""
    workdir.mkdir(parents=True, exist_ok=True)
    # What Heat's user data writes, with Hearth's address; and the proxy that stands in for port 8003.
    (workdir / "cfn-boto-cfg").write_text(
        "[Boto]\ndebug = 0\nis_secure = 0\nhttps_validate_certificates = 1\n"
        "cloudwatch_region_name = hearth\ncloudwatch_region_endpoint = 127.0.0.1\n"
        f"proxy = 127.0.0.1\nproxy_port = {port}\n"
    )
    credentials = workdir / "cfn-credentials"
    credentials.write_text(f"AWSAccessKeyId={key['access_key_id']}\nAWSSecretKey={key['secret_access_key']}\n")
    # Nova's meta_data.json, as cfn-push-stats caches it: its tags become dimensions.
    (workdir / "nova_meta.json").write_text(json.dumps({"uuid": instance_id, "meta": {"tier": "web"}}))
    command = [
        str(bin_dir / "python"),
        "-c",
        WRAPPER,
        str(workdir),
        str(bin_dir / "cfn-push-stats"),
        "--credential-file",
        str(credentials),
        *args,
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def test_cfn_push_stats_stores_its_datums_with_the_alarm_name_for_the_signing_server(tmp_path, cfntools_bin):
    hearth = start_server(tmp_path, compute="deployed")
    port = hearth.httpd.server_port
    try:
        hearth.create_stack("fleet", TEMPLATE)
        stack = hearth.wait_stack("fleet", ("CREATE_COMPLETE",), timeout=30)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        web = hearth.resources("fleet")["web"]["physical_resource_id"]
        outputs = hearth.outputs("fleet")

        result = run_cfn_push_stats(
            cfntools_bin,
            port,
            outputs["web_cfn"],
            web,
            tmp_path / "web",
            "--watch",
            "web-high",
            "--metric",
            "QueueDepth",
            "--units",
            "Count",
            "--value",
            "17",
            "--heartbeat",
        )
        assert result.returncode == 0, result.stderr[-3000:]

        def stored():
            with hearth.service.runtime.store.session() as session:
                rows = session.scalars(select(MetricSample).order_by(MetricSample.name)).all()
                return [(r.project, r.server_id, r.namespace, r.name, r.value, r.unit, r.dimensions) for r in rows]

        dimensions = {"AlarmName": "web-high", "InstanceId": web, "tier": "web"}
        assert stored() == [
            ("admin", web, "system/linux", "Heartbeat", 1.0, "Counter", dimensions),
            ("admin", web, "system/linux", "QueueDepth", 17.0, "Count", dimensions),
        ]

        # Another server's key pair with web's instance id: stored for the key's server, never web.
        db = hearth.resources("fleet")["db"]["physical_resource_id"]
        result = run_cfn_push_stats(cfntools_bin, port, outputs["db_cfn"], web, tmp_path / "db", "--heartbeat")
        assert result.returncode == 0, result.stderr[-3000:]
        assert [row[1] for row in stored()].count(db) == 1

        # A key whose secret is wrong is refused (403, AccessDenied): boto raises, nothing stored.
        forged = {**outputs["web_cfn"], "secret_access_key": outputs["db_cfn"]["secret_access_key"]}
        result = run_cfn_push_stats(cfntools_bin, port, forged, web, tmp_path / "forged", "--heartbeat")
        assert result.returncode != 0 and "403" in result.stderr and "AccessDenied" in result.stderr
        assert len(stored()) == 3
        with hearth.service.runtime.store.session() as session:
            record = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
            assert record.action == "auth.failed" and record.detail["operation"] == "PutMetricData"
            assert forged["secret_access_key"] not in json.dumps(record.detail)
    finally:
        stop_server(hearth)


ALARMED = """
heat_template_version: 2018-08-31
parameters:
  action: {type: string}
resources:
  web:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  queue_high:
    type: AWS::CloudWatch::Alarm
    properties:
      MetricName: QueueDepth
      Namespace: system/linux
      Statistic: Maximum
      Period: "60"
      EvaluationPeriods: "1"
      Threshold: "10"
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [{get_param: action}]
outputs:
  web_cfn: {value: {get_attr: [web, os_collect_config, cfn]}}
  alarm: {value: {get_resource: queue_high}}
"""


def test_a_datum_from_cfn_push_stats_trips_the_alarm_it_names(tmp_path, cfntools_bin):
    """The chain alarms are for: `cfn-push-stats --watch <the alarm's Ref>` stores a datum with
    that AlarmName, Hearth's evaluator reads it and POSTs the alarm's action."""
    posted: queue.Queue = queue.Queue()

    class Action(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.put(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Action)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hearth = start_server(tmp_path, compute="deployed", alarm_evaluation_interval=0.2)
    try:
        action = f"http://127.0.0.1:{receiver.server_port}/scale-up"
        hearth.create_stack("alarmed", ALARMED, parameters={"action": action})
        stack = hearth.wait_stack("alarmed", ("CREATE_COMPLETE",), timeout=30)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        outputs = hearth.outputs("alarmed")
        web = hearth.resources("alarmed")["web"]["physical_resource_id"]
        result = run_cfn_push_stats(
            cfntools_bin,
            hearth.httpd.server_port,
            outputs["web_cfn"],
            web,
            tmp_path / "web",
            "--watch",
            outputs["alarm"],
            "--metric",
            "QueueDepth",
            "--units",
            "Count",
            "--value",
            "17",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        body = posted.get(timeout=30)
        assert body["current"] == "alarm" and body["reason_data"]["most_recent"] == 17.0, body
    finally:
        stop_server(hearth)
        receiver.shutdown()
        receiver.server_close()


SCALED = """
heat_template_version: 2018-08-31
resources:
  monitor:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  config:
    type: AWS::AutoScaling::LaunchConfiguration
    properties: {ImageId: fedora, InstanceType: m1.small}
  web:
    type: AWS::AutoScaling::AutoScalingGroup
    properties:
      AvailabilityZones: [nova]
      LaunchConfigurationName: {get_resource: config}
      MinSize: 1
      MaxSize: 3
  up:
    type: AWS::AutoScaling::ScalingPolicy
    properties:
      AutoScalingGroupName: {get_resource: web}
      AdjustmentType: ChangeInCapacity
      ScalingAdjustment: 1
      Cooldown: 60
  queue_high:
    type: AWS::CloudWatch::Alarm
    properties:
      MetricName: QueueDepth
      Namespace: system/linux
      Statistic: Maximum
      Period: "60"
      EvaluationPeriods: "1"
      Threshold: "10"
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [{get_resource: up}]
outputs:
  monitor_cfn: {value: {get_attr: [monitor, os_collect_config, cfn]}}
  alarm: {value: {get_resource: queue_high}}
"""


def test_cfn_push_stats_feeds_a_cloudwatch_alarm_that_scales_an_aws_group(tmp_path, cfntools_bin):
    """The AWS chain, end to end: `cfn-push-stats --watch <AWS::CloudWatch::Alarm>` over the
    threshold, the alarm (evaluated by Hearth) POSTs its action, the AWS::AutoScaling::ScalingPolicy's
    Ref (its signed alarm URL), and the AWS::AutoScaling::AutoScalingGroup grows by one."""
    hearth = start_server(tmp_path, compute="deployed", alarm_evaluation_interval=0.2)
    try:
        hearth.create_stack("aws-scaled", SCALED)
        stack = hearth.wait_stack("aws-scaled", ("CREATE_COMPLETE",), timeout=60)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        group = hearth.resources("aws-scaled")["web"]["physical_resource_id"]
        assert len(hearth.service.runtime.stacks.resource_names(group)) == 1
        outputs = hearth.outputs("aws-scaled")
        monitor = hearth.resources("aws-scaled")["monitor"]["physical_resource_id"]
        result = run_cfn_push_stats(
            cfntools_bin,
            hearth.httpd.server_port,
            outputs["monitor_cfn"],
            monitor,
            tmp_path / "monitor",
            "--watch",
            outputs["alarm"],
            "--metric",
            "QueueDepth",
            "--units",
            "Count",
            "--value",
            "42",
        )
        assert result.returncode == 0, result.stderr[-3000:]

        def grown():
            events = hearth.http.get(f"{hearth.api}/stacks/aws-scaled/{stack['id']}/events", timeout=30).json()
            done = [
                e for e in events["events"] if e["resource_name"] == "web" and e["resource_status"] == "SIGNAL_COMPLETE"
            ]
            return done and len(hearth.service.runtime.stacks.resource_names(group)) == 2

        wait_for(grown, 60, 0.2, "the AWS group to grow by one")
        # The policy's Heat reason: the alarm's transition, as Aodh words it.
        events = hearth.http.get(f"{hearth.api}/stacks/aws-scaled/{stack['id']}/events", timeout=30).json()["events"]
        up = [e["resource_status_reason"] for e in events if e["resource_name"] == "up"]
        assert any(r.startswith("alarm state changed from insufficient data to alarm") for r in up), up
    finally:
        stop_server(hearth)
