"""How a pointwise layer is cut for the pool, and the pool's hand-offs between runs.

A small map (fewer than 256 pixels) at batch 1 is split by output channels, not rows: every
worker copies the input once, the weights are copied once in all (row blocks of one or two
rows re-copied all the weights per block and wasted the kernel's pixel vectors), and results
match the float64 reference in every ISA build, with the fused epilogue too (channel sums
added by several blocks). The pool stops spinning soon after a run: the process's CPU time in
an idle 100 ms after back-to-back runs stays far below the wall time."""

import time

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d

ISAS = ["native", "avx2", "portable"]
# (c, h, k) of MobileNetV2 / EfficientNet-B0 pointwise layers at 14 x 14 and 7 x 7, and one
# whose channels do not cut into equal blocks of 8
SMALL_MAPS = [(64, 14, 384), (160, 7, 960), (960, 7, 160), (320, 7, 1280), (40, 7, 100)]


def _layer(rng, n, c, h, k):
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    w = (rng.standard_normal((k, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("c,h,k", SMALL_MAPS)
def test_small_maps_split_channels_and_copy_each_input_once(c, h, k, workers):
    rng = np.random.default_rng(c + k)
    x, w, b = _layer(rng, 1, c, h, k)
    with Pool(workers) as pool:
        conv = Conv2d(w, b, x.shape, pool=pool)
        out = conv.run(x)
        st = pool.last_stats
    np.testing.assert_allclose(out, reference_conv2d(x, w, b, 1, 0), rtol=1e-4, atol=1e-4 * (np.abs(out).max() + 1))
    blocks = int(st.supersteps.sum())
    assert blocks >= workers, f"{blocks} blocks for {workers} workers"
    npad = -(-h * h // 8) * 8  # a channel's pixels in the tile, whole vectors
    k8 = -(-k // 8) * 8
    most = 4 * (workers * c * npad + k8 * (c + 1))  # each worker's input once, the weights once
    assert st.bytes_in.sum() <= most, (st.bytes_in.tolist(), most)
    # whole maps: every block wrote all h*h pixels of its channels (bytes out per block a
    # multiple of a plane's)
    assert st.total_flops == 2 * k * h * h * c


@pytest.mark.parametrize("isa", ISAS)
def test_channel_blocks_with_fused_epilogue(isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(7)
    for c, h, k in SMALL_MAPS:
        x, w, b = _layer(rng, 1, c, h, k)
        with Pool(2) as pool:
            conv = Conv2d(w, b, x.shape, pool=pool, portable=isa == "portable")
            res = rng.standard_normal(conv.output_shape).astype(np.float32)
            sums = np.full((1, k), np.nan, np.float32)
            out = conv.run_fused(x, residual=res, activation="relu6", channel_sums=sums)
        ref = np.clip(reference_conv2d(x, w, b, 1, 0) + res, 0.0, 6.0)
        scale = np.abs(ref).max() + 1
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * scale)
        np.testing.assert_allclose(sums, ref.sum(axis=(2, 3)), rtol=1e-4, atol=1e-3 * scale * h * h)


def _idle_cpu_s(seconds: float = 0.1) -> float:
    """CPU time of the whole process while this thread sleeps."""
    cpu0 = time.process_time()
    time.sleep(seconds)
    return time.process_time() - cpu0


def test_pool_stops_spinning_after_runs():
    rng = np.random.default_rng(3)
    x, w, b = _layer(rng, 1, 64, 14, 384)
    background = _idle_cpu_s()  # other threads of this process (earlier tests' runtimes)
    with Pool(2) as pool:
        conv = Conv2d(w, b, x.shape, pool=pool)
        out = np.empty(conv.output_shape, np.float32)
        for _ in range(200):  # back to back, as a session's layers
            conv.run(x, out)
        time.sleep(0.002)  # a few hundred microseconds of spinning at most, then asleep
        idle = _idle_cpu_s()
    assert idle < background + 0.01, f"{idle * 1e3:.1f} ms of CPU in an idle 100 ms ({background * 1e3:.1f} before the runs)"
