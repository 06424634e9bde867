"""Backward data and weights against the float64 numpy reference and torch.autograd."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import ipuexplore
from ipuexplore import errors
from ipuexplore.engine import Conv2d, Pool, reference_conv2d, reference_conv2d_backward

from test_conv import CHANNELS_PER_GROUP, _assert_close, _data


@st.composite
def backward_cases(draw):
    g = draw(st.integers(1, 3))
    cg = draw(st.sampled_from(CHANNELS_PER_GROUP))
    kg = draw(st.sampled_from(CHANNELS_PER_GROUP))
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 11))
    r, s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, 3)) for _ in range(4))  # may exceed the kernel extent
    assume(h + pad[0] + pad[1] >= dilation[0] * (r - 1) + 1)
    assume(w + pad[2] + pad[3] >= dilation[1] * (s - 1) + 1)
    return dict(n=draw(st.integers(1, 2)), c=g * cg, h=h, w=w, k=g * kg, r=r, s=s, g=g,
                stride=stride, dilation=dilation, pad=pad, workers=draw(st.integers(1, 3)),
                portable=draw(st.booleans()), algorithm=draw(st.sampled_from(["direct", "gemm", "winograd"])),
                seed=draw(st.integers(0, 2**31)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=backward_cases())
@example(case=dict(n=1, c=8, h=4, w=4, k=8, r=1, s=1, g=1, stride=(1, 1), dilation=(1, 1), pad=(0, 0, 0, 1),
                   workers=1, portable=False, algorithm="direct", seed=0))  # found in CI: test_1x1_padded_on_one_side
def test_random_shapes_match_reference(case, pools):
    rng = np.random.default_rng(case["seed"])
    x = _data(rng, (case["n"], case["c"], case["h"], case["w"]))
    w = _data(rng, (case["k"], case["c"] // case["g"], case["r"], case["s"]))
    args = (case["stride"], case["pad"], case["dilation"], case["g"])
    conv = Conv2d(w, None, x.shape, *args, pool=pools[case["workers"]], portable=case["portable"],
                  backward=True, algorithm=case["algorithm"])
    dy = _data(rng, conv.output_shape)
    gi = conv.backward_data(dy)
    gw, gb = conv.backward_weights(dy, x)
    ri, rw, rb = reference_conv2d_backward(dy, x, w, *args)
    _assert_close(gi, ri)
    _assert_close(gw, rw)
    _assert_close(gb, rb)


@pytest.mark.parametrize("shape", [
    # n, c, hw, k, r, g, stride, pad: depthwise, 2/4/8/16 per group, dense, strided
    (2, 32, 14, 32, 3, 32, 1, 1),
    (2, 32, 14, 32, 3, 16, 1, 1),
    (2, 32, 14, 32, 3, 8, 1, 1),
    (2, 64, 12, 64, 3, 8, 1, 1),
    (2, 64, 12, 64, 3, 4, 1, 1),
    (2, 48, 9, 40, 3, 1, 1, 1),
    (2, 32, 15, 32, 3, 4, 2, 1),
    (1, 24, 16, 48, 5, 24, 2, 2),
])
def test_matches_torch_autograd(shape):
    torch = pytest.importorskip("torch")
    n, c, hw, k, r, g, stride, pad = shape
    rng = np.random.default_rng(1)
    x, w, b = _data(rng, (n, c, hw, hw)), _data(rng, (k, c // g, r, r)), _data(rng, (k,))
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    y = torch.nn.functional.conv2d(xt, wt, bt, stride, pad, 1, g)
    dy = torch.from_numpy(_data(rng, tuple(y.shape)))
    y.backward(dy)
    with Pool(2) as pool:
        gi, gw, gb = ipuexplore.conv2d_backward(dy.numpy(), x, w, stride, pad, 1, g, pool=pool)
        stats = pool.last_stats
    _assert_close(gi, xt.grad.numpy())
    _assert_close(gw, wt.grad.numpy())
    _assert_close(gb, bt.grad.numpy())
    assert stats.algorithm == "direct" and stats.total_flops >= 2 * 2 * n * k * y.shape[2] * y.shape[3] * (c // g) * r * r


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
@pytest.mark.parametrize("pad", [(0, 0, 0, 1), (0, 0, 0, 3), (0, 1, 0, 0), (0, 2, 0, 2), (0, 0, 1, 0), (1, 0, 0, 1)])
def test_1x1_padded_on_one_side(pad, isa, monkeypatch):
    """A 1x1 layer padded only on the right: its backward data is a 1x1 convolution of an
    output gradient wider than the input gradient (the padded columns cropped), which the
    pointwise kernel had copied as if its rows were as wide as the result's (every row
    shifted; found by the random test above in CI)."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(12)
    for n, c, k, h, w in ((1, 8, 8, 4, 4), (2, 16, 24, 9, 13)):
        x, wt = _data(rng, (n, c, h, w)), _data(rng, (k, c, 1, 1))
        for workers in (1, 2):
            with Pool(workers) as pool:
                conv = Conv2d(wt, None, x.shape, 1, pad, 1, 1, pool=pool, backward=True, portable=isa == "portable")
                dy = _data(rng, conv.output_shape)
                gi = conv.backward_data(dy)
                gw, gb = conv.backward_weights(dy, x)
            ri, rw, rb = reference_conv2d_backward(dy, x, wt, 1, pad, 1, 1)
            _assert_close(gi, ri)
            _assert_close(gw, rw)
            _assert_close(gb, rb)


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
def test_channel_blocks_of_backward_weights(isa, monkeypatch):
    """Backward weights for 8+ input and 8k output channels per group (stride_w 1) runs as a
    small matrix product over a channel-last output gradient: odd numbers of 8-channel
    vectors, (input channel, tap) lists that are not multiples of 8, pixel counts that are
    not multiples of 8, 3x3 and other kernels, vertical stride and dilation, tiles small
    enough to split the rows, bias or none."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(11)
    cases = [  # cg, kg, h, w, r, s, stride, dilation, pad
        (8, 8, 5, 7, 3, 3, 1, 1, 1), (16, 24, 6, 13, 3, 3, 1, 1, 1), (9, 16, 4, 9, 3, 3, (2, 1), 1, 1),
        (8, 8, 7, 5, 3, 3, 1, 2, 2), (12, 8, 5, 6, 1, 1, 1, 1, 0), (8, 40, 4, 11, 1, 3, (3, 1), 1, (0, 1)),
        (16, 16, 9, 9, 2, 3, 1, (2, 1), 1),
    ]
    for tile in (None, 16 * 1024):
        with Pool(2, **({} if tile is None else {"tile_bytes": tile})) as pool:
            for cg, kg, h, w, r, s, stride, dilation, pad in cases:
                x = _data(rng, (2, 2 * cg, h, w))
                wt = _data(rng, (2 * kg, cg, r, s))
                conv = Conv2d(wt, None, x.shape, stride, pad, dilation, 2, pool=pool, backward=True,
                              portable=isa == "portable")
                dy = _data(rng, conv.output_shape)
                gw, gb = conv.backward_weights(dy, x)
                _, rw, rb = reference_conv2d_backward(dy, x, wt, stride, pad, dilation, 2)
                _assert_close(gw, rw)
                _assert_close(gb, rb)


@pytest.mark.parametrize("g", [1, 4, 32])
def test_worker_counts_give_identical_gradients(g):
    rng = np.random.default_rng(2)
    x, w = _data(rng, (2, 32, 10, 10)), _data(rng, (32, 32 // g, 3, 3))
    dy = _data(rng, (2, 32, 10, 10))
    results = []
    for workers in (1, 2, 3, 4):
        with Pool(workers) as pool:
            results.append(ipuexplore.conv2d_backward(dy, x, w, 1, 1, 1, g, pool=pool))
    for gi, gw, gb in results[1:]:
        np.testing.assert_array_equal(gi, results[0][0])
        np.testing.assert_array_equal(gw, results[0][1])
        np.testing.assert_array_equal(gb, results[0][2])


def test_out_buffers_and_errors():
    rng = np.random.default_rng(3)
    x, w = _data(rng, (1, 8, 6, 6)), _data(rng, (8, 2, 3, 3))
    dy = _data(rng, (1, 8, 6, 6))
    bufs = (np.full(x.shape, np.nan, np.float32), np.full(w.shape, np.nan, np.float32),
            np.full(8, np.nan, np.float32))
    res = ipuexplore.conv2d_backward(dy, x, w, padding=1, groups=4, out=bufs)
    assert all(a is b for a, b in zip(res, bufs))
    assert not any(np.isnan(a).any() for a in res)
    with pytest.raises(ValueError, match="grad_output has shape"):
        ipuexplore.conv2d_backward(dy[:, :, :5].copy(), x, w, padding=1, groups=4)
    with pytest.raises(TypeError, match="grad_output must have dtype float32"):
        ipuexplore.conv2d_backward(dy.astype(np.float64), x, w, padding=1, groups=4)
    with pytest.raises(ValueError, match="grad_weight has shape"):
        ipuexplore.conv2d_backward(dy, x, w, padding=1, groups=4, out=(None, np.empty((8, 2, 3, 2), np.float32), None))
    conv = Conv2d(w, None, x.shape, padding=1, groups=4)  # no backward=True
    with pytest.raises(errors.Unsupported, match="backward=True"):
        conv.backward_data(dy)
    gw, gb = conv.backward_weights(dy, x)  # needs no packed weights
    _assert_close(gw, reference_conv2d_backward(dy, x, w, 1, 1, 1, 4)[1])


@pytest.mark.parametrize("cpg, hw", [(1, 40), (4, 40), (16, 40), (16, 14)])
def test_min_tile_bytes_is_enough_for_every_pass(cpg, hw):
    """info['min_tile_bytes'] is the smallest tile every pass of the handle can run in
    (backward weights' channel blocks need a whole vector of 8 output channels; on 14-wide
    rows that block is the largest of the three passes)."""
    rng = np.random.default_rng(cpg)
    x = _data(rng, (1, 32, hw, hw))
    w = _data(rng, (32, cpg, 3, 3))
    probe = Conv2d(w, None, x.shape, 1, 1, 1, 32 // cpg, backward=True)
    need = probe.info["min_tile_bytes"]
    probe.close()
    with Pool(2, tile_bytes=max(need, 4096)) as pool:
        conv = Conv2d(w, None, x.shape, 1, 1, 1, 32 // cpg, pool=pool, backward=True)
        dy = _data(rng, conv.output_shape)
        ri, rw, rb = reference_conv2d_backward(dy, x, w, 1, 1, 1, 32 // cpg)
        _assert_close(conv.run(x), reference_conv2d(x, w, None, 1, 1, 1, 32 // cpg))
        _assert_close(conv.backward_data(dy), ri)
        gw, gb = conv.backward_weights(dy, x)
        _assert_close(gw, rw)
        _assert_close(gb, rb)
