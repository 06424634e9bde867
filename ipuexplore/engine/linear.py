"""``Linear`` and ``SqueezeExcite``: fully connected layers over a batch of vectors, created
once (weights packed) and run as one superstep pass on a pool (C's ``ipx_fc_*``).

``Linear`` is a classifier layer, [n, c] -> [n, k] in the natural layout. ``SqueezeExcite``
is squeeze-excite's excitation: from the channel sums a convolution's epilogue wrote
(``Conv2d.run_fused(channel_sums=...)``), the channel scale the next convolution applies in
its exchange (``input_scale``): means -> FC -> activation -> FC -> gate, in one pass.

Activations: None, "relu", "relu6", "sigmoid", "silu", "hardswish", and for an output (the
gate) also "hardsigmoid" (PyTorch's: alpha 1/6, beta 1/2) or ("hardsigmoid", alpha, beta)
(ONNX HardSigmoid, y = clip(alpha x + beta, 0, 1))."""

from __future__ import annotations

import math
import threading

import numpy as np

from .._ipx_cffi import ffi, lib
from ..errors import Busy, Closed, InvalidParameter, InvalidType, TileTooSmall
from .arguments import as_array, as_int, as_uint64, check_status
from .codes import ISA_NAMES
from .fused import activation_code
from .handle import Handle
from .memory import check_request, limit_for_c
from .pool import Pool
from .shared_pool import run_on_a_pool

_HARDSIGMOID_TORCH = (1.0 / 6.0, 0.5)


