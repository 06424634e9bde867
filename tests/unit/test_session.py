"""HostSession: fusion against unfused float64 references, each ONNX op against ONNX Runtime,
whole networks, bad input and the memory-limit refusal."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("ipuexplore._ipx", reason="the C engine is not built")
onnx = pytest.importorskip("onnx", reason="the optional onnx package is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ipuexplore import engine, errors  # noqa: E402
from ipuexplore.networks import HostSession  # noqa: E402
from ipuexplore.networks import epilogue as epi  # noqa: E402
from ipuexplore.networks.session import fold_batch_norm  # noqa: E402
from ipuexplore.networks.session_check import max_relative_difference  # noqa: E402

RNG = np.random.default_rng(7)


# ---- references in float64, written from the definitions -----------------------------
def _act64(x: np.ndarray, op) -> np.ndarray:
    if op is None:
        return x
    if isinstance(op, tuple):
        _, alpha, beta = op
        return np.clip(alpha * x + beta, 0, 1)
    sigmoid = 1 / (1 + np.exp(-x))
    return {"relu": np.maximum(x, 0), "relu6": np.minimum(np.maximum(x, 0), 6), "sigmoid": sigmoid,
            "silu": x * sigmoid, "hardswish": x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
            "tanh": np.tanh(x)}[op]


@pytest.fixture(scope="module")
def pool():
    with engine.Pool(2) as p:
        yield p


ENGINE = pytest.mark.parametrize("in_engine", [False, True], ids=["numpy", "engine"])


def _epilogue(op, pool, in_engine):
    e = epi.Epilogue(op, pool if in_engine else None)
    if in_engine and not e.in_engine:
        pytest.skip("the compiled engine has no ipx_epilogue_run")
    return e


@ENGINE
@pytest.mark.parametrize("op", [None, *epi.ACTIVATIONS, ("hardsigmoid", 0.2, 0.5)])
@pytest.mark.parametrize("residual", [False, True])
def test_epilogue_matches_float64_reference(op, residual, pool, in_engine):
    if in_engine and isinstance(op, tuple):
        pytest.skip("HardSigmoid runs in numpy")
    out = (RNG.standard_normal((2, 5, 7, 9)) * 4).astype(np.float32)  # spans relu6's and hardswish's knees
    out.flat[0] = -200  # beyond the engine's exp clamp
    res = (RNG.standard_normal(out.shape) * 2).astype(np.float32) if residual else None
    expected = _act64(out.astype(np.float64) + (res if residual else 0), op)
    _epilogue(op, pool, in_engine)(out, res)
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=2e-6)


@ENGINE
@pytest.mark.parametrize("op", [None, "silu", "relu6"])
def test_epilogue_channel_scale_and_sums_match_float64(op, pool, in_engine):
    out = (RNG.standard_normal((3, 4, 5, 6)) * 4).astype(np.float32)
    scale = RNG.random((3, 4)).astype(np.float32)
    res = RNG.standard_normal(out.shape).astype(np.float32)
    expected = _act64(out.astype(np.float64) * scale[:, :, None, None] + res, op)
    sums = np.empty((3, 4), np.float32)
    _epilogue(op, pool, in_engine)(out, res, scale=scale, sums=sums)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sums, expected.sum(axis=(2, 3)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", [None, *epi.ACTIVATIONS])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("shape", [(12, 12, 12, 3), (16, 24, 1, 3), (40, 20, 1, 1)], ids=["depthwise", "dense3x3", "1x1"])
def test_fused_convolution_matches_float64_reference(op, residual, shape, pool):
    c, k, g, r = shape
    x = RNG.standard_normal((2, c, 9, 9)).astype(np.float32)
    w = (RNG.standard_normal((k, c // g, r, r)) / np.sqrt(c // g * r * r)).astype(np.float32)
    b = RNG.standard_normal(k).astype(np.float32)
    conv = engine.Conv2d(w, b, x.shape, padding=r // 2, groups=g, pool=pool)
    res = (RNG.standard_normal(conv.output_shape) * 2).astype(np.float32) if residual else None
    out = np.empty(conv.output_shape, np.float32)
    sums = np.full(conv.output_shape[:2], np.nan, np.float32)  # the run zeroes them first
    conv.run_fused(x, out, residual=res, activation=op, channel_sums=sums)
    expected = _act64(engine.reference_conv2d(x, w, b, padding=r // 2, groups=g) + (res if residual else 0), op)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sums, expected.sum(axis=(2, 3)), rtol=1e-5, atol=1e-4)


def test_squeeze_excite_pools_in_the_depthwise_epilogue_and_scales_in_place(tmp_path):
    m = _Model()
    path = m.save(tmp_path, OPS["squeeze_excite"](m, "x"))
    _against_onnxruntime(path, m.shape)
    with HostSession(path, 2, workers=1) as session:
        conv, se = session.steps
        assert conv.sums and se.kind == "se" and se.inplace


def test_squeeze_excite_scale_goes_into_the_next_convolutions_exchange(tmp_path):
    m = _Model()
    path = m.save(tmp_path, OPS["squeeze_excite_then_pointwise"](m, "x"))
    _against_onnxruntime(path, m.shape)
    with HostSession(path, 2, workers=1) as session:
        conv, se, pointwise = session.steps
        assert conv.sums and se.inplace and pointwise.scale_from == se.output
        assert "conv dense 1x1 + scale" in session.profile(np.zeros(m.shape, np.float32), runs=1)


def test_profile_by_step_times_each_step_in_run_order():
    with HostSession("mobilenet_v2", 1, workers=2) as session:
        x = np.zeros(session.input_shape, np.float32)
        steps = session.profile(x, runs=1, by="step")
        assert list(steps) == [step.output for step in session.steps]
        assert all(seconds > 0 for seconds in steps.values())
        with pytest.raises(ValueError, match="by must be 'kind' or 'step'"):
            session.profile(x, runs=1, by="layer")


def test_phases_split_each_op_kind_into_the_workers_exchange_compute_and_wait():
    with HostSession("mobilenet_v2", 1, workers=2, pairs="always") as session:
        phases = session.phases(np.zeros(session.input_shape, np.float32), runs=1)
    assert {"pair depthwise 3x3 > 1x1", "conv dense 1x1 + relu6", "classifier"} <= set(phases)
    for kind, p in phases.items():
        assert set(p) == {"wall_s", "exchange_s", "compute_s", "wait_s", "bytes_in", "bytes_out"}, kind
        assert min(p.values()) >= 0, kind
        # two workers are busy or waiting for at most twice the steps' wall time
        assert p["exchange_s"] + p["compute_s"] + p["wait_s"] <= 2 * p["wall_s"] + 1e-4, kind
    assert phases["pair depthwise 3x3 > 1x1"]["exchange_s"] > 0  # the depthwise input copied in
    # the classifier brings in its 1280 x 1000 weights and writes 1000 logits
    assert phases["classifier"]["bytes_in"] >= 4 * 1280 * 1000 and phases["classifier"]["bytes_out"] == 4 * 1000
    assert phases["conv dense 1x1 + relu6"]["compute_s"] > phases["conv dense 1x1 + relu6"]["exchange_s"]


@pytest.mark.parametrize("pairs", ["always", "never", "measure"])
@pytest.mark.parametrize("op, steps, kind, key", [
    ("depthwise_then_pointwise", 1, "pairs", "pair depthwise 3x3 > 1x1"),  # dw + clip, 1x1 + add: one pair
    ("inverted_residual", 2, "blocks", "block 1x1 > depthwise 3x3 > 1x1"),  # the stem, then one block
])
def test_fused_pair_or_block_matches_onnxruntime_and_the_unfused_run(tmp_path, pairs, op, steps, kind, key):
    m = _Model((2, 8, 12, 12))
    path = m.save(tmp_path, OPS[op](m, "x"))
    described = _against_onnxruntime(path, m.shape)
    assert described["steps"] == steps and len(described[kind]) == 1 and len(described["pairs"]) == 1
    x = RNG.standard_normal(m.shape).astype(np.float32)
    with HostSession(path, 2, workers=2, pairs=pairs) as s, HostSession(path, 2, workers=2, pairs="never") as ref:
        chosen = list(s.describe()[kind].values())
        assert chosen == {"always": [True], "never": []}.get(pairs, chosen) and len(chosen) == (pairs != "never")
        y, y_ref = s.run(x), ref.run(x)
        np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6 * np.abs(y_ref).max())
        assert (key in s.profile(x, runs=1)) == (chosen == [True])  # the fused step when it was kept
    with pytest.raises(ValueError, match="pairs must be one of"):
        HostSession(path, 2, pairs="yes")


@pytest.mark.parametrize("winograd", ["always", "never", "measure"])
def test_winograd_choice_matches_onnxruntime_and_the_direct_run(tmp_path, winograd):
    """A ResNet basic block (two dense 3x3 stride-1 convolutions, batch norm folded, the
    residual and ReLU in the second's write) and a strided 3x3 that stays direct."""
    m = _Model((2, 16, 14, 14))
    y = m.node("Relu", [m.bn(m.conv("x", 16, 16, bias=False, pads=(1, 1, 1, 1)), 16)])
    y = m.node("Relu", [m.node("Add", [m.bn(m.conv(y, 16, 16, bias=False, pads=(1, 1, 1, 1)), 16), "x"])])
    path = m.save(tmp_path, m.conv(y, 16, 24, strides=(2, 2), pads=(1, 1, 1, 1)))
    x = RNG.standard_normal(m.shape).astype(np.float32)
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    ref_session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = ref_session.run(None, {"x": x})[0]
    with HostSession(path, 2, workers=2, winograd=winograd) as s, HostSession(path, 2, workers=2, winograd="never") as d:
        chosen = s.describe()["winograd"]
        # the two stride-1 convolutions, not the strided one; none considered with "never"
        assert len(chosen) == (0 if winograd == "never" else 2)
        assert winograd != "always" or all(chosen.values())
        assert max_relative_difference(s.run(x), ref) < 1e-5
        np.testing.assert_allclose(s.run(x), d.run(x), rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    with pytest.raises(ValueError, match="winograd must be one of"):
        HostSession(path, 2, winograd="yes")


def test_a_pair_that_does_not_fit_the_tiles_runs_in_two(monkeypatch):
    # The pointwise half computes from the depthwise rows where they lie in the tile, so a pair
    # needs little more than its pointwise layer alone and every MobileNetV2 pair fits the
    # session's tiles; a pool with smaller tiles than a pair needs (the engine's TileTooSmall,
    # tested in tests/engine/test_fused_runs.py) sends it through its two convolutions.
    real = engine.Conv2d.run_pair

    def run_pair(self, second, *args, **kwargs):
        if self.input_shape[1] == 144:  # s2.1's and s3.0's depthwise layers
            raise errors.TileTooSmall("ipx_conv_run_pair: tile too small", "IPX_STATUS_TILE_TOO_SMALL")
        return real(self, second, *args, **kwargs)

    monkeypatch.setattr(engine.Conv2d, "run_pair", run_pair)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    with HostSession("mobilenet_v2", 1, workers=1, pairs="always") as session, \
            HostSession("mobilenet_v2", 1, workers=1, pairs="never") as apart:
        chosen = session.describe()["pairs"]
        assert sum(not fused for fused in chosen.values()) == 2 and True in chosen.values()
        np.testing.assert_allclose(session.run(x), apart.run(x), rtol=1e-5, atol=1e-5)


def test_folded_batch_norm_matches_unfolded_in_float64():
    x = RNG.standard_normal((2, 6, 9, 9))
    w, b = RNG.standard_normal((8, 3, 3, 3)), RNG.standard_normal(8)
    norm = {"scale": RNG.standard_normal(8), "shift": RNG.standard_normal(8), "mean": RNG.standard_normal(8),
            "var": RNG.random(8) + 0.5, "epsilon": 1e-3}
    y = engine.reference_conv2d(x, w, b, padding=1, groups=2)
    c = lambda v: np.asarray(v)[None, :, None, None]  # noqa: E731
    unfolded = (y - c(norm["mean"])) / np.sqrt(c(norm["var"]) + norm["epsilon"]) * c(norm["scale"]) + c(norm["shift"])
    fw, fb = fold_batch_norm(w, b, norm)
    assert fw.dtype == fb.dtype == np.float64
    np.testing.assert_allclose(engine.reference_conv2d(x, fw, fb, padding=1, groups=2), unfolded, rtol=1e-12, atol=1e-12)
    fw0, fb0 = fold_batch_norm(w, None, norm)  # a convolution without bias
    np.testing.assert_allclose(fb0, fb - b * norm["scale"] / np.sqrt(norm["var"] + 1e-3), rtol=1e-12)


# ---- small ONNX models ----------------------------------------------------------------
class _Model:
    """A tiny graph built node by node with onnx.helper; tensors named t0, t1, ..."""

    def __init__(self, shape=(2, 8, 10, 10)):
        self.shape = shape
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, array) -> str:
        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(self, op, inputs, **attrs) -> str:
        self.count += 1
        out = f"t{self.count}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{op.lower()}{self.count}", **attrs))
        return out

    def conv(self, x, c, k, r=3, g=1, bias=True, **attrs) -> str:
        inputs = [x, self.const(RNG.standard_normal((k, c // g, r, r)) / np.sqrt(c // g * r * r))]
        if bias:
            inputs.append(self.const(RNG.standard_normal(k) * 0.1))
        return self.node("Conv", inputs, group=g, **attrs)

    def bn(self, x, c) -> str:
        consts = [RNG.random(c) + 0.5, RNG.standard_normal(c) * 0.1, RNG.standard_normal(c) * 0.1, RNG.random(c) + 0.5]
        return self.node("BatchNormalization", [x, *map(self.const, consts)], epsilon=1e-3)

    def save(self, tmp_path, out: str, name="m") -> str:
        graph = helper.make_graph(self.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        path = str(tmp_path / f"{name}.onnx")
        onnx.save(model, path)
        return path


def _against_onnxruntime(path, shape, tol=1e-5):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    x = RNG.standard_normal(shape).astype(np.float32)
    with HostSession(path, shape[0], workers=2) as session:
        y = session.run(x)
        described = session.describe()
    ref_session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = ref_session.run(None, {ref_session.get_inputs()[0].name: x})[0]
    assert y.shape == ref.shape
    assert max_relative_difference(y, ref) < tol
    return described


def _conv_then(m, tail):
    return tail(m, m.conv("x", 8, 8))


OPS = {
    "conv_grouped_strided_dilated": lambda m, x: m.conv(m.conv(x, 8, 12, g=4, strides=(2, 1), pads=(1, 1, 1, 1)), 12, 12,
                                                        r=3, g=12, dilations=(2, 2), pads=(2, 2, 2, 2)),
    "conv_asymmetric_pads": lambda m, x: m.conv(x, 8, 4, pads=(0, 1, 2, 1), bias=False),
    "conv_same_upper": lambda m, x: m.conv(x, 8, 4, strides=(2, 2), auto_pad="SAME_UPPER"),
    "batch_norm_folded": lambda m, x: m.bn(m.conv(x, 8, 8, bias=False), 8),
    "batch_norm_alone": lambda m, x: m.bn(m.node("Add", [x, x]), 8),
    "relu": lambda m, x: m.node("Relu", [m.conv(x, 8, 8)]),
    "clip_relu6": lambda m, x: m.node("Clip", [m.conv(x, 8, 8), m.const(0.0), m.const(6.0)]),
    "sigmoid": lambda m, x: m.node("Sigmoid", [m.conv(x, 8, 8)]),
    "silu": lambda m, x: (lambda y: m.node("Mul", [y, m.node("Sigmoid", [y])]))(m.conv(x, 8, 8)),
    "hardswish": lambda m, x: m.node("HardSwish", [m.conv(x, 8, 8)]),
    "hardsigmoid": lambda m, x: m.node("HardSigmoid", [m.conv(x, 8, 8)], alpha=0.25, beta=0.4),
    "tanh": lambda m, x: m.node("Tanh", [m.conv(x, 8, 8)]),
    "residual_add_relu": lambda m, x: m.node("Relu", [m.node("Add", [m.bn(m.conv(x, 8, 8, bias=False, pads=(1, 1, 1, 1)), 8),
                                                                      x])]),
    "add_of_two_convs": lambda m, x: m.node("Add", [m.conv(x, 8, 8, pads=(1, 1, 1, 1)), m.conv(x, 8, 8, r=1)]),
    "max_pool": lambda m, x: m.node("MaxPool", [x], kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    "average_pool_excluding_pad": lambda m, x: m.node("AveragePool", [x], kernel_shape=(3, 3), pads=(1, 1, 1, 1)),
    "average_pool_including_pad": lambda m, x: m.node("AveragePool", [x], kernel_shape=(3, 3), strides=(2, 2),
                                                      pads=(1, 1, 1, 1), count_include_pad=1),
    "global_average_pool": lambda m, x: m.node("GlobalAveragePool", [m.conv(x, 8, 8)]),
    "flatten_gemm_transb": lambda m, x: m.node("Gemm", [m.node("Flatten", [m.node("GlobalAveragePool", [x])]),
                                                        m.const(RNG.standard_normal((5, 8))), m.const(RNG.standard_normal(5))],
                                               transB=1, alpha=0.5, beta=2.0),
    "gemm_on_a_map": lambda m, x: m.node("Gemm", [m.node("Flatten", [m.conv(x, 8, 2, strides=(2, 2))]),
                                                  m.const(RNG.standard_normal((32, 7)) * 0.1)]),
    "matmul_add": lambda m, x: m.node("Add", [m.node("MatMul", [m.node("Flatten", [m.node("GlobalAveragePool", [x])]),
                                                                 m.const(RNG.standard_normal((8, 6)))]),
                                              m.const(RNG.standard_normal(6))]),
    "depthwise_then_pointwise": lambda m, x: m.node("Add", [m.conv(m.node("Clip", [m.conv(x, 8, 8, g=8, pads=(1, 1, 1, 1)),
                                                                     m.const(0.0), m.const(6.0)]), 8, 8, r=1), x]),
    # MobileNetV2's block after a stem: 1x1 expand + ReLU6, depthwise + ReLU6, 1x1 project + add
    "inverted_residual": lambda m, x: (lambda y: m.node("Add", [m.conv(m.node("Clip", [
        m.conv(m.node("Clip", [m.conv(y, 8, 24, r=1), m.const(0.0), m.const(6.0)]), 24, 24, g=24, pads=(1, 1, 1, 1)),
        m.const(0.0), m.const(6.0)]), 24, 8, r=1), y]))(m.node("Relu", [m.conv(x, 8, 8, pads=(1, 1, 1, 1))])),
    "squeeze_excite_then_pointwise": lambda m, x: m.conv(OPS["squeeze_excite"](m, x), 8, 16, r=1),
    "squeeze_excite": lambda m, x: (lambda y: m.node("Mul", [y, m.node("Sigmoid", [m.conv(m.node("Relu", [m.conv(
        m.node("GlobalAveragePool", [y]), 8, 2, r=1)]), 2, 8, r=1)])]))(m.conv(x, 8, 8, g=8)),
    # MobileNetV3's: hardswish inside, HardSigmoid gate (PyTorch's alpha 1/6, beta 1/2)
    "squeeze_excite_hardsigmoid": lambda m, x: (lambda y: m.node("Mul", [y, m.node("HardSigmoid", [m.conv(
        m.node("HardSwish", [m.conv(m.node("GlobalAveragePool", [y]), 8, 3, r=1)]), 3, 8, r=1)], alpha=1 / 6,
        beta=0.5)]))(m.conv(x, 8, 8, g=8)),
    # the squeezed tensor also read by an addition: its sums in an engine pass, the scale not in place
    "squeeze_excite_of_a_shared_tensor": lambda m, x: (lambda y: m.node("Add", [y, m.node("Mul", [y, m.node(
        "Sigmoid", [m.conv(m.node("Relu", [m.conv(m.node("GlobalAveragePool", [y]), 8, 2, r=1)]), 2, 8, r=1)])])]))(
        m.conv(x, 8, 8, g=8)),
}


def test_squeeze_excite_with_an_activation_the_engine_lacks_is_refused_up_front(tmp_path):
    m = _Model()
    y = m.conv("x", 8, 8, g=8)
    gate = m.node("Sigmoid", [m.conv(m.node("Tanh", [m.conv(m.node("GlobalAveragePool", [y]), 8, 2, r=1)]), 2, 8, r=1)])
    path = m.save(tmp_path, m.node("Mul", [y, gate]))
    with pytest.raises(ValueError, match="op squeeze-excite activation tanh .*cannot run in the engine"):
        HostSession(path, 2, workers=1)


@pytest.mark.parametrize("name", sorted(OPS))
def test_each_onnx_op_matches_onnxruntime(tmp_path, name):
    m = _Model()
    path = m.save(tmp_path, OPS[name](m, "x"), name)
    _against_onnxruntime(path, m.shape)


def test_residual_and_activation_fuse_into_the_convolution(tmp_path):
    m = _Model()
    path = m.save(tmp_path, OPS["residual_add_relu"](m, "x"))
    described = _against_onnxruntime(path, m.shape)
    assert described["steps"] == 1  # conv + batch norm + add + relu: one engine step
    (fused,) = described["fused"].values()
    assert [name[:3] for name in fused] == ["bat", "add", "rel"]


def test_builtin_network_fuses_and_is_deterministic():
    with HostSession("mobilenet_v2", 1, workers=2) as a, HostSession("mobilenet_v2", 1, workers=1) as b:
        x = RNG.standard_normal(a.input_shape).astype(np.float32)
        ya, yb = a.run(x), b.run(x)
        assert a.describe()["steps"] < len(a.network.layers) // 2  # bn and activations fused
        assert np.isfinite(ya).all() and ya.shape == (1, 1000)
        np.testing.assert_allclose(ya, yb, rtol=1e-4, atol=1e-4 * np.abs(ya).max())  # worker count invariance



def test_whole_network_runs_as_one_bound_program_on_each_runs_input():
    """The first convolution reads the caller's array through a call bound per run: one hold of
    the pool for the whole network, and each run reads its own input (no stale pointer)."""
    with HostSession("mobilenet_v2", 1, workers=2) as s:
        (program,) = s._program
        assert isinstance(program, list)
        x1, x2 = (RNG.standard_normal(s.input_shape).astype(np.float32) for _ in range(2))
        y1, y2 = s.run(x1), s.run(x2.copy())  # x2's copy freed after its run
        assert not np.array_equal(y1, y2)
        np.testing.assert_array_equal(s.run(x2), y2)
        np.testing.assert_array_equal(s.run(np.concatenate([x1, x2])[:1]), y1)  # a view of a larger array

# ---- whole networks ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def torchvision_onnx(tmp_path_factory, torchvision):
    """Exports torchvision's MobileNetV2 (random weights, perturbed batch-norm statistics)."""
    import torch

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp("onnx") / "mobilenet_v2.onnx")
    torch.onnx.export(model, torch.randn(2, 3, 224, 224), path, opset_version=17, dynamo=False)
    return path


def test_whole_network_matches_onnxruntime(torchvision_onnx):
    _against_onnxruntime(torchvision_onnx, (2, 3, 224, 224), tol=1e-4)


# ---- bad input -------------------------------------------------------------------------
def test_unsupported_op_is_refused_with_its_name_and_node(tmp_path):
    m = _Model()
    path = m.save(tmp_path, m.node("Softmax", [m.conv("x", 8, 8)]))
    with pytest.raises(ValueError, match=r"op Softmax \(node 'softmax2'\) cannot run"):
        HostSession(path, 2)


def test_approximated_op_is_refused(tmp_path):
    m = _Model()
    norm = m.node("InstanceNormalization", [m.conv("x", 8, 8), m.const(np.ones(8)), m.const(np.zeros(8))])
    path = m.save(tmp_path, norm)  # described for the cost models, not computed by the session
    with pytest.raises(ValueError, match="InstanceNormalization"):
        HostSession(path, 2)


def test_batch_different_from_the_model_is_one_line(tmp_path):
    m = _Model()
    path = m.save(tmp_path, m.conv("x", 8, 8))
    with pytest.raises(ValueError, match="batch=3 but model .* static batch of 2") as info:
        HostSession(path, 3)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("batch", [0, -1, 1.5, True, "2"])
def test_bad_batch(batch):
    with pytest.raises(ValueError, match="batch"):
        HostSession("mobilenet_v2", batch)


def test_run_refuses_wrong_dtype_and_shape(tmp_path):
    m = _Model()
    path = m.save(tmp_path, m.conv("x", 8, 8))
    with HostSession(path, 2, workers=1) as session:
        with pytest.raises(errors.InvalidType, match="x must have dtype float32"):
            session.run(np.zeros(m.shape))
        with pytest.raises(errors.InvalidType, match="x must be a numpy.ndarray"):
            session.run([[0.0]])
        with pytest.raises(errors.InvalidParameter, match=r"x has shape \(1, 8, 10, 10\)"):
            session.run(np.zeros((1, 8, 10, 10), np.float32))
        with pytest.raises(errors.InvalidParameter, match="C-contiguous"):
            session.run(np.zeros((2, 8, 10, 20), np.float32)[..., ::2])


def test_session_over_the_memory_limit_is_refused_before_allocating(monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was created before the memory check")

    monkeypatch.setattr(engine, "Pool", no_pool)
    engine.set_memory_limit(64 << 20)  # ResNet-50 at batch 64 needs about 1 GB of activations
    try:
        with pytest.raises(errors.MemoryLimitExceeded, match="resnet50 at batch 64 needs"):
            HostSession("resnet50", 64)
    finally:
        engine.set_memory_limit(None)


def test_onnx_path_that_does_not_exist():
    with pytest.raises(ValueError, match="no such ONNX file"):
        HostSession(os.path.join("nowhere", "model.onnx"), 1)


# ---- the CLI ----------------------------------------------------------------------------
def _cli(capsys, *argv):
    from ipuexplore.cli import main

    code = main(["net", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_run_check_reports_the_difference_from_onnxruntime(tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    m = _Model()
    path = m.save(tmp_path, OPS["residual_add_relu"](m, "x"))
    code, out, err = _cli(capsys, path, "--batch", "2", "--run", "--check", "--json", "--chips", "v100")
    assert code == 0, err
    session = json.loads(out)["session"]
    assert session["weights"] == "onnx" and session["steps"] == 1 and session["images_per_s"] > 0
    assert 0 <= session["max_rel_diff"] < 1e-5
    code, out, err = _cli(capsys, path, "--batch", "2", "--run", "--check", "--chips", "v100")
    assert code == 0 and "check against ONNX Runtime: largest difference" in out


@pytest.mark.parametrize("argv", [["mobilenet_v2", "--run", "--check"], ["MODEL", "--check"]])
def test_cli_check_needs_run_and_an_onnx_model(tmp_path, capsys, argv):
    argv = [str(tmp_path / "m.onnx") if a == "MODEL" else a for a in argv]
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--check" in err


def test_cli_batch_different_from_the_model_is_one_line(tmp_path, capsys):
    m = _Model()
    path = m.save(tmp_path, m.conv("x", 8, 8))
    code, out, err = _cli(capsys, path, "--batch", "3", "--run", "--chips", "v100")
    assert code == 2 and "static batch of 2" in err and err.count("\n") == 1


def test_a_large_batch_classifier_runs_in_the_default_tiles(tmp_path):
    """The classifier (``engine.Linear``) takes blocks of images that fit the tiles: at batch
    300 the whole batch's inputs (1280 x 300 floats, 1.5 MB) would outgrow the default 624 KiB
    tiles, and the session's pool keeps them (a MobileNetV2 head: pool, 1280 -> 1000)."""
    m = _Model((300, 1280, 2, 2))
    w, b = RNG.standard_normal((1000, 1280)) / 36, RNG.standard_normal(1000) * 0.1
    out = m.node("Gemm", [m.node("Flatten", [m.node("GlobalAveragePool", ["x"])]), m.const(w), m.const(b)], transB=1)
    x = RNG.standard_normal((300, 1280, 2, 2)).astype(np.float32)
    with HostSession(m.save(tmp_path, out), 300, workers=1) as session:
        assert session.describe()["tile_bytes"] == engine.DEFAULT_TILE_BYTES < 1280 * 300 * 4
        y = session.run(x)
    expected = x.astype(np.float64).mean(axis=(2, 3)) @ w.T + b
    assert y.shape == (300, 1000)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
