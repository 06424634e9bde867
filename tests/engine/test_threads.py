"""Concurrency: one handle per call (Busy otherwise), handles in parallel, cancel, close."""

import threading
import time

import numpy as np
import pytest

import ipuexplore
from ipuexplore import errors
from ipuexplore.engine import Conv2d, Pool, reference_conv2d

rng = np.random.default_rng(0)
# Big enough that one run takes a few milliseconds on two cores.
X = rng.standard_normal((4, 64, 40, 40)).astype(np.float32)
W = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)


def _run_in_thread(fn, n_runs=10_000):
    state = {"error": None, "runs": 0, "started": threading.Event()}

    def body():
        state["started"].set()
        try:
            for _ in range(n_runs):
                fn()
                state["runs"] += 1
        except Exception as exc:  # noqa: BLE001 - recorded for the test
            state["error"] = exc

    t = threading.Thread(target=body)
    t.start()
    state["started"].wait()
    time.sleep(0.02)
    return t, state


def _until_busy(fn, timeout_s=10.0) -> bool:
    """Call fn until it raises Busy (True) or timeout_s passes (False): a run on another
    thread may not have started yet, and fn succeeding then is no error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            fn()
        except errors.Busy:
            return True
        time.sleep(0.001)
    return False


# One long run (a fraction of a second to seconds), so that once a pool is seen busy it stays
# busy while refusals are checked: a loop of short runs leaves gaps between runs in which a
# loaded machine can schedule the checking thread, and a close() landing there would succeed.
XL = rng.standard_normal((16, 256, 56, 56)).astype(np.float32)
WL = rng.standard_normal((256, 256, 3, 3)).astype(np.float32)


def test_busy_handles_and_cancel():
    xl, wl = XL, WL
    with Pool(2) as pool, Pool(1) as other:
        conv = Conv2d(W, None, X.shape, padding=1, pool=pool)
        conv2 = Conv2d(W, None, X.shape, padding=1, pool=pool)
        long_conv = Conv2d(wl, None, xl.shape, padding=1, pool=pool)
        t, state = _run_in_thread(lambda: long_conv.run(xl), n_runs=1)
        assert _until_busy(lambda: conv2.run(X)), "the same pool was never refused while running"
        with pytest.raises(errors.Busy):
            pool.close()
        with pytest.raises(errors.Busy):
            long_conv.close()
        pool.cancel()
        t.join(5)
        assert not t.is_alive()
        assert isinstance(state["error"], errors.Cancelled)
        assert pool.last_stats is not None
        # A cancelled pool is usable again.
        y = conv.run(X)
        np.testing.assert_allclose(y[:1, :4], reference_conv2d(X[:1], W[:4], None, 1, 1),
                                   rtol=1e-4, atol=1e-3)
        # Conv2d objects on different pools run in parallel.
        solo = Conv2d(W, None, X.shape, padding=1, pool=other)
        t, state = _run_in_thread(lambda: conv.run(X), n_runs=3)
        solo.run(X)
        t.join(30)
        assert state["error"] is None and state["runs"] == 3


def test_same_conv_from_two_threads_is_refused():
    with Pool(1) as p1, Pool(1) as p2:
        conv = Conv2d(WL, None, XL.shape, padding=1, pool=p1)
        probe = Conv2d(W, None, X.shape, padding=1, pool=p1)
        t, state = _run_in_thread(lambda: conv.run(XL), n_runs=1)
        assert _until_busy(lambda: probe.run(X)), "the long run never started"
        with pytest.raises(errors.Busy):  # even on a free pool, the conv itself is busy
            conv.run(XL, pool=p2)
        p1.cancel()
        t.join(10)
        assert not t.is_alive()


def test_conv2d_from_many_threads_uses_private_pools_when_busy():
    x, w = X[:1, :16, :12, :12].copy(), W[:16, :16].copy()
    ref = reference_conv2d(x, w, None, 1, 1)
    results, failures = [], []

    def body():
        try:
            for _ in range(5):
                results.append(ipuexplore.conv2d(x, w, padding=1, workers=2))
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=body) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    for y in results:
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-3)


def test_closed_pool():
    pool = Pool(1)
    pool.close()
    pool.close()  # idempotent
    pool.cancel()  # no-op
    with pytest.raises(errors.Closed):
        ipuexplore.conv2d(X[:, :8, :4, :4].copy(), W[:8, :8].copy(), pool=pool)


def test_host_peaks_fma_rate_holds_with_a_busy_thread_beside_the_workers():
    """Each worker's FMA rate is timed on its own CPU clock: a Python thread spinning beside
    two workers (three threads on this machine's two CPUs) read 117-146 of 235 GFLOP/s when the
    pool's wall clock timed them, which the host model's every compute time scales with."""
    import threading

    with Pool(2) as pool:
        quiet = ipuexplore.host_peaks(pool, array_bytes=8 << 20, refresh=True).peak_flop_s
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                pass

        spinner = threading.Thread(target=spin)
        spinner.start()
        try:
            busy = ipuexplore.host_peaks(pool, array_bytes=8 << 20, refresh=True).peak_flop_s
        finally:
            stop.set()
            spinner.join()
    assert busy > 0.8 * quiet, (busy, quiet)


def test_host_peaks_refresh_can_keep_the_higher_fma_reading():
    from dataclasses import replace

    from ipuexplore.engine import peaks as peaks_module

    with Pool(2) as pool:
        first = ipuexplore.host_peaks(pool, array_bytes=8 << 20, refresh=True)
        key = (2, False)
        peaks_module._cache[key] = replace(first, peak_flop_s=1e15)  # a reading no CPU here reaches
        kept = ipuexplore.host_peaks(pool, array_bytes=8 << 20, refresh=True, keep_higher=True)
        assert kept.peak_flop_s == 1e15 and kept.mem_bw_b_s > 0  # the bandwidths are the new reading's
        fresh = ipuexplore.host_peaks(pool, array_bytes=8 << 20, refresh=True)
        assert fresh.peak_flop_s < 1e15


def test_host_peaks_measured_and_cached():
    with Pool(2) as pool:
        peaks = ipuexplore.host_peaks(pool, array_bytes=8 << 20)
        assert peaks.workers == 2 and peaks.isa in ("avx2", "portable")
        # Loose sanity bounds: any CPU of the last 15 years, any VM share.
        assert 1e9 < peaks.peak_flop_s < 1e13
        assert 1e8 < peaks.mem_bw_b_s < 1e12 and peaks.tile_bw_b_s > 1e8
        assert ipuexplore.host_peaks(pool) is peaks  # cached
        assert peaks.roofline_flop_s(1e6) == peaks.peak_flop_s
        assert peaks.roofline_flop_s(1e-3) == pytest.approx(1e-3 * peaks.mem_bw_b_s)
    with Pool(1, memory_limit=1 << 20) as small:
        with pytest.raises(MemoryError):
            ipuexplore.host_peaks(small, array_bytes=1 << 20, refresh=True)
