"""The engine's vector activations (csrc/src/epilogue.h: exp by 2^n times a fitted polynomial,
the sigmoid's division) against float64 over a dense sweep of floats, on every build: the
portable one (no FMA: its last bits differ from the vector builds'), AVX2 and AVX-512 (the
same float operations, so the same bits), and their values at 0, -0, the infinities, NaN and
past the clamps."""

import numpy as np
import pytest

from ipuexplore._ipx_cffi import ffi, lib
from ipuexplore.engine import Pool

ISAS = ("portable", "avx2", "avx512")
CODES = {"relu": 1, "relu6": 2, "sigmoid": 3, "silu": 4, "hardswish": 5}
FLOAT_ULP_REL = 2.0**-23  # a float's spacing relative to its value, at most


def engine_act(x: np.ndarray, act: str, isa: str, monkeypatch) -> np.ndarray:
    """act(x) by ipx_epilogue_run on one build (a copy of x, one plane per worker)."""
    if isa == "avx512" and not lib.ipx_cpu_has_avx512():
        pytest.skip("this CPU has no AVX-512")
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    else:
        monkeypatch.delenv("IPX_FORCE_AVX2", raising=False)
    y = np.ascontiguousarray(x, dtype=np.float32).copy()
    planes = 2 if y.size % 2 == 0 else 1
    desc = ffi.new("ipx_epilogue_desc*", {"planes": planes, "plane_len": y.size // planes,
                                          "activation": CODES[act],
                                          "flags": lib.IPX_FLAG_PORTABLE if isa == "portable" else 0})
    data = ffi.from_buffer("float[]", y, require_writable=True)
    with Pool(2) as pool:
        status, _ = pool.execute("epilogue", lambda h: lib.ipx_epilogue_run(h, desc, data, y.size, ffi.NULL, 0,
                                                                            ffi.NULL, ffi.NULL), record=False)
    assert status == 0
    return y


def reference(x: np.ndarray, act: str) -> np.ndarray:
    x = x.astype(np.float64)
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-x))
    return {"sigmoid": s, "silu": x * s, "hardswish": x * np.clip(x + 3, 0, 6) / 6,
            "relu": np.maximum(x, 0), "relu6": np.clip(x, 0, 6)}[act]


def sweep() -> np.ndarray:
    """Every 97th float of [-87, 87] by bit pattern (all exponents, mantissas spread), both signs."""
    top = np.float32(87).view(np.uint32)
    bits = np.arange(0, int(top) + 1, 97, dtype=np.uint32)
    pos = bits.view(np.float32)
    return np.concatenate([pos, -pos])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ["sigmoid", "silu", "hardswish"])
def test_within_a_few_ulps_of_float64(act, isa, monkeypatch):
    """Largest error over the sweep, in float spacings (ulp) at the exact result, at most 2.5.
    Measured over every float of [-87, 87] (not every run: minutes): sigmoid 2.48 (AVX-512
    and portable), SiLU 2.39 (AVX-512) and 2.47 (portable), hardswish 2.25; 1 + exp(-x) rounds
    away part of exp's last bit where exp(-x) is large, and hardswish rounds three times
    (x + 3, two products)."""
    x = sweep()
    want = reference(x, act)
    got = engine_act(x, act, isa, monkeypatch).astype(np.float64)
    tiny = np.finfo(np.float32).tiny
    spacing = np.spacing(np.maximum(np.abs(want), tiny).astype(np.float32)).astype(np.float64)
    ulps = np.abs(got - want) / spacing
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= 2.5, (act, isa, float(x[worst]), float(got[worst]), float(want[worst]))


@pytest.mark.parametrize("act", ["sigmoid", "silu", "hardswish"])
def test_vector_builds_agree_bit_for_bit_portable_to_rounding(act, monkeypatch):
    """AVX2 and AVX-512 run the same float operations (FMA contracted alike): identical bits,
    which the in-register epilogues' tests against the separate pass rely on. The portable build
    has no FMA: it differs in the last bits only."""
    x = sweep()
    avx2 = engine_act(x, act, "avx2", monkeypatch)
    if lib.ipx_cpu_has_avx512():
        assert np.array_equal(avx2, engine_act(x, act, "avx512", monkeypatch))
    portable = engine_act(x, act, "portable", monkeypatch)
    np.testing.assert_allclose(portable, avx2, rtol=6 * FLOAT_ULP_REL, atol=np.finfo(np.float32).tiny)


@pytest.mark.parametrize("isa", ISAS)
def test_special_values(isa, monkeypatch):
    """0 and -0, the infinities, NaN (propagated by sigmoid, SiLU and hardswish; ReLU and ReLU6
    give 0, as max(x, 0) with NaN failing the test), and the clamp of exp's argument: the
    sigmoid is 1 above 87 and 1.6e-38 below -87 (float's normal range ends at 1.2e-38), SiLU x
    times that."""
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.0, 1e30, -88.0, -1e30], np.float32)
    res = {act: engine_act(x, act, isa, monkeypatch) for act in CODES}
    s = res["sigmoid"]
    assert s[0] == s[1] == 0.5 and s[2] == 1.0 and np.isnan(s[4]) and s[5] == s[6] == 1.0
    floor = np.float32(1 / (1 + np.exp(87.0)))
    np.testing.assert_allclose(s[[3, 7, 8]], floor, rtol=4 * FLOAT_ULP_REL)
    si = res["silu"]
    assert si[0] == 0 and si[1] == 0 and si[2] == np.inf and si[3] == -np.inf and np.isnan(si[4])
    assert si[5] == 88.0 and si[6] == np.float32(1e30)
    np.testing.assert_allclose(si[[7, 8]], x[[7, 8]] * floor, rtol=4 * FLOAT_ULP_REL)
    h = res["hardswish"]
    assert h[0] == 0 and h[1] == 0 and h[2] == np.inf and np.isnan(h[3]) and np.isnan(h[4]) and h[7] == 0
    for act in ("relu", "relu6"):
        assert res[act][4] == 0 and res[act][3] == 0
    assert res["relu"][2] == np.inf and res["relu6"][2] == 6
