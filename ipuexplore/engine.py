"""Python API of the C convolution engine (csrc/, compiled into ``ipuexplore._ipx``).

numpy float32 arrays in and out, PyTorch's ``conv2d`` names and semantics, an IPU-style
worker ``Pool`` whose per-worker statistics come back as numpy arrays.

Input rules (checked here first, then again by C): arrays must be ``numpy.ndarray`` of dtype
float32 and C-contiguous; nothing is converted silently. Use
``np.ascontiguousarray(x, dtype=np.float32)`` for float64 data or strided views. ``out``
buffers must be writable, of the exact output shape, and must not overlap the inputs.

Thread-safety: C runs with the GIL released. One ``Pool`` or ``Conv2d`` serves one call at
a time; a second concurrent call on the same object raises ``Busy`` instead of racing.
Different objects may run in parallel. ``Pool.cancel()`` may be called from any thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import errors
from ._ipx_cffi import ffi, lib
from .errors import Busy, Closed, InvalidParameter, InvalidType

__all__ = [
    "conv2d",
    "Conv2d",
    "Pool",
    "RunStats",
    "conv_output_size",
    "reference_conv2d",
    "reference_conv2d_backward",
    "conv2d_backward",
    "host_peaks",
    "HostPeaks",
    "get_include",
    "get_library_dir",
    "cpu_count",
    "DEFAULT_TILE_BYTES",
    "set_memory_limit",
    "get_memory_limit",
]

DEFAULT_TILE_BYTES = 624 * 1024  # one Graphcore IPU Mk2 tile's SRAM
_MAX_DIM = 1 << 30
_ALGORITHMS = {"auto": 0, "direct": 1, "gemm": 2}
_ALGORITHM_NAMES = {v: k for k, v in _ALGORITHMS.items()}
_KERNEL_NAMES = {1: "row", 2: "channel", 3: "gemm"}
_ISA_NAMES = {0: "portable", 1: "avx2", 2: "avx512"}


def _check(status: int, context: str = "") -> None:
    errors.check(ffi, lib, status, context)


def cpu_count() -> int:
    """Online CPUs, as the C engine counts them (the default worker count)."""
    return int(lib.ipx_cpu_count())


# ---------------------------------------------------------------------------------------
# argument normalisation (torch.nn.functional.conv2d conventions)


def _int(value: Any, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidType(f"{name} must be an int, got {value!r}")
    value = int(value)
    if value < lo or value > _MAX_DIM:
        raise InvalidParameter(f"{name}={value} is out of range {lo}..{_MAX_DIM}")
    return value


def _pair(value: Any, name: str, lo: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidParameter(f"{name} must be an int or a pair, got {value!r}")
        return (_int(value[0], name, lo), _int(value[1], name, lo))
    v = _int(value, name, lo)
    return (v, v)


def _padding(value: Any, r: int, s: int, stride: tuple[int, int], dilation: tuple[int, int]):
    """(top, bottom, left, right) from an int, a pair (ph, pw), a 4-tuple, "same" or "valid"."""
    if isinstance(value, str):
        if value == "valid":
            return (0, 0, 0, 0)
        if value == "same":
            if stride != (1, 1):
                raise InvalidParameter(f"padding='same' needs stride 1, got stride={stride}")
            # As torch: total = dilation*(kernel-1), the odd pixel goes to the bottom/right.
            th, tw = dilation[0] * (r - 1), dilation[1] * (s - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise InvalidParameter(f"padding must be an int, a pair, 'same' or 'valid', got {value!r}")
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return tuple(_int(v, "padding", 0) for v in value)
    ph, pw = _pair(value, "padding", 0)
    return (ph, ph, pw, pw)


def _array(x: Any, name: str, ndim: tuple[int, ...], writable: bool = False) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InvalidType(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise InvalidType(
            f"{name} must have dtype float32, got {x.dtype} "
            f"(convert with np.ascontiguousarray({name}, dtype=np.float32))"
        )
    if x.ndim not in ndim:
        raise InvalidParameter(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {x.shape}")
    if not x.flags.c_contiguous:
        raise InvalidParameter(
            f"{name} must be C-contiguous (got strides {x.strides}); use np.ascontiguousarray({name})"
        )
    if writable and not x.flags.writeable:
        raise InvalidParameter(f"{name} is read-only; pass a writable array")
    if 0 in x.shape:
        raise InvalidParameter(f"{name} has a zero-sized dimension: shape {x.shape}")
    return x


@dataclass(frozen=True)
class _Geometry:
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    g: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int, int, int]  # top, bottom, left, right
    p: int
    q: int

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def output_shape(self):
        return (self.n, self.k, self.p, self.q)

    @property
    def weight_shape(self):
        return (self.k, self.c // self.g, self.r, self.s)


def _geometry(input_shape, weight_shape, stride, padding, dilation, groups) -> _Geometry:
    if len(input_shape) != 4:
        raise InvalidParameter(f"input_shape must be (n, c, h, w), got {input_shape!r}")
    n, c, h, w = (_int(v, f"input_shape[{i}]", 1) for i, v in enumerate(input_shape))
    k, cg, r, s = (_int(v, f"weight.shape[{i}]", 1) for i, v in enumerate(weight_shape))
    g = _int(groups, "groups", 1)
    if c % g:
        raise InvalidParameter(f"groups={g} does not divide the input channels c={c}")
    if k % g:
        raise InvalidParameter(f"groups={g} does not divide the output channels k={k} (weight.shape[0])")
    if cg * g != c:
        raise InvalidParameter(
            f"weight.shape[1]={cg} must be input channels / groups = {c}/{g} = {c // g}"
        )
    st = _pair(stride, "stride", 1)
    dil = _pair(dilation, "dilation", 1)
    pad = _padding(padding, r, s, st, dil)
    eff_h = h + pad[0] + pad[1] - dil[0] * (r - 1) - 1
    eff_w = w + pad[2] + pad[3] - dil[1] * (s - 1) - 1
    if eff_h < 0 or eff_w < 0:
        raise InvalidParameter(
            f"empty output: kernel {r}x{s} with dilation={dil} is larger than the padded input "
            f"{h}+{pad[0]}+{pad[1]} x {w}+{pad[2]}+{pad[3]} (padding={padding!r})"
        )
    p, q = eff_h // st[0] + 1, eff_w // st[1] + 1
    limit = 1 << 62
    for what, count in (
        ("input", n * c * h * w),
        ("weight", k * cg * r * s * 8),
        ("output", n * k * p * q),
        ("flops", 2 * n * k * p * q * cg * r * s),
    ):
        if count * 4 >= limit:
            raise InvalidParameter(f"{what} byte count overflows: {count} elements (shape too large)")
    return _Geometry(n, c, h, w, k, r, s, g, st, dil, pad, p, q)


def conv_output_size(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """Output shape (n, k, p, q) of a convolution, with conv2d's argument conventions."""
    return _geometry(tuple(input_shape), tuple(weight_shape), stride, padding, dilation, groups).output_shape


