"""Every bad input is refused with an exception that names the parameter; C statuses map to
the right exception classes."""

import numpy as np
import pytest

import ipuexplore
from ipuexplore import errors
from ipuexplore._ipx_cffi import ffi, lib
from ipuexplore.engine import Conv2d, Pool, reference_conv2d

X = np.zeros((1, 4, 6, 6), dtype=np.float32)
W = np.zeros((4, 2, 3, 3), dtype=np.float32)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(input=X.astype(np.float64)), TypeError, ["input", "float64"]),
        (dict(weight=W.astype(np.int32)), TypeError, ["weight", "int32"]),
        (dict(input=X.tolist()), TypeError, ["input", "numpy"]),
        (dict(input=np.zeros((1, 4, 6, 12), np.float32)[..., ::2]), ValueError, ["input", "contiguous"]),
        (dict(weight=np.asfortranarray(np.zeros((4, 2, 3, 3), np.float32))), ValueError, ["weight", "contiguous"]),
        (dict(input=np.zeros((4, 6), np.float32)), ValueError, ["input", "dimensions"]),
        (dict(input=np.zeros((0, 4, 6, 6), np.float32)), ValueError, ["input", "zero"]),
        (dict(weight=np.zeros((4, 2, 0, 3), np.float32)), ValueError, ["weight", "zero"]),
        (dict(groups=3), ValueError, ["groups=3", "c=4"]),
        (dict(groups=0), ValueError, ["groups=0"]),
        (dict(groups=-2), ValueError, ["groups=-2"]),
        (dict(groups=2.0), TypeError, ["groups"]),
        (dict(groups=4), ValueError, ["weight.shape[1]=2"]),
        (dict(weight=np.zeros((4, 4, 3, 3), np.float32), groups=2), ValueError, ["weight.shape[1]=4"]),
        (dict(weight=np.zeros((6, 2, 3, 3), np.float32), groups=2, input=np.zeros((1, 4, 6, 6), np.float32)), None, []),
        (dict(weight=np.zeros((3, 2, 3, 3), np.float32), groups=2), ValueError, ["groups=2", "k=3"]),
        (dict(stride=0), ValueError, ["stride=0"]),
        (dict(stride=(1, -1)), ValueError, ["stride=-1"]),
        (dict(stride=(1, 2, 3)), ValueError, ["stride"]),
        (dict(dilation=0), ValueError, ["dilation=0"]),
        (dict(padding=-1), ValueError, ["padding=-1"]),
        (dict(padding="full"), ValueError, ["padding", "full"]),
        (dict(padding="same", stride=2), ValueError, ["same", "stride"]),
        (dict(weight=np.zeros((4, 2, 9, 3), np.float32)), ValueError, ["empty output"]),
        (dict(dilation=4), ValueError, ["empty output"]),
        (dict(bias=np.zeros(3, np.float32)), ValueError, ["bias", "k=4"]),
        (dict(bias=np.zeros(4, np.float64)), TypeError, ["bias", "float64"]),
        (dict(algorithm="fft"), ValueError, ["algorithm", "fft"]),
        (dict(workers=0), ValueError, ["workers=0"]),
        (dict(workers=True), TypeError, ["workers"]),
    ],
)
def test_bad_arguments(kwargs, exc, words):
    args = dict(input=X, weight=W, groups=2)
    args.update(kwargs)
    if exc is None:
        assert ipuexplore.conv2d(**args).shape == (1, 6, 4, 4)
        return
    with pytest.raises(exc) as info:
        ipuexplore.conv2d(**args)
    assert isinstance(info.value, errors.IpxError)
    for word in words:
        assert word in str(info.value)


