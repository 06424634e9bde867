"""The channel-blocked depthwise path (kernel_nchwc.c: 3x3 and 5x5, stride 1 or 2, small maps;
reported as the row kernel; the AVX2 build takes only the 3x3 stride-2 layers, the others run
the row kernel there): exact against the float64 reference in every build, with every
activation, a residual, channel sums and an input scale applied on the way; channel counts that
are not multiples of its 16-channel blocks, odd and non-square maps, rows narrower than 8,
blocks cut by small tiles (and a tile too small for one block, where the row kernel runs), and
the depthwise half of a pair run. Its weights are packed at create in 16-channel blocks, so
every block a planner makes must start at a multiple of 16 channels (the pair planner included,
which halves channels and rows to fit): checked at every tile size down to one too small for
any block."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d
from ipuexplore.errors import TileTooSmall
from ipuexplore.networks.epilogue import Epilogue

ISAS = ["native", "avx2", "portable"]
ACTS = [None, "relu", "relu6", "sigmoid", "silu", "hardswish"]

# (n, c, h, w, r, stride, pad): every one a layer ipx__nchwc_supports routes to the path
# (AVX-512 and portable builds)
SHAPES = [
    (1, 16, 7, 7, 3, 1, 1),  # one whole channel block, rows of 7
    (2, 40, 7, 7, 5, 1, 2),  # 2.5 blocks, 5x5, two images
    (1, 17, 14, 14, 3, 2, 1),  # one lane of a second block
    (2, 33, 15, 13, 3, 2, 1),  # odd, non-square, stride 2
    (1, 24, 13, 11, 5, 2, 2),  # 5x5 stride 2 on an odd map
    (1, 5, 6, 5, 3, 1, 0),  # fewer channels than a half block, no padding, rows of 5
    (1, 48, 16, 16, 3, 2, 0),  # stride 2 without padding: the last input column is not read
    (1, 32, 28, 28, 5, 1, 2),  # several row blocks
]


def _act64(y, act):
    return {None: y, "relu": np.maximum(y, 0), "relu6": np.clip(y, 0, 6), "sigmoid": 1 / (1 + np.exp(-y)),
            "silu": y / (1 + np.exp(-y)), "hardswish": y * np.clip(y + 3, 0, 6) / 6}[act]


def _layer(shape, seed_extra=0):
    n, c, h, w, r, stride, pad = shape
    rng = np.random.default_rng(sum(shape) + seed_extra)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((c, 1, r, r)) / r * 2).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    return rng, x, wt, b


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_epilogue_matches_the_float64_reference_and_the_separate_pass(shape, isa, monkeypatch):
    n, c, h, w, r, stride, pad = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng, x, wt, b = _layer(shape)
    # the whole layer in one block per worker; rows cut into blocks; a tile too small for one
    # channel block (16 channels' rows: the row kernel runs instead)
    for tile_bytes in (624 << 10, 24 << 10, 4096):
        with Pool(2, tile_bytes=tile_bytes) as pool:
            conv = Conv2d(wt, b, x.shape, stride, pad, 1, c, pool=pool, portable=isa == "portable")
            assert conv.info["kernel"] == "row"
            ref = reference_conv2d(x, wt, b, stride, pad, 1, c)
            plain = np.full(conv.output_shape, np.nan, np.float32)
            conv.run(x, plain)
            np.testing.assert_allclose(plain, ref, rtol=1e-5, atol=1e-5)
            for act in ACTS:
                for residual in (None, rng.standard_normal(conv.output_shape).astype(np.float32)):
                    fused, sums = np.full_like(plain, np.nan), np.full((n, c), np.nan, np.float32)
                    conv.run_fused(x, fused, residual=residual, activation=act, channel_sums=sums)
                    want = _act64(ref + (0 if residual is None else residual), act)
                    np.testing.assert_allclose(fused, want, rtol=1e-4, atol=1e-4)
                    np.testing.assert_allclose(sums, want.sum(axis=(2, 3)), rtol=1e-4, atol=1e-4 * h * w)
                    # the separate pass's float operations per vector: its bits, where it runs
                    # the same build (the portable one's pass runs native)
                    two, two_sums = plain.copy(), np.empty((n, c), np.float32)
                    Epilogue(act, pool)(two, residual=residual, sums=two_sums)
                    if isa != "portable":
                        assert np.array_equal(fused, two)
                    np.testing.assert_allclose(sums, two_sums, rtol=1e-5, atol=1e-5 * h * w)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", SHAPES[:4], ids=str)
def test_input_scale_multiplies_each_channel(shape, isa, monkeypatch):
    n, c, h, w, r, stride, pad = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng, x, wt, b = _layer(shape, 1)
    scale = rng.uniform(0.2, 2.0, (n, c)).astype(np.float32)
    with Pool(2, tile_bytes=24 << 10) as pool:
        conv = Conv2d(wt, b, x.shape, stride, pad, 1, c, pool=pool, portable=isa == "portable")
        y = conv.run_fused(x, input_scale=scale, activation="silu")
    want = _act64(reference_conv2d(x * scale[:, :, None, None], wt, b, stride, pad, 1, c), "silu")
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [(1, 40, 7, 7, 5, 1, 2), (2, 33, 15, 13, 3, 2, 1)], ids=str)
def test_pair_run_keeps_the_blocked_rows_in_the_tile(shape, isa, monkeypatch):
    n, c, h, w, r, stride, pad = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng, x, wt, b = _layer(shape, 2)
    for tile_bytes in (624 << 10, 24 << 10):
        with Pool(2, tile_bytes=tile_bytes) as pool:
            portable = isa == "portable"
            dw = Conv2d(wt, b, x.shape, stride, pad, 1, c, pool=pool, portable=portable)
            wp = (rng.standard_normal((24, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
            pw = Conv2d(wp, np.zeros(24, np.float32), dw.output_shape, pool=pool, portable=portable)
            y = dw.run_pair(pw, x, first_activation="relu6")
            mid = np.clip(reference_conv2d(x, wt, b, stride, pad, 1, c), 0, 6)
            np.testing.assert_allclose(y, reference_conv2d(mid, wp, None), rtol=1e-4, atol=1e-4)


# tiles from one holding the whole layer down to one too small for any block
TILES = [1 << 20] + [k << 10 for k in range(40, 1, -3)]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[3]], ids=str)  # end in a part block
def test_single_and_pair_runs_match_the_reference_at_every_tile_size(shape, isa, monkeypatch):
    n, c, h, w, r, stride, pad = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng, x, wt, b = _layer(shape)
    wp = (rng.standard_normal((24, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
    bp = rng.standard_normal(24).astype(np.float32)
    ref = reference_conv2d(x, wt, b, stride, pad, 1, c)
    mid = np.clip(ref, 0, 6)
    ref_pair = reference_conv2d(mid, wp, bp)
    pair_runs = 0
    for tile_bytes in TILES:
        with Pool(2, tile_bytes=tile_bytes) as pool:
            portable = isa == "portable"
            dw = Conv2d(wt, b, x.shape, stride, pad, 1, c, pool=pool, portable=portable)
            pw = Conv2d(wp, bp, dw.output_shape, pool=pool, portable=portable)
            np.testing.assert_allclose(dw.run_fused(x, activation="relu6"), mid, rtol=1e-5, atol=1e-5)
            try:
                y = dw.run_pair(pw, x, first_activation="relu6")
            except TileTooSmall:  # the pointwise half's block does not fit
                continue
            pair_runs += 1
            np.testing.assert_allclose(y, ref_pair, rtol=1e-4, atol=1e-4, err_msg=f"tile {tile_bytes}")
    assert pair_runs >= 5
