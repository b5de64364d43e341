"""Notifier: a waiter (thread or asyncio task) returns as soon as its condition holds after a publish,
or at its timeout; subscribers, version hints and the bridge see what they should."""

from __future__ import annotations

import asyncio
import threading
import time

from engine.store.notify import EVERYTHING, Notifier


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


def test_wait_async_is_resolved_by_a_publish_from_another_thread():
    notifier = Notifier()

    async def waiting():
        seen = notifier.counter("server:a")
        threading.Timer(0.05, notifier.publish, ("server:a",)).start()
        return await notifier.wait_async("server:a", seen, timeout=10), notifier.waiting()

    started = time.monotonic()
    assert asyncio.run(waiting()) == (True, 0)
    assert time.monotonic() - started < 5


def test_wait_async_returns_false_at_its_timeout_and_leaves_no_waiter():
    notifier = Notifier()

    async def waiting():
        return await notifier.wait_async("server:a", notifier.counter("server:a"), timeout=0.05)

    assert asyncio.run(waiting()) is False
    assert notifier.waiting() == 0


def test_a_publish_between_counter_and_wait_async_is_not_missed():
    notifier = Notifier()
    seen = notifier.counter("server:a")
    notifier.publish("server:a")  # before the task parks: the counter has moved past `seen`

    async def waiting():
        return await notifier.wait_async("server:a", seen, timeout=10)

    started = time.monotonic()
    assert asyncio.run(waiting()) is True
    assert time.monotonic() - started < 1


def test_subscribers_hear_topics_under_their_prefix_and_everything():
    notifier, wakes, all_topics = Notifier(), [], []
    notifier.subscribe("wake:", wakes.append)
    notifier.subscribe("", all_topics.append)
    notifier.publish("wake:s:web")
    notifier.publish("stack:s")
    notifier.publish_everything()
    assert wakes == ["wake:s:web", EVERYTHING]
    assert all_topics == ["wake:s:web", "stack:s", EVERYTHING]


def test_a_local_publish_reaches_the_bridge_and_a_remote_one_does_not():
    notifier, sent = Notifier(), []

    class Recording:
        def send(self, topic, hint):
            sent.append((topic, hint))

    notifier.bridge = Recording()
    notifier.publish("server:a", (3, {"doc": 1}))
    notifier.publish("server:b", hint=9, remote=True)
    assert sent == [("server:a", 3)]
    assert notifier.latest("server:a") == (3, {"doc": 1}) and notifier.latest("server:b") is None


def test_hint_keeps_the_highest_version_until_a_publish_without_one():
    notifier = Notifier()
    notifier.publish("server:a", hint=6, remote=True)
    notifier.publish("server:a", hint=5, remote=True)  # an older change's notification, late
    assert notifier.hint("server:a") == 6
    notifier.publish("server:a")
    assert notifier.hint("server:a") is None
    notifier.publish("server:a", hint=7)
    notifier.publish_everything()
    assert notifier.hint("server:a") is None


def test_newer_tells_a_waiter_whether_what_was_published_may_be_newer_than_its_version():
    notifier = Notifier()
    seen = notifier.counter("server:a")
    notifier.publish("server:a", hint=5, remote=True)
    assert not notifier.newer("server:a", seen, 5)  # the version the agent has: no read
    assert notifier.newer("server:a", seen, 4)
    notifier.publish("server:a", hint=6, remote=True)
    assert notifier.newer("server:a", seen, 5)
    # A publish without a version, even if a hinted one follows it, may be anything.
    seen = notifier.counter("server:a")
    notifier.publish("server:a")
    notifier.publish("server:a", hint=5, remote=True)
    assert notifier.newer("server:a", seen, 6)
    later = notifier.counter("server:a")
    notifier.publish("server:a", hint=5, remote=True)
    assert not notifier.newer("server:a", later, 6)
    notifier.publish_everything()
    assert notifier.newer("server:a", later, 6)


def test_topics_nobody_waits_on_leave_nothing_behind():
    notifier, heard = Notifier(), []
    notifier.subscribe("wake:", heard.append)
    for number in range(1000):
        notifier.publish(f"wake:stack-{number}:server")
    assert len(heard) == 1000 and notifier._conditions == {}
    # A waiter that noted the counter first still hears the next publish.
    seen = notifier.counter("server:a")
    notifier.publish("server:a", hint=3)
    assert notifier.counter("server:a") == seen + 1


def test_publish_many_wakes_every_parked_future_with_one_call_per_loop_and_survives_a_subscriber():
    notifier = Notifier()
    heard: list[str] = []

    def subscriber(topic: str) -> None:
        if topic == "server:1":
            raise RuntimeError("a broken subscriber")
        heard.append(topic)

    notifier.subscribe("server:", subscriber)

    async def parked():
        loop = asyncio.get_running_loop()
        calls: list[int] = []
        threadsafe = loop.call_soon_threadsafe

        def counted(callback, *args):
            calls.append(1)
            return threadsafe(callback, *args)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        futures = {}
        for n in range(50):
            future = loop.create_future()
            assert notifier.park(f"server:{n}", notifier.counter(f"server:{n}"), future)
            futures[n] = future
        threading.Thread(
            target=notifier.publish_many, args=([(f"server:{n}", n + 1) for n in range(50)],), kwargs={"remote": True}
        ).start()
        results = await asyncio.wait_for(asyncio.gather(*futures.values()), 10)
        return results, len(calls)

    results, calls = asyncio.run(parked())
    assert results == [None] * 50 and calls == 1
    assert notifier.waiting() == 0
    assert heard == [f"server:{n}" for n in range(50) if n != 1]
    assert notifier.hint("server:7") == 8
