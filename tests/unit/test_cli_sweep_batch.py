"""`ipuexplore sweep --over batch`: the JSON keys the issue names, CSV, table, plot, errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from ipuexplore.cli import main
from ipuexplore.hardware import load_chip
from ipuexplore.layers import Layer
from ipuexplore.models import estimate


def _run(capsys, *argv):
    code = main(["sweep", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_layer_json_rows_carry_each_chips_latency_and_throughput(capsys):
    code, out, _ = _run(capsys, "--over", "batch", "--channels", "64", "--group-size", "8", "--batches", "1,4,16", "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [r["batch"] for r in rows] == [1, 4, 16]
    layer = Layer.conv(64, 14, 14, 64, 3, pad=1, g=8)
    for row in rows:
        assert list(row["chips"]) == ["ipu-mk1", "v100"]
        for chip_id, cost in row["chips"].items():
            assert {"time_s", "latency_s", "throughput_img_s"} <= set(cost)
            expected = estimate(load_chip(chip_id), layer, batch=row["batch"], dtype="fp16").time_s
            assert cost["time_s"] == pytest.approx(expected)
            assert cost["throughput_img_s"] == pytest.approx(row["batch"] / cost["latency_s"])
    # a bigger batch: more images per second, each waiting longer
    v100 = [r["chips"]["v100"] for r in rows]
    assert v100[0]["latency_s"] < v100[-1]["latency_s"] and v100[0]["throughput_img_s"] < v100[-1]["throughput_img_s"]


def test_network_sweep_matches_the_net_command(capsys):
    _, out, _ = _run(capsys, "--over", "batch", "--net", "resnet50", "--batches", "8", "--json")
    row = json.loads(out)["rows"][0]
    assert main(["net", "resnet50", "--batch", "8", "--json"]) == 0
    net = json.loads(capsys.readouterr()[0])
    for chip_id, cost in row["chips"].items():
        assert cost["throughput_img_s"] == pytest.approx(net["chips"][chip_id]["throughput_img_s"])


def test_csv_table_and_plot(capsys):
    _, out, _ = _run(capsys, "--over", "batch", "--batches", "1,2", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["batch"] for r in rows] == ["1", "2"] and "v100_throughput_img_s" in rows[0]
    _, out, _ = _run(capsys, "--over", "batch", "--batches", "1,2")
    assert "ipu-mk1 latency" in out and "img/s" in out
    _, out, _ = _run(capsys, "--over", "batch", "--batches", "1,8,64", "--plot")
    assert "throughput vs latency" in out and "ipu-mk1" in out and "●" in out and "\x1b[" not in out


@pytest.mark.parametrize("argv, words", [
    (["--over", "btch"], "--over must be group-size or batch, got 'btch'"),
    (["--net", "resnet50"], "--net goes with --over batch"),
    (["--over", "batch", "--batches", "1,x"], "--batches must be an integer, got 'x'"),
    (["--over", "batch", "--net", "resnet5"], "unknown network 'resnet5'"),
])
def test_wrong_inputs_get_one_line(argv, words):
    done = subprocess.run([sys.executable, "-m", "ipuexplore", "sweep", *argv], capture_output=True, text=True)
    assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, done.stderr
