"""Notifier: a waiter returns as soon as its condition holds after a publish, or at its timeout."""

from __future__ import annotations

import threading
import time

from engine.store.notify import Notifier


def test_wait_returns_on_publish_well_before_timeout():
    notifier, state = Notifier(), {"version": 1}

    def change():
        state["version"] = 2
        notifier.publish("server:a")

    threading.Timer(0.05, change).start()
    started = time.monotonic()
    assert notifier.wait("server:a", lambda: state["version"] != 1, timeout=10)
    assert time.monotonic() - started < 5


def test_publish_on_another_topic_does_not_end_the_wait():
    notifier = Notifier()
    threading.Timer(0.02, notifier.publish, ("server:b",)).start()
    assert notifier.wait("server:a", lambda: False, timeout=0.2) is False


def test_condition_already_true_returns_at_once():
    assert Notifier().wait("t", lambda: True, timeout=10) is True
