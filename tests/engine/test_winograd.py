"""algorithm="winograd": the F(2x2, 3x3) kernel against the float64 reference on every ISA
build, the geometries it takes and those it leaves to the direct kernels, its epilogues, and
what its handles report."""

import numpy as np
import pytest

from ipuexplore import errors
from ipuexplore.engine import Conv2d, Pool, reference_conv2d, reference_conv2d_backward
from ipuexplore.networks.epilogue import Epilogue


def _layer(n, c, k, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, wt, b


def _close(y, ref, rtol=2e-5):
    scale = np.abs(ref).max()
    np.testing.assert_allclose(y, ref, rtol=0, atol=rtol * scale)


@pytest.fixture(params=["native", "avx2", "portable"])
def isa(request, monkeypatch):
    if request.param == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    return request.param


# (n, c, k, h, w, padding): odd and even maps (tile rows and columns cut in half at the
# edge), channels not a multiple of 8, one-row and one-column maps, 7x7 to 56x56, unpadded,
# asymmetric and wide padding, rows of more than one chunk of tiles
SHAPES = [
    (1, 64, 64, 56, 56, 1),
    (2, 16, 24, 13, 11, 1),
    (1, 8, 8, 7, 7, 1),
    (3, 13, 20, 9, 14, 0),
    (1, 24, 16, 17, 5, (2, 0, 1, 3)),
    (2, 9, 17, 1, 1, 1),
    (1, 32, 40, 1, 23, 1),
    (1, 40, 48, 30, 2, 2),
    (1, 256, 72, 14, 14, 1),
]


@pytest.mark.parametrize("n, c, k, h, w, pad", SHAPES)
def test_matches_the_float64_reference(n, c, k, h, w, pad, isa):
    x, wt, b = _layer(n, c, k, h, w, seed=c * k + h)
    with Pool(2) as pool:
        conv = Conv2d(wt, b, x.shape, 1, pad, pool=pool, portable=isa == "portable", algorithm="winograd")
        assert conv.info["kernel"] == "winograd" and conv.info["algorithm"] == "winograd"
        y = conv.run(x)
    _close(y, reference_conv2d(x, wt, b, 1, pad))


@pytest.mark.parametrize("workers, tile_bytes", [(1, None), (3, None), (2, 96 * 1024), (3, 128 * 1024)])
def test_blocks_cut_by_rows_and_channels_give_the_same_result(workers, tile_bytes, isa):
    """Small tiles cut a layer into blocks of few (odd) rows and part of the output channels."""
    x, wt, b = _layer(2, 48, 56, 19, 21, seed=workers)
    ref = reference_conv2d(x, wt, b, 1, 1)
    kwargs = {} if tile_bytes is None else {"tile_bytes": tile_bytes}
    with Pool(workers, **kwargs) as pool:
        conv = Conv2d(wt, b, x.shape, 1, 1, pool=pool, portable=isa == "portable", algorithm="winograd")
        y = conv.run(x)
        assert conv.stats.total_flops == 2 * 2 * 56 * 48 * 9 * 19 * 21  # the direct convolution's
    _close(y, ref)


@pytest.mark.parametrize("act", [None, "relu", "relu6", "silu", "sigmoid", "hardswish"])
def test_fused_epilogues_equal_the_separate_pass(act, isa):
    x, wt, b = _layer(2, 24, 32, 15, 15, seed=7)
    wt *= 4  # results past 6 and below 0
    rng = np.random.default_rng(3)
    residual = rng.standard_normal((2, 32, 15, 15)).astype(np.float32)
    scale = rng.uniform(0.2, 2.0, (2, 24)).astype(np.float32)
    with Pool(2) as pool:
        conv = Conv2d(wt, b, x.shape, 1, 1, pool=pool, portable=isa == "portable", algorithm="winograd")
        sums = np.empty((2, 32), np.float32)
        fused = conv.run_fused(x, residual=residual, activation=act, channel_sums=sums, input_scale=scale)
        two = conv.run(x * scale[:, :, None, None]) + residual
        if act:
            Epilogue(act, pool)(two)
    ref = reference_conv2d(x * scale[:, :, None, None].astype(np.float64), wt, b, 1, 1) + residual
    np.testing.assert_allclose(fused, two, rtol=1e-5, atol=1e-5 * np.abs(two).max())
    np.testing.assert_allclose(sums, two.sum(axis=(2, 3)), rtol=1e-4, atol=1e-3)
    if act is None:
        _close(fused, ref)


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_clamps_in_the_write(act):
    x, wt, b = _layer(1, 16, 24, 10, 10, seed=11)
    wt *= 8
    with Pool(2) as pool:
        conv = Conv2d(wt, b, x.shape, 1, 1, pool=pool, algorithm="winograd")
        raw = conv.run(x)
        fused = conv.run_fused(x, np.full_like(raw, np.nan), activation=act)
    assert (raw > 6).any() and (raw < 0).any()
    np.testing.assert_array_equal(fused, np.clip(raw, 0, 6 if act == "relu6" else None))


@pytest.mark.parametrize("geometry", [
    dict(stride=2, padding=1), dict(stride=1, padding=2, dilation=2), dict(stride=1, padding=1, groups=2),
    dict(stride=1, padding=1, c=4), dict(stride=1, padding=2, r=5), dict(stride=1, padding=0, r=1),
])
def test_other_geometries_run_as_auto(geometry):
    g = dict(geometry)
    c, r = g.pop("c", 16), g.pop("r", 3)
    groups = g.get("groups", 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, 12, 12)).astype(np.float32)
    wt = rng.standard_normal((16, c // groups, r, r)).astype(np.float32)
    with Pool(2) as pool:
        wino = Conv2d(wt, None, x.shape, pool=pool, algorithm="winograd", **g)
        auto = Conv2d(wt, None, x.shape, pool=pool, **g)
        assert wino.info["kernel"] == auto.info["kernel"] != "winograd"
        assert wino.info["algorithm"] == auto.info["algorithm"]
        np.testing.assert_array_equal(wino.run(x), auto.run(x))


def test_packed_weights_and_a_tile_too_small_are_reported():
    x, wt, b = _layer(1, 64, 64, 14, 14, seed=2)
    with Pool(1) as pool:
        wino = Conv2d(wt, b, x.shape, 1, 1, pool=pool, algorithm="winograd")
        direct = Conv2d(wt, b, x.shape, 1, 1, pool=pool)
        # 16 transformed weights per (output, input) pair where the direct kernel keeps 9
        assert wino.info["allocated_bytes"] - direct.info["allocated_bytes"] == 64 * 64 * 7 * 4
        assert wino.info["min_tile_bytes"] > 4096
    with Pool(1, tile_bytes=4096) as tiny:
        with pytest.raises(errors.TileTooSmall):
            Conv2d(wt, b, x.shape, 1, 1, pool=tiny, algorithm="winograd").run(x)


@pytest.mark.parametrize("pad", [0, 1, 2, (3, 0, 1, 2)])
def test_backward_data_of_a_stride_1_layer_runs_winograd_too(pad):
    """Backward data is a stride-1 3x3 convolution of the output gradient (weights flipped,
    padding 2 - pad: negative past 2)."""
    x, wt, b = _layer(2, 16, 24, 11, 9, seed=5)
    rng = np.random.default_rng(6)
    with Pool(2) as pool:
        conv = Conv2d(wt, b, x.shape, 1, pad, pool=pool, algorithm="winograd", backward=True)
        dy = rng.standard_normal(conv.output_shape).astype(np.float32)
        dx = conv.backward_data(dy)
    ref = reference_conv2d_backward(dy, x, wt, 1, pad)[0]
    _close(dx, ref)


def test_non_finite_inputs_stay_in_their_windows(isa):
    """NaN gives NaN where the direct kernel does; an infinity may give NaN where it gives
    +-Inf; every output whose window is finite stays finite."""
    x, wt, b = _layer(1, 16, 16, 12, 12, seed=9)
    x[0, 3, 2, 5] = np.nan
    x[0, 7, 9, 9] = np.inf
    with Pool(2) as pool:
        wino = Conv2d(wt, b, x.shape, 1, 1, pool=pool, portable=isa == "portable", algorithm="winograd").run(x)
        direct = Conv2d(wt, b, x.shape, 1, 1, pool=pool, portable=isa == "portable").run(x)
    np.testing.assert_array_equal(np.isfinite(wino), np.isfinite(direct))
    assert (np.isnan(wino) | ~np.isnan(direct)).all()
    assert (np.isinf(wino) <= np.isinf(direct)).all() and np.isinf(direct).any()
    finite = np.isfinite(direct)
    np.testing.assert_allclose(wino[finite], direct[finite], rtol=1e-4, atol=1e-4 * np.abs(direct[finite]).max())
