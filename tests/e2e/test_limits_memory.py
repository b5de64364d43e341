"""A real server process sent templates that amplify (a few KB that would expand to gigabytes)
keeps its memory bounded: each is refused, or fails its stack, before the memory is spent.
Memory is the server's resident set (VmRSS in /proc/PID/status)."""

from __future__ import annotations

import time

import pytest
import requests
import yaml

from tests.support import AUTH, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

HUNDRED = list(range(100))
HOT = "2018-08-31"
# What the server may grow by while it refuses all of them (it would be gigabytes otherwise).
GROWTH_MB = 200


def value(expression) -> dict:
    return {
        "heat_template_version": HOT,
        "resources": {"v": {"type": "OS::Heat::Value", "properties": {"value": expression}}},
    }


def nested_str_replace(depth: int) -> dict:
    """str_replace whose param is a str_replace ...: each level multiplies the text by 1000."""
    expression: object = "x" * 100
    for level in range(depth):
        mark = chr(ord("A") + level)
        expression = {"str_replace": {"template": mark * 1000, "params": {mark: expression}}}
    return value(expression)


def concatenated_chain() -> dict:
    """Values each concatenating the one before 100 times over: 100, 10^4, 10^6, 10^8 items."""
    resources = {"v0": {"type": "OS::Heat::Value", "properties": {"value": HUNDRED}}}
    for i in range(1, 5):
        resources[f"v{i}"] = {
            "type": "OS::Heat::Value",
            "properties": {"value": {"list_concat": [{"get_attr": [f"v{i - 1}", "value"]}] * 100}},
        }
    return {"heat_template_version": HOT, "resources": resources}


def self_nesting() -> tuple[dict, dict]:
    files = {
        "a.yaml": yaml.safe_dump(
            {
                "heat_template_version": HOT,
                "resources": {
                    "again": {"type": "a.yaml"},
                    "more": {
                        "type": "OS::Heat::ResourceGroup",
                        "properties": {"count": 100, "resource_def": {"type": "OS::Heat::None"}},
                    },
                },
            }
        )
    }
    return {"heat_template_version": HOT, "resources": {"top": {"type": "a.yaml"}}}, files


SHAPES = {
    "repeat over four 100-item lists": value(
        {
            "repeat": {
                "template": "%a%-%b%-%c%-%d%",
                "for_each": {"%a%": HUNDRED, "%b%": HUNDRED, "%c%": HUNDRED, "%d%": HUNDRED},
            }
        }
    ),
    "str_replace growth": nested_str_replace(4),
    "one parameter a thousand times": {
        "heat_template_version": HOT,
        "parameters": {"p": {"type": "string", "default": "y" * 200_000}},
        "resources": {"v": {"type": "OS::Heat::Value", "properties": {"value": [{"get_param": "p"}] * 1000}}},
    },
    "list_join of a shared long text": value({"list_join": ["-" * 100_000, ["z"] * 1000]}),
    "nested list_concat across resources": concatenated_chain(),
    "group of ten million": {
        "heat_template_version": HOT,
        "resources": {
            "g": {
                "type": "OS::Heat::ResourceGroup",
                "properties": {"count": 10_000_000, "resource_def": {"type": "OS::Heat::None"}},
            }
        },
    },
    "group of groups": {
        "heat_template_version": HOT,
        "resources": {
            "g": {
                # 500 groups fit; their nested stacks of 500 fill the tree to max_resources_per_tree
                # (10,000) after about twenty of them, and the next is refused.
                "type": "OS::Heat::ResourceGroup",
                "properties": {
                    "count": 500,
                    "resource_def": {
                        "type": "OS::Heat::ResourceGroup",
                        "properties": {"count": 500, "resource_def": {"type": "OS::Heat::None"}},
                    },
                },
            }
        },
    },
    "deep nesting": self_nesting(),
}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_amplifying_templates_leave_the_server_s_memory_bounded(tmp_path):
    server = ServerProcess(tmp_path)
    server.start()
    try:
        amplify(server)
    finally:
        server.stop()  # also when an assertion failed: a server left running outlives the test


# Each shape must end well before a runaway expansion would: "group of groups", the slowest,
# builds 10,000 resources before the limit refuses it, about 9 s on a quiet 2-core machine
# (20 s once under CI's three loaded workers). This bounds a runaway, it does not time the
# engine (bench/stack_create.py does that).
SHAPE_SECONDS = 60


def amplify(server: ServerProcess) -> None:
    api = f"{server.url}/v1/admin"
    pid = server.process.pid
    # Warm up: the first requests load code and caches that any server has once it has served.
    for number in range(2):
        body = {"stack_name": f"warm{number}", "template": value({"list_join": [",", ["a", "b"]]})}
        assert requests.post(f"{api}/stacks", json=body, headers=AUTH, timeout=30).status_code == 201
        wait_for(
            lambda number=number: server.stack(f"warm{number}")["stack_status"] == "CREATE_COMPLETE",
            30,
            0.05,
            "warm-up",
        )
    before = rss_mb(pid)
    peak = before
    answers = {}
    for round_ in range(2):
        for number, (name, shape) in enumerate(SHAPES.items()):
            template, files = shape if isinstance(shape, tuple) else (shape, {})
            stack_name = f"shape{round_}-{number}"
            started = time.monotonic()
            response = requests.post(
                f"{api}/stacks",
                json={"stack_name": stack_name, "template": template, "files": files},
                headers=AUTH,
                timeout=60,
            )
            peak = max(peak, rss_mb(pid))
            if response.status_code == 201:
                stack = wait_for(
                    lambda stack_name=stack_name: (
                        lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None
                    )(server.stack(stack_name)),
                    60,
                    0.05,
                    f"{name} to end",
                )
                answers[name] = (201, stack["stack_status"], stack["stack_status_reason"])
            else:
                error = response.json()["error"]
                answers[name] = (response.status_code, error["type"], error["message"])
            took = time.monotonic() - started
            assert took < SHAPE_SECONDS, f"{name} took {took:.1f} s"
            peak = max(peak, rss_mb(pid))
    for name, answer in answers.items():
        assert answer[0] == 400 or answer[1] == "CREATE_FAILED", (name, answer)
        assert "Request limit exceeded" in answer[2] or "RequestLimitExceeded" in answer[2], (name, answer)
    assert peak - before < GROWTH_MB, f"the server grew from {before:.0f} MB to {peak:.0f} MB: {answers}"
    assert requests.get(f"{api}/stacks", headers=AUTH, timeout=10).status_code == 200
