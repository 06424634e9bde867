"""The engine's pooling (max_pool2d, avg_pool2d, Pooling2d) against ONNX Runtime's MaxPool and
AveragePool on one-node models for every parameter combination, against numpy for global
pooling, and its refusals of bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ipuexplore import engine, errors

RNG = np.random.default_rng(5)


@pytest.fixture(scope="module")
def pool():
    with engine.Pool(2) as p:
        yield p


def _onnxruntime(op: str, x: np.ndarray, out_shape, **attrs) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


CASES = [  # (h, w), kernel, stride, pads (top, bottom, left, right)
    ((9, 11), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((112, 112), (3, 3), (2, 2), (1, 1, 1, 1)),  # ResNet-50's max pool
    ((8, 8), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((7, 10), (2, 2), (1, 1), (1, 0, 0, 1)),
    ((10, 9), (3, 3), (1, 1), (1, 1, 1, 1)),
    ((13, 6), (3, 2), (2, 1), (0, 2, 1, 0)),
    ((5, 17), (3, 3), (3, 3), (2, 0, 0, 2)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0][0]}x{c[0][1]}k{c[1][0]}{c[1][1]}s{c[2][0]}{c[2][1]}p{''.join(map(str, c[3]))}")
@pytest.mark.parametrize("mode", ["max", "avg", "avg_include_pad"])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pooling_matches_onnxruntime(pool, case, mode, ceil_mode):
    (h, w), kernel, stride, pads = case
    x = RNG.standard_normal((2, 5, h, w)).astype(np.float32)
    include_pad = mode == "avg_include_pad"
    op = engine.Pooling2d(x.shape, kernel, stride, pads, mode="max" if mode == "max" else "avg",
                          ceil_mode=ceil_mode, count_include_pad=include_pad)
    y = op.run(x, pool=pool)
    attrs = {"kernel_shape": kernel, "strides": stride, "pads": (pads[0], pads[2], pads[1], pads[3]),
             "ceil_mode": int(ceil_mode)}
    if mode != "max":
        attrs["count_include_pad"] = int(include_pad)
    ref = _onnxruntime("MaxPool" if mode == "max" else "AveragePool", x, y.shape, **attrs)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fn", [engine.max_pool2d, engine.avg_pool2d])
def test_functions_match_torch_including_unbatched_and_out(fn, pool):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((3, 4, 15, 17)).astype(np.float32)
    for kernel, stride, padding, ceil_mode in itertools.product((2, 3, (3, 2)), (None, 1, 2), (0, 1), (False, True)):
        ref = getattr(torch.nn.functional, fn.__name__)(torch.from_numpy(x), kernel, stride, padding,
                                                        ceil_mode=ceil_mode).numpy()
        np.testing.assert_allclose(fn(x, kernel, stride, padding, ceil_mode, pool=pool), ref, rtol=1e-6, atol=1e-6)
    out = np.empty(ref.shape[1:], np.float32)
    got = fn(x[0], kernel, stride, padding, ceil_mode, out=out, workers=1)
    assert np.shares_memory(got, out)
    np.testing.assert_allclose(out, ref[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 2048, 7, 7), (1, 3, 1, 1), (4, 16, 3, 5)])
def test_global_pooling_matches_numpy(pool, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    mean = engine.avg_pool2d(x, shape[2:], pool=pool)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(engine.max_pool2d(x, shape[2:], pool=pool), x.max(axis=(2, 3), keepdims=True))
    stats = pool.last_stats
    assert stats.total_flops == x.size and stats.bytes_in.sum() == 4 * x.size  # read once, in place


def test_statistics_count_window_elements_and_bytes(pool):
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    y = engine.max_pool2d(x, 2, pool=pool)
    stats = pool.last_stats
    assert stats.total_flops == y.size * 4 and stats.bytes_out.sum() == 4 * y.size
    assert stats.bytes_in.sum() >= 4 * x.size


def test_small_tiles_still_give_the_right_answer():
    x = RNG.standard_normal((2, 6, 40, 40)).astype(np.float32)
    with engine.Pool(3, tile_bytes=engine.DEFAULT_TILE_BYTES // 128) as small:
        y = engine.max_pool2d(x, 3, 2, 1, pool=small)
    np.testing.assert_array_equal(y, engine.max_pool2d(x, 3, 2, 1, workers=1))


BAD = [
    (dict(padding=3), errors.InvalidParameter, "padding"),
    (dict(padding=(1, 2, 3)), errors.InvalidParameter, "padding"),
    (dict(padding=-1), errors.InvalidParameter, "padding"),
    (dict(kernel_size=0), errors.InvalidParameter, "kernel_size"),
    (dict(kernel_size=40), errors.InvalidParameter, "kernel_size"),
    (dict(kernel_size=2.5), errors.InvalidType, "kernel_size"),
    (dict(stride=0), errors.InvalidParameter, "stride"),
    (dict(ceil_mode=1), errors.InvalidType, "ceil_mode"),
    (dict(count_include_pad="yes"), errors.InvalidType, "count_include_pad"),
]


@pytest.mark.parametrize("kwargs, exc, name", BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
def test_bad_arguments_raise_naming_the_parameter(kwargs, exc, name):
    x = np.zeros((1, 2, 9, 9), np.float32)
    args = dict(kernel_size=3, stride=2, padding=1)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        engine.avg_pool2d(x, **args)
    assert issubclass(errors.InvalidParameter, ValueError) and issubclass(errors.InvalidType, TypeError)


def test_bad_arrays_and_buffers_are_refused(pool):
    x = np.zeros((1, 2, 9, 9), np.float32)
    with pytest.raises(errors.InvalidType, match="input"):
        engine.max_pool2d(x.astype(np.float64), 3)
    with pytest.raises(errors.InvalidParameter, match="input"):
        engine.max_pool2d(np.zeros((9, 9), np.float32), 3)
    with pytest.raises(errors.InvalidParameter, match="out"):
        engine.max_pool2d(x, 3, out=np.empty((1, 2, 4, 4), np.float32))
    with pytest.raises(errors.InvalidParameter, match="overlaps"):
        engine.max_pool2d(x, 1, out=x)
    with pytest.raises(errors.InvalidType, match="pool"):
        engine.max_pool2d(x, 3, pool="two workers")
    op = engine.Pooling2d(x.shape, 3, mode="avg")
    with pytest.raises(errors.InvalidParameter, match="prepared for"):
        op.run(np.zeros((1, 2, 9, 8), np.float32), pool=pool)
    with pytest.raises(errors.InvalidParameter, match="mode"):
        engine.Pooling2d(x.shape, 3, mode="min")
    with pytest.raises(errors.InvalidParameter, match="input_shape"):
        engine.Pooling2d((2, 9, 9), 3)
