"""Hostile use of the Python engine API: random and absurd arguments (hypothesis), huge sizes,
the memory limit, NaN/Inf, and concurrent use from many threads."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ipuexplore
from ipuexplore import engine, errors
from ipuexplore.engine import Conv2d, Pool, reference_conv2d

# IPX_HARDENING_THOROUGH=1: 20x the hypothesis examples (the default run stays a few seconds).
SCALE = 20 if os.environ.get("IPX_HARDENING_THOROUGH") == "1" else 1

# ---------------------------------------------------------------------------------------
# hypothesis over conv2d's arguments: it returns the reference result or raises IpxError


def _wild_int():
    return st.one_of(
        st.integers(-3, 6),
        st.sampled_from([0, -1, 2**30, 2**30 + 1, 2**31, 2**40, 2**62, 2**63, 2**64, -(2**63)]),
    )


def _arg():
    """Something a user might pass as stride/padding/dilation/groups, sane or not."""
    scalar = st.one_of(_wild_int(), st.floats(allow_nan=True), st.none(), st.booleans(),
                       st.sampled_from(["same", "valid", "full", ""]),
                       st.integers(0, 4).map(np.int64))
    return st.one_of(scalar, st.lists(_wild_int(), min_size=0, max_size=5).map(tuple),
                     st.lists(_wild_int(), min_size=2, max_size=2))


@st.composite
def _array(draw, ndim_choices=(3, 4, 4, 4, 5)):
    ndim = draw(st.sampled_from(ndim_choices))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from([np.float32] * 6 + [np.float64, np.int32, np.float16]))
    arr = np.asarray(np.random.default_rng(len(shape)).standard_normal(shape)).astype(dtype)
    kind = draw(st.sampled_from(["plain"] * 5 + ["fortran", "strided", "readonly", "list"]))
    if kind == "fortran":
        arr = np.asfortranarray(arr)
    elif kind == "strided" and arr.ndim and arr.shape[-1] > 1:
        arr = arr[..., ::2]
    elif kind == "readonly":
        arr.flags.writeable = False
    elif kind == "list":
        return arr.tolist()
    return arr


@st.composite
def _conv_args(draw):
    """Valid conv2d arguments, then (often) one of them replaced by something hostile."""
    g = draw(st.integers(1, 4))
    n, cg, kg = draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    r, s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    args = dict(
        input=rng.standard_normal((n, g * cg, h, w)).astype(np.float32),
        weight=rng.standard_normal((g * kg, cg, r, s)).astype(np.float32),
        bias=draw(st.sampled_from([None, rng.standard_normal(g * kg).astype(np.float32)])),
        stride=draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))),
        padding=draw(st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"]),
                               st.tuples(*[st.integers(0, 3)] * 4))),
        dilation=draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 2), st.integers(1, 3)))),
        groups=g,
        workers=draw(st.sampled_from([None, 1, 2, 3])),
    )
    if draw(st.integers(0, 9)) < 4:
        key = draw(st.sampled_from(sorted(args)))
        args[key] = draw(_array() if key in ("input", "weight", "bias") else _arg())
    return args


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=_conv_args())
def test_conv2d_random_arguments_never_crash(args):
    try:
        y = ipuexplore.conv2d(**args)
    except errors.IpxError as exc:
        assert isinstance(exc, (ValueError, TypeError, MemoryError)), type(exc)
        assert str(exc) and "\n" not in str(exc)
        return
    # It ran: the arguments were valid, so the numpy reference accepts them and agrees.
    x = args["input"] if args["input"].ndim == 4 else args["input"][None]
    want = reference_conv2d(x, args["weight"], args["bias"], args["stride"], args["padding"],
                            args["dilation"], args["groups"])
    got = y if y.ndim == 4 else y[None]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@settings(max_examples=150 * SCALE, deadline=None)
@given(shape=st.lists(st.integers(-2, 9), min_size=0, max_size=6).map(tuple),
       out_shape=st.one_of(st.none(), st.lists(st.integers(0, 9), min_size=1, max_size=5).map(tuple)))
def test_conv2d_handle_rejects_wrong_buffers(shape, out_shape):
    w = np.ones((4, 2, 3, 3), np.float32)
    with Pool(1) as pool, Conv2d(w, None, (1, 4, 6, 6), padding=1, groups=2, pool=pool) as conv:
        try:
            x = np.ones(shape, np.float32)
        except ValueError:
            return  # numpy itself refuses negative sizes
        out = None if out_shape is None else np.zeros(out_shape, np.float32)
        try:
            y = conv.run(x, out)
        except errors.InvalidParameter as exc:
            assert "input" in str(exc) or "out" in str(exc)
            return
        assert shape == (1, 4, 6, 6) and y.shape == (1, 4, 6, 6)


# ---------------------------------------------------------------------------------------
# huge and overflowing parameters: refused with the parameter's name, from Python and C

X1 = np.ones((1, 1, 4, 4), np.float32)
W1 = np.ones((1, 1, 1, 1), np.float32)


@pytest.mark.parametrize("kwargs, words", [
    (dict(stride=2**62), ["stride", str(2**62)]),
    (dict(stride=(1, 2**62)), ["stride"]),
    (dict(padding=2**40), ["padding", str(2**40)]),
    (dict(padding=(0, 0, 0, 2**40)), ["padding"]),
    (dict(dilation=2**62), ["dilation"]),
    (dict(groups=2**31), ["groups", str(2**31)]),
    (dict(padding=-(2**63)), ["padding"]),
])
def test_huge_parameters_refused(kwargs, words):
    with pytest.raises(errors.InvalidParameter) as info:
        ipuexplore.conv2d(X1, W1, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_huge_shapes_refused_without_allocating():
    # 2^31 channels: refused by shape, before any array of that size exists.
    with pytest.raises(errors.InvalidParameter, match=r"input_shape\[1\]=2147483648"):
        engine.conv_output_size((1, 2**31, 4, 4), (1, 2**31, 1, 1))
    with pytest.raises(errors.InvalidParameter, match=r"input_shape\[2\]=2147483648"):
        Conv2d(W1, None, (1, 1, 2**31, 1))
    # Products that overflow 64-bit byte counts.
    with pytest.raises(errors.InvalidParameter, match="overflow"):
        engine.conv_output_size((2**30, 2**30, 2**30, 2**30), (1, 2**30, 1, 1))


def test_c_refuses_huge_parameters_directly():
    # The C checks are a backstop of their own, not only behind Python's.
    from ipuexplore._ipx_cffi import ffi, lib

    cases = [("c", 2**31, "IPX_STATUS_INVALID_CHANNELS"), ("pad_top", 2**40, "IPX_STATUS_INVALID_PADDING"),
             ("stride_w", 2**62, "IPX_STATUS_INVALID_STRIDE"), ("h", -(2**63), "IPX_STATUS_INVALID_INPUT_SIZE")]
    for field, value, want in cases:
        d = ffi.new("ipx_conv_desc*", dict(n=1, c=1, h=4, w=4, k=1, r=1, s=1, g=1, stride_h=1, stride_w=1,
                                           dilation_h=1, dilation_w=1))
        setattr(d, field, value)
        p, q = ffi.new("int64_t*"), ffi.new("int64_t*")
        assert lib.ipx_conv_output_size(d, p, q) == getattr(lib, want)
        conv = ffi.new("ipx_conv_t*")
        wt = ffi.new("float[]", 1)
        assert lib.ipx_conv_create(d, wt, 1, ffi.NULL, 0, conv) == getattr(lib, want)
        assert conv[0] == ffi.NULL
        message = ffi.string(lib.ipx_status_string(getattr(lib, want))).decode()
        assert {"c": "channels", "pad_top": "padding", "stride_w": "stride", "h": "input size"}[field] in message


# ---------------------------------------------------------------------------------------
# memory limit


@pytest.fixture
def memory_limit():
    yield engine.set_memory_limit
    engine.set_memory_limit(None)


def test_default_limit_is_the_available_memory():
    limit = engine.get_memory_limit()
    assert limit is None or 0 < limit < 1 << 50


def test_output_over_the_available_memory_is_refused():
    # 16 TiB of output from a 1x1 input with padding 2^20: refused by the default limit,
    # not a numpy MemoryError (or an overcommitted array that the OOM killer meets later).
    with pytest.raises(errors.MemoryLimitExceeded, match=r"needs 17592202821636 bytes"):
        ipuexplore.conv2d(np.ones((1, 1, 1, 1), np.float32), W1, padding=2**20)


def test_request_over_a_set_limit_is_refused_before_allocating(memory_limit):
    memory_limit(64 << 20)
    x = np.ones((1, 1, 4097, 4097), np.float32)  # 64 MiB in; the output is 64 MiB + 32 KiB
    tracemalloc.start()
    try:
        with pytest.raises(errors.MemoryLimitExceeded) as info:
            ipuexplore.conv2d(x, W1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes were allocated before the refusal"
    assert isinstance(info.value, MemoryError) and "set_memory_limit" in str(info.value)
    memory_limit(None)
    assert ipuexplore.conv2d(x[:, :, :64, :64].copy(), W1).shape == (1, 1, 64, 64)


def test_pool_and_conv_limits(memory_limit):
    with pytest.raises(errors.MemoryLimitExceeded, match="memory_limit=1048576"):
        Pool(4, tile_bytes=1 << 20, memory_limit=1 << 20)
    memory_limit(1 << 20)  # the global limit applies to pools created without their own
    with pytest.raises(errors.MemoryLimitExceeded):
        Pool(2, tile_bytes=1 << 20)
    memory_limit(None)
    w = np.ones((256, 256, 3, 3), np.float32)  # 2.25 MiB of packed weights
    with pytest.raises(errors.MemoryLimitExceeded):
        Conv2d(w, None, (1, 256, 8, 8), memory_limit=1 << 20)
    for bad in (2**64, -1, 1.5, "1G"):
        with pytest.raises(errors.InvalidParameter):
            engine.set_memory_limit(bad)
        with pytest.raises(errors.InvalidParameter):
            Pool(1, memory_limit=bad)


# ---------------------------------------------------------------------------------------
# NaN and Inf propagate as IEEE says (torch semantics: padding is real zeros)


@pytest.mark.parametrize("c, k, g", [(8, 8, 8), (6, 12, 2), (16, 24, 1)])  # row, row, channel kernels
@pytest.mark.parametrize("portable", [False, True])
def test_nan_inf_propagate(c, k, g, portable):
    rng = np.random.default_rng(c + k)
    x = rng.standard_normal((2, c, 9, 11)).astype(np.float32)
    w = rng.standard_normal((k, c // g, 3, 3)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    x[0, 0, 4, 5] = np.nan
    x[1, c - 1, 2, 2] = np.inf
    x[1, c - 1, 2, 3] = -np.inf
    w[0, 0, 0, 0] = np.inf  # over zero padding: 0 * inf = nan along the border
    b[k // 2] = np.nan
    with Pool(2) as pool, Conv2d(w, b, x.shape, padding=1, groups=g, pool=pool, portable=portable) as conv:
        y = conv.run(x)
    with np.errstate(invalid="ignore", over="ignore"):
        want = reference_conv2d(x, w, b, 1, 1, 1, g)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(y), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(y), np.isneginf(want))
    finite = np.isfinite(want)
    assert finite.any() and np.isnan(want).any()
    np.testing.assert_allclose(y[finite], want[finite], rtol=1e-4, atol=1e-4)


def test_nan_inf_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((1, 4, 7, 7)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((4, 1, 3, 3)).astype(np.float32)
    x[0, 1, 3, 3] = np.nan
    x[0, 2, 0, 0] = np.inf
    w[3, 0, 1, 1] = -np.inf
    y = ipuexplore.conv2d(x, w, padding=1, groups=4)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1, groups=4).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(t))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(t))


# ---------------------------------------------------------------------------------------
# concurrency

RNG = np.random.default_rng(7)
XS = RNG.standard_normal((1, 16, 12, 12)).astype(np.float32)
WS = RNG.standard_normal((16, 8, 3, 3)).astype(np.float32)
REF = reference_conv2d(XS, WS, None, 1, 1, 1, 2)


def _threads(n, body):
    failures = []

    def wrapped(i):
        try:
            body(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return failures


def test_many_threads_conv2d_default_pool():
    # Regression: the default pool could be taken by another thread between conv2d's
    # "is it free?" check and its run, and conv2d raised Busy although no pool was given.
    # Tiny layers: the shared pool changes hands often, which is what opens the window.
    x, w = XS[:, :4, :5, :5].copy(), WS[:4, :2].copy()
    ref = reference_conv2d(x, w, None, 1, 1, 1, 2)

    def body(i):
        for _ in range(600):
            y = ipuexplore.conv2d(x, w, padding=1, groups=2, workers=2)
            np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)

    assert _threads(8, body) == []


def test_many_threads_separate_pools():
    def body(i):
        with Pool(1 + i % 3) as pool:
            for _ in range(30):
                y = ipuexplore.conv2d(XS, WS, padding=1, groups=2, pool=pool)
                np.testing.assert_allclose(y, REF, rtol=1e-4, atol=1e-4)
                assert pool.last_stats.total_flops == 2 * REF.size * 8 * 9

    assert _threads(6, body) == []


def test_many_threads_one_shared_pool():
    # One Pool serves one call at a time: the others get Busy (a clear refusal), never a
    # wrong result. Retrying until done, every thread finishes with correct outputs.
    busy = []

    def body(i):
        done = 0
        while done < 20:
            try:
                y = ipuexplore.conv2d(XS, WS, padding=1, groups=2, pool=shared)
            except errors.Busy as exc:
                assert "in use" in str(exc)
                busy.append(1)
                time.sleep(0)
                continue
            np.testing.assert_allclose(y, REF, rtol=1e-4, atol=1e-4)
            done += 1

    with Pool(2) as shared:
        assert _threads(6, body) == []


def test_one_conv_from_two_threads_is_refused():
    with Pool(1) as pool:
        x = np.ones((8, 64, 32, 32), np.float32)
        conv = Conv2d(np.ones((64, 64, 3, 3), np.float32), None, x.shape, padding=1, pool=pool)
        want = conv.run(x)
        refusals, errors_seen = [], []
        stop = threading.Event()

        def runner():
            while not stop.is_set():
                try:
                    y = conv.run(x)
                except (errors.Cancelled, errors.Busy):
                    continue  # Busy: the main thread holds the conv for a moment
                except BaseException as exc:  # noqa: BLE001
                    errors_seen.append(exc)
                    return
                if not np.array_equal(y, want):
                    errors_seen.append(AssertionError("a run shared with another thread was wrong"))

        t = threading.Thread(target=runner)
        t.start()
        try:
            deadline = time.monotonic() + 10
            while not refusals and time.monotonic() < deadline:
                try:
                    conv.run(x)  # the handle is checked before the pool: it names the conv
                except errors.Busy as exc:
                    refusals.append(str(exc))
                # Let the runner take the conv: without this pause the thread that just released
                # it holds the GIL and re-takes it first every time, and is never refused.
                time.sleep(0.005)
        finally:
            stop.set()
            pool.cancel()
            t.join(30)
        assert not errors_seen, errors_seen
        assert refusals and "this convolution is in use" in refusals[0]
        conv.close()


def test_cancel_long_run_returns_promptly():
    w = np.ones((256, 256, 5, 5), np.float32)
    with Pool(2) as pool:
        # Size the batch from a timed warm-up so the run takes ~3 s on this machine.
        probe = np.ones((2, 256, 32, 32), np.float32)
        start = time.monotonic()
        Conv2d(w, None, probe.shape, padding=2, pool=pool).run(probe)
        n = int(min(256, max(8, 2 * 3.0 / max(time.monotonic() - start, 1e-3))))
        x = np.ones((n, 256, 32, 32), np.float32)
        conv = Conv2d(w, None, x.shape, padding=2, pool=pool)
        result = {}

        def run():
            while True:
                start = time.monotonic()
                try:
                    conv.run(x)
                    result["status"] = "finished"
                except errors.Busy:
                    time.sleep(0.0005)  # the main thread's probe held the pool for a moment
                    continue
                except errors.Cancelled as exc:
                    result["status"] = "cancelled"
                    result["message"] = str(exc)
                break
            result["end"] = time.monotonic()
            result["start"] = start

        probe_x = np.ones((1, 8, 4, 4), np.float32)
        probe = Conv2d(np.ones((8, 8, 1, 1), np.float32), None, probe_x.shape, pool=pool)
        t = threading.Thread(target=run)
        t.start()
        # Wait until the long run holds the pool (a tiny probe run is refused), rather than
        # sleeping and hoping: on a loaded machine the thread may not have started yet, and a
        # close() before it starts would succeed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                probe.run(probe_x)
            except errors.Busy:
                break
            time.sleep(0.001)
        with pytest.raises(errors.Busy, match="running"):  # destroying a pool in use is refused
            pool.close()
        with pytest.raises(errors.Busy, match="running"):  # and so is a conv in use
            conv.close()
        asked = time.monotonic()
        pool.cancel()
        t.join(30)
        assert result["status"] == "cancelled", result
        assert result["end"] - asked < 0.5, f"cancel took {result['end'] - asked:.3f} s"
        assert "cancelled" in result["message"]
        stats = pool.last_stats
        assert stats is not None and stats.total_flops < conv.info["flops"]
        # The pool and the conv work again after a cancel.
        small = Conv2d(WS, None, XS.shape, padding=1, groups=2, pool=pool)
        np.testing.assert_allclose(small.run(XS), REF, rtol=1e-4, atol=1e-4)
        conv.close()
    assert pool.closed
