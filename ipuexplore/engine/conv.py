"""``Conv2d``: a convolution created once (weights packed, kernel chosen) and run many times,
on the pool each call names, as C's ``ipx_conv_run(conv, pool, ...)``."""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import errors
from .._ipx_cffi import ffi, lib
from ..errors import Busy, Closed, InvalidParameter, InvalidType
from . import fused
from .arguments import as_algorithm, as_array, as_int, as_uint64, check_status
from .codes import ALGORITHM_NAMES, ISA_NAMES, KERNEL_NAMES
from .geometry import geometry
from .handle import Handle
from .memory import check_request, limit_for_c
from .pool import Pool
from .shared_pool import shared_pool
from .stats import RunStats, StatsSnapshot, resolve


class Conv2d(Handle):
    """A convolution created once (weights packed, kernel chosen) and run many times.

    ``Conv2d(weight, bias, input_shape, stride=1, padding=0, dilation=1, groups=1, *,
    pool=None, algorithm="auto", portable=False, memory_limit=None, backward=False)``;
    ``run(x, out=None, *, pool=None)`` returns the output; ``stats`` is the ``RunStats`` of
    the last call. With ``backward=True`` (packs a transposed copy of the weights)
    ``backward_data(dy)`` gives the input gradient; ``backward_weights(dy, x)`` gives
    (grad_weight, grad_bias) on any Conv2d; ``backward(dy, x)`` both passes in one call.
    Every call runs on its ``pool=`` argument, else the ``pool`` given at creation, else the
    shared default pool (one worker per CPU).
    """

    _BUSY = "the convolution is running"

    def __init__(self, weight, bias=None, input_shape=None, stride=1, padding=0, dilation=1,
                 groups=1, *, pool: Pool | None = None, algorithm: str = "auto",
                 portable: bool = False, memory_limit: int | None = None,
                 backward: bool = False):
        weight = as_array(weight, "weight", (4,))
        if input_shape is None:
            raise InvalidParameter("input_shape=None: give the (n, c, h, w) the layer will run on")
        geo = geometry(tuple(input_shape), weight.shape, stride, padding, dilation, groups)
        if bias is not None:
            bias = as_array(bias, "bias", (1,))
            if bias.shape[0] != geo.k:
                raise InvalidParameter(f"bias has {bias.shape[0]} elements, expected k={geo.k}")
        self._geo = geo
        self._pool = _pool_arg(pool)
        desc = ffi.new("ipx_conv_desc*")
        desc.n, desc.c, desc.h, desc.w = geo.input_shape
        desc.k, desc.r, desc.s, desc.g = geo.k, geo.r, geo.s, geo.g
        desc.stride_h, desc.stride_w = geo.stride
        desc.dilation_h, desc.dilation_w = geo.dilation
        desc.pad_top, desc.pad_bottom, desc.pad_left, desc.pad_right = geo.pad
        desc.algorithm = as_algorithm(algorithm)
        desc.flags = (lib.IPX_FLAG_PORTABLE if portable else 0) | (lib.IPX_FLAG_BACKWARD if backward else 0)
        self._backward = bool(backward)
        self._memory_limit = None if memory_limit is None else as_uint64(memory_limit, "memory_limit")
        desc.memory_limit = limit_for_c(memory_limit, "memory_limit")
        out = ffi.new("ipx_conv_t*")
        wbuf = ffi.from_buffer("float[]", weight)
        bbuf = ffi.NULL if bias is None else ffi.from_buffer("float[]", bias)
        check_status(lib.ipx_conv_create(desc, wbuf, weight.size, bbuf, 0 if bias is None else bias.size, out),
                     "Conv2d")
        self._handle = out[0]
        self._lock = threading.Lock()
        info = ffi.new("ipx_conv_info*")
        check_status(lib.ipx_conv_get_info(self._handle, info))
        self._info = {
            "kernel": KERNEL_NAMES.get(int(info.kernel), "?"),
            "isa": ISA_NAMES.get(int(info.isa), "?"),
            "algorithm": ALGORITHM_NAMES.get(int(info.algorithm), "?"),
            "flops": int(info.flops),
            "min_bytes": int(info.min_bytes),
            "min_tile_bytes": int(info.min_tile_bytes),
            "allocated_bytes": int(info.allocated_bytes),
        }
        self._min_tile_bytes = self._info["min_tile_bytes"]
        self._stats: RunStats | StatsSnapshot | None = None

    @classmethod
    def from_layer(cls, layer, batch: int = 1, *, weight: np.ndarray | None = None,
                   bias: np.ndarray | None = None, rng: np.random.Generator | int | None = 0,
                   pool: Pool | None = None, algorithm: str = "auto", portable: bool = False,
                   memory_limit: int | None = None, backward: bool = False) -> "Conv2d":
        """The convolution of an ``ipuexplore.layers.Layer`` (kind conv, or linear: a 1x1
        convolution on a 1x1 map) on ``batch`` images, with the layer's 4-sided padding.
        ``weight`` [k, c/g, r, s] defaults to random values drawn from ``rng`` (a seed or a
        numpy Generator) with variance 1/fan-in, which keeps the activations' scale about
        constant through many layers (no overflow, no denormals to distort timings);
        ``bias`` defaults to zeros when the layer has one. Other arguments as ``Conv2d``."""
        kind = getattr(layer, "kind", None)
        if kind not in ("conv", "linear"):  # LayerKind is a str enum
            raise InvalidParameter(f"layer must be a conv or linear Layer, got kind {kind!r}")
        batch = as_int(batch, "batch", 1)
        shape = (layer.k, layer.c // layer.g, layer.r, layer.s)
        if weight is None:
            scale = np.float32(1.0 / np.sqrt(shape[1] * shape[2] * shape[3]))
            weight = np.random.default_rng(rng).standard_normal(shape, dtype=np.float32) * scale
        elif getattr(weight, "shape", None) != shape:
            raise InvalidParameter(f"weight must have the layer's shape {shape}, got {getattr(weight, 'shape', weight)!r}")
        if bias is None and layer.bias:
            bias = np.zeros(layer.k, np.float32)
        return cls(weight, bias, (batch, layer.c, layer.h, layer.w), layer.stride, layer.pad,
                   layer.dilation, layer.g, pool=pool, algorithm=algorithm, portable=portable,
                   memory_limit=memory_limit, backward=backward)

    @property
    def stats(self) -> RunStats | None:
        """RunStats of this handle's last call (None before the first)."""
        return resolve(self._stats)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return self._geo.output_shape

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return self._geo.input_shape

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return self._geo.weight_shape

    @property
    def info(self) -> dict:
        """kernel ("row", "channel", "gemm"), isa ("avx512", "avx2", "portable"), algorithm, flops
        (2 x MACs per run), min_bytes (compulsory traffic), min_tile_bytes, allocated_bytes."""
        return dict(self._info)

    def run(self, x: np.ndarray, out: np.ndarray | None = None, *, pool: Pool | None = None) -> np.ndarray:
        """Forward: ``x`` [n, c, h, w] -> output [n, k, p, q] (into ``out`` if given)."""
        geo = self._geo
        y, call = self._map_call(lib.ipx_conv_run, x, "input", geo.input_shape, out, "out", geo.output_shape)
        self._call("Conv2d.run", pool, call)
        return y

    __call__ = run

    def run_fused(self, x: np.ndarray, out: np.ndarray | None = None, *, residual: np.ndarray | None = None,
                  activation: str | None = None, channel_sums: np.ndarray | None = None,
                  input_scale: np.ndarray | None = None, pool: Pool | None = None) -> np.ndarray:
        """``run`` with an epilogue in the write phase of the superstep that computed each block:
        out = activation(conv(x) + bias + residual) (``activation``: None, "relu", "relu6",
        "sigmoid", "silu", "hardswish"), ``channel_sums`` [n, k] (float32, overwritten) = each
        output channel's sum, and ``input_scale`` [n, c] multiplying each input channel as the
        exchange copies it into tile memory (squeeze-excite's scale; row, channel and Winograd
        kernels, not the GEMM lowering: ``Unsupported``). ``residual`` [n, k, p, q] must not overlap ``out``."""
        geo = self._geo
        keep: list = []
        e = fused.epilogue_struct(keep, activation, residual, geo.output_shape, channel_sums,
                                  geo.output_shape[:2], input_scale, geo.input_shape[:2])
        y, call = self._map_call(lambda h, p, a, na, b, nb: lib.ipx_conv_run_fused(h, p, a, na, b, nb, e),
                                 x, "input", geo.input_shape, out, "out", geo.output_shape)
        if fused.overlaps(y, residual, channel_sums, input_scale):
            raise InvalidParameter("out overlaps residual, channel_sums or input_scale; pass separate buffers")
        self._call("Conv2d.run_fused", pool, call)
        return y

    def run_pair(self, second: "Conv2d", x: np.ndarray, out: np.ndarray | None = None, *,
                 first_activation: str | None = None, residual: np.ndarray | None = None,
                 activation: str | None = None, channel_sums: np.ndarray | None = None,
                 pool: Pool | None = None) -> np.ndarray:
        """This depthwise convolution, its ``first_activation``, then ``second`` (a 1x1,
        stride-1, unpadded, one-group convolution of this one's output) with its epilogue, as
        one pass: each block's depthwise rows stay in the worker's tile memory and never reach
        DRAM (``ipx_conv_run_pair``; ``stats`` counts only what crossed the tile). Returns
        second's output; equal to ``second.run_fused(self.run_fused(x, activation=
        first_activation), ...)`` to float rounding. ``Unsupported`` for pairs it does not fuse."""
        _check_others("Conv2d.run_pair", self, "second must be another Conv2d than the first", second=second)
        keep: list = []
        e1 = fused.epilogue_struct(keep, first_activation, prefix="first_")
        e2 = fused.epilogue_struct(keep, activation, residual, second.output_shape, channel_sums,
                                   second.output_shape[:2])
        y, call = self._map_call(
            lambda h, p, a, na, b, nb: lib.ipx_conv_run_pair(h, second._handle, p, a, na, b, nb, e1, e2),
            x, "input", self.input_shape, out, "out", second.output_shape)
        if fused.overlaps(y, residual, channel_sums):
            raise InvalidParameter("out overlaps residual or channel_sums; pass separate buffers")
        with _holding("Conv2d.run_pair", second=second):  # tiles too small for a block of both: TileTooSmall from C
            self._call("Conv2d.run_pair", pool, call)
        return y

    def run_block(self, first: "Conv2d", second: "Conv2d", x: np.ndarray, out: np.ndarray | None = None, *,
                  expand_activation: str | None = None, first_activation: str | None = None,
                  residual: np.ndarray | None = None, activation: str | None = None,
                  channel_sums: np.ndarray | None = None, pool: Pool | None = None) -> np.ndarray:
        """This 1x1 expand convolution and its ``expand_activation``, then ``first.run_pair(second,
        ...)`` on its output, as one pass (an inverted-residual block): each block computes the
        expand rows its depthwise rows read into the worker's tile, so neither intermediate
        tensor reaches DRAM (``ipx_conv_run_block``). Returns second's output; equal to the three
        ``run_fused`` calls in turn to float rounding. ``Unsupported`` for blocks it does not fuse
        (the expand must be 1x1, stride 1, unpadded, one group, on maps of 16 pixels or more)."""
        _check_others("Conv2d.run_block", self,
                      "the expand, first and second convolutions must be three different Conv2d",
                      first=first, second=second)
        keep: list = []
        e0 = fused.epilogue_struct(keep, expand_activation, prefix="expand_")
        e1 = fused.epilogue_struct(keep, first_activation, prefix="first_")
        e2 = fused.epilogue_struct(keep, activation, residual, second.output_shape, channel_sums,
                                   second.output_shape[:2])
        y, call = self._map_call(
            lambda h, p, a, na, b, nb: lib.ipx_conv_run_block(h, first._handle, second._handle, p, a, na, b, nb,
                                                              e0, e1, e2),
            x, "input", self.input_shape, out, "out", second.output_shape)
        if fused.overlaps(y, residual, channel_sums):
            raise InvalidParameter("out overlaps residual or channel_sums; pass separate buffers")
        with _holding("Conv2d.run_block", first=first, second=second):
            self._call("Conv2d.run_block", pool, call)
        return y

    def backward_data(self, grad_output: np.ndarray, out: np.ndarray | None = None, *,
                      pool: Pool | None = None) -> np.ndarray:
        """Input gradient [n, c, h, w] from the output gradient [n, k, p, q]. Needs
        ``backward=True`` at creation."""
        grad_input, call = self._backward_data_call(grad_output, out)
        self._call("Conv2d.backward_data", pool, call)
        return grad_input

    def backward_weights(self, grad_output: np.ndarray, x: np.ndarray, out=None, *,
                         pool: Pool | None = None):
        """(grad_weight [k, c/g, r, s], grad_bias [k]) from the output gradient and the
        forward input. ``out``: optional (grad_weight, grad_bias) buffers (either may be None)."""
        grads, call = self._backward_weights_call(grad_output, x, out)
        self._call("Conv2d.backward_weights", pool, call)
        return grads

    def backward(self, grad_output: np.ndarray, x: np.ndarray, out=None, *, pool: Pool | None = None):
        """Both backward passes in one call on one pool: ``(grad_input, grad_weight,
        grad_bias)``; ``stats`` (and the pool's ``last_stats``) are the two runs combined.
        ``out``: optional (grad_input, grad_weight, grad_bias) buffers (any may be None)."""
        gi_buf, gw_buf, gb_buf = (None, None, None) if out is None else out
        grad_input, data = self._backward_data_call(grad_output, gi_buf)
        (grad_weight, grad_bias), weights = self._backward_weights_call(grad_output, x, (gw_buf, gb_buf))
        for arr, name in ((grad_weight, "grad_weight"), (grad_bias, "grad_bias")):
            if np.may_share_memory(arr, grad_input):
                raise InvalidParameter(f"{name} overlaps grad_input; pass a separate buffer")
        self._call("Conv2d.backward", pool, data, weights)
        return grad_input, grad_weight, grad_bias

    def _backward_data_call(self, grad_output, out):
        if not self._backward:
            raise errors.Unsupported("Conv2d.backward_data: create the Conv2d with backward=True",
                                     "IPX_STATUS_UNSUPPORTED")
        geo = self._geo
        return self._map_call(lib.ipx_conv_run_backward_data, grad_output, "grad_output", geo.output_shape,
                              out, "grad_input", geo.input_shape)

    def _map_call(self, c_run, src, src_name, src_shape, out, out_name, out_shape):
        """Checked buffers for a C run from one array to another, and the call (a function of
        the pool handle) that makes it: ``(out, call)``."""
        src = self._input(src, src_name, src_shape)
        out = self._out(out, out_name, out_shape)
        if np.may_share_memory(out, src):  # exact for C-contiguous arrays
            raise InvalidParameter(f"{out_name} overlaps {src_name}; pass a separate buffer")
        a = ffi.from_buffer("float[]", src)
        b = ffi.from_buffer("float[]", out, require_writable=True)
        return out, lambda h: c_run(self._handle, h, a, src.size, b, out.size)  # (a, b: alive with the lambda)

    def _backward_weights_call(self, grad_output, x, out):
        geo = self._geo
        dy = self._input(grad_output, "grad_output", geo.output_shape)
        x = self._input(x, "input", geo.input_shape)
        gw_buf, gb_buf = (None, None) if out is None else out
        gw = self._out(gw_buf, "grad_weight", geo.weight_shape)
        gb = self._out(gb_buf, "grad_bias", (geo.k,))
        for arr, name in ((gw, "grad_weight"), (gb, "grad_bias")):
            if np.may_share_memory(arr, dy) or np.may_share_memory(arr, x):
                raise InvalidParameter(f"{name} overlaps an input; pass a separate buffer")
        a = ffi.from_buffer("float[]", dy)
        xb = ffi.from_buffer("float[]", x)
        wb = ffi.from_buffer("float[]", gw, require_writable=True)
        bb = ffi.from_buffer("float[]", gb, require_writable=True)
        return (gw, gb), lambda h: lib.ipx_conv_run_backward_weights(self._handle, h, a, dy.size, xb, x.size,
                                                                     wb, gw.size, bb, gb.size)

    def _out(self, out, name, shape):
        if out is None:
            check_request("Conv2d", f"{name} {tuple(shape)}", 4 * int(np.prod(shape, dtype=object)),
                          self._memory_limit)
            return np.empty(shape, dtype=np.float32)
        out = as_array(out, name, (len(shape),), writable=True)
        if out.shape != tuple(shape):
            raise InvalidParameter(f"{name} has shape {out.shape}, expected {tuple(shape)}")
        return out

    def _input(self, x, name, shape):
        x = as_array(x, name, (4,))
        if x.shape != tuple(shape):
            raise InvalidParameter(f"{name} has shape {x.shape}, this Conv2d was created for {tuple(shape)}")
        return x

    def _call(self, who: str, pool: Pool | None, *calls) -> None:
        """Make the C ``calls`` (each a function of the pool handle) holding this handle and
        the pool; record their statistics."""
        if self._handle is None:
            raise Closed(f"{who}: the convolution is closed")
        pool = self._pool if pool is None else _pool_arg(pool)
        if pool is None:
            pool = shared_pool()
        if self._min_tile_bytes > pool.tile_bytes:
            raise errors.TileTooSmall(
                f"{who}: this layer needs tile_bytes >= {self._min_tile_bytes}, "
                f"the pool has {pool.tile_bytes}", "IPX_STATUS_TILE_TOO_SMALL")
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{who}: this convolution is in use by another call", "IPX_STATUS_BUSY")
        try:
            status, stats = pool.execute(who, *calls)
            if stats is not None:
                self._stats = stats
            check_status(status, who)
        finally:
            self._lock.release()

    def _destroy(self, handle) -> int:
        return lib.ipx_conv_destroy(handle)


def _check_others(what: str, conv: Conv2d, not_distinct: str, **others) -> None:
    """The other convolutions of a fused run: each a Conv2d (InvalidType), all different from
    ``conv`` and each other (InvalidParameter ``not_distinct``), open (Closed)."""
    for name, other in others.items():
        if not isinstance(other, Conv2d):
            raise InvalidType(f"{name} must be a Conv2d, got {type(other).__name__}")
    if len({id(conv), *map(id, others.values())}) <= len(others):
        raise InvalidParameter(not_distinct)
    for name, other in others.items():
        if other._handle is None:
            raise Closed(f"{what}: the {name} convolution is closed")


@contextlib.contextmanager
def _holding(what: str, **others: Conv2d):
    """The other convolutions of a fused run held for it (Busy naming the one in use)."""
    held = []
    try:
        for name, conv in others.items():
            if not conv._lock.acquire(blocking=False):
                raise Busy(f"{what}: the {name} convolution is in use by another call", "IPX_STATUS_BUSY")
            held.append(conv)
        yield
    finally:
        for conv in held:
            conv._lock.release()


def _pool_arg(pool):
    if pool is not None and not isinstance(pool, Pool):
        raise InvalidType(f"pool must be an ipuexplore.Pool, got {type(pool).__name__}")
    return pool