def _algorithm(value: str) -> int:
    if value not in _ALGORITHMS:
        raise InvalidParameter(f"algorithm must be one of {sorted(_ALGORITHMS)}, got {value!r}")
    return _ALGORITHMS[value]


# ---------------------------------------------------------------------------------------
# statistics


@dataclass(frozen=True)
class RunStats:
    """Statistics of one run. Per-worker arrays (uint64, one entry per worker): ``flops``
    (2 x MACs), ``bytes_in`` (copied into tile memory), ``bytes_out`` (results written),
    ``exchange_ns``, ``compute_ns``, ``wait_ns`` (at superstep barriers), ``supersteps``
    (supersteps with work). Totals: ``wall_s``, ``gflop_s``, ``gb_s``
    ((bytes_in + bytes_out) / wall_s)."""

    flops: np.ndarray
    bytes_in: np.ndarray
    bytes_out: np.ndarray
    exchange_ns: np.ndarray
    compute_ns: np.ndarray
    wait_ns: np.ndarray
    supersteps: np.ndarray
    wall_s: float
    gflop_s: float
    gb_s: float
    algorithm: str
    kernel: str
    workers: int
    total_supersteps: int

    @property
    def total_flops(self) -> int:
        return int(self.flops.sum())

    @property
    def total_bytes(self) -> int:
        return int(self.bytes_in.sum() + self.bytes_out.sum())

    @classmethod
    def combine(cls, *runs: "RunStats") -> "RunStats":
        """Several runs on one pool (e.g. backward data + weights) as one: counters and wall
        times add up, rates are recomputed."""
        first = runs[0]
        arrays = {name: sum(getattr(r, name) for r in runs) for name in _STAT_FIELDS}
        wall = sum(r.wall_s for r in runs)
        flops = float(arrays["flops"].sum())
        moved = float(arrays["bytes_in"].sum() + arrays["bytes_out"].sum())
        return cls(**arrays, wall_s=wall, gflop_s=flops / wall / 1e9 if wall else 0.0,
                   gb_s=moved / wall / 1e9 if wall else 0.0,
                   algorithm="+".join(dict.fromkeys(r.algorithm for r in runs)),
                   kernel="+".join(dict.fromkeys(r.kernel for r in runs)),
                   workers=first.workers, total_supersteps=sum(r.total_supersteps for r in runs))

    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


