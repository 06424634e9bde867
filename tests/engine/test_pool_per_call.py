"""The pool model: each call names its pool (as C's ipx_conv_run(conv, pool, ...)), and the
default-or-private choice for calls that name none."""

import threading

import numpy as np
import pytest

import ipuexplore
from ipuexplore import errors
from ipuexplore.engine import Conv2d, Pool, RunStats, reference_conv2d
from ipuexplore.engine.shared_pool import run_on_a_pool, shared_pool

rng = np.random.default_rng(3)
X = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
W = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
DY = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)


def test_each_call_runs_on_the_pool_it_names():
    with Pool(1) as made_with, Pool(2) as per_call:
        conv = Conv2d(W, None, X.shape, padding=1, groups=4, pool=made_with)
        y = conv.run(X, pool=per_call)
        assert per_call.last_stats is conv.stats and conv.stats.workers == 2
        assert made_with.last_stats is None  # the pool given at creation was not touched
        conv.run(X)  # no pool named: the one given at creation
        assert made_with.last_stats is conv.stats and conv.stats.workers == 1
        np.testing.assert_allclose(y, reference_conv2d(X, W, None, 1, 1, 1, 4), rtol=1e-4, atol=1e-4)


def test_a_conv_made_without_a_pool_runs_on_any():
    conv = Conv2d(W, None, X.shape, padding=1, groups=4, backward=True)
    with Pool(2) as pool:
        conv.backward_data(DY, pool=pool)
        assert pool.last_stats is conv.stats
        conv.backward_weights(DY, X, pool=pool)
        assert pool.last_stats is conv.stats
    conv.run(X)  # and on the shared pool when it names none
    assert conv.stats.workers == shared_pool().workers


def test_pool_argument_is_checked():
    conv = Conv2d(W, None, X.shape, padding=1, groups=4)
    with pytest.raises(TypeError, match="pool must be an ipuexplore.Pool, got int"):
        conv.run(X, pool=2)
    closed = Pool(1)
    closed.close()
    with pytest.raises(errors.Closed, match="the pool is closed"):
        conv.run(X, pool=closed)


def test_backward_runs_both_passes_on_one_pool_with_combined_stats():
    conv = Conv2d(W, None, X.shape, padding=1, groups=4, backward=True)
    with Pool(2) as pool:
        gi = conv.backward_data(DY, pool=pool)
        data = conv.stats
        gw, gb = conv.backward_weights(DY, X, pool=pool)
        weights = conv.stats
        both = conv.backward(DY, X, pool=pool)
        assert pool.last_stats is conv.stats
    for got, want in zip(both, (gi, gw, gb)):
        np.testing.assert_array_equal(got, want)
    separate = RunStats.combine(data, weights)
    # what the workers did between them (which worker took which block, and so how often an
    # input was copied in again, changes from run to run: blocks are handed out dynamically)
    assert conv.stats.total_flops == separate.total_flops
    assert conv.stats.bytes_out.sum() == separate.bytes_out.sum()
    assert conv.stats.supersteps.sum() == separate.supersteps.sum()
    gi_buf = np.empty_like(X)
    with pytest.raises(ValueError, match="grad_weight overlaps grad_input"):
        conv.backward(DY, X, (gi_buf, gi_buf.reshape(-1)[: W.size].reshape(W.shape), None))


def test_conv2d_runs_on_a_private_pool_while_the_shared_one_is_held():
    xl = rng.standard_normal((4, 64, 40, 40)).astype(np.float32)
    wl = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    shared = shared_pool(2)
    long_conv = Conv2d(wl, None, xl.shape, padding=1)
    stop = threading.Event()
    outcome = []

    def hold_shared():  # runs of a few ms, back to back (no cancel: it would stay pending
        try:            # for the shared pool's next run when it lands between two runs)
            while not stop.is_set():
                long_conv.run(xl, pool=shared)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    t = threading.Thread(target=hold_shared)
    t.start()
    try:
        for _ in range(200):
            if shared.busy:
                break
            threading.Event().wait(0.005)
        assert shared.busy, "the long run never took the shared pool"
        y = ipuexplore.conv2d(X, W, padding=1, groups=4, workers=2)  # must not raise Busy
        np.testing.assert_allclose(y, reference_conv2d(X, W, None, 1, 1, 1, 4), rtol=1e-4, atol=1e-4)
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive() and outcome == []


def test_a_shared_pool_taken_after_the_look_is_retried_on_a_private_one():
    shared = shared_pool(1)
    seen = []

    def fn(pool):
        seen.append(pool)
        if pool is shared:  # another thread took it between the look and the run
            raise errors.Busy("taken", "IPX_STATUS_BUSY")
        return pool

    private = run_on_a_pool(fn, 4096, None, 1)
    assert seen == [shared, private] and private is not shared
    assert private.closed  # made for the call, closed after it
    with Pool(1) as mine:  # a pool the caller names is never swapped
        with pytest.raises(errors.Busy):
            run_on_a_pool(lambda p: fn(shared), 4096, mine, None)


def test_execute_with_no_calls_returns_success_and_no_stats():
    with Pool(2) as pool:
        assert pool.execute("test") == (0, None)
