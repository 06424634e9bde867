"""The engine against the float64 numpy reference and against PyTorch."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ipuexplore
from ipuexplore.engine import Conv2d, Pool, conv_output_size, reference_conv2d, reference_conv2d_backward

CHANNELS_PER_GROUP = [1, 2, 3, 4, 5, 8, 13, 16, 17]


def _data(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _assert_close(y, ref, rtol=1e-4):
    # Relative to the output's scale: float32 sums of up to a few hundred terms.
    scale = np.abs(ref).max() + 1.0
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol * scale)


@st.composite
def conv_cases(draw):
    g = draw(st.integers(1, 4))
    cg = draw(st.sampled_from(CHANNELS_PER_GROUP))
    kg = draw(st.sampled_from(CHANNELS_PER_GROUP))
    n = draw(st.integers(1, 2))
    h = draw(st.integers(1, 11))
    w = draw(st.integers(1, 13))
    r = draw(st.integers(1, 4))
    s = draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    eff_h = h + pad[0] + pad[1] - dilation[0] * (r - 1) - 1
    eff_w = w + pad[2] + pad[3] - dilation[1] * (s - 1) - 1
    assume(eff_h >= 0 and eff_w >= 0)
    return dict(n=n, c=g * cg, h=h, w=w, k=g * kg, r=r, s=s, g=g, stride=stride,
                dilation=dilation, pad=pad, bias=draw(st.booleans()),
                workers=draw(st.integers(1, 3)), portable=draw(st.booleans()),
                algorithm=draw(st.sampled_from(["auto", "direct", "gemm", "winograd"])),
                seed=draw(st.integers(0, 2**31)))


def _run_case(case, pool):
    rng = np.random.default_rng(case["seed"])
    x = _data(rng, (case["n"], case["c"], case["h"], case["w"]))
    w = _data(rng, (case["k"], case["c"] // case["g"], case["r"], case["s"]))
    b = _data(rng, (case["k"],)) if case["bias"] else None
    conv = Conv2d(w, b, x.shape, case["stride"], case["pad"], case["dilation"], case["g"],
                  pool=pool, portable=case["portable"], algorithm=case.get("algorithm", "auto"))
    y = conv.run(x)
    ref = reference_conv2d(x, w, b, case["stride"], case["pad"], case["dilation"], case["g"])
    return conv, y, ref


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv_cases())
def test_random_shapes_match_reference(case, pools):
    conv, y, ref = _run_case(case, pools[case["workers"]])
    assert y.shape == ref.shape == conv.output_shape
    _assert_close(y, ref)
    assert conv.info["isa"] == ("portable" if case["portable"] else _best_isa())
    # auto lowers one-group layers with fewer than 8 input channels (stems) with windows up to
    # 3x3 to a GEMM too
    # (as does winograd where its kernel does not apply)
    winograd = (case["algorithm"] == "winograd" and case["g"] == 1 and min(case["c"], case["k"]) >= 8
                and case["r"] == case["s"] == 3 and case["stride"] == case["dilation"] == (1, 1))
    lowered = (case["algorithm"] in ("auto", "winograd") and not winograd and case["g"] == 1
               and case["c"] < 8 and case["k"] >= 8 and case["r"] * case["s"] <= 9)
    assert (conv.info["kernel"] == "gemm") == (case["algorithm"] == "gemm" or lowered)
    assert (conv.info["kernel"] == "winograd") == winograd


def _best_isa():
    """The ISA a handle gets without portable=True (IPX_FORCE_* variables honoured)."""
    from ipuexplore._ipx_cffi import lib
    if os.environ.get("IPX_FORCE_PORTABLE", "0") not in ("", "0") or not lib.ipx_cpu_has_avx2():
        return "portable"
    if os.environ.get("IPX_FORCE_AVX2", "0") in ("", "0") and lib.ipx_cpu_has_avx512():
        return "avx512"
    return "avx2"


# Named shape families (XNNPACK-tester style): each exercises one path or edge.
CASES = {
    "depthwise_3x3": dict(n=2, c=32, h=15, w=17, k=32, r=3, s=3, g=32, stride=(1, 1), pad=(1, 1, 1, 1)),
    "depthwise_5x5_s2": dict(n=1, c=24, h=19, w=20, k=24, r=5, s=5, g=24, stride=(2, 2), pad=(2, 2, 2, 2)),
    "multiplier_3": dict(n=1, c=8, h=9, w=9, k=24, r=3, s=3, g=8, stride=(1, 1), pad=(1, 1, 1, 1)),
    "grouped_17_13": dict(n=2, c=34, h=7, w=6, k=26, r=3, s=3, g=2, stride=(1, 1), pad=(1, 1, 1, 1)),
    "grouped_2_per_group": dict(n=2, c=64, h=10, w=10, k=64, r=3, s=3, g=32, stride=(1, 1), pad=(1, 1, 1, 1)),
    "grouped_8_per_group": dict(n=2, c=64, h=10, w=10, k=64, r=3, s=3, g=8, stride=(1, 1), pad=(1, 1, 1, 1)),
    "dense_1x1": dict(n=2, c=40, h=7, w=7, k=24, r=1, s=1, g=1, stride=(1, 1), pad=(0, 0, 0, 0)),
    "dense_stem_7x7_s2": dict(n=1, c=3, h=32, w=32, k=16, r=7, s=7, g=1, stride=(2, 2), pad=(3, 3, 3, 3)),
    "rectangular_1x7": dict(n=1, c=16, h=9, w=12, k=16, r=1, s=7, g=1, stride=(1, 1), pad=(0, 0, 3, 3)),
    "rectangular_5x2_asym": dict(n=1, c=18, h=11, w=8, k=12, r=5, s=2, g=3, stride=(1, 2), pad=(2, 0, 1, 3)),
    "map_1x1": dict(n=3, c=32, h=1, w=1, k=16, r=1, s=1, g=1, stride=(1, 1), pad=(0, 0, 0, 0)),
    "map_1xN": dict(n=1, c=16, h=1, w=23, k=16, r=1, s=3, g=16, stride=(1, 1), pad=(0, 0, 1, 1)),
    "dilated_3x3": dict(n=1, c=16, h=14, w=14, k=32, r=3, s=3, g=2, stride=(1, 1), pad=(2, 2, 2, 2), dilation=(2, 2)),
    "wide_row": dict(n=1, c=4, h=3, w=301, k=4, r=3, s=3, g=4, stride=(1, 3), pad=(1, 1, 1, 1)),
}


@pytest.mark.parametrize("algorithm", ["direct", "gemm"])
@pytest.mark.parametrize("portable", [False, True], ids=["native", "portable"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_named_shapes(name, portable, algorithm, pools):
    case = {"dilation": (1, 1), "bias": True, "workers": 2, "seed": 1, "portable": portable,
            "algorithm": algorithm, **CASES[name]}
    _, y, ref = _run_case(case, pools[2])
    _assert_close(y, ref)


@pytest.mark.parametrize("algorithm", ["direct", "gemm"])
def test_small_tiles_split_blocks_over_more_supersteps(algorithm):
    rng = np.random.default_rng(3)
    x, w = _data(rng, (2, 64, 20, 20)), _data(rng, (64, 64, 3, 3))
    ref = reference_conv2d(x, w, None, 1, 1)
    # (the direct kernel keeps its weights out of the tile: smaller tiles to split its blocks)
    with Pool(2, tile_bytes=(96 if algorithm == "gemm" else 48) * 1024) as small, Pool(2) as big:
        y_small = ipuexplore.conv2d(x, w, padding=1, pool=small, algorithm=algorithm)
        y_big = ipuexplore.conv2d(x, w, padding=1, pool=big, algorithm=algorithm)
        # every worker's steps summed: the blocks of the run (the most one worker ran depends
        # on who claimed what: a worker descheduled under load leaves its share to the other)
        assert small.last_stats.supersteps.sum() > big.last_stats.supersteps.sum()
    _assert_close(y_small, ref)
    np.testing.assert_array_equal(y_small, y_big)  # same arithmetic order, any blocking


@pytest.mark.parametrize("workers", [2, 4])
def test_rows_that_split_unevenly_split_output_channels_instead(workers):
    # a 7x7 output at batch 1: rows in blocks of 4 + 3 left the worker with the 3-row blocks
    # idle for a quarter of the run (owner-first claims); whole rows in channel blocks make
    # every block the same work, so FLOPs per superstep are equal on every worker, however
    # the blocks were claimed or stolen
    rng = np.random.default_rng(11)
    x, w = _data(rng, (1, 256, 7, 7)), _data(rng, (256, 256, 3, 3))
    with Pool(workers) as pool:
        y = ipuexplore.conv2d(x, w, padding=1, pool=pool)
        st = pool.last_stats
    ran = st.supersteps > 0
    per_step = st.flops[ran] / st.supersteps[ran]
    assert per_step.min() == per_step.max()
    assert st.supersteps.sum() >= 4 * workers
    _assert_close(y, reference_conv2d(x, w, None, 1, 1))


@pytest.mark.parametrize("name", ["depthwise_3x3", "grouped_17_13", "grouped_8_per_group", "dense_stem_7x7_s2"])
def test_worker_counts_give_identical_results(name):
    spec = CASES[name]
    rng = np.random.default_rng(5)
    x = _data(rng, (spec["n"], spec["c"], spec["h"], spec["w"]))
    w = _data(rng, (spec["k"], spec["c"] // spec["g"], spec["r"], spec["s"]))
    outs = []
    for workers in (1, 2, 3, 4):
        with Pool(workers) as pool:
            outs.append(ipuexplore.conv2d(x, w, None, spec["stride"], spec["pad"], 1, spec["g"], pool=pool))
            stats = pool.last_stats
            assert stats.workers == workers and stats.flops.shape == (workers,)
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])


def test_stats_count_flops_and_bytes():
    rng = np.random.default_rng(0)
    x, w = _data(rng, (2, 16, 12, 12)), _data(rng, (32, 4, 3, 3))
    with Pool(2) as pool:
        conv = Conv2d(w, None, x.shape, padding=1, groups=4, pool=pool)
        conv.run(x)
        s = pool.last_stats
    assert s is conv.stats
    assert s.total_flops == 2 * 2 * 32 * 12 * 12 * 4 * 9 == conv.info["flops"]
    assert int(s.bytes_out.sum()) == 4 * 2 * 32 * 12 * 12
    assert int(s.bytes_in.sum()) >= 4 * x.size  # every input element entered some tile
    assert s.wall_s > 0 and s.gflop_s > 0 and s.gb_s > 0
    # blocks go to whichever worker is free (a descheduled one may get none)
    assert s.supersteps.sum() >= 1 and s.total_supersteps == s.supersteps.max()
    assert s.compute_ns.sum() > 0
    assert s.algorithm == "direct" and s.kernel in ("row", "channel")
    # GEMM lowering moves r*s times the input through im2col
    with Pool(2) as pool2:
        Conv2d(w, None, x.shape, padding=1, groups=4, algorithm="gemm", pool=pool2).run(x)
        g = pool2.last_stats
    assert g.algorithm == "gemm" and g.kernel == "gemm" and g.total_flops == s.total_flops
    assert int(g.bytes_in.sum()) >= 9 * 4 * x.size


def test_unbatched_input_and_out_buffer():
    rng = np.random.default_rng(0)
    x, w = _data(rng, (6, 5, 7)), _data(rng, (4, 3, 3, 3))
    y = ipuexplore.conv2d(x, w, padding="same", groups=2)
    assert y.shape == (4, 5, 7)
    _assert_close(y, reference_conv2d(x[None], w, None, 1, "same", 1, 2)[0])
    out = np.full((1, 4, 5, 7), np.nan, dtype=np.float32)
    res = ipuexplore.conv2d(x[None], w, padding="same", groups=2, out=out)
    assert res is out and not np.isnan(out).any()


def test_padding_modes_follow_torch_sizes():
    assert conv_output_size((1, 3, 10, 9), (8, 3, 4, 3), padding="same") == (1, 8, 10, 9)
    assert conv_output_size((1, 3, 10, 9), (8, 3, 4, 3), padding="valid") == (1, 8, 7, 7)
    assert conv_output_size((1, 3, 10, 9), (8, 3, 3, 3), stride=2, padding=(1, 2)) == (1, 8, 5, 6)


torch_cases = st.fixed_dictionaries({
    "g": st.sampled_from([1, 2, 4, 8]),
    "cg": st.sampled_from([1, 2, 4, 8, 13, 16, 17]),
    "mult": st.sampled_from([1, 2]),
    "hw": st.integers(3, 16),
    "rs": st.sampled_from([1, 3, 5]),
    "stride": st.integers(1, 2),
    "dilation": st.integers(1, 2),
    "padding": st.integers(0, 2),
    "seed": st.integers(0, 2**31),
})


@settings(max_examples=40, deadline=None)
@given(case=torch_cases)
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(case["seed"])
    g, cg = case["g"], case["cg"]
    c, k = g * cg, g * cg * case["mult"]
    assume(case["hw"] + 2 * case["padding"] >= case["dilation"] * (case["rs"] - 1) + 1)
    x = _data(rng, (2, c, case["hw"], case["hw"] + 1))
    w = _data(rng, (k, cg, case["rs"], case["rs"]))
    b = _data(rng, (k,))
    args = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=g)
    y = ipuexplore.conv2d(x, w, b, **args, workers=2)
    with torch.no_grad():
        t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **args).numpy()
    _assert_close(y, t)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
def test_matches_torch_same_padding_even_kernel():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x, w = _data(rng, (1, 8, 9, 10)), _data(rng, (8, 2, 4, 2))
    y = ipuexplore.conv2d(x, w, padding="same", groups=4, dilation=(1, 2))
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", groups=4, dilation=(1, 2))
    _assert_close(y, t.numpy())


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
@pytest.mark.parametrize("kg", [8, 12, 24])
def test_channel_kernel_chunks_and_transpose_edges(kg, isa, monkeypatch):
    """The channel kernel cuts each output row into equal chunks (its 3x3 block and its
    tap-by-tap block have different widths per ISA) and transposes whole 8 x 8 blocks to
    NCHW: every row width up to 2 x 16 + 1, channel counts that are not multiples of 8 or 16,
    and blocks whose pixel count is not a multiple of 8 must all be exact."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(kg)
    with Pool(2, tile_bytes=64 * 1024) as pool:
        for q in range(1, 34):
            for r, s, dil in ((3, 3, 1), (3, 3, 2), (1, 3, 1), (1, 1, 1)):
                x = _data(rng, (1, 32, 5, q + 2 * dil))
                w, b = _data(rng, (2 * kg, 16, r, s)), _data(rng, (2 * kg,))
                conv = Conv2d(w, b, x.shape, 1, (r // 2 * dil, 0), dil, 2, pool=pool,
                              portable=isa == "portable")
                assert conv.info["kernel"] == "channel"
                _assert_close(conv.run(x), reference_conv2d(x, w, b, 1, (r // 2 * dil, 0), dil, 2))


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
def test_channel_kernel_7x7_stride_2_blocks(isa, monkeypatch):
    """7x7 stride-2 layers (ResNet's stem) have their own register blocks, taps at compile
    time: every output row width up to 2 x 16 + 1 (chunks of each block width), 1, 2 and 3
    vectors of output channels, 3 input channels (a stem) and 16, with the fused ReLU."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(77)
    with Pool(2, tile_bytes=64 * 1024) as pool:
        for c, k in ((3, 24), (16, 8), (3, 16)):
            for q in range(1, 34):
                x = _data(rng, (1, c, 9, 2 * q - 1))
                w, b = _data(rng, (k, c, 7, 7)), _data(rng, (k,))
                conv = Conv2d(w, b, x.shape, 2, 3, pool=pool, portable=isa == "portable")
                assert conv.info["kernel"] == "channel" and conv.output_shape[3] == q
                ref = reference_conv2d(x, w, b, 2, 3)
                _assert_close(conv.run(x), ref)
                _assert_close(conv.run_fused(x, activation="relu"), np.maximum(ref, 0))


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
def test_channel_kernel_three_vector_blocks(isa, monkeypatch):
    """AVX2 runs 3x3 layers with output rows under 10 pixels in blocks of 3 vectors (24
    channels), stride 1 and 2, AVX-512 its stride-1 ones (the last 4 vectors as 2 + 2):
    channel counts of 1 to 8 vectors leave a 1- or 2-vector remainder or none, in blocks cut
    across output rows and channels by a small tile."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(3)
    with Pool(2, tile_bytes=32 * 1024) as pool:
        for k in (8, 16, 24, 32, 40, 56, 64):
            for stride in (1, 2):
                for q in (1, 4, 7, 9, 10):
                    x = _data(rng, (2, 24, 6, (q - 1) * stride + 1))
                    w, b = _data(rng, (k, 24, 3, 3)), _data(rng, (k,))
                    conv = Conv2d(w, b, x.shape, stride, 1, pool=pool, portable=isa == "portable")
                    assert conv.info["kernel"] == "channel" and conv.output_shape[3] == q
                    _assert_close(conv.run(x), reference_conv2d(x, w, b, stride, 1))


@pytest.mark.parametrize("isa", ["native", "avx2", "portable"])
def test_channel_kernel_3x3_short_rows_in_input_channel_chunks(isa, monkeypatch):
    """AVX2's 3x3 stride-1 blocks on rows under 10 pixels sum their input channels in chunks
    whose weights fit L2 (151 channels a chunk for 3 vectors, 227 for 2), the partial sums
    waiting in the tile: 320 input channels make three and two chunks, 40 output channels a
    3-vector and a 2-vector group, with the fused ReLU applied once after the last chunk."""
    if isa == "avx2":
        monkeypatch.setenv("IPX_FORCE_AVX2", "1")
    rng = np.random.default_rng(7)
    with Pool(2) as pool:
        for q in (7, 5):
            x = _data(rng, (2, 320, q, q))
            w, b = _data(rng, (40, 320, 3, 3)), _data(rng, (40,))
            conv = Conv2d(w, b, x.shape, 1, 1, pool=pool, portable=isa == "portable")
            assert conv.info["kernel"] == "channel"
            ref = reference_conv2d(x, w, b, 1, 1)
            _assert_close(conv.run(x), ref)
            y = np.empty_like(ref, dtype=np.float32)
            conv.run_fused(x, y, activation="relu", pool=pool)
            _assert_close(y, np.maximum(ref, 0))


@pytest.mark.parametrize("q", [1, 3, 7, 8, 9, 14, 16, 17])
def test_depthwise_3x3_row_edges(q):
    # The depthwise 3x3 kernel writes whole vectors and relies on row order to overwrite
    # spills; blocks of a few rows (tiny tiles, several workers) must still be exact.
    rng = np.random.default_rng(q)
    x, w, b = _data(rng, (2, 6, 11, q)), _data(rng, (12, 1, 3, 3)), _data(rng, (12,))
    ref = reference_conv2d(x, w, b, 1, 1, 1, 6)
    for workers, tile in ((1, None), (3, 4096), (2, 8192)):
        with Pool(workers, **({} if tile is None else {"tile_bytes": tile})) as pool:
            y = np.full((2, 12, 11, q), np.nan, np.float32)
            ipuexplore.conv2d(x, w, b, 1, 1, 1, 6, pool=pool, out=y)
            _assert_close(y, ref)


def test_depthwise_large_output_streams_correctly():
    # Outputs of 16 MB and more are written with streaming (non-temporal) stores.
    rng = np.random.default_rng(4)
    x, w = _data(rng, (8, 128, 64, 64)), _data(rng, (128, 1, 3, 3))
    y = ipuexplore.conv2d(x, w, padding=1, groups=128, workers=2)
    assert y.nbytes >= 16 << 20
    _assert_close(y, reference_conv2d(x, w, None, 1, 1, 1, 128))


@pytest.mark.parametrize("tile_kib", [24, 32, 624])
def test_row_exchange_padding_survives_a_dirty_tile(tile_kib):
    """The row kernel zeroes its tile's padding columns once per run (the first block of each
    worker) and then copies only data: a tile full of another layer's numbers, blocks of
    different sizes (a partial last group block, short last row blocks), forward and both
    backward passes must still see zero padding."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 20, 13, 11), dtype=np.float32)
    with Pool(2, tile_bytes=tile_kib * 1024) as pool:
        for g in (20, 5):  # depthwise 3x3 (its own kernel) and 4 channels per group
            w = rng.standard_normal((20, 20 // g, 3, 3), dtype=np.float32)
            dirty_w = rng.standard_normal((20, 20, 3, 3), dtype=np.float32) + 100.0
            ipuexplore.conv2d(x + 100.0, dirty_w, padding=1, pool=pool)  # fills the tiles
            y = ipuexplore.conv2d(x, w, padding=1, groups=g, pool=pool)
            _assert_close(y, reference_conv2d(x, w, None, 1, 1, 1, g))
            dy = rng.standard_normal(y.shape, dtype=np.float32)
            ipuexplore.conv2d(x + 100.0, dirty_w, padding=1, pool=pool)
            gi, gw, _ = ipuexplore.conv2d_backward(dy, x, w, 1, 1, 1, g, pool=pool)
            ri, rw, _ = reference_conv2d_backward(dy, x, w, 1, 1, 1, g)
            _assert_close(gi, ri)
            _assert_close(gw, rw)
