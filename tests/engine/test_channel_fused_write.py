"""The channel kernel's ReLU and ReLU6 in its write phase (applied on the transpose's registers)
give the separate epilogue pass's bits on every build, including a block's edges (pixels and
channels past whole 8 x 8 blocks), stride 2, and results both below 0 and above 6."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool
from ipuexplore.networks.epilogue import Epilogue


def _layer(c, hw, k, stride, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, c, hw, hw), dtype=np.float32)
    w = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("c, hw, k, stride", [(16, 7, 20, 1), (24, 9, 16, 2), (32, 14, 40, 1)])
def test_clamp_in_the_write_equals_the_separate_pass(c, hw, k, stride, act, isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    x, w, b = _layer(c, hw, k, stride, seed=c + k)
    w *= 8  # results well past 6 and below 0
    with Pool(2) as pool:
        conv = Conv2d(w, b, x.shape, stride, 1, pool=pool, portable=isa == "portable")
        assert conv.info["kernel"] == "channel"
        raw = conv.run(x)
        two = raw.copy()
        Epilogue(act, pool)(two)
        fused = conv.run_fused(x, np.full_like(two, np.nan), activation=act)
    assert (raw > 6).any() and (raw < 0).any()
    np.testing.assert_array_equal(fused, two)
