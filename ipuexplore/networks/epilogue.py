"""What a convolution does to its output before the next layer reads it: add a residual,
apply an activation. ``Epilogue`` runs it in place on the output buffer; ``apply_numpy`` is
the same arithmetic in numpy (the reference, and the path for ops that are not fused)."""

from __future__ import annotations

import numpy as np

# Activations an epilogue applies; "hardsigmoid" also takes (alpha, beta) (see onnx_activation).
ACTIVATIONS = ("relu", "relu6", "sigmoid", "silu", "hardswish")


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
    """``Epilogue(act, pool)(out, residual)``: the epilogue of one convolution, in place."""

    def __init__(self, act, pool):
        self.act = act
        self._scratch: np.ndarray | None = None

    def describe(self, residual: bool) -> str:
        act = self.act if not isinstance(self.act, tuple) else self.act[0]
        return " + ".join(["residual"] * residual + [act] * (act is not None)) or "none"

    def __call__(self, out: np.ndarray, residual: np.ndarray | None) -> None:
        if self.act is None and residual is None:
            return
        if self.act in ("silu", "hardswish") and (self._scratch is None or self._scratch.shape != out.shape):
            self._scratch = np.empty_like(out)
        apply_numpy(out, residual, self.act, self._scratch)
