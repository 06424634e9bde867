"""The GEMM lowering the engine picks on its own for one-group layers with fewer than 8 input
channels (network stems: 3 -> 32, 3x3, stride 2): im2col rows in tile memory and the pointwise
kernel's compute over K = c*r*s, against the float64 reference in every ISA build: strides 1, 2
and 3 (the exchange's vector paths and its scalar one), padding on any side, dilation, 1x1
with padding, output channels that are not multiples of 8, maps narrower than a vector,
several images, tiles small enough to cut a layer into many blocks, the epilogue in the
write (residual, each activation, channel sums) and backward data through the same path."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d, reference_conv2d_backward

ISAS = ["native", "avx2", "portable"]
RNG = np.random.default_rng(5)


def _act64(x, op):
    s = 1 / (1 + np.exp(-x))
    return {None: x, "relu": np.maximum(x, 0), "relu6": np.clip(x, 0, 6), "sigmoid": s, "silu": x * s,
            "hardswish": x * np.clip(x + 3, 0, 6) / 6}[op]


def _close(y, ref):
    scale = np.abs(ref).max() + 1.0
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * scale)


def _isa(isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    return isa == "portable"


# (n, c, h, w, k, r, s, stride, padding, dilation)
SHAPES = [
    (2, 3, 32, 32, 32, 3, 3, 2, 1, 1),             # a stem, shrunk
    (1, 3, 224, 224, 32, 3, 3, 2, 1, 1),           # the stem of MobileNetV2 and EfficientNet-B0
    (3, 4, 17, 13, 12, 3, 3, 1, 1, 1),             # stride 1, 12 outputs: a partial vector of 8
    (2, 5, 9, 20, 16, 3, 3, 1, 2, 2),              # dilation 2
    (2, 5, 9, 20, 16, 1, 9, 1, (0, 0, 4, 4), 1),   # 1x9: the largest window it takes
    (2, 7, 11, 11, 8, 1, 1, 1, 1, 1),              # 1x1 with padding (the pointwise path has none)
    (2, 3, 15, 31, 24, 3, 3, 3, 0, 1),             # stride 3: the scalar gather
    (1, 2, 6, 5, 9, 3, 3, (2, 1), (0, 2, 1, 0), 1),  # one-sided padding, uneven strides, tiny map
    (2, 1, 40, 7, 40, 3, 3, 2, 1, 1),              # one input channel, a map narrower than a vector
    (2, 3, 9, 17, 8, 3, 3, 2, 0, 1),               # stride 2, rows of exactly one vector from column 0
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_lowered_layers_match_the_reference(isa, shape, monkeypatch):
    n, c, h, w, k, r, s, stride, padding, dilation = shape
    portable = _isa(isa, monkeypatch)
    x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
    wt = RNG.standard_normal((k, c, r, s)).astype(np.float32)
    b = RNG.standard_normal(k).astype(np.float32)
    with Pool(2) as pool:
        conv = Conv2d(wt, b, x.shape, stride, padding, dilation, pool=pool, portable=portable)
        assert (conv.info["kernel"], conv.info["algorithm"]) == ("gemm", "gemm")
        out = np.full(conv.output_shape, np.nan, np.float32)  # every output must be written
        conv.run(x, out)
    _close(out, reference_conv2d(x, wt, b, stride, padding, dilation))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [(2, 3, 45, 38, 64, 7, 7, 2, 3), (1, 1, 20, 9, 24, 5, 5, 1, 2),
                                   (2, 4, 17, 30, 40, 7, 3, 2, (3, 1))], ids=str)
def test_windows_past_3x3_run_the_channel_kernel(isa, shape, monkeypatch):
    """A stem with a window larger than 3x3 (ResNet's 7x7) would copy each input r*s times
    into im2col rows: it runs the channel kernel on the padded rows instead."""
    n, c, h, w, k, r, s, stride, padding = shape
    portable = _isa(isa, monkeypatch)
    x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
    wt = RNG.standard_normal((k, c, r, s)).astype(np.float32)
    b = RNG.standard_normal(k).astype(np.float32)
    with Pool(2, tile_bytes=32 * 1024) as pool:
        conv = Conv2d(wt, b, x.shape, stride, padding, pool=pool, portable=portable)
        assert conv.info["kernel"] == "channel"
        y = conv.run_fused(x, activation="relu")
    _close(y, np.maximum(reference_conv2d(x, wt, b, stride, padding), 0))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", [None, "relu", "relu6", "sigmoid", "silu", "hardswish"])
def test_epilogue_in_the_write(isa, activation, monkeypatch):
    portable = _isa(isa, monkeypatch)
    n, c, h, w, k = 2, 3, 23, 19, 20
    x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
    wt = RNG.standard_normal((k, c, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(k).astype(np.float32)
    with Pool(2, tile_bytes=16 * 1024) as pool:  # many blocks, each a few rows
        conv = Conv2d(wt, b, x.shape, 2, 1, pool=pool, portable=portable)
        res = RNG.standard_normal(conv.output_shape).astype(np.float32)
        sums = np.full((n, k), np.nan, np.float32)
        y = conv.run_fused(x, residual=res, activation=activation, channel_sums=sums)
        plain = conv.run_fused(x, activation=activation)
    ref = reference_conv2d(x, wt, b, 2, 1)
    _close(y, _act64(ref + res, activation))
    _close(plain, _act64(ref, activation))
    np.testing.assert_allclose(sums, y.sum(axis=(2, 3), dtype=np.float64), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("tile_kib", [8, 64, 624])
def test_worker_counts_and_tiles_give_identical_results(isa, tile_kib, monkeypatch):
    portable = _isa(isa, monkeypatch)
    x = RNG.standard_normal((3, 3, 45, 38)).astype(np.float32)
    wt = RNG.standard_normal((24, 3, 3, 3)).astype(np.float32)
    outs = []
    for workers in (1, 3):
        with Pool(workers, tile_bytes=tile_kib * 1024) as pool:
            outs.append(Conv2d(wt, None, x.shape, 2, 1, pool=pool, portable=portable).run(x))
    np.testing.assert_array_equal(outs[0], outs[1])
    _close(outs[0], reference_conv2d(x, wt, None, 2, 1))


@pytest.mark.parametrize("isa", ISAS)
def test_backward_data_runs_through_the_lowering(isa, monkeypatch):
    """A layer 16 -> 4 (stride 1) has a backward-data geometry 4 -> 16: the lowered path."""
    portable = _isa(isa, monkeypatch)
    x = RNG.standard_normal((2, 16, 13, 11)).astype(np.float32)
    wt = RNG.standard_normal((4, 16, 3, 3)).astype(np.float32)
    with Pool(2) as pool:
        conv = Conv2d(wt, None, x.shape, 1, 1, pool=pool, portable=portable, backward=True)
        dy = RNG.standard_normal(conv.output_shape).astype(np.float32)
        dx = conv.backward_data(dy)
        assert pool.last_stats.kernel == "gemm"
    _close(dx, reference_conv2d_backward(dy, x, wt, 1, 1)[0])


def test_explicit_direct_keeps_the_row_kernel():
    x = RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)
    wt = RNG.standard_normal((16, 3, 3, 3)).astype(np.float32)
    with Pool(1) as pool:
        conv = Conv2d(wt, None, x.shape, 2, 1, pool=pool, algorithm="direct")
        assert (conv.info["kernel"], conv.info["algorithm"]) == ("row", "direct")
        _close(conv.run(x), reference_conv2d(x, wt, None, 2, 1))
