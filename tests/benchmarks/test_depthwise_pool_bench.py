"""Depthwise convolutions and pooling: the engine against ONNX Runtime, one layer at a time.

Each kind of depthwise layer MobileNetV2 and EfficientNet-B0 run (3x3 and 5x5, stride 1 and 2,
at their sizes) with the activation those networks put after it, fused in the write phase
(EfficientNet's SiLU layers also sum each channel for squeeze-excite); ResNet-50's 3x3/2 max
pool and the global average pools. ONNX Runtime runs the same layer as a one-node model (Conv +
Clip, or Conv + Sigmoid + Mul; MaxPool; GlobalAveragePool). 2 threads / 2 workers each; ONNX
Runtime's median of 7 passes in a block of its own after the engine's (its threads spin after a
run). ``extra_info``: both medians in ms and the engine's time relative to ONNX Runtime's.

Timed: ``pytest tests/benchmarks/test_depthwise_pool_bench.py --benchmark-enable --benchmark-only``.
Untimed (the default) each case runs once and checks the engine's output against ONNX Runtime.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("ipuexplore._ipx", reason="the C engine is not built")
onnx = pytest.importorskip("onnx", reason="the optional onnx package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ipuexplore import engine  # noqa: E402

THREADS = 2
RUNS = 7
DEPTHWISE = {  # name: channels, input size, kernel, stride, activation (networks' own layers)
    "mobilenet_v2 3x3/1": (144, 56, 3, 1, "relu6"),
    "mobilenet_v2 3x3/2": (96, 112, 3, 2, "relu6"),
    "mobilenet_v2 3x3/1 7x7": (960, 7, 3, 1, "relu6"),
    "efficientnet_b0 3x3/1": (32, 112, 3, 1, "silu"),
    "efficientnet_b0 3x3/2": (240, 28, 3, 2, "silu"),
    "efficientnet_b0 5x5/1": (240, 28, 5, 1, "silu"),
    "efficientnet_b0 5x5/2": (144, 56, 5, 2, "silu"),
    "efficientnet_b0 5x5/1 7x7": (1152, 7, 5, 1, "silu"),
}
POOLS = {  # name: op, channels, input size, kernel, stride, padding
    "resnet50 max 3x3/2": ("MaxPool", 64, 112, 3, 2, 1),
    "resnet50 global average": ("GlobalAveragePool", 2048, 7, 7, 1, 0),
    "efficientnet_b0 global average": ("GlobalAveragePool", 1280, 7, 7, 1, 0),
}
BATCHES = (1, 4)


@pytest.fixture(scope="module")
def pool():
    with engine.Pool(THREADS) as p:
        yield p


def _session(nodes, inits, x_shape, y_shape):
    graph = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _median_ms(fn) -> float:
    fn()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    time.sleep(0.2)  # let the threads stop spinning before the other runtime runs
    return float(np.median(times)) * 1e3


def _record(benchmark, run_engine, run_ort):
    benchmark.pedantic(run_engine, rounds=RUNS, warmup_rounds=1)
    time.sleep(0.2)
    ort_ms = _median_ms(run_ort)
    if benchmark.stats is not None:  # None when benchmarks are disabled
        engine_ms = float(benchmark.stats.stats.median) * 1e3
        benchmark.extra_info.update(engine_ms=engine_ms, onnxruntime_ms=ort_ms, engine_over_onnxruntime=engine_ms / ort_ms)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("name", sorted(DEPTHWISE))
def test_depthwise_against_onnxruntime(benchmark, pool, name, batch):
    c, h, k, stride, act = DEPTHWISE[name]
    benchmark.group = f"depthwise {name}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, h, h)).astype(np.float32)
    w = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    conv = engine.Conv2d(w, b, x.shape, stride=stride, padding=k // 2, groups=c, pool=pool)
    out = np.empty(conv.output_shape, np.float32)
    sums = np.empty(out.shape[:2], np.float32) if act == "silu" else None

    def fused():
        conv.run_fused(x, out, activation=act, channel_sums=sums)

    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["z"], group=c, kernel_shape=[k, k], strides=[stride] * 2,
                              pads=[k // 2] * 4)]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    if act == "relu6":
        nodes.append(helper.make_node("Clip", ["z", "lo", "hi"], ["y"]))
        inits += [numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
    else:
        nodes += [helper.make_node("Sigmoid", ["z"], ["s"]), helper.make_node("Mul", ["z", "s"], ["y"])]
    session = _session(nodes, inits, x.shape, out.shape)
    fused()
    ref = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
    if sums is not None:
        np.testing.assert_allclose(sums, ref.sum(axis=(2, 3), dtype=np.float64), rtol=1e-3, atol=1e-2)
    _record(benchmark, fused, lambda: session.run(None, {"x": x}))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("name", sorted(POOLS))
def test_pooling_against_onnxruntime(benchmark, pool, name, batch):
    op, c, h, k, stride, pad = POOLS[name]
    benchmark.group = f"pooling {name}"
    x = np.random.default_rng(1).standard_normal((batch, c, h, h)).astype(np.float32)
    if op == "MaxPool":
        layer = engine.Pooling2d(x.shape, k, stride, pad, mode="max")
        node = helper.make_node(op, ["x"], ["y"], kernel_shape=[k, k], strides=[stride] * 2, pads=[pad] * 4)
    else:
        layer = engine.Pooling2d(x.shape, k, mode="avg")
        node = helper.make_node(op, ["x"], ["y"])
    out = np.empty(layer.output_shape, np.float32)
    session = _session([node], [], x.shape, out.shape)
    layer.run(x, out, pool=pool)
    np.testing.assert_allclose(out, session.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    _record(benchmark, lambda: layer.run(x, out, pool=pool), lambda: session.run(None, {"x": x}))
