"""Epilogues of fused runs (``Conv2d.run_fused``, ``run_pair``, ``run_block``): what a convolution
does to its outputs in the write phase (residual, activation, channel sums) and to its inputs
in the exchange (a channel scale), as the C ``ipx_conv_epilogue`` struct."""

from __future__ import annotations

import numpy as np

from .._ipx_cffi import ffi, lib
from ..errors import InvalidParameter, InvalidType
from .arguments import as_array

# activation name -> ipx_activation
ACTIVATIONS = {None: lib.IPX_ACTIVATION_NONE, "relu": lib.IPX_ACTIVATION_RELU, "relu6": lib.IPX_ACTIVATION_RELU6,
               "sigmoid": lib.IPX_ACTIVATION_SIGMOID, "silu": lib.IPX_ACTIVATION_SILU,
               "hardswish": lib.IPX_ACTIVATION_HARDSWISH}


def activation_code(activation, name: str = "activation") -> int:
    if activation is not None and not isinstance(activation, str):
        raise InvalidType(f"{name} must be None or a str, got {type(activation).__name__}")
    if activation not in ACTIVATIONS:
        raise InvalidParameter(f"{name} must be one of {sorted(a for a in ACTIVATIONS if a)} or None, "
                               f"got {activation!r}")
    return ACTIVATIONS[activation]


def epilogue_struct(keep: list, activation=None, residual=None, residual_shape=None, channel_sums=None,
                    sums_shape=None, input_scale=None, scale_shape=None, prefix: str = ""):
    """The ``ipx_conv_epilogue*`` for these arguments (checked: float32, C-contiguous, their
    shapes); the buffers it points into are appended to ``keep`` (alive through the run)."""
    e = ffi.new("ipx_conv_epilogue*", {"activation": activation_code(activation, prefix + "activation")})
    keep.append(e)
    for name, array, shape, writable in (("residual", residual, residual_shape, False),
                                         ("channel_sums", channel_sums, sums_shape, True),
                                         ("input_scale", input_scale, scale_shape, False)):
        if array is None:
            continue
        array = as_array(array, prefix + name, (len(shape),), writable=writable)
        if array.shape != tuple(shape):
            raise InvalidParameter(f"{prefix}{name} has shape {array.shape}, expected {tuple(shape)}")
        buf = ffi.from_buffer("float[]", array, require_writable=writable)
        keep.extend((array, buf))
        setattr(e, name, buf)
        setattr(e, name + "_len", array.size)
    return e


def overlaps(a: np.ndarray, *others) -> bool:
    return any(o is not None and np.may_share_memory(a, o) for o in others)