_STAT_FIELDS = ("flops", "bytes_in", "bytes_out", "exchange_ns", "compute_ns", "wait_ns", "supersteps")


# ---------------------------------------------------------------------------------------
# pool


class _Handle:
    """A C handle (``self._handle``) guarded by a non-blocking lock (``self._lock``) that a
    call holds while it runs: closing while a call is in progress is refused with ``Busy``.
    A context manager; the handle is also freed when the object is collected."""

    _BUSY = "it is running"  # why close() is refused, for the message

    def _destroy(self, handle) -> int:  # the C destroy function, per subclass
        raise NotImplementedError

    def close(self) -> None:
        if self._handle is None:
            return
        name = type(self).__name__
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{name}.close(): {self._BUSY}", "IPX_STATUS_BUSY")
        try:
            _check(self._destroy(self._handle), f"{name}.close")
            self._handle = None
        finally:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None and self._lock.acquire(blocking=False):
                self._destroy(self._handle)
                self._handle = None
        except Exception:
            pass


class Pool(_Handle):
    """W persistent workers, each with ``tile_bytes`` of its own tile memory (the caller of a
    run is worker 0). Use as a context manager or call ``close()``; ``last_stats`` is the
    ``RunStats`` of the last run (None before the first). ``memory_limit`` (bytes) caps what
    the pool allocates; None = the global limit (``set_memory_limit``, default: the memory
    available)."""

    _BUSY = "the pool is running; cancel() it or wait"

    def __init__(self, workers: int | None = None, tile_bytes: int = DEFAULT_TILE_BYTES, *,
                 memory_limit: int | None = None):
        w = 0 if workers is None else _int(workers, "workers", 1)
        if w > 1024:
            raise InvalidParameter(f"workers={w} is out of range 1..1024")
        tb = _int(tile_bytes, "tile_bytes", 4096)
        ml = _limit_for_c(memory_limit, "memory_limit")
        desc = ffi.new("ipx_pool_desc*", {"workers": w, "tile_bytes": tb, "memory_limit": ml})
        out = ffi.new("ipx_pool_t*")
        _check(lib.ipx_pool_create(desc, out), f"Pool(workers={w or 'all'}, tile_bytes={tb}, memory_limit={ml})")
        self._handle = out[0]
        self._lock = threading.Lock()
        nw = ffi.new("uint32_t*")
        nt = ffi.new("uint64_t*")
        _check(lib.ipx_pool_get_config(self._handle, nw, nt))
        self._workers = int(nw[0])
        self._tile_bytes = int(nt[0])
        self._last_stats: RunStats | _StatsSnapshot | None = None
        self._per_worker = ffi.new("ipx_worker_stats[]", self._workers)
        self._totals = ffi.new("ipx_run_stats*")

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def tile_bytes(self) -> int:
        return self._tile_bytes

    @property
    def last_stats(self) -> RunStats | None:
        return _resolve(self._last_stats)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def cancel(self) -> None:
        """Stop the run in progress at its next superstep barrier (it raises ``Cancelled``).
        With no run in progress, the next run is cancelled. Safe from any thread."""
        handle = self._handle
        if handle is not None:
            lib.ipx_pool_cancel(handle)

    def close(self) -> None:
        """Stop the workers and free the tiles. Raises ``Busy`` if a run is in progress."""
        super().close()

    def _destroy(self, handle) -> int:
        return lib.ipx_pool_destroy(handle)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Pool(workers={self._workers}, tile_bytes={self._tile_bytes}, {state})"

    # -- used by Conv2d ------------------------------------------------------------------
    def _acquire(self, who: str):
        if self._handle is None:
            raise Closed(f"{who}: the pool is closed")
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{who}: the pool is in use by another call", "IPX_STATUS_BUSY")
        return self._handle

    def _collect(self) -> "_StatsSnapshot":
        """The last run's counters, copied out now (the next run overwrites them) and turned
        into RunStats only when read: about 1 us instead of 6 on every call."""
        _check(lib.ipx_pool_get_stats(self._handle, self._totals, self._per_worker, self._workers))
        t = self._totals
        snap = _StatsSnapshot(
            ffi.buffer(self._per_worker, self._workers * ffi.sizeof("ipx_worker_stats"))[:],
            (t.wall_s, t.gflop_s, t.gb_s, t.algorithm, t.kernel, t.workers, t.supersteps),
            self._workers)
        self._last_stats = snap
        return snap


