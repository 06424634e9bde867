"""What a layer does to its output before the next layer reads it: add a residual, apply an
activation. A convolution does it in its own write phase (``Conv2d.run_fused``); ``Epilogue``
runs it in place on a buffer, in the engine as one superstep on the pool
(``ipx_epilogue_run``: one pass, vectorised, on every worker) where the compiled engine has
it; ``apply_numpy`` is the same arithmetic in numpy (the reference, and the path for what the
engine does not cover: HardSigmoid, tanh, an engine built without it)."""

from __future__ import annotations

import numpy as np

# Activations an epilogue applies; "hardsigmoid" also takes (alpha, beta) (see onnx_activation).
ACTIVATIONS = ("relu", "relu6", "sigmoid", "silu", "hardswish")
# ipx_activation codes (ipx.h)
_C_CODES = {None: 0, "relu": 1, "relu6": 2, "sigmoid": 3, "silu": 4, "hardswish": 5}


def _engine_epilogue(function: str = "ipx_epilogue_run"):
    """(ffi, lib) when the compiled engine has ``function``, else None."""
    try:
        from .._ipx_cffi import ffi, lib
    except ImportError:
        return None
    return (ffi, lib) if hasattr(lib, function) else None


def onnx_activation(op: str, params: dict):
    """The activation key for a layer's op and its ONNX parameters: a name, or
    ("hardsigmoid", alpha, beta) for ONNX HardSigmoid (y = clip(alpha x + beta, 0, 1))."""
    if params.get("onnx_op") == "HardSigmoid":
        return ("hardsigmoid", float(params.get("alpha", 0.2)), float(params.get("beta", 0.5)))
    return "silu" if op == "swish" else op


def apply_numpy(out: np.ndarray, residual: np.ndarray | None, act, scratch: np.ndarray | None = None) -> np.ndarray:
    """out = act(out + residual), in place (``scratch``: a buffer of out's shape, else one is made)."""
    if residual is not None:
        np.add(out, residual, out=out)
    if act is None or act == "identity":
        return out
    if isinstance(act, tuple):  # ("hardsigmoid", alpha, beta)
        _, alpha, beta = act
        out *= np.float32(alpha)
        out += np.float32(beta)
        return np.clip(out, 0, 1, out=out)
    if act == "relu":
        return np.maximum(out, 0, out=out)
    if act == "relu6":
        return np.clip(out, 0, 6, out=out)
    if act == "tanh":
        return np.tanh(out, out=out)
    if act == "sigmoid":
        return _sigmoid(out, out)
    t = np.empty_like(out) if scratch is None else scratch
    if act == "silu":
        _sigmoid(out, t)
    elif act == "hardswish":
        np.add(out, np.float32(3), out=t)
        np.clip(t, 0, 6, out=t)
        t *= np.float32(1 / 6)
    else:
        raise ValueError(f"activation must be one of {ACTIVATIONS} or 'tanh', got {act!r}")
    out *= t
    return out


def _sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.negative(x, out=out)
    with np.errstate(over="ignore"):  # exp(large) = inf gives the limit 0, as it should
        np.exp(out, out=out)
    out += np.float32(1)
    return np.reciprocal(out, out=out)


class Epilogue:
    """``Epilogue(act, pool)(out, residual=None, scale=None, sums=None)``: in place on ``out``
    [n, c, h, w], out = act(out * scale + residual) with ``scale`` [n, c] a channel scale
    (squeeze-excite's), then ``sums`` [n, c] = each channel's sum (squeeze-excite's global
    pool). ``engine=False`` keeps it in numpy."""

    def __init__(self, act, pool, *, engine: bool = True):
        self.act = act
        self._scratch: np.ndarray | None = None
        c = _engine_epilogue() if engine and pool is not None and hasattr(pool, "execute") else None
        self._c = c if c is not None and (act is None or (isinstance(act, str) and act in _C_CODES)) else None
        self._pool = pool

    @property
    def in_engine(self) -> bool:
        return self._c is not None

    def describe(self, residual: bool) -> str:
        act = self.act if not isinstance(self.act, tuple) else self.act[0]
        return " + ".join(["residual"] * residual + [act] * (act is not None)) or "none"

    def __call__(self, out: np.ndarray, residual: np.ndarray | None = None, scale: np.ndarray | None = None,
                 sums: np.ndarray | None = None) -> None:
        if self.act is None and residual is None and scale is None and sums is None:
            return
        if self._c is not None:
            return self._run_c(out, residual, scale, sums)
        if scale is not None:
            out *= scale[:, :, None, None]
        if self.act in ("silu", "hardswish") and (self._scratch is None or self._scratch.shape != out.shape):
            self._scratch = np.empty_like(out)
        apply_numpy(out, residual, self.act, self._scratch)
        if sums is not None:
            np.sum(out, axis=(2, 3), dtype=np.float32, out=sums)

    def _run_c(self, out, residual, scale, sums) -> None:
        from .. import errors

        ffi, lib = self._c
        n, c = out.shape[:2]
        for name, array, shape in (("residual", residual, out.shape), ("scale", scale, (n, c)), ("sums", sums, (n, c))):
            if array is not None and (array.shape != shape or not array.flags.c_contiguous or array.dtype != np.float32):
                raise errors.InvalidParameter(f"{name} must be a C-contiguous float32 array of shape {shape}")
        desc = ffi.new("ipx_epilogue_desc*", {"planes": n * c, "plane_len": out.size // (n * c),
                                              "activation": _C_CODES[self.act], "flags": 0})
        data = ffi.from_buffer("float[]", out, require_writable=True)
        res = ffi.NULL if residual is None else ffi.from_buffer("float[]", residual)
        sc = ffi.NULL if scale is None else ffi.from_buffer("float[]", scale)
        sm = ffi.NULL if sums is None else ffi.from_buffer("float[]", sums, require_writable=True)
        size, res_size = out.size, 0 if residual is None else residual.size
        status, _ = self._pool.execute(
            "epilogue", lambda pool: lib.ipx_epilogue_run(pool, desc, data, size, res, res_size, sc, sm), record=False)
        errors.check(ffi, lib, status, "epilogue")
