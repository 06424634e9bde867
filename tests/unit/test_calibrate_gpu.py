"""scripts/calibrate_gpu.py on the CPU: the model side and the file output; GPU timing skipped."""

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "calibrate_gpu.py"
spec = importlib.util.spec_from_file_location("calibrate_gpu", SCRIPT)
calibrate = importlib.util.module_from_spec(spec)
sys.modules["calibrate_gpu"] = calibrate  # dataclasses look their module up
spec.loader.exec_module(calibrate)


def test_cases_cover_each_shape_at_every_dividing_group_size():
    cases = calibrate.cases()
    by_shape = {}
    for case in cases:
        by_shape.setdefault(case.shape, []).append(case.layer.channels_per_group)
    assert by_shape["A"] == [1, 2, 4, 8, 16, 32, 64, 256]
    assert by_shape["C"] == [1, 2, 4, 8, 16, 32, 64]  # 64 channels: 64 per group is dense
    assert all(c.layer.r == 3 and c.layer.p == c.layer.h for c in cases)


@pytest.mark.parametrize(
    "name, mem_gb, chip",
    [("NVIDIA H100 80GB HBM3", 85, "h100"), ("NVIDIA A100-SXM4-40GB", 42, "a100-40gb"),
     ("NVIDIA A100-SXM4-80GB", 85, "a100-80gb"), ("Tesla V100-SXM2-16GB", 17, "v100")],
)
def test_pick_chip_by_name(name, mem_gb, chip):
    assert calibrate.pick_chip(name, mem_gb) == chip


def test_h200_uses_the_example_spec():
    path = calibrate.pick_chip("NVIDIA H200", 150)
    assert path.endswith("docs/hw-examples/h200.toml")
    chip = calibrate.load_chip(path)
    assert chip.id == "h200" and chip.spec.hbm_bw_gb_s == 4800


def test_pick_chip_unknown_gpu_names_it():
    with pytest.raises(ValueError, match="Tesla T4"):
        calibrate.pick_chip("Tesla T4", 16)


@pytest.mark.parametrize("name, spec", [("NVIDIA GeForce RTX 4090", "rtx4090"), ("NVIDIA GeForce RTX 3090", "rtx3090")])
def test_geforce_cards_use_their_example_specs(name, spec):
    path = calibrate.pick_chip(name, 24)
    assert path.endswith(f"docs/hw-examples/{spec}.toml") and calibrate.load_chip(path).id == spec


def test_rows_compute_error_against_measurement():
    case = calibrate.cases()[0]
    r = calibrate.row(case, calibrate.load_chip("v100"), "fp16", measured_s=1e-4)
    assert r["model_error"] == pytest.approx((r["modeled_s"] - 1e-4) / 1e-4)
    assert r["measured_tflop_s"] == pytest.approx(r["gflop"] * 1e9 / 1e-4 / 1e12)


