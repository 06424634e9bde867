"""The row kernel's exchange copies each input row into a padded tile row: rows narrower
than a vector in one vector whose extra lanes are replaced by padding (but column by column
where 8 floats would read past the input: the last rows of the last channel), stride-2 rows
split into even and odd columns eight at a time with the last eight overlapping. Every width
from 1 to 19 with the paddings and kernels depthwise layers use, on every ISA build, against
the float64 reference (the padding must stay zero, every column must arrive)."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d

ISAS = ["native", "avx2", "portable"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("r, pad", [(3, 1), (5, 2), (3, 0), (1, 1)])
def test_every_row_width_arrives_padded(r, pad, stride, isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(r * 10 + pad + stride)
    with Pool(2) as pool:
        for w in range(1, 20):
            if w + 2 * pad < r:
                continue
            n, c, h = (2, 3, 6) if w % 2 else (1, 4, 5)
            x = rng.standard_normal((n, c, h, w)).astype(np.float32)
            wt = rng.standard_normal((c, 1, r, r)).astype(np.float32)
            b = rng.standard_normal(c).astype(np.float32)
            conv = Conv2d(wt, b, x.shape, stride, pad, 1, c, pool=pool, portable=isa == "portable")
            assert conv.info["kernel"] == "row"
            for act in (None, "relu6"):
                y = conv.run_fused(x, activation=act)
                ref = reference_conv2d(x, wt, b, stride, pad, 1, c)
                ref = ref if act is None else np.clip(ref, 0, 6)
                np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5, err_msg=f"w={w}")
