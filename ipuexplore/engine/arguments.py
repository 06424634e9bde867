"""Argument checks shared by the engine's entry points: one clear ``InvalidParameter`` or
``InvalidType`` naming the parameter, before C sees anything (C checks again)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors
from .._ipx_cffi import ffi, lib
from ..errors import InvalidParameter, InvalidType
from .codes import ALGORITHMS

MAX_DIM = 1 << 30  # the C engine's IPX_MAX_DIM


def check_status(status: int, context: str = "") -> None:
    """Raise the exception for a non-zero C status."""
    errors.check(ffi, lib, status, context)


def as_int(value: Any, name: str, lo: int, hi: int = MAX_DIM) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidType(f"{name} must be an int, got {value!r}")
    value = int(value)
    if value < lo or value > hi:
        raise InvalidParameter(f"{name}={value} is out of range {lo}..{hi}")
    return value


def as_uint64(value: Any, name: str) -> int:
    # Upper bound: the C field is a uint64 (cffi would raise OverflowError past it).
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 1 << 64:
        raise InvalidParameter(f"{name} must be an int in 0..2^64-1, got {value!r}")
    return int(value)


def as_pair(value: Any, name: str, lo: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidParameter(f"{name} must be an int or a pair, got {value!r}")
        return (as_int(value[0], name, lo), as_int(value[1], name, lo))
    v = as_int(value, name, lo)
    return (v, v)


def as_padding(value: Any, r: int, s: int, stride: tuple[int, int], dilation: tuple[int, int]):
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
        return tuple(as_int(v, "padding", 0) for v in value)
    ph, pw = as_pair(value, "padding", 0)
    return (ph, ph, pw, pw)


def as_algorithm(value: str) -> int:
    if value not in ALGORITHMS:
        raise InvalidParameter(f"algorithm must be one of {sorted(ALGORITHMS)}, got {value!r}")
    return ALGORITHMS[value]


def _shared_view(x: Any, name: str) -> np.ndarray:
    """A numpy array on ``x``'s own memory (never a copy), through DLPack (torch CPU
    tensors, ...) or the buffer protocol (array.array, memoryview, ...)."""
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError) as exc:
            raise InvalidType(f"{name}: cannot share this {type(x).__name__}'s memory through DLPack ({exc})") from None
    try:
        return np.asarray(memoryview(x))
    except (TypeError, ValueError, NotImplementedError):
        raise InvalidType(f"{name} must be a numpy.ndarray or an array exposing DLPack or the buffer "
                          f"protocol (a torch CPU tensor, array.array, ...), got {type(x).__name__}") from None


def as_array(x: Any, name: str, ndim: tuple[int, ...], writable: bool = False) -> np.ndarray:
    """A numpy array on ``x``'s memory (``x`` itself when it is one) when it is float32 and
    C-contiguous, of one of ``ndim`` dimensions (writable if asked) with no zero-sized
    dimension; nothing is ever copied or converted."""
    if not isinstance(x, np.ndarray):
        x = _shared_view(x, name)
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