def test_model_only_run_writes_csv_and_markdown(tmp_path, capsys):
    assert calibrate.main(["--model-only", "--chip", "a100-40gb", "--out-dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "calibration-model-only.csv").open()))
    assert len(rows) == sum(len(calibrate.sweep_cases(s)) for s in calibrate.LAYER_SWEEPS)
    assert {r["sweep"] for r in rows} == set(calibrate.LAYER_SWEEPS)
    nets = list(csv.DictReader((tmp_path / "calibration-model-only-networks.csv").open()))
    assert [(r["network"], r["batch"]) for r in nets] == [(n, str(b)) for n, bs in calibrate.NETWORKS for b in bs]
    assert all(r["measured_s"] == "" and float(r["modeled_s"]) > 0 for r in nets)
    net_md = (tmp_path / "calibration-model-only-networks.md").read_text()
    assert "efficientnet_b0, modeled:" in net_md and "per batch" in net_md
    assert set(calibrate.COLUMNS) == set(rows[0])
    assert rows[0]["measured_s"] == ""
    md = (tmp_path / "calibration-model-only.md").read_text()
    assert "a100-40gb" in md and "2 x MACs" in md and md.count("\n| ") == len(rows) + 1


def test_one_sweep_on_request(tmp_path):
    assert calibrate.main(["--model-only", "--sweep", "grouped1x1", "--out-dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "calibration-model-only.csv").open()))
    assert [r["groups"] for r in rows] == ["1", "4", "16", "64", "1", "2", "4", "8"]
    # the ShuffleNet V2 rows run in fp32 whatever --dtype says; the equal-FLOPs rows keep it
    assert [r["dtype"] for r in rows] == ["fp16"] * 4 + ["fp32"] * 4
    flops = {round(float(r["gflop"]), 6) for r in rows[:4]}
    assert len(flops) == 1  # equal FLOPs


def test_new_sweeps_cover_b0_shapes_in_both_modes():
    dw = calibrate.depthwise_cases()
    assert all(c.layer.g == c.layer.c for c in dw) and {c.train for c in dw} == {False, True}
    assert {(c.layer.r, c.layer.stride[0]) for c in dw} == {(3, 1), (3, 2), (5, 1), (5, 2)}
    kinds = {c.layer.kind.value for c in calibrate.elementwise_cases()}
    assert kinds == {"norm", "act", "add", "se"}


def test_rows_report_the_achieved_bandwidth_fraction():
    case = calibrate.depthwise_cases()[0]
    chip = calibrate.load_chip("v100")
    r = calibrate.row(case, chip, "fp16", measured_s=1e-3)
    assert r["measured_gb_s"] == pytest.approx(r["mbytes"] * 1e6 / 1e-3 / 1e9)
    assert r["measured_bw_fraction"] == pytest.approx(r["measured_gb_s"] / 900)


@pytest.mark.parametrize("layer", [
    calibrate.Layer.conv(8, 6, 6, 8, 3, pad=1, g=4), calibrate.Layer.conv(8, 6, 6, 8, 5, stride=2, pad=2, g=8),
    calibrate.Layer.norm(8, 6, 6), calibrate.Layer.act(8, 6, 6, "silu"), calibrate.Layer.add(8, 6, 6),
    calibrate.Layer.se(8, 6, 6, 2),
], ids=lambda layer: layer.describe())
@pytest.mark.parametrize("train", [False, True])
def test_measure_runs_the_torch_path_on_the_cpu(layer, train):
    pytest.importorskip("torch")
    case = calibrate.Case("tiny", 2, layer, train)
    seconds = calibrate.measure(case, "fp32", repeats=2, device="cpu")
    assert 0 < seconds < 1


def test_measuring_needs_a_gpu(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("GPU present: the real run is the calibration itself")
    assert calibrate.main(["--out-dir", str(tmp_path)]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_network_runner_runs_the_builders_graphs_on_the_cpu():
    # NVIDIA's validation step in torch, on the CPU in fp32 (no autocast there): every layer
    # kind of both networks (strided and padded convs, max pool, squeeze-excite, residual adds)
    from ipuexplore import networks
    for name in ("resnet50", "efficientnet_b0"):
        net = networks.build(name, res=64)
        out = calibrate.network_runner(net.layers, 2, "fp32", "cpu")()
        assert tuple(out.shape) == (2, 1000)
    assert calibrate.measure_network(networks.build("efficientnet_b0", res=32).layers, 1, "fp32", 2, "cpu") > 0
    # as NVIDIA's loader: uint8 images made fp32 and normalised in the timed step, after an idle GPU
    small = networks.build("resnet50", res=32).layers
    assert tuple(calibrate.network_runner(small, 2, "fp32", "cpu", normalise=True)().shape) == (2, 1000)
    assert calibrate.measure_network(small, 1, "fp32", 1, "cpu", normalise=True, idle_s=0.001) > 0


def test_per_batch_fit_through_the_two_largest_batches():
    rows = [{"network": "n", "batch": b, "t": 1e-3 + b * 1e-4} for b in (64, 128, 256)]
    slope, intercept = calibrate.per_batch_fit(rows, "t")["n"]
    assert slope == pytest.approx(1e-4) and intercept == pytest.approx(1e-3)
    assert calibrate.per_batch_fit(rows[:1], "t") == {}
