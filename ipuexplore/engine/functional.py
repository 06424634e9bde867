"""``conv2d`` and ``conv2d_backward``: one call, torch.nn.functional's arguments."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter
from .arguments import as_array
from .conv import Conv2d
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
    _check_workers(pool, workers)
    if out is not None and unbatched:
        out = as_array(out, "out", (3,), writable=True)
        out = out.reshape((1,) + out.shape)
    with Conv2d(w, bias, arr.shape, stride, padding, dilation, groups, pool=pool, algorithm=algorithm) as conv:
        y = run_on_a_pool(lambda p: conv.run(arr, out, pool=p), conv.info["min_tile_bytes"], pool, workers)
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
    with Conv2d(w, None, x.shape, stride, padding, dilation, groups, pool=pool, algorithm=algorithm,
                backward=True) as conv:
        return run_on_a_pool(lambda p: conv.backward(grad_output, x, out, pool=p),
                             conv.info["min_tile_bytes"], pool, workers)
