"""``Linear`` and ``SqueezeExcite`` (C's ipx_fc_*) against float64 definitions in every ISA
build: every activation and gate (HardSigmoid with PyTorch's and ONNX's alpha and beta), batch
sizes that take each register tile (1 to 9 images), outputs that leave a vector's tail, pools
of 1 to 3 workers and tiles that hold one image; bad arguments raise the error naming them."""

import numpy as np
import pytest

from ipuexplore import errors
from ipuexplore.engine import Linear, Pool, SqueezeExcite

ISAS = ["native", "avx2", "portable"]
ACTS = [None, "relu", "relu6", "sigmoid", "silu", "hardswish"]


def _act64(x, act):
    if act is None:
        return x
    if isinstance(act, tuple) or act == "hardsigmoid":
        alpha, beta = act[1:] if isinstance(act, tuple) else (1 / 6, 0.5)
        return np.clip(alpha * x + beta, 0, 1)
    sig = 1 / (1 + np.exp(-x))
    return {"relu": np.maximum(x, 0), "relu6": np.clip(x, 0, 6), "sigmoid": sig, "silu": x * sig,
            "hardswish": x * np.clip(x + 3, 0, 6) / 6}[act]


def _isa(isa, monkeypatch):
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    return isa == "portable"


def _close(y, ref):
    np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-5 * (np.abs(ref).max() + 1))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", [*ACTS, "hardsigmoid", ("hardsigmoid", 0.2, 0.5)])
def test_linear_matches_float64_for_every_activation(isa, act, monkeypatch):
    portable = _isa(isa, monkeypatch)
    rng = np.random.default_rng(1)
    with Pool(2) as pool:
        for n, c, k in ((1, 37, 43), (4, 129, 17), (9, 64, 8), (6, 1280, 1000)):
            x = rng.standard_normal((n, c)).astype(np.float32)
            w = (rng.standard_normal((k, c)) / np.sqrt(c)).astype(np.float32)
            b = rng.standard_normal(k).astype(np.float32) if n % 2 == 0 else None
            layer = Linear(w, b, n, activation=act, portable=portable)
            assert layer.info["isa"] == ("portable" if portable else layer.info["isa"]) and layer.info["layers"] == 1
            out = np.full((n, k), np.nan, np.float32)  # every output must be written
            y = layer.run(x, out, pool=pool)
            assert y is out
            _close(y, _act64(x.astype(np.float64) @ w.T.astype(np.float64) + (0 if b is None else b), act))
            assert pool.last_stats.flops.sum() == 2 * n * c * k == layer.info["flops"]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_linear_is_the_same_on_any_pool_and_tile(workers):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 200)).astype(np.float32)
    w = rng.standard_normal((50, 200)).astype(np.float32)
    layer = Linear(w, None, 300)
    with Pool(1) as one:
        ref = layer.run(x, pool=one)
    with Pool(workers, tile_bytes=max(layer.info["min_tile_bytes"], 4096)) as pool:
        y = layer.run(x, pool=pool)
    np.testing.assert_array_equal(y, ref)  # summed in input order whatever the blocks
    _close(y, x.astype(np.float64) @ w.T)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid", ("hardsigmoid", 0.2, 0.5), None])
