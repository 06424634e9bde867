"""A run's epilogue (residual, activation, channel sums) applied in the kernel's write equals
the same run followed by the separate pass over its output (ipx_epilogue_run): the row
kernel's depthwise paths (3x3 stride 1 and 2, 5x5) apply ReLU and ReLU6 while each result
vector is in registers, the same float operations, so the same bits in the builds the pass
shares (the portable one: to float rounding, the pass runs native); residuals, channel sums,
the other activations and the row kernel's other paths (7x7, channel multipliers, small
groups) go through the block's second pass (the channel kernel's ReLU / ReLU6 in its write:
test_channel_fused_write.py). Channel sums to float rounding
(summed in another order). Shapes cover rows narrower than a vector, rows that are not a
multiple of 8 (partial vectors spill into the next row or overlap the previous vector),
blocks cut by small tiles, and several images. The pair run (depthwise rows kept in tile
memory) applies its depthwise activation the same way: equal to the two runs."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d
from ipuexplore.networks.epilogue import Epilogue

ISAS = ["native", "avx2", "portable"]
ACTS = [None, "relu", "relu6", "sigmoid", "silu", "hardswish"]

# (n, c, h, w, k, r, stride, groups, kernel)
SHAPES = [
    (1, 24, 14, 14, 24, 3, 1, 24, "row"),  # depthwise 3x3: a partial chunk that spills
    (2, 16, 7, 7, 16, 3, 1, 16, "row"),  # rows narrower than a vector
    (1, 8, 30, 29, 8, 3, 1, 8, "row"),  # whole chunks in pairs, a partial one
    (2, 16, 15, 15, 16, 3, 2, 16, "row"),  # 3x3 stride 2
    (1, 24, 14, 14, 24, 5, 1, 24, "row"),  # 5x5: an 8-wide chunk moved back to overlap
    (1, 16, 29, 29, 16, 5, 2, 16, "row"),  # 5x5 stride 2, 15 outputs a row
    (1, 8, 11, 11, 8, 5, 2, 8, "row"),  # 6 outputs a row: vectors spill
    (1, 8, 12, 12, 8, 7, 1, 8, "row"),  # 7x7: the generic row path, its tile output copied out
    (1, 8, 10, 13, 16, 3, 1, 8, "row"),  # channel multiplier 2
    (2, 16, 9, 9, 12, 3, 1, 4, "row"),  # 4 in, 3 out per group
    (1, 16, 9, 11, 20, 3, 1, 1, "channel"),  # dense 3x3: 99 pixels, 20 channels (8x8 blocks and edges)
    (2, 16, 14, 14, 24, 3, 2, 1, "channel"),  # dense 3x3 stride 2
    (1, 32, 13, 13, 16, 1, 2, 1, "channel"),  # 1x1 stride 2 (ResNet's downsampling shortcut)
    (1, 24, 8, 8, 16, 3, 1, 2, "channel"),  # two groups of 12 -> 8
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_epilogue_in_the_write_equals_the_separate_pass(shape, act, isa, monkeypatch):
    n, c, h, w, k, r, stride, groups, kernel = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(sum(shape[:8]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c // groups, r, r)) / np.sqrt(c // groups * r * r) * 3).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    for tile_bytes in (624 << 10, 24 << 10):  # whole layers in a block; rows cut into several
        with Pool(2, tile_bytes=tile_bytes) as pool:
            conv = Conv2d(wt, b, x.shape, stride, r // 2, 1, groups, pool=pool, portable=isa == "portable")
            assert conv.info["kernel"] == kernel
            for residual in (None, rng.standard_normal(conv.output_shape).astype(np.float32)):
                # the separate pass first, then the fused run into NaNs (every output written)
                two, want_sums = conv.run(x), np.empty((n, k), np.float32)
                Epilogue(act, pool)(two, residual=residual, sums=want_sums)
                fused, sums = np.full_like(two, np.nan), np.full_like(want_sums, np.nan)
                conv.run_fused(x, fused, residual=residual, activation=act, channel_sums=sums)
                np.testing.assert_allclose(sums, want_sums, rtol=1e-5, atol=1e-5 * h * w)
                same_bits = isa != "portable"
                assert np.array_equal(fused, two) if same_bits else np.allclose(fused, two, rtol=1e-6, atol=1e-6)
                expected = reference_conv2d(x, wt, b, stride, r // 2, 1, groups) + (0 if residual is None else residual)
                act64 = {None: expected, "relu": np.maximum(expected, 0), "relu6": np.clip(expected, 0, 6),
                         "sigmoid": 1 / (1 + np.exp(-expected)), "silu": expected / (1 + np.exp(-expected)),
                         "hardswish": expected * np.clip(expected + 3, 0, 6) / 6}[act]
                np.testing.assert_allclose(fused, act64, rtol=1e-4, atol=1e-4)


# (n, c, h, w, k, r, stride): 3x3 stride 1 with a partial chunk, rows narrower than a vector,
# 3x3 stride 2, 5x5 (the depthwise paths that apply ReLU/ReLU6 in registers)
PAIRS = [(1, 24, 14, 14, 16, 3, 1), (2, 16, 7, 7, 8, 3, 1), (2, 16, 15, 15, 24, 3, 2), (1, 24, 14, 14, 16, 5, 1)]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", [None, "relu", "relu6", "silu"])
@pytest.mark.parametrize("shape", PAIRS, ids=str)
def test_pair_depthwise_activation_in_the_write_equals_the_two_runs(shape, act, isa, monkeypatch):
    n, c, h, w, k, r, stride = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wd = rng.standard_normal((c, 1, r, r)).astype(np.float32)
    bd = rng.standard_normal(c).astype(np.float32)
    for tile_bytes in (624 << 10, 24 << 10):
        with Pool(2, tile_bytes=tile_bytes) as pool:
            portable = isa == "portable"
            dw = Conv2d(wd, bd, x.shape, stride, r // 2, 1, c, pool=pool, portable=portable)
            wp = (rng.standard_normal((k, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
            pw = Conv2d(wp, np.zeros(k, np.float32), dw.output_shape, pool=pool, portable=portable)
            y = dw.run_pair(pw, x, first_activation=act)
            # the pointwise half sums in the same order; a block's pixel count may move a pixel
            # between its vector body and its tail (last-bit differences)
            np.testing.assert_allclose(y, pw.run(dw.run_fused(x, activation=act)), rtol=1e-6, atol=1e-6)
