"""Plain numpy convolution and its gradients: what tests and benchmarks compare the engine
with (one batched matmul per kernel tap, accumulated in float64 by default)."""

from __future__ import annotations

import numpy as np

from .geometry import geometry


def reference_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                     dtype=np.float64) -> np.ndarray:
    """Plain numpy convolution (one batched matmul per kernel tap), accumulating in
    ``dtype`` (float64 by default, for tests). Same arguments as ``conv2d``."""
    x = np.asarray(input)
    w = np.asarray(weight)
    geo = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    n, g, p, q = geo.n, geo.g, geo.p, geo.q
    cg, kg = geo.c // g, geo.k // g
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    pt, pb, pl, pr = geo.pad
    xp = np.zeros((n, geo.c, geo.h + pt + pb, geo.w + pl + pr), dtype=dtype)
    xp[:, :, pt:pt + geo.h, pl:pl + geo.w] = x
    xg = xp.reshape(n, g, cg, xp.shape[2], xp.shape[3])
    wg = w.astype(dtype).reshape(g, kg, cg, geo.r, geo.s)
    out = np.zeros((n, g, kg, p * q), dtype=dtype)
    for ri in range(geo.r):
        for si in range(geo.s):
            patch = xg[:, :, :, ri * dh: ri * dh + (p - 1) * sh + 1: sh,
                       si * dw: si * dw + (q - 1) * sw + 1: sw]
            out += np.matmul(wg[None, :, :, :, ri, si], patch.reshape(n, g, cg, p * q))
    out = out.reshape(n, geo.k, p, q)
    if bias is not None:
        out += np.asarray(bias, dtype=dtype)[None, :, None, None]
    return out


def reference_conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1,
                              groups=1, *, dtype=np.float64):
    """Plain numpy gradients of ``reference_conv2d``: (grad_input, grad_weight, grad_bias),
    accumulated in ``dtype``."""
    x = np.asarray(input)
    w = np.asarray(weight)
    dy = np.asarray(grad_output).astype(dtype)
    geo = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    n, g, p, q = geo.n, geo.g, geo.p, geo.q
    cg, kg = geo.c // g, geo.k // g
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    pt, pb, pl, pr = geo.pad
    hp, wp = geo.h + pt + pb, geo.w + pl + pr
    xp = np.zeros((n, geo.c, hp, wp), dtype=dtype)
    xp[:, :, pt:pt + geo.h, pl:pl + geo.w] = x
    xg = xp.reshape(n, g, cg, hp, wp)
    wg = w.astype(dtype).reshape(g, kg, cg, geo.r, geo.s)
    dyg = dy.reshape(n, g, kg, p * q)
    gxp = np.zeros((n, g, cg, hp, wp), dtype=dtype)
    gw = np.zeros((g, kg, cg, geo.r, geo.s), dtype=dtype)
    for ri in range(geo.r):
        for si in range(geo.s):
            rows = slice(ri * dh, ri * dh + (p - 1) * sh + 1, sh)
            cols = slice(si * dw, si * dw + (q - 1) * sw + 1, sw)
            patch = xg[:, :, :, rows, cols].reshape(n, g, cg, p * q)
            gw[:, :, :, ri, si] = np.einsum("ngkp,ngcp->gkc", dyg, patch)
            wt = np.swapaxes(wg[:, :, :, ri, si], 1, 2)  # (g, cg, kg)
            gxp[:, :, :, rows, cols] += np.matmul(wt[None], dyg).reshape(n, g, cg, p, q)
    grad_input = gxp.reshape(n, geo.c, hp, wp)[:, :, pt:pt + geo.h, pl:pl + geo.w]
    return grad_input, gw.reshape(w.shape), dy.sum(axis=(0, 2, 3))
