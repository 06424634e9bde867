"""The pointwise path of the channel kernel (1x1 convolutions without padding, pixels
vectorised, results stored straight to NCHW) against the float64 reference, in every ISA
build: pixel counts that are not multiples of the register block's 8, 16 or 24 pixels,
output channels that are not multiples of its 4 or 8, strides (subsampled by the exchange),
groups, several images, tiles small enough to cut a layer into many blocks."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d

ISAS = ["native", "avx2", "portable"]


def _close(y, ref):
    scale = np.abs(ref).max() + 1.0
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * scale)


def _check(rng, pool, n, c, h, w, k, stride=1, groups=1, isa="native", bias=True):
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c // groups, 1, 1)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32) if bias else None
    conv = Conv2d(wt, b, x.shape, stride, 0, 1, groups, pool=pool, portable=isa == "portable")
    assert conv.info["kernel"] == "channel"
    out = np.full(conv.output_shape, np.nan, np.float32)  # every output must be written
    conv.run(x, out)
    _close(out, reference_conv2d(x, wt, b, stride, 0, 1, groups))


@pytest.mark.parametrize("isa", ISAS)
def test_pixel_and_channel_tails(isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(1)
    with Pool(2) as pool:
        for hw in range(1, 12):  # 1 to 121 pixels: every tail of 8, 16 and 24
            for k in (8, 12, 20, 33):
                _check(rng, pool, 1, 16, hw, hw, k, isa=isa, bias=hw % 2 == 0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("stride", [2, 3])
def test_strided_rows_are_subsampled(isa, stride, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(stride)
    with Pool(2) as pool:
        for h, w in ((7, 7), (14, 14), (15, 33), (56, 56), (9, 40)):
            _check(rng, pool, 2, 24, h, w, 16, stride=stride, isa=isa)


@pytest.mark.parametrize("isa", ISAS)
def test_groups_images_and_small_tiles(isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(3)
    for tile_kib in (32, 64, 624):
        with Pool(3, tile_bytes=tile_kib * 1024) as pool:
            _check(rng, pool, 3, 64, 9, 11, 48, groups=4, isa=isa)
            _check(rng, pool, 2, 27, 9, 11, 24, groups=3, isa=isa)  # 9 channels a group: odd
            _check(rng, pool, 2, 96, 28, 28, 24, isa=isa)
            _check(rng, pool, 1, 300, 7, 7, 80, stride=2, isa=isa)


def test_maps_of_2k_floats_are_exact():
    # 32 x 32 and 64 x 64 pixels: whole panels, no partial last one
    rng = np.random.default_rng(4)
    with Pool(2) as pool:
        _check(rng, pool, 1, 32, 32, 32, 16)
        _check(rng, pool, 1, 32, 64, 64, 16)


def test_padded_1x1_keeps_the_channel_kernel_layout():
    # padding puts zero rows and columns around the map: the tap-by-tap block computes it
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 16, 5, 6)).astype(np.float32)
    wt = rng.standard_normal((8, 16, 1, 1)).astype(np.float32)
    conv = Conv2d(wt, None, x.shape, 1, 1)
    _close(conv.run(x), reference_conv2d(x, wt, None, 1, 1))


def test_results_do_not_depend_on_block_boundaries():
    # a pixel in a strip's channel-vectorised tail sums in the same order as in a vector:
    # tiles and worker counts that cut the blocks differently give identical bits (4 images:
    # one worker's blocks are whole 49-pixel maps, pixel 48 in the tail; small tiles cut rows)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 200, 7, 7)).astype(np.float32)
    wt = rng.standard_normal((72, 200, 1, 1)).astype(np.float32)
    b = rng.standard_normal(72).astype(np.float32)
    outs = []
    for workers, tile_kib in ((1, 624), (3, 64), (2, 24)):
        with Pool(workers, tile_bytes=tile_kib * 1024) as pool:
            outs.append(Conv2d(wt, b, x.shape, pool=pool).run(x))
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    _close(outs[0], reference_conv2d(x, wt, b))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", [None, "relu", "relu6", "sigmoid", "silu", "hardswish"])
def test_epilogue_in_the_write_equals_the_separate_pass(isa, act, monkeypatch):
    """run_fused applies bias, residual and activation while the results are in registers:
    the same float operations as a second pass over run's output (ipx_epilogue_run), so the
    same bits in the builds the pass shares (the portable one: to float rounding, the pass
    runs native), and the channel sums to float rounding (summed in another order)."""
    from ipuexplore.networks.epilogue import Epilogue

    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(7)
    with Pool(2, tile_bytes=64 << 10) as pool:
        for n, c, hw, k in ((1, 16, 7, 20), (2, 24, 9, 33), (1, 8, 23, 12), (1, 16, 40, 96)):
            x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
            wt = rng.standard_normal((k, c, 1, 1)).astype(np.float32)
            b = rng.standard_normal(k).astype(np.float32)
            conv = Conv2d(wt, b, x.shape, 1, 0, 1, 1, pool=pool, portable=isa == "portable")
            for residual in (None, rng.standard_normal(conv.output_shape).astype(np.float32)):
                sums = np.full((n, k), np.nan, np.float32)
                fused = conv.run_fused(x, residual=residual, activation=act, channel_sums=sums)
                two = conv.run(x)
                want_sums = np.empty((n, k), np.float32)
                Epilogue(act, pool)(two, residual=residual, sums=want_sums)
                if isa == "portable":
                    np.testing.assert_allclose(fused, two, rtol=1e-6, atol=1e-6)
                else:
                    assert np.array_equal(fused, two), (n, c, hw, k, residual is not None)
                np.testing.assert_allclose(sums, want_sums, rtol=1e-4, atol=1e-4 * hw * hw)
