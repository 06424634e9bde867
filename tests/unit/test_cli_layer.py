"""`ipuexplore layer` and `ipuexplore sweep`: options, JSON keys, table, CSV and errors."""

import csv
import io
import json

import pytest

from ipuexplore.cli import main
from ipuexplore.layers import valid_group_counts

CONTRACT_KEYS = {"time_s", "flops", "bytes", "arithmetic_intensity", "achieved_flop_s", "bandwidth_b_s", "bound"}


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_layer_json_has_the_contract_keys(capsys):
    code, out, err = run(capsys, "layer", "--channels", "128", "--size", "28", "--group-size", "4", "--batch", "8", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert set(doc["chips"]) == {"ipu-mk1", "v100"}  # the article's pair by default
    for chip in doc["chips"].values():
        assert CONTRACT_KEYS <= set(chip)
        assert chip["bound"] in ("compute", "memory", "exchange", "overhead")
    assert doc["layer"]["g"] == 32 and doc["layer"]["group_size"] == 4
    assert doc["layer"]["flops_per_image"] == 2 * doc["layer"]["macs_per_image"]
    assert doc["chips"]["v100"]["flops"] == 8 * doc["layer"]["flops_per_image"]
    assert doc["ipu_over_gpu_speedup"]["ipu-mk1/v100"] == pytest.approx(
        doc["chips"]["v100"]["time_s"] / doc["chips"]["ipu-mk1"]["time_s"]
    )


def test_layer_options_reach_the_layer(capsys):
    code, out, _ = run(
        capsys, "layer", "--channels", "64", "--out-channels", "32", "--size", "20x16", "--kernel", "5",
        "--stride", "2", "--padding", "1", "--dilation", "2", "--groups", "8", "--dtype", "fp32",
        "--train", "--chips", "ipu-mk2,a100-40gb,host", "--json",
    )
    assert code == 0
    doc = json.loads(out)
    layer = doc["layer"]
    assert (layer["c"], layer["k"], layer["h"], layer["w"], layer["r"], layer["g"]) == (64, 32, 20, 16, 5, 8)
    assert layer["stride"] == [2, 2] and layer["dilation"] == [2, 2] and layer["pad"] == [1, 1, 1, 1]
    assert (layer["p"], layer["q"]) == ((20 + 2 - 8 - 1) // 2 + 1, (16 + 2 - 8 - 1) // 2 + 1)
    assert doc["dtype"] == "fp32" and doc["train"] is True
    assert list(doc["chips"]) == ["ipu-mk2", "a100-40gb", "host"]
    assert [p["name"] for p in doc["chips"]["host"]["phases"]] == ["forward", "backward_data", "backward_weights"]


def test_layer_table_shows_every_chip_and_the_ratio(capsys):
    code, out, _ = run(capsys, "layer", "--channels", "256", "--size", "14", "--group-size", "1", "--batch", "32")
    assert code == 0
    assert "ipu-mk1" in out and "v100" in out and "FLOPs = 2 x MACs" in out
    assert "ipu-mk1 vs v100:" in out and "on the IPU" in out
    code, out, _ = run(capsys, "layer", "--group-size", "16", "--batch", "8", "--train")
    assert code == 0 and "backward_weights" in out and "activations kept" in out


def test_hw_file_adds_a_chip(tmp_path, capsys):
    from importlib import resources

    text = resources.files("ipuexplore.hardware").joinpath("v100.toml").read_text()
    path = tmp_path / "fast.toml"
    path.write_text(text.replace('id = "v100"', 'id = "my-v100"').replace("value = 900,", "value = 1800,").replace("value = 80,", "value = 160,"))
    code, out, _ = run(capsys, "layer", "--group-size", "1", "--batch", "32", "--hw-file", str(path), "--json")
    assert code == 0
    chips = json.loads(out)["chips"]
    assert set(chips) == {"ipu-mk1", "v100", "my-v100"}
    assert chips["my-v100"]["time_s"] < chips["v100"]["time_s"]  # twice the HBM bandwidth and SMs


def test_sweep_csv_covers_every_valid_group_size(capsys):
    code, out, _ = run(capsys, "sweep", "--channels", "48", "--size", "14", "--batch", "4", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["groups"]) for r in rows] == sorted(valid_group_counts(48), reverse=True)
    assert {int(r["group_size"]) for r in rows} == set(valid_group_counts(48))
    assert float(rows[0]["ipu-mk1_time_s"]) > 0 and rows[0]["v100_bound"] in ("compute", "memory", "overhead")
    assert "speedup_ipu-mk1_over_v100" in rows[0]


def test_sweep_json_and_table(capsys):
    code, out, _ = run(capsys, "sweep", "--channels", "32", "--size", "8", "--json", "--chips", "ipu-mk1,h100")
    assert code == 0
    doc = json.loads(out)
    assert len(doc["rows"]) == len(valid_group_counts(32))
    assert CONTRACT_KEYS <= set(doc["rows"][0]["chips"]["h100"])
    code, out, _ = run(capsys, "sweep", "--channels", "32", "--size", "8")
    assert code == 0 and "c/g" in out and "ipu-mk1/v100 speedup" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["layer", "--batch", "0"], "--batch"),
        (["layer", "--batch", "two"], "--batch"),
        (["layer", "--channels", "64", "--groups", "3"], "--groups"),
        (["layer", "--channels", "64", "--group-size", "5"], "--group-size"),
        (["layer", "--groups", "2", "--group-size", "4"], "--group-size"),
        (["layer", "--dtype", "int8"], "--dtype"),
        (["layer", "--size", "3", "--kernel", "5", "--padding", "0"], "output size"),
        (["layer", "--size", "2x2x2"], "--size"),
        (["layer", "--chips", "tpu"], "unknown chip"),
        (["layer", "--hw-file", "/nonexistent.toml"], "cannot read chip spec"),
        (["sweep", "--channels", "-4"], "--channels"),
    ],
)
def test_bad_input_gets_one_line_and_nonzero_exit(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and needle in err and err.startswith("ipuexplore: error:")
