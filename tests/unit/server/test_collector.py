"""The serving process's garbage-collector policy (metadata_server/collector.py), each case in a
fresh interpreter so that this test process keeps CPython's own policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_installed_policy_freezes_start_state_and_frees_an_old_cycle_on_its_timer():
    seen = run(
        """
import gc, json, time, weakref
from metadata_server import collector

class Node:
    pass

policy = collector.install(0.2)
assert collector.install(5) is policy  # once per process
frozen = gc.get_freeze_count()
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
gc.collect(1)  # the cycle, still referenced, moves to the old generation
del a, b
# Young collections never look at the old generation: only the timer's full collection frees it.
deadline = time.monotonic() + 30
while gone() is not None and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"threshold": gc.get_threshold(), "frozen": frozen, "freed": gone() is None,
                  "collections": policy.collections}))
"""
    )
    assert seen["threshold"] == [20_000, 50, 1_000_000_000]
    assert seen["frozen"] > 1000  # the interpreter and the imported modules
    assert seen["freed"] is True
    assert seen["collections"] >= 1


def test_zero_keeps_cpythons_policy():
    seen = run(
        """
import gc, json
from metadata_server import collector
before = gc.get_threshold()
print(json.dumps({"policy": collector.install(0) is None, "same": gc.get_threshold() == before,
                  "frozen": gc.get_freeze_count()}))
"""
    )
    assert seen == {"policy": True, "same": True, "frozen": 0}
