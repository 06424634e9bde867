"""ONNX import: models written with onnx.helper (no downloads) read back into the same layers."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ipuexplore.layers import LayerKind  # noqa: E402
from ipuexplore.networks import INPUT, load_onnx  # noqa: E402
from ipuexplore.networks.graph import GraphBuilder  # noqa: E402
from ipuexplore.networks.mbconv import inverted_residual  # noqa: E402
from ipuexplore.networks.resnet import _bottleneck  # noqa: E402


def _export(network, path, *, extra_nodes=()):
    """Write `network` as ONNX, one node (or the exporter's usual pattern) per layer."""
    nodes, inits = [], []
    rng = np.random.default_rng(0)

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    for layer in network.layers:
        x, out = layer.inputs[0], layer.name
        if layer.kind is LayerKind.CONV:
            ins = [x, const(f"{out}.W", rng.standard_normal((layer.k, layer.c // layer.g, layer.r, layer.s)))]
            if layer.bias:
                ins.append(const(f"{out}.B", np.zeros(layer.k)))
            top, bottom, left, right = layer.pad
            nodes.append(helper.make_node("Conv", ins, [out], name=out, group=layer.g, kernel_shape=[layer.r, layer.s],
                                          strides=list(layer.stride), pads=[top, left, bottom, right],
                                          dilations=list(layer.dilation)))
        elif layer.kind is LayerKind.NORM:
            ins = [x] + [const(f"{out}.{p}", np.ones(layer.c)) for p in ("scale", "B", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", ins, [out], name=out))
        elif layer.kind is LayerKind.ACT and layer.op == "relu":
            nodes.append(helper.make_node("Relu", [x], [out], name=out))
        elif layer.kind is LayerKind.ACT and layer.op == "relu6":
            nodes.append(helper.make_node("Clip", [x, const(f"{out}.min", 0.0), const(f"{out}.max", 6.0)], [out], name=out))
        elif layer.kind is LayerKind.ACT and layer.op == "silu":  # as torch.onnx exports SiLU
            nodes.append(helper.make_node("Sigmoid", [x], [f"{out}.sig"], name=f"{out}.sig"))
            nodes.append(helper.make_node("Mul", [x, f"{out}.sig"], [out], name=out))
        elif layer.kind is LayerKind.POOL and layer.op == "global_avg":
            nodes.append(helper.make_node("GlobalAveragePool", [x], [out], name=out))
        elif layer.kind is LayerKind.POOL:
            top, bottom, left, right = layer.pad
            nodes.append(helper.make_node("MaxPool", [x], [out], name=out, kernel_shape=[layer.r, layer.s],
                                          strides=list(layer.stride), pads=[top, left, bottom, right]))
        elif layer.kind is LayerKind.ADD:
            nodes.append(helper.make_node("Add", list(layer.inputs), [out], name=out))
        elif layer.kind is LayerKind.SE:  # torchvision SqueezeExcitation, SiLU inside
            c, s = layer.c, layer.se_c
            nodes += [
                helper.make_node("GlobalAveragePool", [x], [f"{out}.pool"], name=f"{out}.pool"),
                helper.make_node("Conv", [f"{out}.pool", const(f"{out}.w1", np.ones((s, c, 1, 1))), const(f"{out}.b1", np.zeros(s))],
                                 [f"{out}.fc1"], name=f"{out}.fc1", kernel_shape=[1, 1]),
                helper.make_node("Sigmoid", [f"{out}.fc1"], [f"{out}.s1"], name=f"{out}.s1"),
                helper.make_node("Mul", [f"{out}.fc1", f"{out}.s1"], [f"{out}.act"], name=f"{out}.act"),
                helper.make_node("Conv", [f"{out}.act", const(f"{out}.w2", np.ones((c, s, 1, 1))), const(f"{out}.b2", np.zeros(c))],
                                 [f"{out}.fc2"], name=f"{out}.fc2", kernel_shape=[1, 1]),
                helper.make_node("Sigmoid", [f"{out}.fc2"], [f"{out}.gate"], name=f"{out}.gate"),
                helper.make_node("Mul", [x, f"{out}.gate"], [out], name=out),
            ]
        elif layer.kind is LayerKind.LINEAR:
            nodes.append(helper.make_node("Flatten", [x], [f"{out}.flat"], name=f"{out}.flat"))
            nodes.append(helper.make_node("Gemm", [f"{out}.flat", const(f"{out}.W", np.ones((layer.k, layer.c))),
                                                  const(f"{out}.B", np.zeros(layer.k))], [out], name=out, transB=1))
        else:
            raise AssertionError(f"no exporter for {layer.describe()}")
    last = network.layers[-1].name
    for node in extra_nodes:
        nodes.append(node)
        last = node.output[0]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, *network.input_shape])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _resnet_like():
    b = GraphBuilder(3, 64, 64)
    x = b.act("relu", b.norm("bn1", b.conv("conv1", INPUT, 32, 7, stride=2, pad=3)), "relu")
    x = b.pool("maxpool", x, "max", 3, stride=2, pad=1)
    x = _bottleneck(b, "layer1.0", x, inner=32, out=64, stride=2, g=8)  # grouped, with a projection shortcut
    x = _bottleneck(b, "layer1.1", x, inner=32, out=64, stride=1, g=8)  # identity shortcut
    b.linear("fc", b.pool("avgpool", x, "global_avg"), 10)
    return b.network("resnet_like", 64)


def _mbconv_like():
    b = GraphBuilder(3, 32, 32)
    x = b.conv_bn_act("stem", INPUT, 16, 3, stride=2, act="silu")
    x = inverted_residual(b, "s1.0", x, out=16, kernel=5, stride=1, expanded=64, g=64, se_c=4, act="silu")
    x = inverted_residual(b, "s2.0", x, out=24, kernel=3, stride=2, expanded=96, g=6, se_c=4, act="silu")
    x = b.conv_bn_act("head", x, 32, 1, act="relu6")
    b.linear("fc", b.pool("avgpool", x, "global_avg"), 10)
    return b.network("mbconv_like", 32)


@pytest.mark.parametrize("build", [_resnet_like, _mbconv_like])
def test_round_trip_gives_the_builders_layers(tmp_path, build):
    built = build()
    loaded = load_onnx(_export(built, tmp_path / "model.onnx"))
    assert [l.name for l in loaded.layers] == [l.name for l in built.layers]
    assert loaded.layers == built.layers  # every field: shapes, groups, stride, pads, bias, op, se_c
    assert [l.inputs for l in loaded.layers] == [l.inputs for l in built.layers]
    assert (loaded.params, loaded.macs, loaded.input_shape) == (built.params, built.macs, built.input_shape)
    assert loaded.unsupported == ()
    assert loaded.name == "model"


def test_unsupported_ops_are_counted_not_dropped(tmp_path):
    built = _resnet_like()
    extra = [helper.make_node("Softmax", ["fc"], ["prob"], name="softmax"),
             helper.make_node("Softmax", ["prob"], ["prob2"], name="softmax2"),
             helper.make_node("Log", ["prob2"], ["logp"], name="log")]
    loaded = load_onnx(_export(built, tmp_path / "m.onnx", extra_nodes=extra))
    assert dict(loaded.unsupported) == {"Softmax": 2, "Log": 1}
    assert loaded.layers == built.layers


def test_asymmetric_and_same_padding(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 15, 15])
    w = numpy_helper.from_array(np.ones((8, 1, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=8, strides=[2, 2], auto_pad="SAME_UPPER"),
             helper.make_node("Conv", ["y", "w"], ["z"], name="dw2", group=8, pads=[0, 1, 2, 1])]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "pad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    net = load_onnx(path)
    dw, dw2 = net.layers
    assert dw.out_shape == (8, 8, 8) and dw.pad == (1, 1, 1, 1) and dw.g == 8
    assert dw2.pad == (0, 2, 1, 1) and dw2.out_shape == (8, 8, 8)


def test_malformed_and_truncated_files_raise_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage\xff\xff\xff")
    good = _export(_resnet_like(), tmp_path / "good.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:200])
    for path in (bad, truncated, tmp_path / "missing.onnx"):
        with pytest.raises(ValueError, match="path ") as info:
            load_onnx(path)
        assert "\n" not in str(info.value)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter announces its own end
def test_model_exported_by_torch_onnx(tmp_path):
    # The patterns torch.onnx really writes (SiLU as Sigmoid + Mul, SE with a broadcast Mul,
    # Flatten + Gemm) map to the same layers; BN kept (no constant folding) so params match torch.
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class SqueezeExcite(nn.Module):
        def __init__(self, c, squeeze):
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1), nn.SiLU()

        def forward(self, x):
            return x * torch.sigmoid(self.fc2(self.act(self.fc1(nn.functional.adaptive_avg_pool2d(x, 1)))))

    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU(),
        nn.Conv2d(16, 16, 5, 1, 2, groups=16, bias=False), nn.BatchNorm2d(16), nn.SiLU(), SqueezeExcite(16, 4),
        nn.Conv2d(16, 24, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU6(),
        nn.MaxPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10),
    ).eval()
    path = tmp_path / "torch.onnx"
    try:
        torch.onnx.export(model, torch.randn(1, 3, 32, 32), str(path), dynamo=False, opset_version=17,
                          do_constant_folding=False)
    except Exception as exc:  # the exporter's own optional dependencies
        pytest.skip(f"torch.onnx.export unavailable: {exc}")
    net = load_onnx(path)
    assert [(l.kind.value, l.op) for l in net.layers] == [
        ("conv", ""), ("norm", "batch"), ("act", "silu"), ("conv", ""), ("norm", "batch"), ("act", "silu"),
        ("se", "silu"), ("conv", ""), ("norm", "batch"), ("act", "relu6"), ("pool", "max"),
        ("pool", "global_avg"), ("linear", "")]
    assert net.params == sum(p.numel() for p in model.parameters())
    assert net.layers[3].g == 16 and net.layers[3].r == 5 and net.layers[6].se_c == 4
    assert net.layers[-1].out_shape == (10, 1, 1) and net.unsupported == ()
