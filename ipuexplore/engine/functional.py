"""``conv2d`` and ``conv2d_backward``: one call, torch.nn.functional's arguments; the
convolutions they prepare are kept for the next call with the same geometry and weights
(``conv_cache``)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter
from .arguments import as_array
from .conv import Conv2d
from .conv_cache import CACHE
from .pool import Pool
from .shared_pool import run_on_a_pool


def _check_workers(pool: Pool | None, workers: int | None) -> None:
    if pool is not None and workers is not None and pool.workers != workers:
        raise InvalidParameter(f"workers={workers} disagrees with pool.workers={pool.workers}; give one")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           workers: int | None = None, pool: Pool | None = None, algorithm: str = "auto",
           out: np.ndarray | None = None) -> np.ndarray:
    """2-D convolution with ``torch.nn.functional.conv2d``'s arguments and semantics.

    ``input`` [n, c, h, w] (or unbatched [c, h, w]) and ``weight`` [k, c/groups, r, s] are
    C-contiguous float32 arrays (numpy, or shared through DLPack or the buffer protocol, e.g.
    torch CPU tensors: never copied); ``bias`` [k] or None. ``stride``, ``dilation``: int or
    pair; ``padding``: int, pair, (top, bottom, left, right), ``"same"`` or ``"valid"``.
    ``workers`` picks a shared default pool of that size; ``pool`` runs on your ``Pool`` (its
    ``last_stats`` then holds the run's statistics). ``out`` receives the result (reuse it to
    avoid fresh allocations). Returns the output, float32 [n, k, p, q].
    """
    arr = as_array(input, "input", (3, 4))
    unbatched = arr.ndim == 3
    if unbatched:
        arr = arr.reshape((1,) + arr.shape)
    w = as_array(weight, "weight", (4,))
    b = None if bias is None else as_array(bias, "bias", (1,))
    _check_workers(pool, workers)
    if out is not None and unbatched:
        out = as_array(out, "out", (3,), writable=True)
        out = out.reshape((1,) + out.shape)
    key = CACHE.key(arr.shape, w.shape, weight, bias, stride, padding, dilation, groups, algorithm, False)
    entry = CACHE.take(key, w, b, lambda: Conv2d(w, b, arr.shape, stride, padding, dilation, groups,
                                                  algorithm=algorithm))
    try:
        y = run_on_a_pool(lambda p: entry.conv.run(arr, out, pool=p), entry.min_tile_bytes, pool, workers)
    finally:
        CACHE.give(entry)
    return y[0] if unbatched else y


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    workers: int | None = None, pool: Pool | None = None,
                    algorithm: str = "auto", out=None):
    """Gradients of ``conv2d`` (torch.nn.grad.conv2d_input / conv2d_weight and the bias sum):
    returns ``(grad_input, grad_weight, grad_bias)``, float32, shapes of input, weight and
    [k]. Arguments as ``conv2d``; ``out`` is an optional (grad_input, grad_weight, grad_bias)
    tuple of buffers (any may be None). Both passes run on the pool; its ``last_stats`` are
    their combined statistics."""
    x = as_array(input, "input", (4,))
    w = as_array(weight, "weight", (4,))
    _check_workers(pool, workers)
    key = CACHE.key(x.shape, w.shape, weight, None, stride, padding, dilation, groups, algorithm, True)
    entry = CACHE.take(key, w, None, lambda: Conv2d(w, None, x.shape, stride, padding, dilation, groups,
                                                     algorithm=algorithm, backward=True))
    try:
        return run_on_a_pool(lambda p: entry.conv.backward(grad_output, x, out, pool=p), entry.min_tile_bytes,
                             pool, workers)
    finally:
        CACHE.give(entry)