class _StatsSnapshot:
    """A run's raw counters; ``get()`` builds (once) the RunStats they describe."""

    __slots__ = ("_raw", "_totals", "_workers", "_stats")

    def __init__(self, raw: bytes, totals: tuple, workers: int):
        self._raw, self._totals, self._workers, self._stats = raw, totals, workers, None

    def get(self) -> RunStats:
        if self._stats is None:
            table = np.frombuffer(self._raw, dtype=np.uint64).reshape(self._workers, len(_STAT_FIELDS)).copy()
            wall_s, gflop_s, gb_s, algorithm, kernel, workers, supersteps = self._totals
            self._stats = RunStats(
                **{name: table[:, i] for i, name in enumerate(_STAT_FIELDS)},
                wall_s=float(wall_s),
                gflop_s=float(gflop_s),
                gb_s=float(gb_s),
                algorithm=_ALGORITHM_NAMES.get(int(algorithm), "?"),
                kernel=_KERNEL_NAMES.get(int(kernel), "?"),
                workers=int(workers),
                total_supersteps=int(supersteps),
            )
        return self._stats


def _resolve(stats: "RunStats | _StatsSnapshot | None") -> RunStats | None:
    return stats.get() if isinstance(stats, _StatsSnapshot) else stats


def _int_any(value: Any, name: str) -> int:
    # Upper bound: the C field is a uint64 (cffi would raise OverflowError past it).
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 1 << 64:
        raise InvalidParameter(f"{name} must be an int in 0..2^64-1, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------
# memory limit: requests are refused before allocating, not left to the OOM killer

_memory_limit: int | None = None  # None: the memory available now
_available_cache = [0.0, None]  # (time read, bytes): /proc is re-read at most every 0.5 s
_SMALL_REQUEST = 64 << 20  # under the default limit, smaller requests skip the /proc read


def _available_memory() -> int | None:
    """MemAvailable (Linux), else free physical pages; None when the OS does not say."""
    import time

    now = time.monotonic()
    if now - _available_cache[0] < 0.5:
        return _available_cache[1]
    value = None
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    value = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if value is None:
        try:
            value = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            value = None
    _available_cache[:] = [now, value]
    return value


def set_memory_limit(limit_bytes: int | None) -> None:
    """Cap the bytes one request may allocate (output arrays, packed weights, pool tiles).
    ``None`` (the default) means the memory available when the request is made. Requests
    over the limit raise ``MemoryLimitExceeded`` (a ``MemoryError``) before allocating."""
    global _memory_limit
    _memory_limit = None if limit_bytes is None else _int_any(limit_bytes, "limit_bytes")


def get_memory_limit() -> int | None:
    """The limit in force now: the one set, else the available memory (None if unknown)."""
    return _memory_limit if _memory_limit is not None else _available_memory()


def _limit_for_c(explicit: int | None, name: str) -> int:
    """A C descriptor's memory_limit: the explicit value, else the global limit (0 = none)."""
    if explicit is not None:
        return _int_any(explicit, name)
    limit = get_memory_limit()
    return 0 if limit is None else max(limit, 1)


def _check_request(who: str, what: str, nbytes: int, explicit: int | None = None) -> None:
    limit = explicit if explicit is not None else _memory_limit
    if limit is None:
        if nbytes < _SMALL_REQUEST:
            return
        limit = _available_memory()
        source = "the memory available now"
    else:
        source = "the limit set" if explicit is None else "memory_limit"
    if limit is not None and nbytes > limit:
        raise errors.MemoryLimitExceeded(
            f"{who}: {what} needs {nbytes} bytes, over {source} ({limit} bytes); "
            f"use smaller shapes or ipuexplore.engine.set_memory_limit()", "IPX_STATUS_MEMORY_LIMIT")


_default_pools: dict[int, Pool] = {}
_default_lock = threading.Lock()


def _default_pool(workers: int | None) -> Pool:
    key = 0 if workers is None else _int(workers, "workers", 1)
    with _default_lock:
        pool = _default_pools.get(key)
        if pool is None or pool.closed:
            pool = Pool(workers)
            _default_pools[key] = pool
        return pool


# ---------------------------------------------------------------------------------------
# convolution


class Conv2d(_Handle):
    """A convolution created once (weights packed, kernel chosen) and run many times.

    ``Conv2d(weight, bias, input_shape, stride=1, padding=0, dilation=1, groups=1, *,
    pool=None, algorithm="auto", portable=False, memory_limit=None, backward=False)``;
    ``run(x, out=None)`` returns the output; ``stats`` is the ``RunStats`` of the last run.
    With ``backward=True`` (packs a transposed copy of the weights) ``backward_data(dy)``
    gives the input gradient; ``backward_weights(dy, x)`` gives (grad_weight, grad_bias) on
    any Conv2d. Without a pool a shared default pool (one worker per CPU) is used.
    """

    _BUSY = "the convolution is running"

    def __init__(self, weight, bias=None, input_shape=None, stride=1, padding=0, dilation=1,
                 groups=1, *, pool: Pool | None = None, algorithm: str = "auto",
                 portable: bool = False, memory_limit: int | None = None,
                 backward: bool = False):
        weight = _array(weight, "weight", (4,))
        if input_shape is None:
            raise InvalidParameter("input_shape=None: give the (n, c, h, w) the layer will run on")
        geo = _geometry(tuple(input_shape), weight.shape, stride, padding, dilation, groups)
        if bias is not None:
            bias = _array(bias, "bias", (1,))
            if bias.shape[0] != geo.k:
                raise InvalidParameter(f"bias has {bias.shape[0]} elements, expected k={geo.k}")
        if pool is not None and not isinstance(pool, Pool):
            raise InvalidType(f"pool must be an ipuexplore.Pool, got {type(pool).__name__}")
        self._geo = geo
        self._pool = pool
        desc = ffi.new("ipx_conv_desc*")
        desc.n, desc.c, desc.h, desc.w = geo.input_shape
        desc.k, desc.r, desc.s, desc.g = geo.k, geo.r, geo.s, geo.g
        desc.stride_h, desc.stride_w = geo.stride
        desc.dilation_h, desc.dilation_w = geo.dilation
        desc.pad_top, desc.pad_bottom, desc.pad_left, desc.pad_right = geo.pad
        desc.algorithm = _algorithm(algorithm)
        desc.flags = (lib.IPX_FLAG_PORTABLE if portable else 0) | (lib.IPX_FLAG_BACKWARD if backward else 0)
        self._backward = bool(backward)
        self._memory_limit = None if memory_limit is None else _int_any(memory_limit, "memory_limit")
        desc.memory_limit = _limit_for_c(memory_limit, "memory_limit")
        out = ffi.new("ipx_conv_t*")
        wbuf = ffi.from_buffer("float[]", weight)
        bbuf = ffi.NULL if bias is None else ffi.from_buffer("float[]", bias)
        _check(lib.ipx_conv_create(desc, wbuf, weight.size, bbuf, 0 if bias is None else bias.size, out),
               "Conv2d")
        self._handle = out[0]
        self._lock = threading.Lock()
        info = ffi.new("ipx_conv_info*")
        _check(lib.ipx_conv_get_info(self._handle, info))
        self._info = {
            "kernel": _KERNEL_NAMES.get(int(info.kernel), "?"),
            "isa": _ISA_NAMES.get(int(info.isa), "?"),
            "algorithm": _ALGORITHM_NAMES.get(int(info.algorithm), "?"),
            "flops": int(info.flops),
            "min_bytes": int(info.min_bytes),
            "min_tile_bytes": int(info.min_tile_bytes),
            "allocated_bytes": int(info.allocated_bytes),
        }
        self._stats: RunStats | _StatsSnapshot | None = None

    @property
    def stats(self) -> RunStats | None:
        """RunStats of this handle's last call (None before the first)."""
        return _resolve(self._stats)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return self._geo.output_shape

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return self._geo.input_shape

    @property
    def info(self) -> dict:
        """kernel ("row", "channel", "gemm"), isa ("avx512", "avx2", "portable"), algorithm, flops
        (2 x MACs per run), min_bytes (compulsory traffic), min_tile_bytes, allocated_bytes."""
        return dict(self._info)

    def _out(self, out, name, shape):
        if out is None:
            _check_request("Conv2d", f"{name} {tuple(shape)}", 4 * int(np.prod(shape, dtype=object)),
                           self._memory_limit)
            return np.empty(shape, dtype=np.float32)
        out = _array(out, name, (len(shape),), writable=True)
        if out.shape != tuple(shape):
            raise InvalidParameter(f"{name} has shape {out.shape}, expected {tuple(shape)}")
        return out

    def _input(self, x, name, shape):
        x = _array(x, name, (4,))
        if x.shape != tuple(shape):
            raise InvalidParameter(f"{name} has shape {x.shape}, this Conv2d was created for {tuple(shape)}")
        return x

    def _call(self, who: str, fn) -> None:
        """Run fn(pool_handle) with this handle and the pool held; record the statistics."""
        if self._handle is None:
            raise Closed(f"{who}: the convolution is closed")
        pool = self._pool if self._pool is not None else _default_pool(None)
        if self._info["min_tile_bytes"] > pool.tile_bytes:
            raise errors.TileTooSmall(
                f"{who}: this layer needs tile_bytes >= {self._info['min_tile_bytes']}, "
                f"the pool has {pool.tile_bytes}", "IPX_STATUS_TILE_TOO_SMALL")
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{who}: this convolution is in use by another call", "IPX_STATUS_BUSY")
        try:
            handle = pool._acquire(who)
            try:
                status = fn(handle)
                if status in (0, lib.IPX_STATUS_CANCELLED):
                    self._stats = pool._collect()
                _check(status, who)
            finally:
                pool._lock.release()
        finally:
            self._lock.release()

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Forward: ``x`` [n, c, h, w] -> output [n, k, p, q] (into ``out`` if given)."""
        geo = self._geo
        x = self._input(x, "input", geo.input_shape)
        out = self._out(out, "out", geo.output_shape)
        if np.may_share_memory(out, x):  # exact for C-contiguous arrays
            raise InvalidParameter("out overlaps input; pass a separate buffer")
        xin = ffi.from_buffer("float[]", x)
        yout = ffi.from_buffer("float[]", out, require_writable=True)
        self._call("Conv2d.run", lambda h: lib.ipx_conv_run(self._handle, h, xin, x.size, yout, out.size))
        return out

    def backward_data(self, grad_output: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Input gradient [n, c, h, w] from the output gradient [n, k, p, q]. Needs
        ``backward=True`` at creation."""
        if not self._backward:
            raise errors.Unsupported("Conv2d.backward_data: create the Conv2d with backward=True",
                                     "IPX_STATUS_UNSUPPORTED")
        geo = self._geo
        dy = self._input(grad_output, "grad_output", geo.output_shape)
        gi = self._out(out, "grad_input", geo.input_shape)
        if np.may_share_memory(gi, dy):  # exact for C-contiguous arrays
            raise InvalidParameter("grad_input overlaps grad_output; pass a separate buffer")
        a = ffi.from_buffer("float[]", dy)
        b = ffi.from_buffer("float[]", gi, require_writable=True)
        self._call("Conv2d.backward_data",
                   lambda h: lib.ipx_conv_run_backward_data(self._handle, h, a, dy.size, b, gi.size))
        return gi

    def backward_weights(self, grad_output: np.ndarray, x: np.ndarray, out=None):
        """(grad_weight [k, c/g, r, s], grad_bias [k]) from the output gradient and the
        forward input. ``out``: optional (grad_weight, grad_bias) buffers (either may be None)."""
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
        self._call("Conv2d.backward_weights",
                   lambda h: lib.ipx_conv_run_backward_weights(self._handle, h, a, dy.size, xb, x.size,
                                                               wb, gw.size, bb, gb.size))
        return gw, gb

    __call__ = run

    def _destroy(self, handle) -> int:
        return lib.ipx_conv_destroy(handle)


def _pool_for(conv: Conv2d, pool: Pool | None, workers: int | None):
    """The pool to run conv on and a private pool to close afterwards (or None): the shared
    default pool unless it is busy in another thread or its tiles are too small."""
    if pool is not None:
        return pool, None
    need = conv.info["min_tile_bytes"]
    pool = _default_pool(workers)
    if pool._lock.locked() or need > pool.tile_bytes:
        if need > 1 << 30:
            raise errors.TileTooSmall(
                f"this layer needs {need} bytes of tile memory per worker, more than the 1 GiB "
                f"maximum", "IPX_STATUS_TILE_TOO_SMALL")
        temp = Pool(workers, tile_bytes=max(need, DEFAULT_TILE_BYTES))
        return temp, temp
    return pool, None


def _busy_fallback(conv: Conv2d, pool: Pool | None, temp: Pool | None, workers: int | None, fn):
    """fn() on conv's pool. If that is the shared default pool and another thread took it
    after _pool_for looked (Busy), run on a private pool instead: the caller chose no pool,
    so it must not see Busy. The private pool is left in conv._fallback_pool to close."""
    try:
        return fn()
    except Busy:
        if pool is not None or temp is not None or getattr(conv, "_fallback_pool", None) is not None:
            raise
        conv._pool = conv._fallback_pool = Pool(
            workers, tile_bytes=max(conv.info["min_tile_bytes"], DEFAULT_TILE_BYTES))
        return fn()


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           workers: int | None = None, pool: Pool | None = None, algorithm: str = "auto",
           out: np.ndarray | None = None) -> np.ndarray:
    """2-D convolution with ``torch.nn.functional.conv2d``'s arguments and semantics.

    ``input`` [n, c, h, w] (or unbatched [c, h, w]) and ``weight`` [k, c/groups, r, s] are
    C-contiguous float32 numpy arrays; ``bias`` [k] or None. ``stride``, ``dilation``: int or
    pair; ``padding``: int, pair, (top, bottom, left, right), ``"same"`` or ``"valid"``.
    ``workers`` picks a shared default pool of that size; ``pool`` runs on your ``Pool`` (its
    ``last_stats`` then holds the run's statistics). ``out`` receives the result (reuse it to
    avoid fresh allocations). Returns the output, float32 [n, k, p, q].
    """
    arr = _array(input, "input", (3, 4))
    unbatched = arr.ndim == 3
    if unbatched:
        arr = arr.reshape((1,) + arr.shape)
    w = _array(weight, "weight", (4,))
    if pool is not None and workers is not None and pool.workers != workers:
        raise InvalidParameter(f"workers={workers} disagrees with pool.workers={pool.workers}; give one")
    if out is not None and unbatched:
        out = _array(out, "out", (3,), writable=True)
        out = out.reshape((1,) + out.shape)
    conv = Conv2d(w, bias, arr.shape, stride, padding, dilation, groups, pool=pool,
                  algorithm=algorithm)
    temp = None
    try:
        conv._pool, temp = _pool_for(conv, pool, workers)
        y = _busy_fallback(conv, pool, temp, workers, lambda: conv.run(arr, out))
    finally:
        temp = temp or getattr(conv, "_fallback_pool", None)
        conv.close()
        if temp is not None:
            temp.close()
    return y[0] if unbatched else y


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    workers: int | None = None, pool: Pool | None = None,
                    algorithm: str = "auto", out=None):
    """Gradients of ``conv2d`` (torch.nn.grad.conv2d_input / conv2d_weight and the bias sum):
    returns ``(grad_input, grad_weight, grad_bias)``, float32, shapes of input, weight and
    [k]. Arguments as ``conv2d``; ``out`` is an optional (grad_input, grad_weight, grad_bias)
    tuple of buffers (any may be None). Both passes run on the pool; its ``last_stats`` are
    their combined statistics."""
    x = _array(input, "input", (4,))
    w = _array(weight, "weight", (4,))
    if pool is not None and workers is not None and pool.workers != workers:
        raise InvalidParameter(f"workers={workers} disagrees with pool.workers={pool.workers}; give one")
    gi_buf, gw_buf, gb_buf = (None, None, None) if out is None else out
    conv = Conv2d(w, None, x.shape, stride, padding, dilation, groups, pool=pool,
                  algorithm=algorithm, backward=True)
    temp = None
    try:
        run_pool, temp = _pool_for(conv, pool, workers)
        conv._pool = run_pool
        grad_input = _busy_fallback(conv, pool, temp, workers, lambda: conv.backward_data(grad_output, gi_buf))
        data_stats = conv.stats
        grad_weight, grad_bias = _busy_fallback(
            conv, pool, temp, workers, lambda: conv.backward_weights(grad_output, x, (gw_buf, gb_buf)))
        conv._pool._last_stats = RunStats.combine(data_stats, conv.stats)
    finally:
        temp = temp or getattr(conv, "_fallback_pool", None)
        conv.close()
        if temp is not None:
            temp.close()
    return grad_input, grad_weight, grad_bias


