"""``max_pool2d`` and ``avg_pool2d``: the C engine's pooling (``ipx_pooling_run``), one call
with ``torch.nn.functional``'s arguments, run as a superstep pass on a worker pool.

Padding follows ONNX: an int, a pair (ph, pw) or (top, bottom, left, right), each side smaller
than the window (so every window holds a real pixel). ``count_include_pad`` defaults to True
as in PyTorch (ONNX's AveragePool defaults to False: pass it explicitly when importing)."""

from __future__ import annotations

import numpy as np

from .._ipx_cffi import ffi, lib
from ..errors import InvalidParameter, InvalidType
from .arguments import as_array, as_int, as_pair, check_status
from .memory import check_request
from .pool import Pool
from .shared_pool import run_on_a_pool

_VECTOR = 8  # the C kernel's vector width (its tile rows are whole vectors)


def _padding(value) -> tuple[int, int, int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return tuple(as_int(v, "padding", 0) for v in value)
    ph, pw = as_pair(value, "padding", 0)
    return (ph, ph, pw, pw)


def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _desc(shape, kernel_size, stride, padding, ceil_mode: bool, average: bool, count_include_pad: bool):
    """The checked C descriptor and output size (p, q) for an input of ``shape`` [n, c, h, w]."""
    n, c, h, w = shape
    r, s = as_pair(kernel_size, "kernel_size", 1)
    sh, sw = (r, s) if stride is None else as_pair(stride, "stride", 1)
    top, bottom, left, right = _padding(padding)
    if max(top, bottom) >= r or max(left, right) >= s:
        raise InvalidParameter(f"padding {(top, bottom, left, right)} (top, bottom, left, right) must be smaller "
                               f"than kernel_size {(r, s)} on each side")
    if h + top + bottom < r or w + left + right < s:
        raise InvalidParameter(f"kernel_size {(r, s)} is larger than the padded input "
                               f"{(h + top + bottom, w + left + right)}")
    flags = ((lib.IPX_POOLING_AVERAGE if average else 0) | (lib.IPX_POOLING_CEIL_MODE if ceil_mode else 0)
             | (lib.IPX_POOLING_COUNT_INCLUDE_PAD if average and count_include_pad else 0))
    desc = ffi.new("ipx_pooling_desc*", {"n": n, "c": c, "h": h, "w": w, "r": r, "s": s, "stride_h": sh,
                                         "stride_w": sw, "pad_top": top, "pad_bottom": bottom, "pad_left": left,
                                         "pad_right": right, "flags": flags})
    pq = ffi.new("int64_t[2]")
    check_status(lib.ipx_pooling_output_size(desc, pq, pq + 1), "pooling")
    return desc, (int(pq[0]), int(pq[1]))


def _tile_bytes(desc, q: int) -> int:
    """Tile memory the smallest block (one output row of one channel) needs: r padded rows
    split into stride_w phases of whole vectors."""
    sw = desc.stride_w
    row_len = -(-(-(-q // _VECTOR) * _VECTOR + (desc.s - 1) // sw) // _VECTOR) * _VECTOR
    return 4 * desc.r * sw * row_len


class Pooling2d:
    """A max or average pooling prepared for one input shape [n, c, h, w]: arguments checked
    and the C descriptor built once, then ``run`` as often as needed (what a network session
    does per batch). ``mode`` is "max" or "avg"; the other arguments as ``avg_pool2d``."""

    def __init__(self, input_shape, kernel_size, stride=None, padding=0, *, mode: str = "max",
                 ceil_mode: bool = False, count_include_pad: bool = True):
        if mode not in ("max", "avg"):
            raise InvalidParameter(f"mode must be 'max' or 'avg', got {mode!r}")
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 4:
            raise InvalidParameter(f"input_shape must be (n, c, h, w), got {input_shape!r}")
        shape = tuple(as_int(v, f"input_shape[{i}]", 1) for i, v in enumerate(input_shape))
        self._desc, (p, q) = _desc(shape, kernel_size, stride, padding, _flag(ceil_mode, "ceil_mode"),
                                   mode == "avg", _flag(count_include_pad, "count_include_pad"))
        self.input_shape, self.output_shape = shape, (shape[0], shape[1], p, q)
        self.min_tile_bytes = _tile_bytes(self._desc, q)
        self._who = f"{mode}_pool2d"

    def run(self, x, out: np.ndarray | None = None, *, pool: Pool | None = None,
            workers: int | None = None) -> np.ndarray:
        """Pool ``x`` (C-contiguous float32 of ``input_shape``) into ``out`` (or a new array)
        on ``pool`` (else a shared pool of ``workers``); returns the output."""
        x = as_array(x, "input", (4,))
        if x.shape != self.input_shape:
            raise InvalidParameter(f"input has shape {x.shape}, this pooling was prepared for {self.input_shape}")
        if pool is not None and not isinstance(pool, Pool):
            raise InvalidType(f"pool must be an ipuexplore.Pool, got {type(pool).__name__}")
        shape = self.output_shape
        if out is None:
            check_request(self._who, f"out {shape}", 4 * int(np.prod(shape, dtype=object)), None)
            y = np.empty(shape, np.float32)
        else:
            y = as_array(out, "out", (4,), writable=True)
            if y.shape != shape:
                raise InvalidParameter(f"out has shape {y.shape}, expected {shape}")
        if np.may_share_memory(x, y):
            raise InvalidParameter("out overlaps input; pass a separate buffer")
        xb = ffi.from_buffer("float[]", x)
        yb = ffi.from_buffer("float[]", y, require_writable=True)
        desc, who = self._desc, self._who

        def run(p: Pool) -> None:
            status, _ = p.execute(who, lambda h: lib.ipx_pooling_run(h, desc, xb, x.size, yb, y.size))
            check_status(status, who)

        run_on_a_pool(run, self.min_tile_bytes, pool, workers)
        return y


def _pool2d(mode: str, input, kernel_size, stride, padding, ceil_mode, count_include_pad, workers, pool,
            out) -> np.ndarray:
    x = as_array(input, "input", (3, 4))
    unbatched = x.ndim == 3
    if unbatched:
        x = x.reshape((1,) + x.shape)
        if out is not None:
            out = as_array(out, "out", (3,), writable=True)
            out = out.reshape((1,) + out.shape)
    op = Pooling2d(x.shape, kernel_size, stride, padding, mode=mode, ceil_mode=ceil_mode,
                   count_include_pad=count_include_pad)
    y = op.run(x, out, pool=pool, workers=workers)
    return y[0] if unbatched else y


def max_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, *,
               workers: int | None = None, pool: Pool | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Max pooling of ``input`` [n, c, h, w] (or [c, h, w]), C-contiguous float32, with
    ``torch.nn.functional.max_pool2d``'s arguments (``stride`` defaults to ``kernel_size``;
    no dilation, no indices). ``pool``/``workers``/``out`` as in ``conv2d``; the pool's
    ``last_stats`` count one FLOP per window element. Returns float32 [n, c, p, q]."""
    return _pool2d("max", input, kernel_size, stride, padding, ceil_mode, True, workers, pool, out)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, *, workers: int | None = None, pool: Pool | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
    """Average pooling, as ``max_pool2d``, with ``torch.nn.functional.avg_pool2d``'s
    ``count_include_pad`` (True: divide by the window's size inside the padded input; False:
    by its real pixels, ONNX's default). A window the size of the input is a global average
    pool, reduced in place."""
    return _pool2d("avg", input, kernel_size, stride, padding, ceil_mode, count_include_pad, workers, pool, out)
