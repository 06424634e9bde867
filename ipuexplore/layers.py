"""One description of a network layer, shared by the engine, the models, the networks and the UI.

Letters as in Timeloop/XNNPACK: ``n`` batch, ``c`` input channels, ``k`` output channels,
``h, w`` input size, ``p, q`` output size, ``r, s`` kernel size, ``g`` groups; channels per
group is ``c // g``.

Counts are **per image** (batch 1); multiply by the batch yourself or use the ``*_bytes``
helpers, which take ``batch``. Every count says what it counts:

- ``macs``: multiply-accumulates of the convolution/linear arithmetic;
- ``flops``: ``2 * macs`` (the convention of papers and vendors' peak figures);
- ``vector_ops``: element-wise operations that are not MACs (pooling, normalisation,
  activation, additions, the squeeze-excite scale), one per element and step.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace
from enum import Enum

DTYPE_BYTES = {"fp32": 4, "fp16": 2}


class LayerKind(str, Enum):
    CONV = "conv"
    LINEAR = "linear"
    POOL = "pool"  # op: "max" | "avg" | "global_avg"
    NORM = "norm"  # op: "batch" | "group"
    ACT = "act"  # op: "relu" | "relu6" | "silu" | "sigmoid" | "hardswish" | ...
    ADD = "add"  # element-wise sum of two tensors of the output's shape (residual)
    SE = "se"  # squeeze-excite: global pool, fc c->se_c, act, fc se_c->c, sigmoid, scale


# Element-wise operations per output element for each activation (a rough, stated count:
# relu = 1 compare; silu/sigmoid ~ exp + add + divide (+ multiply) counted as 4; used only
# by the cost models for the vector units, never reported as FLOPs).
ACT_OPS_PER_ELEMENT = {
    "relu": 1,
    "relu6": 2,
    "sigmoid": 4,
    "silu": 4,
    "swish": 4,
    "hardswish": 4,
    "gelu": 8,
    "identity": 0,
}


def _is_int(value) -> bool:
    """An integer (numpy's too), not a bool and not a float that would be truncated."""
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def _pair(value, name: str) -> tuple[int, int]:
    if _is_int(value):
        return (int(value), int(value))
    try:
        a, b = value
    except (TypeError, ValueError):
        a = b = None
    if not (_is_int(a) and _is_int(b)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (int(a), int(b))


def _quad(value, name: str) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right); an int or (ph, pw) pair is expanded."""
    if _is_int(value):
        return (int(value),) * 4
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) == 2:
        items = (items[0], items[0], items[1], items[1])
    if len(items) != 4 or not all(_is_int(v) for v in items):
        raise TypeError(f"{name} must be an int, (pad_h, pad_w) or (top, bottom, left, right), got {value!r}")
    return tuple(int(v) for v in items)  # type: ignore[return-value]


def _out_size(size: int, pad: int, kernel_size: int, stride: int, dilation: int) -> int:
    """Output length along one axis; ``pad`` is both sides' padding together."""
    return (size + pad - dilation * (kernel_size - 1) - 1) // stride + 1


@dataclass(frozen=True)
class Layer:
    """A layer applied to one image of shape [c, h, w], producing [k, p, q].

    Construct with the helpers (``Layer.conv``, ``Layer.linear``, ...); every field is
    validated and a bad one raises ValueError/TypeError naming it.
    """

    kind: LayerKind
    name: str = ""
    c: int = 1
    h: int = 1
    w: int = 1
    k: int = 0  # 0: same as c (element-wise layers)
    r: int = 1
    s: int = 1
    g: int = 1
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    dilation: tuple[int, int] = (1, 1)
    bias: bool = False
    op: str = ""
    se_c: int = 0  # squeeze channels of a squeeze-excite block
    inputs: tuple[str, ...] = field(default=(), compare=False)  # producers' names, for chaining

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", LayerKind(self.kind))
        if self.k == 0:
            object.__setattr__(self, "k", self.c)
        object.__setattr__(self, "stride", _pair(self.stride, "stride"))
        object.__setattr__(self, "dilation", _pair(self.dilation, "dilation"))
        object.__setattr__(self, "pad", _quad(self.pad, "pad"))
        for name in ("c", "h", "w", "k", "r", "s", "g"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("stride", "dilation"):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if min(self.pad) < 0:
            raise ValueError(f"pad must be >= 0, got {self.pad}")
        if self.c % self.g or self.k % self.g:
            raise ValueError(
                f"g (groups) must divide both c and k, got g={self.g}, c={self.c}, k={self.k}"
            )
        if self.kind in (LayerKind.CONV, LayerKind.POOL) and self.op != "global_avg":
            if self.p < 1 or self.q < 1:
                raise ValueError(
                    f"layer {self.name or self.kind.value!r}: output size {self.p}x{self.q} is empty "
                    f"(h={self.h}, w={self.w}, kernel {self.r}x{self.s}, pad={self.pad}, "
                    f"stride={self.stride}, dilation={self.dilation})"
                )
        if not isinstance(self.se_c, int) or isinstance(self.se_c, bool):
            raise TypeError(f"se_c must be an int, got {self.se_c!r}")
        if self.kind is LayerKind.SE and self.se_c < 1:
            raise ValueError(f"se_c must be >= 1 for a squeeze-excite layer, got {self.se_c}")

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def conv(cls, c, h, w, k, kernel=3, *, stride=1, pad=0, dilation=1, g=1, bias=False, name="", inputs=()):
        r, s = _pair(kernel, "kernel")
        return cls(LayerKind.CONV, name, c, h, w, k, r, s, g, stride, pad, dilation, bias, inputs=tuple(inputs))

    @classmethod
    def linear(cls, c, k, *, bias=True, name="", inputs=()):
        return cls(LayerKind.LINEAR, name, c, 1, 1, k, bias=bias, inputs=tuple(inputs))

    @classmethod
    def pool(cls, c, h, w, op="max", kernel=3, *, stride=1, pad=0, name="", inputs=()):
        if op == "global_avg":
            kernel, stride, pad = (h, w), 1, 0
        r, s = _pair(kernel, "kernel")
        return cls(LayerKind.POOL, name, c, h, w, c, r, s, 1, stride, pad, op=op, inputs=tuple(inputs))

    @classmethod
    def norm(cls, c, h, w, op="batch", *, name="", inputs=()):
        return cls(LayerKind.NORM, name, c, h, w, op=op, inputs=tuple(inputs))

    @classmethod
    def act(cls, c, h, w, op="relu", *, name="", inputs=()):
        return cls(LayerKind.ACT, name, c, h, w, op=op, inputs=tuple(inputs))

    @classmethod
    def add(cls, c, h, w, *, name="", inputs=()):
        return cls(LayerKind.ADD, name, c, h, w, inputs=tuple(inputs))

    @classmethod
    def se(cls, c, h, w, se_c, *, op="silu", name="", inputs=()):
        return cls(LayerKind.SE, name, c, h, w, se_c=se_c, op=op, inputs=tuple(inputs))

    def with_(self, **changes) -> "Layer":
        """A copy with fields changed (validated again)."""
        return replace(self, **changes)

    # ---- shapes -------------------------------------------------------------------------
    @property
    def p(self) -> int:
        """Output height, as torch.nn.functional.conv2d computes it."""
        if self.kind not in (LayerKind.CONV, LayerKind.POOL):
            return self.h
        return _out_size(self.h, self.pad[0] + self.pad[1], self.r, self.stride[0], self.dilation[0])

    @property
    def q(self) -> int:
        """Output width, as torch.nn.functional.conv2d computes it."""
        if self.kind not in (LayerKind.CONV, LayerKind.POOL):
            return self.w
        return _out_size(self.w, self.pad[2] + self.pad[3], self.s, self.stride[1], self.dilation[1])

    @property
    def channels_per_group(self) -> int:
        return self.c // self.g

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.c, self.h, self.w)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.k, self.p, self.q)

    # ---- counts per image ---------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Multiply-accumulates per image."""
        if self.kind is LayerKind.CONV:
            return self.k * self.p * self.q * (self.c // self.g) * self.r * self.s
        if self.kind is LayerKind.LINEAR:
            return self.c * self.k
        if self.kind is LayerKind.SE:
            return 2 * self.c * self.se_c
        return 0

    @property
    def flops(self) -> int:
        """FLOPs per image, counted as 2 x MACs."""
        return 2 * self.macs

    @property
    def vector_ops(self) -> int:
        """Element-wise (non-MAC) operations per image; see the module docstring."""
        elems = self.c * self.h * self.w
        if self.kind is LayerKind.POOL:
            return self.k * self.p * self.q * self.r * self.s
        if self.kind is LayerKind.NORM:
            return 2 * elems  # inference: one scale and one shift per element
        if self.kind is LayerKind.ACT:
            return ACT_OPS_PER_ELEMENT.get(self.op, 4) * elems
        if self.kind is LayerKind.ADD:
            return elems
        if self.kind is LayerKind.SE:
            act = ACT_OPS_PER_ELEMENT.get(self.op, 4) * self.se_c + ACT_OPS_PER_ELEMENT["sigmoid"] * self.c
            return elems + act + elems  # global sum, activations, scale
        if self.kind in (LayerKind.CONV, LayerKind.LINEAR) and self.bias:
            return self.k * self.p * self.q
        return 0

    @property
    def params(self) -> int:
        """Trainable parameters (as torch counts them: BN running stats are buffers, not params)."""
        if self.kind is LayerKind.CONV:
            return self.k * (self.c // self.g) * self.r * self.s + (self.k if self.bias else 0)
        if self.kind is LayerKind.LINEAR:
            return self.c * self.k + (self.k if self.bias else 0)
        if self.kind is LayerKind.NORM:
            return 2 * self.c  # weight and bias (affine)
        if self.kind is LayerKind.SE:
            return 2 * self.c * self.se_c + self.se_c + self.c  # two 1x1 convs with bias
        return 0

    @property
    def input_elems(self) -> int:
        """Input elements read per image (both operands for ADD; SE reads its input twice)."""
        elems = self.c * self.h * self.w
        if self.kind in (LayerKind.ADD, LayerKind.SE):
            return 2 * elems  # ADD: two operands; SE: once to pool, once to scale
        return elems

    @property
    def output_elems(self) -> int:
        return self.k * self.p * self.q

    # ---- bytes --------------------------------------------------------------------------
    def input_bytes(self, dtype: str = "fp32", batch: int = 1) -> int:
        return batch * self.input_elems * dtype_bytes(dtype)

    def weight_bytes(self, dtype: str = "fp32") -> int:
        """Weights do not scale with the batch: they are read once per pass."""
        return self.params * dtype_bytes(dtype)

    def output_bytes(self, dtype: str = "fp32", batch: int = 1) -> int:
        return batch * self.output_elems * dtype_bytes(dtype)

    def activation_bytes(self, dtype: str = "fp32", batch: int = 1) -> int:
        """Bytes of this layer's output activation (what is kept for the backward pass)."""
        return self.output_bytes(dtype, batch)

    def min_bytes(self, dtype: str = "fp32", batch: int = 1) -> int:
        """Compulsory traffic: inputs + weights + outputs, each moved once."""
        return self.input_bytes(dtype, batch) + self.weight_bytes(dtype) + self.output_bytes(dtype, batch)

    def arithmetic_intensity(self, dtype: str = "fp32", batch: int = 1) -> float:
        """FLOPs (2 x MACs, plus vector ops for layers with no MACs) per compulsory byte."""
        work = batch * (self.flops if self.macs else self.vector_ops)
        return work / self.min_bytes(dtype, batch)

    def describe(self) -> str:
        """Short human-readable shape, e.g. 'conv 3x3/1 256->256 g32 14x14'."""
        if self.kind is LayerKind.CONV:
            grp = f" g{self.g}" if self.g > 1 else ""
            return (
                f"conv {self.r}x{self.s}/{self.stride[0]} {self.c}->{self.k}{grp} "
                f"{self.h}x{self.w}->{self.p}x{self.q}"
            )
        if self.kind is LayerKind.LINEAR:
            return f"linear {self.c}->{self.k}"
        if self.kind is LayerKind.SE:
            return f"se {self.c}->{self.se_c}->{self.c} {self.h}x{self.w}"
        op = f" {self.op}" if self.op else ""
        return f"{self.kind.value}{op} {self.c}x{self.h}x{self.w}->{self.k}x{self.p}x{self.q}"


def dtype_bytes(dtype: str) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(DTYPE_BYTES)}, got {dtype!r}") from None


def valid_group_counts(c: int, k: int | None = None) -> list[int]:
    """Group counts g that divide both c and k, ascending (1 = dense ... c = depthwise)."""
    k = c if k is None else k
    return [g for g in range(1, c + 1) if c % g == 0 and k % g == 0]