# ---------------------------------------------------------------------------------------
# host limits


@dataclass(frozen=True)
class HostPeaks:
    """The host's limits as measured on a pool: ``peak_flop_s`` (FP32 FMA, FLOP/s, all
    workers), ``mem_bw_b_s`` (STREAM triad over arrays much larger than the caches, bytes/s),
    ``tile_bw_b_s`` (the triad inside tile memory), ``workers``, ``isa``, ``array_bytes``."""

    peak_flop_s: float
    mem_bw_b_s: float
    tile_bw_b_s: float
    workers: int
    isa: str
    array_bytes: int

    def roofline_flop_s(self, arithmetic_intensity: float) -> float:
        """Attainable FLOP/s at this FLOP/byte intensity against DRAM: min(peak, AI x BW)."""
        return min(self.peak_flop_s, arithmetic_intensity * self.mem_bw_b_s)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_peaks_cache: dict[tuple[int, bool], HostPeaks] = {}


def host_peaks(pool: Pool | None = None, *, refresh: bool = False, portable: bool = False,
               array_bytes: int = 64 << 20) -> HostPeaks:
    """Measure (once; cached per worker count) the FP32 FMA peak and the memory bandwidth on
    ``pool`` (default: the shared pool, one worker per CPU). Takes about a second."""
    key_pool = pool if pool is not None else _default_pool(None)
    key = (key_pool.workers, bool(portable))
    if not refresh and key in _peaks_cache:
        return _peaks_cache[key]
    handle = key_pool._acquire("host_peaks")
    try:
        out = ffi.new("ipx_host_peaks*")
        flags = lib.IPX_FLAG_PORTABLE if portable else 0
        _check(lib.ipx_pool_measure_peaks(handle, _int_any(array_bytes, "array_bytes"), flags, out),
               "host_peaks")
    finally:
        key_pool._lock.release()
    peaks = HostPeaks(float(out.peak_flop_s), float(out.mem_bw_b_s), float(out.tile_bw_b_s),
                      int(out.workers), _ISA_NAMES.get(int(out.isa), "?"), int(out.array_bytes))
    _peaks_cache[key] = peaks
    return peaks


