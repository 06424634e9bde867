"""Pool.tracing and the Chrome trace: spans per worker and superstep that match the run's own
statistics, valid trace JSON with one thread per worker, spans adding up to the run's wall
time, overflow counted, tracing off afterwards."""

import json

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool
from ipuexplore.engine.trace import write_chrome_trace
from ipuexplore.errors import InvalidParameter, InvalidType

SHAPE = (2, 64, 28, 28)  # depthwise 3x3: several blocks per worker


def _layer(pool):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 1, 3, 3), dtype=np.float32)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    return Conv2d(w, input_shape=SHAPE, padding=1, groups=64, pool=pool), x


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_spans_match_the_run_statistics(workers):
    with Pool(workers) as pool:
        conv, x = _layer(pool)
        with pool.tracing() as rec:
            conv.run(x)
        stats = pool.last_stats
        trace = rec.trace
    e = trace.events
    assert trace.dropped == 0 and trace.workers == workers
    assert set(e["worker"].tolist()) == set(range(workers))
    assert set(e["run"].tolist()) == {0}
    assert (e["end_ns"] >= e["start_ns"]).all()
    for phase, field in ((0, "exchange_ns"), (1, "compute_ns"), (2, "wait_ns")):
        for w in range(workers):
            mine = e[(e["worker"] == w) & (e["phase"] == phase)]
            assert int((mine["end_ns"] - mine["start_ns"]).sum()) == int(getattr(stats, field)[w])


def test_chrome_trace_is_valid_one_tid_per_worker_and_adds_up(tmp_path):
    # A run of a few milliseconds: a sleeping worker's wake-up is small beside it.
    shape = (4, 128, 56, 56)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((128, 1, 3, 3), dtype=np.float32)
    runs = 3
    with Pool(2) as pool:
        conv = Conv2d(w, input_shape=shape, padding=1, groups=128, pool=pool)
        conv.run(x)  # warm
        with pool.tracing() as rec:
            for _ in range(runs):
                conv.run(x)
        last_wall_us = pool.last_stats.wall_s * 1e6
    path = tmp_path / "trace.json"
    write_chrome_trace(path, rec.trace)
    doc = json.loads(path.read_text())
    spans = [ev for ev in doc["traceEvents"] if ev["ph"] == "X"]
    assert {ev["name"] for ev in spans} == {"exchange", "compute", "wait"}
    assert {ev["tid"] for ev in spans} == {0, 1}
    names = {ev["tid"]: ev["args"]["name"] for ev in doc["traceEvents"] if ev["name"] == "thread_name"}
    assert names == {0: "worker 0", 1: "worker 1"}
    for ev in spans:
        assert ev["ts"] >= 0 and ev["dur"] >= 0 and ev["pid"] == 1

    def run_spans(run):
        return [ev for ev in spans if ev["args"]["run"] == run]

    def wall(run):  # the run starts with the workers' "run start" waits, ends with the caller's "run end"
        mine = run_spans(run)
        start = min(ev["ts"] for ev in mine if ev["args"].get("for") == "run start")
        end = max(ev["ts"] + ev["dur"] for ev in mine if ev["args"].get("for") == "run end")
        return end - start

    assert wall(runs - 1) == pytest.approx(last_wall_us, abs=1.0)
    for tid in (0, 1):
        shares = sorted(sum(ev["dur"] for ev in run_spans(r) if ev["tid"] == tid) / wall(r)
                        for r in range(runs))
        assert shares[runs // 2] == pytest.approx(1.0, abs=0.10), (tid, shares)


def test_runs_append_and_overflow_is_counted():
    with Pool(2) as pool:
        conv, x = _layer(pool)
        with pool.tracing() as rec:
            conv.run(x)
            conv.run(x)
        full = rec.trace
        with pool.tracing(capacity=5) as small:
            conv.run(x)
        with pool.tracing() as after:
            pass
        conv.run(x)  # tracing is off again: nothing to record into
    assert set(full.events["run"].tolist()) == {0, 1}
    one_run = int((full.events["run"] == 0).sum())
    assert len(small.trace.events) == 5 and small.trace.dropped == one_run - 5
    assert len(after.trace.events) == 0 and after.trace.dropped == 0


def test_bad_capacity():
    with Pool(1) as pool:
        with pytest.raises(InvalidParameter, match="capacity"):
            with pool.tracing(capacity=0):
                pass
        with pytest.raises(InvalidType, match="capacity"):
            with pool.tracing(capacity=1.5):
                pass


def test_cli_layer_trace_writes_a_chrome_trace(tmp_path, capsys):
    from ipuexplore.cli import main

    path = tmp_path / "layer.json"
    assert main(["layer", "--channels", "64", "--size", "28", "--groups", "64", "--batch", "2",
                 "--train", "--json", "--trace", str(path)]) == 0
    json.loads(capsys.readouterr().out)  # stdout stays one JSON object
    doc = json.loads(path.read_text())
    spans = [ev for ev in doc["traceEvents"] if ev["ph"] == "X"]
    workers = doc["otherData"]["workers"]
    assert {ev["tid"] for ev in spans} == set(range(workers))
    assert {ev["args"]["run"] for ev in spans} == {0, 1, 2}  # forward, backward data, weights
    assert doc["otherData"]["dropped_events"] == 0


def test_cli_trace_unwritable_file_is_one_line_error(tmp_path, capsys):
    from ipuexplore.cli import main

    assert main(["layer", "--trace", str(tmp_path / "missing" / "t.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ipuexplore: error: --trace: cannot write")
