"""`ipuexplore net`: JSON keys, CSV table, readable output, errors in one line."""

import csv
import io
import json

import pytest

from ipuexplore.cli import main
from ipuexplore.networks import build


def _run(capsys, *argv):
    code = main(["net", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_issue_keys(capsys):
    code, out, _ = _run(capsys, "resnext50_32x4d", "--json", "--batch", "4")
    assert code == 0
    data = json.loads(out)
    net = build("resnext50_32x4d")
    assert (data["params"], data["macs"], data["flops"]) == (25_028_904, net.macs, 2 * net.macs)
    assert list(data["chips"]) == ["ipu-mk1", "v100"]  # the default pair, in order
    for chip in data["chips"].values():
        assert {"throughput_img_s", "latency_s", "time_s"} <= set(chip)
        assert chip["throughput_img_s"] == pytest.approx(4 / chip["latency_s"])
    assert data["batch"] == 4 and "layers" not in data


def test_json_options_reach_the_analysis(capsys):
    _, out, _ = _run(capsys, "efficientnet_b0", "--json", "--layers", "--chips", "ipu-mk2,h100", "--dtype", "fp32",
                     "--train", "--res", "256", "--group-size", "16", "--width", "1.25")
    data = json.loads(out)
    net = build("efficientnet_b0", res=256, group_size=16, width=1.25)
    assert (data["params"], data["res"], data["dtype"], data["mode"]) == (net.params, 256, "fp32", "train")
    assert list(data["chips"]) == ["ipu-mk2", "h100"]
    assert [row["name"] for row in data["layers"]] == [layer.name for layer in net.layers]
    assert data["chips"]["h100"]["time_s"] == data["chips"]["h100"]["train_time_s"]


def test_csv_is_the_per_layer_table(capsys):
    _, out, _ = _run(capsys, "mobilenet_v2", "--csv", "--chips", "ipu-bow,a100-80gb")
    rows = list(csv.DictReader(io.StringIO(out)))
    net = build("mobilenet_v2")
    assert len(rows) == len(net.layers)
    assert rows[0]["name"] == "stem.conv" and int(rows[0]["flops_per_image"]) == net.layers[0].flops
    assert {"ipu-bow_time_s", "ipu-bow_bound", "a100-80gb_time_s", "arithmetic_intensity", "groups"} <= set(rows[0])
    assert sum(int(r["params"]) for r in rows) == 3_504_872


def test_readable_output_shows_counts_and_chips(capsys):
    code, out, _ = _run(capsys, "resnet50", "--layers")
    assert code == 0
    assert "params 25,557,032" in out and "FLOPs" in out and "2 x MACs" in out
    assert "ipu-mk1" in out and "v100" in out
    assert "layer4.2.conv2" in out  # the per-layer table


def test_list_and_errors(capsys):
    code, out, _ = _run(capsys, "--list")
    assert code == 0 and "efficientnet_b7_g16" in out.split()
    for argv, message in [(("resnet51",), "unknown network"), (("resnet50", "--res", "8"), "--res must be"),
                          (("resnet50", "--width", "0"), "--width must be"),
                          (("resnet50", "--group-size", "0"), "--group-size must be"),
                          (("resnet50", "--chips", "tpu"), "unknown chip"), (("resnet50", "--batch", "0"), "batch"),
                          ((), "NAME is required"), (("model.onnx", "--res", "128"), "--res cannot")]:
        code, _, err = _run(capsys, *argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)


def test_onnx_path_lists_unsupported_ops(capsys, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    w = numpy_helper.from_array(np.ones((16, 3, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["z"], name="relu"),
             helper.make_node("LRN", ["z"], ["n"], name="lrn", size=3)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("n", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    _, out, _ = _run(capsys, str(path), "--json")
    data = json.loads(out)
    assert data["params"] == 16 * 3 * 9 and data["unsupported_ops"] == {"LRN": 1}
    _, out, _ = _run(capsys, str(path))
    assert "LRN x1" in out


def test_hw_file_adds_a_chip(capsys, tmp_path):
    from importlib import resources

    text = resources.files("ipuexplore.hardware").joinpath("v100.toml").read_text()
    spec = tmp_path / "my-gpu.toml"
    spec.write_text(text.replace('id = "v100"', 'id = "my-gpu"', 1))
    _, out, _ = _run(capsys, "efficientnet_b0", "--json", "--chips", "v100", "--hw-file", str(spec))
    chips = json.loads(out)["chips"]
    assert list(chips) == ["v100", "my-gpu"]
    assert chips["my-gpu"]["time_s"] == pytest.approx(chips["v100"]["time_s"])  # same figures, same time


def test_run_measures_the_host(capsys):
    pytest.importorskip("ipuexplore._ipx", reason="the C engine is not built")
    code, out, err = _run(capsys, "mobilenet_v2", "--res", "64", "--run", "--json", "--chips", "v100")
    assert code == 0, err
    result = json.loads(out)
    host = result["host_run"]
    assert host["images_per_s"] > 0 and host["model_images_per_s"] > 0
    # the fused session beside the host model of it (fused epilogues: faster than every
    # layer a pass of its own, on the same measured peaks)
    session = result["session"]
    assert session["images_per_s"] > 0 and session["model_images_per_s"] > host["model_images_per_s"]
    assert session["model_time_s"] == pytest.approx(session["batch"] / session["model_images_per_s"])
    # what crossed the tiles per batch (every input value at least once) and the workers' phases
    assert session["bytes_in"] >= 4 * 16 * 32 * 32 and session["bytes_out"] > 0
    assert session["compute_s"] > 0 and session["exchange_s"] > 0 and session["wait_s"] >= 0
    assert len(host["layers"]) == len(build("mobilenet_v2", res=64).layers)
    assert all("model_time_s" in layer and layer["time_s"] > 0 for layer in host["layers"])
    assert "running" not in err  # stderr is not a terminal here: no progress bar (tests/unit/test_cli_progress.py)


def test_run_reports_the_sessions_winograd_choices(capsys):
    pytest.importorskip("ipuexplore._ipx", reason="the C engine is not built")
    code, out, err = _run(capsys, "resnet50", "--res", "64", "--run", "--json", "--chips", "v100")
    assert code == 0, err
    chosen = json.loads(out)["session"]["winograd"]
    # one verdict per dense 3x3 stride-1 convolution (13 in ResNet-50), measured at build
    assert len(chosen) == 13 and all(isinstance(v, bool) for v in chosen.values())


def test_run_with_csv_is_refused_before_running(capsys):
    # the CSV is the model's per-layer table: a host run would be measured and thrown away
    code, out, err = _run(capsys, "mobilenet_v2", "--res", "64", "--run", "--csv")
    assert code == 2 and out == ""
    assert "--run" in err and "--json" in err and "running" not in err


def test_plot_roofline_draws_each_layer_per_chip(capsys):
    from ipuexplore import networks
    from ipuexplore.models.roofline import layer_points

    code, out, _ = _run(capsys, "resnext50_32x4d", "--batch", "8", "--plot", "roofline", "--chips", "ipu-mk1,v100")
    assert code == 0 and "ipu-mk1: TFLOP/s vs FLOP/byte" in out and "v100: TFLOP/s vs FLOP/byte" in out
    assert "grouped conv" in out and "hbm" in out and "\x1b[" not in out
    a = networks.analyse(networks.build("resnext50_32x4d"), ["v100"], batch=8)
    points = layer_points(a.rows, "v100", 8)
    convs = [r for r in a.rows if r.flops > 0]
    assert len(points) == len(convs)
    row = convs[0]
    assert points[0].achieved_flop_s == pytest.approx(8 * row.flops / row.costs["v100"].time_s)
    code, _, err = _run(capsys, "resnet50", "--plot", "bars")
    assert code == 2 and "--plot must be roofline" in err