def test_bad_out_buffers():
    good = np.empty((1, 4, 4, 4), np.float32)
    ro = good.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        ipuexplore.conv2d(X, W, groups=2, out=ro)
    with pytest.raises(ValueError, match=r"out has shape \(1, 4, 5, 4\)"):
        ipuexplore.conv2d(X, W, groups=2, out=np.empty((1, 4, 5, 4), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        ipuexplore.conv2d(X, W, groups=2, out=np.empty((1, 4, 4, 4), np.float64))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        ipuexplore.conv2d(X, W, groups=2, out=np.empty((1, 4, 4, 8), np.float32)[..., ::2])
    x = np.zeros((1, 4, 4, 4), np.float32)
    w1 = np.zeros((4, 2, 1, 1), np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        ipuexplore.conv2d(x, w1, groups=2, out=x)


def test_conv2d_object_checks_its_input():
    conv = Conv2d(W, None, X.shape, groups=2)
    with pytest.raises(ValueError, match=r"input has shape \(2, 4, 6, 6\)"):
        conv.run(np.zeros((2, 4, 6, 6), np.float32))
    with pytest.raises(ValueError, match="input_shape"):
        Conv2d(W, None, None, groups=2)
    with pytest.raises(TypeError, match="pool"):
        Conv2d(W, None, X.shape, groups=2, pool="mine")
    conv.close()
    with pytest.raises(errors.Closed):
        conv.run(X)


def test_overflowing_sizes_are_refused_before_c():
    with pytest.raises(ValueError, match="input_shape\\[0\\]"):
        Conv2d(W, None, (2**31, 4, 6, 6), groups=2)
    with pytest.raises(ValueError, match="overflows"):
        Conv2d(W, None, (2**30, 4, 2**30, 2**30), groups=2)


def test_c_validates_again():
    # Bypass the Python checks: C answers with a status naming the parameter.
    desc = ffi.new("ipx_conv_desc*", dict(n=1, c=4, h=6, w=6, k=4, r=3, s=3, g=3, stride_h=1,
                                          stride_w=1, dilation_h=1, dilation_w=1))
    out = ffi.new("ipx_conv_t*")
    wbuf = ffi.new("float[]", 4 * 2 * 9)
    status = lib.ipx_conv_create(desc, wbuf, 72, ffi.NULL, 0, out)
    assert status == lib.IPX_STATUS_INVALID_GROUPS and out[0] == ffi.NULL
    with pytest.raises(errors.InvalidParameter, match="g \\(groups\\)"):
        errors.check(ffi, lib, status)
    desc.g, desc.stride_w = 2, 0
    assert lib.ipx_conv_create(desc, wbuf, 72, ffi.NULL, 0, out) == lib.IPX_STATUS_INVALID_STRIDE
    desc.stride_w, desc.n = 1, 2**40
    p, q = ffi.new("int64_t*"), ffi.new("int64_t*")
    assert lib.ipx_conv_output_size(desc, p, q) == lib.IPX_STATUS_INVALID_BATCH
    desc.n, desc.c, desc.h, desc.w = 2**30, 2**30, 2**30, 2**30
    desc.g = 1
    assert lib.ipx_conv_output_size(desc, p, q) == lib.IPX_STATUS_SIZE_OVERFLOW


@pytest.mark.parametrize(
    "name, cls, builtin",
    [
        ("IPX_STATUS_INVALID_GROUPS", errors.InvalidParameter, ValueError),
        ("IPX_STATUS_SIZE_OVERFLOW", errors.InvalidParameter, ValueError),
        ("IPX_STATUS_TILE_TOO_SMALL", errors.TileTooSmall, ValueError),
        ("IPX_STATUS_OUT_OF_MEMORY", errors.OutOfMemory, MemoryError),
        ("IPX_STATUS_MEMORY_LIMIT", errors.MemoryLimitExceeded, MemoryError),
        ("IPX_STATUS_THREAD_ERROR", errors.ThreadError, RuntimeError),
        ("IPX_STATUS_BUSY", errors.Busy, RuntimeError),
        ("IPX_STATUS_CANCELLED", errors.Cancelled, errors.IpxError),
        ("IPX_STATUS_UNSUPPORTED", errors.Unsupported, NotImplementedError),
    ],
)
def test_status_maps_to_exception(name, cls, builtin):
    with pytest.raises(cls) as info:
        errors.check(ffi, lib, getattr(lib, name), "ctx")
    assert isinstance(info.value, builtin) and info.value.status == name
    assert str(info.value).startswith("ctx: ")


def test_every_status_has_a_message():
    for name, value in ffi.typeof("ipx_status").relements.items():
        text = ffi.string(lib.ipx_status_string(value)).decode()
        assert text and text != "unknown ipx status", name
    assert ffi.string(lib.ipx_status_string(12345)) == b"unknown ipx status"


def test_pool_arguments_and_limits():
    with pytest.raises(ValueError, match="workers=0"):
        Pool(0)
    with pytest.raises(ValueError, match="tile_bytes=100"):
        Pool(1, tile_bytes=100)
    with pytest.raises(MemoryError):
        Pool(2, tile_bytes=1 << 20, memory_limit=1 << 20)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 64, 32, 32)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    with Pool(1, tile_bytes=8192) as tiny:
        with pytest.raises(errors.TileTooSmall, match="tile_bytes"):
            ipuexplore.conv2d(x, w, padding=1, pool=tiny)
    # Without a pool, conv2d picks tiles big enough for the layer (here ~2.8 MB > 624 KiB).
    xw = rng.standard_normal((1, 1024, 3, 200)).astype(np.float32)
    ww = rng.standard_normal((8, 1024, 3, 3)).astype(np.float32)
    assert Conv2d(ww, None, xw.shape, padding=1).info["min_tile_bytes"] > 624 * 1024
    y = ipuexplore.conv2d(xw, ww, padding=1)
    np.testing.assert_allclose(y, reference_conv2d(xw, ww, None, 1, 1), rtol=1e-4, atol=1e-2)
    with pytest.raises(errors.MemoryLimitExceeded):
        Conv2d(w, None, x.shape, padding=1, memory_limit=1000)