# ---------------------------------------------------------------------------------------
# numpy reference (tests and benchmarks compare the engine with it)


def _ref_setup(input_shape, weight_shape, stride, padding, dilation, groups):
    return _geometry(tuple(input_shape), tuple(weight_shape), stride, padding, dilation, groups)


def reference_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                     dtype=np.float64) -> np.ndarray:
    """Plain numpy convolution (one batched matmul per kernel tap), accumulating in
    ``dtype`` (float64 by default, for tests). Same arguments as ``conv2d``."""
    x = np.asarray(input)
    w = np.asarray(weight)
    geo = _ref_setup(x.shape, w.shape, stride, padding, dilation, groups)
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
    geo = _ref_setup(x.shape, w.shape, stride, padding, dilation, groups)
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


# ---------------------------------------------------------------------------------------
# embedding


_PKG = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_PKG)


def get_include() -> str:
    """Directory holding ``ipx.h``: the copy installed with the package, else the source
    checkout's ``csrc/include``."""
    installed = os.path.join(_PKG, "include")
    if os.path.exists(os.path.join(installed, "ipx.h")):
        return installed
    return os.path.join(_REPO, "csrc", "include")


def get_library_dir() -> str:
    """Directory holding ``libipx.a`` to link C programs against (``-L<dir> -lipx
    -pthread``): the copy built at install time, else ``csrc/out`` from ``make -C csrc``."""
    for candidate in (os.path.join(_PKG, "lib"), os.path.join(_REPO, "csrc", "out")):
        if os.path.exists(os.path.join(candidate, "libipx.a")):
            return candidate
    raise FileNotFoundError(
        "libipx.a not found: reinstall ipuexplore (`pip install .`) or run `make -C csrc`"
    )
