"""A network as an ordered list of shared `Layer`s, and the small builder the definitions use.

Each layer names its producers in ``inputs``; the network's input tensor is called
``"input"``. Layers appear in execution order (every producer before its consumers), so a
single pass in order is a valid forward pass: the host runner and the memory count rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..layers import Layer, LayerKind, dtype_bytes

INPUT = "input"


@dataclass(frozen=True)
class Network:
    """A whole network at one input resolution. Counts are per image (batch 1).

    ``macs`` are multiply-accumulates; ``flops`` = 2 x ``macs`` (the papers' and vendors'
    convention; torchvision's "GFLOPS" metadata are in fact GMACs).
    """

    name: str
    res: int
    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int] = (3, 224, 224)
    # ONNX import: operators that have no Layer kind, as (op_type, count); never dropped silently.
    unsupported: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    @cached_property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @cached_property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        """FLOPs per image, counted as 2 x MACs."""
        return 2 * self.macs

    @cached_property
    def last_use(self) -> dict[str, int]:
        """Tensor name -> index of the last layer that reads it (network outputs are absent)."""
        last: dict[str, int] = {}
        for index, layer in enumerate(self.layers):
            for producer in layer.inputs:
                last[producer] = index
        return last

    @cached_property
    def peak_activation_elems(self) -> int:
        """Most activation elements alive at once during an inference forward pass (per image).

        A tensor lives from the layer that produces it to its last consumer; the network input
        counts too. Every layer writes a fresh output (no in-place activations), so this is an
        upper bound on what a framework that runs ops in place would hold.
        """
        last_use = self.last_use
        sizes = {INPUT: self.input_shape[0] * self.input_shape[1] * self.input_shape[2]}
        live = sizes[INPUT]
        peak = live
        for index, layer in enumerate(self.layers):
            sizes[layer.name] = layer.output_elems
            live += layer.output_elems
            peak = max(peak, live)
            for producer in set(layer.inputs):
                if last_use.get(producer) == index:
                    live -= sizes[producer]
            if layer.name not in last_use:  # the network's output (or an unused branch)
                live -= layer.output_elems
        return peak

    @cached_property
    def stored_activation_elems(self) -> int:
        """Activation elements kept for the backward pass (per image): every layer's output."""
        return sum(layer.output_elems for layer in self.layers)

    def peak_activation_bytes(self, dtype: str = "fp32", batch: int = 1) -> int:
        return batch * self.peak_activation_elems * dtype_bytes(dtype)

    def stored_activation_bytes(self, dtype: str = "fp32", batch: int = 1) -> int:
        return batch * self.stored_activation_elems * dtype_bytes(dtype)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"network {self.name!r} has no layer named {name!r}")

    def count(self, kind: LayerKind | str) -> int:
        kind = LayerKind(kind)
        return sum(1 for layer in self.layers if layer.kind is kind)


class GraphBuilder:
    """Appends layers with unique names, tracking each tensor's shape so shapes always chain.

    Every method takes the producer's tensor name and returns the new tensor's name (the
    layer's name), so definitions read like a forward pass.
    """

    def __init__(self, c: int, h: int, w: int):
        self.layers: list[Layer] = []
        self.shapes: dict[str, tuple[int, int, int]] = {INPUT: (c, h, w)}

    def _add(self, layer: Layer) -> str:
        if layer.name in self.shapes:
            raise ValueError(f"duplicate layer name {layer.name!r}")
        self.layers.append(layer)
        self.shapes[layer.name] = layer.out_shape
        return layer.name

    def conv(self, name, x, k, kernel, *, stride=1, g=1, bias=False, pad=None) -> str:
        c, h, w = self.shapes[x]
        if pad is None:  # "same" padding for odd kernels, as torchvision's Conv2dNormActivation
            pad = (kernel - 1) // 2
        return self._add(Layer.conv(c, h, w, k, kernel, stride=stride, pad=pad, g=g, bias=bias, name=name, inputs=(x,)))

    def norm(self, name, x, op="batch") -> str:
        return self._add(Layer.norm(*self.shapes[x], op=op, name=name, inputs=(x,)))

    def act(self, name, x, op) -> str:
        return self._add(Layer.act(*self.shapes[x], op=op, name=name, inputs=(x,)))

    def conv_bn_act(self, name, x, k, kernel, *, stride=1, g=1, act="relu") -> str:
        """conv (no bias) -> batch norm -> activation (None: no activation)."""
        y = self.conv(f"{name}.conv", x, k, kernel, stride=stride, g=g)
        y = self.norm(f"{name}.bn", y)
        return self.act(f"{name}.{act}", y, act) if act else y

    def pool(self, name, x, op, kernel=3, *, stride=1, pad=0) -> str:
        return self._add(Layer.pool(*self.shapes[x], op=op, kernel=kernel, stride=stride, pad=pad, name=name, inputs=(x,)))

    def add(self, name, a, b) -> str:
        if self.shapes[a] != self.shapes[b]:
            raise ValueError(f"add {name!r}: shapes differ, {a}={self.shapes[a]} and {b}={self.shapes[b]}")
        return self._add(Layer.add(*self.shapes[a], name=name, inputs=(a, b)))

    def se(self, name, x, se_c, op="silu") -> str:
        return self._add(Layer.se(*self.shapes[x], se_c, op=op, name=name, inputs=(x,)))

    def linear(self, name, x, k, *, bias=True) -> str:
        c, h, w = self.shapes[x]
        return self._add(Layer.linear(c * h * w, k, bias=bias, name=name, inputs=(x,)))

    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def network(self, name: str, res: int) -> Network:
        return Network(name, res, tuple(self.layers), self.shapes[INPUT])


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` without losing more than 10%.

    The rule of the MobileNet/EfficientNet reference code (torchvision ``_make_divisible``):
    round to nearest, but never below ``min_value`` (default ``divisor``) and never more than
    10% below the unrounded value.
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