def test_squeeze_excite_matches_float64(isa, act, gate, monkeypatch):
    portable = _isa(isa, monkeypatch)
    rng = np.random.default_rng(3)
    with Pool(2) as pool:
        for n, c, hidden, hw in ((1, 36, 9, (3, 5)), (4, 96, 4, (7, 7)), (5, 13, 1, 6)):
            h, w = hw if isinstance(hw, tuple) else (hw, 1)
            sums = (rng.standard_normal((n, c)) * h * w).astype(np.float32)
            w1 = (rng.standard_normal((hidden, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
            w2 = (rng.standard_normal((c, hidden, 1, 1)) / np.sqrt(hidden)).astype(np.float32)
            b1, b2 = rng.standard_normal(hidden).astype(np.float32), rng.standard_normal(c).astype(np.float32)
            se = SqueezeExcite(w1, b1, w2, b2, n, hw, activation=act, gate=gate, portable=portable)
            scale = se.run(sums, pool=pool)
            mean = sums.astype(np.float64) / (h * w)
            hid = _act64(mean @ w1[:, :, 0, 0].T.astype(np.float64) + b1, act)
            _close(scale, _act64(hid @ w2[:, :, 0, 0].T.astype(np.float64) + b2, gate))
            assert se.info["layers"] == 2 and se.info["flops"] == 4 * n * c * hidden


def test_squeeze_excite_of_efficientnet_b0_on_one_image_and_four():
    rng = np.random.default_rng(4)
    c, hidden = 1152, 48
    w1 = (rng.standard_normal((hidden, c)) / np.sqrt(c)).astype(np.float32)
    w2 = (rng.standard_normal((c, hidden)) / np.sqrt(hidden)).astype(np.float32)
    b1, b2 = np.zeros(hidden, np.float32), rng.standard_normal(c).astype(np.float32)
    with Pool(2) as pool:
        for n in (1, 4):
            sums = (rng.standard_normal((n, c)) * 49).astype(np.float32)
            scale = SqueezeExcite(w1, b1, w2, b2, n, (7, 7), activation="silu").run(sums, pool=pool)
            hid = _act64(sums.astype(np.float64) / 49 @ w1.T + b1, "silu")
            _close(scale, _act64(hid @ w2.T + b2, "sigmoid"))


def test_bad_arguments_name_the_parameter():
    w = np.ones((4, 8), np.float32)
    with pytest.raises(errors.InvalidType, match="weight must have dtype float32"):
        Linear(w.astype(np.float64), None, 2)
    with pytest.raises(errors.InvalidParameter, match="bias has 3 elements, expected 4"):
        Linear(w, np.ones(3, np.float32), 2)
    with pytest.raises(errors.InvalidParameter, match="batch=0"):
        Linear(w, None, 0)
    with pytest.raises(errors.InvalidType, match="batch must be an int"):
        Linear(w, None, 2.0)
    with pytest.raises(errors.InvalidParameter, match="activation must be one of"):
        Linear(w, None, 2, activation="gelu")
    with pytest.raises(errors.InvalidParameter, match="hardsigmoid's alpha must be a finite number"):
        Linear(w, None, 2, activation=("hardsigmoid", float("nan"), 0.5))
    with pytest.raises(errors.InvalidParameter, match="weight must be"):
        Linear(np.ones((4, 8, 3, 3), np.float32), None, 2)
    with pytest.raises(errors.MemoryLimitExceeded):
        Linear(w, None, 2, memory_limit=16)
    layer = Linear(w, None, 2)
    with pytest.raises(errors.InvalidParameter, match=r"input has shape \(3, 8\)"):
        layer.run(np.ones((3, 8), np.float32))
    with pytest.raises(errors.InvalidParameter, match="out has shape"):
        layer.run(np.ones((2, 8), np.float32), np.empty((2, 5), np.float32))
    with pytest.raises(errors.InvalidParameter, match="out overlaps input"):
        buf = np.ones((2, 8), np.float32)
        Linear(np.ones((8, 8), np.float32), None, 2).run(buf, buf)
    with pytest.raises(errors.InvalidType, match="pool must be an ipuexplore.Pool"):
        layer.run(np.ones((2, 8), np.float32), pool="p")
    layer.close()
    with pytest.raises(errors.Closed):
        layer.run(np.ones((2, 8), np.float32))

    w1, w2 = np.ones((2, 8), np.float32), np.ones((8, 2), np.float32)
    with pytest.raises(errors.InvalidParameter, match=r"w2 has shape \(8, 3\), expected \(8, 2\)"):
        SqueezeExcite(w1, None, np.ones((8, 3), np.float32), None, 1, 4)
    with pytest.raises(errors.InvalidParameter, match="b2 has 2 elements, expected 8"):
        SqueezeExcite(w1, None, w2, np.ones(2, np.float32), 1, 4)
    with pytest.raises(errors.InvalidParameter, match="activation cannot be hardsigmoid"):
        SqueezeExcite(w1, None, w2, None, 1, 4, activation="hardsigmoid")
    with pytest.raises(errors.InvalidParameter, match="gate must be one of"):
        SqueezeExcite(w1, None, w2, None, 1, 4, gate="tanh")
    with pytest.raises(errors.InvalidParameter, match="map_size=0"):
        SqueezeExcite(w1, None, w2, None, 1, (0, 3))
    se = SqueezeExcite(w1, None, w2, None, 1, 4)
    with pytest.raises(errors.InvalidParameter, match="channel_sums has shape"):
        se.run(np.ones((1, 9), np.float32))


def test_a_pool_whose_tiles_cannot_hold_one_image_is_refused():
    layer = Linear(np.ones((3, 4000), np.float32), None, 1)
    assert layer.info["min_tile_bytes"] > 4096
    with Pool(1, tile_bytes=4096) as pool, pytest.raises(errors.TileTooSmall, match="tile_bytes >="):
        layer.run(np.ones((1, 4000), np.float32), pool=pool)
    np.testing.assert_allclose(layer.run(np.ones((1, 4000), np.float32)), 4000)  # the shared pool's tiles hold it
