"""The channel kernel's 3x3 stride-2 register block (taps unrolled at compile time) against
the float64 reference in every ISA build: every output row width up to 2 x 8 + 1 (the
block's widths are 4, 8, 11 and 16 pixels), channel counts that are not multiples of 8 or
16, both paddings ResNets use, odd and even input sizes, stride 2 in both directions or in
the width only."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
@pytest.mark.parametrize("kg", [8, 12, 24])
def test_3x3_stride_2_rows_and_channels(kg, isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(kg)
    with Pool(2, tile_bytes=64 * 1024) as pool:
        for w in range(1, 36):
            for pad, stride in ((1, 2), (0, 2), (1, (1, 2))):
                x = rng.standard_normal((1, 16, 5, w + 2)).astype(np.float32)
                wt = rng.standard_normal((kg, 16, 3, 3)).astype(np.float32)
                b = rng.standard_normal(kg).astype(np.float32)
                conv = Conv2d(wt, b, x.shape, stride, pad, pool=pool, portable=isa == "portable")
                assert conv.info["kernel"] == "channel"
                ref = reference_conv2d(x, wt, b, stride, pad)
                np.testing.assert_allclose(conv.run(x), ref, rtol=1e-4, atol=1e-4 * (np.abs(ref).max() + 1))
