"""The kernel a call's statistics name is the kernel that ran, in every pass: forward and
backward data report their handle's kernel (row below 8 channels per group in or out,
channel from 8, gemm when asked for); backward weights its channel blocks (8 or more input
and a multiple of 8 output channels per group, stride_w 1) or its row blocks."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool


@pytest.fixture(scope="module")
def pool():
    with Pool(2) as p:
        yield p


def _passes(pool, c, k, g, stride=1, algorithm="auto"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, 8, 8), dtype=np.float32)
    w = rng.standard_normal((k, c // g, 3, 3), dtype=np.float32)
    with Conv2d(w, None, x.shape, stride, 1, 1, g, pool=pool, algorithm=algorithm, backward=True) as conv:
        y = conv.run(x)
        kernels = {"info": conv.info["kernel"], "forward": conv.stats.kernel}
        conv.backward_data(y)
        kernels["backward_data"] = conv.stats.kernel
        conv.backward_weights(y, x)
        kernels["backward_weights"] = conv.stats.kernel
    return kernels


@pytest.mark.parametrize("c, k, g, stride, algorithm, want", [
    (64, 64, 4, 1, "auto", ("channel", "channel", "channel")),  # 16 per group
    (32, 32, 4, 1, "auto", ("channel", "channel", "channel")),  # 8 per group
    (16, 16, 8, 1, "auto", ("row", "row", "row")),              # 2 per group
    (16, 12, 1, 1, "auto", ("channel", "channel", "row")),      # 12 out: no whole vectors of 8
    (16, 16, 1, 2, "auto", ("channel", "channel", "row")),      # stride_w 2
    (32, 32, 2, 1, "gemm", ("gemm", "gemm", "channel")),        # backward weights has no lowering
])
def test_stats_name_the_kernel_that_ran(pool, c, k, g, stride, algorithm, want):
    got = _passes(pool, c, k, g, stride, algorithm)
    assert got["info"] == got["forward"] == want[0]
    assert (got["backward_data"], got["backward_weights"]) == want[1:]
