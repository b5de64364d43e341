"""agent.metrics: the /proc readers on literal files and on this host's own /proc, and
`hearth-agent metric put` run in process: a good sample is one outbox item on disk, a bad one
is refused with exit 2 and nothing queued; of the host's own items only the newest wait."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from agent.main import main
from agent.metrics import HostMetrics, cpu_times, load_average, memory_util
from agent.outbox import METRICS, Outbox

MEMINFO = """MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    2000000 kB
Cached:          1000000 kB
"""
STAT = """cpu  100 0 50 800 50 0 0 0 0 0
cpu0 100 0 50 800 50 0 0 0 0 0
intr 1
"""


def test_the_proc_readers_on_literal_files(tmp_path):
    (tmp_path / "loadavg").write_text("0.52 0.31 0.20 2/345 6789\n")
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "stat").write_text(STAT)
    assert load_average(tmp_path) == (0.52, 0.31, 0.20)
    assert memory_util(tmp_path) == pytest.approx(75.0)
    assert cpu_times(tmp_path) == (150.0, 1000.0)  # idle 800 + iowait 50 of 1000

    host = HostMetrics(tmp_path)
    (tmp_path / "stat").write_text("cpu  160 0 70 900 70 0 0 0 0 0\n")  # 80 busy of 200 more
    samples = {s["name"]: s for s in host.measure()}
    assert samples["cpu_util"]["value"] == pytest.approx(40.0) and samples["cpu_util"]["unit"] == "%"
    assert samples["memory_util"]["value"] == pytest.approx(75.0)
    assert samples["load_avg_15m"]["value"] == 0.20 and "unit" not in samples["load_avg_15m"]
    stamp = dt.datetime.fromisoformat(samples["cpu_util"]["timestamp"])
    assert abs(stamp - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30)


def test_this_hosts_proc_gives_every_metric_from_the_second_round():
    host = HostMetrics()
    first = {s["name"] for s in host.measure()}
    assert {"memory_util", "load_avg_1m", "load_avg_5m", "load_avg_15m"} <= first
    sum(range(200_000))  # some CPU time between the two readings
    second = {s["name"]: s["value"] for s in host.measure()}
    assert "cpu_util" in second and 0.0 <= second["cpu_util"] <= 100.0
    assert 0.0 < second["memory_util"] < 100.0


def test_metric_put_queues_one_item_and_refuses_what_the_server_would(tmp_path, capsys):
    state = tmp_path / "state"
    state.mkdir()
    assert main(["metric", "put", "queue_depth", "17", "--unit", "Count", "--dimension", "queue=jobs",
                 "--state-dir", str(state)]) == 0  # fmt: skip
    [path] = list((state / "outbox").glob("metrics-*.json"))
    item = json.loads(path.read_text())
    assert item["kind"] == METRICS and item["entry_id"] == path.stem and item["attempts"] == 0
    [sample] = item["payload"]["metrics"]
    assert (sample["name"], sample["value"], sample["unit"], sample["dimensions"]) == (
        "queue_depth",
        17.0,
        "Count",
        {"queue": "jobs"},
    )
    assert "queued queue_depth=17" in capsys.readouterr().out

    for args, words in [
        (["x", "nan"], "finite"),
        (["x", "lots"], "could not convert"),
        (["", "1"], "metric name"),
        (["x", "1", "--dimension", "novalue"], "KEY=VALUE"),
        (["x", "1", "--unit", "u" * 33], "at most 32"),
    ]:
        with pytest.raises(SystemExit) as refusal:
            main(["metric", "put", *args, "--state-dir", str(state)])
        assert refusal.value.code == 2
        assert words in capsys.readouterr().err, args
    with pytest.raises(SystemExit):
        main(["metric", "put", "x", "1", "--state-dir", str(tmp_path / "missing")])
    assert "no such directory" in capsys.readouterr().err
    assert len(list((state / "outbox").glob("metrics-*.json"))) == 1


def test_only_the_newest_host_items_wait_and_hand_put_ones_all_do(tmp_path):
    clock = iter(range(1000, 2000)).__next__
    with requests.Session() as session:
        outbox = Outbox(tmp_path / "outbox", session, "http://127.0.0.1:9", "c", server_id="s", clock=clock)
        by_hand = [outbox.put_metrics([{"name": "mine", "value": n}]) for n in range(3)]
        host = [outbox.put_host_metrics([{"name": "load_avg_1m", "value": n}], keep=2) for n in range(5)]
    assert sorted(p.name for p in (tmp_path / "outbox").glob("*.json")) == sorted(
        [p.name for p in by_hand] + [host[3].name, host[4].name]
    )
    assert [i["payload"]["metrics"][0]["value"] for i in outbox.pending()] == [0, 1, 2, 3, 4]
