"""agent.sdnotify against real AF_UNIX datagram sockets (a path and an abstract name), as systemd listens."""

import os
import socket
import threading
import uuid

import pytest

from agent.sdnotify import Notifier, status_field


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def received(sock):
    return sock.recv(4096).decode().split("\n")


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled and notifier.ready() is False
    assert notifier.watchdog_interval() is None
    assert notifier.start_watchdog(threading.Event()) is None


def test_ready_status_reloading_stopping(listener):
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.ready("idle; 2 deployment(s)")
    assert received(sock) == ["READY=1", "STATUS=idle; 2 deployment(s)"]
    assert notifier.status("two\nlines")
    assert received(sock) == ["STATUS=two lines"]
    assert notifier.reloading()
    reloading, monotonic = received(sock)
    assert reloading == "RELOADING=1" and int(monotonic.removeprefix("MONOTONIC_USEC=")) > 0
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1"]


def test_abstract_socket():
    name = f"hearth-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier(f"@{name}").ready()
        assert received(sock) == ["READY=1"]


def test_a_missing_socket_is_not_an_error(tmp_path):
    assert Notifier(str(tmp_path / "gone.sock")).ready() is False


def test_watchdog_pings_at_half_the_interval(listener):
    sock, path = listener
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert notifier.watchdog_interval() == 0.2
    stop = threading.Event()
    thread = notifier.start_watchdog(stop)
    try:
        assert [received(sock) for _ in range(3)] == [["WATCHDOG=1"]] * 3
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_watchdog_meant_for_another_process_is_ignored(listener):
    _, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval() is None


def test_status_field_is_one_line():
    assert status_field("a\n b\tc") == "STATUS=a b c"
