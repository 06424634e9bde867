"""The channel-blocked depthwise kernel (kernel_nchwc.c) under every tile size from one that
holds the whole layer down to one too small for any block: its weights are packed at create in
16-channel blocks, so every block a planner makes must start at a multiple of 16 channels (the
pair planner included, which halves channels and rows to fit), and a tile too small for one
channel block runs the row kernel on the copy of the weights in PyTorch's layout. Exact against
the float64 reference in every build."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d
from ipuexplore.errors import TileTooSmall

ISAS = ["native", "avx2", "portable"]
# (n, c, h, w, r, stride, pad): routed to the channel-blocked kernel in the AVX-512 and portable
# builds (the AVX2 build takes the 3x3 stride-2 one); 40 and 33 channels end in a part block
SHAPES = [(1, 40, 7, 7, 5, 1, 2), (2, 33, 15, 13, 3, 2, 1)]
TILES = [1 << 20] + [k << 10 for k in range(40, 1, -3)]


def _layer(shape):
    n, c, h, w, r, stride, pad = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((c, 1, r, r)) / r * 2).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    wp = (rng.standard_normal((24, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
    bp = rng.standard_normal(24).astype(np.float32)
    return x, wt, b, wp, bp


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_single_and_pair_runs_match_the_reference_at_every_tile_size(shape, isa, monkeypatch):
    n, c, h, w, r, stride, pad = shape
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    x, wt, b, wp, bp = _layer(shape)
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
