"""Depthwise convolutions through the engine's dedicated kernels (3x3 and 5x5, stride 1 and 2,
with and without a fused activation and channel sums) against float64 references, in each
instruction-set build this CPU has."""

from __future__ import annotations

import numpy as np
import pytest

from ipuexplore import engine

RNG = np.random.default_rng(13)


def _reference(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    k = w.shape[-1]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    p, q = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, p, q)) + b.reshape(1, -1, 1, 1)
    for i in range(k):
        for j in range(k):
            out += xp[:, :, i:i + stride * (p - 1) + 1:stride, j:j + stride * (q - 1) + 1:stride] * w[:, 0, i, j].reshape(1, -1, 1, 1)
    return out


ISAS = ["native", "IPX_FORCE_AVX2", "IPX_FORCE_PORTABLE"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("k, stride", [(3, 1), (3, 2), (5, 1), (5, 2)])
@pytest.mark.parametrize("size", [7, 14, 19, 28])
def test_depthwise_matches_float64(monkeypatch, isa, k, stride, size):
    if isa != "native":
        monkeypatch.setenv(isa, "1")
    x = RNG.standard_normal((2, 24, size, size)).astype(np.float32)
    w = RNG.standard_normal((24, 1, k, k)).astype(np.float32)
    b = RNG.standard_normal(24).astype(np.float32)
    with engine.Pool(2) as pool:
        conv = engine.Conv2d(w, b, x.shape, stride=stride, padding=k // 2, groups=24, pool=pool)
        if isa == "IPX_FORCE_PORTABLE":
            assert conv.info["isa"] == "portable"
        elif isa == "IPX_FORCE_AVX2":
            assert conv.info["isa"] in ("avx2", "portable")
        ref = _reference(x, w, b, stride, k // 2)
        np.testing.assert_allclose(conv.run(x), ref, rtol=1e-5, atol=1e-5)
        out = np.empty(conv.output_shape, np.float32)
        sums = np.empty(out.shape[:2], np.float32)
        conv.run_fused(x, out, activation="silu", channel_sums=sums)
        act = ref / (1 + np.exp(-ref))
        np.testing.assert_allclose(out, act, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sums, act.sum(axis=(2, 3)), rtol=1e-4, atol=1e-3)
