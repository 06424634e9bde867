"""Arrays other than numpy's (DLPack, the buffer protocol) go to C without a copy; anything
else, or a wrong dtype or layout, is one clear error."""

import numpy as np
import pytest

import ipuexplore
from ipuexplore import errors
from ipuexplore.engine import Conv2d, reference_conv2d
from ipuexplore.engine.arguments import as_array

rng = np.random.default_rng(4)
X = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
W = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
REF = reference_conv2d(X, W, None, 1, 1, 1, 4)


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def test_buffer_protocol_objects_are_used_in_place():
    view = memoryview(X)  # not an ndarray: a 4-D buffer
    assert _address(as_array(view, "input", (4,))) == _address(X)
    out = np.empty_like(REF, dtype=np.float32)
    y = Conv2d(memoryview(W), None, X.shape, padding=1, groups=4).run(view, memoryview(out))
    assert _address(y) == _address(out)  # written into the caller's memory
    np.testing.assert_allclose(out, REF, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="out is read-only"):
        ipuexplore.conv2d(X, W, padding=1, groups=4, out=memoryview(out).toreadonly())
    with pytest.raises(TypeError, match="input must have dtype float32, got uint8"):
        ipuexplore.conv2d(bytearray(X.nbytes), W, padding=1, groups=4)


def test_other_objects_are_refused_by_name():
    with pytest.raises(TypeError, match="weight must be a numpy.ndarray or an array exposing DLPack.*got dict"):
        ipuexplore.conv2d(X, {}, padding=1, groups=4)


def test_torch_tensors_in_and_out_without_copies():
    torch = pytest.importorskip("torch")
    x, w = torch.from_numpy(X.copy()), torch.from_numpy(W.copy())
    assert _address(as_array(x, "input", (4,))) == x.data_ptr()
    out = torch.empty(REF.shape)
    y = ipuexplore.conv2d(x, w, None, 1, 1, 1, 4, out=out)
    assert _address(y) == out.data_ptr()
    torch.testing.assert_close(out, torch.nn.functional.conv2d(x, w, None, 1, 1, 1, 4), rtol=1e-4, atol=1e-4)
    dy = torch.from_numpy(rng.standard_normal(REF.shape).astype(np.float32))
    gi, gw, gb = ipuexplore.conv2d_backward(dy, x, w, 1, 1, 1, 4)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    torch.nn.functional.conv2d(xr, wr, None, 1, 1, 1, 4).backward(dy)
    np.testing.assert_allclose(gi, xr.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gw, wr.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_torch_tensors_of_the_wrong_kind_get_clear_errors():
    torch = pytest.importorskip("torch")
    x, w = torch.from_numpy(X.copy()), torch.from_numpy(W.copy())
    with pytest.raises(errors.InvalidType, match="input must have dtype float32, got float64"):
        ipuexplore.conv2d(x.double(), w, padding=1, groups=4)
    with pytest.raises(errors.InvalidParameter, match="input must be C-contiguous"):
        ipuexplore.conv2d(x.transpose(2, 3), w, padding=1, groups=4)
    with pytest.raises(errors.InvalidParameter, match="input must be C-contiguous"):
        ipuexplore.conv2d(x.to(memory_format=torch.channels_last), w, padding=1, groups=4)
    with pytest.raises(errors.InvalidType, match="weight: cannot share this Tensor's memory.*detach"):
        ipuexplore.conv2d(x, w.clone().requires_grad_(), padding=1, groups=4)
