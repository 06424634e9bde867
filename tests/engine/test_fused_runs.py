"""Fused runs: Conv2d.run_pair (depthwise -> pointwise in one pass, the depthwise rows kept in
tile memory), Conv2d.run_block (a 1x1 expand before the pair, its rows kept in tile memory too)
and run_fused's input_scale (a channel scale applied in the exchange), each
against its unfused run (to float rounding) and a float64 reference; what the statistics count;
bad input."""

import numpy as np
import pytest

from ipuexplore import errors
from ipuexplore.engine import Conv2d, Pool, reference_conv2d

RNG = np.random.default_rng(11)


def _act64(x, op):
    s = 1 / (1 + np.exp(-x))
    return {None: x, "relu6": np.clip(x, 0, 6), "silu": x * s, "relu": np.maximum(x, 0)}[op]


def _pair(n, c, h, w, k, r=3, stride=1, pool=None):
    wd = RNG.standard_normal((c, 1, r, r)).astype(np.float32)
    bd = RNG.standard_normal(c).astype(np.float32)
    dw = Conv2d(wd, bd, (n, c, h, w), stride, r // 2, 1, c, pool=pool)
    wp = (RNG.standard_normal((k, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
    bp = RNG.standard_normal(k).astype(np.float32)
    pw = Conv2d(wp, bp, dw.output_shape, pool=pool)
    return dw, pw, (wd, bd, wp, bp)


# (n, c, h, w, k, r, stride): 3x3 stride 1 (its own depthwise code), strided, 5x5, odd sizes,
# maps narrower than a vector, one image; a 3x3 map (under 16 pixels: the pointwise half is the
# channel kernel, which copies the rows into its own layout); 400 channels on 16 x 16 (one
# worker's blocks of 8 rows: the pointwise kernel copies them into its panels); the others
# read them in place
PAIRS = [(2, 32, 20, 20, 24, 3, 1), (3, 17, 9, 11, 9, 3, 2), (2, 40, 14, 14, 16, 5, 1), (1, 24, 7, 5, 8, 3, 1),
         (1, 48, 23, 17, 40, 5, 2), (2, 16, 3, 3, 8, 3, 1), (2, 400, 16, 16, 24, 3, 1)]


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("shape", PAIRS, ids=str)
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("tile_bytes", [624 * 1024, 48 * 1024], ids=["tile", "small-tile"])
def test_pair_equals_the_two_runs_and_the_float64_reference(shape, workers, residual, tile_bytes):
    """(small tiles: the depthwise input is copied in a few channels at a time, rows halved)"""
    n, c, h, w, k, r, stride = shape
    with Pool(workers, tile_bytes) as pool:
        dw, pw, (wd, bd, wp, bp) = _pair(n, c, h, w, k, r, stride, pool)
        x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
        res = RNG.standard_normal(pw.output_shape).astype(np.float32) if residual else None
        sums = np.full((n, k), np.nan, np.float32)
        y = dw.run_pair(pw, x, first_activation="relu6", residual=res, activation="silu", channel_sums=sums)
        mid = dw.run_fused(x, activation="relu6")
        two = pw.run_fused(mid, residual=res, activation="silu")
        # the same kernels on the same data; a block's pixel count may move a pixel between the
        # pointwise kernel's vector body and its tail (last-bit differences)
        np.testing.assert_allclose(y, two, rtol=1e-6, atol=1e-6 * np.abs(two).max())
        expected = _act64(reference_conv2d(_act64(reference_conv2d(x, wd, bd, stride, r // 2, 1, c), "relu6"),
                                           wp, bp) + (res if residual else 0), "silu")
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sums, expected.sum(axis=(2, 3)), rtol=1e-4, atol=1e-3)


def test_pair_statistics_count_only_what_crossed_the_tile():
    with Pool(2) as pool:
        dw, pw, _ = _pair(2, 64, 28, 28, 32, pool=pool)
        x = RNG.standard_normal(dw.input_shape).astype(np.float32)
        dw.run_pair(pw, x)
        pair = dw.stats
        mid = dw.run(x)
        first = dw.stats
        pw.run(mid)
        second = pw.stats
    assert pair.flops.sum() == first.flops.sum() + second.flops.sum()
    assert pair.bytes_out.sum() == second.bytes_out.sum() == 4 * 2 * 32 * 28 * 28  # only the pointwise output
    # in: the depthwise input (more halo rows: its blocks are shorter) and each worker's weights,
    # not the rows between the two (the second run's copy-in)
    weights = 4 * (64 * 9 + 64 + 32 * 64 + 32)
    assert first.bytes_in.sum() < pair.bytes_in.sum() < first.bytes_in.sum() * 1.5 + 2 * weights
    assert pair.bytes_in.sum() < first.bytes_in.sum() + second.bytes_in.sum()


# (n, c_in, expand, h, w, k, r, stride): MobileNetV2's 112 x 112 stride-2 block at a smaller
# size, a stride-1 block with a residual's shape (k = c_in), 5x5 (EfficientNet), odd sizes,
# one image, maps narrower than a vector; each in a whole tile and in 64 KiB. And 384 expanded
# channels (blocks of 96 pixels: the project layer copies the depthwise rows into its panels),
# whose rows do not fit 64 KiB
BLOCKS = [(2, 16, 48, 24, 24, 24, 3, 2), (2, 24, 72, 20, 20, 24, 3, 1), (1, 16, 40, 17, 13, 24, 5, 1),
          (3, 8, 24, 9, 11, 16, 3, 2), (1, 8, 32, 23, 6, 8, 5, 2)]
BLOCK_TILES = [pytest.param(shape, tile, id=f"{shape}-{name}") for shape in BLOCKS
               for tile, name in ((624 * 1024, "tile"), (64 * 1024, "small-tile"))]
BLOCK_TILES.append(pytest.param((2, 64, 384, 8, 24, 64, 3, 1), 624 * 1024, id="(2, 64, 384, 8, 24, 64, 3, 1)-tile"))


def _block(n, c, e, h, w, k, r, stride, pool):
    we = (RNG.standard_normal((e, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
    be = RNG.standard_normal(e).astype(np.float32)
    ex = Conv2d(we, be, (n, c, h, w), pool=pool)
    dw, pw, weights = _pair(n, e, h, w, k, r, stride, pool)
    return ex, dw, pw, (we, be, *weights)


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("shape, tile_bytes", BLOCK_TILES)
@pytest.mark.parametrize("residual", [False, True])
def test_block_equals_the_three_runs_and_the_float64_reference(shape, workers, residual, tile_bytes):
    """(small tiles: blocks of a few rows, so that a worker's next block reuses the expand rows
    the two share; 3 workers: blocks stolen out of order, whose rows are computed afresh)"""
    n, c, e, h, w, k, r, stride = shape
    with Pool(workers, tile_bytes) as pool:
        ex, dw, pw, (we, be, wd, bd, wp, bp) = _block(n, c, e, h, w, k, r, stride, pool)
        x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
        res = RNG.standard_normal(pw.output_shape).astype(np.float32) if residual else None
        sums = np.full((n, k), np.nan, np.float32)
        y = ex.run_block(dw, pw, x, expand_activation="relu6", first_activation="relu6", residual=res,
                         activation="silu", channel_sums=sums)
        three = pw.run_fused(dw.run_fused(ex.run_fused(x, activation="relu6"), activation="relu6"),
                             residual=res, activation="silu")
        np.testing.assert_allclose(y, three, rtol=1e-6, atol=1e-6 * np.abs(three).max())
        mid = _act64(reference_conv2d(_act64(reference_conv2d(x, we, be), "relu6"), wd, bd, stride, r // 2, 1, e),
                     "relu6")
        expected = _act64(reference_conv2d(mid, wp, bp) + (res if residual else 0), "silu")
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sums, expected.sum(axis=(2, 3)), rtol=1e-4, atol=1e-3)
        # run again on the same tiles: nothing of the first run's rows is reused
        x2 = RNG.standard_normal((n, c, h, w)).astype(np.float32)
        y2 = ex.run_block(dw, pw, x2, expand_activation="relu6", first_activation="relu6")
        three2 = pw.run_fused(dw.run_fused(ex.run_fused(x2, activation="relu6"), activation="relu6"))
        np.testing.assert_allclose(y2, three2, rtol=1e-6, atol=1e-6 * np.abs(three2).max())


def test_block_statistics_count_only_what_crossed_the_tile():
    with Pool(2) as pool:
        ex, dw, pw, _ = _block(2, 16, 96, 56, 56, 24, 3, 2, pool)
        x = RNG.standard_normal(ex.input_shape).astype(np.float32)
        ex.run_block(dw, pw, x)
        block = ex.stats
        runs = []
        for conv, data in ((ex, x), (dw, None), (pw, None)):
            data = conv.run(data if data is not None else runs[-1][1])
            runs.append((conv.stats, data))
    flops = sum(st.flops.sum() for st, _ in runs)
    # the expand rows the blocks share are computed once per worker's run of blocks (a few again
    # where a worker's range starts or a block is stolen)
    assert flops <= block.flops.sum() < flops * 1.05
    assert block.bytes_out.sum() == runs[2][0].bytes_out.sum() == 4 * 2 * 24 * 28 * 28
    assert block.bytes_in.sum() < runs[0][0].bytes_in.sum() * 1.1 + 4 * 2 * (96 * 16 + 96 * 10 + 24 * 97)


def test_block_rows_are_shared_evenly_between_the_workers():
    """MobileNetV2's 14 x 14 block (64 -> 384 -> 64) at batch 1 on 2 workers: halving its rows
    until each worker had two blocks cut them 4 + 4 against 4 + 2 (one worker waiting); two
    blocks of 7 rows load both alike and compute fewer of the expand's halo rows twice."""
    with Pool(2) as pool:
        ex, dw, pw, _ = _block(1, 64, 384, 14, 14, 64, 3, 1, pool)
        ex.run_block(dw, pw, RNG.standard_normal(ex.input_shape).astype(np.float32))
        assert ex.stats.supersteps.sum() == 2


def test_block_refusals():
    with Pool(1) as pool:
        ex, dw, pw, _ = _block(1, 8, 16, 8, 8, 16, 3, 1, pool)
        x = np.zeros(ex.input_shape, np.float32)
        with pytest.raises(errors.Unsupported):
            dw.run_block(ex, pw, np.zeros(dw.input_shape, np.float32))  # the expand is depthwise
        strided = Conv2d(np.zeros((16, 8, 1, 1), np.float32), None, (1, 8, 16, 16), stride=2, pool=pool)
        with pytest.raises(errors.Unsupported):
            strided.run_block(dw, pw, np.zeros(strided.input_shape, np.float32))  # a strided expand
        with pytest.raises(errors.InvalidParameter, match="different"):
            ex.run_block(dw, dw, x)
        with pytest.raises(errors.InvalidType, match="second"):
            ex.run_block(dw, "pw", x)
        with pytest.raises(errors.InvalidParameter, match="expand_activation"):
            ex.run_block(dw, pw, x, expand_activation="gelu")
        with pytest.raises(errors.InvalidParameter, match="input"):
            ex.run_block(dw, pw, np.zeros(dw.input_shape, np.float32))
    with Pool(1, tile_bytes=4096) as tiny:
        ex, dw, pw, _ = _block(1, 16, 64, 16, 16, 64, 3, 1, tiny)
        with pytest.raises(errors.TileTooSmall):
            ex.run_block(dw, pw, np.zeros(ex.input_shape, np.float32))


def test_pair_refusals():
    with Pool(1) as pool:
        dw, pw, _ = _pair(1, 16, 8, 8, 16, pool=pool)
        x = np.zeros(dw.input_shape, np.float32)
        dense = Conv2d(np.zeros((16, 16, 3, 3), np.float32), None, dw.output_shape, padding=1)
        with pytest.raises(errors.Unsupported):
            dw.run_pair(dense, x)  # the second is not 1x1
        with pytest.raises(errors.Unsupported):
            pw.run_pair(dw, np.zeros(pw.input_shape, np.float32))  # the first is not depthwise
        with pytest.raises(errors.InvalidParameter, match="first_activation"):
            dw.run_pair(pw, x, first_activation="gelu")
        with pytest.raises(errors.InvalidType, match="second"):
            dw.run_pair("pw", x)
        with pytest.raises(errors.InvalidParameter, match="residual"):
            dw.run_pair(pw, x, residual=np.zeros((1, 2), np.float32))
    with Pool(1, tile_bytes=4096) as tiny:  # one row of both does not fit 4 KiB
        dw, pw, _ = _pair(1, 64, 16, 16, 64, pool=tiny)
        with pytest.raises(errors.TileTooSmall):
            dw.run_pair(pw, np.zeros(dw.input_shape, np.float32))


# (the 1x1 cases run the pointwise kernel, which scales as it copies; the others scale the tile)
@pytest.mark.parametrize("case", ["channel 1x1", "channel 1x1 strided", "channel 1x1 odd groups",
                                  "channel 3x3 strided", "row depthwise", "row grouped"])
def test_input_scale_is_the_scaled_input(case):
    # (odd groups: 9 channels a group, copied two by two but for each group's last)
    c, k, r, g, stride = {"channel 1x1": (24, 16, 1, 1, 1), "channel 1x1 strided": (24, 16, 1, 1, 2),
                          "channel 1x1 odd groups": (27, 24, 1, 3, 1),
                          "channel 3x3 strided": (16, 16, 3, 1, 2),
                          "row depthwise": (12, 12, 3, 12, 1), "row grouped": (12, 6, 3, 3, 2)}[case]
    n, h, w = 3, 9, 10
    x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
    wt = RNG.standard_normal((k, c // g, r, r)).astype(np.float32)
    b = RNG.standard_normal(k).astype(np.float32)
    scale = RNG.random((n, c)).astype(np.float32)
    with Pool(2) as pool:
        conv = Conv2d(wt, b, x.shape, stride, r // 2, 1, g, pool=pool)
        assert conv.info["kernel"] == case.split()[0]
        y = conv.run_fused(x, input_scale=scale, activation="relu")
        assert np.array_equal(y, conv.run_fused(x * scale[:, :, None, None], activation="relu"))
        expected = _act64(reference_conv2d(x * scale[:, :, None, None].astype(np.float64), wt, b, stride, r // 2, 1, g),
                          "relu")
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_input_scale_refusals():
    x = np.zeros((1, 8, 6, 6), np.float32)
    gemm = Conv2d(np.zeros((8, 8, 3, 3), np.float32), None, x.shape, algorithm="gemm")
    with pytest.raises(errors.Unsupported):
        gemm.run_fused(x, input_scale=np.ones((1, 8), np.float32))
    conv = Conv2d(np.zeros((8, 8, 3, 3), np.float32), None, x.shape)
    with pytest.raises(errors.InvalidParameter, match="input_scale has shape"):
        conv.run_fused(x, input_scale=np.ones((1, 4), np.float32))
    with pytest.raises(errors.InvalidType, match="input_scale"):
        conv.run_fused(x, input_scale=np.ones((1, 8)))
    with pytest.raises(errors.InvalidParameter, match="activation"):
        conv.run_fused(x, activation="swish")
