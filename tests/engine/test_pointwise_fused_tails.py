"""The pointwise kernel's epilogue in the write (activation, residual, channel sums) on the
pixel and channel counts that take its edge paths, in every ISA build: the AVX-512 build's
register blocks of 16-float vectors (4 channels x up to 3 vectors: 48 pixels) and the others'
of 8 (4 x 3: 24 pixels), partial vectors, the last few pixels of a strip (computed one
pixel at a time), strips of a long map, output channels that are not multiples
of 4 or 8. The fused run equals the run followed by the separate pass (same bits where the
pass shares the build: not the portable one) and the float64 reference."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d
from ipuexplore.networks.epilogue import Epilogue

ISAS = ["native", "avx2", "portable"]
ACTS = [None, "relu6", "silu", "hardswish"]
# (c, h, w): pixels 28 = 16 + 12, 35 = 32 + 3, 49 = 48 + 1, 66 = 64 + 2, 81 = 80 + 1, 100 = 96 + 4,
# 169 = 160 + 9, and 40 x 56 = 2240 pixels of 40 channels: several strips of the loop nest
MAPS = [(16, 4, 7), (16, 5, 7), (16, 7, 7), (24, 6, 11), (16, 9, 9), (16, 10, 10), (16, 13, 13), (40, 40, 56)]
KS = [13, 22, 31]  # the last block of 4 channels holds 1, 2 or 3


def _act64(x, act):
    return {None: x, "relu6": np.clip(x, 0, 6), "silu": x / (1 + np.exp(-x)),
            "hardswish": x * np.clip(x + 3, 0, 6) / 6}[act]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ACTS)
def test_fused_pointwise_edges_equal_the_separate_pass(act, isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(7)
    with Pool(2) as pool:
        for c, h, w in MAPS:
            for k in KS:
                n = 2
                x = rng.standard_normal((n, c, h, w)).astype(np.float32)
                wt = (rng.standard_normal((k, c, 1, 1)) * 3 / np.sqrt(c)).astype(np.float32)
                b = rng.standard_normal(k).astype(np.float32)
                conv = Conv2d(wt, b, x.shape, 1, 0, pool=pool, portable=isa == "portable")
                assert conv.info["kernel"] == "channel"
                residual = rng.standard_normal(conv.output_shape).astype(np.float32)
                two, want_sums = conv.run(x), np.empty((n, k), np.float32)
                Epilogue(act, pool)(two, residual=residual, sums=want_sums)
                fused, sums = np.full_like(two, np.nan), np.full_like(want_sums, np.nan)
                conv.run_fused(x, fused, residual=residual, activation=act, channel_sums=sums)
                np.testing.assert_allclose(sums, want_sums, rtol=1e-5, atol=1e-5 * h * w)
                if isa != "portable":
                    assert np.array_equal(fused, two), (c, h, w, k)
                else:
                    np.testing.assert_allclose(fused, two, rtol=1e-6, atol=1e-6)
                expected = _act64(reference_conv2d(x, wt, b, 1, 0, 1, 1) + residual, act)
                np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("isa", ISAS)
def test_relu6_alone_equals_the_separate_pass(isa, monkeypatch):
    """ReLU6 with no residual or sums: the AVX2 and portable builds apply it as a pass over
    blocks of whole planes that fit L2 (7 x 7, 14 x 14 maps; the padded last channels of a
    block left out), in the write elsewhere (rows of a 56 x 56 map): either way the same bits as
    the separate pass and the float64 reference."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(11)
    with Pool(2) as pool:
        for c, h, w, k in [(16, 7, 7, 13), (24, 14, 14, 22), (64, 14, 14, 384), (32, 7, 7, 960), (16, 56, 56, 31)]:
            n = 2
            x = rng.standard_normal((n, c, h, w)).astype(np.float32)
            wt = (rng.standard_normal((k, c, 1, 1)) * 3 / np.sqrt(c)).astype(np.float32)
            b = rng.standard_normal(k).astype(np.float32)
            conv = Conv2d(wt, b, x.shape, 1, 0, pool=pool, portable=isa == "portable")
            two = conv.run(x)
            Epilogue("relu6", pool)(two)
            fused = np.full_like(two, np.nan)
            conv.run_fused(x, fused, activation="relu6")
            if isa != "portable":
                assert np.array_equal(fused, two), (c, h, w, k)
            else:
                np.testing.assert_allclose(fused, two, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(fused, _act64(reference_conv2d(x, wt, b, 1, 0, 1, 1), "relu6"), rtol=1e-4, atol=1e-4)
