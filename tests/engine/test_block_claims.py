"""Blocks handed out owner first (each worker's own range, then steals from the back of the
others'): every block runs exactly once whatever the number of workers, however many of them
start late or never (more workers than CPUs: most skip runs, the caller steals their ranges),
and with fewer blocks than workers (empty ranges)."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, Pooling2d

rng = np.random.default_rng(11)
# more workers than this VM's CPUs: ranges whose owner is late or never joins are stolen
WORKER_COUNTS = (2, 3, 5, 8, 16)


def _data(shape):
    return rng.standard_normal(shape).astype(np.float32)


def _each_pool(fn, runs=5):
    """fn(pool) on a 1-worker pool, then `runs` times on each of WORKER_COUNTS: all equal."""
    with Pool(1) as one:
        want = fn(one)
    for workers in WORKER_COUNTS:
        with Pool(workers) as pool:
            for _ in range(runs):
                got = fn(pool)
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(a, b, err_msg=f"{workers} workers")


@pytest.mark.parametrize("shape", [(4, 32, 14, 14, 48, 1), (1, 24, 9, 9, 40, 1), (3, 16, 7, 7, 16, 16), (1, 8, 3, 3, 8, 1)])
def test_forward_blocks_run_once(shape):
    n, c, h, w, k, g = shape
    x, wt = _data((n, c, h, w)), _data((k, c // g, 3, 3))
    conv = Conv2d(wt, None, x.shape, padding=1, groups=g)
    _each_pool(lambda pool: [conv.run(x, pool=pool)])


def test_backward_weights_chunks_stay_on_one_worker():
    # a block's chunks accumulate in one worker's tile: a stolen claim takes the whole block
    x, wt = _data((3, 16, 12, 12)), _data((24, 16, 3, 3))
    conv = Conv2d(wt, None, x.shape, padding=1, backward=True)
    dy = _data(conv.output_shape)
    _each_pool(lambda pool: list(conv.backward_weights(dy, x, pool=pool)))


def test_pair_and_pooling_blocks_run_once():
    x = _data((2, 32, 15, 15))
    dw = Conv2d(_data((32, 1, 3, 3)), None, x.shape, padding=1, groups=32)
    pw = Conv2d(_data((40, 32, 1, 1)), None, dw.output_shape)
    op = Pooling2d(x.shape, (3, 3), 2, 1, mode="max")
    _each_pool(lambda pool: [dw.run_pair(pw, x, pool=pool), op.run(x, pool=pool)])
