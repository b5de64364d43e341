"""One lane of Heat's functional suite: runs test ids it reads on stdin, one after another.

Runs with the python of the pinned test venv (openstack-heat, tempest, heat-tempest-plugin;
see run.py), never with Hearth's: it imports the tests from the openstack-heat wheel as they
ship and changes none of them. run.py starts one lane per job, each with a tempest.conf of its
own (TEMPEST_CONFIG_DIR) naming its own Hearth project and users.

    python lane.py --list              every test id of the selected modules, one JSON a line
    python lane.py --serve --timeout S --grace G
        reads "<test id>\\t<log path>" lines; for each, runs the test with its stdout and stderr
        (tempest's log) sent to the log file, and answers one "@@RESULT {json}" line on
        stdout: {"id", "status": PASS|FAIL|SKIP, "reason", "secs"}.

A test that runs past S seconds gets SIGALRM inside it (so its cleanups still delete its
stacks), then G more seconds for those cleanups; run.py kills a lane that outlives even that.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
import traceback
import unittest

sys.dont_write_bytecode = True
PACKAGE = "heat_integrationtests.functional"

# Modules whose tests need nothing but the orchestration API and the identity service.
MODULES = (
    "test_abandon_adopt",
    "test_admin_actions",
    "test_conditional_exposure",
    "test_conditions",
    "test_create_update",
    "test_default_parameters",
    "test_delete",
    "test_env_merge",
    "test_heat_autoscaling",
    "test_immutable_parameters",
    "test_nested_get_attr",
    "test_preview_update",
    "test_resource_chain",
    "test_resource_group",
    "test_simultaneous_update",
    "test_software_deployment_group",
    "test_stack_cancel",
    "test_template_resource",
    "test_template_versions",
    "test_update_restricted",
    "test_versionnegotiation",
)
# Modules of the suite left out, and why (docs/heat-differences.md lists them too).
LEFT_OUT_MODULES = {
    "test_autoscaling": "AWS::AutoScaling::LaunchConfiguration checks ImageId and InstanceType "
    "against Glance and Nova (real Heat: no image service endpoint)",
    "test_instance_group": "the same LaunchConfiguration: Glance and Nova validate it",
    "test_aws_stack": "Swift: nested templates are uploaded to a container",
    "test_cancel_update": "Nova and Neutron: boots a server",
    "test_keystone_user_with_domain": "Keystone's admin API (OS::Keystone::* resources, domains)",
    "test_notifications": "the RabbitMQ notification bus (kombu)",
    "test_purge": "runs heat-manage purge_deleted on the test host (direct database access)",
    "test_replace_deprecated": "Nova and Neutron: boots servers",
    "test_snapshot_restore": "Nova and Neutron: boots a server",
    "test_swiftsignal_update": "Swift (OS::Heat::SwiftSignalHandle)",
    "test_translation": "Neutron (and Nova) resources",
    "test_validation": "Nova: boots a server with a deployment",
}
# Single tests of the selected modules that need another service.
LEFT_OUT_TESTS = {
    "test_create_update.UpdateStackTest.test_stack_update_flavor_volume": "Nova and Cinder",
    "test_create_update.UpdateStackTest.test_stack_update_with_replacing_userdata": "Nova and Neutron",
}


class SoftTimeout(Exception):
    """Raised inside a test that ran past its time."""


def left_out(test_id: str) -> str | None:
    base = test_id.split("(", 1)[0]
    return LEFT_OUT_TESTS.get(base)


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


_loaded: dict[str, dict[str, unittest.TestCase]] = {}


def tests_of(module: str) -> dict[str, unittest.TestCase]:
    """{short id: test} of one module, with its scenarios expanded as testr would."""
    if module not in _loaded:
        import testscenarios

        found = testscenarios.generate_scenarios(
            unittest.TestLoader().loadTestsFromModule(importlib.import_module(f"{PACKAGE}.{module}"))
        )
        _loaded[module] = {t.id().removeprefix(PACKAGE + "."): t for t in _flatten(found)}
    return _loaded[module]


class Outcome(unittest.TestResult):
    """The first verdict of one test (a cleanup error after a failure does not replace it)."""

    def __init__(self):
        super().__init__()
        self.status, self.detail = None, ""

    def _failed(self, err):
        if self.status != "FAIL":
            self.status, self.detail = "FAIL", "".join(traceback.format_exception(*err))

    def addError(self, test, err):
        self._failed(err)

    def addFailure(self, test, err):
        self._failed(err)

    def addSkip(self, test, reason):
        if self.status is None:
            self.status, self.detail = "SKIP", str(reason)

    def addSuccess(self, test):
        if self.status is None:
            self.status = "PASS"

    def addExpectedFailure(self, test, err):
        self.status = "PASS"

    def addUnexpectedSuccess(self, test):
        self.status, self.detail = "FAIL", "unexpected success"


def run_one(test_id: str, timeout: int, grace: int) -> dict:
    module = test_id.split(".", 1)[0]
    test = tests_of(module).get(test_id) if module in MODULES else None
    if test is None:
        return {"id": test_id, "status": "FAIL", "reason": "no such test in the selected modules", "secs": 0}
    fired = []

    def alarm(signum, frame):
        fired.append(time.monotonic())
        if len(fired) == 1:
            signal.alarm(grace)
            raise SoftTimeout(f"the test ran past {timeout} s")
        raise SoftTimeout(f"its cleanups ran past {grace} s more")

    previous = signal.signal(signal.SIGALRM, alarm)
    outcome, started = Outcome(), time.monotonic()
    signal.alarm(timeout)
    try:
        test.run(outcome)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    status = outcome.status or "FAIL"
    detail = outcome.detail or ("" if outcome.status else "the test recorded no outcome")
    if status == "FAIL":
        print("\n==== outcome ====\n" + detail, file=sys.stderr, flush=True)
        lines = [line for line in detail.strip().splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else "failed"
        if fired:
            reason = f"TIMEOUT after {timeout} s ({reason})"
    else:
        reason = detail
    return {
        "id": test_id,
        "status": status,
        "reason": " ".join(reason.split())[:600],
        "secs": round(time.monotonic() - started, 1),
    }


def serve(timeout: int, grace: int) -> None:
    answer = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        test_id, _, log_path = line.rstrip("\n").partition("\t")
        if not test_id:
            continue
        with open(log_path or os.devnull, "a") as log:
            saved = os.dup(1), os.dup(2)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                result = run_one(test_id, timeout, grace)
            except BaseException as error:  # noqa: BLE001 - a lane answers for every test given
                result = {
                    "id": test_id,
                    "status": "FAIL",
                    "secs": 0,
                    "reason": f"the lane failed to run it: {type(error).__name__}: {error}",
                }
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        answer.write("@@RESULT " + json.dumps(result) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--timeout", type=int, default=480)
    parser.add_argument("--grace", type=int, default=120)
    args = parser.parse_args()
    if args.list:
        for module in MODULES:
            for test_id in sorted(tests_of(module)):
                print(json.dumps({"id": test_id, "left_out": left_out(test_id)}))
        for module, why in sorted(LEFT_OUT_MODULES.items()):
            print(json.dumps({"module": module, "left_out": why}))
        return 0
    if args.serve:
        serve(args.timeout, args.grace)
        return 0
    parser.error("give --list or --serve")
    return 2


if __name__ == "__main__":
    sys.exit(main())