def _activation(value, name: str, hardsigmoid: bool) -> tuple[int, float, float]:
    """(ipx_activation, alpha, beta) of an activation argument."""
    if value == "hardsigmoid" or isinstance(value, tuple):
        if not hardsigmoid:
            raise InvalidParameter(f"{name} cannot be hardsigmoid (only the output's activation can)")
        if isinstance(value, tuple):
            if len(value) != 3 or value[0] != "hardsigmoid":
                raise InvalidParameter(f"{name} must be a name or ('hardsigmoid', alpha, beta), got {value!r}")
            alpha, beta = value[1:]
        else:
            alpha, beta = _HARDSIGMOID_TORCH
        for part, v in (("alpha", alpha), ("beta", beta)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(v):
                raise InvalidParameter(f"{name}: hardsigmoid's {part} must be a finite number, got {v!r}")
        return lib.IPX_ACTIVATION_HARDSIGMOID, float(alpha), float(beta)
    return activation_code(value, name), 0.0, 0.0


def _weight(w, name: str, shape: tuple[int, int]) -> np.ndarray:
    """A [rows, cols] float32 weight (a 1x1 convolution's [rows, cols, 1, 1] too)."""
    w = as_array(w, name, (2, 4))
    if w.ndim == 4 and w.shape[2:] != (1, 1):
        raise InvalidParameter(f"{name} must be [{shape[0]}, {shape[1]}] or a 1x1 convolution's "
                               f"[{shape[0]}, {shape[1]}, 1, 1], got shape {w.shape}")
    if w.shape[:2] != shape:
        raise InvalidParameter(f"{name} has shape {w.shape}, expected {shape}")
    return w


def _bias(b, name: str, length: int):
    if b is None:
        return None
    b = as_array(b, name, (1,))
    if b.shape[0] != length:
        raise InvalidParameter(f"{name} has {b.shape[0]} elements, expected {length}")
    return b


def _pool_arg(pool):
    if pool is not None and not isinstance(pool, Pool):
        raise InvalidType(f"pool must be an ipuexplore.Pool, got {type(pool).__name__}")
    return pool


class _FullyConnected(Handle):
    """What both share: the handle, its info, and a run from [n, c] to [n, k]."""

    _BUSY = "the layer is running"

    def _finish(self, out, who: str, n: int, c: int, k: int, memory_limit) -> None:
        self._handle = out[0]
        self._lock = threading.Lock()
        self._who = who
        self.input_shape, self.output_shape = (n, c), (n, k)
        self._memory_limit = memory_limit
        info = ffi.new("ipx_fc_info*")
        check_status(lib.ipx_fc_get_info(self._handle, info), who)
        self._info = {"isa": ISA_NAMES.get(int(info.isa), "?"), "flops": int(info.flops),
                      "min_tile_bytes": int(info.min_tile_bytes), "allocated_bytes": int(info.allocated_bytes),
                      "layers": int(info.layers)}

    @property
    def info(self) -> dict:
        """isa, flops (2 x multiply-adds per run), min_tile_bytes, allocated_bytes, layers."""
        return dict(self._info)

    def _destroy(self, handle) -> int:
        return lib.ipx_fc_destroy(handle)

    def _run(self, x, x_name: str, out, out_name: str, pool: Pool | None, workers: int | None) -> np.ndarray:
        if self._handle is None:
            raise Closed(f"{self._who}.run: the layer is closed")
        x = as_array(x, x_name, (2,))
        if x.shape != self.input_shape:
            raise InvalidParameter(f"{x_name} has shape {x.shape}, this layer was created for {self.input_shape}")
        _pool_arg(pool)
        if out is None:
            check_request(self._who, f"{out_name} {self.output_shape}", 4 * int(np.prod(self.output_shape)),
                          self._memory_limit)
            y = np.empty(self.output_shape, np.float32)
        else:
            y = as_array(out, out_name, (2,), writable=True)
            if y.shape != self.output_shape:
                raise InvalidParameter(f"{out_name} has shape {y.shape}, expected {self.output_shape}")
        if np.may_share_memory(x, y):
            raise InvalidParameter(f"{out_name} overlaps {x_name}; pass a separate buffer")
        xb = ffi.from_buffer("float[]", x)
        yb = ffi.from_buffer("float[]", y, require_writable=True)
        handle, who, need = self._handle, f"{self._who}.run", self._info["min_tile_bytes"]

        def run(p: Pool) -> None:
            if need > p.tile_bytes:
                raise TileTooSmall(f"{who}: this layer needs tile_bytes >= {need}, the pool has {p.tile_bytes}",
                                   "IPX_STATUS_TILE_TOO_SMALL")
            status, _ = p.execute(who, lambda h: lib.ipx_fc_run(handle, h, xb, x.size, yb, y.size))
            check_status(status, who)

        if not self._lock.acquire(blocking=False):
            raise Busy(f"{who}: this layer is in use by another call", "IPX_STATUS_BUSY")
        try:
            run_on_a_pool(run, need, pool, workers)
        finally:
            self._lock.release()
        return y


class Linear(_FullyConnected):
    """``Linear(weight, bias, batch, *, activation=None, portable=False, memory_limit=None)``:
    y = activation(x @ weight.T + bias) for x [batch, c] (PyTorch's ``nn.Linear``, ONNX Gemm
    with transB), ``weight`` [k, c] float32 (or a 1x1 convolution's [k, c, 1, 1]), ``bias``
    [k] or None. ``run(x, out=None, *, pool=None, workers=None)`` returns [batch, k]."""

    def __init__(self, weight, bias=None, batch: int = 1, *, activation=None, portable: bool = False,
                 memory_limit: int | None = None):
        w = as_array(weight, "weight", (2, 4))
        k, c = w.shape[:2]
        w = _weight(w, "weight", (k, c))
        b = _bias(bias, "bias", k)
        n = as_int(batch, "batch", 1)
        act, alpha, beta = _activation(activation, "activation", hardsigmoid=True)
        limit = None if memory_limit is None else as_uint64(memory_limit, "memory_limit")
        desc = ffi.new("ipx_fc_desc*", {"n": n, "c": c, "k": k, "activation": act, "alpha": alpha, "beta": beta,
                                        "flags": lib.IPX_FLAG_PORTABLE if portable else 0,
                                        "memory_limit": limit_for_c(memory_limit, "memory_limit")})
        out = ffi.new("ipx_fc_t*")
        check_status(lib.ipx_fc_create(desc, ffi.from_buffer("float[]", w), w.size,
                                       ffi.NULL if b is None else ffi.from_buffer("float[]", b),
                                       0 if b is None else b.size, out), "Linear")
        self._finish(out, "Linear", n, c, k, limit)

    def run(self, x, out: np.ndarray | None = None, *, pool: Pool | None = None,
            workers: int | None = None) -> np.ndarray:
        """``x`` [batch, c] (C-contiguous float32) -> [batch, k] (into ``out`` if given), on
        ``pool`` (else a shared pool of ``workers``)."""
        return self._run(x, "input", out, "out", pool, workers)

    __call__ = run


class SqueezeExcite(_FullyConnected):
    """``SqueezeExcite(w1, b1, w2, b2, batch, map_size, *, activation="relu", gate="sigmoid",
    portable=False, memory_limit=None)``: squeeze-excite's excitation for ``batch`` images of
    ``c`` channels on an h x w map (``map_size``: (h, w) or h*w). ``w1`` [hidden, c] and ``w2``
    [c, hidden] (or the two 1x1 convolutions' [.., .., 1, 1]), ``b1`` [hidden], ``b2`` [c] or
    None. ``run(channel_sums, out=None, *, pool=None, workers=None)`` takes each image's channel
    sums [batch, c] and returns the channel scale [batch, c]:
    gate(w2 @ activation(w1 @ (sums / (h w)) + b1) + b2)."""

    def __init__(self, w1, b1, w2, b2, batch: int, map_size, *, activation="relu", gate="sigmoid",
                 portable: bool = False, memory_limit: int | None = None):
        w1 = as_array(w1, "w1", (2, 4))
        hidden, c = w1.shape[:2]
        w1 = _weight(w1, "w1", (hidden, c))
        w2 = _weight(w2, "w2", (c, hidden))
        b1, b2 = _bias(b1, "b1", hidden), _bias(b2, "b2", c)
        n = as_int(batch, "batch", 1)
        if isinstance(map_size, (tuple, list)) and len(map_size) == 2:
            h, w = (as_int(v, "map_size", 1) for v in map_size)
        else:
            h, w = as_int(map_size, "map_size", 1), 1
        act, _, _ = _activation(activation, "activation", hardsigmoid=False)
        gate_code, alpha, beta = _activation(gate, "gate", hardsigmoid=True)
        limit = None if memory_limit is None else as_uint64(memory_limit, "memory_limit")
        desc = ffi.new("ipx_se_desc*", {"n": n, "c": c, "hidden": hidden, "h": h, "w": w, "activation": act,
                                        "gate": gate_code, "gate_alpha": alpha, "gate_beta": beta,
                                        "flags": lib.IPX_FLAG_PORTABLE if portable else 0,
                                        "memory_limit": limit_for_c(memory_limit, "memory_limit")})
        bufs = [ffi.NULL if a is None else ffi.from_buffer("float[]", a) for a in (w1, b1, w2, b2)]
        out = ffi.new("ipx_fc_t*")
        check_status(lib.ipx_se_create(desc, bufs[0], w1.size, bufs[1], 0 if b1 is None else b1.size, bufs[2],
                                       w2.size, bufs[3], 0 if b2 is None else b2.size, out), "SqueezeExcite")
        self._finish(out, "SqueezeExcite", n, c, c, limit)

    def run(self, channel_sums, out: np.ndarray | None = None, *, pool: Pool | None = None,
            workers: int | None = None) -> np.ndarray:
        """Channel sums [batch, c] -> channel scale [batch, c] (into ``out`` if given)."""
        return self._run(channel_sums, "channel_sums", out, "out", pool, workers)

    __call__ = run
